/* Reductions along an axis: row sums, max and log-sum-exp of x (R,C) into
 * y (R), the total sum of (n), softmax and log-softmax along the len axis of
 * (outer, len, inner), and the categorical NLL of logit rows: each SIMD
 * kernel, written once over ops/simd.h, beside its naive scalar reference
 * (the reference build; it sums in double). SIMD tails are masked loads
 * filled with the operation's neutral element (0 for sums, -inf for max);
 * along a strided axis (inner > 1) the vectors run across inner. Rows are
 * expected finite for softmax and the NLL (an all -inf row gives NaN). */

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


/* log sum_c e^x[c] of one row (see row_logsumexp) */
static float row_lse(size_t n, const float *x)
{
    float m, s = n <= LSE_TWO_PASS_MAX ? lse2(n, x, &m) : lse1(n, x, &m);
    return isinf(m) ? m : m + logf(s);
}

/* y = e^(x - m) for one row of n floats; returns the sum of y (float vectors) */
static float exp_shift_row(size_t n, const float *x, float m, float *y)
{
    vf ms = vf_set1(m), a0 = vf_zero(), a1 = vf_zero();
    size_t i = 0;
    for (; i + VF_BATCH * VLEN <= n; i += VF_BATCH * VLEN) {
        vf e[VF_BATCH];
        for (size_t j = 0; j < VF_BATCH; j++)
            e[j] = vf_sub(vf_load(x + i + j * VLEN), ms);
        vf_exp_neg_k(VF_BATCH, e);
        for (size_t j = 0; j < VF_BATCH; j += 2) {
            vf_store(y + i + j * VLEN, e[j]);
            vf_store(y + i + (j + 1) * VLEN, e[j + 1]);
            a0 = vf_add(a0, e[j]);
            a1 = vf_add(a1, e[j + 1]);
        }
    }
    for (; i + VLEN <= n; i += VLEN) {
        vf e = vf_exp_neg(vf_sub(vf_load(x + i), ms));
        vf_store(y + i, e);
        a0 = vf_add(a0, e);
    }
    if (i < n) {
        vf e = vf_exp_neg(vf_sub(vf_load_n_fill(x + i, n - i, -INFINITY), ms));
        vf_store_n(y + i, e, n - i);
        a1 = vf_add(a1, e);
    }
    return vf_hsum(vf_add(a0, a1));
}

/* y = s x over n floats */
static void scale_row(size_t n, float s, const float *x, float *y)
{
    vf vs = vf_set1(s);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_mul(vs, vf_load(x + i)));
    if (i < n)
        vf_store_n(y + i, vf_mul(vs, vf_load_n(x + i, n - i)), n - i);
}

/* sum of a[i] b[i] over n floats (float vectors) */
static float dot_row(size_t n, const float *a, const float *b)
{
    vf a0 = vf_zero(), a1 = vf_zero();
    size_t i = 0;
    for (; i + 2 * VLEN <= n; i += 2 * VLEN) {
        a0 = vf_fmadd(vf_load(a + i), vf_load(b + i), a0);
        a1 = vf_fmadd(vf_load(a + i + VLEN), vf_load(b + i + VLEN), a1);
    }
    for (; i + VLEN <= n; i += VLEN)
        a0 = vf_fmadd(vf_load(a + i), vf_load(b + i), a0);
    if (i < n)
        a1 = vf_fmadd(vf_load_n(a + i, n - i), vf_load_n(b + i, n - i), a1);
    return vf_hsum(vf_add(a0, a1));
}

/* Along a strided axis: k <= VLEN lanes of inner positions at x, the axis
 * of len steps `inner` floats apart. */
static inline vf lanes_load(const float *x, size_t k) { return k == VLEN ? vf_load(x) : vf_load_n(x, k); }
static inline void lanes_store(float *y, vf v, size_t k)
{
    if (k == VLEN)
        vf_store(y, v);
    else
        vf_store_n(y, v, k);
}

/* per lane: m = max along the axis, s = sum of e^(x - m); e^(x - m) stored to y if y */
static void axis_max_sum(size_t len, size_t inner, const float *x, size_t k, float *y, vf *m, vf *s)
{
    vf mx = vf_set1(-INFINITY), sum = vf_zero();
    for (size_t l = 0; l < len; l++)
        mx = vf_max(mx, lanes_load(x + l * inner, k));
    for (size_t l = 0; l < len; l++) {
        vf e = vf_exp_neg(vf_sub(lanes_load(x + l * inner, k), mx));
        if (y)
            lanes_store(y + l * inner, e, k);
        sum = vf_add(sum, e);
    }
    *m = mx;
    *s = sum;
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

/* out[r] = log sum_c e^l[r,c] - l[r, labels[r]]   (labels in [0, cols)) */
#if ELBO_REFERENCE
void KERNEL(elbo_categorical_nll)(size_t rows, size_t cols, const float *l, const int32_t *labels, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        float lse;
        KERNEL(elbo_row_logsumexp)(1, cols, l + r * cols, &lse);
        out[r] = cols ? (float)((double)lse - l[r * cols + (size_t)labels[r]]) : lse;
    }
}
#else
void KERNEL(elbo_categorical_nll)(size_t rows, size_t cols, const float *l, const int32_t *labels, float *out)
{
    for (size_t r = 0; r < rows; r++)
        out[r] = cols ? row_lse(cols, l + r * cols) - l[r * cols + (size_t)labels[r]] : -INFINITY;
}
#endif

/* dl += drow[r] (softmax(l[r]) - onehot(labels[r])) */
#if ELBO_REFERENCE
void KERNEL(elbo_categorical_nll_bwd)(size_t rows, size_t cols, const float *l, const int32_t *labels,
                                      const float *drow, float *dl)
{
    for (size_t r = 0; r < rows; r++) {
        const float *lr = l + r * cols;
        float m = -INFINITY;
        for (size_t c = 0; c < cols; c++)
            m = fmaxf(m, lr[c]);
        double s = 0.0;
        for (size_t c = 0; c < cols; c++)
            s += exp((double)lr[c] - m);
        for (size_t c = 0; c < cols; c++) {
            double p = exp((double)lr[c] - m) / s;
            dl[r * cols + c] += drow[r] * (float)(p - (c == (size_t)labels[r]));
        }
    }
}
#else
void KERNEL(elbo_categorical_nll_bwd)(size_t rows, size_t cols, const float *l, const int32_t *labels,
                                      const float *drow, float *dl)
{
    for (size_t r = 0; r < rows; r++) {
        const float *lr = l + r * cols;
        float *dr = dl + r * cols;
        /* pass 1: s = sum e^(l - m); pass 2: dl += (drow / s) e^(l - m); then the label's -drow */
        vf ms = vf_set1(max1(cols, lr)), acc = vf_zero();
        size_t c = 0;
        for (; c + VLEN <= cols; c += VLEN)
            acc = vf_add(acc, vf_exp_neg(vf_sub(vf_load(lr + c), ms)));
        if (c < cols)
            acc = vf_add(acc, vf_exp_neg(vf_sub(vf_load_n_fill(lr + c, cols - c, -INFINITY), ms)));
        vf w = vf_set1(drow[r] / vf_hsum(acc));
        for (c = 0; c + VLEN <= cols; c += VLEN)
            vf_store(dr + c, vf_fmadd(w, vf_exp_neg(vf_sub(vf_load(lr + c), ms)), vf_load(dr + c)));
        if (c < cols) {
            size_t k = cols - c;
            vf e = vf_exp_neg(vf_sub(vf_load_n(lr + c, k), ms));
            vf_store_n(dr + c, vf_fmadd(w, e, vf_load_n(dr + c, k)), k);
        }
        if (cols)
            dr[labels[r]] -= drow[r];
    }
}
#endif

/* y = e^x / sum_len e^x along len of (outer, len, inner) */
#if ELBO_REFERENCE
void KERNEL(elbo_softmax)(size_t outer, size_t len, size_t inner, const float *x, float *y)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *xo = x + o * len * inner + i;
            float *yo = y + o * len * inner + i;
            float m = -INFINITY;
            for (size_t l = 0; l < len; l++)
                m = fmaxf(m, xo[l * inner]);
            double s = 0.0;
            for (size_t l = 0; l < len; l++)
                s += exp((double)xo[l * inner] - m);
            for (size_t l = 0; l < len; l++)
                yo[l * inner] = (float)(exp((double)xo[l * inner] - m) / s);
        }
}
#else
void KERNEL(elbo_softmax)(size_t outer, size_t len, size_t inner, const float *x, float *y)
{
    for (size_t o = 0; o < outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * len * inner;
        if (inner == 1) { /* a contiguous row */
            float s = exp_shift_row(len, xo, max1(len, xo), yo);
            scale_row(len, 1.0f / s, yo, yo);
            continue;
        }
        for (size_t i = 0; i < inner; i += VLEN) {
            size_t k = inner - i < VLEN ? inner - i : VLEN;
            vf m, s;
            axis_max_sum(len, inner, xo + i, k, yo + i, &m, &s);
            vf inv = vf_div(vf_set1(1.0f), s);
            for (size_t l = 0; l < len; l++)
                lanes_store(yo + l * inner + i, vf_mul(inv, lanes_load(yo + l * inner + i, k)), k);
        }
    }
}
#endif

/* dx += y (dy - sum_len dy y) */
#if ELBO_REFERENCE
void KERNEL(elbo_softmax_bwd)(size_t outer, size_t len, size_t inner, const float *y, const float *dy, float *dx)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t b = o * len * inner + i;
            double dot = 0.0;
            for (size_t l = 0; l < len; l++)
                dot += (double)dy[b + l * inner] * y[b + l * inner];
            for (size_t l = 0; l < len; l++)
                dx[b + l * inner] += (float)((double)y[b + l * inner] * ((double)dy[b + l * inner] - dot));
        }
}
#else
void KERNEL(elbo_softmax_bwd)(size_t outer, size_t len, size_t inner, const float *y, const float *dy, float *dx)
{
    for (size_t o = 0; o < outer; o++) {
        size_t b = o * len * inner;
        if (inner == 1) {
            vf dot = vf_set1(dot_row(len, dy + b, y + b));
            size_t l = 0;
            for (; l + VLEN <= len; l += VLEN)
                vf_store(dx + b + l, vf_fmadd(vf_load(y + b + l), vf_sub(vf_load(dy + b + l), dot), vf_load(dx + b + l)));
            if (l < len) {
                size_t k = len - l;
                vf g = vf_mul(vf_load_n(y + b + l, k), vf_sub(vf_load_n(dy + b + l, k), dot));
                vf_store_n(dx + b + l, vf_add(vf_load_n(dx + b + l, k), g), k);
            }
            continue;
        }
        for (size_t i = 0; i < inner; i += VLEN) {
            size_t k = inner - i < VLEN ? inner - i : VLEN;
            vf dot = vf_zero();
            for (size_t l = 0; l < len; l++)
                dot = vf_fmadd(lanes_load(dy + b + l * inner + i, k), lanes_load(y + b + l * inner + i, k), dot);
            for (size_t l = 0; l < len; l++) {
                size_t e = b + l * inner + i;
                vf g = vf_mul(lanes_load(y + e, k), vf_sub(lanes_load(dy + e, k), dot));
                lanes_store(dx + e, vf_add(lanes_load(dx + e, k), g), k);
            }
        }
    }
}
#endif

/* y = x - log sum_len e^x along len of (outer, len, inner) */
#if ELBO_REFERENCE
void KERNEL(elbo_log_softmax)(size_t outer, size_t len, size_t inner, const float *x, float *y)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *xo = x + o * len * inner + i;
            float *yo = y + o * len * inner + i;
            float m = -INFINITY;
            for (size_t l = 0; l < len; l++)
                m = fmaxf(m, xo[l * inner]);
            double s = 0.0;
            for (size_t l = 0; l < len; l++)
                s += exp((double)xo[l * inner] - m);
            double ls = log(s);
            for (size_t l = 0; l < len; l++)
                yo[l * inner] = (float)((double)xo[l * inner] - m - ls);
        }
}
#else
void KERNEL(elbo_log_softmax)(size_t outer, size_t len, size_t inner, const float *x, float *y)
{
    for (size_t o = 0; o < outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * len * inner;
        if (inner == 1) { /* y = (x - m) - log s */
            float m, s = len <= LSE_TWO_PASS_MAX ? lse2(len, xo, &m) : lse1(len, xo, &m);
            vf ms = vf_set1(m), ls = vf_set1(logf(s));
            size_t l = 0;
            for (; l + VLEN <= len; l += VLEN)
                vf_store(yo + l, vf_sub(vf_sub(vf_load(xo + l), ms), ls));
            if (l < len)
                vf_store_n(yo + l, vf_sub(vf_sub(vf_load_n(xo + l, len - l), ms), ls), len - l);
            continue;
        }
        for (size_t i = 0; i < inner; i += VLEN) {
            size_t k = inner - i < VLEN ? inner - i : VLEN;
            vf m, s;
            axis_max_sum(len, inner, xo + i, k, NULL, &m, &s);
            vf ls = vf_log(s);
            for (size_t l = 0; l < len; l++)
                lanes_store(yo + l * inner + i, vf_sub(vf_sub(lanes_load(xo + l * inner + i, k), m), ls), k);
        }
    }
}
#endif

/* dx += dy - e^y sum_len dy */
#if ELBO_REFERENCE
void KERNEL(elbo_log_softmax_bwd)(size_t outer, size_t len, size_t inner, const float *y, const float *dy, float *dx)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t b = o * len * inner + i;
            double sum = 0.0;
            for (size_t l = 0; l < len; l++)
                sum += dy[b + l * inner];
            for (size_t l = 0; l < len; l++)
                dx[b + l * inner] += (float)((double)dy[b + l * inner] - exp((double)y[b + l * inner]) * sum);
        }
}
#else
void KERNEL(elbo_log_softmax_bwd)(size_t outer, size_t len, size_t inner, const float *y, const float *dy, float *dx)
{
    for (size_t o = 0; o < outer; o++) {
        size_t b = o * len * inner;
        if (inner == 1) {
            vf sum = vf_set1((float)KERNEL(elbo_sum)(len, dy + b));
            size_t l = 0;
            for (; l + VLEN <= len; l += VLEN) {
                vf g = vf_fnmadd(vf_exp(vf_load(y + b + l)), sum, vf_load(dy + b + l));
                vf_store(dx + b + l, vf_add(vf_load(dx + b + l), g));
            }
            if (l < len) {
                size_t k = len - l;
                vf g = vf_fnmadd(vf_exp(vf_load_n(y + b + l, k)), sum, vf_load_n(dy + b + l, k));
                vf_store_n(dx + b + l, vf_add(vf_load_n(dx + b + l, k), g), k);
            }
            continue;
        }
        for (size_t i = 0; i < inner; i += VLEN) {
            size_t k = inner - i < VLEN ? inner - i : VLEN;
            vf sum = vf_zero();
            for (size_t l = 0; l < len; l++)
                sum = vf_add(sum, lanes_load(dy + b + l * inner + i, k));
            for (size_t l = 0; l < len; l++) {
                size_t e = b + l * inner + i;
                vf g = vf_fnmadd(vf_exp(lanes_load(y + e, k)), sum, lanes_load(dy + e, k));
                lanes_store(dx + e, vf_add(lanes_load(dx + e, k), g), k);
            }
        }
    }
}
#endif
