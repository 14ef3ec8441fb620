/* Activations y = f(a) elementwise, one tape op per entry of
 * ELBO_ACTIVATIONS (ops/kernels/list.h), generated here: the result takes
 * a's shape, and
 *   elbo_ad_<name>(t, a [, p])   records the op (p: the slope, alpha, ...)
 *   forward:   y = f(a)                     elbo_<name>(n, [p,] a, y)
 *   backward:  da += dy f'                  elbo_<name>_bwd(n, [p,] a or y, dy, da)
 * where the backward kernel reads a (reads IN) or y (reads OUT), whichever
 * the derivative is cheapest from. The kernels and their formulas are in
 * ops/kernels/activation.c. */
#include "autodiff/tape_internal.h"

#include "ops/ops.h"

static elbo_node *unary(elbo_tape *t, elbo_op op, elbo_node *a, const elbo_op_args *args)
{
    if (!ad_inputs_ok(t, elbo_op_name(op), 1, &a))
        return NULL;
    return ad_node(t, op, &a->shape, 1, &a, args);
}

/* the array the backward kernel reads */
#define AD_ACT_READS_IN(n) (n)->in[0]->x
#define AD_ACT_READS_OUT(n) (n)->x

/* without a parameter: elbo_<name>(n, x, y), elbo_<name>_bwd(n, x|y, dy, dx) */
#define AD_ACT_OP_0(ID, name, reads, pname)                                                                  \
    elbo_node *elbo_ad_##name(elbo_tape *t, elbo_node *a) { return unary(t, ELBO_OP_##ID, a, NULL); }         \
    void ad_##name##_forward(elbo_tape *t, elbo_node *n)                                                     \
    {                                                                                                        \
        (void)t;                                                                                             \
        elbo_##name(ad_size(n), n->in[0]->x, n->x);                                                          \
    }                                                                                                        \
    void ad_##name##_backward(elbo_tape *t, elbo_node *n)                                                    \
    {                                                                                                        \
        float *da = ad_grad(t, n->in[0]);                                                                    \
        if (da)                                                                                              \
            elbo_##name##_bwd(ad_size(n), AD_ACT_READS_##reads(n), n->dx, da);                               \
    }

/* with a float parameter, kept in args.act.s */
#define AD_ACT_OP_1(ID, name, reads, pname)                                                                  \
    elbo_node *elbo_ad_##name(elbo_tape *t, elbo_node *a, float pname)                                        \
    {                                                                                                        \
        elbo_op_args args = {.act = {.s = pname}};                                                           \
        return unary(t, ELBO_OP_##ID, a, &args);                                                             \
    }                                                                                                        \
    void ad_##name##_forward(elbo_tape *t, elbo_node *n)                                                     \
    {                                                                                                        \
        (void)t;                                                                                             \
        elbo_##name(ad_size(n), n->args.act.s, n->in[0]->x, n->x);                                           \
    }                                                                                                        \
    void ad_##name##_backward(elbo_tape *t, elbo_node *n)                                                    \
    {                                                                                                        \
        float *da = ad_grad(t, n->in[0]);                                                                    \
        if (da)                                                                                              \
            elbo_##name##_bwd(ad_size(n), n->args.act.s, AD_ACT_READS_##reads(n), n->dx, da);                \
    }

#define AD_ACT_OP_(ID, name, reads, np, pname, lo, hi, atol, rtol, _) AD_ACT_OP_##np(ID, name, reads, pname)
ELBO_ACTIVATIONS(AD_ACT_OP_, _)
