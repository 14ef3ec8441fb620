/* Pairwise ops between the rows of two matrices: sqdiff_pairs, the squared
 * differences of every pair of rows per column (the squared distances of the
 * MMD kernels); gauss_logpdf_pairs, the Gaussian log-density of every row of
 * z under every row's (mu, logvar), per column (the total-correlation
 * estimators' q(z_i | x_j)), fused into one pass each way, and its sum over
 * the dimensions (diag_gauss_logpdf_pairs: mixture priors); and transpose,
 * for products such as aᵀa (covariances). Forward and backward side by side. */
#include "autodiff/tape_internal.h"

#include <math.h>
#include <string.h>

#include "ops/ops.h"

/* ---- sqdiff_pairs: y[i,j,d] = (a[i,d] - b[j,d])² ;
 *      da[i,d] += Σ_j 2 dy[i,j,d] (a[i,d] - b[j,d]) ; db[j,d] -= Σ_i 2 dy[i,j,d] (a[i,d] - b[j,d]) ---- */

elbo_node *elbo_ad_sqdiff_pairs(elbo_tape *t, elbo_node *a, elbo_node *b)
{
    elbo_node *in[] = {a, b};
    if (!ad_inputs_ok(t, "sqdiff_pairs", 2, in))
        return NULL;
    if (a->cols != b->cols)
        return ad_error(t, ELBO_ERR_INVALID, "sqdiff_pairs: expected a (B,D) and b (M,D), got %s and %s",
                        AD_SHAPE(a), AD_SHAPE(b));
    elbo_shape s = {.ndim = 3, .d = {a->rows, b->rows, a->cols}};
    return ad_node(t, ELBO_OP_SQDIFF_PAIRS, &s, 2, in, NULL);
}

void ad_sqdiff_pairs_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0], *b = n->in[1];
    size_t B = (size_t)a->rows, M = (size_t)b->rows, D = (size_t)a->cols;
    // a (B,D), b (M,D) -> y (B,M,D)
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < M; j++) {
            const float *ai = a->x + i * D, *bj = b->x + j * D;
            float *y = n->x + (i * M + j) * D;
            for (size_t d = 0; d < D; d++) {
                float e = ai[d] - bj[d];
                y[d] = e * e;
            }
        }
}

void ad_sqdiff_pairs_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *a = n->in[0], *b = n->in[1];
    size_t B = (size_t)a->rows, M = (size_t)b->rows, D = (size_t)a->cols;
    float *da = ad_grad(t, n->in[0]), *db = ad_grad(t, n->in[1]);
    if (!da && !db)
        return;
    // dy (B,M,D) -> da (B,D), db (M,D); fixed order: i outer, j inner
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < M; j++) {
            const float *ai = a->x + i * D, *bj = b->x + j * D, *g = n->dx + (i * M + j) * D;
            for (size_t d = 0; d < D; d++) {
                float s = 2.0f * g[d] * (ai[d] - bj[d]);
                if (da)
                    da[i * D + d] += s;
                if (db)
                    db[j * D + d] -= s;
            }
        }
}

/* ---- transpose: y[c,r] = a[r,c] ; da[r,c] += dy[c,r] (the 2-D view) ---- */

elbo_node *elbo_ad_transpose(elbo_tape *t, elbo_node *a)
{
    if (!ad_inputs_ok(t, "transpose", 1, &a))
        return NULL;
    elbo_shape s = ad_shape2(a->cols, a->rows);
    return ad_node(t, ELBO_OP_TRANSPOSE, &s, 1, &a, NULL);
}

void ad_transpose_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0];
    size_t R = (size_t)a->rows, C = (size_t)a->cols;
    // a (R,C) -> y (C,R)
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++)
            n->x[c * R + r] = a->x[r * C + c];
}

void ad_transpose_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *a = n->in[0];
    size_t R = (size_t)a->rows, C = (size_t)a->cols;
    float *da = ad_grad(t, n->in[0]);
    if (!da)
        return;
    // dy (C,R) -> da (R,C)
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++)
            da[r * C + c] += n->dx[c * R + r];
}

/* ---- gauss_logpdf_pairs: y[i,j,d] = log N(z[i,d]; mu[j,d], e^{lv[j,d]}) = -½ (log 2π + lv + (z-mu)² e^{-lv}) ;
 *      dz[i,d] -= Σ_j dy (z-mu) e^{-lv} ; dmu[j,d] += Σ_i dy (z-mu) e^{-lv} ; dlv[j,d] += Σ_i dy ½ ((z-mu)² e^{-lv} - 1) ----
 * one pass each way over (B,M,D), the precisions e^{-lv} (M,D) saved */

#define LOG_2PI_F 1.8378770664093453f

/* in = {z, mu, logvar}: present, z (B,D), mu and logvar (M,D); else the error recorded. */
static bool gauss_pairs_inputs_ok(elbo_tape *t, const char *op, elbo_node *const *in)
{
    if (!ad_inputs_ok(t, op, 3, in))
        return false;
    const elbo_node *z = in[0], *mu = in[1], *logvar = in[2];
    if (z->cols == mu->cols && mu->rows == logvar->rows && mu->cols == logvar->cols)
        return true;
    ad_error(t, ELBO_ERR_INVALID, "%s: expected z (B,D), mu and logvar (M,D), got %s, %s and %s", op, AD_SHAPE(z),
             AD_SHAPE(mu), AD_SHAPE(logvar));
    return false;
}

elbo_node *elbo_ad_gauss_logpdf_pairs(elbo_tape *t, elbo_node *z, elbo_node *mu, elbo_node *logvar)
{
    elbo_node *in[] = {z, mu, logvar};
    if (!gauss_pairs_inputs_ok(t, "gauss_logpdf_pairs", in))
        return NULL;
    size_t MD = ad_size(mu);
    float *prec = ad_scratch(t, MD); /* e^{-lv}, saved for backward */
    if (!prec)
        return NULL;
    elbo_scale(MD, -1.0f, logvar->x, prec);
    elbo_exp(MD, prec, prec);
    elbo_op_args args = {.pairs = {.prec = prec}};
    elbo_shape s = {.ndim = 3, .d = {z->rows, mu->rows, z->cols}};
    return ad_node(t, ELBO_OP_GAUSS_LOGPDF_PAIRS, &s, 3, in, &args);
}

void ad_gauss_logpdf_pairs_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *z = n->in[0], *mu = n->in[1], *lv = n->in[2];
    const float *prec = n->args.pairs.prec;
    size_t B = (size_t)z->rows, M = (size_t)mu->rows, D = (size_t)z->cols;
    // z (B,D), mu, lv (M,D) -> y (B,M,D)
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < M; j++) {
            const float *zi = z->x + i * D, *mj = mu->x + j * D, *lj = lv->x + j * D, *pj = prec + j * D;
            float *y = n->x + (i * M + j) * D;
            for (size_t d = 0; d < D; d++) {
                float e = zi[d] - mj[d];
                y[d] = -0.5f * (LOG_2PI_F + lj[d] + e * e * pj[d]);
            }
        }
}

void ad_gauss_logpdf_pairs_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *z = n->in[0], *mu = n->in[1];
    const float *prec = n->args.pairs.prec;
    size_t B = (size_t)z->rows, M = (size_t)mu->rows, D = (size_t)z->cols;
    float *dz = ad_grad(t, n->in[0]), *dmu = ad_grad(t, n->in[1]), *dlv = ad_grad(t, n->in[2]);
    if (!dz && !dmu && !dlv)
        return;
    // dy (B,M,D) -> dz (B,D), dmu, dlv (M,D); fixed order: i outer, j inner
    for (size_t i = 0; i < B; i++)
        for (size_t j = 0; j < M; j++) {
            const float *zi = z->x + i * D, *mj = mu->x + j * D, *pj = prec + j * D, *g = n->dx + (i * M + j) * D;
            for (size_t d = 0; d < D; d++) {
                float e = zi[d] - mj[d], ge = g[d] * e * pj[d]; /* dy (z-mu) e^{-lv} */
                if (dz)
                    dz[i * D + d] -= ge;
                if (dmu)
                    dmu[j * D + d] += ge;
                if (dlv)
                    dlv[j * D + d] += 0.5f * (ge * e - g[d]);
            }
        }
}

/* ---- diag_gauss_logpdf_pairs: y[i,j] = Σ_d log N(z[i,d]; mu[j,d], e^{lv[j,d]}) = -½ Σ_d (log 2π + lv + (z-mu)² e^{-lv}) ;
 *      dz[i,d] -= Σ_j dy (z-mu) e^{-lv} ; dmu[j,d] += Σ_i dy (z-mu) e^{-lv} ; dlv[j,d] += Σ_i dy ½ ((z-mu)² e^{-lv} - 1) ----
 * gauss_logpdf_pairs summed over d without its (B,M,D) value and gradient. The loops run along j over mu and
 * e^{-lv} transposed to (D,M), so they vectorize without reassociating any sum: the same bits at every level. */

/* Lanes of the partial sums of dz (a fixed order, whatever the compiler makes of it). */
#define PAIR_LANES 16

elbo_node *elbo_ad_diag_gauss_logpdf_pairs(elbo_tape *t, elbo_node *z, elbo_node *mu, elbo_node *logvar)
{
    elbo_node *in[] = {z, mu, logvar};
    if (!gauss_pairs_inputs_ok(t, "diag_gauss_logpdf_pairs", in))
        return NULL;
    size_t M = (size_t)mu->rows, D = (size_t)mu->cols;
    float *cols = ad_scratch(t, 2 * D * M + M); /* muT (D,M), precT (D,M), c (M) */
    if (!cols)
        return NULL;
    elbo_op_args args = {.pairs = {.cols = cols}};
    elbo_shape s = ad_shape2(z->rows, mu->rows);
    return ad_node(t, ELBO_OP_DIAG_GAUSS_LOGPDF_PAIRS, &s, 3, in, &args);
}

void ad_diag_gauss_logpdf_pairs_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *z = n->in[0], *mu = n->in[1], *lv = n->in[2];
    size_t B = (size_t)z->rows, M = (size_t)mu->rows, D = (size_t)z->cols;
    float *muT = n->args.pairs.cols, *pT = muT + D * M, *c = pT + D * M;
    // mu, lv (M,D) -> muT, precT (D,M); c[j] = Σ_d (log 2π + lv[j,d])
    for (size_t j = 0; j < M; j++) {
        float cj = 0.0f;
        for (size_t d = 0; d < D; d++) {
            float l = lv->x[j * D + d];
            muT[d * M + j] = mu->x[j * D + d];
            pT[d * M + j] = expf(-l);
            cj += LOG_2PI_F + l;
        }
        c[j] = cj;
    }
    // z (B,D) -> y (B,M)
    for (size_t i = 0; i < B; i++) {
        float *y = n->x + i * M;
        memcpy(y, c, M * sizeof *y);
        for (size_t d = 0; d < D; d++) {
            const float zd = z->x[i * D + d], *m = muT + d * M, *p = pT + d * M;
            for (size_t j = 0; j < M; j++) {
                float e = zd - m[j];
                y[j] += e * e * p[j];
            }
        }
        for (size_t j = 0; j < M; j++)
            y[j] *= -0.5f;
    }
}

/* Σ_j g[j] (zd - m[j]) p[j] over one row, in PAIR_LANES partial sums added in
 * order; the terms go to dmuT += g e p and dlvT += g e² p along the way. */
static float pairs_row_backward(size_t M, float zd, const float *g, const float *m, const float *p, float *dmuT,
                                float *dlvT)
{
    float part[PAIR_LANES] = {0};
    size_t j = 0;
    for (; j + PAIR_LANES <= M; j += PAIR_LANES)
        for (size_t l = 0; l < PAIR_LANES; l++) {
            float e = zd - m[j + l], ge = g[j + l] * e * p[j + l];
            part[l] += ge;
            dmuT[j + l] += ge;
            dlvT[j + l] += ge * e;
        }
    for (size_t l = 0; j < M; j++, l++) {
        float e = zd - m[j], ge = g[j] * e * p[j];
        part[l] += ge;
        dmuT[j] += ge;
        dlvT[j] += ge * e;
    }
    float s = 0.0f;
    for (size_t l = 0; l < PAIR_LANES; l++)
        s += part[l];
    return s;
}

void ad_diag_gauss_logpdf_pairs_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *z = n->in[0], *mu = n->in[1];
    size_t B = (size_t)z->rows, M = (size_t)mu->rows, D = (size_t)z->cols;
    float *dz = ad_grad(t, n->in[0]), *dmu = ad_grad(t, n->in[1]), *dlv = ad_grad(t, n->in[2]);
    if (!dz && !dmu && !dlv)
        return;
    const float *muT = n->args.pairs.cols, *pT = muT + D * M;
    float *dmuT = ad_scratch_zero(t, 2 * D * M + M), *dlvT = dmuT + D * M, *gsum = dlvT + D * M;
    if (!dmuT)
        return;
    // dy (B,M) -> dz (B,D), dmuT = Σ_i dy e p, dlvT = Σ_i dy e² p (D,M), gsum = Σ_i dy (M); i outer, d, j inner
    for (size_t i = 0; i < B; i++) {
        const float *g = n->dx + i * M;
        for (size_t j = 0; j < M; j++)
            gsum[j] += g[j];
        for (size_t d = 0; d < D; d++) {
            float s = pairs_row_backward(M, z->x[i * D + d], g, muT + d * M, pT + d * M, dmuT + d * M, dlvT + d * M);
            if (dz)
                dz[i * D + d] -= s;
        }
    }
    // (D,M) -> dmu, dlv (M,D)
    for (size_t j = 0; j < M; j++)
        for (size_t d = 0; d < D; d++) {
            if (dmu)
                dmu[j * D + d] += dmuT[d * M + j];
            if (dlv)
                dlv[j * D + d] += 0.5f * (dlvT[d * M + j] - gsum[j]);
        }
}
