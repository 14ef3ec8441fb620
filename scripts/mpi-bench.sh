#!/usr/bin/env bash
# The MPI figures of docs/MPI.md and docs/SCALING.md, reproducible on any machine:
#   scripts/mpi-bench.sh [BUILD] [allreduce|step|dp|sweep|faults]...   (default: all five)
# allreduce: the ordered bucketed sum vs MPI_Allreduce on the 784-400-20 slab, 2 ranks
# step:      the 784-400-20 VAE's training step (1 thread, epoch time / 469 steps)
# dp:        data-parallel training (vae --mpi), 1 thread per rank: 1 rank without MPI and
#            mpirun -np 2 take turns, REPS rounds of EPOCHS epochs (default 10, the bar's run);
#            prints every epoch time with the load average, the medians (epoch 1 left out:
#            it grows the arenas), each run's final test -ELBO, whether two 2-rank runs
#            gave the same bits, and each rank's time in gradient hooks and waiting for sums
# sweep:     a 3x2 VAE grid (1 epoch each) on 1 rank, on 2 ranks, on 2 ranks with rank 0
#            only scheduling, and on 3 ranks with rank 0 only scheduling; variants take
#            turns, REPS rounds (default 3; VARIANTS='np1 np2' picks some); prints each
#            round and the medians
# faults:    the same grid with a bad flag in one configuration and rank 1 killed mid-run
#            (mpirun --enable-recovery): the failures and sweep.csv's rows
# Needs Fashion-MNIST in data/fashion-mnist (scripts/fetch-data.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ $# -gt 0 ] && shift
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(allreduce step dp sweep faults)
reps=${REPS:-3}
variants=${VARIANTS:-np1 np2 np2_sched np3_sched}
bin=$build/experiments
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ELBO_PROGRESS=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elbo_mpi_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
grid='latent=2,10,20 seed=1,2'
args='--epochs 1'

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for w in "${what[@]}"; do
    case "$w" in
    allreduce)
        echo "== allreduce, 652832 floats, mpirun -np 2"
        mpirun -np 2 "$bin/allreduce_bench" --reps 300 --out "$tmp/ab"
        ;;
    step)
        echo "== VAE 784-400-20 step, 1 thread (2 epochs; the second epoch's time / 469 steps)"
        "$bin/vae" --epochs 2 --threads 1 --out "$tmp/vae" 2>&1 | awk '/^epoch/ { s = $(NF - 1) } END { printf "epoch %.3f s, step %.3f ms\n", s, s / 469 * 1000 }'
        ;;
    dp)
        epochs=${EPOCHS:-10}
        echo "== data-parallel VAE 784-400-20, 1 thread per rank, $epochs epochs, $reps rounds"
        for r in $(seq "$reps"); do
            echo "round $r, load $(cut -d' ' -f1-3 /proc/loadavg)"
            "$bin/vae" --epochs "$epochs" --threads 1 --out "$tmp/one$r" 2>"$tmp/one$r.log" >/dev/null
            awk '/^epoch/ && $2 > 1 { print $(NF - 1) }' "$tmp/one$r.log" >>"$tmp/one.times"
            echo "  1 rank:  $(awk '/^epoch/ { printf "%s ", $(NF - 1) }' "$tmp/one$r.log")  load $(cut -d' ' -f1 /proc/loadavg)"
            mpirun -np 2 "$bin/vae" --mpi --epochs "$epochs" --threads 1 --out "$tmp/two$r" \
                --export "$tmp/two$r/w.safetensors" 2>"$tmp/two$r.log" >/dev/null
            awk '/^epoch/ && $2 > 1 { print $(NF - 1) }' "$tmp/two$r.log" >>"$tmp/two.times"
            echo "  2 ranks: $(awk '/^epoch/ { printf "%s ", $(NF - 1) }' "$tmp/two$r.log")  load $(cut -d' ' -f1 /proc/loadavg)"
            grep "^rank .*epoch $epochs:" "$tmp/two$r.log" | sed 's/^/    /'
        done
        one=$(median <"$tmp/one.times")
        two=$(median <"$tmp/two.times")
        echo "median epoch (epochs 2..$epochs of every round): 1 rank $one s, 2 ranks $two s, ratio $(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.3f", a / b }')"
        echo "final test -ELBO: 1 rank $(grep -h '"test_neg_elbo"' "$tmp/one1/summary.json"), 2 ranks $(grep -h '"test_neg_elbo"' "$tmp/two1/summary.json")"
        if [ "$reps" -gt 1 ]; then
            cmp -s "$tmp/two1/w.safetensors" "$tmp/two2/w.safetensors" && same=yes || same=no
            echo "2-rank runs 1 and 2 bit-identical (weights): $same"
        fi
        ;;
    sweep)
        echo "== 3x2 sweep ($grid, $args): wall seconds per variant, $reps rounds"
        declare -A t
        for r in $(seq "$reps"); do
            for v in $variants; do
                # Unbound ranks, one thread per run: only the number of runs at once
                # differs (a rank bound to a core another job also uses would decide it).
                case $v in
                np1) cmd=(mpirun --bind-to none -np 1) extra=() ;;
                np2) cmd=(mpirun --bind-to none -np 2) extra=() ;;
                np2_sched) cmd=(mpirun --bind-to none -np 2) extra=(--root-jobs 0) ;;
                np3_sched) cmd=(mpirun --bind-to none --oversubscribe -np 3) extra=(--root-jobs 0) ;;
                esac
                s=$(date +%s.%N)
                "${cmd[@]}" "$bin/sweep" --mpi --driver vae --grid "$grid" --args "$args" --run-threads 1 "${extra[@]}" \
                    --out "$tmp/sweep_${v}_$r" >"$tmp/sweep_${v}_$r.log" 2>&1
                e=$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
                t[$v]="${t[$v]:-} $e"
                echo "  round $r  $v  ${e}s"
            done
        done
        m1=$(echo ${t[np1]} | tr ' ' '\n' | median)
        for v in $variants; do
            m=$(echo ${t[$v]} | tr ' ' '\n' | median)
            awk -v v="$v" -v m="$m" -v b="$m1" 'BEGIN { printf "  median %-10s %6.2f s  %.2fx of one rank\n", v, m, m / b }'
        done
        ;;
    faults)
        echo "== 3x2 sweep, a bad flag in latent=10 seed=2, rank 1 killed mid-run (--enable-recovery)"
        cat >"$tmp/bad_flag.sh" <<EOF
#!/usr/bin/env bash
case "\$2" in */latent=10_seed=2) exec "$PWD/$bin/vae" "\$@" --no-such-flag ;; esac
exec "$PWD/$bin/vae" "\$@"
EOF
        chmod +x "$tmp/bad_flag.sh"
        mpirun --enable-recovery -np 2 "$bin/sweep" --mpi --driver "$tmp/bad_flag.sh" --grid "$grid" --args "$args" \
            --rank-timeout 5 --out "$tmp/faults" >"$tmp/faults.log" 2>&1 &
        job=$!
        sleep 6
        for p in $(pgrep -f -- "--out $tmp/faults"); do
            if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
                echo "  killing rank 1 (pid $p) while it runs: $(pgrep -P "$p" -a | cut -c1-120)"
                kill -9 "$p"
                break
            fi
        done
        wait $job || true
        grep -v -e '^-----' -e 'PMIX ERROR' "$tmp/faults.log" | sed 's/^/  /'
        echo "  sweep.csv:"
        cut -d, -f1-4 "$tmp/faults/sweep.csv" | sed 's/^/    /'
        ;;
    *) echo "mpi-bench: unknown part '$w' (allreduce, step, dp, sweep, faults)" >&2; exit 2 ;;
    esac
done
