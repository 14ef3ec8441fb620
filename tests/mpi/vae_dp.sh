#!/usr/bin/env bash
# Data-parallel VAE training (`vae --mpi`) under `mpirun --oversubscribe`:
#   - two runs with 2 ranks give the same bits (weights and every epoch's figures);
#   - 1 rank with --mpi gives the bits of the run without MPI;
#   - 3 ranks give 1 rank's figures within float tolerance (the gradient
#     sums are added in another order, so the bits differ: printed), also
#     for a conditional VAE with dynamic binarization and 2 samples, and IWAE;
#   - a rank whose parameters differ (ELBO_DP_TEST_CORRUPT_RANK) stops
#     every rank with one line, before the epoch's checkpoint;
#   - a rank with another configuration, or that cannot read its data,
#     stops every rank with one line naming it, nothing written;
#   - a run stopped (--max-steps) with 2 ranks resumes with 2 (same bits as
#     never stopped) and with 3 (finishes, figures within tolerance).
#
#   tests/mpi/vae_dp.sh BUILD/experiments DATA_DIR mpi|nompi
#
# Without MPI: `vae --mpi` exits 2 with one line on how to build with it, then
# the rest is skipped (exit 77). Without Fashion-MNIST in DATA_DIR: skipped.
set -u
bin=${1:?usage: vae_dp.sh BUILD/experiments DATA_DIR mpi|nompi}
data=${2:?usage: vae_dp.sh BUILD/experiments DATA_DIR mpi|nompi}
mode=${3:-mpi}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elbo_vae_dp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ELBO_PROGRESS=0

. "$(dirname "$0")/harness.sh"

if [ "$mode" != mpi ]; then
    "$bin/vae" --mpi --quick --data "$data" --out "$tmp/x" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    expect "vae --mpi without MPI exits 2 (got $rc)" '[ $rc = 2 ]'
    expect "... with one line saying how to build with MPI" \
        '[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "scripts/install-deps.sh mpi" "$tmp/err" && grep -q -- "-Dmpi=enabled" "$tmp/err"'
    expect "... and writes nothing" '[ ! -e "$tmp/x/checkpoint.ckpt" ]'
    finish
    echo "SKIP: the data-parallel tests (this build has no MPI: scripts/install-deps.sh mpi; meson setup -Dmpi=enabled)"
    exit 77
fi
if [ ! -e "$data/train-images-idx3-ubyte" ] && [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
    echo "SKIP: no Fashion-MNIST in $data (scripts/fetch-data.sh)"
    exit 77
fi

mpi_as_root
# 2048 training and 512 test images, 2 epochs of 16 steps; the test ELBO and
# IW-5 in chunks of 100 rows (6 chunks: split over the ranks).
args=(--quick --epochs 2 --data "$data" --eval-batch 100 --iw 5 --threads 1)
vae() { # vae NP OUT [ARGS...]
    local np=$1 out=$2
    shift 2
    run_mpi -np "$np" "$bin/vae" --mpi "${args[@]}" --out "$out" --export "$out/w.safetensors" "$@" \
        >"$out.log" 2>&1
}
# The figures of every epoch (without the seconds) and the test values of summary.json.
figures() { cut -d, -f1-9 "$1/epochs.csv"; grep -E '"test_(neg_elbo|iw_nll)"' "$1/summary.json"; }
same_bits() { cmp -s "$1/w.safetensors" "$2/w.safetensors" && [ "$(figures "$1")" = "$(figures "$2")" ]; }

echo "== repeat with 2 ranks"
mkdir -p "$tmp/a" "$tmp/b"
vae 2 "$tmp/a"
rc=$?
expect "mpirun -np 2 vae --mpi exits 0 (got $rc)" '[ $rc = 0 ]'
[ $rc = 0 ] || tail -5 "$tmp/a.log"
expect "it trained data-parallel (2 ranks)" 'grep -q "vae: 2 ranks, [0-9]* gradient buckets" "$tmp/a.log"'
expect "every bucket sum was started by the gradient-ready hook (both ranks, both epochs)" \
    '[ "$(grep -c "^rank [01]: epoch [12]: .* 48 of 48 bucket sums started by the gradient-ready hook" "$tmp/a.log")" = 4 ]'
expect "rank 0 alone wrote: one summary line" '[ "$(grep -c "wrote .*summary.json" "$tmp/a.log")" = 1 ]'
expect "summary.json records 2 ranks" 'grep -q "\"mpi_ranks\": 2" "$tmp/a/summary.json"'
vae 2 "$tmp/b"
expect "a second run has the same bits (weights, epochs.csv, test ELBO, IW-5)" 'same_bits "$tmp/a" "$tmp/b"'
vae 2 "$tmp/b8" --buckets 8 2>/dev/null || mkdir -p "$tmp/b8"
expect "... and so has one with another bucket layout (--buckets 8)" 'same_bits "$tmp/a" "$tmp/b8"'
mkdir -p "$tmp/spin" "$tmp/nap"
ELBO_DP_WAIT=spin vae 2 "$tmp/spin"
ELBO_DP_WAIT=nap vae 2 "$tmp/nap"
expect "... and so have ranks that wait by spinning and by napping (ELBO_DP_WAIT)" \
    'same_bits "$tmp/a" "$tmp/spin" && same_bits "$tmp/a" "$tmp/nap"'
mkdir -p "$tmp/wait"
ELBO_DP_WAIT=sleep vae 2 "$tmp/wait"
rc=$?
expect "ELBO_DP_WAIT=sleep: non-zero (got $rc), one line, nothing written" \
    '[ $rc != 0 ] && [ "$(grep -c "ELBO_DP_WAIT: expected spin or nap, got .sleep." "$tmp/wait.log")" = 1 ] && [ ! -e "$tmp/wait/epochs.csv" ]'

echo "== 1 rank, 3 ranks, no MPI"
mkdir -p "$tmp/n1" "$tmp/n3" "$tmp/plain"
vae 1 "$tmp/n1"
vae 3 "$tmp/n3"
rc=$?
expect "mpirun -np 3 exits 0 (got $rc)" '[ $rc = 0 ]'
"$bin/vae" "${args[@]}" --out "$tmp/plain" --export "$tmp/plain/w.safetensors" >"$tmp/plain.log" 2>&1
expect "1 rank trains the bits of the run without MPI" \
    'cmp -s "$tmp/n1/w.safetensors" "$tmp/plain/w.safetensors" && [ "$(cut -d, -f1-5 "$tmp/n1/epochs.csv")" = "$(cut -d, -f1-5 "$tmp/plain/epochs.csv")" ]'
expect "3 ranks give 1 rank's figures within 1e-6 (relative)" 'close "$tmp/n3" "$tmp/n1" 1e-6'
if same_bits "$tmp/n3" "$tmp/n1"; then
    echo "  note  3 ranks and 1 rank: the same bits"
else
    echo "  note  3 ranks and 1 rank: other bits (sums of 3 partial gradients in rank order, not one GEMM's order)"
fi

# The shard's noise for several samples, dynamic binarization, labels, the
# IWAE bound. IWAE training amplifies rounding much more (Adam divides each
# gradient by its running size, and the bound's softmax weights sharpen small
# differences: 2e-5 in the train figures and 1e-3 in the test KL after 32
# steps), so it is checked with --lr 1e-8, where the parameters hardly move
# and a shard computing the wrong rows or noise would show at once.
for case in "1e-6 --model cvae --binarize dynamic --mc-samples 2" "1e-6 --iwae-train 3 --lr 1e-8" \
    "1e-6 --arch conv --epochs 1"; do
    tol=${case%% *}
    extra=${case#* }
    tag=$(echo "$extra" | tr -dc 'a-z0-9')
    mkdir -p "$tmp/x1$tag" "$tmp/x3$tag"
    vae 1 "$tmp/x1$tag" $extra
    vae 3 "$tmp/x3$tag" $extra
    expect "$extra: 3 ranks give 1 rank's figures within $tol" 'close "$tmp/x3$tag" "$tmp/x1$tag" $tol'
done

mkdir -p "$tmp/cap"
vae 2 "$tmp/cap" --objective beta-capacity
rc=$?
expect "an objective that is not a sum over examples is refused on every rank (exit $rc)" \
    '[ $rc != 0 ] && [ "$(grep -c "objective beta-capacity across processes" "$tmp/cap.log")" = 1 ]'

echo "== parameters that differ"
mkdir -p "$tmp/bad"
run_mpi -x ELBO_DP_TEST_CORRUPT_RANK=1 -np 2 "$bin/vae" --mpi "${args[@]}" --out "$tmp/bad" >"$tmp/bad.log" 2>&1
rc=$?
expect "every rank stops, non-zero (got $rc)" '[ $rc != 0 ]'
expect "one line names the rank and the checksums" \
    '[ "$(grep -c "disagrees" "$tmp/bad.log")" = 1 ] && grep -q "^vae: --mpi: rank 1 disagrees on the parameters after epoch 1: checksum [0-9a-f]* where rank 0 has [0-9a-f]*" "$tmp/bad.log"'
expect "no checkpoint of that epoch" '[ ! -e "$tmp/bad/checkpoint.ckpt" ]'

echo "== a rank with another configuration, a rank that cannot read its data"
run_mpi -np 1 "$bin/vae" --mpi "${args[@]}" --out "$tmp/mm" : \
    -np 1 "$bin/vae" --mpi "${args[@]}" --latent 10 --out "$tmp/mm" >"$tmp/mm.log" 2>&1
rc=$?
expect "every rank stops, non-zero (got $rc)" '[ $rc != 0 ]'
expect "one line names the rank and the option" \
    '[ "$(grep -c "disagrees" "$tmp/mm.log")" = 1 ] && grep -q "^vae: --mpi: rank 1 disagrees on the configuration: .latent=10. where rank 0 has .latent=20." "$tmp/mm.log"'
expect "nothing written" '[ ! -e "$tmp/mm/checkpoint.ckpt" ] && [ ! -e "$tmp/mm/epochs.csv" ]'
run_mpi -np 2 "$bin/vae" --mpi "${args[@]}" --out "$tmp/nd" : \
    -np 1 "$bin/vae" --mpi "${args[@]}" --data "$tmp/no-such-data" --out "$tmp/nd" >"$tmp/nd.log" 2>&1
rc=$?
expect "a rank without its data stops every rank with exit 3 (got $rc)" '[ $rc = 3 ]'
expect "one line names rank 2 and the file" \
    '[ "$(grep -c "cannot read" "$tmp/nd.log")" = 1 ] && grep -q "^vae: --data: rank 2 cannot read its data: .*no-such-data" "$tmp/nd.log"'
expect "nothing written" '[ ! -e "$tmp/nd/checkpoint.ckpt" ]'

echo "== stop with 2 ranks, resume with 2 and with 3"
for np in 2 3; do
    out=$tmp/r$np
    mkdir -p "$out"
    vae 2 "$out" --max-steps 20
    expect "2 ranks stop after 20 steps with a checkpoint" \
        'grep -q "stopped at step 20" "$out.log" && [ -e "$out/checkpoint.ckpt" ]'
    vae $np "$out" --resume
    rc=$?
    expect "$np ranks resume it (exit $rc)" '[ $rc = 0 ] && grep -q "resumed at epoch 1, step 20" "$out.log"'
    expect "... to the end: 2 epochs, 32 steps" \
        '[ "$(wc -l <"$out/epochs.csv")" = 3 ] && grep -q "\"steps\": 32" "$out/summary.json"'
done
expect "resumed with 2 ranks: the bits of the run never stopped" 'same_bits "$tmp/r2" "$tmp/a"'
expect "resumed with 3 ranks: its figures within 1e-6" 'close "$tmp/r3" "$tmp/a" 1e-6'

echo
finish
