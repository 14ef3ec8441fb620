/* The geometry of a convolution and of a transposed convolution
 * (ops/conv.h): sizes checked once, with one line naming the shapes. */
#include "ops/conv.h"

#include <stdint.h>

/* the output size along one axis: (in + 2 pad - dil (k - 1) - 1) / stride + 1 */
static long out_size(long in, long k, long stride, long pad, long dil) { return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1; }

static elbo_status check_opts(const char *op, const elbo_conv2d_opts *o)
{
    if (!o || o->stride_h < 1 || o->stride_w < 1 || o->dil_h < 1 || o->dil_w < 1 || o->pad_h < 0 || o->pad_w < 0)
        return elbo_fail(ELBO_ERR_INVALID, "%s: expected stride >= 1, dilation >= 1, padding >= 0, got stride %dx%d "
                         "dilation %dx%d padding %dx%d", op, o ? o->stride_h : 0, o ? o->stride_w : 0,
                         o ? o->dil_h : 0, o ? o->dil_w : 0, o ? o->pad_h : 0, o ? o->pad_w : 0);
    return ELBO_OK;
}

/* every size >= 1 and every image and weight small enough for int indices */
static elbo_status check_sizes(const char *op, const elbo_conv2d_geom *g)
{
    const int dims[] = {g->n, g->h, g->w, g->cin, g->kh, g->kw, g->cout, g->oh, g->ow};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] < 1)
            return elbo_fail(ELBO_ERR_INVALID, "%s: expected every size >= 1, got input (%d,%d,%d,%d), weight "
                             "(%d,%d,%d,%d), output (%d,%d,%d,%d)", op, g->n, g->h, g->w, g->cin, g->kh, g->kw,
                             g->cin, g->cout, g->n, g->oh, g->ow, g->cout);
    double in = (double)g->n * g->h * g->w * g->cin, out = (double)g->n * g->oh * g->ow * g->cout;
    double col = (double)g->oh * g->ow * g->kh * g->kw * g->cin, wt = (double)g->kh * g->kw * g->cin * g->cout;
    if (in > INT32_MAX || out > INT32_MAX || col > INT32_MAX || wt > INT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "%s: input (%d,%d,%d,%d) or output (%d,%d,%d,%d) too large (over 2^31 "
                         "floats)", op, g->n, g->h, g->w, g->cin, g->n, g->oh, g->ow, g->cout);
    return ELBO_OK;
}

elbo_status elbo_conv2d_geom_init(elbo_conv2d_geom *g, int n, int h, int w, int cin, int kh, int kw, int cout,
                                  const elbo_conv2d_opts *o)
{
    elbo_status st = check_opts("conv2d", o);
    if (st != ELBO_OK)
        return st;
    long eh = (long)o->dil_h * (kh - 1) + 1, ew = (long)o->dil_w * (kw - 1) + 1;
    if (kh < 1 || kw < 1 || eh > (long)h + 2 * o->pad_h || ew > (long)w + 2 * o->pad_w)
        return elbo_fail(ELBO_ERR_INVALID, "conv2d: kernel %dx%d (%ldx%ld with dilation) larger than the padded "
                         "input %dx%d (padding %dx%d): expected a smaller kernel or more padding",
                         kh, kw, eh, ew, h, w, o->pad_h, o->pad_w);
    *g = (elbo_conv2d_geom){.n = n, .h = h, .w = w, .cin = cin, .kh = kh, .kw = kw, .cout = cout,
                            .stride_h = o->stride_h, .stride_w = o->stride_w, .pad_h = o->pad_h, .pad_w = o->pad_w,
                            .dil_h = o->dil_h, .dil_w = o->dil_w};
    g->oh = (int)out_size(h, kh, o->stride_h, o->pad_h, o->dil_h);
    g->ow = (int)out_size(w, kw, o->stride_w, o->pad_w, o->dil_w);
    return check_sizes("conv2d", g);
}

elbo_status elbo_conv_transpose2d_geom_init(elbo_conv2d_geom *g, int n, int h, int w, int cin, int kh, int kw,
                                            int cout, const elbo_conv2d_opts *o)
{
    elbo_status st = check_opts("conv_transpose2d", o);
    if (st != ELBO_OK)
        return st;
    int max_h = o->stride_h > o->dil_h ? o->stride_h : o->dil_h, max_w = o->stride_w > o->dil_w ? o->stride_w : o->dil_w;
    if (o->out_pad_h < 0 || o->out_pad_w < 0 || o->out_pad_h >= max_h || o->out_pad_w >= max_w)
        return elbo_fail(ELBO_ERR_INVALID, "conv_transpose2d: expected output padding in [0, max(stride, dilation)) "
                         "= [0,%d)x[0,%d), got %dx%d", max_h, max_w, o->out_pad_h, o->out_pad_w);
    long oh = ((long)h - 1) * o->stride_h - 2L * o->pad_h + (long)o->dil_h * (kh - 1) + o->out_pad_h + 1;
    long ow = ((long)w - 1) * o->stride_w - 2L * o->pad_w + (long)o->dil_w * (kw - 1) + o->out_pad_w + 1;
    if (kh < 1 || kw < 1 || oh < 1 || ow < 1 || oh > INT32_MAX || ow > INT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "conv_transpose2d: input %dx%d, kernel %dx%d, stride %dx%d, padding "
                         "%dx%d give an output of %ldx%ld: expected >= 1x1 (less padding)", h, w, kh, kw,
                         o->stride_h, o->stride_w, o->pad_h, o->pad_w, oh, ow);
    /* the convolution from the output (n, oh, ow, cout) back to the input (n, h, w, cin) */
    *g = (elbo_conv2d_geom){.n = n, .h = (int)oh, .w = (int)ow, .cin = cout, .kh = kh, .kw = kw, .cout = cin,
                            .stride_h = o->stride_h, .stride_w = o->stride_w, .pad_h = o->pad_h, .pad_w = o->pad_w,
                            .dil_h = o->dil_h, .dil_w = o->dil_w, .oh = h, .ow = w};
    if (out_size(oh, kh, o->stride_h, o->pad_h, o->dil_h) != h || out_size(ow, kw, o->stride_w, o->pad_w, o->dil_w) != w)
        return elbo_fail(ELBO_ERR_INVALID, "conv_transpose2d: input %dx%d does not come back from its output %ldx%ld "
                         "(kernel %dx%d, stride %dx%d, padding %dx%d)", h, w, oh, ow, kh, kw, o->stride_h,
                         o->stride_w, o->pad_h, o->pad_w);
    return check_sizes("conv_transpose2d", g);
}
