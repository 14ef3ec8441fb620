/* Reductions: sum and mean of all elements (-> (1,1)), per-row sum and
 * log-sum-exp over the 2-D view ((R,C) -> (R,1)), and log-sum-exp along any
 * axis (the axis dropped). */
#include "autodiff/tape_internal.h"

#include <math.h>

#include "ops/ops.h"

static elbo_node *reduce(elbo_tape *t, elbo_op op, elbo_node *a, int rows)
{
    if (!ad_inputs_ok(t, elbo_op_name(op), 1, &a))
        return NULL;
    elbo_shape s = ad_shape2(rows, 1);
    return ad_node(t, op, &s, 1, &a, NULL);
}

/* da[r,c] += g[r] for a (R,C): the backward of every row reduction to a constant. */
static void add_row_broadcast(size_t R, size_t C, const float *g, float *da)
{
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++)
            da[r * C + c] += g[r];
}

/* ---- sum: y = Σ a ; da += dy ---- */

elbo_node *elbo_ad_sum(elbo_tape *t, elbo_node *a) { return reduce(t, ELBO_OP_SUM, a, 1); }

void ad_sum_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    // a (R,C) -> y (1,1), accumulated in double in a fixed order
    n->x[0] = (float)elbo_sum(ad_size(n->in[0]), n->in[0]->x);
}

void ad_sum_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        add_row_broadcast(1, ad_size(n->in[0]), n->dx, da);
}

/* ---- mean: y = Σ a / N ; da += dy / N ---- */

elbo_node *elbo_ad_mean(elbo_tape *t, elbo_node *a) { return reduce(t, ELBO_OP_MEAN, a, 1); }

void ad_mean_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    size_t N = ad_size(n->in[0]);
    // a (R,C) -> y (1,1)
    n->x[0] = (float)(elbo_sum(N, n->in[0]->x) / (double)N);
}

void ad_mean_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    size_t N = ad_size(n->in[0]);
    float g = (float)((double)n->dx[0] / (double)N);
    if (da)
        add_row_broadcast(1, N, &g, da);
}

/* ---- sum_rows: y[r] = Σ_c a[r,c] ; da[r,c] += dy[r] ---- */

elbo_node *elbo_ad_sum_rows(elbo_tape *t, elbo_node *a)
{
    return reduce(t, ELBO_OP_SUM_ROWS, a, a ? a->rows : 0);
}

void ad_sum_rows_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0];
    // a (R,C) -> y (R,1)
    elbo_row_sum((size_t)a->rows, (size_t)a->cols, a->x, n->x);
}

void ad_sum_rows_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *a = n->in[0];
    float *da = ad_grad(t, a);
    if (da)
        add_row_broadcast((size_t)a->rows, (size_t)a->cols, n->dx, da);
}

/* ---- logsumexp_rows: y[r] = log Σ_c e^{a[r,c]} ; da[r,c] += dy[r] e^{a[r,c] - y[r]} ---- */

elbo_node *elbo_ad_logsumexp_rows(elbo_tape *t, elbo_node *a)
{
    return reduce(t, ELBO_OP_LOGSUMEXP_ROWS, a, a ? a->rows : 0);
}

void ad_logsumexp_rows_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0];
    // a (R,C) -> y (R,1)
    elbo_row_logsumexp((size_t)a->rows, (size_t)a->cols, a->x, n->x);
}

void ad_logsumexp_rows_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *a = n->in[0];
    size_t R = (size_t)a->rows, C = (size_t)a->cols;
    float *da = ad_grad(t, a);
    if (!da)
        return;
    float *soft = ad_scratch(t, R * C);
    if (!soft)
        return;
    // softmax (R,C) = e^{a - y[r]}: shifted by the row's logsumexp, so it cannot overflow
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++)
            soft[r * C + c] = a->x[r * C + c] - n->x[r];
    elbo_exp(R * C, soft, soft);
    for (size_t r = 0; r < R; r++) // da[r,:] += dy[r] softmax[r,:]
        elbo_axpy(C, n->dx[r], soft + r * C, da + r * C);
}

/* ---- softmax along an axis: y = e^a / sum e^a ; da += y (dy - sum dy y) ----
 * ---- log_softmax:            y = a - log sum e^a ; da += dy - e^y sum dy ----
 * a viewed as (outer, len, inner) around the axis */

static elbo_node *along_axis(elbo_tape *t, elbo_op op, elbo_node *a, int axis)
{
    if (!ad_inputs_ok(t, elbo_op_name(op), 1, &a))
        return NULL;
    int nd = a->shape.ndim, ax = axis < 0 ? axis + nd : axis;
    if (ax < 0 || ax >= nd)
        return ad_error(t, ELBO_ERR_INVALID, "%s: expected an axis in [-%d,%d) for %s, got %d", elbo_op_name(op), nd,
                        nd, AD_SHAPE(a), axis);
    elbo_op_args args = {.axis = {.outer = 1, .len = a->shape.d[ax], .inner = 1}};
    for (int i = 0; i < ax; i++)
        args.axis.outer *= a->shape.d[i];
    for (int i = ax + 1; i < nd; i++)
        args.axis.inner *= a->shape.d[i];
    return ad_node(t, op, &a->shape, 1, &a, &args);
}

elbo_node *elbo_ad_softmax(elbo_tape *t, elbo_node *a, int axis) { return along_axis(t, ELBO_OP_SOFTMAX, a, axis); }

void ad_softmax_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    // a (outer, len, inner) -> y, normalized along len
    elbo_softmax((size_t)n->args.axis.outer, (size_t)n->args.axis.len, (size_t)n->args.axis.inner, n->in[0]->x, n->x);
}

void ad_softmax_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_softmax_bwd((size_t)n->args.axis.outer, (size_t)n->args.axis.len, (size_t)n->args.axis.inner, n->x,
                         n->dx, da);
}

elbo_node *elbo_ad_log_softmax(elbo_tape *t, elbo_node *a, int axis)
{
    return along_axis(t, ELBO_OP_LOG_SOFTMAX, a, axis);
}

void ad_log_softmax_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_log_softmax((size_t)n->args.axis.outer, (size_t)n->args.axis.len, (size_t)n->args.axis.inner, n->in[0]->x,
                     n->x);
}

void ad_log_softmax_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_log_softmax_bwd((size_t)n->args.axis.outer, (size_t)n->args.axis.len, (size_t)n->args.axis.inner, n->x,
                             n->dx, da);
}

/* ---- logsumexp_axis: y[o,k] = log Σ_l e^{a[o,l,k]} ; da[o,l,k] += dy[o,k] e^{a[o,l,k] - y[o,k]} ----
 * a viewed as (outer, len, inner) around the axis, which y drops */

elbo_node *elbo_ad_logsumexp_axis(elbo_tape *t, elbo_node *a, int axis)
{
    if (!ad_inputs_ok(t, "logsumexp_axis", 1, &a))
        return NULL;
    int nd = a->shape.ndim, ax = axis < 0 ? axis + nd : axis;
    if (ax < 0 || ax >= nd)
        return ad_error(t, ELBO_ERR_INVALID, "logsumexp_axis: expected an axis in [-%d,%d) for %s, got %d", nd, nd,
                        AD_SHAPE(a), axis);
    elbo_op_args args = {.axis = {.outer = 1, .len = a->shape.d[ax], .inner = 1}};
    elbo_shape s = {.ndim = nd > 1 ? nd - 1 : 1, .d = {1}};
    for (int i = 0, k = 0; i < nd; i++) {
        if (i < ax)
            args.axis.outer *= a->shape.d[i];
        if (i > ax)
            args.axis.inner *= a->shape.d[i];
        if (i != ax)
            s.d[k++] = a->shape.d[i];
    }
    return ad_node(t, ELBO_OP_LOGSUMEXP_AXIS, &s, 1, &a, &args);
}

/* m[o,k] = max_l a[o,l,k], or 0 where that is not finite (then a - m keeps
 * the -inf entries -inf and never makes inf - inf) */
static void axis_max(size_t O, size_t L, size_t K, const float *a, float *m)
{
    for (size_t o = 0; o < O; o++)
        for (size_t k = 0; k < K; k++) {
            float v = -INFINITY;
            for (size_t l = 0; l < L; l++)
                v = a[(o * L + l) * K + k] > v ? a[(o * L + l) * K + k] : v;
            m[o * K + k] = isfinite(v) ? v : 0.0f;
        }
}

void ad_logsumexp_axis_forward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *a = n->in[0];
    size_t O = (size_t)n->args.axis.outer, L = (size_t)n->args.axis.len, K = (size_t)n->args.axis.inner;
    float *sh = ad_scratch(t, O * L * K), *m = ad_scratch(t, O * K);
    if (!sh || !m)
        return;
    // a (O,L,K) -> y (O,K): shifted by the max along L, so e^{a-m} <= 1
    axis_max(O, L, K, a->x, m);
    for (size_t o = 0; o < O; o++)
        for (size_t l = 0; l < L; l++)
            for (size_t k = 0; k < K; k++)
                sh[(o * L + l) * K + k] = a->x[(o * L + l) * K + k] - m[o * K + k];
    elbo_exp(O * L * K, sh, sh);
    for (size_t o = 0; o < O; o++)
        for (size_t k = 0; k < K; k++) {
            double s = 0.0;
            for (size_t l = 0; l < L; l++)
                s += (double)sh[(o * L + l) * K + k];
            n->x[o * K + k] = m[o * K + k] + (float)log(s);
        }
}

void ad_logsumexp_axis_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *a = n->in[0];
    size_t O = (size_t)n->args.axis.outer, L = (size_t)n->args.axis.len, K = (size_t)n->args.axis.inner;
    float *da = ad_grad(t, a);
    if (!da)
        return;
    float *soft = ad_scratch(t, O * L * K);
    if (!soft)
        return;
    // softmax along L = e^{a - y}: y >= every a, so it cannot overflow; a slice all -inf has y = -inf: no gradient
    for (size_t o = 0; o < O; o++)
        for (size_t l = 0; l < L; l++)
            for (size_t k = 0; k < K; k++) {
                float y = n->x[o * K + k];
                soft[(o * L + l) * K + k] = isfinite(y) ? a->x[(o * L + l) * K + k] - y : -INFINITY;
            }
    elbo_exp(O * L * K, soft, soft);
    for (size_t o = 0; o < O; o++)
        for (size_t l = 0; l < L; l++)
            for (size_t k = 0; k < K; k++)
                da[(o * L + l) * K + k] += n->dx[o * K + k] * soft[(o * L + l) * K + k];
}
