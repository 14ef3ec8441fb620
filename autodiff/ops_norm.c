/* Normalization: layer_norm (each row of the 2-D view) and group_norm
 * (NHWC channels in groups), both on the group-normalization kernels of
 * ops/kernels/norm.c: layer norm is the case of one pixel and one group per
 * row. The forward saves (mean, rstd) per (sample, group) for backward.
 *   y = xhat gamma + beta, xhat = (x - mean) rstd
 *   dx += rstd (g - mean(g) - xhat mean(g xhat)), g = gamma dy, means over the group
 *   dgamma += sum over samples and pixels of dy xhat ; dbeta += sum of dy */
#include "autodiff/tape_internal.h"

#include <math.h>

#include "ops/ops.h"

/* gamma and beta: both NULL, or both of `c` elements */
static bool affine_ok(elbo_tape *t, const char *op, const elbo_node *x, const elbo_node *gamma,
                      const elbo_node *beta, size_t c)
{
    if ((gamma == NULL) != (beta == NULL) || (gamma && (ad_size(gamma) != c || ad_size(beta) != c))) {
        ad_error(t, ELBO_ERR_INVALID, "%s: expected gamma and beta of %zu elements each for x %s (or both NULL), "
                 "got %s and %s", op, c, AD_SHAPE(x), gamma ? AD_SHAPE(gamma) : "NULL", beta ? AD_SHAPE(beta) : "NULL");
        return false;
    }
    return true;
}

/* the node over x [, gamma, beta], its stats allocated for backward */
static elbo_node *norm_node(elbo_tape *t, elbo_op op, elbo_node *x, elbo_node *gamma, elbo_node *beta, int hw,
                            int c, int groups, float eps)
{
    if (!(eps >= 0.0f) || !isfinite(eps))
        return ad_error(t, ELBO_ERR_INVALID, "%s: expected a finite eps >= 0, got %g", elbo_op_name(op), (double)eps);
    float *stats = ad_scratch(t, (size_t)x->rows * (size_t)groups * 2);
    if (!stats)
        return NULL;
    elbo_op_args args = {.norm = {.hw = hw, .c = c, .groups = groups, .eps = eps, .stats = stats}};
    elbo_node *in[] = {x, gamma, beta};
    return ad_node(t, op, &x->shape, gamma ? 3 : 1, in, &args);
}

static void norm_forward(elbo_node *n)
{
    const elbo_node *x = n->in[0];
    const float *gamma = n->n_in == 3 ? n->in[1]->x : NULL, *beta = n->n_in == 3 ? n->in[2]->x : NULL;
    // x (N, hw, c) -> y, stats (N, groups, 2)
    elbo_groupnorm((size_t)x->rows, (size_t)n->args.norm.hw, (size_t)n->args.norm.c, (size_t)n->args.norm.groups,
                   n->args.norm.eps, x->x, gamma, beta, n->x, n->args.norm.stats);
}

static void norm_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *x = n->in[0];
    size_t N = (size_t)x->rows, c = (size_t)n->args.norm.c;
    float *dgamma = n->n_in == 3 ? ad_grad(t, n->in[1]) : NULL, *dbeta = n->n_in == 3 ? ad_grad(t, n->in[2]) : NULL;
    float *dx = ad_grad(t, x);
    /* the kernel writes dx and the per-sample channel sums; what nobody needs goes to scratch */
    float *csum = ad_scratch(t, N * 2 * c);
    if (!csum || (!dx && !(dx = ad_scratch_zero(t, ad_size(x)))))
        return;
    // dy (N, hw, c) -> dx, csum (N, 2c)
    elbo_groupnorm_bwd(N, (size_t)n->args.norm.hw, c, (size_t)n->args.norm.groups, x->x,
                       n->n_in == 3 ? n->in[1]->x : NULL, n->args.norm.stats, n->dx, dx, csum);
    if (!dgamma && !dbeta)
        return;
    float *tot = ad_scratch_zero(t, 2 * c);
    if (!tot)
        return;
    elbo_col_sum(N, 2 * c, csum, tot); // per channel: (sum dy, sum dy xhat) over the samples
    if (dbeta)
        elbo_add(c, dbeta, tot, dbeta);
    if (dgamma)
        elbo_add(c, dgamma, tot + c, dgamma);
}

/* ---- layer_norm: each row of x (N, D) over its D values ---- */

elbo_node *elbo_ad_layer_norm(elbo_tape *t, elbo_node *x, elbo_node *gamma, elbo_node *beta, float eps)
{
    if (!ad_inputs_ok(t, "layer_norm", 1, &x) || !affine_ok(t, "layer_norm", x, gamma, beta, (size_t)x->cols))
        return NULL;
    return norm_node(t, ELBO_OP_LAYER_NORM, x, gamma, beta, 1, x->cols, 1, eps);
}

void ad_layer_norm_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    norm_forward(n);
}

void ad_layer_norm_backward(elbo_tape *t, elbo_node *n) { norm_backward(t, n); }

/* ---- group_norm: x (N,H,W,C) or (N,C), channels in groups ---- */

elbo_node *elbo_ad_group_norm(elbo_tape *t, elbo_node *x, int groups, elbo_node *gamma, elbo_node *beta, float eps)
{
    if (!ad_inputs_ok(t, "group_norm", 1, &x))
        return NULL;
    int nd = x->shape.ndim, c = x->shape.d[nd - 1];
    if ((nd != 4 && nd != 2) || groups < 1 || groups > ELBO_NORM_MAX_GROUPS || c % groups != 0)
        return ad_error(t, ELBO_ERR_INVALID, "group_norm: expected x (N,H,W,C) or (N,C) and 1 <= groups <= %d "
                        "dividing C, got x %s and %d groups", ELBO_NORM_MAX_GROUPS, AD_SHAPE(x), groups);
    if (!affine_ok(t, "group_norm", x, gamma, beta, (size_t)c))
        return NULL;
    return norm_node(t, ELBO_OP_GROUP_NORM, x, gamma, beta, x->cols / c, c, groups, eps);
}

void ad_group_norm_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    norm_forward(n);
}

void ad_group_norm_backward(elbo_tape *t, elbo_node *n) { norm_backward(t, n); }
