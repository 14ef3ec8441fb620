/* Pairwise ops between the rows of two matrices: sqdiff_pairs, the squared
 * differences of every pair of rows per column (the squared distances of the
 * MMD kernels); gauss_logpdf_pairs, the Gaussian log-density of every row of
 * z under every row's (mu, logvar), per column (the total-correlation
 * estimators' q(z_i | x_j)), fused into one pass each way; and transpose,
 * for products such as aᵀa (covariances). Forward and backward side by side. */
#include "autodiff/tape_internal.h"

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

elbo_node *elbo_ad_gauss_logpdf_pairs(elbo_tape *t, elbo_node *z, elbo_node *mu, elbo_node *logvar)
{
    elbo_node *in[] = {z, mu, logvar};
    if (!ad_inputs_ok(t, "gauss_logpdf_pairs", 3, in))
        return NULL;
    if (z->cols != mu->cols || mu->rows != logvar->rows || mu->cols != logvar->cols)
        return ad_error(t, ELBO_ERR_INVALID,
                        "gauss_logpdf_pairs: expected z (B,D), mu and logvar (M,D), got %s, %s and %s", AD_SHAPE(z),
                        AD_SHAPE(mu), AD_SHAPE(logvar));
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
