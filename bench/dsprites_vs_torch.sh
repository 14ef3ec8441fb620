#!/usr/bin/env bash
# Training throughput on dSprites, one thread: experiments/disentangle_dsprites
# (beta-VAE; Chen et al.'s MLP, and the conv stack) against the same network in
# PyTorch 1.13 (bench/dsprites_vs_torch.py) on the very same batches: the elbo
# run exports its training images (--export-batches) and PyTorch trains on
# that file. Both count every step's time (elbo: render + forward + backward +
# Adam; PyTorch: uint8 -> float + forward + backward + Adam). Bar: elbo >= 2x.
#
#   bench/dsprites_vs_torch.sh [BUILD_DIR]     STEPS=100 BATCH=64 ARCHS="mlp conv" OUT=runs/dsprites_vs_torch
#
# One measurement each, in one run; the load average is printed with it
# (the machine is shared: compare only figures of the same run).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$root/$build
steps=${STEPS:-100}
batch=${BATCH:-64}
archs=${ARCHS:-"mlp conv"}
out=${OUT:-$root/runs/dsprites_vs_torch}
py=${TORCH_PYTHON:-/usr/bin/python3}
drv=$build/experiments/disentangle_dsprites
[ -x "$drv" ] || { echo "dsprites_vs_torch: $drv not built (meson compile -C $build)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "dsprites_vs_torch: $py cannot import torch" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out"

for a in $archs; do
    echo "$a: load before elbo: $(uptime)"
    ELBO_PROGRESS=0 "$drv" --threads 1 --arch "$a" --objectives beta --betas 1 --seeds 1 --steps "$steps" \
        --batch "$batch" --metrics none --test-size 1000 --export-batches "$out/batches.npy" --out "$out/elbo_$a" \
        > "$out/elbo_$a.log"
    echo "$a: load before PyTorch: $(uptime)"
    "$root/bench/peer-env" 1 "$py" "$root/bench/dsprites_vs_torch.py" --arch "$a" --batches "$out/batches.npy" \
        --threads 1 > "$out/torch_$a.json"
    rm -f "$out/batches.npy"
done
echo "after: $(uptime)"

"$py" - "$out" $archs <<'PY'
import csv, json, sys
out, archs = sys.argv[1], sys.argv[2:]
res = {}
for a in archs:
    row = next(csv.DictReader(open(f"{out}/elbo_{a}/metrics.csv")))
    t = json.load(open(f"{out}/torch_{a}.json"))
    e = float(row["images_per_s"])
    ratio = e / t["images_per_s"]
    print(f"{a}: {t['steps']} steps of {t['batch']}, 1 thread, beta-VAE")
    print(f"  elbo    {e:9.1f} images/s  ({float(row['seconds']):.2f} s)")
    print(f"  PyTorch {t['images_per_s']:9.1f} images/s  ({t['seconds']:.2f} s; {t['peer']})")
    print(f"  train -ELBO per image, mean of the last steps: elbo {float(row['train_neg_elbo']):.1f}, "
          f"PyTorch {t['last_train_neg_elbo']:.1f} (different initial weights)")
    print(f"  ratio   {ratio:9.2f}x  (bar: >= 2x: {'met' if ratio >= 2 else 'missed'})")
    res[a] = {"elbo_images_per_s": e, "torch_images_per_s": t["images_per_s"], "ratio": ratio,
              "steps": t["steps"], "batch": t["batch"]}
json.dump(res, open(f"{out}/result.json", "w"), indent=1)
PY
