#!/bin/sh
# Print the GEMM table: elbo vs OpenBLAS (GFLOP/s medians over repetitions,
# repetitions randomly interleaved within one run per level) at each SIMD
# level, elbo's bf16 GEMM (bf16 inputs, float32 sums) beside them at the best
# level, then 1 vs 2 threads at the best level in both precisions.
#
# The benchmark runs through bench/peer-env: OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset, so OpenBLAS picks its own best kernel (AVX-512 on
# this machine) rather than the Haswell one these machines' environment
# forces, and its thread count pinned (the benchmarks then set it per case).
#
#   bench/gemm_table.sh [path/to/elbo_bench]
#   REPS=9 MIN_TIME=0.2 LEVELS="avx512 avx2" bench/gemm_table.sh build/bench/elbo_bench
#
# Each ratio compares numbers from the same invocation. LEVELS may include
# scalar (the reference triple loop: slow, minutes at 1024^3).
# CPU=1 computes the 1-thread GFLOP/s from CPU time instead of real time
# (robust on a shared machine: time spent preempted is not counted); the
# threads table always uses real time.
set -eu
PEER_ENV="$(cd "$(dirname "$0")" && pwd)/peer-env"
# OpenBLAS's idle threads spin for 2^28 cycles (~80 ms) after each call by
# default, taking the second core from whichever benchmark the interleaving
# runs next; 2^18 cycles (~80 us) matches the elbo pool's spin.
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-18}
BENCH=${1:-build/bench/elbo_bench}
REPS=${REPS:-7}
MIN_TIME=${MIN_TIME:-0.1}
LEVELS=${LEVELS:-avx512 avx2}
CPU=${CPU:-0}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

run() { # $1 = output json, $2 = filter, $3 = threads of the peer, env passed through
    "$PEER_ENV" "$3" "$BENCH" --benchmark_filter="$2" --benchmark_repetitions="$REPS" \
        --benchmark_min_time="$MIN_TIME" --benchmark_enable_random_interleaving=true \
        --benchmark_format=json >"$1" 2>"$1.err" ||
        { cat "$1.err" >&2; exit 1; }
}

"$BENCH" --benchmark_list_tests --benchmark_filter='^sgemm(_nt|_tn)?/' >"$TMP/list.txt"
best=$(echo "$LEVELS" | awk '{print $1}')
echo "OpenBLAS through bench/peer-env: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its own kernel choice)" >&2
for level in $LEVELS; do
    echo "running level $level (1 thread)..." >&2
    filter='^(openblas_)?sgemm(_nt|_tn)?/'
    [ "$level" = "$best" ] && filter='^(openblas_)?[sb]gemm(_nt|_tn)?/'
    ELBO_SIMD=$level ELBO_THREADS=1 run "$TMP/$level.json" "$filter" 1
done
echo "running 1 vs 2 threads at $best..." >&2
ELBO_SIMD=$best run "$TMP/threads.json" '^(openblas_)?[sb]gemm_threads/' 2

python3 - "$TMP" "$best" "$CPU" $LEVELS <<'EOF'
import json, sys, os
tmp, best, cpu, levels = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4:]

def medians(path, use_cpu=False):
    """median GFLOP/s per benchmark: the median of per-repetition rates"""
    reps = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].replace("/real_time", "")
        parts = name.split("/")
        M, N, K = (int(x) for x in parts[1:4])
        t = b["cpu_time"] if use_cpu else b["real_time"]  # ns per iteration
        reps.setdefault(name, []).append(2.0 * M * N * K / t)
    out = {}
    for name, r in reps.items():
        r.sort()
        out[name] = r[len(r) // 2] if len(r) % 2 else 0.5 * (r[len(r) // 2 - 1] + r[len(r) // 2])
    return out

forms = {"sgemm": "A·B", "sgemm_nt": "A·Bᵀ", "sgemm_tn": "Aᵀ·B"}
res = {lv: medians(os.path.join(tmp, lv + ".json"), cpu) for lv in levels}
print(f"GFLOP/s, median of {{}} repetitions, 1 thread, from {'CPU' if cpu else 'real'} time".format(
    os.environ.get("REPS", "7")))
print("OpenBLAS run through bench/peer-env: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its AVX-512 kernel here)")
print()
order = [l.strip().replace("/real_time", "") for l in open(os.path.join(tmp, "list.txt"))]
names = [n for n in order if n in res[levels[0]]]
hdr = "| shape M/N/K | form |" + "".join(f" elbo {lv} | OpenBLAS | ratio |" for lv in levels)
hdr += f" elbo bf16 ({best}) | bf16/fp32 | bf16/OpenBLAS |"
print(hdr)
print("|" + "---|" * (5 + 3 * len(levels)))
for n in names:
    fam, shape = n.split("/", 1)
    form = forms[fam]
    if fam == "sgemm" and shape == "784/400/128":
        form = "Aᵀ·B"
    row = f"| {shape} | {form} |"
    for lv in levels:
        e, o = res[lv].get(n), res[lv].get("openblas_" + n)
        row += f" {e:.1f} | {o:.1f} | {e / o:.2f}x |" if e and o else f" {e or 0:.1f} | - | - |"
    e, o, b = res[best].get(n), res[best].get("openblas_" + n), res[best].get("b" + n[1:])
    row += f" {b:.1f} | {b / e:.2f}x | {b / o:.2f}x |" if b and e and o else " - | - | - |"
    print(row)

t = medians(os.path.join(tmp, "threads.json"))
print()
print(f"1 vs 2 threads ({best}), GFLOP/s from real time:")
print()
print("| shape M/N/K | elbo 1T | elbo 2T | speedup | OpenBLAS 1T | OpenBLAS 2T | speedup | elbo bf16 1T | bf16 2T | speedup |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n in ["sgemm_threads/" + k.split("/", 1)[1] for k in names if k.startswith("sgemm/")]:
    if n + "/1" not in t:
        continue
    shape = n.split("/", 1)[1]
    e1, e2 = t.get(n + "/1"), t.get(n + "/2")
    o1, o2 = t.get("openblas_" + n + "/1"), t.get("openblas_" + n + "/2")
    row = f"| {shape} | {e1:.1f} | {e2:.1f} | {e2 / e1:.2f}x |"
    row += f" {o1:.1f} | {o2:.1f} | {o2 / o1:.2f}x |" if o1 and o2 else " - | - | - |"
    b1, b2 = t.get("b" + n[1:] + "/1"), t.get("b" + n[1:] + "/2")
    row += f" {b1:.1f} | {b2:.1f} | {b2 / b1:.2f}x |" if b1 and b2 else " - | - | - |"
    print(row)
EOF
