/* Convolutions of NHWC images: conv2d and conv_transpose2d, each with an
 * optional bias per output channel. Both run on ops/conv.h, whose three
 * products (fwd, dgrad, wgrad) are the forward and the two gradients of a
 * convolution and, in the other order, of a transposed convolution. The
 * scratch of each call comes from the tape's arena. */
#include "autodiff/tape_internal.h"

#include <stdio.h>
#include <string.h>

#include "ops/conv.h"
#include "ops/ops.h"

/* x (N,H,W,C), w 4-D and b NULL or of `cout` elements; else the error. */
static bool conv_inputs_ok(elbo_tape *t, const char *op, elbo_node *x, elbo_node *w, elbo_node *b, int w_in,
                           const char *w_layout)
{
    elbo_node *in[] = {x, w, b};
    if (!ad_inputs_ok(t, op, b ? 3 : 2, in))
        return false;
    if (x->shape.ndim != 4 || w->shape.ndim != 4 || w->shape.d[w_in] != x->shape.d[3]) {
        ad_error(t, ELBO_ERR_INVALID, "%s: expected x (N,H,W,Cin) and w %s with Cin = %d, got x %s and w %s", op,
                 w_layout, x->shape.ndim == 4 ? x->shape.d[3] : 0, AD_SHAPE(x), AD_SHAPE(w));
        return false;
    }
    int cout = w->shape.d[w_in == 2 ? 3 : 2];
    if (b && ad_size(b) != (size_t)cout) {
        ad_error(t, ELBO_ERR_INVALID, "%s: expected a bias of Cout = %d elements, got %s", op, cout, AD_SHAPE(b));
        return false;
    }
    return true;
}

/* the error of a geometry ops/conv_geom.c refused, with the tensors' shapes */
static elbo_node *geom_error(elbo_tape *t, const char *op, const elbo_node *x, const elbo_node *w)
{
    char why[160];
    snprintf(why, sizeof why, "%s", elbo_last_error());
    return ad_error(t, ELBO_ERR_INVALID, "%s: x %s, w %s: %s", op, AD_SHAPE(x), AD_SHAPE(w), why);
}

/* scratch for one call of ops/conv.h at the current thread count */
static float *conv_scratch(elbo_tape *t, const elbo_conv2d_geom *g, size_t *n)
{
    *n = elbo_conv2d_scratch(g);
    return ad_scratch(t, *n ? *n : 1);
}

/* y (M, Cout) += b on every row; db += dy summed over rows */
static void bias_forward(const elbo_node *n, int cout)
{
    if (n->n_in == 3)
        elbo_add_bias(ad_size(n) / (size_t)cout, (size_t)cout, n->in[2]->x, n->x);
}

static void bias_backward(elbo_tape *t, elbo_node *n, int cout)
{
    float *db = n->n_in == 3 ? ad_grad(t, n->in[2]) : NULL;
    if (db)
        elbo_col_sum(ad_size(n) / (size_t)cout, (size_t)cout, n->dx, db);
}

/* ---- conv2d: y = x * w + b ; dx += dgrad(dy, w) ; dw += col(x)^T dy ; db += sum dy ---- */

elbo_node *elbo_ad_conv2d(elbo_tape *t, elbo_node *x, elbo_node *w, elbo_node *b, const elbo_conv2d_opts *o)
{
    if (!conv_inputs_ok(t, "conv2d", x, w, b, 2, "(KH,KW,Cin,Cout)"))
        return NULL;
    elbo_op_args args;
    const int *xd = x->shape.d, *wd = w->shape.d;
    if (elbo_conv2d_geom_init(&args.conv, xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[3], o) != ELBO_OK)
        return geom_error(t, "conv2d", x, w);
    elbo_node *in[] = {x, w, b};
    elbo_shape s = {.ndim = 4, .d = {args.conv.n, args.conv.oh, args.conv.ow, args.conv.cout}};
    return ad_node(t, ELBO_OP_CONV2D, &s, b ? 3 : 2, in, &args);
}

void ad_conv2d_forward(elbo_tape *t, elbo_node *n)
{
    const elbo_conv2d_geom *g = &n->args.conv;
    size_t ns;
    float *scratch = conv_scratch(t, g, &ns);
    if (!scratch)
        return;
    // x (N,H,W,Cin) * w (KH*KW*Cin, Cout) -> y (N,OH,OW,Cout)
    elbo_conv2d_fwd(g, n->in[0]->x, n->in[1]->x, 0.0f, n->x, scratch, ns);
    bias_forward(n, g->cout);
}

void ad_conv2d_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_conv2d_geom *g = &n->args.conv;
    elbo_node *x = n->in[0], *w = n->in[1];
    float *dx = ad_grad(t, x), beta, *dw = ad_grad_overwrite(t, w, &beta);
    size_t ns;
    float *scratch = (dx || dw) ? conv_scratch(t, g, &ns) : NULL;
    if ((dx || dw) && !scratch)
        return;
    if (dx) // dy (N,OH,OW,Cout) -> dx (N,H,W,Cin)
        elbo_conv2d_dgrad(g, n->dx, w->x, dx, scratch, ns);
    if (dw) // col(x)^T dy -> dw (KH*KW*Cin, Cout)
        elbo_conv2d_wgrad(g, x->x, n->dx, beta, dw, scratch, ns);
    bias_backward(t, n, g->cout);
}

/* ---- conv_transpose2d: y = dgrad(x, w) + b ; dx += conv(dy, w) ; dw += col(dy)^T x ; db += sum dy ----
 * args.conv is the convolution from y's shape back to x's (ops/conv.h). */

elbo_node *elbo_ad_conv_transpose2d(elbo_tape *t, elbo_node *x, elbo_node *w, elbo_node *b,
                                    const elbo_conv2d_opts *o)
{
    if (!conv_inputs_ok(t, "conv_transpose2d", x, w, b, 3, "(KH,KW,Cout,Cin)"))
        return NULL;
    elbo_op_args args;
    const int *xd = x->shape.d, *wd = w->shape.d;
    if (elbo_conv_transpose2d_geom_init(&args.conv, xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], o) != ELBO_OK)
        return geom_error(t, "conv_transpose2d", x, w);
    elbo_node *in[] = {x, w, b};
    elbo_shape s = {.ndim = 4, .d = {args.conv.n, args.conv.h, args.conv.w, args.conv.cin}};
    return ad_node(t, ELBO_OP_CONV_TRANSPOSE2D, &s, b ? 3 : 2, in, &args);
}

void ad_conv_transpose2d_forward(elbo_tape *t, elbo_node *n)
{
    const elbo_conv2d_geom *g = &n->args.conv;
    size_t ns;
    float *scratch = conv_scratch(t, g, &ns);
    if (!scratch)
        return;
    // x (N,H,W,Cin) scattered through w (KH*KW*Cout, Cin) -> y (N,OH,OW,Cout)
    memset(n->x, 0, ad_size(n) * sizeof(float));
    elbo_conv2d_dgrad(g, n->in[0]->x, n->in[1]->x, n->x, scratch, ns);
    bias_forward(n, g->cin);
}

void ad_conv_transpose2d_backward(elbo_tape *t, elbo_node *n)
{
    const elbo_conv2d_geom *g = &n->args.conv;
    elbo_node *x = n->in[0], *w = n->in[1];
    float beta_x, beta_w, *dx = ad_grad_overwrite(t, x, &beta_x), *dw = ad_grad_overwrite(t, w, &beta_w);
    size_t ns;
    float *scratch = (dx || dw) ? conv_scratch(t, g, &ns) : NULL;
    if ((dx || dw) && !scratch)
        return;
    if (dx) // dy (N,OH,OW,Cout) * w -> dx (N,H,W,Cin)
        elbo_conv2d_fwd(g, n->dx, w->x, beta_x, dx, scratch, ns);
    if (dw) // col(dy)^T x -> dw (KH*KW*Cout, Cin)
        elbo_conv2d_wgrad(g, n->dx, x->x, beta_w, dw, scratch, ns);
    bias_backward(t, n, g->cin);
}
