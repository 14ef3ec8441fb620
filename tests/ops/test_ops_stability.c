/* Numerical stability at every level (huge logits, infinities, empty rows)
 * and thread-count independence of the ops.h front-end. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

typedef const struct elbo_kernels K;

/* The tables of every supported level, scalar included; returns the count. */
static int all_levels(K **out)
{
    int n = 0;
    for (int l = 0; l < ELBO_SIMD_COUNT; l++)
        if (elbo_kernels_for((elbo_simd)l))
            out[n++] = elbo_kernels_for((elbo_simd)l);
    return n;
}

/* Bernoulli NLL with |logit| = 1e4 and 0: finite, exact where the answer is 0 or |l| */
Test(stability, bernoulli_nll_huge_logits)
{
    /* one row of 19 columns: logits +-1e4 with matching / opposite targets, 0 with t = 0.5 */
    float l[19], t[19], dl[19], drow = 1.0f;
    for (int c = 0; c < 19; c++) {
        l[c] = (c % 2) ? 1e4f : -1e4f;
        t[c] = (c % 4 < 2) ? ((c % 2) ? 1.0f : 0.0f) : ((c % 2) ? 0.0f : 1.0f);
    }
    double want = 0.0; /* matching targets cost 0, opposite ones cost 1e4 */
    for (int c = 0; c < 19; c++)
        want += (c % 4 < 2) ? 0.0 : 1e4;
    K *levels[ELBO_SIMD_COUNT];
    int nl = all_levels(levels);
    for (int li = 0; li < nl; li++) {
        K *k = levels[li];
        float out;
        k->bernoulli_nll(1, 19, l, t, &out);
        cr_assert(isfinite(out) && fabs(out - want) <= 1e-6 * want, "%s: nll %g, want %g", k->name,
                  (double)out, want);
        memset(dl, 0, sizeof dl);
        k->bernoulli_nll_bwd(1, 19, l, t, &drow, dl);
        for (int c = 0; c < 19; c++) {
            float g = (c % 2 ? 1.0f : 0.0f) - t[c]; /* sigmoid(+-1e4) = 1 or 0 */
            cr_assert(dl[c] == g, "%s: dl[%d] = %g, want %g", k->name, c, (double)dl[c], (double)g);
        }
        float l0 = 0.0f, t0 = 0.5f;
        k->bernoulli_nll(1, 1, &l0, &t0, &out);
        cr_assert(fabsf(out - 0.693147182f) <= 1e-6f, "%s: nll(0) = %g", k->name, (double)out);
    }
}

/* softplus and its gradient at |x| = 1e4: no overflow, no NaN */
Test(stability, softplus_huge)
{
    float x[9] = {1e4f, -1e4f, 1e4f, -1e4f, 1e4f, -1e4f, 1e4f, -1e4f, 1e4f}, y[9], dx[9], dy[9];
    K *levels[ELBO_SIMD_COUNT];
    int nl = all_levels(levels);
    for (int li = 0; li < nl; li++) {
        K *k = levels[li];
        k->softplus(9, x, y);
        for (int i = 0; i < 9; i++)
            dy[i] = 1.0f, dx[i] = 0.0f;
        k->softplus_bwd(9, x, dy, dx);
        for (int i = 0; i < 9; i++) {
            cr_assert(y[i] == (x[i] > 0 ? 1e4f : 0.0f), "%s softplus(%g) = %g", k->name, (double)x[i], (double)y[i]);
            cr_assert(dx[i] == (x[i] > 0 ? 1.0f : 0.0f), "%s softplus'(%g) = %g", k->name, (double)x[i], (double)dx[i]);
        }
    }
}

/* row_logsumexp: subtracts the max; all -inf gives -inf, +inf gives +inf, empty gives -inf */
Test(stability, row_logsumexp_extremes)
{
    enum { C = 19 };
    float x[5 * C], y[5];
    for (int c = 0; c < C; c++) {
        x[0 * C + c] = 1000.0f + (c == 7 ? 0.0f : -1e4f);   /* one big term: 1000 */
        x[1 * C + c] = -INFINITY;                           /* -> -inf */
        x[2 * C + c] = c == C - 1 ? INFINITY : 0.0f;        /* +inf in the tail -> +inf */
        x[3 * C + c] = -1e4f;                               /* -1e4 + log 19 */
        x[4 * C + c] = c == C - 1 ? 88.0f : 80.0f;          /* e^88 ~ FLT_MAX: naive sum overflows */
    }
    double lse4 = 88.0 + log(1.0 + 18.0 * exp(-8.0));
    K *levels[ELBO_SIMD_COUNT];
    int nl = all_levels(levels);
    for (int li = 0; li < nl; li++) {
        K *k = levels[li];
        k->row_logsumexp(5, C, x, y);
        cr_assert(y[0] == 1000.0f, "%s: %g", k->name, (double)y[0]);
        cr_assert(isinf(y[1]) && y[1] < 0, "%s: all -inf row gave %g", k->name, (double)y[1]);
        cr_assert(isinf(y[2]) && y[2] > 0, "%s: +inf row gave %g", k->name, (double)y[2]);
        cr_assert(fabs(y[3] - (-1e4 + log(19.0))) <= 1e-3, "%s: %g", k->name, (double)y[3]);
        cr_assert(fabs(y[4] - lse4) <= 1e-5 * lse4, "%s: %g vs %g", k->name, (double)y[4], lse4);
        float e = 0.0f;
        k->row_logsumexp(1, 0, x, &e);
        cr_assert(isinf(e) && e < 0, "%s: empty row gave %g", k->name, (double)e);
        k->row_max(1, 0, x, &e);
        cr_assert(isinf(e) && e < 0, "%s: empty row max %g", k->name, (double)e);
    }
}

/* NaN propagates through the row reductions that read it */
Test(stability, nan_propagates)
{
    float x[17], y;
    for (int i = 0; i < 17; i++)
        x[i] = 0.25f * (float)i;
    x[16] = NAN; /* in the tail of every width */
    K *levels[ELBO_SIMD_COUNT];
    int nl = all_levels(levels);
    for (int li = 0; li < nl; li++) {
        K *k = levels[li];
        k->row_logsumexp(1, 17, x, &y);
        cr_assert(isnan(y), "%s logsumexp: %g", k->name, (double)y);
        k->row_sum(1, 17, x, &y);
        cr_assert(isnan(y), "%s row_sum: %g", k->name, (double)y);
        cr_assert(isnan(k->sum(17, x)), "%s sum", k->name);
    }
}

/* KL and Gaussian NLL stay finite for log-variances of +-30 */
Test(stability, gaussian_terms_wide_logvar)
{
    float mu[8] = {0, 1, -1, 2, 0, 0, 3, -3}, lv[8] = {-30, 30, -30, 30, 0, -30, 30, 0}, out;
    K *levels[ELBO_SIMD_COUNT];
    int nl = all_levels(levels);
    for (int li = 0; li < nl; li++) {
        K *k = levels[li];
        k->kl_diag(1, 8, mu, lv, &out);
        cr_assert(isfinite(out), "%s kl %g", k->name, (double)out);
        k->gauss_nll(1, 8, mu, mu, lv, &out); /* x = m: the e^-lv term is 0 * huge = 0 */
        cr_assert(isfinite(out), "%s gauss %g", k->name, (double)out);
    }
}

/* ---- threads ---- */

static float *random_array(size_t n, float lo, float hi, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    cr_assert(x);
    tu_fill_uniform(x, n, lo, hi, seed);
    return x;
}

/* elbo_sum is bit-identical for 1 and 2 threads at every level, and close to the reference */
Test(threads, sum_bit_identical)
{
    const size_t n = 3000017; /* > ELBO_OPS_PARALLEL_MIN, many chunks, odd */
    float *x = random_array(n, -1.0f, 1.0f, 77);
    double want = elbo_kernels_scalar.sum(n, x), abs_sum = 0.0;
    for (size_t i = 0; i < n; i++)
        abs_sum += fabs(x[i]);
    elbo_simd saved = elbo_simd_current();
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)l), ELBO_OK);
        cr_assert_eq(elbo_set_threads(1), ELBO_OK);
        double s1 = elbo_sum(n, x);
        cr_assert_eq(elbo_set_threads(2), ELBO_OK);
        double s2 = elbo_sum(n, x);
        cr_assert(memcmp(&s1, &s2, sizeof s1) == 0, "%s: 1 thread %.17g, 2 threads %.17g",
                  elbo_simd_name((elbo_simd)l), s1, s2);
        cr_assert(fabs(s1 - want) <= 1e-6 * abs_sum, "%s: %.17g vs ref %.17g", elbo_simd_name((elbo_simd)l),
                  s1, want);
    }
    elbo_simd_set(saved);
    elbo_set_threads(1);
    free(x);
}

/* A large elementwise op and a large row op: same bits for 1 and 2 threads */
Test(threads, large_ops_bit_identical)
{
    const size_t n = (1u << 20) + 3, rows = 4099, cols = 257;
    float *x = random_array(n, -5.0f, 5.0f, 5), *y1 = malloc(n * sizeof(float)), *y2 = malloc(n * sizeof(float));
    float *a = random_array(rows * cols, -20.0f, 20.0f, 6), *r1 = malloc(rows * sizeof(float)),
          *r2 = malloc(rows * sizeof(float));
    cr_assert(y1 && y2 && r1 && r2);
    cr_assert_eq(elbo_set_threads(1), ELBO_OK);
    elbo_tanh(n, x, y1);
    elbo_row_logsumexp(rows, cols, a, r1);
    cr_assert_eq(elbo_set_threads(2), ELBO_OK);
    elbo_tanh(n, x, y2);
    elbo_row_logsumexp(rows, cols, a, r2);
    cr_assert(memcmp(y1, y2, n * sizeof(float)) == 0, "tanh differs between 1 and 2 threads");
    cr_assert(memcmp(r1, r2, rows * sizeof(float)) == 0, "row_logsumexp differs between 1 and 2 threads");
    /* and the split results are right, not just repeatable */
    elbo_kernels_scalar.tanh(n, x, y1);
    cr_assert(tu_max_rel_err(y2, y1, n, 1e-37, 1e-6, NULL) <= 1.0);
    elbo_set_threads(1);
    free(x), free(y1), free(y2), free(a), free(r1), free(r2);
}
