/* Fused losses, one value per row of the 2-D views: (R,C) inputs -> (R,1)
 * (an (N,H,W,C) image is N rows of H*W*C). Backward hands the per-row
 * upstream gradient dy (R) to the kernel as drow. */
#include "autodiff/tape_internal.h"

#include <math.h>

#include "ops/ops.h"

/* the same 2-D view: (B,28,28,1) logits fit (B,784) targets */
static bool same_shape(const elbo_node *a, const elbo_node *b) { return a->rows == b->rows && a->cols == b->cols; }

/* the (R,1) node of a per-row loss */
static elbo_node *row_loss(elbo_tape *t, elbo_op op, int rows, int n_in, elbo_node *const *in, const elbo_op_args *args)
{
    elbo_shape s = ad_shape2(rows, 1);
    return ad_node(t, op, &s, n_in, in, args);
}

/* The gradient of n, or zeroed scratch when n needs none: the fused kernels
 * write every gradient they compute. */
static float *grad_or_sink(elbo_tape *t, elbo_node *n)
{
    float *g = ad_grad(t, n);
    return g ? g : ad_scratch_zero(t, ad_size(n));
}

/* ---- bernoulli_nll: y[r] = Σ_c softplus(l) - t l ; dl += dy[r] (σ(l) - t) ; dt += -dy[r] l ---- */

elbo_node *elbo_ad_bernoulli_nll(elbo_tape *t, elbo_node *logits, elbo_node *target)
{
    elbo_node *in[] = {logits, target};
    if (!ad_inputs_ok(t, "bernoulli_nll", 2, in))
        return NULL;
    if (!same_shape(logits, target))
        return ad_error(t, ELBO_ERR_INVALID, "bernoulli_nll: expected logits and target of one shape, got %s and %s",
                        AD_SHAPE(logits), AD_SHAPE(target));
    return row_loss(t, ELBO_OP_BERNOULLI_NLL, logits->rows, 2, in, NULL);
}

void ad_bernoulli_nll_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *l = n->in[0], *tg = n->in[1];
    // l, t (R,C) -> y (R,1)
    elbo_bernoulli_nll((size_t)l->rows, (size_t)l->cols, l->x, tg->x, n->x);
}

void ad_bernoulli_nll_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *l = n->in[0], *tg = n->in[1];
    size_t R = (size_t)l->rows, C = (size_t)l->cols;
    float *dl = ad_grad(t, l), *dt = ad_grad(t, tg);
    if (dl) // dy (R) -> dl (R,C)
        elbo_bernoulli_nll_bwd(R, C, l->x, tg->x, n->dx, dl);
    if (dt) // targets rarely need a gradient (soft labels from a network)
        for (size_t r = 0; r < R; r++)
            elbo_axpy(C, -n->dx[r], l->x + r * C, dt + r * C);
}

/* ---- gauss_nll: y[r] = ½ Σ_c log 2π + lv + (x-m)² e^{-lv}
 *      dm += dy[r] (m-x) e^{-lv} ; dx -= the same ; dlv += Σ_r dy[r] ½ (1 - (x-m)² e^{-lv}) ---- */

elbo_node *elbo_ad_gauss_nll(elbo_tape *t, elbo_node *mean, elbo_node *target, elbo_node *logvar, float fixed_logvar)
{
    elbo_node *in[] = {mean, target, logvar};
    /* logvar == NULL on a healthy tape means the fixed variance. */
    if (!ad_inputs_ok(t, "gauss_nll", logvar ? 3 : 2, in))
        return NULL;
    if (!same_shape(mean, target))
        return ad_error(t, ELBO_ERR_INVALID, "gauss_nll: expected mean and target of one shape, got %s and %s",
                        AD_SHAPE(mean), AD_SHAPE(target));
    if (logvar && (logvar->rows != 1 || logvar->cols != mean->cols))
        return ad_error(t, ELBO_ERR_INVALID, "gauss_nll: expected logvar (1,%d), got %s", mean->cols,
                        AD_SHAPE(logvar));
    if (!logvar) {
        if (!isfinite(fixed_logvar))
            return ad_error(t, ELBO_ERR_INVALID, "gauss_nll: expected a finite fixed_logvar, got %g",
                            (double)fixed_logvar);
        /* The kernel takes a log-variance row; a fixed one is a constant input. */
        float *row = ad_scratch(t, (size_t)mean->cols);
        if (!row)
            return NULL;
        for (int c = 0; c < mean->cols; c++)
            row[c] = fixed_logvar;
        if (!(in[2] = elbo_ad_input(t, 1, mean->cols, row)))
            return NULL;
    }
    elbo_op_args args = {.gauss = {.fixed_logvar = logvar ? NAN : fixed_logvar}};
    return row_loss(t, ELBO_OP_GAUSS_NLL, mean->rows, 3, in, &args);
}

void ad_gauss_nll_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *m = n->in[0], *x = n->in[1], *lv = n->in[2];
    // m, x (R,C), lv (1,C) -> y (R,1)
    elbo_gauss_nll((size_t)m->rows, (size_t)m->cols, m->x, x->x, lv->x, n->x);
}

void ad_gauss_nll_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *m = n->in[0], *x = n->in[1], *lv = n->in[2];
    size_t R = (size_t)m->rows, C = (size_t)m->cols;
    float *dm = ad_grad(t, m), *dx = ad_grad(t, x), *dlv = ad_grad(t, lv);
    /* The kernel yields dm; the target's gradient is its negative, so when
     * the target needs one, take dm into scratch and share it out. */
    float *dmk = (dm && !dx) ? dm : ad_scratch_zero(t, R * C);
    if (!dmk)
        return;
    // dy (R) -> dm (R,C), dlv (C)
    elbo_gauss_nll_bwd(R, C, m->x, x->x, lv->x, n->dx, dmk, dlv);
    if (dx) {
        elbo_sub(R * C, dx, dmk, dx);
        if (dm)
            elbo_add(R * C, dm, dmk, dm);
    }
}

/* ---- kl_diag: y[r] = ½ Σ_c e^lv + mu² - 1 - lv ; dmu += dy[r] mu ; dlv += dy[r] ½ (e^lv - 1) ---- */

elbo_node *elbo_ad_kl_diag(elbo_tape *t, elbo_node *mu, elbo_node *logvar)
{
    elbo_node *in[] = {mu, logvar};
    if (!ad_inputs_ok(t, "kl_diag", 2, in))
        return NULL;
    if (!same_shape(mu, logvar))
        return ad_error(t, ELBO_ERR_INVALID, "kl_diag: expected mu and logvar of one shape, got %s and %s",
                        AD_SHAPE(mu), AD_SHAPE(logvar));
    return row_loss(t, ELBO_OP_KL_DIAG, mu->rows, 2, in, NULL);
}

void ad_kl_diag_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *mu = n->in[0], *lv = n->in[1];
    // mu, lv (R,C) -> y (R,1)
    elbo_kl_diag((size_t)mu->rows, (size_t)mu->cols, mu->x, lv->x, n->x);
}

void ad_kl_diag_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *mu = n->in[0], *lv = n->in[1];
    float *dmu = grad_or_sink(t, mu), *dlv = grad_or_sink(t, lv);
    if (!dmu || !dlv)
        return;
    // dy (R) -> dmu, dlv (R,C)
    elbo_kl_diag_bwd((size_t)mu->rows, (size_t)mu->cols, mu->x, lv->x, n->dx, dmu, dlv);
}

/* ---- categorical_nll: y[n] = sum over n's positions p of log sum_k e^{l[p,k]} - l[p, label[p]]
 *      dl[p,k] += dy[n] (softmax(l[p])_k - [k = label[p]]) ----
 * logits (N, ..., K): N rows of P = cols / K positions of K classes */

elbo_node *elbo_ad_categorical_nll(elbo_tape *t, elbo_node *logits, const int32_t *labels)
{
    if (!ad_inputs_ok(t, "categorical_nll", 1, &logits))
        return NULL;
    int K = logits->shape.d[logits->shape.ndim - 1];
    if (logits->shape.ndim < 2 || !labels)
        return ad_error(t, ELBO_ERR_INVALID, "categorical_nll: expected logits (N,...,K) and labels, got %s and %s",
                        AD_SHAPE(logits), labels ? "labels" : "NULL labels");
    size_t P = (size_t)logits->cols / (size_t)K, n = (size_t)logits->rows * P;
    int32_t *copy = (int32_t *)ad_scratch(t, n); /* int32 and float have one size */
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= K)
            return ad_error(t, ELBO_ERR_INVALID, "categorical_nll: label %d at position %zu of logits %s is outside "
                            "[0,%d)", (int)labels[i], i, AD_SHAPE(logits), K);
        copy[i] = labels[i];
    }
    elbo_op_args args = {.labels = {.labels = copy, .positions = (int)P}};
    return row_loss(t, ELBO_OP_CATEGORICAL_NLL, logits->rows, 1, &logits, &args);
}

void ad_categorical_nll_forward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *l = n->in[0];
    size_t N = (size_t)l->rows, P = (size_t)n->args.labels.positions, K = (size_t)l->cols / P;
    if (P == 1) { // l (N,K) -> y (N,1)
        elbo_categorical_nll(N, K, l->x, n->args.labels.labels, n->x);
        return;
    }
    float *per = ad_scratch(t, N * P); // l (N*P, K) -> per position (N,P) -> y (N,1)
    if (!per)
        return;
    elbo_categorical_nll(N * P, K, l->x, n->args.labels.labels, per);
    elbo_row_sum(N, P, per, n->x);
}

void ad_categorical_nll_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *l = n->in[0];
    size_t N = (size_t)l->rows, P = (size_t)n->args.labels.positions, K = (size_t)l->cols / P;
    float *dl = ad_grad(t, l), *drow = n->dx;
    if (!dl)
        return;
    if (P > 1) { // each position takes its row's dy
        if (!(drow = ad_scratch(t, N * P)))
            return;
        for (size_t r = 0; r < N; r++)
            for (size_t p = 0; p < P; p++)
                drow[r * P + p] = n->dx[r];
    }
    // dy (N*P) -> dl (N*P, K)
    elbo_categorical_nll_bwd(N * P, K, l->x, n->args.labels.labels, drow, dl);
}
