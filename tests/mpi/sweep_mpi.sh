#!/usr/bin/env bash
# The distributed sweep under `mpirun --oversubscribe -np 2` and `-np 3`:
# the same sweep.csv and sweep_mean.csv as the local sweep, resume, a bad
# flag in one configuration recorded with its exit code and log tail, a
# flaky run retried on another rank, a rank killed mid-run (under
# --enable-recovery) whose run is rescheduled, a rank given another grid
# stopping every rank with one line, --dry-run printing once.
#
#   tests/mpi/sweep_mpi.sh BUILD/experiments mpi|nompi
#
# In a build without MPI it checks that `sweep --mpi` exits 2 with the line
# on how to build with MPI, then skips (exit 77) with the reason.
set -u
bin=${1:?usage: sweep_mpi.sh BUILD/experiments mpi|nompi}
mode=${2:-mpi}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elbo_sweep_mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ELBO_PROGRESS=0

. "$(dirname "$0")/harness.sh"

if [ "$mode" != mpi ]; then
    "$bin/sweep" --mpi --driver jensen --grid 'a=1' --out "$tmp/x" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    expect "sweep --mpi without MPI exits 2 (got $rc)" '[ $rc = 2 ]'
    expect "... with one line saying how to build with MPI" \
        '[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "scripts/install-deps.sh mpi" "$tmp/err" && grep -q -- "-Dmpi=enabled" "$tmp/err"'
    echo "$pass passed, $fails failed"
    [ $fails = 0 ] || exit 1
    echo "SKIP: the MPI sweep tests (this build has no MPI: scripts/install-deps.sh mpi; meson setup -Dmpi=enabled)"
    exit 77
fi

mpi_as_root

grid='a=1,2,4 seed=1,2'
"$bin/sweep" --driver jensen --grid "$grid" --args '--quick' --jobs 2 --out "$tmp/local" >"$tmp/local.log" 2>&1 ||
    bad "the local reference sweep runs"

# The driver for the failure cases: jensen, with a bad flag in configuration
# a=2 seed=1, and a first attempt of a=4 seed=2 that fails (exit 1).
cat >"$tmp/flaky.sh" <<EOF
#!/usr/bin/env bash
out=\$2
case "\$out" in
*/a=2_seed=1) exec "$bin/jensen" "\$@" --no-such-flag ;;
*/a=4_seed=2) [ -e "\$out/.tried" ] || { mkdir -p "\$out"; touch "\$out/.tried"; echo "flaky: first attempt fails"; exit 1; } ;;
esac
exec "$bin/jensen" "\$@"
EOF
chmod +x "$tmp/flaky.sh"

# The rank-R process among those whose command line matches PATTERN (its environment names its rank).
rank_pid() {
    local p
    for p in $(pgrep -f -- "$2"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$p"; return; }
    done
}

for np in 2 3; do
    echo "== mpirun -np $np"
    out=$tmp/np$np
    run_mpi -np $np "$bin/sweep" --mpi --driver jensen --grid "$grid" --args '--quick' --out "$out" >"$out.log" 2>&1
    rc=$?
    expect "sweep --mpi exits 0 (got $rc)" '[ $rc = 0 ]'
    [ $rc = 0 ] || tail -20 "$out.log"
    expect "sweep.csv equals the local sweep's" 'cmp -s "$tmp/local/sweep.csv" "$out/sweep.csv"'
    expect "sweep_mean.csv equals the local sweep's" 'cmp -s "$tmp/local/sweep_mean.csv" "$out/sweep_mean.csv"'
    expect "sweep_a.svg written" '[ -s "$out/sweep_a.svg" ]'
    expect "the ledger lists 6 finished runs" '[ "$(grep -c "\"state\": \"done\"" "$out/sweep_runs.json")" = 6 ]'
    expect "runs landed on more than one rank" \
        '[ "$(grep -o "done on rank [0-9]*" "$out.log" | sort -u | wc -l)" -ge 2 ]'

    run_mpi -np $np "$bin/sweep" --mpi --driver jensen --grid "$grid" --args '--quick' --out "$out" >"$out.2.log" 2>&1
    expect "a second sweep resumes: 0 run, 6 skipped" 'grep -q "0 run, 6 skipped" "$out.2.log"'

    n=$(run_mpi -np $np "$bin/sweep" --mpi --dry-run --driver jensen --grid "$grid" --out "$out.dry" 2>/dev/null |
        grep -c -- '--out')
    expect "--dry-run prints each command once ($n lines)" '[ "$n" = 6 ]'

    out=$tmp/fail$np
    run_mpi -np $np "$bin/sweep" --mpi --driver "$tmp/flaky.sh" --grid "$grid" --args '--quick' --retries 2 \
        --out "$out" >"$out.log" 2>&1
    rc=$?
    expect "a sweep with a failed run exits non-zero (got $rc)" '[ $rc != 0 ]'
    expect "the bad flag is listed with its exit code and log line" \
        'grep -q "failed: a=2_seed=1 (exit 2 after 1 attempt): jensen: unknown option .--no-such-flag." "$out.log"'
    expect "the ledger records it: failed, exit 2, the log tail" \
        'python3 -c "import json,sys; r=[r for r in json.load(open(sys.argv[1]))[\"runs\"] if r[\"config\"]==\"a=2_seed=1\"][0]; sys.exit(not (r[\"state\"]==\"failed\" and r[\"exit\"]==2 and \"no-such-flag\" in r[\"log_tail\"]))" "$out/sweep_runs.json"'
    first=$(sed -n 's/.*a=4_seed=2 FAILED on rank \([0-9]*\).*will retry.*/\1/p' "$out.log")
    second=$(sed -n 's/.*a=4_seed=2 done on rank \([0-9]*\).*/\1/p' "$out.log")
    expect "the flaky run is retried on another rank (rank '$first', then '$second')" \
        '[ -n "$first" ] && [ -n "$second" ] && [ "$first" != "$second" ]'
    expect "... and its first attempt's log is kept" 'grep -q "first attempt fails" "$out/runs/a=4_seed=2/log.1.txt"'
    expect "every other configuration's result is in sweep.csv (5 rows with a result)" \
        '[ "$(awk -F, "NR > 1 && \$3 != \"\" && \$3 != \"nan\"" "$out/sweep.csv" | wc -l)" = 5 ]'

    if [ $np = 2 ]; then # rank 0 only schedules: rank 1 is the one worker, so the retry stays there
        run_mpi -np 2 "$bin/sweep" --mpi --root-jobs 0 --driver "$tmp/flaky.sh" --grid "$grid" --args '--quick' \
            --out "$out.sched" >"$out.sched.log" 2>&1
        expect "--root-jobs 0: every run on rank 1, the flaky one retried there" \
            '[ "$(grep -c "done on rank 1" "$out.sched.log")" = 5 ] && grep -q "a=4_seed=2 done on rank 1" "$out.sched.log" && grep -q "5 run, 0 skipped (already done), 1 failed" "$out.sched.log"'
    fi

    # Kill rank 1 while it runs a driver: under --enable-recovery the others finish the sweep.
    out=$tmp/kill$np
    run_mpi --enable-recovery -np $np "$bin/sweep" --mpi --driver jensen --grid "$grid" --args '--n-mc 4e6' \
        --rank-timeout 2 --out "$out" >"$out.log" 2>&1 &
    job=$!
    victim=""
    for _ in $(seq 100); do
        victim=$(rank_pid 1 "--out $out\$")
        [ -n "$victim" ] && pgrep -P "$victim" >/dev/null && break
        sleep 0.1
    done
    if [ -n "$victim" ]; then
        kill -9 "$victim"
        wait $job
        expect "rank 1 is presumed dead" 'grep -q "rank 1 sent nothing for 2.0 s: presumed dead" "$out.log"'
        expect "its run is rescheduled (rank 1 died, will retry)" 'grep -q "FAILED on rank 1 (rank 1 died, attempt 1, will retry" "$out.log"'
        expect "every configuration's result is in sweep.csv" \
            '[ "$(awk -F, "NR > 1 && \$3 != \"\" && \$3 != \"nan\"" "$out/sweep.csv" | wc -l)" = 6 ]'
        expect "no run failed in the end" 'grep -q "6 run, 0 skipped (already done), 0 failed" "$out.log"'
    else
        wait $job
        bad "found rank 1 running a driver to kill"
    fi
    grep -q "presumed dead" "$out.log" || tail -20 "$out.log"
done

echo "== a rank with another grid"
run_mpi -np 1 "$bin/sweep" --mpi --driver jensen --grid 'a=1,2' --out "$tmp/mm" : \
    -np 2 "$bin/sweep" --mpi --driver jensen --grid 'a=1,2,4' --out "$tmp/mm" >"$tmp/mm.log" 2>&1
rc=$?
expect "every rank stops, non-zero (got $rc)" '[ $rc != 0 ]'
expect "one line names the rank and the cause" \
    '[ "$(grep -c "^sweep:" "$tmp/mm.log")" = 1 ] && grep -q "^sweep: rank 1 disagrees on the sweep configuration: .--grid a=1,2,4. where rank 0 has .--grid a=1,2." "$tmp/mm.log"'
expect "nothing ran" '[ ! -e "$tmp/mm/runs/a=1" ]'

echo
echo "$pass passed, $fails failed"
[ $fails = 0 ]
