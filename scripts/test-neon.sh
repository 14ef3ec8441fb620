#!/usr/bin/env bash
# The NEON path under emulation: cross-compile for aarch64 with Debian's
# gcc-aarch64-linux-gnu (cross/aarch64-linux-gnu.ini) and run the
# dependency-free checks of tests/reliability (every NEON kernel against the
# scalar reference, GEMM against its oracle, autodiff finite-difference
# gradients) under qemu-aarch64. Criterion and Google Benchmark have no
# aarch64 packages, so the cross build registers only those checks.
#   scripts/test-neon.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build cross

dir=build-rel-neon
opts=(--cross-file cross/aarch64-linux-gnu.ini --buildtype=release -Dtests=true -Dbench=disabled)
if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
    meson setup "$dir" "${opts[@]}" >/dev/null
fi
echo "== aarch64 cross build (NEON) under qemu-aarch64 =="
meson compile -C "$dir"
# qemu runs ~10-30x slower than native: generous timeouts.
meson test -C "$dir" --print-errorlogs --timeout-multiplier 4
