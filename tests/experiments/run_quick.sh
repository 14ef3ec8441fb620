#!/usr/bin/env bash
# Runs every experiment driver in --quick mode into a temporary folder and
# checks its summary.json against the chapter's claims (bounds below the
# likelihood, IS variance below MC variance, reparameterization variance below
# REINFORCE variance, EM monotone, Jensen gaps positive, slerp norms near the
# typical radius, ...), plus: every driver exits 2 on a bad flag, writes its
# files, and gives the same numbers for 1 and 2 threads.
#
#   tests/experiments/run_quick.sh BUILD/experiments [DATA_DIR]
#
# A driver that is not built is reported as SKIP (the VAE drivers need
# models/vae); a driver that needs Fashion-MNIST is skipped without the data.
set -u
bin=${1:?usage: run_quick.sh BUILD/experiments [DATA_DIR]}
data=${2:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elbo_quick.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ELBO_PROGRESS=0

fails=0
pass=0
skips=0
ok() { pass=$((pass + 1)); printf '  ok    %s\n' "$1"; }
bad() { fails=$((fails + 1)); printf '  FAIL  %s\n' "$1"; }

# val FILE KEY: the number after "KEY": in a summary.json (keys used here are unique).
val() { awk -v k="\"$2\":" '$1 == k { v = $2; sub(/,$/, "", v); print v; exit }' "$1"; }

# check DESC A OP B: numeric comparison with awk (OP is <, <=, >, >=, =).
check() {
    local desc=$1 a=$2 op=$3 b=$4
    if [ -z "$a" ] || [ -z "$b" ] || [ "$a" = null ] || [ "$b" = null ]; then
        bad "$desc (missing value: '$a' $op '$b')"
        return
    fi
    if awk -v a="$a" -v b="$b" -v op="$op" 'BEGIN {
            r = (op == "<") ? a < b : (op == "<=") ? a <= b : (op == ">") ? a > b : (op == "=") ? a == b : a >= b
            exit !r }'; then
        ok "$desc ($a $op $b)"
    else
        bad "$desc ($a $op $b)"
    fi
}

# run NAME ARGS...: the driver in --quick mode into $tmp/NAME; 0 if it ran.
run() {
    local name=$1
    shift
    if [ ! -x "$bin/$name" ]; then
        skips=$((skips + 1))
        printf '  SKIP  %s (not built)\n' "$name"
        return 1
    fi
    local t0=$SECONDS
    if ! "$bin/$name" --quick --out "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1; then
        bad "$name --quick exits 0"
        sed 's/^/        /' "$tmp/$name.log" | tail -20
        return 1
    fi
    ok "$name --quick exits 0 ($((SECONDS - t0))s)"
    # Bad flags are usage errors: exit code 2.
    "$bin/$name" --no-such-flag >/dev/null 2>&1
    local rc=$?
    [ $rc = 2 ] && ok "$name: unknown flag exits 2" || bad "$name: unknown flag exits 2 (got $rc)"
    "$bin/$name" --seed not-a-number --out "$tmp/bad" >/dev/null 2>&1
    rc=$?
    [ $rc = 2 ] && ok "$name: bad value exits 2" || bad "$name: bad value exits 2 (got $rc)"
    [ -s "$tmp/$name/summary.json" ] && ok "$name: summary.json written" || bad "$name: summary.json written"
    ls "$tmp/$name"/*.svg >/dev/null 2>&1 && ok "$name: SVG written" || bad "$name: SVG written"
    ls "$tmp/$name"/*.csv >/dev/null 2>&1 && ok "$name: CSV written" || bad "$name: CSV written"
    return 0
}

s() { echo "$tmp/$1/summary.json"; }

is_true() { [ "$2" = true ] && ok "$1" || bad "$1 (got '$2')"; }

# same_results NAME ARGS...: the "results" of a 1-thread and a 2-thread run agree bit for bit.
same_results() {
    local name=$1
    shift
    [ -x "$bin/$name" ] || return 0
    "$bin/$name" --quick --threads 1 --out "$tmp/t1_$name" "$@" >/dev/null 2>&1 &&
        "$bin/$name" --quick --threads 2 --out "$tmp/t2_$name" "$@" >/dev/null 2>&1 &&
        cmp -s <(sed -n '/"results"/,$p' "$tmp/t1_$name/summary.json") \
            <(sed -n '/"results"/,$p' "$tmp/t2_$name/summary.json") &&
        ok "$name: same results for 1 and 2 threads" || bad "$name: same results for 1 and 2 threads"
}

echo "== jensen (figs 17.4-17.5)"
if run jensen; then
    f=$(s jensen)
    check "discrete: log E[y] - E[log y] > 0" "$(val "$f" discrete_gap)" ">" 0
    check "continuous: Jensen gap > 0" "$(val "$f" continuous_gap)" ">" 0
    check "continuous: quadrature agrees with the closed form" \
        "$(awk -v a="$(val "$f" continuous_gap)" -v b="$(val "$f" continuous_gap_quadrature)" 'BEGIN{d=a-b; print (d<0?-d:d)}')" "<" 1e-4
    check "convex case (problem 17.3): E[y^2] - E[y]^2 > 0" "$(val "$f" continuous_convex_gap)" ">" 0
fi

echo "== reparam_vs_reinforce (notebook 17.2, problem 17.5)"
if run reparam_vs_reinforce; then
    f=$(s reparam_vs_reinforce)
    check "REINFORCE variance / reparameterization variance > 1" "$(val "$f" var_ratio_reinforce_over_reparam)" ">" 1
    check "ratio > 1 at every sample count of the table" "$(val "$f" table_min_var_ratio)" ">" 1
    check "curves: estimates within 5 SE of the closed forms" "$(val "$f" curve_max_abs_z)" "<" 5
    check "per-sample variance: reparam below REINFORCE" "$(val "$f" per_sample_var_reparam)" "<" "$(val "$f" per_sample_var_reinforce)"
    same_results reparam_vs_reinforce --n-reinforce 2e5 --counts 1,10
fi

echo "== importance_sampling (notebook 17.3, section 17.8.1)"
if run importance_sampling; then
    f=$(s importance_sampling)
    check "f2: plain-MC variance / IS variance > 10 at every count" "$(val "$f" var_ratio_mc_over_is_min)" ">" 10
    check "tables unbiased (within 5 SE)" "$(val "$f" table_max_abs_z)" "<" 5
    lp=$(val "$f" nlvm_log_px_exact)
    check "17.8.1: ELBO (variational q) <= log Pr(x*)" "$(val "$f" nlvm_elbo)" "<=" "$lp"
    check "17.8.1: ELBO (moment q) <= IWAE-K (largest K)" "$(val "$f" nlvm_elbo_moment_q)" "<" "$(val "$f" nlvm_iwae_max_k_moment_q)"
    check "17.8.1: IWAE-K (largest K) <= log Pr(x*) (+0.02 MC slack)" "$(val "$f" nlvm_iwae_max_k_moment_q)" "<=" "$(awk -v a="$lp" 'BEGIN{print a+0.02}')"
    check "17.8.1: IS variance / prior-sampling variance < 0.1" \
        "$(awk -v a="$(val "$f" nlvm_var_is)" -v b="$(val "$f" nlvm_var_prior)" 'BEGIN{print a/b}')" "<" 0.1
    check "17.8.1 multimodal: one-mode q's IS misses mass (rel. error > 10%)" "$(val "$f" nlvm_multi_is_mean_rel_error)" ">" 0.1
fi

echo "== elbo_curves (figs 17.6, 17.10)"
if run elbo_curves; then
    f=$(s elbo_curves)
    check "every ELBO curve lies below the log-likelihood" "$(val "$f" curves_max_elbo_minus_loglik)" "<=" 1e-12
    check "curves touch where theta is the posterior" "$(val "$f" curves_touch_error)" "<" 1e-9
    check "joint path stays below the log-likelihood" "$(val "$f" joint_max_elbo_minus_loglik)" "<=" 1e-12
    check "joint update raises the ELBO" "$(val "$f" joint_elbo_final)" ">" "$(val "$f" joint_elbo_initial)"
    is_true "EM path (exact E-step, closed-form M-step): log-likelihood monotone" "$(val "$f" em_monotone)"
fi

echo "== mog_1d (fig 17.1, problem 17.1)"
if run mog_1d; then
    f=$(s mog_1d)
    check "problem 17.1: 5 components have 14 free parameters" "$(val "$f" problem_17_1_free_parameters)" "=" 14
    check "Pr(x) integrates to 1 over the window" "$(val "$f" density_mass)" ">" 0.999
fi

echo "== em_bound (fig 17.15, problem 17.7)"
if run em_bound; then
    f=$(s em_bound)
    is_true "EM: log-likelihood never decreases" "$(val "$f" em_loglik_monotone)"
    is_true "EM: bound <= loglik before each E-step, raised by each M-step" "$(val "$f" em_bound_ordering)"
    check "EM: the bound touches the log-likelihood after each E-step" "$(val "$f" em_touch_error)" "<" 1e-9
    check "EM: bound never above the log-likelihood before an E-step" "$(val "$f" em_min_gap_before_e)" ">=" -1e-12
    check "fig 17.15 curves never above the log-likelihood" "$(val "$f" picture_max_elbo_minus_loglik)" "<=" 1e-12
    check "fig 17.15 curves touch after each E-step" "$(val "$f" picture_touch_error)" "<" 1e-9
fi

echo "== nlvm (figs 17.2-17.3, 17.7-17.8, notebook 17.1)"
if run nlvm; then
    f=$(s nlvm)
    check "Pr(x) heat map holds ~all the mass" "$(val "$f" px_grid_mass)" ">" 0.98
    check "x* = (0.9,-0.9): posterior is multimodal" "$(val "$f" multimodal_modes)" ">=" 2
    check "unimodal x*: one mode" "$(val "$f" unimodal_modes)" "=" 1
    check "multimodal: min-KL(q||p) Gaussian beats the moment match in KL(q||p)" "$(val "$f" multimodal_q_kl)" "<" "$(val "$f" multimodal_moment_kl)"
    check "unimodal: the closest Gaussian is close (KL < 0.05)" "$(val "$f" unimodal_q_kl)" "<" 0.05
fi

echo "== disentangle_dsprites (section 17.8.4 on dSprites, streamed from the generator)"
if run disentangle_dsprites; then
    d=$tmp/disentangle_dsprites
    head -1 "$d/metrics.csv" | grep -q '^objective,beta,seed,mig,mig_dl,betavae,factorvae,sap,dci_d,dci_c,dci_i,test_neg_elbo,kl,tc' &&
        ok "metrics.csv: the issue's columns first" || bad "metrics.csv: the issue's columns first"
    check "metrics.csv: one row per model (2 betas x 1 seed in --quick)" "$(($(wc -l <"$d/metrics.csv") - 1))" "=" 2
    # every score in [0, 1], test -ELBO positive and below the 4096 log 2 of a coin per pixel, KL and TC >= 0
    awk -F, 'NR > 1 { for (c = 4; c <= 11; c++) if (!($c >= 0 && $c <= 1)) exit 1
                      if (!($12 > 0 && $12 < 2839.3) || !($13 >= 0) || !($14 > -0.05)) exit 1 } END { exit NR < 3 }' \
        "$d/metrics.csv" && ok "scores in [0,1], test -ELBO, KL and TC in range" ||
        bad "scores in [0,1], test -ELBO, KL and TC in range: $(sed -n 2p "$d/metrics.csv")"
    n=$(ls "$d"/traversal_*.png 2>/dev/null | wc -l)
    check "a traversal grid per model" "$n" "=" 2
    [ -s "$d/mi_heatmap.svg" ] && [ -s "$d/mig_vs_beta.svg" ] && [ -s "$d/config.json" ] &&
        ok "mi_heatmap.svg, mig_vs_beta.svg, config.json written" || bad "mi_heatmap.svg, mig_vs_beta.svg, config.json written"
    for bad_args in "--objectives nope" "--objectives tcvae,beta,tcvae" "--betas 1,-2" "--betas nan" "--betas inf" \
        "--seeds 1,1" "--seeds 1.5" "--betas 1,,x" "--metrics mig,entropy" "--score-points 10" "--tc-alpha -1" \
        "--tc-gamma nan" "--tc-estimator mxs" "--factor-lr 0" "--dip-lambda-d -3" "--mmd-kernel gauss" \
        "--hidden 0" "--hidden 12,x"; do
        # shellcheck disable=SC2086
        "$bin/disentangle_dsprites" $bad_args --out "$tmp/dd_bad" >/dev/null 2>"$tmp/dd_bad.err"
        rc=$?
        if [ $rc = 2 ] && [ "$(wc -l <"$tmp/dd_bad.err")" = 1 ] && [ ! -e "$tmp/dd_bad" ]; then
            ok "disentangle_dsprites $bad_args: one line, exit 2, nothing written"
        else
            bad "disentangle_dsprites $bad_args: one line, exit 2, nothing written (exit $rc: $(head -2 "$tmp/dd_bad.err"))"
        fi
    done
    if "$bin/disentangle_dsprites" --quick --arch conv --betas 1 --out "$tmp/dd_conv" >"$tmp/dd_conv.log" 2>&1 &&
        [ "$(wc -l <"$tmp/dd_conv/metrics.csv")" = 2 ] && grep -q '"encoder": "conv:' "$tmp/dd_conv/config.json"; then
        ok "disentangle_dsprites --arch conv: trains and scores the conv network"
    else
        bad "disentangle_dsprites --arch conv: trains and scores the conv network ($(tail -1 "$tmp/dd_conv.log"))"
    fi
    # every objective of the registry in one grid: one row each, named, its weights recorded
    if "$bin/disentangle_dsprites" --quick --objectives beta,tcvae,factorvae,dip1,dip2,mmd --betas 4 \
        --factor-hidden 64 --hidden 64,64 --out "$tmp/dd_obj" >"$tmp/dd_obj.log" 2>&1; then
        d=$tmp/dd_obj
        check "metrics.csv: one row per objective" "$(($(wc -l <"$d/metrics.csv") - 1))" "=" 6
        [ "$(cut -d, -f1 "$d/metrics.csv" | tail -n +2 | tr '\n' ' ')" = "beta tcvae factorvae dip1 dip2 mmd " ] &&
            ok "metrics.csv: the objectives in order" || bad "metrics.csv: the objectives in order"
        grep -q ',alpha=1;beta=4;gamma=1;estimator=mss$' "$d/metrics.csv" &&
            grep -q ',gamma=4;disc_hidden=64;disc_layers=2;disc_lr=0.0001$' "$d/metrics.csv" &&
            grep -q ',lambda_od=4;lambda_d=40$' "$d/metrics.csv" && grep -q ',lambda=4;kernel=imq$' "$d/metrics.csv" &&
            ok "metrics.csv: each row's weights (tcvae MSS, factorvae, dip1 10 lambda_od, mmd)" ||
            bad "metrics.csv: each row's weights (tcvae MSS, factorvae, dip1 10 lambda_od, mmd)"
        awk -F, 'NR > 1 { for (c = 4; c <= 11; c++) if (!($c >= 0 && $c <= 1)) exit 1
                          if (!($12 > 0 && $12 < 2839.3)) exit 1 }' "$d/metrics.csv" &&
            ok "every objective: scores in [0,1], test -ELBO in range" ||
            bad "every objective: scores in [0,1], test -ELBO in range"
        grep -q '"weights": "alpha=1;beta=4;gamma=1;estimator=mss"' "$d/summary.json" &&
            ok "summary.json: the weights per run" || bad "summary.json: the weights per run"
    else
        bad "disentangle_dsprites: every objective trains ($(tail -1 "$tmp/dd_obj.log"))"
    fi
    if "$bin/disentangle_dsprites" --quick --objectives tcvae --tc-estimator mws --betas 6 --out "$tmp/dd_mws" \
        >/dev/null 2>&1 && grep -q ',alpha=1;beta=6;gamma=1;estimator=mws$' "$tmp/dd_mws/metrics.csv"; then
        ok "disentangle_dsprites --tc-estimator mws: recorded"
    else
        bad "disentangle_dsprites --tc-estimator mws: recorded"
    fi
    # the penalties and the discriminator: the same bits for 1 and 2 threads
    if "$bin/disentangle_dsprites" --quick --objectives tcvae,factorvae --betas 6 --factor-hidden 64 --threads 1 \
        --out "$tmp/dd_o1" >/dev/null 2>&1 &&
        "$bin/disentangle_dsprites" --quick --objectives tcvae,factorvae --betas 6 --factor-hidden 64 --threads 2 \
            --out "$tmp/dd_o2" >/dev/null 2>&1 &&
        cmp -s <(cut -d, -f1-16 "$tmp/dd_o1/metrics.csv") <(cut -d, -f1-16 "$tmp/dd_o2/metrics.csv"); then
        ok "disentangle_dsprites tcvae, factorvae: same metrics for 1 and 2 threads"
    else
        bad "disentangle_dsprites tcvae, factorvae: same metrics for 1 and 2 threads"
    fi
    # (with the classifier scores on fresh generator images through the encoder)
    if "$bin/disentangle_dsprites" --quick --betas 4 --score-source dsprites --threads 1 --out "$tmp/dd_t1" >/dev/null 2>&1 &&
        "$bin/disentangle_dsprites" --quick --betas 4 --score-source dsprites --threads 2 --out "$tmp/dd_t2" >/dev/null 2>&1 &&
        cmp -s <(cut -d, -f1-16 "$tmp/dd_t1/metrics.csv") <(cut -d, -f1-16 "$tmp/dd_t2/metrics.csv"); then
        ok "disentangle_dsprites: same metrics for 1 and 2 threads"
    else
        bad "disentangle_dsprites: same metrics for 1 and 2 threads"
    fi
fi

echo "== VAE drivers (need Fashion-MNIST in $data)"
if [ -n "$data" ] && [ -s "$data/train-images-idx3-ubyte" ]; then
    if run vae_figures --data "$data"; then
        f=$(s vae_figures)
        check "reconstructions beat the mean image" "$(val "$f" recon_mse)" "<" "$(val "$f" mean_image_mse)"
        check "posterior narrower than the prior" "$(val "$f" mean_posterior_sd)" "<" 1
    fi
    if run resynthesis --data "$data"; then
        f=$(s resynthesis)
        check "problem 17.6: slerp norms stay near sqrt(d) (min >= 0.9)" "$(val "$f" slerp_norm_min_over_radius)" ">=" 0.9
        check "problem 17.6: slerp norms stay near sqrt(d) (max <= 1.1)" "$(val "$f" slerp_norm_max_over_radius)" "<=" 1.1
        check "problem 17.6: lerp dips towards sqrt(d/2) (< 0.8 sqrt(d))" "$(val "$f" lerp_norm_min_over_radius)" "<" 0.8
    fi
    if run aggregated_posterior --data "$data"; then
        f=$(s aggregated_posterior)
        check "17.8.2: aggregated-posterior samples are closer to the data than prior samples" \
            "$(val "$f" nn_dist_aggregate)" "<" "$(val "$f" nn_dist_prior)"
    fi
    if run disentangle --data "$data"; then
        f=$(s disentangle)
        check "beta-VAE: KL falls as beta grows" "$(val "$f" kl_last_beta)" "<" "$(val "$f" kl_first_beta)"
        check "beta-VAE: active units do not grow with beta" "$(val "$f" active_last_beta)" "<=" "$(val "$f" active_first_beta)"
    fi
    # the disentangling objectives (docs/OBJECTIVES.md): each trains two models and writes its figures
    for o in tcvae dip1 dip2 mmd factorvae; do
        if "$bin/disentangle" --quick --data "$data" --objective "$o" --betas 1,4 --factor-hidden 64 \
            --out "$tmp/disentangle_$o" >"$tmp/disentangle_$o.log" 2>&1 &&
            [ -s "$tmp/disentangle_$o/summary.json" ] && [ -s "$tmp/disentangle_$o/traversal_beta4.png" ]; then
            ok "disentangle --objective $o --quick exits 0 and writes its files"
        else
            bad "disentangle --objective $o --quick exits 0 and writes its files"
            tail -5 "$tmp/disentangle_$o.log" | sed 's/^/        /'
        fi
    done
    "$bin/disentangle" --objective tcvae --tc-gamma -1 --out "$tmp/bad" >/dev/null 2>&1
    rc=$?
    [ $rc = 2 ] && ok "disentangle: a negative objective weight exits 2" || bad "disentangle: a negative objective weight exits 2 (got $rc)"
    if run posterior_collapse --data "$data"; then
        f=$(s posterior_collapse)
        check "free bits keep at least as many units active as plain training" "$(val "$f" active_free_bits)" ">=" "$(val "$f" active_plain)"
        check "free bits raise the KL term" "$(val "$f" kl_free_bits)" ">=" "$(val "$f" kl_plain)"
    fi
    # VQ-VAE with its EMA codebook and the MADE prior over the code grid
    if run vqvae --data "$data"; then
        f=$(s vqvae)
        check "vqvae: test reconstruction BCE below the 545 nats of an untrained model" "$(val "$f" test_bce_per_image)" "<" 545
        check "vqvae: codebook perplexity at least 1" "$(val "$f" test_perplexity)" ">=" 1
        check "vqvae: the prior beats uniform codes" "$(val "$f" prior_test_nll_nats)" "<" "$(val "$f" prior_uniform_nll_nats)"
        [ -s "$tmp/vqvae/samples.png" ] && [ -s "$tmp/vqvae/reconstructions.png" ] && [ -s "$tmp/vqvae/code_usage.csv" ] &&
            ok "vqvae: samples, reconstructions and code usage written" ||
            bad "vqvae: samples, reconstructions and code usage written"
        # same bits for 1 and 2 threads: every result but the timings, and the samples
        "$bin/vqvae" --quick --threads 1 --data "$data" --out "$tmp/t1_vqvae" >/dev/null 2>&1 &&
            "$bin/vqvae" --quick --threads 2 --data "$data" --out "$tmp/t2_vqvae" >/dev/null 2>&1 &&
            cmp -s <(sed -n '/"results"/,$p' "$tmp/t1_vqvae/summary.json" | grep -v seconds) \
                <(sed -n '/"results"/,$p' "$tmp/t2_vqvae/summary.json" | grep -v seconds) &&
            cmp -s "$tmp/t1_vqvae/samples.npy" "$tmp/t2_vqvae/samples.npy" &&
            ok "vqvae: same results and samples for 1 and 2 threads" ||
            bad "vqvae: same results and samples for 1 and 2 threads"
    fi
    [ -x "$bin/vqvae" ] && for a in "--codes 1" "--codes 5000" "--dim 0" "--decay 1"; do
        # shellcheck disable=SC2086
        "$bin/vqvae" --data "$data" $a --out "$tmp/vqvae_bad" >/dev/null 2>"$tmp/vqvae_bad.err"
        rc=$?
        [ $rc = 2 ] && [ "$(wc -l <"$tmp/vqvae_bad.err")" = 1 ] && ok "vqvae $a: exit 2, one line" ||
            bad "vqvae $a: exit 2, one line (got $rc: $(head -c 200 "$tmp/vqvae_bad.err"))"
    done
    # The composable model layer: a convolutional VAE on the capacity objective; names and
    # specs the registry and the planner refuse are usage errors (exit 2, one line).
    if [ -x "$bin/vae" ]; then
        if "$bin/vae" --quick --data "$data" --epochs 1 --arch conv --objective beta-capacity --gamma 100 \
            --capacity 5 --capacity-epochs 1 --out "$tmp/vae_conv" >"$tmp/vae_conv.log" 2>&1; then
            ok "vae --arch conv --objective beta-capacity --quick exits 0"
            grep -q '"objective": "beta-capacity"' "$tmp/vae_conv/summary.json" && grep -q '"arch": "conv"' \
                "$tmp/vae_conv/summary.json" && ok "vae conv: summary.json records the parts" ||
                bad "vae conv: summary.json records the parts"
            check "vae conv: a finite test -ELBO below 550 nats" "$(val "$tmp/vae_conv/summary.json" test_neg_elbo)" "<" 550
        else
            bad "vae --arch conv --objective beta-capacity --quick exits 0"
            tail -20 "$tmp/vae_conv.log"
        fi
        # Two stochastic layers with the ladder's inference: trains, samples, records the hierarchy.
        if "$bin/vae" --quick --data "$data" --epochs 1 --stochastic-layers 2 --ladder --iw 5 \
            --out "$tmp/vae_ladder" >"$tmp/vae_ladder.log" 2>&1; then
            ok "vae --stochastic-layers 2 --ladder --quick exits 0"
            grep -q '"posterior": "ladder"' "$tmp/vae_ladder/summary.json" && grep -q '"stochastic_layers": 2' \
                "$tmp/vae_ladder/summary.json" && [ -s "$tmp/vae_ladder/samples.png" ] &&
                ok "vae ladder: summary.json records the hierarchy, samples.png written" ||
                bad "vae ladder: summary.json records the hierarchy, samples.png written"
            check "vae ladder: a finite IW-5 NLL below 550 nats" "$(val "$tmp/vae_ladder/summary.json" test_iw_nll)" "<" 550
        else
            bad "vae --stochastic-layers 2 --ladder --quick exits 0"
            tail -20 "$tmp/vae_ladder.log"
        fi
        # the posterior families (docs/POSTERIORS.md): each trains, with a finite IW bound at or above the ELBO
        for p in full-gaussian planar iaf; do
            if "$bin/vae" --quick --data "$data" --epochs 1 --posterior "$p" --flow-steps 2 --iaf-hidden 32 --iw 20 \
                --out "$tmp/vae_$p" >"$tmp/vae_$p.log" 2>&1; then
                f=$tmp/vae_$p/summary.json
                grep -q "\"posterior\": \"$p\"" "$f" && ok "vae --posterior $p: summary.json records it" ||
                    bad "vae --posterior $p: summary.json records it"
                check "vae --posterior $p: IW-20 NLL at most the -ELBO + 1" "$(val "$f" test_iw_nll)" "<=" \
                    "$(awk -v a="$(val "$f" test_neg_elbo)" 'BEGIN { print a + 1 }')"
            else
                bad "vae --posterior $p --quick exits 0"
                tail -5 "$tmp/vae_$p.log" | sed 's/^/        /'
            fi
        done
        for a in "--objective no-such" "--posterior no-such" "--prior no-such" "--likelihood no-such" \
            "--gamma -1" "--capacity nan" "--encoder conv:8:3" "--encoder conv:8:4:2,conv:8:4:2,conv:8:4:2,conv:8:4:2,conv:8:4:2" \
            "--stochastic-layers 3" "--stochastic-layers 0" "--ladder" "--posterior hier2" "--prior hier2" \
            "--stochastic-layers 2 --posterior ladder" "--stochastic-layers 2 --z2 0" "--stochastic-layers 2 --hier-hidden 0" \
            "--stochastic-layers 2 --hier-hidden 10,10,10,10" "--stochastic-layers 2 --free-bits 0.1" "--stochastic-layers 2 --objective tcvae" \
            "--stochastic-layers 2 --export $tmp/vae_bad.safetensors" \
            "--posterior planar --flow-steps 0" "--posterior iaf --flow-steps 33" "--posterior iaf --iaf-hidden 0" \
            "--posterior planar --free-bits 0.5" "--posterior full-gaussian --export $tmp/vae_bad.safetensors" \
            "--posterior full-gaussian --objective tcvae"; do
            # shellcheck disable=SC2086
            "$bin/vae" --data "$data" --epochs 1 $a --out "$tmp/vae_bad" >/dev/null 2>"$tmp/vae_bad.err"
            rc=$?
            [ $rc = 2 ] && [ "$(wc -l <"$tmp/vae_bad.err")" = 1 ] && ok "vae $a: exit 2, one line" ||
                bad "vae $a: exit 2, one line (got $rc: $(head -c 200 "$tmp/vae_bad.err"))"
        done
        [ ! -e "$tmp/vae_bad/summary.json" ] && ok "vae: nothing written on a usage error" ||
            bad "vae: nothing written on a usage error"
        # Learned priors (docs/PRIORS.md): the VampPrior, and the mixture started by EM after a
        # warm-up epoch, with its cluster accuracy; the same numbers for 1 and 2 threads.
        for th in 1 2; do
            "$bin/vae" --quick --data "$data" --epochs 2 --prior mog --prior-k 10 --prior-init em --iw 5 \
                --threads $th --out "$tmp/vae_mog$th" >"$tmp/vae_mog$th.log" 2>&1 ||
                { bad "vae --prior mog --prior-init em --threads $th exits 0"; tail -5 "$tmp/vae_mog$th.log"; }
        done
        f=$tmp/vae_mog1/summary.json
        check "vae mog prior: cluster accuracy above chance (0.1)" "$(val "$f" cluster_accuracy)" ">" 0.1
        check "vae mog prior: majority-vote accuracy >= one-to-one" "$(val "$f" cluster_accuracy_majority)" ">=" \
            "$(val "$f" cluster_accuracy)"
        [ -s "$tmp/vae_mog1/prior.csv" ] && [ -s "$tmp/vae_mog1/clusters.csv" ] && ok "vae mog prior: prior.csv, clusters.csv" ||
            bad "vae mog prior: prior.csv, clusters.csv"
        for k in test_neg_elbo test_iw_nll cluster_accuracy; do
            check "vae mog prior: $k the same for 1 and 2 threads" "$(val "$f" $k)" "=" \
                "$(val "$tmp/vae_mog2/summary.json" $k)"
        done
        # The fitted mixture reads back as a start (mog_em's params.csv layout).
        "$bin/vae" --quick --data "$data" --epochs 1 --prior mog --prior-k 10 --prior-init "$tmp/vae_mog1/prior.csv" \
            --out "$tmp/vae_mog_file" >/dev/null 2>&1 && ok "vae --prior-init prior.csv exits 0" ||
            bad "vae --prior-init prior.csv exits 0"
        if "$bin/vae" --quick --data "$data" --epochs 1 --prior vamp --prior-k 20 --prior-squash sigmoid \
            --out "$tmp/vae_vamp" >"$tmp/vae_vamp.log" 2>&1; then
            ok "vae --prior vamp exits 0"
            grep -q '"prior_k": 20' "$tmp/vae_vamp/summary.json" && ok "vae vamp: summary.json records K" ||
                bad "vae vamp: summary.json records K"
            check "vae vamp: a finite test -ELBO below 550 nats" "$(val "$tmp/vae_vamp/summary.json" test_neg_elbo)" "<" 550
        else
            bad "vae --prior vamp exits 0"
            tail -5 "$tmp/vae_vamp.log"
        fi
        for a in "--prior mog --prior-k 5000" "--prior vamp --prior-k -1" "--prior normal --prior-k 5" \
            "--prior mog --free-bits 0.5" "--prior vamp --prior-init em" "--prior mog --prior-init em:0" \
            "--prior vamp --model cvae" "--prior-squash tanh"; do
            # shellcheck disable=SC2086
            "$bin/vae" --data "$data" --epochs 1 $a --out "$tmp/vae_bad_prior" >/dev/null 2>"$tmp/vae_bad.err"
            rc=$?
            [ $rc = 2 ] && [ "$(wc -l <"$tmp/vae_bad.err")" = 1 ] && ok "vae $a: exit 2, one line" ||
                bad "vae $a: exit 2, one line (got $rc: $(head -c 200 "$tmp/vae_bad.err"))"
        done
        printf 'component,weight,mean_0\n0,0.5,1\n1,0.5,2\n' >"$tmp/prior_bad.csv"
        "$bin/vae" --data "$data" --epochs 1 --prior mog --prior-init "$tmp/prior_bad.csv" --out "$tmp/vae_bad_prior" \
            >/dev/null 2>"$tmp/vae_bad.err"
        rc=$?
        [ $rc = 3 ] && [ "$(wc -l <"$tmp/vae_bad.err")" = 1 ] && ok "vae --prior-init of the wrong shape: exit 3, one line" ||
            bad "vae --prior-init of the wrong shape: exit 3, one line (got $rc: $(head -c 200 "$tmp/vae_bad.err"))"
        [ ! -e "$tmp/vae_bad_prior/summary.json" ] && [ ! -e "$tmp/vae_bad_prior/checkpoint.ckpt" ] &&
            ok "vae: nothing written on a bad prior" || bad "vae: nothing written on a bad prior"
    fi
else
    skips=$((skips + 6))
    echo "  SKIP  vae_figures, resynthesis, aggregated_posterior, disentangle, posterior_collapse, vqvae (no data)"
fi

echo "== sweep"
if [ -x "$bin/sweep" ] && [ -x "$bin/jensen" ]; then
    out=$tmp/sweep
    if "$bin/sweep" --driver jensen --grid 'a=1,2,4 seed=1,2' --jobs 2 --args '--quick' --out "$out" \
        >"$tmp/sweep.log" 2>&1; then
        ok "sweep runs a 3x2 grid"
        n=$(($(wc -l <"$out/sweep.csv") - 1))
        check "sweep.csv has one row per configuration" "$n" ">=" 6
        [ -s "$out/sweep_a.svg" ] && ok "sweep_a.svg written" || bad "sweep_a.svg written"
        "$bin/sweep" --driver jensen --grid 'a=1,2,4 seed=1,2' --jobs 2 --args '--quick' --out "$out" \
            >"$tmp/sweep2.log" 2>&1
        grep -q '0 run, 6 skipped' "$tmp/sweep2.log" && ok "sweep resumes (skips finished runs)" ||
            bad "sweep resumes (skips finished runs)"
    else
        bad "sweep runs a 3x2 grid"
        tail -20 "$tmp/sweep.log"
    fi
    "$bin/sweep" --driver jensen --grid 'nonsense' >/dev/null 2>&1
    rc=$?
    [ $rc = 2 ] && ok "sweep: bad grid exits 2" || bad "sweep: bad grid exits 2 (got $rc)"
fi

echo
echo "$pass passed, $fails failed, $skips skipped"
[ $fails = 0 ]
