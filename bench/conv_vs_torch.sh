#!/usr/bin/env bash
# elbo's convolutions against PyTorch's on the conv VAE's layers, one run:
# elbo_bench's conv/ rows (median of REPS interleaved repetitions, with each
# row's fraction of the FMA peak the same process measured) next to
# bench/conv_layers_torch.py through bench/peer-env (AVX-512 OpenBLAS, truly
# THREADS threads). The whole conv-VAE epoch is ARCH=conv bench/vae_vs_torch.sh.
#
#   bench/conv_vs_torch.sh [BUILD_DIR]        THREADS=1 REPS=5
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
threads=${THREADS:-1}
reps=${REPS:-5}
py=${TORCH_PYTHON:-/usr/bin/python3}
bench=$build/bench/elbo_bench
[ -x "$bench" ] || { echo "conv_vs_torch: $bench not built (needs libbenchmark-dev)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "conv_vs_torch: $py cannot import torch" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ELBO_THREADS=$threads "$bench" --benchmark_filter='^conv/|^fma_peak' --benchmark_repetitions="$reps" \
    --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true \
    --benchmark_format=json > "$tmp/elbo.json"
"$root/bench/peer-env" "$threads" "$py" "$root/bench/conv_layers_torch.py" --threads "$threads" > "$tmp/torch.txt"

"$py" - "$tmp/elbo.json" "$tmp/torch.txt" "$threads" <<'PY'
import json, sys
rows = {b["run_name"].split("/real_time")[0]: b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("aggregate_name") == "median"}
peak = rows["fma_peak"]["GFLOPS"]
print(f"conv VAE layers, batch 128, {sys.argv[3]} thread(s); elbo's measured FMA peak {peak:.1f} GFLOP/s\n")
print(f"{'layer/pass':18}{'elbo us':>10}{'GFLOP/s':>10}{'of peak':>9}{'torch us':>10}{'GFLOP/s':>10}{'elbo/torch':>12}")
for line in open(sys.argv[2]):
    name, t_us, t_gf = line.split()
    e = rows[name]
    e_us = e["real_time"] if e["time_unit"] == "us" else e["real_time"] / 1e3
    print(f"{name[5:]:18}{e_us:10.1f}{e['GFLOPS']:10.1f}{e['peak_frac']:9.2f}{float(t_us):10.1f}{float(t_gf):10.1f}"
          f"{e_us / float(t_us):12.2f}")
PY
