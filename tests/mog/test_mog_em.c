/* Mixtures of Gaussians by EM: the fused pass against a naive oracle, EM's
 * guarantees (figure 17.15), recovery of known parameters, determinism over
 * threads and SIMD levels, and degenerate inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog.h"
#include "ops/pool.h"
#include "ops/rng.h"
#include "ops/simd_level.h"

#define LOG_2PI 1.83787706640934548356

static const mog_cov COVS[] = {MOG_COV_FULL, MOG_COV_DIAG, MOG_COV_SPHERICAL};

static double *rand_points(size_t n, size_t d, size_t k, double spread, uint64_t seed)
{
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    double *c = malloc(k * d * sizeof(double)), *x = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < k * d; i++)
        c[i] = spread * elbo_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        size_t z = (size_t)elbo_rng_below(&r, k);
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = c[z * d + j] + (0.5 + 0.1 * (double)j) * elbo_rng_normal(&r);
    }
    free(c);
    return x;
}

/* Random valid parameters: covariances A A^T + I/2. */
static void rand_params(mog_params *p, size_t k, size_t d, mog_cov cov, uint64_t seed)
{
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    cr_assert_eq(mog_params_alloc(p, k, d, cov), ELBO_OK);
    double wsum = 0;
    for (size_t c = 0; c < k; c++)
        wsum += (p->weights[c] = 0.2 + elbo_rng_uniform(&r));
    for (size_t c = 0; c < k; c++) {
        p->weights[c] /= wsum;
        for (size_t j = 0; j < d; j++)
            p->means[c * d + j] = 2 * elbo_rng_normal(&r);
        if (cov == MOG_COV_FULL) {
            double *a = malloc(d * d * sizeof(double));
            for (size_t i = 0; i < d * d; i++)
                a[i] = 0.4 * elbo_rng_normal(&r);
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j < d; j++) {
                    double s = i == j ? 0.5 : 0.0;
                    for (size_t m = 0; m < d; m++)
                        s += a[i * d + m] * a[j * d + m];
                    p->covars[c * d * d + i * d + j] = s;
                }
            free(a);
        } else if (cov == MOG_COV_DIAG) {
            for (size_t j = 0; j < d; j++)
                p->covars[c * d + j] = 0.3 + elbo_rng_uniform(&r);
        } else {
            p->covars[c] = 0.3 + elbo_rng_uniform(&r);
        }
    }
    cr_assert_eq(mog_params_update(p), ELBO_OK, "%s", elbo_last_error());
}

/* Oracle: log sum_k w_k N(x; mu_k, Sigma_k) with a fresh Cholesky per call. */
static double naive_logpdf(const mog_params *p, const double *x, double *resp)
{
    size_t k = p->k, d = p->d;
    double lp[64], m = -INFINITY;
    double *l = malloc(d * d * sizeof(double)), *y = malloc(d * sizeof(double));
    for (size_t c = 0; c < k; c++) {
        for (size_t i = 0; i < d * d; i++)
            l[i] = 0;
        for (size_t i = 0; i < d; i++) {
            if (p->cov == MOG_COV_FULL)
                for (size_t j = 0; j < d; j++)
                    l[i * d + j] = p->covars[c * d * d + i * d + j];
            else
                l[i * d + i] = p->covars[p->cov == MOG_COV_DIAG ? c * d + i : c];
        }
        for (size_t j = 0; j < d; j++) { /* Cholesky */
            for (size_t m2 = 0; m2 < j; m2++)
                l[j * d + j] -= l[j * d + m2] * l[j * d + m2];
            l[j * d + j] = sqrt(l[j * d + j]);
            for (size_t i = j + 1; i < d; i++) {
                for (size_t m2 = 0; m2 < j; m2++)
                    l[i * d + j] -= l[i * d + m2] * l[j * d + m2];
                l[i * d + j] /= l[j * d + j];
            }
        }
        double q = 0, logdet = 0;
        for (size_t i = 0; i < d; i++) { /* L y = x - mu */
            double s = x[i] - p->means[c * d + i];
            for (size_t j = 0; j < i; j++)
                s -= l[i * d + j] * y[j];
            y[i] = s / l[i * d + i];
            q += y[i] * y[i];
            logdet += log(l[i * d + i]);
        }
        lp[c] = log(p->weights[c]) - logdet - 0.5 * ((double)d * LOG_2PI + q);
        m = fmax(m, lp[c]);
    }
    double s = 0;
    for (size_t c = 0; c < k; c++)
        s += exp(lp[c] - m);
    double lse = m + log(s);
    if (resp)
        for (size_t c = 0; c < k; c++)
            resp[c] = exp(lp[c] - lse);
    free(l);
    free(y);
    return lse;
}

Test(mog, pass_matches_naive_oracle_and_resp_sum_to_one)
{
    static const size_t ds[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17};
    static const size_t ns[] = {1, 7, 8, 9, 15, 16, 17, 1000, 5003};
    for (int ci = 0; ci < 3; ci++)
        for (size_t di = 0; di < sizeof ds / sizeof ds[0]; di++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                size_t d = ds[di], n = ns[ni], k = 1 + (d + n) % 5;
                mog_params p;
                rand_params(&p, k, d, COVS[ci], 100 + d);
                double *x = rand_points(n, d, 3, 2.0, n + d);
                double *ll = malloc(n * sizeof(double)), *resp = malloc(n * k * sizeof(double)), mean;
                cr_assert_eq(mog_score_samples(&p, x, n, ll, resp, &mean), ELBO_OK, "%s", elbo_last_error());
                double sum = 0, rr[64];
                for (size_t i = 0; i < n; i++) {
                    double want = naive_logpdf(&p, x + i * d, rr), rs = 0;
                    cr_assert(fabs(ll[i] - want) <= 1e-10 * (1 + fabs(want)), "cov %d d %zu n %zu i %zu: %.17g vs %.17g",
                              ci, d, n, i, ll[i], want);
                    for (size_t c = 0; c < k; c++) {
                        rs += resp[i * k + c];
                        cr_assert(fabs(resp[i * k + c] - rr[c]) <= 1e-10, "resp %zu %zu", i, c);
                    }
                    cr_assert(fabs(rs - 1.0) <= 1e-12, "responsibilities of point %zu sum to %.17g", i, rs);
                    sum += ll[i];
                }
                cr_assert(fabs(mean - sum / (double)n) <= 1e-10 * (1 + fabs(mean)));
                free(x), free(ll), free(resp);
                mog_params_free(&p);
            }
}

/* Figure 17.15 on random data: the bound touches after each E-step, climbs
 * in the M-step, and the likelihood never decreases. */
static void check_em_guarantees(mog_cov cov, double reg, double slack, mog_init init)
{
    size_t n = 3000, d = 3;
    double *x = rand_points(n, d, 4, 1.5, 77);
    mog_config cfg;
    mog_config_default(&cfg, 4);
    cfg.cov = cov;
    cfg.tol = 0;
    cfg.max_iter = 60;
    cfg.reg_covar = reg;
    cfg.init = init;
    cfg.seed = 5;
    mog_result r;
    cr_assert_eq(mog_fit(x, n, d, &cfg, &r), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(r.iterations, 60);
    for (int t = 0; t < r.iterations; t++) {
        const mog_trace_row *row = &r.trace[t];
        double eps = slack * (1 + fabs(row->loglik));
        cr_assert(fabs(row->elbo_after_e - row->loglik) <= 1e-12 * (1 + fabs(row->loglik)),
                  "t=%d: ELBO after E %.17g != loglik %.17g", t, row->elbo_after_e, row->loglik);
        cr_assert(row->elbo_before_e <= row->loglik + eps, "t=%d: bound above the likelihood", t);
        cr_assert(row->elbo_after_m >= row->elbo_after_e - eps, "t=%d: M-step lowered the bound", t);
        if (t > 0) {
            cr_assert(row->loglik >= r.trace[t - 1].loglik - eps, "t=%d: loglik fell %.17g -> %.17g", t,
                      r.trace[t - 1].loglik, row->loglik);
            cr_assert(row->loglik >= r.trace[t - 1].elbo_after_m - eps, "t=%d: likelihood below the bound", t);
            cr_assert(row->elbo_before_e == r.trace[t - 1].elbo_after_m);
        }
    }
    cr_assert(r.mean_loglik >= r.trace[r.iterations - 1].loglik - slack * (1 + fabs(r.mean_loglik)));
    mog_result_free(&r);
    free(x);
}

Test(mog, em_monotone_exact_without_reg)
{
    for (int ci = 0; ci < 3; ci++) {
        check_em_guarantees(COVS[ci], 0.0, 1e-13, MOG_INIT_KMEANSPP);
        check_em_guarantees(COVS[ci], 0.0, 1e-13, MOG_INIT_RANDOM);
    }
}

Test(mog, em_monotone_with_default_reg)
{
    /* reg_covar makes the M-step a slightly regularised one: allow its size */
    for (int ci = 0; ci < 3; ci++)
        check_em_guarantees(COVS[ci], MOG_REG_COVAR_DEFAULT, 1e-9, MOG_INIT_RANDOM);
}

Test(mog, one_d_two_components_recovered)
{
    mog_params truth;
    cr_assert_eq(mog_params_alloc(&truth, 2, 1, MOG_COV_SPHERICAL), ELBO_OK);
    truth.weights[0] = 0.3, truth.weights[1] = 0.7;
    truth.means[0] = -2.0, truth.means[1] = 3.0;
    truth.covars[0] = 0.25, truth.covars[1] = 1.0;
    cr_assert_eq(mog_params_update(&truth), ELBO_OK);
    size_t n = 40000;
    double *x = malloc(n * sizeof(double));
    elbo_rng r;
    elbo_rng_seed(&r, 9);
    cr_assert_eq(mog_sample(&truth, &r, n, x, NULL), ELBO_OK);
    for (int ci = 0; ci < 3; ci++) { /* in 1-D all three covariance types are the same model */
        mog_config cfg;
        mog_config_default(&cfg, 2);
        cfg.cov = COVS[ci];
        cfg.tol = 1e-10;
        cfg.max_iter = 500;
        cfg.restarts = 3;
        mog_result fit;
        cr_assert_eq(mog_fit(x, n, 1, &cfg, &fit), ELBO_OK, "%s", elbo_last_error());
        cr_assert(fit.converged);
        size_t a = fit.params.means[0] < fit.params.means[1] ? 0 : 1, b = 1 - a;
        /* ~5 standard errors at n = 40000 */
        cr_assert(fabs(fit.params.weights[a] - 0.3) < 0.012, "w %g", fit.params.weights[a]);
        cr_assert(fabs(fit.params.means[a] + 2.0) < 0.03, "mu0 %g", fit.params.means[a]);
        cr_assert(fabs(fit.params.means[b] - 3.0) < 0.03, "mu1 %g", fit.params.means[b]);
        cr_assert(fabs(fit.params.covars[ci == 0 ? a : a] - 0.25) < 0.02, "var0 %g", fit.params.covars[a]);
        cr_assert(fabs(fit.params.covars[b] - 1.0) < 0.04, "var1 %g", fit.params.covars[b]);
        double best = -INFINITY;
        for (int i = 0; i < cfg.restarts; i++)
            best = fmax(best, fit.restart_loglik[i]);
        cr_assert_eq(best, fit.mean_loglik, "restarts keep the best");
        mog_result_free(&fit);
    }
    free(x);
    mog_params_free(&truth);
}

static void fit_with(const double *x, size_t n, size_t d, mog_cov cov, mog_result *r)
{
    mog_config cfg;
    mog_config_default(&cfg, 5);
    cfg.cov = cov;
    cfg.tol = 0;
    cfg.max_iter = 8;
    cfg.restarts = 2;
    cr_assert_eq(mog_fit(x, n, d, &cfg, r), ELBO_OK, "%s", elbo_last_error());
}

static void assert_same_bits(const mog_result *a, const mog_result *b, const char *what)
{
    size_t k = a->params.k, d = a->params.d;
    size_t c = a->params.cov == MOG_COV_FULL ? k * d * d : a->params.cov == MOG_COV_DIAG ? k * d : k;
    cr_assert(memcmp(a->params.means, b->params.means, k * d * sizeof(double)) == 0, "%s: means differ", what);
    cr_assert(memcmp(a->params.covars, b->params.covars, c * sizeof(double)) == 0, "%s: covariances differ", what);
    cr_assert(memcmp(a->params.weights, b->params.weights, k * sizeof(double)) == 0, "%s: weights differ", what);
    cr_assert(memcmp(&a->mean_loglik, &b->mean_loglik, sizeof(double)) == 0, "%s: loglik differs", what);
    for (int t = 0; t < a->iterations; t++)
        cr_assert(memcmp(&a->trace[t], &b->trace[t], 4 * sizeof(double)) == 0, "%s: trace %d differs", what, t);
}

Test(mog, threads_one_and_two_give_identical_bits)
{
    size_t n = 30011, d = 6; /* several tasks and a ragged last panel */
    double *x = rand_points(n, d, 5, 2.0, 3);
    for (int ci = 0; ci < 3; ci++) {
        mog_result r1, r2;
        cr_assert_eq(elbo_set_threads(1), ELBO_OK);
        fit_with(x, n, d, COVS[ci], &r1);
        cr_assert_eq(elbo_set_threads(2), ELBO_OK);
        fit_with(x, n, d, COVS[ci], &r2);
        assert_same_bits(&r1, &r2, "1 vs 2 threads");
        mog_result_free(&r1);
        mog_result_free(&r2);
    }
    elbo_set_threads(1);
    free(x);
}

Test(mog, simd_levels_give_identical_bits)
{
    size_t n = 5003, d = 5;
    double *x = rand_points(n, d, 5, 2.0, 4);
    elbo_simd saved = elbo_simd_current();
    for (int ci = 0; ci < 3; ci++) {
        mog_result ref;
        cr_assert_eq(elbo_simd_set(ELBO_SIMD_SCALAR), ELBO_OK);
        fit_with(x, n, d, COVS[ci], &ref);
        for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
            if (lv == ELBO_SIMD_SCALAR || !elbo_simd_supported((elbo_simd)lv))
                continue;
            mog_result r;
            cr_assert_eq(elbo_simd_set((elbo_simd)lv), ELBO_OK);
            fit_with(x, n, d, COVS[ci], &r);
            assert_same_bits(&ref, &r, elbo_simd_name((elbo_simd)lv));
            mog_result_free(&r);
        }
        mog_result_free(&ref);
    }
    elbo_simd_set(saved);
    free(x);
}

Test(mog, skipping_zero_responsibilities_changes_nothing)
{
    size_t n = 8000, d = 4;
    double *x = rand_points(n, d, 4, 40.0, 8); /* far apart: most responsibilities are exactly 0 */
    for (int ci = 0; ci < 3; ci++) {
        mog_config cfg;
        mog_config_default(&cfg, 4);
        cfg.cov = COVS[ci];
        cfg.tol = 0;
        cfg.max_iter = 6;
        mog_result a, b;
        cfg.resp_floor = -1; /* dense */
        cr_assert_eq(mog_fit(x, n, d, &cfg, &a), ELBO_OK);
        cfg.resp_floor = 0; /* skip exact zeros */
        cr_assert_eq(mog_fit(x, n, d, &cfg, &b), ELBO_OK);
        assert_same_bits(&a, &b, "skip zero");
        /* truncated EM: skipped mass below 1e-30 per point cannot be seen */
        mog_result c;
        cfg.resp_floor = 1e-30;
        cr_assert_eq(mog_fit(x, n, d, &cfg, &c), ELBO_OK);
        cr_assert(fabs(c.mean_loglik - a.mean_loglik) <= 1e-13 * fabs(a.mean_loglik), "%.17g vs %.17g",
                  c.mean_loglik, a.mean_loglik);
        for (size_t i = 0; i < 4 * d; i++)
            cr_assert(fabs(c.params.means[i] - a.params.means[i]) <= 1e-12 * (1 + fabs(a.params.means[i])));
        mog_result_free(&a);
        mog_result_free(&b);
        mog_result_free(&c);
    }
    free(x);
}

static void assert_finite_params(const mog_params *p)
{
    size_t k = p->k, d = p->d;
    size_t c = p->cov == MOG_COV_FULL ? k * d * d : p->cov == MOG_COV_DIAG ? k * d : k;
    for (size_t i = 0; i < k; i++)
        cr_assert(isfinite(p->weights[i]) && p->weights[i] > 0);
    for (size_t i = 0; i < k * d; i++)
        cr_assert(isfinite(p->means[i]), "mean %zu is %g", i, p->means[i]);
    for (size_t i = 0; i < c; i++)
        cr_assert(isfinite(p->covars[i]) && isfinite(p->prec_chol[i]), "covariance entry %zu", i);
}

Test(mog, empty_component_warns_and_stays_finite)
{
    size_t n = 2000, d = 2;
    double *x = rand_points(n, d, 2, 3.0, 11);
    double means[3 * 2] = {0};
    for (size_t j = 0; j < d; j++) /* two from the data, one far from every point */
        means[j] = x[j], means[d + j] = x[d * (n - 1) + j], means[2 * d + j] = 1e4;
    for (int ci = 0; ci < 3; ci++) {
        mog_config cfg;
        mog_config_default(&cfg, 3);
        cfg.cov = COVS[ci];
        cfg.init = MOG_INIT_MEANS;
        cfg.init_means = means;
        cfg.tol = 0;
        cfg.max_iter = 5;
        mog_result r;
        cr_assert_eq(mog_fit(x, n, d, &cfg, &r), ELBO_OK, "%s", elbo_last_error());
        cr_assert(r.warnings & MOG_WARN_EMPTY_COMPONENT);
        cr_assert(r.n_empty > 0);
        cr_assert(isfinite(r.mean_loglik));
        assert_finite_params(&r.params);
        mog_result_free(&r);
    }
    free(x);
}

Test(mog, fewer_points_than_dimensions_warns)
{
    size_t n = 6, d = 10;
    double *x = rand_points(n, d, 2, 1.0, 12);
    mog_config cfg;
    mog_config_default(&cfg, 2);
    mog_result r;
    cr_assert_eq(mog_fit(x, n, d, &cfg, &r), ELBO_OK, "%s", elbo_last_error());
    cr_assert(r.warnings & MOG_WARN_N_BELOW_D);
    cr_assert(r.warnings & MOG_WARN_FEW_POINTS);
    assert_finite_params(&r.params);
    mog_result_free(&r);
    /* without reg_covar the covariance is singular: an error, not NaN */
    cfg.reg_covar = 0;
    cr_assert_eq(mog_fit(x, n, d, &cfg, &r), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "reg_covar") != NULL, "%s", elbo_last_error());
    free(x);
}

Test(mog, duplicate_points_warn_or_fail_cleanly)
{
    size_t n = 50, d = 3;
    double *x = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < n * d; i++)
        x[i] = (double)(i % d) + 0.5; /* every point the same */
    for (int ci = 0; ci < 3; ci++) {
        mog_config cfg;
        mog_config_default(&cfg, 3);
        cfg.cov = COVS[ci];
        mog_result r;
        cr_assert_eq(mog_fit(x, n, d, &cfg, &r), ELBO_OK, "%s", elbo_last_error());
        cr_assert(r.warnings & MOG_WARN_DUPLICATE_SEEDS);
        cr_assert(r.warnings & MOG_WARN_ZERO_VARIANCE);
        cr_assert(isfinite(r.mean_loglik));
        assert_finite_params(&r.params);
        mog_result_free(&r);
        cfg.reg_covar = 0;
        cr_assert_eq(mog_fit(x, n, d, &cfg, &r), ELBO_ERR_INVALID);
    }
    free(x);
}

Test(mog, bad_inputs_are_errors)
{
    double x[6] = {0, 1, 2, NAN, 4, 5};
    mog_config cfg;
    mog_config_default(&cfg, 2);
    mog_result r;
    cr_assert_eq(mog_fit(x, 3, 2, &cfg, &r), ELBO_ERR_NONFINITE);
    x[3] = 3;
    cfg.k = 4;
    cr_assert_eq(mog_fit(x, 3, 2, &cfg, &r), ELBO_ERR_INVALID);
    cfg.k = 2;
    cfg.max_iter = 0;
    cr_assert_eq(mog_fit(x, 3, 2, &cfg, &r), ELBO_ERR_INVALID);
    cfg.max_iter = 10;
    cfg.init = MOG_INIT_MEANS;
    cr_assert_eq(mog_fit(x, 3, 2, &cfg, &r), ELBO_ERR_INVALID);
}

Test(mog, parameter_count_problem_17_1)
{
    cr_assert_eq(mog_param_count(5, 1, MOG_COV_SPHERICAL), 14); /* 4 weights + 5 means + 5 variances */
    cr_assert_eq(mog_param_count(5, 1, MOG_COV_FULL), 14);
    cr_assert_eq(mog_param_count(10, 16, MOG_COV_FULL), 9 + 160 + 10 * 136);
    cr_assert_eq(mog_param_count(10, 16, MOG_COV_DIAG), 9 + 160 + 160);
    cr_assert_eq(mog_param_count(10, 16, MOG_COV_SPHERICAL), 9 + 160 + 10);
}

Test(mog, ancestral_samples_have_the_model_moments)
{
    mog_params p;
    rand_params(&p, 3, 2, MOG_COV_FULL, 21);
    size_t n = 200000;
    double *x = malloc(n * 2 * sizeof(double));
    size_t *z = malloc(n * sizeof(size_t));
    elbo_rng r;
    elbo_rng_seed(&r, 22);
    cr_assert_eq(mog_sample(&p, &r, n, x, z), ELBO_OK);
    for (size_t c = 0; c < 3; c++) {
        double cnt = 0, m[2] = {0}, s[4] = {0};
        for (size_t i = 0; i < n; i++)
            if (z[i] == c) {
                cnt++;
                for (int j = 0; j < 2; j++)
                    m[j] += x[i * 2 + j];
            }
        for (int j = 0; j < 2; j++)
            m[j] /= cnt;
        for (size_t i = 0; i < n; i++)
            if (z[i] == c)
                for (int j = 0; j < 2; j++)
                    for (int l = 0; l < 2; l++)
                        s[j * 2 + l] += (x[i * 2 + j] - m[j]) * (x[i * 2 + l] - m[l]) / cnt;
        double se_w = sqrt(p.weights[c] * (1 - p.weights[c]) / (double)n);
        cr_assert(fabs(cnt / (double)n - p.weights[c]) < 5 * se_w);
        for (int j = 0; j < 2; j++)
            cr_assert(fabs(m[j] - p.means[c * 2 + j]) < 5 * sqrt(p.covars[c * 4 + j * 3] / cnt));
        for (int j = 0; j < 4; j++)
            cr_assert(fabs(s[j] - p.covars[c * 4 + j]) < 0.05 * (1 + fabs(p.covars[c * 4 + j])));
    }
    free(x), free(z);
    mog_params_free(&p);
}
