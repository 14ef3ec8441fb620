/* Row reductions, x is (R,C), y is (R), and the total sum of (n): each SIMD
 * kernel, written once over ops/simd.h, beside its naive scalar reference
 * (the reference build; it sums in double). SIMD tails are masked loads
 * filled with the operation's neutral element (0 for sums, -inf for max). */

#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#if ELBO_REFERENCE
#include <math.h>
#endif

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

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

/* log sum_c e^x[c] of one row in one pass (online): per lane a running max M
 * and a sum S of e^(x - M); each block of 4 vectors raises M to the block's
 * max and rescales S once by e^(M_old - M_new) (1 when M is unchanged, which
 * also keeps -inf - -inf out; skipped when no lane's max rose). At the end the lanes are brought to the row
 * max m: log sum = m + log sum_l S_l e^(M_l - m). Terms are e^(<= 0): vf_exp_neg.
 * Returns the row max in *mx (the caller handles m = +-inf). */
static inline void lse_step(vf *M, vf *S, vf bm, const vf *xs, size_t nx)
{
    vf mn = vf_max(*M, bm);
    vf s = *S;
    if (vf_any_gt(mn, *M)) /* the max rose in some lane (rare after the first blocks) */
        s = vf_mul(s, vf_select_gt(mn, *M, vf_exp_neg(vf_sub(*M, mn)), vf_set1(1.0f)));
    vf ms = vf_max(mn, vf_set1(-FLT_MAX)); /* a lane still at -inf: e^(-inf - -FLT_MAX) = 0, not NaN */
    for (size_t t = 0; t < nx; t++)
        s = vf_add(s, vf_exp_neg(vf_sub(xs[t], ms)));
    *M = mn;
    *S = s;
}

static float lse1(size_t n, const float *x, float *mx)
{
    vf M = vf_set1(-INFINITY), S = vf_zero();
    size_t i = 0;
    for (; i + 4 * VLEN <= n; i += 4 * VLEN) {
        vf xs[4] = {vf_load(x + i), vf_load(x + i + VLEN), vf_load(x + i + 2 * VLEN), vf_load(x + i + 3 * VLEN)};
        lse_step(&M, &S, vf_max(vf_max(xs[0], xs[1]), vf_max(xs[2], xs[3])), xs, 4);
    }
    for (; i + VLEN <= n; i += VLEN) {
        vf xs[1] = {vf_load(x + i)};
        lse_step(&M, &S, xs[0], xs, 1);
    }
    if (i < n) {
        vf xs[1] = {vf_load_n_fill(x + i, n - i, -INFINITY)};
        lse_step(&M, &S, xs[0], xs, 1);
    }
    float m = vf_hmax(M);
    *mx = m;
    if (isinf(m))
        return 0.0f;
    /* lanes whose M is -inf hold S = 0 and get e^-inf = 0 */
    return vf_hsum(vf_mul(S, vf_exp_neg(vf_sub(M, vf_set1(m)))));
}

/* The same in two passes, for a row that stays in L1 between them: the max,
 * then sum e^(x - m) with no rescaling (about 1.4x the online rate; the row is
 * read from memory once either way). */
#define LSE_TWO_PASS_MAX 4096 /* floats: 16 KiB, half of a 32 KiB L1d */

static float lse2(size_t n, const float *x, float *mx)
{
    float m = max1(n, x);
    *mx = m;
    if (isinf(m) || isnan(m))
        return 0.0f; /* the caller returns m; a NaN max is NaN */
    vf ms = vf_set1(m), a0 = vf_zero(), a1 = vf_zero();
    size_t i = 0;
    /* a batch of four (see VF_BATCH), added to a0, a1 as two pairs would be */
    for (; i + VF_BATCH * VLEN <= n; i += VF_BATCH * VLEN) {
        vf e[VF_BATCH];
        for (size_t j = 0; j < VF_BATCH; j++)
            e[j] = vf_sub(vf_load(x + i + j * VLEN), ms);
        vf_exp_neg_k(VF_BATCH, e);
        for (size_t j = 0; j < VF_BATCH; j += 2) {
            a0 = vf_add(a0, e[j]);
            a1 = vf_add(a1, e[j + 1]);
        }
    }
    for (; i + 2 * VLEN <= n; i += 2 * VLEN) {
        a0 = vf_add(a0, vf_exp_neg(vf_sub(vf_load(x + i), ms)));
        a1 = vf_add(a1, vf_exp_neg(vf_sub(vf_load(x + i + VLEN), ms)));
    }
    for (; i + VLEN <= n; i += VLEN)
        a0 = vf_add(a0, vf_exp_neg(vf_sub(vf_load(x + i), ms)));
    if (i < n)
        a1 = vf_add(a1, vf_exp_neg(vf_sub(vf_load_n_fill(x + i, n - i, -INFINITY), ms)));
    return vf_hsum(vf_add(a0, a1));
}

#endif

/* sum_i x[i] in double, in index order */
#if ELBO_REFERENCE
double KERNEL(elbo_sum)(size_t n, const float *x)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}
#else
/* sum_i x[i]: float blocks of SUM_BLOCK, accumulated in double in block order */
double KERNEL(elbo_sum)(size_t n, const float *x)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i += SUM_BLOCK)
        s += sum_block(n - i < SUM_BLOCK ? n - i : SUM_BLOCK, x + i);
    return s;
}
#endif

/* y[r] = sum_c x[r,c] */
#if ELBO_REFERENCE
void KERNEL(elbo_row_sum)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = (float)KERNEL(elbo_sum)(cols, x + r * cols);
}
#else
void KERNEL(elbo_row_sum)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = (float)KERNEL(elbo_sum)(cols, x + r * cols);
}
#endif

/* y[r] = max_c x[r,c]  (-inf for an empty row) */
#if ELBO_REFERENCE
void KERNEL(elbo_row_max)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        float m = -INFINITY;
        for (size_t c = 0; c < cols; c++)
            m = fmaxf(m, x[r * cols + c]);
        y[r] = m;
    }
}
#else
/* y[r] = max_c x[r,c] */
void KERNEL(elbo_row_max)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = max1(cols, x + r * cols);
}
#endif

/* y[r] = m + log sum_c e^(x[r,c] - m), m = max_c x[r,c]; -inf if m = -inf, +inf if m = +inf */
#if ELBO_REFERENCE
void KERNEL(elbo_row_logsumexp)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float m = -INFINITY;
        for (size_t c = 0; c < cols; c++)
            m = fmaxf(m, xr[c]);
        if (isinf(m)) {
            y[r] = m;
            continue;
        }
        double s = 0.0;
        for (size_t c = 0; c < cols; c++)
            s += exp((double)xr[c] - m);
        y[r] = (float)(m + log(s)); /* a NaN in the row propagates through s */
    }
}
#else
/* y[r] = m + log sum_c e^(x[r,c] - m), m = max_c x[r,c]; an all -inf row gives -inf,
 * a row with +inf gives +inf; a NaN in the row gives NaN */
void KERNEL(elbo_row_logsumexp)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        /* The two-pass row reads memory in its max pass and then computes from
         * L1: fetch the next row now, so its reads overlap this row's exps. */
        if (cols <= LSE_TWO_PASS_MAX && r + 1 < rows)
            for (size_t c = 0; c < cols; c += 64 / sizeof(float))
                __builtin_prefetch(x + (r + 1) * cols + c, 0, 3);
        float m, s = cols <= LSE_TWO_PASS_MAX ? lse2(cols, x + r * cols, &m) : lse1(cols, x + r * cols, &m);
        y[r] = isinf(m) ? m : m + logf(s);
    }
}
#endif
