#!/usr/bin/env bash
# Fashion-MNIST in every form --data reads trains to the same bits as from IDX
# (the by-hand, full-size check; tests/io/test_datafile.c does it on a small set):
#   IDX  ==  .npy uint8  ==  .npy float32  ==  .npz (compressed)
#   PNG class folder (read in ImageFolder order)  ==  IDX reordered the same way
# Each run is experiments/vae with the same seed; "same bits" means identical
# epochs.csv (every column but the seconds), identical samples.npy,
# samples_aggregate.npy and reconstructions.npy, and identical exported weights.
#
#   bench/data_formats_same_bits.sh [BUILD_DIR]      (default BUILD_DIR: build)
#   EPOCHS=10 DATA=data/fashion-mnist OUT=runs/fashion-forms
# Needs /usr/bin/python3 with NumPy and PIL (scripts/install-deps.sh io) for the conversion.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$root/$build
data=${DATA:-$root/data/fashion-mnist}
out=${OUT:-$root/runs/fashion-forms}
epochs=${EPOCHS:-10}
vae=$build/experiments/vae
[ -x "$vae" ] || { echo "data_formats_same_bits: $vae not built" >&2; exit 2; }

[ -f "$out/fashion.npz" ] || /usr/bin/python3 "$root/bench/fashion_mnist_convert.py" --data "$data" --out "$out"

train() { # name, then the data flags
    local name=$1
    shift
    rm -rf "$out/run_$name"
    /usr/bin/time -f "%e s, %M KB peak" -o "$out/run_$name.time" "$vae" --seed 1 --epochs "$epochs" \
        --out "$out/run_$name" --export "$out/run_$name/weights.safetensors" "$@" >"$out/run_$name.log" 2>&1 ||
        { cat "$out/run_$name.log" >&2; exit 1; }
    printf '%-14s %s  %s\n' "$name" "$(grep -m1 'data: train' "$out/run_$name.log" | cut -c1-90)" "$(cat "$out/run_$name.time")"
}

u8=$out/u8
train idx --data "$data"
train npy_u8 --data "$u8/train_x.npy" --labels "$u8/train_y.npy" --test-data "$u8/test_x.npy" --test-labels "$u8/test_y.npy"
train npy_f32 --data "$out/f32/train_x.npy" --labels "$u8/train_y.npy" --test-data "$out/f32/test_x.npy" \
    --test-labels "$u8/test_y.npy"
train npz --data "$out/fashion.npz"
train idx_by_class --data "$out/idx_by_class"
train png --data "$out/png"

same() { # run a, run b
    local a=$out/run_$1 b=$out/run_$2 ok=1
    cmp -s <(cut -d, -f1-9 "$a/epochs.csv") <(cut -d, -f1-9 "$b/epochs.csv") || ok=0
    for f in samples.npy samples_aggregate.npy reconstructions.npy weights.safetensors; do
        cmp -s "$a/$f" "$b/$f" || ok=0
    done
    printf '%-14s vs %-14s %s   test -ELBO %s\n' "$1" "$2" "$([ $ok = 1 ] && echo 'same bits' || echo DIFFERENT)" \
        "$(sed -n 's/.*"test_neg_elbo": \([0-9.]*\).*/\1/p' "$b/summary.json")"
    [ $ok = 1 ]
}
fail=0
for f in npy_u8 npy_f32 npz; do same idx "$f" || fail=1; done
same idx_by_class png || fail=1
exit $fail
