#!/usr/bin/env bash
# Runs the files benchmark (benches/files.rs): installs nginx-light, b3sum, zstd and curl from Debian's packages where missing, then `cargo bench --bench files`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v zstd >/dev/null || missing+=(zstd)
command -v b3sum >/dev/null || missing+=(b3sum)
# Debian puts nginx in /usr/sbin, which a non-login PATH may lack.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
    echo "benches/files.sh: installing ${missing[*]} (Debian packages)"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

exec cargo bench --bench files -- "$@"
