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

# Drivers under emulation: a short training run must learn, and a bad input
# must end in a clean usage error, exactly as on x86.
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
out=$(mktemp -d "${TMPDIR:-/tmp}/elbo-neon-XXXXXX")
trap 'rm -rf "$out"' EXIT
"${qemu[@]}" "$dir/experiments/toy_vae" --quick --threads 2 --out "$out/toy" >/dev/null
first=$(sed -n 's/.*"loss_first_mean": *\([-0-9.eE+]*\).*/\1/p' "$out/toy/summary.json")
last=$(sed -n 's/.*"loss_last_mean": *\([-0-9.eE+]*\).*/\1/p' "$out/toy/summary.json")
awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < f / 10) }' ||
    { echo "test-neon: toy_vae under qemu did not learn (loss $first -> $last)" >&2; exit 1; }
echo "toy_vae --quick under qemu-aarch64: loss $first -> $last"
set +e
"${qemu[@]}" "$dir/experiments/vae" --quick --data "$out/no-such-dir" --out "$out/vae" >/dev/null 2>&1
rc=$?
set -e
[ $rc = 3 ] || { echo "test-neon: vae on a missing --data exited $rc under qemu, expected 3 (bad input)" >&2; exit 1; }
echo "vae on a missing --data under qemu-aarch64: exit 3"
echo "NEON checks passed"
