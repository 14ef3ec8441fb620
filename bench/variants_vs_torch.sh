#!/usr/bin/env bash
# elbo's experiments/vae_variants against the same models in PyTorch 1.13
# (bench/variants_vs_torch.py): the VampPrior (K = 500 pseudo-inputs, the
# 784-400-20 networks) and the two-stochastic-layer model of Burda et al.
# (784-200-200-100 / 100-100-50, mirrored decoder, tanh), on dynamically
# binarized Fashion-MNIST (the test set binarized once, the same bits on both
# sides), the same epochs, batch 128, Adam 1e-3, one thread each. Prints, per
# model, the parameter counts of both, the IW-K test NLL of both and their
# difference (bar: within 1 nat), and the median epoch seconds and their
# ratio (bar: elbo <= 0.5x PyTorch), and the same for the process CPU seconds
# per epoch (steadier than wall-clock when the machine is shared). MODELS may also name hier2-wu
# (hier2 with ReLU units and a 10-epoch KL warm-up) and vae (784-400-20, the reference).
#
#   bench/variants_vs_torch.sh [BUILD_DIR]          (default BUILD_DIR: build)
#   MODELS="vamp hier2" SEEDS="1" EPOCHS=50 IW=5000 IW_IMAGES=0 DATA=data/fashion-mnist OUT=runs/variants_vs_torch
#   TRAIN_SIZE=N                                    the first N training images (smoke runs)
#
# A model elbo's build does not have yet is run on the PyTorch side only and
# reported as such. Runs already finished in OUT are reused (delete OUT to
# re-measure). PyTorch runs through bench/peer-env (threads pinned, OpenBLAS
# at its best). The IW-5000 NLL of the VampPrior costs about as much as
# training on the PyTorch side: IW_IMAGES limits it to the first N test images
# (both sides score the same images).
#
# Architecture note: hier2 was checked layer for layer against elbo's
# models/vae (bench/variants_vs_torch.py says how); elbo's --prior vamp comes
# from another part of issue 15: check the PyTorch VampPrior against it after
# merging before quoting that comparison.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$root/$build
data=${DATA:-$root/data/fashion-mnist}
models=${MODELS:-"vamp hier2"}
seeds=${SEEDS:-"1"}
epochs=${EPOCHS:-50}
iw=${IW:-5000}
iw_images=${IW_IMAGES:-0}
train_size=${TRAIN_SIZE:-0}
out=${OUT:-$root/runs/variants_vs_torch}
py=${TORCH_PYTHON:-/usr/bin/python3}

exe=$build/experiments/vae_variants
[ -x "$exe" ] || { echo "variants_vs_torch: $exe not built (meson compile -C $build)" >&2; exit 2; }
[ -f "$data/train-images-idx3-ubyte" ] || { echo "variants_vs_torch: no data in $data (scripts/fetch-data.sh)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "variants_vs_torch: $py cannot import torch" >&2; exit 2; }
mkdir -p "$out"
available=$("$exe" --help | awk '/^models/ { on = 1; next } on && NF { print $1 }')

for m in $models; do
    for s in $seeds; do
        run=$out/elbo_${m}_s$s
        if grep -qx "$m" <<< "$available"; then
            if [ ! -f "$run/summary.json" ]; then
                echo "== elbo $m seed $s" >&2
                rm -rf "$run"
                "$exe" --data "$data" --models "$m" --seeds "$s" --epochs "$epochs" --iw "$iw" --iw-images "$iw_images" \
                    --train-size "$train_size" --binarize dynamic --threads 1 --out "$run" > "$run.out" 2> "$run.log" \
                    || { tail -5 "$run.log" >&2; exit 1; }
            fi
        else
            echo "== elbo $m: not in this build (experiments/vae_variants --help lists the models)" >&2
        fi
        run=$out/torch_${m}_s$s
        if [ ! -s "$run.json" ]; then
            echo "== torch $m seed $s" >&2
            "$root/bench/peer-env" 1 "$py" "$root/bench/variants_vs_torch.py" --model "$m" --data "$data" --seed "$s" \
                --threads 1 --epochs "$epochs" --iw "$iw" --iw-images "$iw_images" --train-size "$train_size" \
                > "$run.json.tmp" 2> "$run.log" || { tail -5 "$run.log" >&2; exit 1; }
            mv "$run.json.tmp" "$run.json"
        fi
    done
done

"$py" - "$out" "$models" "$seeds" "$epochs" "$iw" <<'PY'
import csv, json, os, statistics, sys
out, models, seeds, epochs, iw = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4], sys.argv[5]
mean = lambda xs: sum(xs) / len(xs)
print(f"\nFashion-MNIST, dynamic binarization, {epochs} epochs, batch 128, Adam 1e-3, 1 thread, seeds {' '.join(seeds)}, "
      f"IW-{iw}\n")
print(f"{'':26}{'elbo':>12}{'torch':>12}{'diff/ratio':>12}   bar")
for m in models:
    t = [json.load(open(os.path.join(out, f"torch_{m}_s{s}.json"))) for s in seeds]
    e = []
    for s in seeds:
        p = os.path.join(out, f"elbo_{m}_s{s}", "summary.json")
        if os.path.exists(p):
            r = json.load(open(p))["results"]["runs"][0]
            e.append(r)
    t_nll = mean([r["test_iw_nll"] for r in t])
    t_ep = mean([statistics.median(r["epoch_seconds"]) for r in t])
    if len(e) != len(seeds):
        print(f"{m + ' IW NLL (nats)':26}{'-':>12}{t_nll:12.3f}{'':12}   elbo: not in this build")
        print(f"{m + ' epoch seconds':26}{'-':>12}{t_ep:12.3f}")
        continue
    print(f"{m + ' parameters':26}{e[0]['params']:12d}{t[0]['params']:12d}"
          f"{'':12}   {'equal' if e[0]['params'] == t[0]['params'] else 'DIFFERENT'}")
    e_nll = mean([r["iw_nll"] for r in e])
    e_ep = mean([r["epoch_seconds"] for r in e])
    d, q = e_nll - t_nll, e_ep / t_ep
    print(f"{m + ' IW NLL (nats)':26}{e_nll:12.3f}{t_nll:12.3f}{d:+12.3f}   |diff| <= 1: {'met' if abs(d) <= 1 else 'MISSED'}")
    print(f"{m + ' epoch seconds':26}{e_ep:12.3f}{t_ep:12.3f}{q:12.3f}   <= 0.5: {'met' if q <= 0.5 else 'MISSED'}")
    e_cpu = mean([r["epoch_cpu_seconds"] for r in e])
    t_cpu = mean([statistics.median(r["epoch_cpu_seconds"]) for r in t])
    q = e_cpu / t_cpu
    print(f"{m + ' epoch CPU seconds':26}{e_cpu:12.3f}{t_cpu:12.3f}{q:12.3f}   <= 0.5: {'met' if q <= 0.5 else 'MISSED'}")
PY
