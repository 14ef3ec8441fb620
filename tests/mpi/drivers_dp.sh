#!/usr/bin/env bash
# Data-parallel training in the drivers other than `vae` (vae_dp.sh), under
# `mpirun --oversubscribe`. vae_variants --mpi:
#   - with 2 ranks: every run trained across the ranks, one run whose
#     objective cannot be split (MIWAE) recorded as failed with the reason and
#     the others scored, exit 1, rank 0 alone writing;
#   - a second 2-rank run gives the same bits (every figure of variants.csv
#     but the seconds);
#   - 3 ranks give 1 rank's figures within float tolerance;
#   - a rank with another configuration stops every rank with one line,
#     nothing written.
# The figure drivers (experiments/vae_setup.h: aggregated_posterior,
# disentangle, posterior_collapse, resynthesis, vae_figures) --mpi, 2 ranks:
#   - the files of the run without MPI, each line on stdout once, and no
#     scratch directory of the quiet rank left behind;
#   - a second run writes the same figures (the CSV files, byte for byte).
# disentangle_dsprites --mpi (each rank's rows a batch of their own, as DDP):
#   - 1 rank gives the bits of the run without MPI, 2 ranks repeat their
#     bits; FactorVAE is refused with one line on every rank.
# vqvae --mpi (both stages data-parallel, the codebook's statistics summed):
#   - 1 rank gives the bits of the run without MPI, 2 ranks repeat their
#     bits, 3 ranks give 1 rank's figures within float tolerance; rank 0
#     alone writes.
#
#   tests/mpi/drivers_dp.sh BUILD/experiments DATA_DIR mpi|nompi
#
# Without MPI: `--mpi` exits 2 with one line on how to build with it, then
# the rest is skipped (exit 77). Without Fashion-MNIST: skipped.
set -u
bin=${1:?usage: drivers_dp.sh BUILD/experiments DATA_DIR mpi|nompi}
data=${2:?usage: drivers_dp.sh BUILD/experiments DATA_DIR mpi|nompi}
mode=${3:-mpi}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elbo_drivers_dp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ELBO_PROGRESS=0

. "$(dirname "$0")/harness.sh"

if [ "$mode" != mpi ]; then
    for d in vae_variants disentangle vqvae disentangle_dsprites; do
        "$bin/$d" --mpi --quick --data "$data" --out "$tmp/$d" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        expect "$d --mpi without MPI exits 2 (got $rc)" '[ $rc = 2 ]'
        expect "... with one line saying how to build with MPI" \
            '[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "scripts/install-deps.sh mpi" "$tmp/err"'
        expect "... and writes nothing" '[ -z "$(ls -A "$tmp/$d" 2>/dev/null)" ]'
    done
    finish
    echo "SKIP: the data-parallel tests (this build has no MPI: scripts/install-deps.sh mpi; meson setup -Dmpi=enabled)"
    exit 77
fi
if [ ! -e "$data/train-images-idx3-ubyte" ] && [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
    echo "SKIP: no Fashion-MNIST in $data (scripts/fetch-data.sh)"
    exit 77
fi

mpi_as_root
# 2048 training and 512 test images, 2 epochs of 16 steps; the test ELBO in
# chunks of 100 rows, IW-5 on 200 images (chunks split over the ranks).
args=(--models vae,vamp,miwae --quick --epochs 2 --data "$data" --eval-batch 100 --iw 5 --iw-images 200 --threads 1)
variants() { # variants NP OUT [ARGS...]
    local np=$1 out=$2
    shift 2
    run_mpi -np "$np" "$bin/vae_variants" --mpi "${args[@]}" --out "$out" "$@" >"$out.log" 2>&1
}
# The figures of the rows that finished, without the seconds (column 8).
figures() { grep ',ok$' "$1/variants.csv" | cut -d, -f1-7,9-; }

echo "== 2 ranks, twice"
variants 2 "$tmp/a"
rc=$?
expect "mpirun -np 2 vae_variants --mpi exits 1: one run failed (got $rc)" '[ $rc = 1 ]'
expect "vae and vamp trained and scored" '[ "$(figures "$tmp/a" | wc -l)" = 2 ]'
expect "miwae recorded as failed, with the reason" \
    'grep -q "^miwae,1,.*failed: rank 0 cannot train: .*objective miwae across processes" "$tmp/a/variants.csv"'
expect "rank 0 alone wrote: one closing line" '[ "$(grep -c "wrote .*summary.json" "$tmp/a.log")" = 1 ]'
expect "summary.json records 2 ranks" 'grep -q "\"mpi_ranks\": 2" "$tmp/a/summary.json"'
variants 2 "$tmp/b"
expect "a second run has the same bits" '[ "$(figures "$tmp/a")" = "$(figures "$tmp/b")" ]'

echo "== 1 rank and 3 ranks"
variants 1 "$tmp/n1"
variants 3 "$tmp/n3"
rc=$?
expect "mpirun -np 3 exits 1 as -np 2 did (got $rc)" '[ $rc = 1 ] && [ "$(figures "$tmp/n3" | wc -l)" = 2 ]'
expect "3 ranks give 1 rank's figures within 1e-5 (relative)" 'close "$tmp/n3" "$tmp/n1" 1e-5'

echo "== a rank with another configuration"
run_mpi -np 1 "$bin/vae_variants" --mpi "${args[@]}" --out "$tmp/mm" : \
    -np 1 "$bin/vae_variants" --mpi "${args[@]}" --epochs 3 --out "$tmp/mm" >"$tmp/mm.log" 2>&1
rc=$?
expect "every rank stops, non-zero (got $rc)" '[ $rc != 0 ]'
expect "one line names the rank and the option" \
    '[ "$(grep -c "disagrees" "$tmp/mm.log")" = 1 ] && grep -q "^vae_variants: --mpi: rank 1 disagrees on the configuration: .epochs=3. where rank 0 has .epochs=2." "$tmp/mm.log"'
expect "nothing written" '[ ! -e "$tmp/mm/variants.csv" ]'

echo "== the figure drivers"
for d in aggregated_posterior disentangle posterior_collapse resynthesis vae_figures; do
    fig=(--quick --data "$data" --threads 1)
    "$bin/$d" "${fig[@]}" --out "$tmp/$d.plain" >"$tmp/$d.plain.log" 2>&1
    mkdir -p "$tmp/$d.scratch"
    for run in a b; do
        TMPDIR="$tmp/$d.scratch" run_mpi -x TMPDIR -np 2 "$bin/$d" --mpi "${fig[@]}" --out "$tmp/$d.$run" \
            >"$tmp/$d.$run.log" 2>&1
    done
    rc=$?
    expect "$d: 2 ranks exit 0 (got $rc), the files of the run without MPI, summary.json says 2 ranks" \
        '[ $rc = 0 ] && [ "$(ls "$tmp/$d.a")" = "$(ls "$tmp/$d.plain")" ] && grep -q "\"mpi_ranks\": 2" "$tmp/$d.a/summary.json"'
    expect "... every line once (rank 0 alone prints), no scratch left" \
        '[ "$(grep -c "^wrote\|^.*: wrote" "$tmp/$d.a.log")" -le 1 ] && [ "$(grep -v "^wrote" "$tmp/$d.a.log" | sort | uniq -d | grep -c .)" = 0 ] && [ -z "$(ls -A "$tmp/$d.scratch")" ]'
    same=1
    for f in "$tmp/$d.a"/*.csv; do
        cmp -s "$f" "$tmp/$d.b/$(basename "$f")" || same=0
    done
    expect "... a second run writes the same figures ($(ls "$tmp/$d.a" | grep -c '\.csv$') CSV files)" '[ $same = 1 ]'
done

run_mpi -np 2 "$bin/disentangle" --mpi --quick --data "$data" --threads 1 --objective tcvae --out "$tmp/tc" \
    >"$tmp/tc.log" 2>&1
rc=$?
expect "disentangle --objective tcvae --mpi (not a sum over examples): every rank stops, one line (exit $rc)" \
    '[ $rc != 0 ] && [ "$(grep -c "objective tcvae across processes" "$tmp/tc.log")" = 1 ] && [ ! -e "$tmp/tc/summary.json" ]'

echo "== disentangle_dsprites"
dsp=(--quick --objectives beta,tcvae --threads 1)
# Every column of metrics.csv but the seconds and images per second (19-21).
ds_figures() { cut -d, -f1-18,22- "$1/metrics.csv"; }
"$bin/disentangle_dsprites" "${dsp[@]}" --out "$tmp/ds.plain" >"$tmp/ds.plain.log" 2>&1
for run in 1 2a 2b; do
    run_mpi -np "${run:0:1}" "$bin/disentangle_dsprites" --mpi "${dsp[@]}" --out "$tmp/ds.$run" >"$tmp/ds.$run.log" 2>&1
done
rc=$?
expect "disentangle_dsprites: 2 ranks exit 0 (got $rc), the files of the run without MPI, one closing line" \
    '[ $rc = 0 ] && [ "$(ls "$tmp/ds.2b")" = "$(ls "$tmp/ds.plain")" ] && [ "$(grep -c "^wrote" "$tmp/ds.2b.log")" = 1 ]'
expect "... 1 rank trains and scores the bits of the run without MPI" \
    '[ "$(ds_figures "$tmp/ds.1")" = "$(ds_figures "$tmp/ds.plain")" ]'
expect "... 2 ranks twice: the same bits" '[ "$(ds_figures "$tmp/ds.2a")" = "$(ds_figures "$tmp/ds.2b")" ]'
run_mpi -np 2 "$bin/disentangle_dsprites" --mpi --quick --objectives factorvae --out "$tmp/fv" >"$tmp/fv.log" 2>&1
rc=$?
expect "factorvae --mpi: every rank stops, exit 2 (got $rc), one line, nothing written" \
    '[ $rc = 2 ] && [ "$(grep -c "factorvae trains its discriminator" "$tmp/fv.log")" = 1 ] && [ ! -e "$tmp/fv/metrics.csv" ]'

echo "== vqvae"
vq=(--quick --data "$data" --threads 1)
# Every figure of the epochs' tables but the seconds, and the code counts.
vq_figures() { cut -d, -f1-6 "$1/epochs.csv"; cut -d, -f1-3 "$1/prior_epochs.csv"; cat "$1/code_usage.csv"; }
"$bin/vqvae" "${vq[@]}" --out "$tmp/vq.plain" >"$tmp/vq.plain.log" 2>&1
for run in 1 2a 2b 3; do
    run_mpi -np "${run:0:1}" "$bin/vqvae" --mpi "${vq[@]}" --out "$tmp/vq.$run" >"$tmp/vq.$run.log" 2>&1
done
rc=$?
expect "vqvae: 3 ranks exit 0 (got $rc), the files of the run without MPI, one closing line" \
    '[ $rc = 0 ] && [ "$(ls "$tmp/vq.3")" = "$(ls "$tmp/vq.plain")" ] && [ "$(grep -c "^wrote" "$tmp/vq.3.log")" = 1 ]'
expect "... 1 rank trains the bits of the run without MPI" '[ "$(vq_figures "$tmp/vq.1")" = "$(vq_figures "$tmp/vq.plain")" ]'
expect "... 2 ranks twice: the same bits" '[ "$(vq_figures "$tmp/vq.2a")" = "$(vq_figures "$tmp/vq.2b")" ]'
figures() { vq_figures "$1" | grep -v '[a-z]'; }
expect "... 3 ranks give 1 rank's figures within 1e-5 (relative)" 'close "$tmp/vq.3" "$tmp/vq.1" 1e-5'

echo
finish
