/* Row reductions, x is (R,C), y is (R), and the total sum of (n), written once
 * over ops/simd.h. Tails are masked loads filled with the operation's neutral
 * element (0 for sums, -inf for max). */
#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

/* Floats summed in float vectors before the partial goes into the double
 * total: at most 256 / (4 VLEN) <= 8 adds per lane, so a block's rounding
 * error stays below ~8 eps sum|x| before the double accumulation. */
#define SUM_BLOCK 256

/* sum of x (n <= SUM_BLOCK) with four vector accumulators, combined in a fixed order */
static float sum_block(size_t n, const float *x)
{
    vf a0 = vf_zero(), a1 = vf_zero(), a2 = vf_zero(), a3 = vf_zero();
    size_t i = 0;
    for (; i + 4 * VLEN <= n; i += 4 * VLEN) {
        a0 = vf_add(a0, vf_load(x + i));
        a1 = vf_add(a1, vf_load(x + i + VLEN));
        a2 = vf_add(a2, vf_load(x + i + 2 * VLEN));
        a3 = vf_add(a3, vf_load(x + i + 3 * VLEN));
    }
    for (; i + VLEN <= n; i += VLEN)
        a0 = vf_add(a0, vf_load(x + i));
    if (i < n)
        a1 = vf_add(a1, vf_load_n(x + i, n - i));
    return vf_hsum(vf_add(vf_add(a0, a1), vf_add(a2, a3)));
}

/* sum_i x[i]: float blocks of SUM_BLOCK, accumulated in double in block order */
double KERNEL(elbo_sum)(size_t n, const float *x)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i += SUM_BLOCK)
        s += sum_block(n - i < SUM_BLOCK ? n - i : SUM_BLOCK, x + i);
    return s;
}

/* y[r] = sum_c x[r,c] */
void KERNEL(elbo_row_sum)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = (float)KERNEL(elbo_sum)(cols, x + r * cols);
}

/* max of one row (-inf if empty); NaN handling as vf_max (unspecified) */
static float max1(size_t n, const float *x)
{
    vf a0 = vf_set1(-INFINITY), a1 = vf_set1(-INFINITY);
    size_t i = 0;
    for (; i + 2 * VLEN <= n; i += 2 * VLEN) {
        a0 = vf_max(a0, vf_load(x + i));
        a1 = vf_max(a1, vf_load(x + i + VLEN));
    }
    for (; i + VLEN <= n; i += VLEN)
        a0 = vf_max(a0, vf_load(x + i));
    if (i < n)
        a1 = vf_max(a1, vf_load_n_fill(x + i, n - i, -INFINITY));
    return vf_hmax(vf_max(a0, a1));
}

/* y[r] = max_c x[r,c] */
void KERNEL(elbo_row_max)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = max1(cols, x + r * cols);
}

/* sum_c e^(x[c] - m) of one row (x - m <= 0: vf_exp_neg); the tail is filled with -inf, e^-inf = 0 */
static float sum_exp_shifted(size_t n, const float *x, float m)
{
    vf vm = vf_set1(m);
    vf a0 = vf_zero(), a1 = vf_zero();
    size_t i = 0;
    for (; i + 2 * VLEN <= n; i += 2 * VLEN) {
        a0 = vf_add(a0, vf_exp_neg(vf_sub(vf_load(x + i), vm)));
        a1 = vf_add(a1, vf_exp_neg(vf_sub(vf_load(x + i + VLEN), vm)));
    }
    for (; i + VLEN <= n; i += VLEN)
        a0 = vf_add(a0, vf_exp_neg(vf_sub(vf_load(x + i), vm)));
    if (i < n)
        a1 = vf_add(a1, vf_exp_neg(vf_sub(vf_load_n_fill(x + i, n - i, -INFINITY), vm)));
    return vf_hsum(vf_add(a0, a1));
}

/* y[r] = m + log sum_c e^(x[r,c] - m), m = max_c x[r,c]; an all -inf row gives -inf,
 * a row with +inf gives +inf; the terms are in (0, 1] and one of them is 1 */
void KERNEL(elbo_row_logsumexp)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float m = max1(cols, xr);
        y[r] = isinf(m) ? m : m + logf(sum_exp_shifted(cols, xr, m));
    }
}
