#!/usr/bin/env bash
# Benchmark: server start with N installed plugins, cold (no compiled
# plugins on disk: every component is compiled) against warm (the
# precompiled cache from the last start is loaded).
#
#   benches/startup.sh [N...]          # default: 3 10 30
#   NO_BUILD=1 benches/startup.sh      # reuse target/release/waybill
#
# For each N: a fresh data dir; the first start installs the 3 bundled
# plugins, then N-3 more distinct components are installed over the API
# (the license-key component with a custom section naming each copy, so
# each has its own hash and its own compile). Then, best of $RUNS each:
# - cold: the cache directory emptied, `waybill serve` started;
# - warm: started again with the cache the previous start left.
# Measured from spawning the process: until it listens (its
# "waybill listening" line), and until every plugin is loaded (its
# "plugins ready" log line, which also gives the loading time alone).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(3 10 30)

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --bin waybill
fi
target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
waybill="$target_dir/release/waybill"
wasm="$target_dir/plugins/wasm32-wasip2/release/license_key.wasm"
[ -f "$wasm" ] || plugins/build.sh >/dev/null
work="$target_dir/tmp/startup-bench"
rm -rf "$work"
mkdir -p "$work"

now_ns() { date +%s%N; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start DATA CACHE LOG: starts the server in the background; sets $pid, $addr.
start() {
    local data=$1 cache=$2 log=$3
    addr="127.0.0.1:$(port)"
    started=$(now_ns)
    "$waybill" serve --data "$data" --listen "$addr" --plugin-cache-dir "$cache" >"$log.out" 2>"$log" &
    pid=$!
}

# Waits for a line matching $2 in file $1; prints ms since $started.
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 1 6000); do
        if grep -q "$pattern" "$file" 2>/dev/null; then
            echo $(( ($(now_ns) - started) / 1000000 ))
            return
        fi
        sleep 0.005
    done
    echo "timed out waiting for '$pattern' in $file" >&2
    cat "$file" >&2
    exit 1
}

stop() { kill -TERM "$pid"; wait "$pid" || true; }

# A copy of the component with a custom section `waybill-bench` naming copy $2.
variant() {
    python3 - "$wasm" "$1" "$2" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], sys.argv[3]
def leb(x):
    out = bytearray()
    while True:
        b = x & 0x7f; x >>= 7
        out.append(b | (0x80 if x else 0))
        if not x: return bytes(out)
name = b"waybill-bench"
payload = leb(len(name)) + name + f"copy {n}".encode()
open(dst, "wb").write(open(src, "rb").read() + b"\x00" + leb(len(payload)) + payload)
PY
}

echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for n in "${counts[@]}"; do
    data="$work/data-$n"
    cache="$work/cache-$n"
    start "$data" "$cache" "$work/setup-$n.log"
    wait_for "$work/setup-$n.log.out" "waybill listening" >/dev/null
    wait_for "$work/setup-$n.log" "plugins ready" >/dev/null
    key=$(sed -n 's/^admin API key: //p' "$work/setup-$n.log.out")
    for ((i = 4; i <= n; i++)); do
        variant "$work/copy.wasm" "$i"
        status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $key" \
            --data-binary @"$work/copy.wasm" "http://$addr/api/v1/plugins/copy-$i")
        [ "$status" = 201 ] || { echo "installing copy-$i answered $status" >&2; exit 1; }
    done
    stop
    best=(); for k in cold warm; do best+=("" "" ""); done
    for ((r = 1; r <= runs; r++)); do
        for mode in cold warm; do
            [ "$mode" = cold ] && rm -rf "$cache"
            log="$work/$mode-$n-$r.log"
            start "$data" "$cache" "$log"
            listen=$(wait_for "$log.out" "waybill listening")
            ready=$(wait_for "$log" "plugins ready")
            stop
            loaded=$(sed -n 's/.*plugins ready loaded=\([0-9]*\).*/\1/p' "$log")
            inner=$(sed -n 's/.*plugins ready .* ms=\([0-9]*\).*/\1/p' "$log")
            [ "$loaded" = "$n" ] || { echo "$mode start loaded $loaded of $n plugins" >&2; cat "$log" >&2; exit 1; }
            files=$(find "$cache" -name '*.cwasm' | wc -l)
            [ "$files" = "$n" ] || { echo "$mode start left $files compiled plugins, not $n" >&2; exit 1; }
            echo "  N=$n $mode run $r: listening after $listen ms, all $loaded plugins loaded after $ready ms (loading alone $inner ms)"
            base=$([ "$mode" = cold ] && echo 0 || echo 3)
            for j in 0 1 2; do
                v=$([ $j = 0 ] && echo "$listen" || { [ $j = 1 ] && echo "$ready" || echo "$inner"; })
                cur=${best[$((base + j))]}
                if [ -z "$cur" ] || [ "$v" -lt "$cur" ]; then best[$((base + j))]=$v; fi
            done
        done
    done
    rows+=("$(awk -v n="$n" -v cl="${best[0]}" -v cr="${best[1]}" -v ci="${best[2]}" \
        -v wl="${best[3]}" -v wr="${best[4]}" -v wi="${best[5]}" 'BEGIN {
        printf "| %d | %d | %d | %d | %d | %d | %d | %.2f× |", n, cl, cr, ci, wl, wr, wi, wr / cr }')")
done
echo
echo "best of $runs; ms from spawning \`waybill serve\`"
echo "| plugins | cold: listening | cold: all loaded | cold: loading alone | warm: listening | warm: all loaded | warm: loading alone | warm / cold (all loaded) |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
