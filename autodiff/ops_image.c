/* Image windows of NHWC tensors: average pooling and nearest-neighbour
 * upsampling (channels concatenate in ops_linalg.c; a bias per channel is
 * ops_elementwise.c's row broadcast). Each op: constructor, forward,
 * backward, side by side, on the window kernels of ops/kernels/image.c. */
#include "autodiff/tape_internal.h"

#include "ops/ops.h"

static bool image_ok(elbo_tape *t, const char *op, elbo_node *x)
{
    if (!ad_inputs_ok(t, op, 1, &x))
        return false;
    if (x->shape.ndim != 4) {
        ad_error(t, ELBO_ERR_INVALID, "%s: expected an NHWC image (N,H,W,C), got %s", op, AD_SHAPE(x));
        return false;
    }
    return true;
}

static elbo_window2d window_of(const elbo_node *x, int k, int stride)
{
    const int *d = x->shape.d;
    return (elbo_window2d){.n = d[0], .h = d[1], .w = d[2], .c = d[3], .k = k, .stride = stride};
}

/* ---- avg_pool2d: y[o] = mean of the k x k window of o ; dx[i] += dy[o] / k^2 for each window o holding i ---- */

elbo_node *elbo_ad_avg_pool2d(elbo_tape *t, elbo_node *x, int k, int stride)
{
    if (!image_ok(t, "avg_pool2d", x))
        return NULL;
    if (k < 1 || stride < 1 || k > x->shape.d[1] || k > x->shape.d[2])
        return ad_error(t, ELBO_ERR_INVALID, "avg_pool2d: expected 1 <= k <= H, W and stride >= 1 for x %s, got k %d "
                        "stride %d", AD_SHAPE(x), k, stride);
    elbo_op_args args = {.win = window_of(x, k, stride)};
    args.win.oh = (args.win.h - k) / stride + 1;
    args.win.ow = (args.win.w - k) / stride + 1;
    elbo_shape s = {.ndim = 4, .d = {args.win.n, args.win.oh, args.win.ow, args.win.c}};
    return ad_node(t, ELBO_OP_AVG_POOL2D, &s, 1, &x, &args);
}

void ad_avg_pool2d_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    // x (N,H,W,C) -> y (N,OH,OW,C)
    elbo_avgpool2d(&n->args.win, n->in[0]->x, n->x);
}

void ad_avg_pool2d_backward(elbo_tape *t, elbo_node *n)
{
    float *dx = ad_grad(t, n->in[0]);
    if (dx) // dy (N,OH,OW,C) -> dx (N,H,W,C)
        elbo_avgpool2d_bwd(&n->args.win, n->dx, dx);
}

/* ---- upsample2d: y[i,j] = x[i/f, j/f] ; dx[i,j] += sum of dy over its f x f block ---- */

elbo_node *elbo_ad_upsample2d(elbo_tape *t, elbo_node *x, int factor)
{
    if (!image_ok(t, "upsample2d", x))
        return NULL;
    if (factor < 1 || (double)factor * factor * (double)ad_size(x) > INT32_MAX)
        return ad_error(t, ELBO_ERR_INVALID, "upsample2d: expected a factor >= 1 that keeps %s under 2^31 floats, "
                        "got %d", AD_SHAPE(x), factor);
    elbo_op_args args = {.win = window_of(x, factor, factor)};
    args.win.oh = args.win.h * factor;
    args.win.ow = args.win.w * factor;
    elbo_shape s = {.ndim = 4, .d = {args.win.n, args.win.oh, args.win.ow, args.win.c}};
    return ad_node(t, ELBO_OP_UPSAMPLE2D, &s, 1, &x, &args);
}

void ad_upsample2d_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    // x (N,H,W,C) -> y (N,fH,fW,C)
    elbo_upsample2d(&n->args.win, n->in[0]->x, n->x);
}

void ad_upsample2d_backward(elbo_tape *t, elbo_node *n)
{
    float *dx = ad_grad(t, n->in[0]);
    if (dx) // dy (N,fH,fW,C) -> dx (N,H,W,C)
        elbo_upsample2d_bwd(&n->args.win, n->dx, dx);
}
