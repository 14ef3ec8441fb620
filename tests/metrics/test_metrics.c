/* The metrics on synthetic codes whose answer is known (synthetic.h): a
 * perfect code, an entangled rotation of it, a dead unit in place of a
 * factor's code, a dead unit besides a perfect code; plus the errors.
 * (The agreement with an independent NumPy computation on noisy codes is
 * tests/metrics/metrics_ref.py.) */
#include <criterion/criterion.h>
#include <math.h>

#include "models/data/dsprites.h"
#include "models/metrics/dsprites_source.h"
#include "models/metrics/metrics.h"
#include "ops/pool.h"
#include "synthetic.h"

#define EPS 1e-9

static syn s;

/* Known answers: 1 for perfect and extra, 1/2 for the rotation (two of four
 * factors have equal best and second codes), 3/4 for the dead unit. */
static const double gap_answers[] = {[SYN_PERFECT] = 1, [SYN_ROTATED] = 0.5, [SYN_DEAD] = 0.75, [SYN_EXTRA] = 1};

Test(metrics, mig_hist_known_answers)
{
    for (int kind = 0; kind < 4; kind++) {
        syn_build(&s, kind, 0);
        double score, per[SYN_FACTORS];
        cr_assert_eq(elbo_mig_hist(&s.codes, &s.factors, 20, &score, per, NULL), ELBO_OK, "%s", elbo_last_error());
        cr_assert(fabs(score - gap_answers[kind]) < EPS, "kind %d: MIG %.17g, expected %g", kind, score,
                  gap_answers[kind]);
    }
}

Test(metrics, mi_matrix_hist_of_a_perfect_code_is_diagonal_entropies)
{
    syn_build(&s, SYN_PERFECT, 0);
    double mi[4 * SYN_FACTORS], h[SYN_FACTORS];
    cr_assert_eq(elbo_mi_matrix_hist(&s.codes, &s.factors, 20, mi), ELBO_OK);
    cr_assert_eq(elbo_factor_entropies(&s.factors, h), ELBO_OK);
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < SYN_FACTORS; k++)
            cr_assert(fabs(mi[j * SYN_FACTORS + k] - (j == k ? log(syn_sizes[k]) : 0)) < EPS, "MI[%d][%d] = %g", j, k,
                      mi[j * SYN_FACTORS + k]);
    for (int k = 0; k < SYN_FACTORS; k++)
        cr_assert(fabs(h[k] - log(syn_sizes[k])) < 1e-12);
}

Test(metrics, discretize_follows_numpy)
{
    /* np.digitize(x, np.histogram(x, 4)[1][:-1]) for x = [0, 1, 2, 3, 4, 2.5]: edges 0, 1, 2, 3 */
    const double x[] = {0, 1, 2, 3, 4, 2.5};
    int32_t l[6];
    cr_assert_eq(elbo_discretize(x, 6, 1, 4, l), ELBO_OK);
    const int32_t want[] = {1, 2, 3, 4, 4, 3};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(l[i], want[i], "x = %g: label %d, expected %d", x[i], l[i], want[i]);
    const double c[] = {7, 7, 7}; /* a constant column: range widened by 1/2, one bin */
    cr_assert_eq(elbo_discretize(c, 3, 1, 20, l), ELBO_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(l[i], 11); /* edges 6.5 + 0.05 b: 7 is at edge 10 */
}

Test(metrics, mig_chen_known_answers)
{
    /* sigma = 0.02: the classes' Gaussians do not overlap, so every MI is
     * exact up to rounding and the answers are the histogram ones */
    for (int kind = 0; kind < 4; kind++) {
        syn_build(&s, kind, log(0.02 * 0.02));
        elbo_chen_opts o = {.seed = 5};
        double score, per[SYN_FACTORS];
        cr_assert_eq(elbo_mig_chen(&s.codes, &s.factors, &o, &score, per, NULL), ELBO_OK, "%s", elbo_last_error());
        cr_assert(fabs(score - gap_answers[kind]) < 1e-7, "kind %d: MIG %.17g, expected %g", kind, score,
                  gap_answers[kind]);
    }
}

Test(metrics, mig_chen_mask_and_sampling)
{
    syn_build(&s, SYN_ROTATED, log(0.02 * 0.02));
    elbo_chen_opts o = {.seed = 5, .factor_mask = 0xC}; /* factors 2 and 3: both perfect */
    double score, per[SYN_FACTORS];
    cr_assert_eq(elbo_mig_chen(&s.codes, &s.factors, &o, &score, per, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_assert(fabs(score - 1) < 1e-7, "%.17g", score);
    cr_assert(isnan(per[0]) && isnan(per[1]));
    o = (elbo_chen_opts){.seed = 5, .samples = 50}; /* 50 samples per group, a seeded order */
    double a, b;
    cr_assert_eq(elbo_mig_chen(&s.codes, &s.factors, &o, &a, NULL, NULL), ELBO_OK);
    cr_assert_eq(elbo_mig_chen(&s.codes, &s.factors, &o, &b, NULL, NULL), ELBO_OK);
    cr_assert_eq(a, b, "same seed, same score");
    cr_assert(fabs(a - 0.5) < 0.1, "subsampled estimate %g far from 0.5", a);
}

Test(metrics, mig_chen_same_bits_for_any_thread_count)
{
    syn_build(&s, SYN_ROTATED, -1.0); /* broad posteriors: every component counts */
    elbo_chen_opts o = {.seed = 9, .samples = 300};
    double mi1[4 * SYN_FACTORS], mi2[4 * SYN_FACTORS];
    cr_assert_eq(elbo_set_threads(1), ELBO_OK);
    cr_assert_eq(elbo_mi_matrix_chen(&s.codes, &s.factors, &o, mi1), ELBO_OK);
    cr_assert_eq(elbo_set_threads(2), ELBO_OK);
    cr_assert_eq(elbo_mi_matrix_chen(&s.codes, &s.factors, &o, mi2), ELBO_OK);
    elbo_set_threads(1);
    cr_assert_eq(memcmp(mi1, mi2, sizeof mi1), 0);
}

Test(metrics, sap_known_answers)
{
    for (int kind = 0; kind < 4; kind++) {
        syn_build(&s, kind, 0);
        double score, m[5 * SYN_FACTORS];
        cr_assert_eq(elbo_sap(&s.codes, &s.factors, &score, m), ELBO_OK, "%s", elbo_last_error());
        cr_assert(fabs(score - gap_answers[kind]) < EPS, "kind %d: SAP %.17g", kind, score);
    }
    syn_build(&s, SYN_ROTATED, 0);
    double score, m[4 * SYN_FACTORS];
    cr_assert_eq(elbo_sap(&s.codes, &s.factors, &score, m), ELBO_OK);
    cr_assert(fabs(m[0 * SYN_FACTORS + 0] - 0.5) < EPS && fabs(m[1 * SYN_FACTORS + 0] - 0.5) < EPS,
              "rotated: each of z0, z1 explains half of v0");
}

Test(metrics, dci_known_answers)
{
    const double alpha = 1e-3, info = 1 - (alpha / (1 + alpha)) * (alpha / (1 + alpha));
    const struct {
        double d, c, i;
    } want[] = {
        [SYN_PERFECT] = {1, 1, info},
        [SYN_ROTATED] = {M_SQRT1_2, M_SQRT1_2, info}, /* codes 0, 1 split factors 0, 1 evenly */
        [SYN_DEAD] = {1, 1, 0.75 * info},             /* factor 0 unexplained, carries no importance */
        [SYN_EXTRA] = {1, 1, info},
    };
    for (int kind = 0; kind < 4; kind++) {
        syn_build(&s, kind, 0);
        elbo_dci_result r;
        double imp[5 * SYN_FACTORS];
        cr_assert_eq(elbo_dci(&s.codes, &s.factors, &s.codes, &s.factors, alpha, &r, imp), ELBO_OK, "%s",
                     elbo_last_error());
        cr_assert(fabs(r.disentanglement - want[kind].d) < 1e-8, "kind %d: D %.17g", kind, r.disentanglement);
        cr_assert(fabs(r.completeness - want[kind].c) < 1e-8, "kind %d: C %.17g", kind, r.completeness);
        cr_assert(fabs(r.informativeness - want[kind].i) < 1e-12, "kind %d: I %.17g", kind, r.informativeness);
        cr_assert_eq(r.informativeness, r.informativeness_train);
    }
}

/* ---- classifier-based scores over the table ---- */

static elbo_score_result table_score(syn_kind kind, bool factorvae, uint64_t seed)
{
    syn_build(&s, kind, 0);
    elbo_table_source src;
    cr_assert_eq(elbo_table_source_init(&src, &s.codes, &s.factors), ELBO_OK, "%s", elbo_last_error());
    elbo_score_result r;
    elbo_status st;
    if (factorvae) {
        elbo_factorvae_opts o = elbo_factorvae_defaults();
        o.train = 2000, o.eval = 1000;
        st = elbo_factorvae_score(&src.source, &o, seed, &r);
    } else {
        elbo_betavae_opts o = elbo_betavae_defaults();
        o.train = 2000, o.eval = 1000;
        st = elbo_betavae_score(&src.source, &o, seed, &r);
    }
    cr_assert_eq(st, ELBO_OK, "%s", elbo_last_error());
    elbo_table_source_free(&src);
    return r;
}

Test(metrics, betavae_known_answers)
{
    elbo_score_result r = table_score(SYN_PERFECT, false, 1);
    cr_assert_eq(r.train_accuracy, 1.0);
    cr_assert_eq(r.eval_accuracy, 1.0);
    /* a dead unit in place of factor 0's code: "no zero feature" still names factor 0 */
    r = table_score(SYN_DEAD, false, 1);
    cr_assert_eq(r.eval_accuracy, 1.0);
    /* the rotation makes fixing v0 and fixing v1 look alike: about half of those points are lost */
    r = table_score(SYN_ROTATED, false, 1);
    cr_assert(r.eval_accuracy > 0.65 && r.eval_accuracy < 0.85, "rotated: %g", r.eval_accuracy);
    elbo_score_result again = table_score(SYN_ROTATED, false, 1);
    cr_assert_eq(again.eval_accuracy, r.eval_accuracy, "same seed, same score");
}

Test(metrics, factorvae_known_answers)
{
    elbo_score_result r = table_score(SYN_PERFECT, true, 1);
    cr_assert_eq(r.eval_accuracy, 1.0);
    cr_assert_eq(r.active_dims, 4);
    r = table_score(SYN_EXTRA, true, 1); /* the dead unit is pruned */
    cr_assert_eq(r.eval_accuracy, 1.0);
    cr_assert_eq(r.active_dims, 4);
    /* factor 0's votes land on other factors' codes: a quarter of the votes is lost */
    r = table_score(SYN_DEAD, true, 1);
    cr_assert_eq(r.active_dims, 3);
    cr_assert(fabs(r.eval_accuracy - 0.75) < 0.04, "dead: %g", r.eval_accuracy);
    /* fixing v0 or v1 zeroes neither rotated code: both factors vote for one dimension */
    r = table_score(SYN_ROTATED, true, 1);
    cr_assert(fabs(r.eval_accuracy - 0.75) < 0.04, "rotated: %g", r.eval_accuracy);
}

Test(metrics, table_source_fixes_the_class)
{
    syn_build(&s, SYN_PERFECT, 0);
    elbo_table_source src;
    cr_assert_eq(elbo_table_source_init(&src, &s.codes, &s.factors), ELBO_OK);
    elbo_rng rng;
    elbo_rng_seed(&rng, 2);
    int32_t cls[300];
    uint32_t rows[300];
    for (int i = 0; i < 300; i++)
        cls[i] = i % 6;
    cr_assert_eq(elbo_table_source_rows(&src, &rng, 3, cls, 300, rows), ELBO_OK);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(s.classes[rows[i] * SYN_FACTORS + 3], cls[i]);
    cls[0] = 6;
    cr_assert_eq(elbo_table_source_rows(&src, &rng, 3, cls, 1, rows), ELBO_ERR_INVALID);
    elbo_table_source_free(&src);
}

/* ---- errors ---- */

Test(metrics, bad_inputs_are_one_line_errors)
{
    syn_build(&s, SYN_PERFECT, 0);
    double score;
    elbo_codes c = s.codes;
    elbo_factors f = s.factors;
    c.n = SYN_N - 1; /* row counts differ */
    cr_assert_eq(elbo_mig_hist(&c, &f, 20, &score, NULL, NULL), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "599") && strstr(elbo_last_error(), "600"), "%s", elbo_last_error());
    s.mean[17] = NAN; /* a NaN code */
    cr_assert_eq(elbo_sap(&s.codes, &s.factors, &score, NULL), ELBO_ERR_NONFINITE);
    cr_assert(strstr(elbo_last_error(), "point 4"), "%s", elbo_last_error());
    syn_build(&s, SYN_PERFECT, 0);
    for (int i = 0; i < SYN_N; i++) /* a factor with one value */
        s.classes[i * SYN_FACTORS + 2] = 1;
    cr_assert_eq(elbo_mig_hist(&s.codes, &s.factors, 20, &score, NULL, NULL), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "factor 2") && strstr(elbo_last_error(), "one value"), "%s",
              elbo_last_error());
    cr_assert_eq(elbo_sap(&s.codes, &s.factors, &score, NULL), ELBO_ERR_INVALID);
    elbo_dci_result r;
    cr_assert_eq(elbo_dci(&s.codes, &s.factors, &s.codes, &s.factors, 1e-3, &r, NULL), ELBO_ERR_INVALID);
    syn_build(&s, SYN_PERFECT, 0);
    s.classes[5] = 9; /* class out of range */
    cr_assert_eq(elbo_mig_hist(&s.codes, &s.factors, 20, &score, NULL, NULL), ELBO_ERR_INVALID);
    syn_build(&s, SYN_PERFECT, 0);
    c = s.codes;
    c.logvar = NULL;
    elbo_chen_opts o = {0};
    cr_assert_eq(elbo_mig_chen(&c, &s.factors, &o, &score, NULL, NULL), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "log-variance"), "%s", elbo_last_error());
    uint32_t order[SYN_N] = {0}; /* not a permutation */
    o.order = order;
    cr_assert_eq(elbo_mig_chen(&s.codes, &s.factors, &o, &score, NULL, NULL), ELBO_ERR_INVALID);
    c = s.codes;
    c.dim = 1; /* no second code to take a gap from */
    cr_assert_eq(elbo_mig_hist(&c, &s.factors, 20, &score, NULL, NULL), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_dci(&s.codes, &s.factors, &s.codes, &s.factors, 0, &r, NULL), ELBO_ERR_INVALID);
    cr_assert_null(strchr(elbo_last_error(), '\n'));
}

Test(metrics, factors_from_a_table)
{
    const double t[] = {0.5, 10, 0.25, 10, 0.5, -3, 1.0, 10};
    int32_t cls[8], sizes[2];
    cr_assert_eq(elbo_factors_from_table(t, 4, 2, 2, cls, sizes), ELBO_OK);
    cr_assert_eq(sizes[0], 3);
    cr_assert_eq(sizes[1], 2);
    const int32_t want[] = {1, 1, 0, 1, 1, 0, 2, 1};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(cls[i], want[i]);
    const double bad[] = {1, NAN};
    cr_assert_eq(elbo_factors_from_table(bad, 2, 1, 1, cls, sizes), ELBO_ERR_NONFINITE);
}

/* ---- dSprites as a source ---- */

/* A stand-in encoder: the centroid (x, y) of the shape and its area. */
static elbo_status centroid_encoder(void *ctx, const float *images, size_t n, double *codes)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        double sx = 0, sy = 0, a = 0;
        for (int p = 0; p < ELBO_DSPRITES_PIXELS; p++)
            if (images[i * ELBO_DSPRITES_PIXELS + (size_t)p] > 0.5f)
                sx += p % ELBO_DSPRITES_SIDE + 0.5, sy += p / ELBO_DSPRITES_SIDE + 0.5, a++;
        codes[i * 3] = sx / a, codes[i * 3 + 1] = sy / a, codes[i * 3 + 2] = a;
    }
    return ELBO_OK;
}

Test(metrics, dsprites_source_draws_fixed_factors)
{
    elbo_dsprites *ds;
    cr_assert_eq(elbo_dsprites_new(&ds), ELBO_OK);
    elbo_dsprites_source src;
    cr_assert_eq(elbo_dsprites_source_init(&src, ds, 3, centroid_encoder, NULL, 50), ELBO_OK);
    elbo_rng rng;
    elbo_rng_seed(&rng, 4);
    int32_t cls[120];
    double codes[120 * 3];
    for (int i = 0; i < 120; i++)
        cls[i] = (i * 7) % 32;
    cr_assert_eq(src.source.draw(src.source.ctx, &rng, ELBO_DSPRITES_POS_X, cls, 120, codes), ELBO_OK);
    for (int i = 0; i < 120; i++) /* the centroid is within 2.5 px of the centre 16 + pos_x */
        cr_assert(fabs(codes[i * 3] - (16 + cls[i])) < 2.5, "point %d: centroid x %g, class %d", i, codes[i * 3],
                  cls[i]);
    elbo_factorvae_opts o = elbo_factorvae_defaults();
    o.train = 300, o.eval = 200, o.variance_points = 500;
    elbo_score_result r;
    cr_assert_eq(elbo_factorvae_score(&src.source, &o, 1, &r), ELBO_OK, "%s", elbo_last_error());
    /* pos_x and pos_y each own a code (2 of 5 factors right for sure), scale mostly the area */
    cr_assert(r.eval_accuracy > 0.5, "FactorVAE score of the centroid code %g", r.eval_accuracy);
    elbo_dsprites_source_free(&src);
    elbo_dsprites_free(ds);
}
