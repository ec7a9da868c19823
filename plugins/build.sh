#!/usr/bin/env bash
# Builds the bundled plugins as wasm32-wasip2 release components and checks
# that each imports only what the Waybill host offers; builds the test
# plugins (plugins/hostile*, run by tests/it/hostile.rs) too.
#
#   plugins/build.sh            # build, print sizes and imports
#   CARGO_TARGET_DIR=... plugins/build.sh
#
# Output: $CARGO_TARGET_DIR/plugins/wasm32-wasip2/release/{license_key,voucher,pdf_watermark}.wasm
# and {hostile,hostile_fs,hostile_net}.wasm
# (CARGO_TARGET_DIR defaults to ./target). The server's build.rs builds the
# bundled ones into the same directory to embed them, so either warms the other. The import check runs when
# `wasm-tools` is on PATH (`cargo install wasm-tools`).
set -euo pipefail
cd "$(dirname "$0")/.."

plugins=(license-key voucher pdf-watermark)
# Never shipped: they misbehave on purpose, and hostile-fs and hostile-net
# import wasi:filesystem and wasi:sockets so that the host must refuse them.
test_plugins=(hostile hostile-fs hostile-net)
target_dir=${CARGO_TARGET_DIR:-target}
out="$target_dir/plugins/wasm32-wasip2/release"

# No debug info in the components: the workspace's release profile keeps
# line tables for the server, which would triple the plugins' size.
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release --target wasm32-wasip2 --target-dir "$target_dir/plugins" \
    "${plugins[@]/#/-p=}" "${test_plugins[@]/#/-p=}"

status=0
for plugin in "${plugins[@]}" "${test_plugins[@]}"; do
    wasm="$out/${plugin//-/_}.wasm"
    printf '%-16s %9d bytes  %s\n' "$plugin" "$(stat -c %s "$wasm")" "$wasm"
    if command -v wasm-tools >/dev/null; then
        imports=$(wasm-tools component wit "$wasm" | sed -n 's/^  import \(.*\);$/\1/p')
        case " ${test_plugins[*]} " in
            *" $plugin "*) ;; # test plugins may import what the host refuses
            *)
                for import in $imports; do
                    case "$import" in
                        waybill:plugin/*@0.1.0 | wasi:cli/* | wasi:io/*) ;;
                        *) echo "  $plugin imports $import, which the host does not offer" >&2; status=1 ;;
                    esac
                done
                ;;
        esac
        echo "  imports: $(echo $imports)"
    fi
done
exit $status
