/* elbo_total_correlation: known answers where the posteriors are narrow
 * enough for the aggregate posterior to be a discrete distribution (TC is
 * then the discrete H(z_1) + ... + H(z_d) - H(z)), and broad posteriors
 * against a naive reference written here: a plain triple loop in long
 * double with the densities summed directly (no log-sum-exp shift). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "models/metrics/metrics.h"
#include "ops/pool.h"

#define NARROW_LOGVAR (-13.815510557964274) /* 2 log 1e-3: sd 1e-3 on a grid of spacing 1 */

/* means (n, d) and a constant log-variance. */
static elbo_codes codes_of(double *mean, double *logvar, size_t n, int d, double lv)
{
    for (size_t i = 0; i < n * (size_t)d; i++)
        logvar[i] = lv;
    return (elbo_codes){.n = n, .dim = d, .mean = mean, .logvar = logvar};
}

Test(tc, independent_grid_has_none)
{
    double mean[20 * 2], lv[20 * 2], tc;
    for (int i = 0; i < 20; i++)
        mean[2 * i] = i / 5, mean[2 * i + 1] = i % 5; /* 4 x 5 grid: z_1 and z_2 independent */
    elbo_codes c = codes_of(mean, lv, 20, 2, NARROW_LOGVAR);
    elbo_chen_opts o = {.seed = 3};
    cr_assert_eq(elbo_total_correlation(&c, &o, &tc), ELBO_OK, "%s", elbo_last_error());
    cr_assert(fabs(tc) < 1e-9, "TC of a product grid: %.3g", tc);
}

Test(tc, copied_code_has_log_n)
{
    double mean[20 * 3], lv[20 * 3], tc;
    for (int i = 0; i < 20; i++)
        mean[3 * i] = i, mean[3 * i + 1] = i, mean[3 * i + 2] = i % 2; /* z_2 = z_1; z_3 a function of z_1 */
    elbo_codes c = codes_of(mean, lv, 20, 3, NARROW_LOGVAR);
    elbo_chen_opts o = {.seed = 5};
    cr_assert_eq(elbo_total_correlation(&c, &o, &tc), ELBO_OK);
    /* H(z1) + H(z2) + H(z3) - H(z) = log 20 + log 20 + log 2 - log 20 */
    cr_assert(fabs(tc - (log(20.0) + log(2.0))) < 1e-9, "TC %.12f, expected %.12f", tc, log(20.0) + log(2.0));
}

/* log q(z_s) - sum_j log q(z_sj), straight from the definition. */
static double naive(const double *mean, const double *logvar, const double *noise, size_t n, int d, const uint32_t *order,
                    size_t samples)
{
    long double total = 0;
    for (size_t k = 0; k < samples; k++) {
        size_t s = order[k];
        double z[8];
        for (int j = 0; j < d; j++)
            z[j] = mean[s * d + j] + exp(0.5 * logvar[s * d + j]) * noise[s * d + j];
        long double joint = 0, marg[8] = {0};
        for (size_t i = 0; i < n; i++) {
            long double p = 1;
            for (int j = 0; j < d; j++) {
                long double var = expl((long double)logvar[i * d + j]), e = z[j] - mean[i * d + j];
                long double dens = expl(-0.5L * e * e / var) / sqrtl(2 * 3.14159265358979323846264338327950288L * var);
                p *= dens;
                marg[j] += dens;
            }
            joint += p;
        }
        long double v = logl(joint / n);
        for (int j = 0; j < d; j++)
            v -= logl(marg[j] / n);
        total += v;
    }
    return (double)(total / samples);
}

Test(tc, broad_posteriors_match_the_definition)
{
    enum { N = 60, D = 3 };
    double mean[N * D], lv[N * D], noise[N * D];
    uint32_t order[N];
    srand(11);
    for (int i = 0; i < N; i++) {
        double a = rand() / (double)RAND_MAX * 2 - 1;
        mean[i * D] = a, mean[i * D + 1] = a + 0.3 * (rand() / (double)RAND_MAX), mean[i * D + 2] = rand() % 3;
        for (int j = 0; j < D; j++) {
            lv[i * D + j] = -3 + 2.5 * (rand() / (double)RAND_MAX);
            noise[i * D + j] = 2 * (rand() / (double)RAND_MAX) - 1;
        }
        order[i] = (uint32_t)((i * 7) % N); /* 7 is prime to 60: a permutation */
    }
    elbo_codes c = {.n = N, .dim = D, .mean = mean, .logvar = lv};
    double tc, ref;
    elbo_chen_opts o = {.noise = noise, .order = order};
    cr_assert_eq(elbo_total_correlation(&c, &o, &tc), ELBO_OK);
    ref = naive(mean, lv, noise, N, D, order, N);
    cr_assert(fabs(tc - ref) < 1e-9, "all samples: %.12f vs %.12f", tc, ref);
    cr_assert(tc > 0.05, "correlated codes: TC %.4f", tc);
    o.samples = 17;
    cr_assert_eq(elbo_total_correlation(&c, &o, &tc), ELBO_OK);
    ref = naive(mean, lv, noise, N, D, order, 17);
    cr_assert(fabs(tc - ref) < 1e-9, "17 samples: %.12f vs %.12f", tc, ref);
}

Test(tc, same_bits_for_any_thread_count_and_errors)
{
    enum { N = 300, D = 4 };
    double mean[N * D], lv[N * D], t1, t2;
    for (int i = 0; i < N * D; i++)
        mean[i] = sin(0.37 * i) + (i % D == 1 ? mean[i - 1] : 0), lv[i] = -1 - 0.5 * cos(0.11 * i);
    elbo_codes c = {.n = N, .dim = D, .mean = mean, .logvar = lv};
    elbo_chen_opts o = {.seed = 21, .samples = 100};
    cr_assert_eq(elbo_set_threads(1), ELBO_OK);
    cr_assert_eq(elbo_total_correlation(&c, &o, &t1), ELBO_OK);
    cr_assert_eq(elbo_set_threads(2), ELBO_OK);
    cr_assert_eq(elbo_total_correlation(&c, &o, &t2), ELBO_OK);
    elbo_set_threads(1);
    cr_assert_eq(memcmp(&t1, &t2, sizeof t1), 0, "%.17g vs %.17g", t1, t2);
    c.logvar = NULL;
    cr_assert_eq(elbo_total_correlation(&c, &o, &t1), ELBO_ERR_INVALID);
    c.logvar = lv;
    mean[5] = NAN;
    cr_assert_eq(elbo_total_correlation(&c, &o, &t1), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "point 1"), "%s", elbo_last_error());
}
