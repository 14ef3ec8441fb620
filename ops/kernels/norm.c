/* Group normalization of n samples of (hw, c): pixels by channels (NHWC),
 * in groups of cg = c/groups consecutive channels. Per (sample, group):
 * mean and rstd = 1/sqrt(var + eps) over its hw*cg values (var biased, as in
 * PyTorch), stats = (mean, rstd); y = (x - mean) rstd gamma[c] + beta[c].
 * Layer normalization of rows is the case hw = 1, groups = 1 (the affine
 * parameters then run along the row). gamma and beta may be NULL (no
 * affine: 1 and 0). groups divides c and is at most ELBO_NORM_MAX_GROUPS.
 *
 * Each SIMD kernel, written once over ops/simd.h, sits beside its naive
 * scalar reference (the reference build: double sums per group). The SIMD
 * kernels run across channels, a block of NORM_CB channels at a time (the
 * contiguous direction of NHWC whatever the group size), summing each
 * channel over NORM_PB pixels in float before the double total. */
#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#include <math.h>
#include <stdbool.h>

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

#define NORM_CB 64 /* channels per block: NORM_CB / VLEN accumulator vectors */
#define NORM_PB 64 /* pixels summed in float before the double total */

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* k <= VLEN floats at p (masked below VLEN) */
static inline vf load_k(const float *p, size_t k) { return k == VLEN ? vf_load(p) : vf_load_n(p, k); }
static inline void store_k(float *p, vf v, size_t k)
{
    if (k == VLEN)
        vf_store(p, v);
    else
        vf_store_n(p, v, k);
}

/* acc[g] += sum of gamma[j] v[j] over the channels j of the block [c0,
 * c0 + cb) in group g (groups of cg channels; gamma NULL: 1), channels in
 * order, each group's block part summed before it is added. (A loop over
 * channels adding into acc[(c0 + j) / cg] was miscompiled by clang 14's loop
 * vectorizer at -O2.) */
static void group_sums(size_t c0, size_t cb, size_t cg, const double *v, const float *gamma, double *acc)
{
    for (size_t j = 0; j < cb;) {
        size_t g = (c0 + j) / cg, end = min_sz((g + 1) * cg - c0, cb);
        double s = 0.0;
        for (; j < end; j++)
            s += (gamma ? gamma[c0 + j] : 1.0) * v[j];
        acc[g] += s;
    }
}

/* The per-channel constants of one block, NORM_CB floats each (zero past cb). */
typedef struct chan_block {
    float shift[NORM_CB], scale[NORM_CB], bias[NORM_CB];
} chan_block;

/* Over the block's cb channels at x (row stride c), for j < cb:
 * d1[j] = sum_p u, d2[j] = sum_p u v, where u = x - shift[j] (square: v = u)
 * or, with dy, u = dy and v = (x - shift[j]) scale[j] (the normalized x). */
static void channel_sums(size_t hw, size_t c, const float *x, const float *dy, size_t cb, const chan_block *b,
                         double *d1, double *d2)
{
    size_t nv = (cb + VLEN - 1) / VLEN;
    for (size_t j = 0; j < cb; j++)
        d1[j] = d2[j] = 0.0;
    for (size_t p0 = 0; p0 < hw; p0 += NORM_PB) {
        vf a1[NORM_CB / VLEN], a2[NORM_CB / VLEN];
        for (size_t v = 0; v < nv; v++)
            a1[v] = a2[v] = vf_zero();
        for (size_t p = p0; p < min_sz(hw, p0 + NORM_PB); p++)
            for (size_t v = 0; v < nv; v++) {
                size_t k = min_sz(VLEN, cb - v * VLEN), o = p * c + v * VLEN;
                vf xc = vf_sub(load_k(x + o, k), vf_load(b->shift + v * VLEN));
                if (dy) {
                    vf g = load_k(dy + o, k);
                    a1[v] = vf_add(a1[v], g);
                    a2[v] = vf_fmadd(g, vf_mul(xc, vf_load(b->scale + v * VLEN)), a2[v]);
                } else {
                    a1[v] = vf_add(a1[v], xc);
                    a2[v] = vf_fmadd(xc, xc, a2[v]);
                }
            }
        float t1[NORM_CB], t2[NORM_CB];
        for (size_t v = 0; v < nv; v++) {
            vf_store(t1 + v * VLEN, a1[v]);
            vf_store(t2 + v * VLEN, a2[v]);
        }
        for (size_t j = 0; j < cb; j++) {
            d1[j] += t1[j];
            d2[j] += t2[j];
        }
    }
}

#endif

/* stats = (mean, rstd) per (sample, group); y = (x - mean) rstd gamma + beta */
#if ELBO_REFERENCE
void KERNEL(elbo_groupnorm)(size_t n, size_t hw, size_t c, size_t groups, float eps, const float *x,
                            const float *gamma, const float *beta, float *y, float *stats)
{
    size_t cg = c / groups;
    double m = (double)(hw * cg);
    for (size_t s = 0; s < n; s++)
        for (size_t g = 0; g < groups; g++) {
            const float *xs = x + s * hw * c;
            float *ys = y + s * hw * c;
            double sum = 0.0, ss = 0.0;
            for (size_t p = 0; p < hw; p++)
                for (size_t ch = g * cg; ch < (g + 1) * cg; ch++)
                    sum += xs[p * c + ch];
            double mean = sum / m;
            for (size_t p = 0; p < hw; p++)
                for (size_t ch = g * cg; ch < (g + 1) * cg; ch++)
                    ss += (xs[p * c + ch] - mean) * (xs[p * c + ch] - mean);
            double rstd = 1.0 / sqrt(ss / m + eps);
            stats[(s * groups + g) * 2] = (float)mean;
            stats[(s * groups + g) * 2 + 1] = (float)rstd;
            for (size_t p = 0; p < hw; p++)
                for (size_t ch = g * cg; ch < (g + 1) * cg; ch++)
                    ys[p * c + ch] = (float)((xs[p * c + ch] - mean) * rstd * (gamma ? gamma[ch] : 1.0f) +
                                             (beta ? beta[ch] : 0.0f));
        }
}
#else
/* Per sample: channel sums give the group means, channel sums of squares
 * around them the group variances, then one pass applies
 * y = (x - mean) (rstd gamma) + beta per channel. */
void KERNEL(elbo_groupnorm)(size_t n, size_t hw, size_t c, size_t groups, float eps, const float *x,
                            const float *gamma, const float *beta, float *y, float *stats)
{
    size_t cg = c / groups;
    double m = (double)(hw * cg);
    for (size_t s = 0; s < n; s++) {
        const float *xs = x + s * hw * c;
        float *ys = y + s * hw * c, *st = stats + s * groups * 2;
        double gsum[ELBO_NORM_MAX_GROUPS], gss[ELBO_NORM_MAX_GROUPS], d1[NORM_CB], d2[NORM_CB];
        chan_block b;
        memset(&b, 0, sizeof b);
        for (size_t g = 0; g < groups; g++)
            gsum[g] = gss[g] = 0.0;
        for (size_t c0 = 0; c0 < c; c0 += NORM_CB) { /* the sums: b.shift = 0 */
            size_t cb = min_sz(NORM_CB, c - c0);
            channel_sums(hw, c, xs + c0, NULL, cb, &b, d1, d2);
            group_sums(c0, cb, cg, d1, NULL, gsum);
        }
        for (size_t c0 = 0; c0 < c; c0 += NORM_CB) { /* squares around the group means */
            size_t cb = min_sz(NORM_CB, c - c0);
            for (size_t j = 0; j < cb; j++)
                b.shift[j] = (float)(gsum[(c0 + j) / cg] / m);
            channel_sums(hw, c, xs + c0, NULL, cb, &b, d1, d2);
            group_sums(c0, cb, cg, d2, NULL, gss);
        }
        for (size_t g = 0; g < groups; g++) {
            st[2 * g] = (float)(gsum[g] / m);
            st[2 * g + 1] = (float)(1.0 / sqrt(gss[g] / m + eps));
        }
        for (size_t c0 = 0; c0 < c; c0 += NORM_CB) {
            size_t cb = min_sz(NORM_CB, c - c0), nv = (cb + VLEN - 1) / VLEN;
            for (size_t j = 0; j < cb; j++) {
                size_t g = (c0 + j) / cg;
                b.shift[j] = st[2 * g];
                b.scale[j] = st[2 * g + 1] * (gamma ? gamma[c0 + j] : 1.0f);
                b.bias[j] = beta ? beta[c0 + j] : 0.0f;
            }
            for (size_t p = 0; p < hw; p++)
                for (size_t v = 0; v < nv; v++) {
                    size_t k = min_sz(VLEN, cb - v * VLEN), o = p * c + c0 + v * VLEN;
                    vf xc = vf_sub(load_k(xs + o, k), vf_load(b.shift + v * VLEN));
                    store_k(ys + o, vf_fmadd(xc, vf_load(b.scale + v * VLEN), vf_load(b.bias + v * VLEN)), k);
                }
        }
    }
}
#endif

/* with xhat = (x - mean) rstd and g = gamma dy, per (sample, group):
 * dx += rstd (g - mean(g) - xhat mean(g xhat)), means over the group;
 * csum (n, 2c) is written: per sample and channel (sum_p dy, sum_p dy xhat),
 * whose column sums are dbeta and dgamma */
#if ELBO_REFERENCE
void KERNEL(elbo_groupnorm_bwd)(size_t n, size_t hw, size_t c, size_t groups, const float *x, const float *gamma,
                                const float *stats, const float *dy, float *dx, float *csum)
{
    size_t cg = c / groups;
    double m = (double)(hw * cg);
    for (size_t s = 0; s < n; s++) {
        const float *xs = x + s * hw * c, *gs = dy + s * hw * c;
        float *dxs = dx + s * hw * c, *cs = csum + s * 2 * c;
        for (size_t ch = 0; ch < c; ch++) {
            size_t g = ch / cg;
            double mean = stats[(s * groups + g) * 2], rstd = stats[(s * groups + g) * 2 + 1];
            double s1 = 0.0, s2 = 0.0;
            for (size_t p = 0; p < hw; p++) {
                s1 += gs[p * c + ch];
                s2 += gs[p * c + ch] * ((xs[p * c + ch] - mean) * rstd);
            }
            cs[ch] = (float)s1;
            cs[c + ch] = (float)s2;
        }
        for (size_t g = 0; g < groups; g++) {
            double mean = stats[(s * groups + g) * 2], rstd = stats[(s * groups + g) * 2 + 1];
            double a = 0.0, b = 0.0; /* sum g, sum g xhat */
            for (size_t p = 0; p < hw; p++)
                for (size_t ch = g * cg; ch < (g + 1) * cg; ch++) {
                    double gm = gs[p * c + ch] * (gamma ? gamma[ch] : 1.0f);
                    a += gm;
                    b += gm * ((xs[p * c + ch] - mean) * rstd);
                }
            for (size_t p = 0; p < hw; p++)
                for (size_t ch = g * cg; ch < (g + 1) * cg; ch++) {
                    double gm = gs[p * c + ch] * (gamma ? gamma[ch] : 1.0f);
                    double xh = (xs[p * c + ch] - mean) * rstd;
                    dxs[p * c + ch] += (float)(rstd * (gm - a / m - xh * b / m));
                }
        }
    }
}
#else
/* Per sample: one pass of channel sums (dy and dy xhat: csum), whose
 * gamma-weighted group totals are sum g and sum g xhat; one pass applies
 * dx += (rstd gamma) dy - rstd sum g / m - xhat rstd sum(g xhat) / m. */
void KERNEL(elbo_groupnorm_bwd)(size_t n, size_t hw, size_t c, size_t groups, const float *x, const float *gamma,
                                const float *stats, const float *dy, float *dx, float *csum)
{
    size_t cg = c / groups;
    double m = (double)(hw * cg);
    for (size_t s = 0; s < n; s++) {
        const float *xs = x + s * hw * c, *gs = dy + s * hw * c, *st = stats + s * groups * 2;
        float *dxs = dx + s * hw * c, *cs = csum + s * 2 * c;
        double ga[ELBO_NORM_MAX_GROUPS], gb[ELBO_NORM_MAX_GROUPS], d1[NORM_CB], d2[NORM_CB];
        chan_block b, w;
        memset(&b, 0, sizeof b);
        memset(&w, 0, sizeof w);
        for (size_t g = 0; g < groups; g++)
            ga[g] = gb[g] = 0.0;
        for (size_t c0 = 0; c0 < c; c0 += NORM_CB) {
            size_t cb = min_sz(NORM_CB, c - c0);
            for (size_t j = 0; j < cb; j++) {
                b.shift[j] = st[2 * ((c0 + j) / cg)];
                b.scale[j] = st[2 * ((c0 + j) / cg) + 1];
            }
            channel_sums(hw, c, xs + c0, gs + c0, cb, &b, d1, d2);
            for (size_t j = 0; j < cb; j++) {
                cs[c0 + j] = (float)d1[j];
                cs[c + c0 + j] = (float)d2[j];
            }
            group_sums(c0, cb, cg, d1, gamma, ga);
            group_sums(c0, cb, cg, d2, gamma, gb);
        }
        for (size_t c0 = 0; c0 < c; c0 += NORM_CB) {
            size_t cb = min_sz(NORM_CB, c - c0), nv = (cb + VLEN - 1) / VLEN;
            for (size_t j = 0; j < cb; j++) {
                size_t g = (c0 + j) / cg;
                float rstd = st[2 * g + 1];
                b.shift[j] = st[2 * g];
                b.scale[j] = rstd;                                  /* xhat = (x - mean) rstd */
                w.scale[j] = rstd * (gamma ? gamma[c0 + j] : 1.0f); /* dy coefficient */
                w.shift[j] = (float)(-rstd * ga[g] / m);            /* constant term */
                w.bias[j] = (float)(-rstd * gb[g] / m);             /* xhat coefficient */
            }
            for (size_t p = 0; p < hw; p++)
                for (size_t v = 0; v < nv; v++) {
                    size_t k = min_sz(VLEN, cb - v * VLEN), o = p * c + c0 + v * VLEN, q = v * VLEN;
                    vf xh = vf_mul(vf_sub(load_k(xs + o, k), vf_load(b.shift + q)), vf_load(b.scale + q));
                    vf d = vf_fmadd(vf_load(w.scale + q), load_k(gs + o, k), vf_load(w.shift + q));
                    d = vf_fmadd(vf_load(w.bias + q), xh, d);
                    store_k(dxs + o, vf_add(load_k(dxs + o, k), d), k);
                }
        }
    }
}
#endif
