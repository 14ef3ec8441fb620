#!/usr/bin/env bash
# The safetensors round trip, both ways, against PyTorch 1.13 (bench/safetensors_roundtrip.py):
#   export: elbo trains a VAE, --export writes it; PyTorch loads it into MLPVAE (strict
#           load_state_dict) and evaluates the test -ELBO with the same fixed noise as elbo.
#   import: PyTorch trains an MLPVAE and saves it; elbo --init loads it (--epochs 0) and
#           evaluates the test -ELBO with that noise.
# Each way prints both numbers and their relative difference; the bar is 1e-4.
#
#   bench/safetensors_roundtrip.sh [BUILD_DIR]     (default BUILD_DIR: build)
#   CONFIGS="vae:400:20 cvae:512,256:8" EPOCHS=2 DATA=data/fashion-mnist OUT=runs/safetensors_roundtrip
#
# A config is MODEL:HIDDEN:LATENT (MODEL vae or cvae). CONV_CONFIGS="SPEC/LATENT ..." adds convolutional
# models (elbo's --encoder spec; default "conv:16:4:2,conv:32:4:2,dense:64/8", EPOCHS_CONV=1 epoch each way;
# CONV_CONFIGS= skips them). PyTorch runs through bench/peer-env.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$root/$build
data=${DATA:-$root/data/fashion-mnist}
out=${OUT:-$root/runs/safetensors_roundtrip}
configs=${CONFIGS:-"vae:400:20 cvae:512,256:8"}
conv_configs=${CONV_CONFIGS-"conv:16:4:2,conv:32:4:2,dense:64/8"}
epochs_conv=${EPOCHS_CONV:-1}
epochs=${EPOCHS:-2}
py=${TORCH_PYTHON:-/usr/bin/python3}
vae=$build/experiments/vae
peer() { "$root/bench/peer-env" 1 "$py" "$root/bench/safetensors_roundtrip.py" --data "$data" "$@"; }

[ -x "$vae" ] || { echo "safetensors_roundtrip: $vae not built (meson compile -C $build)" >&2; exit 2; }
[ -f "$data/t10k-images-idx3-ubyte" ] || { echo "safetensors_roundtrip: no data in $data (scripts/fetch-data.sh)" >&2; exit 2; }
"$py" -c 'import torch, numpy' 2>/dev/null || { echo "safetensors_roundtrip: $py cannot import torch and numpy (scripts/install-deps.sh peers)" >&2; exit 2; }
mkdir -p "$out"

# rel A B: |A - B| / |B|
rel() { "$py" -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{abs(a - b) / abs(b):.3e}')" "$1" "$2"; }
field() { "$py" -c "import json, sys; d = json.load(open(sys.argv[1])); print(d.get('results', d)[sys.argv[2]])" "$1" "$2"; }

fail=0
printf '%-22s %-7s %16s %16s %10s\n' config way elbo pytorch rel_diff
for cfg in $configs; do
    IFS=: read -r model hidden latent <<<"$cfg"
    classes=0
    [ "$model" = cvae ] && classes=10
    tag=${model}_${hidden//,/-}_z${latent}
    eps=$out/eps_z$latent.npy
    [ -f "$eps" ] || peer make-eps --latent "$latent" --out "$eps"

    # export: elbo -> PyTorch
    run=$out/export_$tag
    rm -rf "$run"
    "$vae" --data "$data" --model "$model" --hidden "$hidden" --latent "$latent" --epochs "$epochs" --out "$run" \
        --export "$run/model.safetensors" --eval-noise "$eps" >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    e=$(field "$run/summary.json" test_neg_elbo_fixed_noise)
    peer evaluate --weights "$run/model.safetensors" --eps "$eps" --classes "$classes" >"$run.torch.json"
    p=$(field "$run.torch.json" test_neg_elbo_fixed_noise)
    r=$(rel "$e" "$p")
    printf '%-22s %-7s %16.6f %16.6f %10s\n' "$cfg" export "$e" "$p" "$r"
    "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1e-4 else 1)" "$r" || fail=1

    # import: PyTorch -> elbo
    run=$out/import_$tag
    rm -rf "$run"
    mkdir -p "$run"
    peer train --hidden "$hidden" --latent "$latent" --classes "$classes" --epochs "$epochs" --out "$run/torch.safetensors" \
        --eps "$eps" >"$run.torch.json"
    p=$(field "$run.torch.json" test_neg_elbo_fixed_noise)
    "$vae" --data "$data" --model "$model" --hidden "$hidden" --latent "$latent" --epochs 0 \
        --init "$run/torch.safetensors" --eval-noise "$eps" --out "$run" >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    e=$(field "$run/summary.json" test_neg_elbo_fixed_noise)
    r=$(rel "$e" "$p")
    printf '%-22s %-7s %16.6f %16.6f %10s\n' "$cfg" import "$e" "$p" "$r"
    "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1e-4 else 1)" "$r" || fail=1
done
for cfg in $conv_configs; do
    spec=${cfg%/*}
    latent=${cfg##*/}
    tag=conv_${spec//[:,]/-}_z${latent}
    eps=$out/eps_z$latent.npy
    [ -f "$eps" ] || peer make-eps --latent "$latent" --out "$eps"
    run=$out/export_$tag
    rm -rf "$run"
    "$vae" --data "$data" --encoder "$spec" --latent "$latent" --epochs "$epochs_conv" --out "$run" \
        --export "$run/model.safetensors" --eval-noise "$eps" >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    e=$(field "$run/summary.json" test_neg_elbo_fixed_noise)
    peer evaluate --weights "$run/model.safetensors" --eps "$eps" --encoder "$spec" --latent "$latent" >"$run.torch.json"
    p=$(field "$run.torch.json" test_neg_elbo_fixed_noise)
    r=$(rel "$e" "$p")
    printf '%-22s %-7s %16.6f %16.6f %10s\n' "$cfg" export "$e" "$p" "$r"
    "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1e-4 else 1)" "$r" || fail=1

    run=$out/import_$tag
    rm -rf "$run"
    mkdir -p "$run"
    peer train --encoder "$spec" --latent "$latent" --epochs "$epochs_conv" --out "$run/torch.safetensors" \
        --eps "$eps" >"$run.torch.json"
    p=$(field "$run.torch.json" test_neg_elbo_fixed_noise)
    "$vae" --data "$data" --encoder "$spec" --latent "$latent" --epochs 0 \
        --init "$run/torch.safetensors" --eval-noise "$eps" --out "$run" >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    e=$(field "$run/summary.json" test_neg_elbo_fixed_noise)
    r=$(rel "$e" "$p")
    printf '%-22s %-7s %16.6f %16.6f %10s\n' "$cfg" import "$e" "$p" "$r"
    "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1e-4 else 1)" "$r" || fail=1
done
[ $fail = 0 ] && echo "safetensors_roundtrip: every relative difference within 1e-4" || { echo "safetensors_roundtrip: a difference above 1e-4" >&2; exit 1; }
