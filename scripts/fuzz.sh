#!/usr/bin/env bash
# Fuzz the readers of untrusted files: build the libFuzzer harnesses (clang,
# ASan + UBSan), generate the seed corpus, and run each harness for a fixed
# number of executions. Prints executions and crashes per target; exits 1 if
# any target crashed (reproducers are kept in build-rel-fuzz/fuzz/crashes/).
#   scripts/fuzz.sh [RUNS] [TARGET...]   RUNS defaults to 10000000; targets: idx csv checkpoint dsprites_factors
#                                         npy npz png safetensors prior_init
#   FUZZ_JOBS=N                           targets run N at a time (default: nproc)
#   ELBO_FUZZ_LAX_MESSAGES=1              skip the one-line-message check (memory errors only)
# Reproduce a crash:  build-rel-fuzz/fuzz/fuzz_TARGET build-rel-fuzz/fuzz/crashes/TARGET-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-10000000}
case "$runs" in
'' | *[!0-9]*) echo "fuzz.sh: RUNS must be a positive integer, got '$runs'" >&2; exit 2 ;;
esac
shift || true

scripts/install-deps.sh build check

dir=build-rel-fuzz
opts=(--buildtype=debugoptimized -Dfuzz=true -Dtests=false -Dbench=disabled)
if [ -d "$dir" ]; then
    CC=clang meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
    CC=clang meson setup "$dir" "${opts[@]}" >/dev/null
fi
meson compile -C "$dir" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for t in idx csv checkpoint dsprites_factors npy npz png safetensors prior_init; do
        [ -x "$dir/fuzz/fuzz_$t" ] && targets+=("$t")
    done
fi

fz=$dir/fuzz
rm -rf "$fz/seeds"
"$fz/gen_seeds" "$fz/seeds"
mkdir -p "$fz/crashes" "$fz/logs"
stamp=$fz/logs/.started
touch "$stamp"

run_one() {
    local t=$1
    local work=$fz/corpus/$t
    mkdir -p "$work"
    # The working corpus grows across runs; the generated seeds are read too.
    # -seed fixed so a run can be repeated; leak detection stays on.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$fz/fuzz_$t" -runs="$runs" -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$fz/crashes/$t-" "$work" "$fz/seeds/$t" \
        >"$fz/logs/$t.log" 2>&1
}

jobs=${FUZZ_JOBS:-$(nproc)}
declare -A rc
pids=()
names=()
start=$(date +%s)
for t in "${targets[@]}"; do
    [ -x "$fz/fuzz_$t" ] || { echo "fuzz.sh: no harness fuzz_$t in $fz" >&2; exit 2; }
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    run_one "$t" &
    pids+=($!)
    names+=("$t")
done
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then rc[${names[$i]}]=0; else rc[${names[$i]}]=$?; fi
done

failed=0
printf '%-12s %14s %8s %10s  %s\n' target executions crashes seconds status
for t in "${targets[@]}"; do
    log=$fz/logs/$t.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    crashes=$(find "$fz/crashes" -name "$t-*" -newer "$stamp" | wc -l)
    status=ok
    if [ "${rc[$t]}" != 0 ] || [ "$crashes" != 0 ]; then
        status="FAILED (exit ${rc[$t]}, see $log)"
        failed=1
    fi
    printf '%-12s %14s %8s %10s  %s\n' "$t" "${execs:-?}" "$crashes" "${secs:-?}" "$status"
done
echo "fuzz.sh: $(( $(date +%s) - start )) s wall"
if [ $failed = 1 ]; then
    echo "fuzz.sh: reproducers:" >&2
    find "$fz/crashes" -newer "$stamp" -type f | sed 's/^/  /' >&2
    exit 1
fi
