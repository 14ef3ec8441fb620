/* The im2col pair of the convolutions (ops/conv.c), over rows
 * [row0, row0 + nrows) of the im2col matrix of a geometry g (ops/geom.h):
 * row r is output pixel (n, oh, ow) in NHWC order, holding the kh*kw*cin
 * input values its window reads, ordered (kh, kw, cin), zeros outside the
 * image.
 *   im2col: col (nrows, kh*kw*cin) = those rows of x
 *   col2im: dx += each row added back at the pixels it was read from, rows in
 *           order, then (kh, kw, cin) in order
 * In NHWC a row is kh runs of kw*cin contiguous floats when dil_w = 1 (cin
 * floats otherwise). Each SIMD kernel moves whole runs with vector loads and
 * stores beside its naive per-element reference (the reference build); both
 * do the same float additions in the same order, so they match bit for bit. */
#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#include <stdbool.h>

/* Where row r's window sits: the first input row and column it reads. */
typedef struct win_origin {
    size_t n;
    long ih0, iw0;
} win_origin;

static inline win_origin origin_of(const elbo_conv2d_geom *g, size_t r)
{
    size_t per_image = (size_t)g->oh * (size_t)g->ow, q = r % per_image;
    return (win_origin){.n = r / per_image,
                        .ih0 = (long)(q / (size_t)g->ow) * g->stride_h - g->pad_h,
                        .iw0 = (long)(q % (size_t)g->ow) * g->stride_w - g->pad_w};
}

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

/* The kernel columns kw in [*lo, *hi) whose input column iw0 + kw dil lies in [0, w). */
static inline void kw_range(const elbo_conv2d_geom *g, long iw0, size_t *lo, size_t *hi)
{
    size_t a = 0, b = (size_t)g->kw;
    while (a < b && iw0 + (long)a * g->dil_w < 0)
        a++;
    while (b > a && iw0 + (long)(b - 1) * g->dil_w >= g->w)
        b--;
    *lo = a;
    *hi = b;
}

/* y[0:n] = x[0:n] */
static inline void copy_run(size_t n, const float *x, float *y)
{
    size_t j = 0;
    for (; j + VLEN <= n; j += VLEN)
        vf_store(y + j, vf_load(x + j));
    if (j < n)
        vf_store_n(y + j, vf_load_n(x + j, n - j), n - j);
}

/* y[0:n] = 0 */
static inline void zero_run(size_t n, float *y)
{
    size_t j = 0;
    for (; j + VLEN <= n; j += VLEN)
        vf_store(y + j, vf_zero());
    if (j < n)
        vf_store_n(y + j, vf_zero(), n - j);
}

/* y[0:n] += x[0:n] */
static inline void add_run(size_t n, const float *x, float *y)
{
    size_t j = 0;
    for (; j + VLEN <= n; j += VLEN)
        vf_store(y + j, vf_add(vf_load(y + j), vf_load(x + j)));
    if (j < n)
        vf_store_n(y + j, vf_add(vf_load_n(y + j, n - j), vf_load_n(x + j, n - j)), n - j);
}

#endif

/* col = rows [row0, row0+nrows) of the im2col matrix of x */
#if ELBO_REFERENCE
void KERNEL(elbo_im2col)(const elbo_conv2d_geom *g, size_t row0, size_t nrows, const float *x, float *col)
{
    size_t cin = (size_t)g->cin, K = (size_t)g->kh * (size_t)g->kw * cin;
    for (size_t r = 0; r < nrows; r++) {
        win_origin o = origin_of(g, row0 + r);
        for (size_t kh = 0; kh < (size_t)g->kh; kh++)
            for (size_t kw = 0; kw < (size_t)g->kw; kw++)
                for (size_t ci = 0; ci < cin; ci++) {
                    long ih = o.ih0 + (long)kh * g->dil_h, iw = o.iw0 + (long)kw * g->dil_w;
                    bool in = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w;
                    col[r * K + (kh * (size_t)g->kw + kw) * cin + ci] =
                        in ? x[((o.n * (size_t)g->h + (size_t)ih) * (size_t)g->w + (size_t)iw) * cin + ci] : 0.0f;
                }
    }
}
#else
void KERNEL(elbo_im2col)(const elbo_conv2d_geom *g, size_t row0, size_t nrows, const float *x, float *col)
{
    size_t cin = (size_t)g->cin, kwc = (size_t)g->kw * cin, K = (size_t)g->kh * kwc;
    for (size_t r = 0; r < nrows; r++) {
        win_origin o = origin_of(g, row0 + r);
        size_t lo, hi;
        kw_range(g, o.iw0, &lo, &hi);
        for (size_t kh = 0; kh < (size_t)g->kh; kh++) {
            float *dst = col + r * K + kh * kwc;
            long ih = o.ih0 + (long)kh * g->dil_h;
            if (ih < 0 || ih >= g->h || lo == hi) {
                zero_run(kwc, dst);
                continue;
            }
            const float *src = x + (o.n * (size_t)g->h + (size_t)ih) * (size_t)g->w * cin;
            zero_run(lo * cin, dst);
            if (g->dil_w == 1) /* one contiguous run of (hi - lo) pixels */
                copy_run((hi - lo) * cin, src + (size_t)(o.iw0 + (long)lo) * cin, dst + lo * cin);
            else
                for (size_t kw = lo; kw < hi; kw++)
                    copy_run(cin, src + (size_t)(o.iw0 + (long)kw * g->dil_w) * cin, dst + kw * cin);
            zero_run(kwc - hi * cin, dst + hi * cin);
        }
    }
}
#endif

/* dx += rows [row0, row0+nrows) of col, each element at the input pixel it came from */
#if ELBO_REFERENCE
void KERNEL(elbo_col2im)(const elbo_conv2d_geom *g, size_t row0, size_t nrows, const float *col, float *dx)
{
    size_t cin = (size_t)g->cin, K = (size_t)g->kh * (size_t)g->kw * cin;
    for (size_t r = 0; r < nrows; r++) {
        win_origin o = origin_of(g, row0 + r);
        for (size_t kh = 0; kh < (size_t)g->kh; kh++)
            for (size_t kw = 0; kw < (size_t)g->kw; kw++)
                for (size_t ci = 0; ci < cin; ci++) {
                    long ih = o.ih0 + (long)kh * g->dil_h, iw = o.iw0 + (long)kw * g->dil_w;
                    if (ih >= 0 && ih < g->h && iw >= 0 && iw < g->w)
                        dx[((o.n * (size_t)g->h + (size_t)ih) * (size_t)g->w + (size_t)iw) * cin + ci] +=
                            col[r * K + (kh * (size_t)g->kw + kw) * cin + ci];
                }
    }
}
#else
void KERNEL(elbo_col2im)(const elbo_conv2d_geom *g, size_t row0, size_t nrows, const float *col, float *dx)
{
    size_t cin = (size_t)g->cin, kwc = (size_t)g->kw * cin, K = (size_t)g->kh * kwc;
    for (size_t r = 0; r < nrows; r++) {
        win_origin o = origin_of(g, row0 + r);
        size_t lo, hi;
        kw_range(g, o.iw0, &lo, &hi);
        for (size_t kh = 0; kh < (size_t)g->kh; kh++) {
            long ih = o.ih0 + (long)kh * g->dil_h;
            if (ih < 0 || ih >= g->h)
                continue;
            const float *src = col + r * K + kh * kwc;
            float *dst = dx + (o.n * (size_t)g->h + (size_t)ih) * (size_t)g->w * cin;
            if (g->dil_w == 1)
                add_run((hi - lo) * cin, src + lo * cin, dst + (size_t)(o.iw0 + (long)lo) * cin);
            else
                for (size_t kw = lo; kw < hi; kw++)
                    add_run(cin, src + kw * cin, dst + (size_t)(o.iw0 + (long)kw * g->dil_w) * cin);
        }
    }
}
#endif
