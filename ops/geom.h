/* Geometry of the image kernels: NHWC images (batch, height, width,
 * channels; channels innermost), float32, row-major.
 *
 * The image layers keep channels innermost so that a channel bias or a
 * channel concatenation is the matrix form (N*H*W, C) that add_bias,
 * col_sum and the column concatenation already handle, and an im2col row is
 * KH runs of KW*Cin contiguous floats (see docs/ARCHITECTURE.md). */
#ifndef ELBO_GEOM_H
#define ELBO_GEOM_H

#include <stddef.h>

/* A window over each image: average pooling (a k x k window every `stride`
 * pixels, no padding) reads (h, w) and writes (oh, ow); nearest-neighbour
 * upsampling by k reads (h, w) and writes (oh, ow) = (k h, k w), stride = k.
 * n images of c channels on both sides. */
typedef struct elbo_window2d {
    int n, h, w, c;
    int k, stride;
    int oh, ow;
} elbo_window2d;

/* Floats of one input image, one output image. */
static inline size_t elbo_window2d_in_image(const elbo_window2d *g) { return (size_t)g->h * (size_t)g->w * (size_t)g->c; }
static inline size_t elbo_window2d_out_image(const elbo_window2d *g) { return (size_t)g->oh * (size_t)g->ow * (size_t)g->c; }

/* A 2-D convolution: input (n, h, w, cin), weight (kh, kw, cin, cout), output
 * (n, oh, ow, cout) with
 *   oh = (h + 2 pad_h - dil_h (kh - 1) - 1) / stride_h + 1   (the same for w).
 * Output pixel (oh_i, ow_i) reads input rows oh_i stride_h - pad_h + kh_i dil_h
 * and columns ow_i stride_w - pad_w + kw_i dil_w; outside the image reads 0.
 * Its im2col matrix has one row per output pixel, n*oh*ow rows in NHWC order,
 * of kh*kw*cin floats ordered (kh, kw, cin), the row order of the weight seen
 * as a (kh*kw*cin, cout) matrix. Build one with elbo_conv2d_geom_init
 * (ops/conv.h), which checks it. */
typedef struct elbo_conv2d_geom {
    int n, h, w, cin;
    int kh, kw, cout;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int oh, ow;
} elbo_conv2d_geom;

/* Rows (output pixels) and columns (kh*kw*cin) of the im2col matrix. */
static inline size_t elbo_conv2d_rows(const elbo_conv2d_geom *g) { return (size_t)g->n * (size_t)g->oh * (size_t)g->ow; }
static inline size_t elbo_conv2d_cols(const elbo_conv2d_geom *g) { return (size_t)g->kh * (size_t)g->kw * (size_t)g->cin; }

#endif
