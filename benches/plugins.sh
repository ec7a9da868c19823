#!/usr/bin/env bash
# Benchmark: the bundled pdf-watermark plugin, run by the release binary
# (`waybill plugins run`), against `qpdf --overlay` stamping the same PDFs.
#
#   benches/plugins.sh            # ~10 MiB and ~128 MiB PDFs, best of 3 each
#   benches/plugins.sh 10         # only the ~10 MiB one
#   RUNS=5 benches/plugins.sh
#   NO_BUILD=1 benches/plugins.sh # reuse target/release/waybill as it is
#
# Installs what is missing from Debian's packages (qpdf, poppler-utils for
# pdftotext/pdfinfo, time for /usr/bin/time), builds the release binary
# (`cargo build --release --bin waybill`, which builds the bundled plugins
# into target/plugins/wasm32-wasip2/release too), then, under
# target/tmp/plugins-bench (the project's disk, not a tmpfs):
#
# - generates each input PDF once with python3 (stdlib only): A4 pages of
#   Flate-compressed Helvetica text (~45 lines of prose each) plus a
#   28 KB incompressible grey image each (like a photo or a JPEG), a
#   two-level page tree, a classic cross-reference table; checked with
#   `qpdf --check`;
# - makes a one-page stamp PDF carrying the same text the plugin stamps
#   (`Licensed to Zoë Kowalska <zoe.kowalska@example.com>, order ord_7`,
#   Helvetica 9 pt, grey, opacity 0.6, bottom centre);
# - times, alternately, `waybill plugins run pdf_watermark.wasm --context
#   ctx.json --file X.pdf --out DIR` and `qpdf X.pdf --overlay stamp.pdf
#   --repeat=1 -- out.pdf`, best of $RUNS wall times, with the peak RSS of
#   each process from `/usr/bin/time -v`;
# - checks both outputs with `qpdf --check` and `pdftotext` (the buyer's
#   e-mail on every page).
#
# `waybill plugins run --cache-dir` loads the component precompiled, as the
# server does after its first start (one untimed run per size fills the
# cache and prints the cold compile time); the table also shows the sandbox
# run alone. The run gets the server's
# default limits except the wall time (default 2 s), raised to 60 s here so a
# slow run shows its time instead of a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
sizes_mib=("$@")
[ ${#sizes_mib[@]} -gt 0 ] || sizes_mib=(10 128)
email=zoe.kowalska@example.com

missing=()
command -v qpdf >/dev/null || missing+=(qpdf)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    echo "benches/plugins.sh: installing ${missing[*]} (Debian packages)"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -n "${NO_BUILD:-}" ] || cargo build --release --bin waybill
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
waybill="$target_dir/release/waybill"
wasm="$target_dir/plugins/wasm32-wasip2/release/pdf_watermark.wasm"
[ -f "$wasm" ] || { echo "$wasm is missing (plugins/build.sh builds it)" >&2; exit 1; }
work="$target_dir/tmp/plugins-bench"
mkdir -p "$work"

# make_pdf.py OUT TARGET_BYTES SEED  |  make_pdf.py --stamp OUT TEXT
cat >"$work/make_pdf.py" <<'PY'
import random, sys, zlib

A4 = (595, 842)
WORDS = ("the of and to in is that for it as with was on be by this are from at or "
         "an which have not were but all can has their more one will would there "
         "been if when them some into other than then its only also these two may "
         "first any new such like over most after should could through where much "
         "before each those because well still under while between both same last "
         "page chapter reader buyer licence order file print copy system memory "
         "stream object reference table section example figure result method value "
         "function module server plugin sandbox limit network format document").split()

class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.offsets = {}
        self.pos = 0
        self.put(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    def put(self, data):
        self.f.write(data)
        self.pos += len(data)
    def obj(self, num, body):
        self.offsets[num] = self.pos
        self.put(b"%d 0 obj\n" % num + body + b"\nendobj\n")
    def stream(self, num, extra, data):
        self.obj(num, b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream")
    def finish(self, size, root, info):
        xref = self.pos
        self.put(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for n in range(1, size):
            self.put(b"%010d 00000 n \n" % self.offsets[n])
        self.put(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R "
                 b"/ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] >>\n"
                 b"startxref\n%d\n%%%%EOF\n" % (size, root, info, xref))
        self.f.close()

def pdf_string(text):
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

def page_text(rng, page):
    lines = [b"BT /F1 16 Tf 72 790 Td " + pdf_string("Chapter %d, page %d" % (page // 20 + 1, page + 1)) + b" Tj ET",
             b"q 300 0 0 140 148 600 cm /Im0 Do Q",
             b"BT /F1 10 Tf 12 TL 60 570 Td"]
    for _ in range(45):
        words = [rng.choice(WORDS) for _ in range(rng.randint(11, 15))]
        lines.append(pdf_string(" ".join(words).capitalize() + ".") + b" '")
    lines.append(b"ET")
    return b"\n".join(lines) + b"\n"

def make(path, target, seed):
    rng = random.Random(seed)
    w = Writer(path)
    # 1 catalog, 2 root pages, 3 font, 4 info; then per page: page, content, image.
    catalog, root, font, info = 1, 2, 3, 4
    w.obj(font, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    w.obj(info, b"<< /Title (Waybill benchmark book) /Producer (benches/plugins.sh) >>")
    next_num, pages = 5, []
    img_w, img_h = 200, 140
    while w.pos < target:
        page, content, image = next_num, next_num + 1, next_num + 2
        next_num += 3
        w.stream(image, b" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                 b"/BitsPerComponent 8 /Filter /FlateDecode" % (img_w, img_h),
                 zlib.compress(rng.randbytes(img_w * img_h), 1))
        w.stream(content, b" /Filter /FlateDecode", zlib.compress(page_text(rng, len(pages)), 6))
        pages.append((page, content, image))
    # The page objects (numbers reserved above), then a two-level page tree
    # of 50 kids a node, inheriting the MediaBox from the root.
    groups = [pages[i:i + 50] for i in range(0, len(pages), 50)]
    nodes = list(range(next_num, next_num + len(groups)))
    for g, group in enumerate(groups):
        for page, content, image in group:
            w.obj(page, b"<< /Type /Page /Parent %d 0 R /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> "
                  b"/XObject << /Im0 %d 0 R >> >> >>" % (nodes[g], content, font, image))
    for g, group in enumerate(groups):
        kids = b" ".join(b"%d 0 R" % p for p, _, _ in group)
        w.obj(nodes[g], b"<< /Type /Pages /Parent %d 0 R /Kids [%s] /Count %d >>" % (root, kids, len(group)))
    w.obj(root, b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 %d %d] >>"
          % (b" ".join(b"%d 0 R" % n for n in nodes), len(pages), A4[0], A4[1]))
    w.obj(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % root)
    w.finish(nodes[-1] + 1, catalog, info)
    print(len(pages))

def stamp(path, text):
    w = Writer(path)
    # Helvetica at 9 pt averages ~0.5 em a character: roughly centred.
    x = (A4[0] - 0.5 * 9 * len(text)) / 2
    content = (b"q /GS0 gs 0.498 0.498 0.498 rg BT /F1 9 Tf %.2f 18 Td " % x
               + pdf_string(text) + b" Tj ET Q\n")
    w.obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    w.obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    w.obj(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R "
          b"/Resources << /Font << /F1 5 0 R >> /ExtGState << /GS0 6 0 R >> >> >>" % A4)
    w.stream(4, b"", content)
    w.obj(5, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    w.obj(6, b"<< /Type /ExtGState /ca 0.6 /CA 0.6 >>")
    w.obj(7, b"<< /Producer (benches/plugins.sh) >>")
    w.finish(8, 1, 7)

if sys.argv[1] == "--stamp":
    stamp(sys.argv[2], sys.argv[3])
else:
    make(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
PY

cat >"$work/ctx.json" <<EOF
{"order_id": "ord_7", "shipment_id": "shp_1", "issued_at": "2026-12-03T17:00:00Z",
 "line": {"sku": "rust-hb", "product_name": "Rust Handbook", "quantity": 1, "options": {}},
 "buyer": {"name": "Zoë Kowalska", "email": "$email"},
 "config": {}}
EOF
stamp_text="Licensed to Zoë Kowalska <$email>, order ord_7"
python3 "$work/make_pdf.py" --stamp "$work/stamp.pdf" "$stamp_text"
qpdf --check "$work/stamp.pdf" >/dev/null

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
rss_kib() { sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# Every page of $1 has $email in pdftotext's text; prints the page count.
check_pages() {
    local pdf=$1 pages hits
    qpdf --check "$pdf" >"$work/check.txt" 2>&1 || { cat "$work/check.txt" >&2; echo "qpdf --check failed on $pdf" >&2; exit 1; }
    pages=$(qpdf --show-npages "$pdf")
    hits=$(pdftotext -enc UTF-8 "$pdf" - | python3 -c "import sys; print(sum('$email' in p for p in sys.stdin.read().split('\f')))")
    [ "$hits" -eq "$pages" ] || { echo "$pdf: the e-mail is on $hits of $pages pages" >&2; exit 1; }
    echo "$pages"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $(qpdf --version | head -1); $(pdftotext -v 2>&1 | head -1)"
rows=()
for size in "${sizes_mib[@]}"; do
    input="$work/book-$size.pdf"
    if [ ! -f "$input" ]; then
        echo "generating $input (~$size MiB)"
        python3 "$work/make_pdf.py" "$input" $((size << 20)) "$size" >/dev/null
        qpdf --check "$input" >/dev/null || { echo "qpdf --check refused $input" >&2; exit 1; }
    fi
    in_pages=$(qpdf --show-npages "$input")
    in_bytes=$(stat -c %s "$input")
    echo "$input: $in_bytes bytes, $in_pages pages"
    cat "$input" >/dev/null # in the page cache for both
    # As the server does: the component compiled once, then loaded
    # precompiled from the cache (this first run fills it; not timed).
    "$waybill" plugins run "$wasm" --cache-dir "$work/cache" --context "$work/ctx.json" \
        --file "$input" --out "$work/out-waybill" --wall-time-ms-max 60000 >"$work/waybill.txt" 2>&1 \
        || { cat "$work/waybill.txt" >&2; exit 1; }
    echo "  first run: $(sed -n 's/.*: \(\(loaded precompiled\|compiled\) in [0-9]* ms\)/\1/p' "$work/waybill.txt") (then cached)"
    best_w=; best_q=; rss_w=0; rss_q=0; compile=; inner=
    for ((i = 1; i <= runs; i++)); do
        for tool in waybill qpdf; do
            # Alternate who goes first.
            [ $((i % 2)) -eq 0 ] && tool=$([ "$tool" = waybill ] && echo qpdf || echo waybill)
            if [ "$tool" = waybill ]; then
                rm -rf "$work/out-waybill"
                start=$(date +%s%N)
                /usr/bin/time -v -o "$work/time-waybill.txt" "$waybill" plugins run "$wasm" \
                    --cache-dir "$work/cache" --context "$work/ctx.json" --file "$input" --out "$work/out-waybill" \
                    --wall-time-ms-max 60000 >"$work/waybill.txt" 2>&1 \
                    || { cat "$work/waybill.txt" >&2; exit 1; }
                t=$(ms_since "$start")
                c=$(sed -n 's/.*: loaded precompiled in \([0-9]*\) ms/\1/p' "$work/waybill.txt")
                [ -n "$c" ] || { echo "the component was not loaded from the cache" >&2; exit 1; }
                r=$(sed -n 's/^wall time: \([0-9.]*\) ms/\1/p' "$work/waybill.txt")
                echo "  waybill run $i: $t ms (load $c ms, sandbox run $r ms), max RSS $(mib "$(rss_kib "$work/time-waybill.txt")") MiB"
                # Best of each separately: the whole process, the compile, the run.
                if [ -z "$best_w" ] || [ "$t" -lt "$best_w" ]; then best_w=$t; fi
                if [ -z "$compile" ] || [ "$c" -lt "$compile" ]; then compile=$c; fi
                if [ -z "$inner" ] || awk -v a="$r" -v b="$inner" 'BEGIN { exit !(a < b) }'; then inner=$r; fi
                rss=$(rss_kib "$work/time-waybill.txt"); [ "$rss" -gt "$rss_w" ] && rss_w=$rss
            else
                rm -f "$work/out-qpdf.pdf"
                start=$(date +%s%N)
                /usr/bin/time -v -o "$work/time-qpdf.txt" qpdf "$input" --overlay "$work/stamp.pdf" --repeat=1 -- "$work/out-qpdf.pdf"
                t=$(ms_since "$start")
                echo "  qpdf    run $i: $t ms, max RSS $(mib "$(rss_kib "$work/time-qpdf.txt")") MiB"
                if [ -z "$best_q" ] || [ "$t" -lt "$best_q" ]; then best_q=$t; fi
                rss=$(rss_kib "$work/time-qpdf.txt"); [ "$rss" -gt "$rss_q" ] && rss_q=$rss
            fi
        done
    done
    out_w="$work/out-waybill/$(basename "$input")"
    pages_w=$(check_pages "$out_w")
    pages_q=$(check_pages "$work/out-qpdf.pdf")
    if [ "$pages_w" -ne "$in_pages" ] || [ "$pages_q" -ne "$in_pages" ]; then
        echo "page counts differ: input $in_pages, waybill $pages_w, qpdf $pages_q" >&2
        exit 1
    fi
    echo "  outputs: waybill $(stat -c %s "$out_w") bytes, qpdf $(stat -c %s "$work/out-qpdf.pdf") bytes; both pass qpdf --check, e-mail on all $in_pages pages"
    rows+=("$(awk -v s="$size" -v b="$in_bytes" -v p="$in_pages" -v w="$best_w" -v q="$best_q" -v c="$compile" -v r="$inner" -v rw="$rss_w" -v rq="$rss_q" 'BEGIN {
        printf "| %.1f MiB, %d pages | %d | %d | %d | %.0f | %.2f× | %.2f× | %.1f | %.1f |",
            b / 1048576, p, q, w, c, r, w / q, r / q, rw / 1024, rq / 1024 }')")
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "best of $runs, each column on its own: wall times in ms; max RSS in MiB (the largest of the runs)"
echo "| input | qpdf --overlay | waybill plugins run | of which loading the precompiled plugin | of which sandbox run | waybill / qpdf | sandbox run / qpdf | waybill max RSS | qpdf max RSS |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"

# The same stamp through the server: the PDF a product file in the blob
# store, an order paid, the plugin run by the personalizer (sources read from
# redb in verified chunks, the output ingested as a new blob). Timed from the
# payment until the shipment shows the result; the server's peak RSS
# (VmHWM) over a fresh start that did only this (the upload happened in an
# earlier start).
server_row() {
    local input=$1 data="$work/server-data" addr key log="$work/server.log"
    rm -rf "$data"
    addr="127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # (The generated "128 MiB" PDF is 128.9 MiB: the upload limit goes up a little.)
    "$waybill" serve --data "$data" --listen "$addr" --plugin-cache-dir "$work/cache" \
        --plugin-wall-time-ms-max 60000 --upload-bytes-max 268435456 >"$log.out" 2>"$log" &
    local pid=$!
    until grep -q "waybill listening" "$log.out" 2>/dev/null; do sleep 0.05; done
    key=$(sed -n 's/^admin API key: //p' "$log.out")
    python3 - "$addr" "$key" "$input" "$email" "$pid" "$data" "$waybill" "$work" <<'PY'
import json, subprocess, sys, time, urllib.request
addr, key, path, email, pid, data, waybill, work = sys.argv[1:]
def api(method, url, body=None, raw=None, ctype="application/json"):
    data_ = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://{addr}{url}", data=data_, method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
with open(path, "rb") as f:
    file = api("POST", "/api/v1/files?name=book.pdf", raw=f.read(), ctype="application/pdf")
api("PUT", "/api/v1/products/book", {"name": "Book", "kind": "personalized", "files": [file["id"]],
    "plugin": {"name": "pdf-watermark", "config": {}}})
subprocess.run(["kill", "-TERM", pid], check=True)
while subprocess.run(["kill", "-0", pid], capture_output=True).returncode == 0:
    time.sleep(0.05)
log = open(f"{work}/server2.log", "w")
p = subprocess.Popen([waybill, "serve", "--data", data, "--listen", addr, "--plugin-cache-dir", f"{work}/cache",
    "--plugin-wall-time-ms-max", "60000"], stdout=subprocess.PIPE, stderr=log, text=True)
while "waybill listening" not in p.stdout.readline():
    pass
def hwm():
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
idle = hwm()
order = api("POST", "/api/v1/orders", {"external_id": "bench-1", "buyer": {"email": email, "name": "Zoe"},
    "lines": [{"sku": "book", "quantity": 1}]})
start = time.monotonic()
api("POST", f"/api/v1/orders/{order['id']}/payment", {"reference": "PAY-1"})
sid = order["shipments"][0]["id"]
while True:
    s = api("GET", f"/api/v1/shipments/{sid}")
    if s["personalization"]["status"] != "queued":
        break
    time.sleep(0.01)
total = (time.monotonic() - start) * 1000
assert s["personalization"]["status"] == "succeeded", s["personalization"]
run = s["personalization"]["last_run"]["wall_time_ms"]
out = s["files"][0]
peak = hwm()
p.terminate(); p.wait()
print(f"| through the server, {file['size'] / 1048576:.1f} MiB | {total:.0f} | {run} | {out['size']} | {idle:.1f} | {peak:.1f} |")
PY
}
echo
echo "through the server (payment → shipment shows the stamped PDF), the largest input:"
echo "| run | payment → result, ms | sandbox run, ms | output bytes | server RSS before, MiB | server peak RSS, MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
server_row "$work/book-${sizes_mib[-1]}.pdf"
