#!/usr/bin/env bash
# experiments/vae_variants in quick runs: the table's models train and score
# (variants.csv rows and columns, summary.json, the chart, a samples grid per
# model; the two-stochastic-layer models on Burda et al.'s networks whatever
# --hidden says, their parameter count against one computed here), IW-5000 on a few test images, a failed run recorded while the others
# go on (exit 1), the same numbers for 1 and 2 threads, and bad flags: one
# line, exit 2, nothing written.
#
#   tests/experiments/vae_variants.sh BUILD/experiments DATA_DIR
set -u
bin=${1:?usage: vae_variants.sh BUILD/experiments DATA_DIR}
data=${2:?usage: vae_variants.sh BUILD/experiments DATA_DIR}
exe=$bin/vae_variants
[ -x "$exe" ] || { echo "SKIP: $exe not built"; exit 77; }
[ -f "$data/train-images-idx3-ubyte" ] || { echo "SKIP: no Fashion-MNIST in $data"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elbo_variants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ELBO_PROGRESS=0
fails=0
ok() { printf '  ok    %s\n' "$1"; }
bad() { fails=$((fails + 1)); printf '  FAIL  %s\n' "$1"; }
small=(--data "$data" --train-size 512 --test-size 64 --epochs 1 --hidden 64 --latent 8)

# the CSV's column C of the row whose model is M and seed S
cell() { awk -F, -v m="$2" -v s="$3" -v c="$4" 'NR > 1 && $1 == m && $2 == s { print $c }' "$1"; }

# ---- the twelve models of the table, two seeds ----
out=$tmp/all
models=(vae iwae5 miwae ciwae piwae hier2 hier2-wu ladder vamp mog fullcov planar iaf)
if "$exe" "${small[@]}" --models "$(IFS=,; echo "${models[*]}")" --seeds 1,2 --iw 50 --iw-images 16 --out "$out" \
        > "$tmp/all.log" 2>&1; then
    ok "thirteen models x two seeds exit 0"
else
    bad "thirteen models x two seeds exit 0"; tail -5 "$tmp/all.log"
fi
head -1 "$out/variants.csv" | grep -qx 'model,seed,test_neg_elbo,iw_nll,k,kl,active_units,epoch_seconds,params,cluster_accuracy,status' \
    && ok "variants.csv header" || bad "variants.csv header: $(head -1 "$out/variants.csv")"
rows=$(awk 'NR > 1' "$out/variants.csv" | wc -l)
[ "$rows" = 26 ] && ok "26 rows" || bad "rows: $rows, expected 26"
for m in "${models[@]}"; do
    for s in 1 2; do
        nll=$(cell "$out/variants.csv" $m $s 4) elbo=$(cell "$out/variants.csv" $m $s 3)
        k=$(cell "$out/variants.csv" $m $s 5) st=$(cell "$out/variants.csv" $m $s 11)
        if awk -v a="$nll" -v b="$elbo" 'BEGIN { exit !(a > 0 && b > 0 && a <= b + 1) }' && [ "$k" = 50 ] && [ "$st" = ok ]; then
            ok "$m seed $s: IW-50 NLL $nll <= -ELBO $elbo (+1 nat of noise), status ok"
        else
            bad "$m seed $s: iw_nll '$nll', neg_elbo '$elbo', k '$k', status '$st'"
        fi
    done
    [ -s "$out/samples_$m.png" ] && [ -s "$out/samples_$m.npy" ] && ok "samples_$m.png" || bad "samples_$m.png missing"
done
for s in 1 2; do
    acc=$(cell "$out/variants.csv" mog $s 10) other=$(cell "$out/variants.csv" vamp $s 10)
    awk -v a="$acc" 'BEGIN { exit !(a != "" && a >= 0 && a <= 1) }' && [ -z "$other" ] &&
        ok "mog seed $s: cluster accuracy $acc in [0, 1]; empty for the VampPrior" ||
        bad "mog seed $s: cluster accuracy '$acc', vamp's '$other'"
done
[ -s "$out/iw_nll.svg" ] && grep -q '<svg' "$out/iw_nll.svg" && ok "iw_nll.svg" || bad "iw_nll.svg"
python3 - "$out/summary.json" "$out/variants.csv" <<'PY' && ok "summary.json: configuration, models and runs; \
hier2 and ladder on Burda et al.'s networks, their parameters counted from the widths" || bad "summary.json"
import csv, json, sys
s = json.load(open(sys.argv[1]))
c, r = s["config"], s["results"]
assert c["models"] == "vae,iwae5,miwae,ciwae,piwae,hier2,hier2-wu,ladder,vamp,mog,fullcov,planar,iaf" and c["seeds"] == "1,2", c
assert c["binarize"] == "dynamic", c
assert r["iw_k"] == 50 and r["iw_images"] == 16 and len(r["runs"]) == 26 and len(r["models"]) == 13, r
assert all(m["finished_runs"] == 2 for m in r["models"])
m = {m["name"]: m for m in r["models"]}
assert m["piwae"]["objective"] == "piwae"
assert m["vamp"]["prior"] == "vamp" and m["mog"]["prior"] == "mog" and m["iaf"]["posterior"] == "iaf", m
assert m["vae"]["stochastic_layers"] == 1 and m["vae"]["network"] == "dense:64" and m["vae"]["z_dim"] == 8, m["vae"]
for name, post, act, warm in (("hier2", "hier2", "tanh", 0), ("hier2-wu", "hier2", "relu", 10),
                              ("ladder", "ladder", "tanh", 0)):
    h = m[name]
    assert h["stochastic_layers"] == 2 and h["posterior"] == post and h["prior"] == "hier2", h
    assert h["network"] == "dense:200,dense:200" and h["activation"] == act and h["kl_warmup_epochs"] == warm, h
    assert h["z_dim"] == 150 and h["z2_dim"] == 50 and h["hier_hidden"] == [100, 100], h
# dense layers (in, out) as weights + biases
dense = lambda sizes: sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
enc, dec = dense([784, 200, 200, 2 * 100]), dense([100, 200, 200, 784])
pnet = dense([50, 100, 100, 2 * 100])
want = {"hier2": enc + dec + pnet + dense([100, 100, 100, 2 * 50]),   # q(z2|z1) reads z1
        "hier2-wu": enc + dec + pnet + dense([100, 100, 100, 2 * 50]),
        "ladder": enc + dec + pnet + dense([200, 100, 100, 2 * 50]),  # bottom-up from the encoder's 200
        "vae": dense([784, 64, 2 * 8]) + dense([8, 64, 784])}
for row in csv.DictReader(open(sys.argv[2])):
    if row["model"] in want:
        assert int(row["params"]) == want[row["model"]], (row["model"], row["params"], want[row["model"]])
PY

# ---- same numbers for 1 and 2 threads (epoch seconds aside) ----
for t in 1 2; do
    "$exe" "${small[@]}" --models vae,piwae,ladder --seeds 3 --iw 20 --iw-images 8 --threads $t --out "$tmp/t$t" \
        > "$tmp/t$t.log" 2>&1 || bad "--threads $t run"
done
if cmp -s <(cut -d, -f1-7,9- "$tmp/t1/variants.csv") <(cut -d, -f1-7,9- "$tmp/t2/variants.csv"); then
    ok "1 and 2 threads: the same numbers"
else
    bad "1 and 2 threads differ"; diff "$tmp/t1/variants.csv" "$tmp/t2/variants.csv"
fi

# ---- IW-5000 on a few test images ----
if "$exe" "${small[@]}" --models vae --iw 5000 --iw-images 3 --out "$tmp/k5000" > "$tmp/k5000.log" 2>&1 &&
        v=$(cell "$tmp/k5000/variants.csv" vae 1 4) && awk -v a="$v" 'BEGIN { exit !(a > 0) }'; then
    ok "--iw 5000 --iw-images 3: -log p(x) ~ $v"
else
    bad "--iw 5000"; tail -5 "$tmp/k5000.log"
fi

# ---- a failed run is recorded, the others go on ----
"$exe" "${small[@]}" --models vae,iwae5 --iw 10 --iw-images 4 --inject-failure iwae5 --out "$tmp/fail" > "$tmp/fail.log" 2>&1
rc=$?
st=$(cell "$tmp/fail/variants.csv" iwae5 1 11) vst=$(cell "$tmp/fail/variants.csv" vae 1 11)
if [ $rc = 1 ] && [[ $st == \"failed:* ]] && [ "$vst" = ok ] && [ -s "$tmp/fail/summary.json" ]; then
    ok "a failed run: exit 1, recorded ($st), the other finished"
else
    bad "failed run: rc $rc, iwae5 '$st', vae '$vst'"
fi

# ---- bad flags: one line, exit 2, nothing written ----
badflag() {
    local desc=$1
    shift
    rm -rf "$tmp/bad"
    "$exe" "${small[@]}" --out "$tmp/bad" "$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
    local rc=$? lines
    lines=$(wc -l < "$tmp/bad.err")
    if [ $rc = 2 ] && [ "$lines" = 1 ] && [ ! -e "$tmp/bad/variants.csv" ]; then
        ok "$desc: exit 2, one line: $(cat "$tmp/bad.err")"
    else
        bad "$desc: rc $rc, $lines lines: $(cat "$tmp/bad.err")"
    fi
}
badflag "unknown model" --models vae,bogus
badflag "a model of another driver (discrete latents)" --models vqvae
badflag "a model twice" --models vae,vae
badflag "bad seeds" --seeds 1,x
badflag "negative IW" --iw -1
badflag "unknown binarization" --binarize sometimes
badflag "empty models" --models ,

# ---- the objectives' flags on experiments/vae: range-checked, recorded ----
vbad() {
    local desc=$1
    shift
    rm -rf "$tmp/vbad"
    "$bin/vae" --data "$data" --out "$tmp/vbad" "$@" > /dev/null 2> "$tmp/vbad.err"
    local rc=$? lines
    lines=$(wc -l < "$tmp/vbad.err")
    if [ $rc = 2 ] && [ "$lines" = 1 ] && [ ! -e "$tmp/vbad/summary.json" ]; then
        ok "vae $desc: exit 2, one line: $(cat "$tmp/vbad.err")"
    else
        bad "vae $desc: rc $rc, $lines lines: $(cat "$tmp/vbad.err")"
    fi
}
if [ -x "$bin/vae" ]; then
    vbad "--iwae-m 0" --objective miwae --iwae-m 0
    vbad "--iwae-m 20000" --objective piwae --iwae-m 20000
    vbad "--ciwae-beta 1.5" --objective ciwae --ciwae-beta 1.5
    vbad "--ciwae-beta nan" --objective ciwae --ciwae-beta nan
    if "$bin/vae" --data "$data" --quick --epochs 1 --objective piwae --iwae-m 2 --iwae-train 3 --iw 10 \
            --out "$tmp/vpiwae" > /dev/null 2> "$tmp/vpiwae.log" &&
        python3 - "$tmp/vpiwae/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
c, r = s["config"], s["results"]
assert c["objective"] == "piwae" and c["iwae_m"] == 2 and c["iwae_train"] == 3, c
assert r["model"]["objective"] == "piwae" and r["test_iw_nll"] > 0, r
PY
    then
        ok "vae --objective piwae --iwae-m 2 --iwae-train 3: trains, recorded in summary.json"
    else
        bad "vae --objective piwae"; tail -5 "$tmp/vpiwae.log"
    fi
fi

[ $fails = 0 ] && { echo "vae_variants: all passed"; exit 0; }
echo "vae_variants: $fails failed"
exit 1
