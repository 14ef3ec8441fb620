/* Fused losses, inputs (R,C), one value per row out (R), written once over
 * ops/simd.h. Forward terms are summed per row in float vectors (masked
 * tails contribute 0); backward adds drow[r] times the elementwise gradient. */
#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

/* log(2 pi), the Gaussian normalizer */
#define LOG_2PI 1.8378770664093454836f

/* ---- Bernoulli NLL from logits l, targets t ---- */

/* softplus(l) - t l: max(l,0) - t l + log1p(e^-|l|), exact cancellation for |l| large */
static inline vf bern1(vf l, vf t) { return vf_fnmadd(t, l, vf_softplus(l)); }

/* out[r] = sum_c softplus(l) - t l */
void KERNEL(elbo_bernoulli_nll)(size_t rows, size_t cols, const float *l, const float *t, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *lr = l + r * cols, *tr = t + r * cols;
        vf acc = vf_zero();
        size_t c = 0;
        for (; c + VLEN <= cols; c += VLEN)
            acc = vf_add(acc, bern1(vf_load(lr + c), vf_load(tr + c)));
        if (c < cols) {
            size_t k = cols - c;
            acc = vf_add(acc, vf_keep_n(bern1(vf_load_n(lr + c, k), vf_load_n(tr + c, k)), k, 0.0f));
        }
        out[r] = vf_hsum(acc);
    }
}

/* dl += drow[r] (sigmoid(l) - t) */
void KERNEL(elbo_bernoulli_nll_bwd)(size_t rows, size_t cols, const float *l, const float *t,
                               const float *drow, float *dl)
{
    for (size_t r = 0; r < rows; r++) {
        size_t o = r * cols, c = 0;
        vf d = vf_set1(drow[r]);
        for (; c + VLEN <= cols; c += VLEN) {
            vf g = vf_sub(vf_sigmoid(vf_load(l + o + c)), vf_load(t + o + c));
            vf_store(dl + o + c, vf_fmadd(d, g, vf_load(dl + o + c)));
        }
        if (c < cols) {
            size_t k = cols - c;
            vf g = vf_sub(vf_sigmoid(vf_load_n(l + o + c, k)), vf_load_n(t + o + c, k));
            vf_store_n(dl + o + c, vf_fmadd(d, g, vf_load_n(dl + o + c, k)), k);
        }
    }
}

/* ---- Gaussian NLL, mean m, targets x (R,C), log-variance lv (C) ---- */

/* log 2pi + lv + (x-m)^2 e^-lv */
static inline vf gauss1(vf m, vf x, vf lv)
{
    vf d = vf_sub(x, m);
    vf iv = vf_exp(vf_sub(vf_zero(), lv));
    return vf_fmadd(vf_mul(d, d), iv, vf_add(vf_set1(LOG_2PI), lv));
}

/* out[r] = 0.5 sum_c [log 2pi + lv[c] + (x-m)^2 e^-lv[c]] */
void KERNEL(elbo_gauss_nll)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                       float *out)
{
    for (size_t r = 0; r < rows; r++) {
        size_t o = r * cols, c = 0;
        vf acc = vf_zero();
        for (; c + VLEN <= cols; c += VLEN)
            acc = vf_add(acc, gauss1(vf_load(m + o + c), vf_load(x + o + c), vf_load(lv + c)));
        if (c < cols) {
            size_t k = cols - c;
            vf g = gauss1(vf_load_n(m + o + c, k), vf_load_n(x + o + c, k), vf_load_n(lv + c, k));
            acc = vf_add(acc, vf_keep_n(g, k, 0.0f));
        }
        out[r] = 0.5f * vf_hsum(acc);
    }
}

/* One vector of gauss_nll_bwd: dm += drow (m-x) e^-lv ; *dlv += drow 0.5 (1 - (x-m)^2 e^-lv) */
static inline vf gauss_bwd1(vf m, vf x, vf lv, vf drow, vf dm, vf *dlv)
{
    vf d = vf_sub(m, x);
    vf iv = vf_exp(vf_sub(vf_zero(), lv));
    vf di = vf_mul(d, iv);
    vf half_drow = vf_mul(vf_set1(0.5f), drow);
    *dlv = vf_fmadd(half_drow, vf_fnmadd(d, di, vf_set1(1.0f)), *dlv);
    return vf_fmadd(drow, di, dm);
}

/* dm += drow (m-x) e^-lv ; dlv[c] += sum_r drow 0.5 (1 - (x-m)^2 e^-lv)  (dlv may be NULL) */
void KERNEL(elbo_gauss_nll_bwd)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                           const float *drow, float *dm, float *dlv)
{
    for (size_t r = 0; r < rows; r++) {
        size_t o = r * cols, c = 0;
        vf d = vf_set1(drow[r]);
        for (; c + VLEN <= cols; c += VLEN) {
            vf g = dlv ? vf_load(dlv + c) : vf_zero();
            vf dmv = gauss_bwd1(vf_load(m + o + c), vf_load(x + o + c), vf_load(lv + c), d,
                                vf_load(dm + o + c), &g);
            vf_store(dm + o + c, dmv);
            if (dlv)
                vf_store(dlv + c, g);
        }
        if (c < cols) {
            size_t k = cols - c;
            vf g = dlv ? vf_load_n(dlv + c, k) : vf_zero();
            vf dmv = gauss_bwd1(vf_load_n(m + o + c, k), vf_load_n(x + o + c, k), vf_load_n(lv + c, k),
                                d, vf_load_n(dm + o + c, k), &g);
            vf_store_n(dm + o + c, dmv, k);
            if (dlv)
                vf_store_n(dlv + c, g, k);
        }
    }
}

/* ---- KL( N(mu, e^lv) || N(0, I) ), mu and lv (R,C) ---- */

/* e^lv + mu^2 - 1 - lv */
static inline vf kl1(vf mu, vf lv)
{
    vf e = vf_exp(lv);
    return vf_fmadd(mu, mu, vf_sub(vf_sub(e, vf_set1(1.0f)), lv));
}

/* out[r] = 0.5 sum_c (e^lv + mu^2 - 1 - lv) */
void KERNEL(elbo_kl_diag)(size_t rows, size_t cols, const float *mu, const float *lv, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        size_t o = r * cols, c = 0;
        vf acc = vf_zero();
        for (; c + VLEN <= cols; c += VLEN)
            acc = vf_add(acc, kl1(vf_load(mu + o + c), vf_load(lv + o + c)));
        if (c < cols) {
            size_t k = cols - c;
            acc = vf_add(acc, vf_keep_n(kl1(vf_load_n(mu + o + c, k), vf_load_n(lv + o + c, k)), k, 0.0f));
        }
        out[r] = 0.5f * vf_hsum(acc);
    }
}

/* dmu += drow mu ; dlv += drow 0.5 (e^lv - 1) */
void KERNEL(elbo_kl_diag_bwd)(size_t rows, size_t cols, const float *mu, const float *lv,
                         const float *drow, float *dmu, float *dlv)
{
    for (size_t r = 0; r < rows; r++) {
        size_t o = r * cols, c = 0;
        vf d = vf_set1(drow[r]), half_d = vf_set1(0.5f * drow[r]);
        for (; c + VLEN <= cols; c += VLEN) {
            vf_store(dmu + o + c, vf_fmadd(d, vf_load(mu + o + c), vf_load(dmu + o + c)));
            vf g = vf_sub(vf_exp(vf_load(lv + o + c)), vf_set1(1.0f));
            vf_store(dlv + o + c, vf_fmadd(half_d, g, vf_load(dlv + o + c)));
        }
        if (c < cols) {
            size_t k = cols - c;
            vf_store_n(dmu + o + c, vf_fmadd(d, vf_load_n(mu + o + c, k), vf_load_n(dmu + o + c, k)), k);
            vf g = vf_sub(vf_exp(vf_load_n(lv + o + c, k)), vf_set1(1.0f));
            vf_store_n(dlv + o + c, vf_fmadd(half_d, g, vf_load_n(dlv + o + c, k)), k);
        }
    }
}
