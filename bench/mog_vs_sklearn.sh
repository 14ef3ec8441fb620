#!/usr/bin/env bash
# Build the release driver and run bench/mog_vs_sklearn.py with Debian's
# python3 (python3-sklearn, python3-numpy) through bench/peer-env: scikit-learn on one
# thread, OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset (its best kernel); elbo on 1 and 2.
#   bench/mog_vs_sklearn.sh [--n 100000 --d 16 --k 10 --iters 20 --out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ELBO_BUILD:-build-release}
if [ ! -d "$build" ]; then
    meson setup "$build" --buildtype=release -Dtests=false >/dev/null
fi
meson compile -C "$build" experiments/mog_em >/dev/null
exec bench/peer-env 1 /usr/bin/python3 bench/mog_vs_sklearn.py --driver "$build/experiments/mog_em" "$@"
