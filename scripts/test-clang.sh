#!/usr/bin/env bash
# The test suite built with clang, run twice: at the default SIMD level and
# with ELBO_SIMD=scalar forced (every kernel call through the scalar table).
#   scripts/test-clang.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build data check
scripts/fetch-data.sh data/fashion-mnist >/dev/null

dir=build-rel-clang
opts=(--buildtype=release -Dbench=disabled)
if [ -d "$dir" ]; then
    CC=clang meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
    CC=clang meson setup "$dir" "${opts[@]}" >/dev/null
fi
echo "== clang build =="
meson compile -C "$dir"
meson test -C "$dir" --print-errorlogs
echo "== clang build, ELBO_SIMD=scalar =="
ELBO_SIMD=scalar meson test -C "$dir" --print-errorlogs
