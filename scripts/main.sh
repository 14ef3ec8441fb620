#!/usr/bin/env bash
# The main job: install what is missing, build in release mode, train the VAE
# on Fashion-MNIST (784-400-20, Bernoulli, Adam 1e-3, batch 128, 10 epochs)
# and write its figures. Extra arguments go to the vae driver, e.g.
#   scripts/main.sh --epochs 2 --latent 2
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build data
scripts/fetch-data.sh data/fashion-mnist

if [ -d build-release ]; then
    meson setup --reconfigure build-release --buildtype=release -Dtests=false >/dev/null
else
    meson setup build-release --buildtype=release -Dtests=false >/dev/null
fi
meson compile -C build-release >/dev/null

out=${ELBO_OUT:-out/vae}
threads=${ELBO_THREADS:-$(nproc)}
build-release/experiments/vae --data data/fashion-mnist --out "$out" --threads "$threads" "$@"
echo "outputs written to $(cd "$out" && pwd)/:"
ls -1 "$out" | sed 's/^/  /'
