/* NHWC image windows (ops/geom.h): average pooling over k x k windows every
 * `stride` pixels, and nearest-neighbour upsampling by k, forward and
 * backward. Each SIMD kernel, written once over ops/simd.h, runs across the
 * channels of a pixel (the contiguous direction of NHWC) and sits beside its
 * naive scalar reference (the reference build), which adds in the same order,
 * so the backward kernels match it bit for bit. */
#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

/* y[j] += s x[j] for j < c (s = 1: a plain add) */
static inline void add_scaled(size_t c, float s, const float *x, float *y)
{
    vf vs = vf_set1(s);
    size_t j = 0;
    for (; j + VLEN <= c; j += VLEN)
        vf_store(y + j, vf_fmadd(vs, vf_load(x + j), vf_load(y + j)));
    if (j < c)
        vf_store_n(y + j, vf_fmadd(vs, vf_load_n(x + j, c - j), vf_load_n(y + j, c - j)), c - j);
}

/* y[j] = x[j] for j < c */
static inline void copy_floats(size_t c, const float *x, float *y)
{
    size_t j = 0;
    for (; j + VLEN <= c; j += VLEN)
        vf_store(y + j, vf_load(x + j));
    if (j < c)
        vf_store_n(y + j, vf_load_n(x + j, c - j), c - j);
}

#endif

/* y[o] = (1/k^2) sum over the k x k window of o of x, per channel */
#if ELBO_REFERENCE
void KERNEL(elbo_avgpool2d)(const elbo_window2d *g, const float *x, float *y)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t oh = 0; oh < (size_t)g->oh; oh++)
            for (size_t ow = 0; ow < (size_t)g->ow; ow++)
                for (size_t c = 0; c < C; c++) {
                    double acc = 0.0;
                    for (size_t kh = 0; kh < K; kh++)
                        for (size_t kw = 0; kw < K; kw++) {
                            size_t ih = oh * (size_t)g->stride + kh, iw = ow * (size_t)g->stride + kw;
                            acc += x[((s * (size_t)g->h + ih) * (size_t)g->w + iw) * C + c];
                        }
                    y[((s * (size_t)g->oh + oh) * (size_t)g->ow + ow) * C + c] = (float)(acc / (double)(K * K));
                }
}
#else
void KERNEL(elbo_avgpool2d)(const elbo_window2d *g, const float *x, float *y)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    vf inv = vf_set1(1.0f / (float)(K * K));
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t oh = 0; oh < (size_t)g->oh; oh++)
            for (size_t ow = 0; ow < (size_t)g->ow; ow++) {
                float *yo = y + ((s * (size_t)g->oh + oh) * (size_t)g->ow + ow) * C;
                const float *x0 = x + ((s * (size_t)g->h + oh * (size_t)g->stride) * (size_t)g->w +
                                       ow * (size_t)g->stride) * C;
                for (size_t c = 0; c < C; c += VLEN) {
                    size_t k = C - c < VLEN ? C - c : VLEN;
                    vf acc = vf_zero();
                    for (size_t kh = 0; kh < K; kh++)
                        for (size_t kw = 0; kw < K; kw++) {
                            const float *xp = x0 + (kh * (size_t)g->w + kw) * C + c;
                            acc = vf_add(acc, k == VLEN ? vf_load(xp) : vf_load_n(xp, k));
                        }
                    if (k == VLEN)
                        vf_store(yo + c, vf_mul(acc, inv));
                    else
                        vf_store_n(yo + c, vf_mul(acc, inv), k);
                }
            }
}
#endif

/* dx[i] += dy[o] / k^2 for every window o that holds pixel i (windows in order) */
#if ELBO_REFERENCE
void KERNEL(elbo_avgpool2d_bwd)(const elbo_window2d *g, const float *dy, float *dx)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    float inv = 1.0f / (float)(K * K);
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t oh = 0; oh < (size_t)g->oh; oh++)
            for (size_t ow = 0; ow < (size_t)g->ow; ow++)
                for (size_t kh = 0; kh < K; kh++)
                    for (size_t kw = 0; kw < K; kw++)
                        for (size_t c = 0; c < C; c++) {
                            size_t ih = oh * (size_t)g->stride + kh, iw = ow * (size_t)g->stride + kw;
                            float *d = &dx[((s * (size_t)g->h + ih) * (size_t)g->w + iw) * C + c];
                            *d = fmaf(inv, dy[((s * (size_t)g->oh + oh) * (size_t)g->ow + ow) * C + c], *d);
                        }
}
#else
void KERNEL(elbo_avgpool2d_bwd)(const elbo_window2d *g, const float *dy, float *dx)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    float inv = 1.0f / (float)(K * K);
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t oh = 0; oh < (size_t)g->oh; oh++)
            for (size_t ow = 0; ow < (size_t)g->ow; ow++) {
                const float *go = dy + ((s * (size_t)g->oh + oh) * (size_t)g->ow + ow) * C;
                float *d0 = dx + ((s * (size_t)g->h + oh * (size_t)g->stride) * (size_t)g->w +
                                  ow * (size_t)g->stride) * C;
                for (size_t kh = 0; kh < K; kh++)
                    for (size_t kw = 0; kw < K; kw++)
                        add_scaled(C, inv, go, d0 + (kh * (size_t)g->w + kw) * C);
            }
}
#endif

/* y[i, j] = x[i / k, j / k], per channel */
#if ELBO_REFERENCE
void KERNEL(elbo_upsample2d)(const elbo_window2d *g, const float *x, float *y)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t i = 0; i < (size_t)g->oh; i++)
            for (size_t j = 0; j < (size_t)g->ow; j++)
                for (size_t c = 0; c < C; c++)
                    y[((s * (size_t)g->oh + i) * (size_t)g->ow + j) * C + c] =
                        x[((s * (size_t)g->h + i / K) * (size_t)g->w + j / K) * C + c];
}
#else
void KERNEL(elbo_upsample2d)(const elbo_window2d *g, const float *x, float *y)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t i = 0; i < (size_t)g->oh; i++) {
            const float *xr = x + (s * (size_t)g->h + i / K) * (size_t)g->w * C;
            float *yr = y + (s * (size_t)g->oh + i) * (size_t)g->ow * C;
            for (size_t j = 0; j < (size_t)g->ow; j++)
                copy_floats(C, xr + (j / K) * C, yr + j * C);
        }
}
#endif

/* dx[i, j] += the sum of dy over its k x k block (rows, then columns, in order) */
#if ELBO_REFERENCE
void KERNEL(elbo_upsample2d_bwd)(const elbo_window2d *g, const float *dy, float *dx)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t i = 0; i < (size_t)g->h; i++)
            for (size_t j = 0; j < (size_t)g->w; j++)
                for (size_t c = 0; c < C; c++) {
                    float acc = 0.0f;
                    for (size_t a = 0; a < K; a++)
                        for (size_t b = 0; b < K; b++)
                            acc += dy[((s * (size_t)g->oh + i * K + a) * (size_t)g->ow + j * K + b) * C + c];
                    dx[((s * (size_t)g->h + i) * (size_t)g->w + j) * C + c] += acc;
                }
}
#else
void KERNEL(elbo_upsample2d_bwd)(const elbo_window2d *g, const float *dy, float *dx)
{
    size_t C = (size_t)g->c, K = (size_t)g->k;
    for (size_t s = 0; s < (size_t)g->n; s++)
        for (size_t i = 0; i < (size_t)g->h; i++)
            for (size_t j = 0; j < (size_t)g->w; j++) {
                float *d = dx + ((s * (size_t)g->h + i) * (size_t)g->w + j) * C;
                const float *g0 = dy + ((s * (size_t)g->oh + i * K) * (size_t)g->ow + j * K) * C;
                for (size_t c = 0; c < C; c += VLEN) {
                    size_t k = C - c < VLEN ? C - c : VLEN;
                    vf acc = vf_zero();
                    for (size_t a = 0; a < K; a++)
                        for (size_t b = 0; b < K; b++) {
                            const float *gp = g0 + (a * (size_t)g->ow + b) * C + c;
                            acc = vf_add(acc, k == VLEN ? vf_load(gp) : vf_load_n(gp, k));
                        }
                    if (k == VLEN)
                        vf_store(d + c, vf_add(vf_load(d + c), acc));
                    else
                        vf_store_n(d + c, vf_add(vf_load_n(d + c, k), acc), k);
                }
            }
}
#endif
