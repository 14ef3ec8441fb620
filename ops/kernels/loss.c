/* Fused losses, inputs (R,C), one value per row out (R): each SIMD kernel,
 * written once over ops/simd.h, beside its naive scalar reference (the
 * reference build; it sums in double). Forward terms are summed per row in
 * float vectors (masked tails contribute 0); backward adds drow[r] times the
 * elementwise gradient. */

#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#include <stdbool.h>

#if ELBO_REFERENCE
#include "ops/kernels/ref_math.h"
#endif

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

/* log(2 pi), the Gaussian normalizer */
#define LOG_2PI 1.8378770664093454836f

/* Narrow rows (cols <= VLEN/2, e.g. a latent of 1 or 2 columns) run flat: the
 * elementwise formula over a block of whole rows as one array (full vectors),
 * the per-element terms go to a stack buffer, then each row's terms are
 * summed in column order. Per row the arithmetic does not depend on where the
 * row falls, so results stay independent of the task split. FLAT_FLOATS is
 * the block size in floats (whole rows). */
#define FLAT_FLOATS 512
static inline bool flat_cols(size_t cols) { return cols <= VLEN / 2; }
/* rows per block: a multiple of VLEN, so a block is whole periods of cols*VLEN floats */
static inline size_t flat_rows(size_t cols) { return FLAT_FLOATS / cols / VLEN * VLEN; }

/* out[r] = scale * sum_c t[r*cols + c], c in order */
static inline void flat_row_sums(size_t rows, size_t cols, const float *t, float scale, float *out)
{
    if (cols == 1) {
        size_t r = 0;
        for (; r + VLEN <= rows; r += VLEN)
            vf_store(out + r, vf_mul(vf_set1(scale), vf_load(t + r)));
        for (; r < rows; r++)
            out[r] = scale * t[r];
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        float s = 0.0f;
        for (size_t c = 0; c < cols; c++)
            s += t[r * cols + c];
        out[r] = scale * s;
    }
}

/* lvp[i] = lv[i % cols] and ivp[i] = e^-lv[i % cols] for i < n (a multiple of VLEN) */
static inline void flat_lv_pattern(size_t n, size_t cols, const float *lv, float *lvp, float *ivp)
{
    for (size_t i = 0, c = 0; i < n; i++) {
        lvp[i] = lv[c];
        c = c + 1 == cols ? 0 : c + 1;
    }
    for (size_t i = 0; i < n; i += VLEN)
        vf_store(ivp + i, vf_exp(vf_sub(vf_zero(), vf_load(lvp + i))));
}

/* e[i] = s * d[i / cols], i < rows*cols: a per-row factor expanded to
 * elements; the next VLEN floats are zeroed (read by a masked tail) */
static inline void flat_expand(size_t rows, size_t cols, const float *d, float s, float *e)
{
    if (cols == 1) {
        size_t r = 0;
        for (; r + VLEN <= rows; r += VLEN)
            vf_store(e + r, vf_mul(vf_set1(s), vf_load(d + r)));
        for (; r < rows; r++)
            e[r] = s * d[r];
        for (size_t i = 0; i < VLEN; i++)
            e[rows + i] = 0.0f;
        return;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            e[r * cols + c] = s * d[r];
    for (size_t i = 0; i < VLEN; i++)
        e[rows * cols + i] = 0.0f;
}

/* ---- Bernoulli NLL from logits l, targets t ---- */

/* floats [j VLEN, n) of p, at most VLEN of them, zeros after; no address past
 * p + n is formed */
static inline vf load_upto(const float *p, size_t j, size_t n)
{
    size_t m = n > j * VLEN ? n - j * VLEN : 0;
    return m >= VLEN ? vf_load(p + j * VLEN) : m ? vf_load_n(p + j * VLEN, m) : vf_zero();
}

/* sum of softplus(l) - t l over the first n <= VF_BATCH*VLEN floats of l, t,
 * added to acc vector by vector (lanes past n add 0). softplus(l) - t l =
 * max(l,0) - t l + log1p(e^-|l|): exact cancellation for |l| large. A row's
 * last few vectors are one masked batch too: one code path, same order of
 * additions as one vector at a time. */
static inline vf bern_batch(vf acc, const float *l, const float *t, size_t n)
{
    vf lv[VF_BATCH], sp[VF_BATCH];
    for (size_t j = 0; j < VF_BATCH; j++)
        lv[j] = sp[j] = load_upto(l, j, n);
    vf_softplus_k(VF_BATCH, sp);
    for (size_t j = 0; j < VF_BATCH; j++) {
        size_t m = n > j * VLEN ? n - j * VLEN : 0;
        vf term = vf_fnmadd(load_upto(t, j, n), lv[j], sp[j]);
        acc = vf_add(acc, m >= VLEN ? term : vf_keep_n(term, m, 0.0f));
    }
    return acc;
}

/* Read-ahead for a loss that computes long per byte: at its rate the hardware
 * prefetcher alone leaves DRAM idle between requests. Touching the lines
 * 8 KiB ahead raised the Bernoulli loss from memory from 22 to 27 GB/s. */
#define READ_AHEAD_FLOATS 2048

/* prefetch (for one read) the lines of [p, p + n) moved READ_AHEAD_FLOATS on */
static inline void read_ahead(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i += 64 / sizeof(float))
        __builtin_prefetch(p + READ_AHEAD_FLOATS + i, 0, 0);
}

/* ---- Gaussian NLL, mean m, targets x (R,C), log-variance lv (C) ---- */

/* log 2pi + lv + (x-m)^2 e^-lv */
static inline vf gauss1(vf m, vf x, vf lv)
{
    vf d = vf_sub(x, m);
    vf iv = vf_exp(vf_sub(vf_zero(), lv));
    return vf_fmadd(vf_mul(d, d), iv, vf_add(vf_set1(LOG_2PI), lv));
}

/* the same with iv = e^-lv given */
static inline vf gauss1_iv(vf m, vf x, vf lv, vf iv)
{
    vf d = vf_sub(x, m);
    return vf_fmadd(vf_mul(d, d), iv, vf_add(vf_set1(LOG_2PI), lv));
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

/* ---- KL( N(mu, e^lv) || N(0, I) ), mu and lv (R,C) ---- */

/* e^lv + mu^2 - 1 - lv */
static inline vf kl1(vf mu, vf lv)
{
    vf e = vf_exp(lv);
    return vf_fmadd(mu, mu, vf_sub(vf_sub(e, vf_set1(1.0f)), lv));
}

#endif

/* out[r] = sum_c softplus(l) - t l */
#if ELBO_REFERENCE
void KERNEL(elbo_bernoulli_nll)(size_t rows, size_t cols, const float *l, const float *t, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            s += (double)ref_softplus1(l[i]) - (double)t[i] * l[i];
        }
        out[r] = (float)s;
    }
}
#else
/* out[r] = sum_c softplus(l) - t l, c in order */
void KERNEL(elbo_bernoulli_nll)(size_t rows, size_t cols, const float *l, const float *t, float *out)
{
    const size_t step = VF_BATCH * VLEN;
    for (size_t r = 0; r < rows; r++) {
        const float *lr = l + r * cols, *tr = t + r * cols;
        vf acc = vf_zero();
        size_t c = 0;
        for (; c + step <= cols; c += step) {
            read_ahead(lr + c, step);
            read_ahead(tr + c, step);
            acc = bern_batch(acc, lr + c, tr + c, step);
        }
        if (c < cols)
            acc = bern_batch(acc, lr + c, tr + c, cols - c);
        out[r] = vf_hsum(acc);
    }
}
#endif

/* dl += drow[r] (sigmoid(l) - t) */
#if ELBO_REFERENCE
void KERNEL(elbo_bernoulli_nll_bwd)(size_t rows, size_t cols, const float *l, const float *t,
                                const float *drow, float *dl)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            dl[i] += drow[r] * (ref_sigmoid1(l[i]) - t[i]);
        }
}
#else
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
#endif

/* out[r] = 0.5 sum_c [log 2pi + lv[c] + (x-m)^2 e^-lv[c]] */
#if ELBO_REFERENCE
void KERNEL(elbo_gauss_nll)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                        float *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            float d = x[i] - m[i];
            s += REF_LOG_2PI + lv[c] + (double)(d * d * expf(-lv[c]));
        }
        out[r] = (float)(0.5 * s);
    }
}
#else
void KERNEL(elbo_gauss_nll)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                       float *out)
{
    if (cols > 0 && flat_cols(cols)) {
        /* lv (and e^-lv) repeat with period cols: one block-sized copy of each */
        /* one period of cols*VLEN floats = cols vectors; blocks are whole periods */
        float lvp[VLEN * VLEN / 2], ivp[VLEN * VLEN / 2], t[FLAT_FLOATS + VLEN];
        size_t rb = flat_rows(cols), period = cols * VLEN;
        flat_lv_pattern(period, cols, lv, lvp, ivp);
        for (size_t r0 = 0; r0 < rows; r0 += rb) {
            size_t nr = rows - r0 < rb ? rows - r0 : rb, n = nr * cols, o = r0 * cols, i = 0, p = 0;
            for (; i + VLEN <= n; i += VLEN, p = p + VLEN == period ? 0 : p + VLEN)
                vf_store(t + i, gauss1_iv(vf_load(m + o + i), vf_load(x + o + i), vf_load(lvp + p), vf_load(ivp + p)));
            if (i < n)
                vf_store(t + i, gauss1_iv(vf_load_n(m + o + i, n - i), vf_load_n(x + o + i, n - i), vf_load(lvp + p),
                                          vf_load(ivp + p)));
            flat_row_sums(nr, cols, t, 0.5f, out + r0);
        }
        return;
    }
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
#endif

/* dm += drow (m-x) e^-lv ; dlv[c] += sum_r drow 0.5 (1 - (x-m)^2 e^-lv)  (dlv may be NULL) */
#if ELBO_REFERENCE
void KERNEL(elbo_gauss_nll_bwd)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                            const float *drow, float *dm, float *dlv)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            float d = m[i] - x[i], iv = expf(-lv[c]);
            dm[i] += drow[r] * d * iv;
            if (dlv)
                dlv[c] += drow[r] * 0.5f * (1.0f - d * d * iv);
        }
}
#else
void KERNEL(elbo_gauss_nll_bwd)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                           const float *drow, float *dm, float *dlv)
{
    if (cols > 0 && flat_cols(cols)) {
        /* dm elementwise over the flat block; the dlv terms 0.5 drow (1 - (x-m)^2 e^-lv)
         * accumulate in one vector per position of the period (cols vectors),
         * whose lanes are added per column in a fixed order at the end */
        float lvp[VLEN * VLEN / 2], ivp[VLEN * VLEN / 2], de[FLAT_FLOATS + VLEN], he[FLAT_FLOATS + VLEN];
        float lanes[VLEN * VLEN / 2];
        vf accv[VLEN / 2];
        size_t rb = flat_rows(cols), period = cols * VLEN;
        flat_lv_pattern(period, cols, lv, lvp, ivp);
        for (size_t v = 0; v < cols; v++)
            accv[v] = vf_zero();
        for (size_t r0 = 0; r0 < rows; r0 += rb) {
            size_t nr = rows - r0 < rb ? rows - r0 : rb, n = nr * cols, o = r0 * cols, p = 0;
            flat_expand(nr, cols, drow + r0, 1.0f, de);
            if (dlv)
                flat_expand(nr, cols, drow + r0, 0.5f, he);
            for (size_t i = 0; i < n; i += VLEN, p = p + VLEN == period ? 0 : p + VLEN) {
                size_t k = n - i < VLEN ? n - i : VLEN;
                vf d = vf_sub(vf_load_n(m + o + i, k), vf_load_n(x + o + i, k));
                vf di = vf_mul(d, vf_load(ivp + p));
                vf_store_n(dm + o + i, vf_fmadd(vf_load(de + i), di, vf_load_n(dm + o + i, k)), k);
                if (dlv) /* lanes past n have he = 0 */
                    accv[p / VLEN] = vf_fmadd(vf_load(he + i), vf_fnmadd(d, di, vf_set1(1.0f)), accv[p / VLEN]);
            }
        }
        if (dlv) {
            for (size_t v = 0; v < cols; v++)
                vf_store(lanes + v * VLEN, accv[v]);
            for (size_t c = 0; c < cols; c++) {
                float s = 0.0f;
                for (size_t q = c; q < period; q += cols)
                    s += lanes[q];
                dlv[c] += s;
            }
        }
        return;
    }
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
#endif

/* out[r] = 0.5 sum_c (e^lv + mu^2 - 1 - lv) */
#if ELBO_REFERENCE
void KERNEL(elbo_kl_diag)(size_t rows, size_t cols, const float *mu, const float *lv, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            s += (double)expf(lv[i]) + (double)mu[i] * mu[i] - 1.0 - lv[i];
        }
        out[r] = (float)(0.5 * s);
    }
}
#else
void KERNEL(elbo_kl_diag)(size_t rows, size_t cols, const float *mu, const float *lv, float *out)
{
    if (cols > 0 && flat_cols(cols)) {
        float t[FLAT_FLOATS + VLEN];
        size_t rb = flat_rows(cols);
        for (size_t r0 = 0; r0 < rows; r0 += rb) {
            size_t nr = rows - r0 < rb ? rows - r0 : rb, n = nr * cols, o = r0 * cols, i = 0;
            for (; i + VLEN <= n; i += VLEN)
                vf_store(t + i, kl1(vf_load(mu + o + i), vf_load(lv + o + i)));
            if (i < n)
                vf_store(t + i, kl1(vf_load_n(mu + o + i, n - i), vf_load_n(lv + o + i, n - i)));
            flat_row_sums(nr, cols, t, 0.5f, out + r0);
        }
        return;
    }
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
#endif

/* dmu += drow mu ; dlv += drow 0.5 (e^lv - 1) */
#if ELBO_REFERENCE
void KERNEL(elbo_kl_diag_bwd)(size_t rows, size_t cols, const float *mu, const float *lv,
                          const float *drow, float *dmu, float *dlv)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            dmu[i] += drow[r] * mu[i];
            dlv[i] += drow[r] * 0.5f * (expf(lv[i]) - 1.0f);
        }
}
#else
void KERNEL(elbo_kl_diag_bwd)(size_t rows, size_t cols, const float *mu, const float *lv,
                         const float *drow, float *dmu, float *dlv)
{
    if (cols > 0 && flat_cols(cols)) {
        float de[FLAT_FLOATS + VLEN], he[FLAT_FLOATS + VLEN];
        size_t rb = flat_rows(cols);
        for (size_t r0 = 0; r0 < rows; r0 += rb) {
            size_t nr = rows - r0 < rb ? rows - r0 : rb, n = nr * cols, o = r0 * cols;
            flat_expand(nr, cols, drow + r0, 1.0f, de);
            flat_expand(nr, cols, drow + r0, 0.5f, he); /* 0.5 drow[r], as in the row path */
            for (size_t i = 0; i < n; i += VLEN) {
                size_t k = n - i < VLEN ? n - i : VLEN;
                vf_store_n(dmu + o + i, vf_fmadd(vf_load(de + i), vf_load_n(mu + o + i, k), vf_load_n(dmu + o + i, k)), k);
                vf g = vf_sub(vf_exp(vf_load_n(lv + o + i, k)), vf_set1(1.0f));
                vf_store_n(dlv + o + i, vf_fmadd(vf_load(he + i), g, vf_load_n(dlv + o + i, k)), k);
            }
        }
        return;
    }
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
#endif
