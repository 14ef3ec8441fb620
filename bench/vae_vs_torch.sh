#!/usr/bin/env bash
# elbo's experiments/vae against the same VAE in PyTorch 1.13 (bench/vae_vs_torch.py):
# same data (decompressed IDX), 784-400-20 ReLU, Bernoulli on [0,1] pixels, Adam 1e-3,
# batch 128, 10 epochs. Runs both for each seed and thread count, then prints a table:
# mean test -ELBO of each, per-epoch training seconds (median over epochs, mean over
# seeds) and the ratios the issue sets bars on, and peak RSS against PyTorch's (bar: 0.25x).
# elbo runs once per precision in PRECISIONS (--precision bf16: bf16 GEMM inputs, float32
# everything else); PyTorch runs float32.
#
#   bench/vae_vs_torch.sh [BUILD_DIR]          (default BUILD_DIR: build)
#   SEEDS="1 2 3" THREADS="1 2" PRECISIONS="fp32 bf16" EPOCHS=10 IW=100 DATA=data/fashion-mnist OUT=runs/vae_vs_torch
#   ARCH=conv                                   the conv VAE (both sides' --arch conv) instead of the MLP
#
# IW=K adds the IWAE-K test NLL of both (0 skips it). Runs already finished in OUT are
# reused (delete OUT to re-measure). Needs /usr/bin/python3 with torch (scripts/install-deps.sh peers).
# PyTorch runs through bench/peer-env: its AVX-512 OpenBLAS kernel, and truly THREADS threads.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$root/$build
data=${DATA:-$root/data/fashion-mnist}
seeds=${SEEDS:-"1 2 3"}
threads=${THREADS:-"1 2"}
precisions=${PRECISIONS:-"fp32 bf16"}
epochs=${EPOCHS:-10}
iw=${IW:-100}
arch=${ARCH:-mlp}
case "$arch" in mlp|conv) ;; *) echo "vae_vs_torch: ARCH must be mlp or conv, got '$arch'" >&2; exit 2 ;; esac
out=${OUT:-$root/runs/vae_vs_torch_$arch}
py=${TORCH_PYTHON:-/usr/bin/python3}

vae=$build/experiments/vae
[ -x "$vae" ] || { echo "vae_vs_torch: $vae not built (meson compile -C $build)" >&2; exit 2; }
[ -f "$data/train-images-idx3-ubyte" ] || { echo "vae_vs_torch: no data in $data (scripts/fetch-data.sh)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "vae_vs_torch: $py cannot import torch" >&2; exit 2; }
mkdir -p "$out"

iw_flag=()
[ "$iw" -gt 0 ] && iw_flag=(--iw "$iw")

for s in $seeds; do
    for t in $threads; do
        # IWAE-K costs as much as a few epochs: only on the 1-thread runs.
        extra=()
        [ "$t" = 1 ] && extra=("${iw_flag[@]}")
        for p in $precisions; do
            run=$out/elbo_s${s}_t${t}
            [ "$p" = fp32 ] || run=$out/elbo_${p}_s${s}_t${t}
            if [ ! -f "$run/summary.json" ]; then
                echo "== elbo seed $s, $t thread(s), $p" >&2
                rm -rf "$run"
                /usr/bin/time -v -o "$run.time" "$vae" --data "$data" --seed "$s" --threads "$t" --epochs "$epochs" \
                    --arch "$arch" --precision "$p" --out "$run" "${extra[@]}" > "$run.out" 2> "$run.log" || { cat "$run.log" >&2; exit 1; }
            fi
        done
        run=$out/torch_s${s}_t${t}
        if [ ! -s "$run.json" ]; then
            echo "== torch seed $s, $t thread(s)" >&2
            /usr/bin/time -v -o "$run.time" "$root/bench/peer-env" "$t" "$py" "$root/bench/vae_vs_torch.py" --data "$data" --seed "$s" \
                --threads "$t" --epochs "$epochs" --arch "$arch" "${extra[@]}" > "$run.json.tmp" 2> "$run.log" \
                || { cat "$run.log" >&2; exit 1; }
            mv "$run.json.tmp" "$run.json"
        fi
    done
done

"$py" - "$out" "$data" "$seeds" "$threads" "$precisions" "$arch" <<'EOF'
import json, os, re, statistics, sys
out, data, seeds, threads = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
precisions, arch = sys.argv[5].split(), sys.argv[6]

def rss_mb(path):
    with open(path) as f:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
    return int(m.group(1)) * 1024 / 1e6 if m else float("nan")

def load(kind, s, t):
    base = os.path.join(out, f"{kind}_s{s}_t{t}")
    if kind.startswith("elbo"):
        with open(os.path.join(base, "summary.json")) as f:
            r = json.load(f)["results"]
    else:
        with open(base + ".json") as f:
            r = json.load(f)
    r["rss_mb"] = rss_mb(base + ".time")
    r["median_epoch_s"] = statistics.median(r["epoch_seconds"])
    return r

kinds = ["elbo", "torch"] + [f"elbo_{p}" for p in precisions if p != "fp32"]
runs = {(k, s, t): load(k, s, t) for k in kinds for s in seeds for t in threads}
mean = lambda xs: sum(xs) / len(xs)

print(f"\n{'VAE 784-400-20' if arch == 'mlp' else 'conv VAE 32-64-256-20'}, Fashion-MNIST, seeds {' '.join(seeds)} "
      f"({len(runs[('elbo', seeds[0], threads[0])]['epoch_seconds'])} epochs)\n")
print(f"{'':28}{'elbo':>12}{'torch':>12}{'diff':>10}")
t1 = threads[0]
for key, label in (("test_neg_elbo", "test -ELBO (nats)"), ("test_iw_nll", "test IWAE -log p(x)")):
    e = [runs[("elbo", s, t1)].get(key) for s in seeds]
    p = [runs[("torch", s, t1)].get(key) for s in seeds]
    if None in e or None in p:
        continue
    print(f"{label:28}{mean(e):12.3f}{mean(p):12.3f}{mean(e) - mean(p):10.3f}")
    print(f"{'  per seed':28}{' '.join(f'{v:.2f}' for v in e):>12}  {' '.join(f'{v:.2f}' for v in p)}")

print()
torch1 = mean([runs[("torch", s, "1")]["median_epoch_s"] for s in seeds]) if "1" in threads else None
for t in threads:
    e = mean([runs[("elbo", s, t)]["median_epoch_s"] for s in seeds])
    p = mean([runs[("torch", s, t)]["median_epoch_s"] for s in seeds])
    line = f"{'epoch seconds, ' + t + ' thread(s)':28}{e:12.3f}{p:12.3f}   elbo/torch {e / p:.3f}"
    if torch1 and t != "1":
        line += f", elbo/torch-1-thread {e / torch1:.3f}"
    print(line)
if arch == "mlp":
    print(f"{'  bars':28}  1 thread: elbo/torch <= 0.5; 2 threads: elbo/torch-1-thread <= 0.3")
else:
    print(f"{'  bars':28}  1 thread: elbo/torch <= 0.4; 2 threads: elbo 2/1 threads <= 0.55")
    if "1" in threads and "2" in threads:
        e1 = mean([runs[("elbo", s, "1")]["median_epoch_s"] for s in seeds])
        e2 = mean([runs[("elbo", s, "2")]["median_epoch_s"] for s in seeds])
        print(f"{'  elbo 2/1 threads':28}{e2 / e1:12.3f}")

for p in precisions:
    if p == "fp32":
        continue
    k = f"elbo_{p}"
    print(f"\nelbo --precision {p} (PyTorch float32 in the same run)")
    e32 = [runs[("elbo", s, t1)]["test_neg_elbo"] for s in seeds]
    ep = [runs[(k, s, t1)]["test_neg_elbo"] for s in seeds]
    d = [a - b for a, b in zip(ep, e32)]
    print(f"{'test -ELBO (nats)':28}{mean(ep):12.3f}{'':12}{mean(ep) - mean(e32):10.3f}  vs elbo fp32")
    print(f"{'  per seed, minus fp32':28}  {' '.join(f'{v:+.3f}' for v in d)}   bar: |diff| <= 0.5 each")
    for t in threads:
        e = mean([runs[(k, s, t)]["median_epoch_s"] for s in seeds])
        f32 = mean([runs[("elbo", s, t)]["median_epoch_s"] for s in seeds])
        pt = mean([runs[("torch", s, t)]["median_epoch_s"] for s in seeds])
        print(f"{'epoch seconds, ' + t + ' thread(s)':28}{e:12.3f}{pt:12.3f}   {p}/torch {e / pt:.3f}, {p}/elbo-fp32 {e / f32:.3f}")
    print(f"{'  bar':28}  1 thread: {p}/torch <= {0.35 if arch == 'mlp' else 0.25}")

print()
# Memory bar (issue 16): elbo's peak RSS at most 0.25x PyTorch's. elbo keeps the
# images as uint8 and converts each batch; PyTorch holds them as float32.
n_img = 0
for split in ("train", "t10k"):
    with open(os.path.join(data, f"{split}-images-idx3-ubyte"), "rb") as f:
        hdr = f.read(16)
    n, r, c = (int.from_bytes(hdr[i:i + 4], "big") for i in (4, 8, 12))
    n_img += n * r * c
n_par = runs[("elbo", seeds[0], t1)].get("parameters", 0)
for t in threads:
    e = max(runs[("elbo", s, t)]["rss_mb"] for s in seeds)
    p = max(runs[("torch", s, t)]["rss_mb"] for s in seeds)
    bar = "bar 0.25" if arch == "mlp" else "the conv bar is against elbo's own floats, not PyTorch"
    print(f"{'peak RSS MB, ' + t + ' thread(s)':28}{e:12.1f}{p:12.1f}   elbo/torch {e / p:.3f} ({bar})")
print(f"{'  of which':28}  uint8 images {n_img / 1e6:.1f} MB, 4 slabs of {n_par} floats {16 * n_par / 1e6:.1f} MB")
EOF
