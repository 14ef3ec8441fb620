#!/bin/sh
# Roofline report: this machine's limits, then each kernel's and each model
# step's fraction of the limit that binds it, one core.
#
#   bench/roofline.sh [BUILD_DIR]            (default: build)
#   REPS=5 MIN_TIME=0.1 bench/roofline.sh build
#
# Limits (bench/roofline/peak.c, built here with -O3 -march=native): the fp32
# and fp64 FMA peaks, the bf16 dot (vdpbf16ps) peak and the triad bandwidth, each the
# best of 5 timed loops on one core. Then, from one run of elbo_bench:
#   GEMMs (sgemm: float32, bgemm: bf16 inputs) at the VAE shapes and 1024^3:
#     compute-bound: GFLOP/s over the fp32 or bf16 peak;
#   kernels over 2^24 floats (ops_*): memory-bound: bytes moved over triad
#     (the transcendental ones are partly compute-bound: their fraction of
#     triad is a lower bound on how busy they keep the core);
#   the VAE 784-400-20 training step (vae_step/1, fp32 and ELBO_PRECISION=bf16):
#     the five large GEMMs' flops over the step time, against the peak of
#     its precision (everything else in the step counts as lost time).
# Medians over REPS repetitions. OpenBLAS is not involved here (see
# bench/gemm_table.sh for the peer).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
BENCH=$build/bench/elbo_bench
REPS=${REPS:-5}
MIN_TIME=${MIN_TIME:-0.1}
[ -x "$BENCH" ] || { echo "roofline: $BENCH not built" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O3 -march=native "$root/bench/roofline/peak.c" -o "$TMP/peak" ||
    { echo "roofline: cannot build the peak kernels" >&2; exit 1; }
echo "measuring peaks..." >&2
"$TMP/peak" >"$TMP/peak.txt"
run() { # $1 output, $2 filter; environment passed through
    ELBO_THREADS=1 "$BENCH" --benchmark_filter="$2" --benchmark_repetitions="$REPS" \
        --benchmark_min_time="$MIN_TIME" --benchmark_enable_random_interleaving=true \
        --benchmark_format=json >"$1" 2>"$1.err" || { cat "$1.err" >&2; exit 1; }
}
echo "running GEMMs and kernels..." >&2
run "$TMP/k.json" '^[sb]gemm(_nt|_tn)?/|^ops_[a-z0-9_]+/16777216$'
echo "running the VAE step, fp32 and bf16..." >&2
ELBO_PRECISION=fp32 run "$TMP/step32.json" '^vae_step/1/'
ELBO_PRECISION=bf16 run "$TMP/step16.json" '^vae_step/1/'

python3 - "$TMP" <<'PY'
import json, os, sys, statistics
tmp = sys.argv[1]
peak = dict(l.split() for l in open(os.path.join(tmp, "peak.txt")))
fma, bdot, triad = (float(peak[k]) for k in ("fp32_fma_gflops", "bf16_dot_gflops", "triad_gbs"))
fma64 = float(peak.get("fp64_fma_gflops", 0))
print("Limits, one core: fp32 FMA %.1f GFLOP/s, fp64 FMA %.1f, bf16 dot %.1f GFLOP/s (%.2fx fp32), triad %.1f GB/s"
      % (fma, fma64, bdot, bdot / fma if fma else 0, triad))
print()

def reps(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        out.setdefault(b["run_name"].replace("/real_time", ""), []).append(b)
    return out

k = reps(os.path.join(tmp, "k.json"))
print("| GEMM M/N/K | form | fp32 GFLOP/s | of FMA peak | bf16 GFLOP/s | of bf16 peak | bf16/fp32 |")
print("|---|---|---|---|---|---|---|")
forms = {"sgemm": "A·B", "sgemm_nt": "A·Bᵀ", "sgemm_tn": "Aᵀ·B"}
for name in [n for n in k if n.startswith("sgemm")]:
    fam, shape = name.split("/", 1)
    M, N, K = (int(x) for x in shape.split("/"))
    fl = lambda n: statistics.median(2.0 * M * N * K / b["real_time"] for b in k[n])
    s = fl(name)
    bn = "b" + name[1:]
    form = "Aᵀ·B" if (fam == "sgemm" and shape == "784/400/128") else forms[fam]
    if bn in k:
        b = fl(bn)
        print(f"| {shape} | {form} | {s:.1f} | {s / fma:.0%} | {b:.1f} | {b / bdot if bdot else 0:.0%} | {b / s:.2f}x |")
    else:
        print(f"| {shape} | {form} | {s:.1f} | {s / fma:.0%} | - | - | - |")
print()
print("| kernel, 2^24 floats | GB/s | of triad |")
print("|---|---|---|")
for name in sorted(n for n in k if n.startswith("ops_")):
    g = statistics.median(b["bytes_per_second"] for b in k[name]) * 1e-9
    print(f"| {name.split('/')[0][4:]} | {g:.1f} | {g / triad:.0%} |")
print()
print("| VAE 784-400-20 step, batch 128, 1 thread | ms | GEMM GFLOP/s | limit | fraction |")
print("|---|---|---|---|---|")
for prec, f, lim in (("fp32", "step32.json", fma), ("bf16", "step16.json", bdot)):
    r = reps(os.path.join(tmp, f)).get("vae_step/1")
    if not r:
        continue
    ms = statistics.median(b["real_time"] for b in r)  # Unit: ms
    g = statistics.median(b["GFLOPS"] for b in r) * 1e-9 if r[0]["GFLOPS"] > 1e6 else statistics.median(b["GFLOPS"] for b in r)
    print(f"| {prec} | {ms:.3f} | {g:.1f} | {lim:.1f} | {g / lim if lim else 0:.0%} |")
PY
