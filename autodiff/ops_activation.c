/* Activations, y = f(a) elementwise; (R,C) in, (R,C) out. Each backward
 * feeds its kernel whichever of a or y the derivative is cheapest from. */
#include "autodiff/tape_internal.h"

#include "ops/ops.h"

static elbo_node *unary(elbo_tape *t, elbo_op op, elbo_node *a, const elbo_op_args *args)
{
    if (!ad_inputs_ok(t, elbo_op_name(op), 1, &a))
        return NULL;
    return ad_node(t, op, a->rows, a->cols, 1, &a, args);
}

/* ---- relu: y = max(a, 0) ; da += dy [a > 0] ---- */

elbo_node *elbo_ad_relu(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_RELU, a, NULL); }

void ad_relu_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_relu(ad_size(n), n->in[0]->x, n->x);
}

void ad_relu_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_relu_bwd(ad_size(n), n->in[0]->x, n->dx, da);
}

/* ---- leaky_relu: y = a > 0 ? a : s a ; da += dy (a > 0 ? 1 : s) ---- */

elbo_node *elbo_ad_leaky_relu(elbo_tape *t, elbo_node *a, float slope)
{
    elbo_op_args args = {.leaky = {.slope = slope}};
    return unary(t, ELBO_OP_LEAKY_RELU, a, &args);
}

void ad_leaky_relu_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_leaky_relu(ad_size(n), n->args.leaky.slope, n->in[0]->x, n->x);
}

void ad_leaky_relu_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_leaky_relu_bwd(ad_size(n), n->args.leaky.slope, n->in[0]->x, n->dx, da);
}

/* ---- tanh: y = tanh(a) ; da += dy (1 - y²) ---- */

elbo_node *elbo_ad_tanh(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_TANH, a, NULL); }

void ad_tanh_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_tanh(ad_size(n), n->in[0]->x, n->x);
}

void ad_tanh_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_tanh_bwd(ad_size(n), n->x, n->dx, da);
}

/* ---- sigmoid: y = 1/(1+e^-a) ; da += dy y (1 - y) ---- */

elbo_node *elbo_ad_sigmoid(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_SIGMOID, a, NULL); }

void ad_sigmoid_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_sigmoid(ad_size(n), n->in[0]->x, n->x);
}

void ad_sigmoid_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_sigmoid_bwd(ad_size(n), n->x, n->dx, da);
}

/* ---- softplus: y = log(1 + e^a) ; da += dy sigmoid(a) ---- */

elbo_node *elbo_ad_softplus(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_SOFTPLUS, a, NULL); }

void ad_softplus_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_softplus(ad_size(n), n->in[0]->x, n->x);
}

void ad_softplus_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_softplus_bwd(ad_size(n), n->in[0]->x, n->dx, da);
}

/* ---- exp: y = e^a ; da += dy y ---- */

elbo_node *elbo_ad_exp(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_EXP, a, NULL); }

void ad_exp_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_exp(ad_size(n), n->in[0]->x, n->x);
}

void ad_exp_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_exp_bwd(ad_size(n), n->x, n->dx, da);
}

/* ---- log: y = log a ; da += dy / a ---- */

elbo_node *elbo_ad_log(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_LOG, a, NULL); }

void ad_log_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    elbo_log(ad_size(n), n->in[0]->x, n->x);
}

void ad_log_backward(elbo_tape *t, elbo_node *n)
{
    float *da = ad_grad(t, n->in[0]);
    if (da)
        elbo_log_bwd(ad_size(n), n->in[0]->x, n->dx, da);
}
