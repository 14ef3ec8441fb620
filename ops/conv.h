/* 2-D convolutions of NHWC images through the packed GEMM.
 *
 * A convolution of x (n, h, w, cin) by a weight (kh, kw, cin, cout) is the
 * GEMM  y (n*oh*ow, cout) = col(x) (n*oh*ow, kh*kw*cin) . W (kh*kw*cin, cout),
 * where col(x) is its im2col matrix (ops/geom.h) and W the weight read as a
 * matrix (the same floats). Its three products:
 *   elbo_conv2d_fwd    y  = beta y + col(x) W
 *   elbo_conv2d_dgrad  dx += col2im(dy W^T)       (the input gradient)
 *   elbo_conv2d_wgrad  dW = beta dW + col(x)^T dy (the weight gradient)
 * The transposed convolution of x (n, h, w, cin) by a weight (kh, kw, cout,
 * cin) is the input gradient of the convolution that maps its output back to
 * x: its forward is elbo_conv2d_dgrad, its input gradient elbo_conv2d_fwd and
 * its weight gradient elbo_conv2d_wgrad, all on the geometry
 * elbo_conv_transpose2d_geom_init builds (input = the transposed
 * convolution's output). beta 0 never reads the output (NaN-safe).
 *
 * The fast path builds col(x) in chunks of rows that fit the L2 (im2col into
 * the caller's scratch), one GEMM per chunk; chunks run side by side on the
 * pool, the input gradient one image per task (col2im adds each image's
 * rows in order), the weight gradient in a fixed number of groups of chunks
 * summed in order. Every boundary depends on the shape only, so the results
 * are bit-identical for any thread count. A 1x1 convolution with stride 1 and
 * no padding is one GEMM on x itself. The direct loops (_ref) are the oracle.
 *
 * Scratch: elbo_conv2d_scratch floats for any of the three calls (it depends
 * on the thread count: query it right before the call). */
#ifndef ELBO_CONV_H
#define ELBO_CONV_H

#include <stddef.h>

#include "ops/error.h"
#include "ops/geom.h"

/* Per axis: stride >= 1, zero padding >= 0, dilation >= 1; output padding
 * (transposed convolution only) in [0, max(stride, dilation)), added to the
 * bottom and right of the output. */
typedef struct elbo_conv2d_opts {
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int out_pad_h, out_pad_w;
} elbo_conv2d_opts;

/* The same stride and padding on both axes, no dilation, no output padding. */
#define ELBO_CONV2D_OPTS(stride, pad) ((elbo_conv2d_opts){(stride), (stride), (pad), (pad), 1, 1, 0, 0})

/* The convolution of input (n, h, w, cin) by weight (kh, kw, cin, cout):
 * fills g, or returns ELBO_ERR_INVALID with one line naming the shapes and
 * the fix (a kernel larger than the padded input, a bad stride, ...). */
elbo_status elbo_conv2d_geom_init(elbo_conv2d_geom *g, int n, int h, int w, int cin, int kh, int kw, int cout,
                                  const elbo_conv2d_opts *o);
/* The transposed convolution of input (n, h, w, cin) by weight
 * (kh, kw, cout, cin), output (n, oh, ow, cout) with
 *   oh = (h - 1) stride_h - 2 pad_h + dil_h (kh - 1) + out_pad_h + 1:
 * fills g with the convolution from (n, oh, ow, cout) back to (n, h, w, cin)
 * (so g->h, g->w, g->cin describe the transposed convolution's OUTPUT). */
elbo_status elbo_conv_transpose2d_geom_init(elbo_conv2d_geom *g, int n, int h, int w, int cin, int kh, int kw,
                                            int cout, const elbo_conv2d_opts *o);

/* Floats of scratch each call below needs at the current thread count. */
size_t elbo_conv2d_scratch(const elbo_conv2d_geom *g);

/* x (n,h,w,cin), w (kh*kw*cin, cout), y (n,oh,ow,cout); scratch: scratch_floats
 * (>= elbo_conv2d_scratch(g) at the thread count of the call) */
void elbo_conv2d_fwd(const elbo_conv2d_geom *g, const float *x, const float *w, float beta, float *y,
                     float *scratch, size_t scratch_floats);
void elbo_conv2d_dgrad(const elbo_conv2d_geom *g, const float *dy, const float *w, float *dx, float *scratch,
                       size_t scratch_floats);
void elbo_conv2d_wgrad(const elbo_conv2d_geom *g, const float *x, const float *dy, float beta, float *dw,
                       float *scratch, size_t scratch_floats);

/* The naive references: direct loops over (n, oh, ow, kh, kw, cin, cout)
 * with double sums, the test oracle of the three calls above. */
void elbo_conv2d_fwd_ref(const elbo_conv2d_geom *g, const float *x, const float *w, float beta, float *y);
void elbo_conv2d_dgrad_ref(const elbo_conv2d_geom *g, const float *dy, const float *w, float *dx);
void elbo_conv2d_wgrad_ref(const elbo_conv2d_geom *g, const float *x, const float *dy, float beta, float *dw);

#endif
