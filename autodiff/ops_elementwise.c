/* Elementwise arithmetic: add, sub, mul (b the same shape as a, or one row
 * broadcast over a: see row_broadcast), scale, and the reparameterized
 * sample. Results take a's N-D shape. */
#include "autodiff/tape_internal.h"

#include <string.h>

#include "ops/ops.h"

/* b broadcasts over a as a row when b's dimensions, after any leading 1s,
 * are a's last dimensions (fewer than a has): b (1,C) over a (R,C), b (C) or
 * (1,1,1,C) over an NHWC image (a bias per channel), b (1,H*W*C)... over
 * (N,H,W,C) as its 2-D view. a is then R rows of size(b) floats. */
static bool row_broadcast(const elbo_node *a, const elbo_node *b)
{
    int lead = 0;
    while (lead < b->shape.ndim - 1 && b->shape.d[lead] == 1)
        lead++;
    int k = b->shape.ndim - lead;
    if (k >= a->shape.ndim)
        return false;
    for (int i = 0; i < k; i++)
        if (b->shape.d[lead + i] != a->shape.d[a->shape.ndim - k + i])
            return false;
    return true;
}

/* b has a's shape, or broadcasts over it as a row. */
static elbo_node *binary(elbo_tape *t, elbo_op op, elbo_node *a, elbo_node *b)
{
    const char *name = elbo_op_name(op);
    elbo_node *in[] = {a, b};
    if (!ad_inputs_ok(t, name, 2, in))
        return NULL;
    if (!ad_shape_eq(&a->shape, &b->shape) && !row_broadcast(a, b))
        return ad_error(t, ELBO_ERR_INVALID, "%s: expected b %s or a row of its last dimensions, got a %s and b %s",
                        name, AD_SHAPE(a), AD_SHAPE(a), AD_SHAPE(b));
    return ad_node(t, op, &a->shape, 2, in, NULL);
}

static bool broadcasts(const elbo_node *n) { return ad_size(n->in[1]) != ad_size(n); }

/* Row width of a binary op: b's size when it broadcasts (R = size / width rows). */
static size_t row_width(const elbo_node *n) { return broadcasts(n) ? ad_size(n->in[1]) : (size_t)n->cols; }

/* ---- add: y = a + b ; da += dy ; db += dy (summed over rows if broadcast) ---- */

elbo_node *elbo_ad_add(elbo_tape *t, elbo_node *a, elbo_node *b) { return binary(t, ELBO_OP_ADD, a, b); }

void ad_add_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const float *a = n->in[0]->x, *b = n->in[1]->x;
    size_t C = row_width(n), R = ad_size(n) / C;
    if (!broadcasts(n)) { // a (R,C) + b (R,C)
        elbo_add(R * C, a, b, n->x);
    } else { // a (R,C) + b (C) on every row
        memcpy(n->x, a, R * C * sizeof(float));
        elbo_add_bias(R, C, b, n->x);
    }
}

void ad_add_backward(elbo_tape *t, elbo_node *n)
{
    size_t C = row_width(n), R = ad_size(n) / C;
    float *da = ad_grad(t, n->in[0]), *db = ad_grad(t, n->in[1]);
    if (da) // dy (R,C) -> da (R,C)
        elbo_add(R * C, da, n->dx, da);
    if (db && !broadcasts(n)) // dy (R,C) -> db (R,C)
        elbo_add(R * C, db, n->dx, db);
    else if (db) // dy (R,C) summed over rows -> db (C)
        elbo_col_sum(R, C, n->dx, db);
}

/* ---- sub: y = a - b ; da += dy ; db -= dy (summed over rows if broadcast) ---- */

elbo_node *elbo_ad_sub(elbo_tape *t, elbo_node *a, elbo_node *b) { return binary(t, ELBO_OP_SUB, a, b); }

void ad_sub_forward(elbo_tape *t, elbo_node *n)
{
    const float *a = n->in[0]->x, *b = n->in[1]->x;
    size_t C = row_width(n), R = ad_size(n) / C;
    if (!broadcasts(n)) { // a (R,C) - b (R,C)
        elbo_sub(R * C, a, b, n->x);
        return;
    }
    // a (R,C) - b (C) on every row: add the negated row (exact, as is a - b)
    float *nb = ad_scratch(t, C);
    if (!nb)
        return;
    elbo_scale(C, -1.0f, b, nb);
    memcpy(n->x, a, R * C * sizeof(float));
    elbo_add_bias(R, C, nb, n->x);
}

void ad_sub_backward(elbo_tape *t, elbo_node *n)
{
    size_t C = row_width(n), R = ad_size(n) / C;
    float *da = ad_grad(t, n->in[0]), *db = ad_grad(t, n->in[1]);
    if (da) // dy (R,C) -> da (R,C)
        elbo_add(R * C, da, n->dx, da);
    if (db && !broadcasts(n)) { // -dy (R,C) -> db (R,C)
        elbo_sub(R * C, db, n->dx, db);
    } else if (db) { // -dy (R,C) summed over rows -> db (C)
        float *col = ad_scratch_zero(t, C);
        if (!col)
            return;
        elbo_col_sum(R, C, n->dx, col);
        elbo_sub(C, db, col, db);
    }
}

/* ---- mul: y = a ⊙ b ; da += dy ⊙ b ; db += dy ⊙ a (summed over rows if broadcast) ---- */

elbo_node *elbo_ad_mul(elbo_tape *t, elbo_node *a, elbo_node *b) { return binary(t, ELBO_OP_MUL, a, b); }

void ad_mul_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const float *a = n->in[0]->x, *b = n->in[1]->x;
    size_t C = row_width(n), R = ad_size(n) / C;
    if (!broadcasts(n)) { // a (R,C) ⊙ b (R,C)
        elbo_mul(R * C, a, b, n->x);
        return;
    }
    for (size_t r = 0; r < R; r++) // a[r,:] (C) ⊙ b (C)
        elbo_mul(C, a + r * C, b, n->x + r * C);
}

void ad_mul_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_node *a = n->in[0], *b = n->in[1];
    size_t C = row_width(n), R = ad_size(n) / C;
    float *da = ad_grad(t, n->in[0]), *db = ad_grad(t, n->in[1]);
    if (!broadcasts(n)) { // all (R,C)
        if (da)
            elbo_fma(R * C, n->dx, b->x, da);
        if (db)
            elbo_fma(R * C, n->dx, a->x, db);
        return;
    }
    if (da) // da[r,:] (C) += dy[r,:] ⊙ b (C)
        for (size_t r = 0; r < R; r++)
            elbo_fma(C, n->dx + r * C, b->x, da + r * C);
    if (db) { // db (C) += col_sum(dy ⊙ a) of (R,C)
        float *prod = ad_scratch(t, R * C);
        if (!prod)
            return;
        elbo_mul(R * C, n->dx, a->x, prod);
        elbo_col_sum(R, C, prod, db);
    }
}

/* ---- scale: y = s a ; da += s dy ---- */

elbo_node *elbo_ad_scale(elbo_tape *t, elbo_node *a, float s)
{
    if (!ad_inputs_ok(t, "scale", 1, &a))
        return NULL;
    elbo_op_args args = {.scale = {.s = s}};
    return ad_node(t, ELBO_OP_SCALE, &a->shape, 1, &a, &args);
}

void ad_scale_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    // a (R,C) -> y (R,C)
    elbo_scale(ad_size(n), n->args.scale.s, n->in[0]->x, n->x);
}

void ad_scale_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da) // dy (R,C) -> da (R,C)
        elbo_axpy(ad_size(n), n->args.scale.s, n->dx, da);
}

/* ---- reparam: z = mu + e^{lv/2} ⊙ eps ; dmu += dz ; dlv += dz ⊙ eps ⊙ ½e^{lv/2} ---- */

elbo_node *elbo_ad_reparam(elbo_tape *t, elbo_node *mu, elbo_node *logvar, elbo_rng *rng, const float *eps_given)
{
    elbo_node *in[] = {mu, logvar};
    if (!ad_inputs_ok(t, "reparam", 2, in))
        return NULL;
    if (!ad_shape_eq(&mu->shape, &logvar->shape))
        return ad_error(t, ELBO_ERR_INVALID, "reparam: expected mu and logvar of one shape, got %s and %s",
                        AD_SHAPE(mu), AD_SHAPE(logvar));
    if (!rng && !eps_given)
        return ad_error(t, ELBO_ERR_INVALID, "reparam: expected an rng or eps_given, got neither");
    size_t n = ad_size(mu);
    float *eps = ad_scratch(t, n); /* saved for backward */
    if (!eps)
        return NULL;
    if (eps_given)
        memcpy(eps, eps_given, n * sizeof(float));
    else
        elbo_rng_normal_f32(rng, eps, n);
    elbo_op_args args = {.reparam = {.eps = eps}};
    return ad_node(t, ELBO_OP_REPARAM, &mu->shape, 2, in, &args);
}

void ad_reparam_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    // mu, lv, eps (R,C) -> z (R,C)
    elbo_reparam(ad_size(n), n->in[0]->x, n->in[1]->x, n->args.reparam.eps, n->x);
}

void ad_reparam_backward(elbo_tape *t, elbo_node *n)
{
    size_t N = ad_size(n);
    /* The kernel writes both gradients; one nobody needs goes to scratch. */
    float *dmu = ad_grad(t, n->in[0]), *dlv = ad_grad(t, n->in[1]);
    if (!dmu && !(dmu = ad_scratch_zero(t, N)))
        return;
    if (!dlv && !(dlv = ad_scratch_zero(t, N)))
        return;
    // dz (R,C) -> dmu, dlv (R,C)
    elbo_reparam_bwd(N, n->in[1]->x, n->args.reparam.eps, n->dx, dmu, dlv);
}
