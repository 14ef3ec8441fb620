/* Elementwise kernels, row broadcast, column sums and the reparameterized
 * sample: each SIMD kernel, written once over ops/simd.h, beside its naive
 * scalar reference (compiled in the reference build, ELBO_REFERENCE). SIMD
 * loops run full vectors, then one masked vector for the n % VLEN tail
 * (vf_load_n / vf_store_n). Signatures and formulas: ops/kernels/list.h. */

#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#if ELBO_REFERENCE
#include <math.h>
#endif

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

/* Rows of at most this many floats take the flat path of add_bias: the bias
 * repeated VLEN times (cols * VLEN floats, whole vectors) on the stack. */
#define BIAS_FLAT_MAX 16

/* z = mu + e^(lv/2) eps */
static inline vf reparam1(vf mu, vf lv, vf eps)
{
    return vf_fmadd(vf_exp(vf_mul(vf_set1(0.5f), lv)), eps, mu);
}

/* dmu += dz ; dlv += dz eps 0.5 e^(lv/2) */
static inline vf reparam_dlv1(vf lv, vf eps, vf dz)
{
    vf half = vf_set1(0.5f);
    return vf_mul(vf_mul(dz, eps), vf_mul(half, vf_exp(vf_mul(half, lv))));
}

#endif

/* y = a + b */
#if ELBO_REFERENCE
void KERNEL(elbo_add)(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}
#else
/* y = a + b   (a, b, y all (n)) */
void KERNEL(elbo_add)(size_t n, const float *a, const float *b, float *y)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_add(vf_load(a + i), vf_load(b + i)));
    if (i < n)
        vf_store_n(y + i, vf_add(vf_load_n(a + i, n - i), vf_load_n(b + i, n - i)), n - i);
}
#endif

/* y = a - b */
#if ELBO_REFERENCE
void KERNEL(elbo_sub)(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] - b[i];
}
#else
void KERNEL(elbo_sub)(size_t n, const float *a, const float *b, float *y)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_sub(vf_load(a + i), vf_load(b + i)));
    if (i < n)
        vf_store_n(y + i, vf_sub(vf_load_n(a + i, n - i), vf_load_n(b + i, n - i)), n - i);
}
#endif

/* y = a * b */
#if ELBO_REFERENCE
void KERNEL(elbo_mul)(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}
#else
void KERNEL(elbo_mul)(size_t n, const float *a, const float *b, float *y)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_mul(vf_load(a + i), vf_load(b + i)));
    if (i < n)
        vf_store_n(y + i, vf_mul(vf_load_n(a + i, n - i), vf_load_n(b + i, n - i)), n - i);
}
#endif

/* y = s * x */
#if ELBO_REFERENCE
void KERNEL(elbo_scale)(size_t n, float s, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = s * x[i];
}
#else
void KERNEL(elbo_scale)(size_t n, float s, const float *x, float *y)
{
    vf vs = vf_set1(s);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_mul(vs, vf_load(x + i)));
    if (i < n)
        vf_store_n(y + i, vf_mul(vs, vf_load_n(x + i, n - i)), n - i);
}
#endif

/* y += a * x */
#if ELBO_REFERENCE
void KERNEL(elbo_axpy)(size_t n, float a, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}
#else
/* y += a * x  (fused) */
void KERNEL(elbo_axpy)(size_t n, float a, const float *x, float *y)
{
    vf va = vf_set1(a);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_fmadd(va, vf_load(x + i), vf_load(y + i)));
    if (i < n) {
        size_t k = n - i;
        vf_store_n(y + i, vf_fmadd(va, vf_load_n(x + i, k), vf_load_n(y + i, k)), k);
    }
}
#endif

/* y += a * b */
#if ELBO_REFERENCE
void KERNEL(elbo_fma)(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fmaf(a[i], b[i], y[i]);
}
#else
/* y += a * b  (fused) */
void KERNEL(elbo_fma)(size_t n, const float *a, const float *b, float *y)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, vf_fmadd(vf_load(a + i), vf_load(b + i), vf_load(y + i)));
    if (i < n) {
        size_t k = n - i;
        vf_store_n(y + i, vf_fmadd(vf_load_n(a + i, k), vf_load_n(b + i, k), vf_load_n(y + i, k)), k);
    }
}
#endif

/* y is (R,C), b is (C): y[r,c] += b[c] */
#if ELBO_REFERENCE
void KERNEL(elbo_add_bias)(size_t rows, size_t cols, const float *b, float *y)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            y[r * cols + c] += b[c];
}
#else
/* y is (R,C), b is (C): y[r,c] += b[c], one pass over the whole block.
 * Narrow rows (C <= BIAS_FLAT_MAX): y is a flat array with a period of
 * C * VLEN floats = VLEN whole vectors of the repeated bias. Wider rows: the
 * bias vectors are loaded once when they fit in registers, else per row. */
void KERNEL(elbo_add_bias)(size_t rows, size_t cols, const float *b, float *y)
{
    if (cols == 0 || rows == 0)
        return;
    if (cols <= BIAS_FLAT_MAX) {
        float pat[BIAS_FLAT_MAX * VLEN];
        size_t period = cols * VLEN, n = rows * cols, i = 0;
        for (size_t p = 0; p < period; p++)
            pat[p] = b[p % cols];
        for (; i + period <= n; i += period)
            for (size_t p = 0; p < period; p += VLEN)
                vf_store(y + i + p, vf_add(vf_load(y + i + p), vf_load(pat + p)));
        size_t p = 0;
        for (; i + VLEN <= n; i += VLEN, p += VLEN)
            vf_store(y + i, vf_add(vf_load(y + i), vf_load(pat + p)));
        if (i < n)
            vf_store_n(y + i, vf_add(vf_load_n(y + i, n - i), vf_load(pat + p)), n - i);
        return;
    }
    size_t full = cols / VLEN, tail = cols % VLEN;
    if (full <= 4) { /* up to 5 bias vectors in registers */
        vf bv[5];
        for (size_t v = 0; v < full; v++)
            bv[v] = vf_load(b + v * VLEN);
        bv[full] = tail ? vf_load_n(b + full * VLEN, tail) : vf_zero();
        for (size_t r = 0; r < rows; r++) {
            float *yr = y + r * cols;
            for (size_t v = 0; v < full; v++)
                vf_store(yr + v * VLEN, vf_add(vf_load(yr + v * VLEN), bv[v]));
            if (tail)
                vf_store_n(yr + full * VLEN, vf_add(vf_load_n(yr + full * VLEN, tail), bv[full]), tail);
        }
        return;
    }
    for (size_t r = 0; r < rows; r++)
        KERNEL(elbo_add)(cols, y + r * cols, b, y + r * cols);
}
#endif

/* x is (R,C), y is (C): y[c] += sum_r x[r,c] */
#if ELBO_REFERENCE
void KERNEL(elbo_col_sum)(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t c = 0; c < cols; c++) {
        double s = 0.0;
        for (size_t r = 0; r < rows; r++)
            s += x[r * cols + c];
        y[c] += (float)s;
    }
}
#else
/* x is (R,C), y is (C): y[c] += sum_r x[r,c], one column block of VLEN at a time */
void KERNEL(elbo_col_sum)(size_t rows, size_t cols, const float *x, float *y)
{
    size_t c = 0;
    for (; c + VLEN <= cols; c += VLEN) {
        vf acc = vf_zero();
        for (size_t r = 0; r < rows; r++)
            acc = vf_add(acc, vf_load(x + r * cols + c));
        vf_store(y + c, vf_add(vf_load(y + c), acc));
    }
    if (c < cols) {
        size_t k = cols - c;
        vf acc = vf_zero();
        for (size_t r = 0; r < rows; r++)
            acc = vf_add(acc, vf_load_n(x + r * cols + c, k));
        vf_store_n(y + c, vf_add(vf_load_n(y + c, k), acc), k);
    }
}
#endif

/* z = mu + e^(lv/2) eps */
#if ELBO_REFERENCE
void KERNEL(elbo_reparam)(size_t n, const float *mu, const float *lv, const float *eps, float *z)
{
    for (size_t i = 0; i < n; i++)
        z[i] = mu[i] + expf(0.5f * lv[i]) * eps[i];
}
#else
void KERNEL(elbo_reparam)(size_t n, const float *mu, const float *lv, const float *eps, float *z)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(z + i, reparam1(vf_load(mu + i), vf_load(lv + i), vf_load(eps + i)));
    if (i < n) {
        size_t k = n - i;
        vf_store_n(z + i, reparam1(vf_load_n(mu + i, k), vf_load_n(lv + i, k), vf_load_n(eps + i, k)), k);
    }
}
#endif

/* dmu += dz ; dlv += dz eps 0.5 e^(lv/2) */
#if ELBO_REFERENCE
void KERNEL(elbo_reparam_bwd)(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                          float *dlv)
{
    for (size_t i = 0; i < n; i++) {
        dmu[i] += dz[i];
        dlv[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * lv[i]);
    }
}
#else
void KERNEL(elbo_reparam_bwd)(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                         float *dlv)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf g = vf_load(dz + i);
        vf_store(dmu + i, vf_add(vf_load(dmu + i), g));
        vf_store(dlv + i, vf_add(vf_load(dlv + i), reparam_dlv1(vf_load(lv + i), vf_load(eps + i), g)));
    }
    if (i < n) {
        size_t k = n - i;
        vf g = vf_load_n(dz + i, k);
        vf_store_n(dmu + i, vf_add(vf_load_n(dmu + i, k), g), k);
        vf d = reparam_dlv1(vf_load_n(lv + i, k), vf_load_n(eps + i, k), g);
        vf_store_n(dlv + i, vf_add(vf_load_n(dlv + i, k), d), k);
    }
}
#endif
