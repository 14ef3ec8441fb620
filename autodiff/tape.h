/* Tape-based reverse-mode automatic differentiation over float32 tensors of
 * up to 4 dimensions.
 *
 * Define-by-run: each elbo_ad_* call computes its result at once and, unless
 * gradients are off, records a node on the tape. elbo_backward() sweeps the
 * tape in reverse, calling each op's backward (the ops are listed in
 * autodiff/op_list.h; forward and backward of an op sit side by side in
 * autodiff/ops_*.c).
 *
 * Shapes: a tensor has 1 to 4 dimensions, row-major, batch first; images are
 * NHWC (batch, height, width, channels: channels innermost). Every tensor is
 * also a matrix, its 2-D view: rows = dimension 0, cols = the product of the
 * rest (node->rows, node->cols), and every op that predates N-D tensors works
 * on that view unchanged (a dense layer on an image flattens it). Elementwise
 * ops give their result the N-D shape of their first input. Reshape and
 * flatten are views: no copy, the value aliases the input's and so does the
 * gradient.
 *
 * Nodes and their values live in the tape's arena and die at elbo_tape_reset();
 * parameter nodes view the slabs of an elbo_params (values and gradients).
 *
 * Errors are sticky: an op given a NULL input, mismatched shapes, or out of
 * memory returns NULL and records the first error on the tape (the message
 * names the op and the full shapes); check elbo_tape_status() once after
 * building the graph. */
#ifndef ELBO_TAPE_H
#define ELBO_TAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodiff/arena.h"
#include "autodiff/op_list.h"
#include "ops/conv.h"
#include "ops/error.h"
#include "ops/geom.h"
#include "ops/rng.h"

#define ELBO_MAX_DIMS 4

/* A shape: ndim in [1, ELBO_MAX_DIMS] dimensions d[0..ndim-1], each >= 1. */
typedef struct elbo_shape {
    int ndim;
    int d[ELBO_MAX_DIMS];
} elbo_shape;

typedef struct elbo_node elbo_node;

/* Declared here; include autodiff/params.h to build parameters. */
typedef struct elbo_params elbo_params;

/* Per-op saved arguments: one named struct per op that needs any. */
typedef union elbo_op_args {
    struct { float s; } scale;
    struct { float s; } act;              /* an activation's parameter (slope, alpha) */
    struct { int start, len; } slice;
    struct { float fixed_logvar; } gauss; /* used when the logvar input is absent */
    struct { float *eps; } reparam;       /* the noise drawn in forward */
    struct { float *prec, *cols; } pairs; /* e^{-logvar} (M,D), saved for backward; diag_: mu and e^{-logvar}
                                           * transposed (D,M) and Σ_d (log 2π + logvar) (M) */
    struct { elbo_params *p; int id; } param; /* the parameter a leaf views */
    struct { int32_t *labels; int positions; } labels; /* categorical_nll: (rows * positions) labels */
    struct { int outer, len, inner; } axis;   /* softmax: along len of (outer, len, inner) */
    struct { int hw, c, groups; float eps; float *stats; } norm; /* stats saved for backward */
    elbo_window2d win;                        /* pooling, upsampling */
    elbo_conv2d_geom conv;                    /* a convolution's geometry (transposed: its backward's) */
    struct { int32_t *codes; size_t rows; } vq; /* vq_residual: the code chosen for each of rows vectors */
} elbo_op_args;

#define ELBO_MAX_INPUTS 3

struct elbo_node {
    int rows, cols;     /* the 2-D view: rows = shape.d[0], cols = the product of the rest */
    elbo_shape shape;
    float *x;           /* value, rows*cols floats */
    float *dx;          /* gradient (same shape); NULL until backward reaches it (views: unused) */
    elbo_op op;
    bool requires_grad; /* some parameter lies upstream */
    int n_in;
    elbo_node *in[ELBO_MAX_INPUTS];
    elbo_op_args args;
};

typedef struct elbo_tape elbo_tape;

/* A tape with an arena of initial_bytes (it grows as needed). */
elbo_status elbo_tape_create(elbo_tape **out, size_t initial_bytes);
void elbo_tape_destroy(elbo_tape *t);
/* Forget all nodes and reuse the arena for a new step. */
void elbo_tape_reset(elbo_tape *t);
/* Gradients on (default) or off (evaluation: nothing recorded for backward). */
void elbo_tape_set_grad(elbo_tape *t, bool enabled);
bool elbo_tape_grad_enabled(const elbo_tape *t);
/* The first error since the last reset (ELBO_OK if none). */
elbo_status elbo_tape_status(const elbo_tape *t);
/* Record an error on the tape (the first one sticks, as an op's would) and
 * return NULL: for graph builders above the tape whose graph cannot be made
 * (e.g. a density a posterior family does not have). */
elbo_node *elbo_tape_fail(elbo_tape *t, elbo_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Scratch memory from the tape's arena (valid until reset). */
float *elbo_tape_alloc(elbo_tape *t, size_t nfloats);
/* Nodes recorded for backward since the last reset (0 in no-grad mode). */
int elbo_tape_recorded(const elbo_tape *t);
/* The arena behind the tape (read-only: capacity and high-water checks). */
const elbo_arena *elbo_tape_arena(const elbo_tape *t);
/* The op's name ("matmul", ...; "unknown" out of range) and kind. */
const char *elbo_op_name(elbo_op op);
elbo_op_kind elbo_op_kind_of(elbo_op op);
/* The op table's row has what the op's kind requires: a forward and a
 * backward for an OP, neither for a leaf or a view (the tests check every
 * row; the tape checks again before it calls one). */
bool elbo_op_row_ok(elbo_op op);

/* Gradient-ready hook: called during elbo_backward once for every parameter
 * of every parameter set with a leaf on the tape, as soon as that
 * parameter's gradient is final: right after the backward of its
 * earliest-recorded consumer has run (a parameter may have several leaves,
 * e.g. a decoder run once per importance sample: all their contributions are
 * in by then), or at the end of the sweep for a parameter nothing consumed.
 * For an MLP the hooks come in reverse layer order, so a data-parallel
 * trainer can start reducing the last layers' gradients while backward still
 * runs for the first ones. The gradient (elbo_param_g(p, id)) must not be
 * written by the hook before elbo_backward returns; a hook may read it.
 * NULL fn removes the hook. */
typedef void (*elbo_grad_ready_fn)(void *ctx, elbo_params *p, int id);
void elbo_tape_set_grad_hook(elbo_tape *t, elbo_grad_ready_fn fn, void *ctx);

/* Reverse sweep from a (1,1) loss: dloss = 1, then each node's backward in
 * reverse order; parameter gradients are accumulated into the params' g slab
 * (zero them first with elbo_params_zero_grad, or mark them stale with
 * elbo_params_clear_grad: then the first contribution overwrites, and the
 * sweep zeroes those it never reached). Nodes no gradient reached are
 * skipped, as is every input that needs none (e.g. dX of the first layer).
 * Call once per graph: a second sweep would accumulate intermediate
 * gradients twice. */
elbo_status elbo_backward(elbo_tape *t, elbo_node *loss);

/* ---- leaves ---- */
/* A constant (rows, cols) tensor viewing data (not copied: keep it alive until reset). */
elbo_node *elbo_ad_input(elbo_tape *t, int rows, int cols, const float *data);
/* The same with an N-D shape of ndim dimensions dims[0..ndim-1]. */
elbo_node *elbo_ad_input_nd(elbo_tape *t, int ndim, const int *dims, const float *data);
/* A parameter of p: its value is the slab, its gradient accumulates into p->g;
 * its shape is the one it was registered with (elbo_params_add_nd). */
elbo_node *elbo_ad_param(elbo_tape *t, elbo_params *p, int id);

/* ---- views (no copy; the gradient flows to a's) ---- */
/* a with ndim dimensions dims[..] of the same element count; one dimension
 * may be -1, inferred from the others. */
elbo_node *elbo_ad_reshape(elbo_tape *t, elbo_node *a, int ndim, const int *dims);
/* a as its 2-D view (rows, cols): (N,H,W,C) -> (N, H*W*C). */
elbo_node *elbo_ad_flatten(elbo_tape *t, elbo_node *a);

/* ---- ops (each: forward now, backward in the reverse sweep) ---- */
elbo_node *elbo_ad_matmul(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_linear(elbo_tape *t, elbo_node *x, elbo_node *W, elbo_node *b);
/* a op b with b of a's shape, or a row broadcast over a: b's dimensions,
 * after any leading 1s, are a's trailing dimensions; b (1,C) over a (R,C),
 * and over an NHWC image b (C) (or (1,C)) is a bias per channel. */
elbo_node *elbo_ad_add(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_sub(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_mul(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_scale(elbo_tape *t, elbo_node *a, float s);
/* [a | b] of the 2-D views: (R,Ca) and (R,Cb) -> (R,Ca+Cb). */
elbo_node *elbo_ad_concat_cols(elbo_tape *t, elbo_node *a, elbo_node *b);
/* Channel concatenation of NHWC images: (N,H,W,Ca) and (N,H,W,Cb) ->
 * (N,H,W,Ca+Cb), e.g. an image and a label map (conditioning). */
elbo_node *elbo_ad_concat_channels(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_slice_cols(elbo_tape *t, elbo_node *a, int start, int len);
/* Activations y = f(a), one per entry of ELBO_ACTIVATIONS (ops/kernels/list.h):
 * elbo_ad_relu, elbo_ad_leaky_relu(t, a, slope), elbo_ad_tanh, elbo_ad_sigmoid,
 * elbo_ad_softplus, elbo_ad_exp, elbo_ad_log, ... */
#define ELBO_ACT_CTOR_(ID, name, reads, np, pname, lo, hi, atol, rtol, _) ELBO_ACT_CTOR_##np(name, pname)
#define ELBO_ACT_CTOR_0(name, pname) elbo_node *elbo_ad_##name(elbo_tape *t, elbo_node *a);
#define ELBO_ACT_CTOR_1(name, pname) elbo_node *elbo_ad_##name(elbo_tape *t, elbo_node *a, float pname);
ELBO_ACTIVATIONS(ELBO_ACT_CTOR_, _)
elbo_node *elbo_ad_sum(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_mean(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_sum_rows(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_logsumexp_rows(elbo_tape *t, elbo_node *a);
/* log Σ e^a along dimension axis (negative: from the end), which the result
 * drops: (B,M,D) along 1 -> (B,D); a 1-D a gives (1). Entries of -inf are
 * allowed (a weight of zero): a slice all -inf gives -inf and no gradient. */
elbo_node *elbo_ad_logsumexp_axis(elbo_tape *t, elbo_node *a, int axis);
/* Squared differences of every pair of rows: a (B,D), b (M,D) -> (B,M,D),
 * y[i,j,d] = (a[i,d] - b[j,d])² (pairwise Gaussian log-densities, squared
 * distances). */
elbo_node *elbo_ad_sqdiff_pairs(elbo_tape *t, elbo_node *a, elbo_node *b);
/* Gaussian log-densities of every pair, per dimension: z (B,D), mu and
 * logvar (M,D) -> (B,M,D), y[i,j,d] = log N(z[i,d]; mu[j,d], e^{logvar[j,d]})
 * (the pairwise q(z_i | x_j) of the total-correlation estimators). */
elbo_node *elbo_ad_gauss_logpdf_pairs(elbo_tape *t, elbo_node *z, elbo_node *mu, elbo_node *logvar);
/* The same summed over the dimensions: z (B,D), mu and logvar (M,D) -> (B,M),
 * y[i,j] = log N(z_i; mu_j, diag e^{logvar_j}) (the components of a mixture
 * or VampPrior prior), without the (B,M,D) intermediate. */
elbo_node *elbo_ad_diag_gauss_logpdf_pairs(elbo_tape *t, elbo_node *z, elbo_node *mu, elbo_node *logvar);
/* The transpose of the 2-D view: (R,C) -> (C,R). */
elbo_node *elbo_ad_transpose(elbo_tape *t, elbo_node *a);
/* Per-row negative log-likelihoods and KL, each (R,1). */
elbo_node *elbo_ad_bernoulli_nll(elbo_tape *t, elbo_node *logits, elbo_node *target);
/* logvar: a (1,C) node (learned per-dimension variance) or NULL for fixed_logvar. */
elbo_node *elbo_ad_gauss_nll(elbo_tape *t, elbo_node *mean, elbo_node *target, elbo_node *logvar,
                             float fixed_logvar);
elbo_node *elbo_ad_kl_diag(elbo_tape *t, elbo_node *mu, elbo_node *logvar);
/* z = mu + e^{logvar/2} eps with eps ~ N(0,I) drawn from rng (or copied from
 * eps_given when not NULL, for tests and common-random-number comparisons). */
elbo_node *elbo_ad_reparam(elbo_tape *t, elbo_node *mu, elbo_node *logvar, elbo_rng *rng,
                           const float *eps_given);
/* Categorical negative log-likelihood from logits whose last dimension holds
 * K classes, with INTEGER labels (one per position, in [0,K); copied): for
 * logits (N,K), labels (N), y[n] = log sum_k e^{l[n,k]} - l[n,labels[n]];
 * for logits (N,...,K) (e.g. a 256-way value per pixel), labels
 * (N * positions) in the same order, and y[n] sums its positions. -> (N,1). */
elbo_node *elbo_ad_categorical_nll(elbo_tape *t, elbo_node *logits, const int32_t *labels);

/* ---- axes and normalization ---- */
/* softmax / log-softmax of a along dimension axis (negative: from the end,
 * -1 the last, e.g. the classes of (N,K) or the channels of NHWC). */
elbo_node *elbo_ad_softmax(elbo_tape *t, elbo_node *a, int axis);
elbo_node *elbo_ad_log_softmax(elbo_tape *t, elbo_node *a, int axis);
/* Layer normalization: each row of the 2-D view (one example: all its
 * features, or all H*W*C values of an image) to mean 0 and variance 1 (biased),
 * then y = xhat gamma + beta elementwise; gamma and beta hold a row's size (any
 * shape) or are both NULL. */
elbo_node *elbo_ad_layer_norm(elbo_tape *t, elbo_node *x, elbo_node *gamma, elbo_node *beta, float eps);
/* Group normalization of an NHWC image (N,H,W,C) (or (N,C)): the channels in
 * `groups` groups of C/groups, each (image, group) normalized over its H*W*C/groups
 * values, then y = xhat gamma[c] + beta[c]; gamma, beta (C) or both NULL.
 * groups divides C, at most ELBO_NORM_MAX_GROUPS. */
elbo_node *elbo_ad_group_norm(elbo_tape *t, elbo_node *x, int groups, elbo_node *gamma, elbo_node *beta, float eps);

/* ---- image layers, NHWC ---- */
/* 2-D convolution of x (N,H,W,Cin) by w (KH,KW,Cin,Cout) plus b (Cout
 * elements, any shape) or no bias (NULL): (N,OH,OW,Cout), OH = (H + 2 pad_h -
 * dil_h (KH-1) - 1) / stride_h + 1. o: stride, padding, dilation per axis
 * (ELBO_CONV2D_OPTS(stride, pad) for the common case). */
elbo_node *elbo_ad_conv2d(elbo_tape *t, elbo_node *x, elbo_node *w, elbo_node *b, const elbo_conv2d_opts *o);
/* Transposed 2-D convolution of x (N,H,W,Cin) by w (KH,KW,Cout,Cin) plus b
 * (Cout) or NULL: (N,OH,OW,Cout), OH = (H-1) stride_h - 2 pad_h + dil_h (KH-1)
 * + out_pad_h + 1; the input gradient of the convolution by the same weight
 * from (N,OH,OW,Cout) to x's shape (PyTorch's ConvTranspose2d with its
 * weight (Cin,Cout,KH,KW) permuted to (KH,KW,Cout,Cin)). */
elbo_node *elbo_ad_conv_transpose2d(elbo_tape *t, elbo_node *x, elbo_node *w, elbo_node *b,
                                    const elbo_conv2d_opts *o);
/* Average pooling of (N,H,W,C) over k x k windows every stride pixels (no
 * padding): (N, (H-k)/stride + 1, (W-k)/stride + 1, C). */
elbo_node *elbo_ad_avg_pool2d(elbo_tape *t, elbo_node *x, int k, int stride);
/* Nearest-neighbour upsampling of (N,H,W,C) by an integer factor: (N,fH,fW,C). */
elbo_node *elbo_ad_upsample2d(elbo_tape *t, elbo_node *x, int factor);

/* ---- vector quantization (VQ-VAE) ---- */
/* The residual of each vector of z (...,D) from its nearest row of the
 * codebook e (K,D) (squared distance in double, the lowest index on a tie):
 * y = z - e[k], z's shape. Its gradient is the true one, dz = dy and
 * de[k] -= dy over the vectors coded k; a VQ-VAE gets its straight-through
 * z_q = z - sg(y) and commitment |y|² from it (autodiff/ops_vq.c). */
elbo_node *elbo_ad_vq_residual(elbo_tape *t, elbo_node *z, elbo_node *e);
/* The code chosen for each vector, size(z)/D of them in z's order (valid
 * until reset); NULL if n is not a vq_residual node. */
const int32_t *elbo_ad_vq_codes(const elbo_node *n);
/* The nearest of the K rows of e (K,D) to the vector z (D), as above. */
int32_t elbo_vq_nearest_row(const float *z, const float *e, int K, int D);

#endif
