/* The GEMM engine of EM (models/mog/mog_gemm.h) against the fused engine
 * (itself checked against a naive oracle in test_mog_em.c): the same fit from
 * the same seed, the log-likelihood and bound traces to 1e-10 relative, at
 * shapes that cover the row groups' edges (d = 1, 3, 9, 16, 33: groups of 4
 * and 8 coordinates, whole and ragged; 24+ columns in the M-step), ragged
 * last chunks and one component; same bits for 1, 2 and 3 threads and at
 * every SIMD level; and the configuration errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog.h"
#include "ops/pool.h"
#include "ops/rng.h"
#include "ops/simd_level.h"

/* k clusters with centres ~ N(0, sep^2 I) and random full covariances L L^T
 * (L lower, diagonal in [0.5, 1.5], off-diagonal N(0, 0.3^2)), plus an offset
 * so the data are not centred on the origin. */
static double *clusters(size_t n, size_t d, size_t k, double sep, uint64_t seed)
{
    elbo_rng rng;
    elbo_rng_seed(&rng, seed);
    double *c = malloc(k * d * sizeof *c), *l = malloc(k * d * d * sizeof *l), *x = malloc(n * d * sizeof *x);
    double *e = malloc(d * sizeof *e);
    cr_assert(c && l && x && e);
    for (size_t i = 0; i < k * d; i++)
        c[i] = 5.0 + sep * elbo_rng_normal(&rng);
    for (size_t q = 0; q < k; q++)
        for (size_t j = 0; j < d; j++)
            for (size_t m = 0; m < d; m++)
                l[(q * d + j) * d + m] = m < j ? 0.3 * elbo_rng_normal(&rng)
                                         : m == j ? 0.5 + elbo_rng_uniform(&rng) : 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t z = (size_t)elbo_rng_below(&rng, k);
        for (size_t j = 0; j < d; j++)
            e[j] = elbo_rng_normal(&rng);
        for (size_t j = 0; j < d; j++) {
            double v = c[z * d + j];
            for (size_t m = 0; m <= j; m++)
                v += l[(z * d + j) * d + m] * e[m];
            x[i * d + j] = v;
        }
    }
    free(c), free(l), free(e);
    return x;
}

static void fit(const double *x, size_t n, size_t d, size_t k, mog_engine engine, int iters, mog_result *r)
{
    mog_config cfg;
    mog_config_default(&cfg, k);
    cfg.tol = 0;
    cfg.max_iter = iters;
    cfg.seed = 11;
    cfg.resp_floor = -1; /* dense in both engines */
    cfg.engine = engine;
    cr_assert_eq(mog_fit(x, n, d, &cfg, r), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(r->engine, engine);
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

Test(mog_gemm, trace_matches_fused_engine)
{
    static const size_t shapes[][3] = {{6007, 16, 10}, {3001, 9, 4}, {2003, 3, 3}, {1500, 1, 2}, {4001, 33, 3},
                                       {700, 5, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t n = shapes[s][0], d = shapes[s][1], k = shapes[s][2];
        double *x = clusters(n, d, k, 4.0, 100 + s);
        mog_result f, g;
        fit(x, n, d, k, MOG_ENGINE_FUSED, 12, &f);
        fit(x, n, d, k, MOG_ENGINE_GEMM, 12, &g);
        cr_assert_eq(f.iterations, g.iterations);
        for (int t = 0; t < f.iterations; t++) {
            const mog_trace_row *a = &f.trace[t], *b = &g.trace[t];
            cr_assert(rel(b->loglik, a->loglik) <= 1e-10, "n=%zu d=%zu k=%zu iter %d: loglik %.17g vs fused %.17g", n,
                      d, k, t, b->loglik, a->loglik);
            cr_assert(rel(b->elbo_before_e, a->elbo_before_e) <= 1e-10 &&
                          rel(b->elbo_after_e, a->elbo_after_e) <= 1e-10 &&
                          rel(b->elbo_after_m, a->elbo_after_m) <= 1e-10,
                      "n=%zu d=%zu k=%zu iter %d: bound differs", n, d, k, t);
        }
        cr_assert(rel(g.mean_loglik, f.mean_loglik) <= 1e-10, "final loglik %.17g vs %.17g", g.mean_loglik,
                  f.mean_loglik);
        for (size_t i = 0; i < k * d; i++)
            cr_assert(fabs(g.params.means[i] - f.params.means[i]) <= 1e-8 * (1.0 + fabs(f.params.means[i])),
                      "mean %zu: %.17g vs %.17g", i, g.params.means[i], f.params.means[i]);
        for (size_t i = 0; i < k * d * d; i++)
            cr_assert(fabs(g.params.covars[i] - f.params.covars[i]) <= 1e-8 * (1.0 + fabs(f.params.covars[i])),
                      "covariance entry %zu: %.17g vs %.17g", i, g.params.covars[i], f.params.covars[i]);
        mog_result_free(&f);
        mog_result_free(&g);
        free(x);
    }
}

static void assert_same_bits(const mog_result *a, const mog_result *b, const char *what)
{
    size_t k = a->params.k, d = a->params.d;
    cr_assert(memcmp(a->params.means, b->params.means, k * d * sizeof(double)) == 0, "%s: means differ", what);
    cr_assert(memcmp(a->params.covars, b->params.covars, k * d * d * sizeof(double)) == 0, "%s: covariances differ",
              what);
    cr_assert(memcmp(a->params.weights, b->params.weights, k * sizeof(double)) == 0, "%s: weights differ", what);
    cr_assert(memcmp(&a->mean_loglik, &b->mean_loglik, sizeof(double)) == 0, "%s: loglik differs", what);
    for (int t = 0; t < a->iterations; t++)
        cr_assert(memcmp(&a->trace[t], &b->trace[t], 4 * sizeof(double)) == 0, "%s: trace %d differs", what, t);
}

Test(mog_gemm, same_bits_for_any_thread_count)
{
    size_t n = 30011, d = 7, k = 5; /* several tasks, a ragged last chunk */
    double *x = clusters(n, d, k, 3.0, 7);
    mog_result r1, r;
    cr_assert_eq(elbo_set_threads(1), ELBO_OK);
    fit(x, n, d, k, MOG_ENGINE_GEMM, 6, &r1);
    for (int t = 2; t <= 3; t++) {
        cr_assert_eq(elbo_set_threads(t), ELBO_OK);
        fit(x, n, d, k, MOG_ENGINE_GEMM, 6, &r);
        assert_same_bits(&r1, &r, t == 2 ? "1 vs 2 threads" : "1 vs 3 threads");
        mog_result_free(&r);
    }
    elbo_set_threads(1);
    mog_result_free(&r1);
    free(x);
}

Test(mog_gemm, same_bits_at_every_simd_level)
{
    size_t n = 5003, d = 11, k = 4;
    double *x = clusters(n, d, k, 3.0, 8);
    elbo_simd saved = elbo_simd_current();
    mog_result ref;
    cr_assert_eq(elbo_simd_set(ELBO_SIMD_SCALAR), ELBO_OK);
    fit(x, n, d, k, MOG_ENGINE_GEMM, 6, &ref);
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (lv == ELBO_SIMD_SCALAR || !elbo_simd_supported((elbo_simd)lv))
            continue;
        mog_result r;
        cr_assert_eq(elbo_simd_set((elbo_simd)lv), ELBO_OK);
        fit(x, n, d, k, MOG_ENGINE_GEMM, 6, &r);
        assert_same_bits(&ref, &r, elbo_simd_name((elbo_simd)lv));
        mog_result_free(&r);
    }
    elbo_simd_set(saved);
    mog_result_free(&ref);
    free(x);
}

Test(mog_gemm, configuration_errors_and_auto)
{
    double x[8] = {0, 1, 2, 3, 4, 5, 6, 8};
    mog_config cfg;
    mog_result r;
    mog_config_default(&cfg, 2);
    cfg.cov = MOG_COV_DIAG;
    cfg.engine = MOG_ENGINE_GEMM;
    cr_assert_eq(mog_fit(x, 4, 2, &cfg, &r), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "gemm"), "%s", elbo_last_error());
    cfg.engine = (mog_engine)7;
    cr_assert_eq(mog_fit(x, 4, 2, &cfg, &r), ELBO_ERR_INVALID);
    /* auto never answers auto, and only picks gemm for full covariances */
    for (size_t d = 1; d <= 256; d *= 2)
        for (int c = 0; c < 3; c++) {
            mog_engine e = mog_engine_pick(MOG_ENGINE_AUTO, 100000, d, 10, (mog_cov)c);
            cr_assert(e == MOG_ENGINE_FUSED || (e == MOG_ENGINE_GEMM && c == MOG_COV_FULL));
        }
    cr_assert_eq(mog_engine_pick(MOG_ENGINE_GEMM, 10, 2, 2, MOG_COV_FULL), MOG_ENGINE_GEMM);
    cr_assert_str_eq(mog_engine_name(MOG_ENGINE_GEMM), "gemm");
}
