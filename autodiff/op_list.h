/* THE list of tape ops. The op enum and names (autodiff/tape.h), the op
 * table and the forward/backward prototypes (autodiff/op_table.c,
 * autodiff/tape_internal.h) are generated from it; the activations come from
 * ELBO_ACTIVATIONS in ops/kernels/list.h, which also makes their kernels and
 * their tape ops (autodiff/ops_activation.c).
 *
 * X(ID, name, KIND): the op ELBO_OP_<ID>, named "<name>", of kind
 *   LEAF  a value without inputs: no forward, no backward (input, param)
 *   VIEW  the same floats as its input under another shape: no forward, no
 *         backward; its gradient is its input's (see ad_grad)
 *   OP    forward ad_<name>_forward and backward ad_<name>_backward, side by
 *         side in autodiff/ops_<family>.c (a missing one fails to link)
 * tests/autodiff/test_registry.c fails when an op lacks a finite-difference
 * gradient case or a benchmark. */
#ifndef ELBO_OP_LIST_H
#define ELBO_OP_LIST_H

#include "ops/kernels/list.h"

#define ELBO_ACT_OP_(ID, name, reads, np, pname, lo, hi, atol, rtol, X) X(ID, name, OP)

#define ELBO_OPS(X)                                                                                          \
    X(INPUT, input, LEAF)                       /* constant leaf */                                          \
    X(PARAM, param, LEAF)                       /* leaf viewing a parameter slab */                          \
    X(RESHAPE, reshape, VIEW)                   /* a under another shape of the same size */                 \
    X(MATMUL, matmul, OP)                       /* a (M,K) · b (K,N) */                                      \
    X(LINEAR, linear, OP)                       /* x (B,I) · W (I,O) + b (O) */                              \
    X(ADD, add, OP)                             /* a + b, b the same shape or a row broadcast */             \
    X(SUB, sub, OP)                             /* a - b, same broadcast rule */                             \
    X(MUL, mul, OP)                             /* a * b elementwise, same broadcast rule */                 \
    X(SCALE, scale, OP)                         /* s * a */                                                  \
    X(CONCAT, concat, OP)                       /* [a | b] along the last dimension */                       \
    X(SLICE_COLS, slice_cols, OP)               /* a[:, start:start+len] */                                  \
    ELBO_ACTIVATIONS(ELBO_ACT_OP_, X)           /* f(a) elementwise */                                       \
    X(SUM, sum, OP)                             /* all elements -> (1,1) */                                  \
    X(MEAN, mean, OP)                           /* all elements -> (1,1) */                                  \
    X(SUM_ROWS, sum_rows, OP)                   /* (R,C) -> (R,1) */                                         \
    X(LOGSUMEXP_ROWS, logsumexp_rows, OP)       /* (R,C) -> (R,1) */                                         \
    X(LOGSUMEXP_AXIS, logsumexp_axis, OP)       /* log Σ e^a along one axis, which is removed */               \
    X(SQDIFF_PAIRS, sqdiff_pairs, OP)           /* a (B,D), b (M,D) -> (B,M,D): (a[i,d] - b[j,d])² */          \
    X(GAUSS_LOGPDF_PAIRS, gauss_logpdf_pairs, OP) /* z (B,D), mu, lv (M,D) -> (B,M,D): log N(z_i; mu_j, e^lv_j) */ \
    X(DIAG_GAUSS_LOGPDF_PAIRS, diag_gauss_logpdf_pairs, OP) /* z (B,D), mu, lv (M,D) -> (B,M): Σ_d of the above */ \
    X(TRANSPOSE, transpose, OP)                 /* (R,C) -> (C,R) of the 2-D view */                           \
    X(BERNOULLI_NLL, bernoulli_nll, OP)         /* logits, target (R,...) -> (R,1) */                        \
    X(GAUSS_NLL, gauss_nll, OP)                 /* mean, target (R,C), logvar (C) or fixed -> (R,1) */       \
    X(KL_DIAG, kl_diag, OP)                     /* mu, logvar (R,C) -> (R,1): KL(N(mu,e^lv) || N(0,I)) */    \
    X(REPARAM, reparam, OP)                     /* mu + e^{lv/2} eps, eps saved for backward */        \
    X(CATEGORICAL_NLL, categorical_nll, OP)     /* logits (N,...,K), integer labels -> (N,1) */                \
    X(SOFTMAX, softmax, OP)                     /* e^a / sum e^a along an axis */                              \
    X(LOG_SOFTMAX, log_softmax, OP)             /* a - log sum e^a along an axis */                            \
    X(LAYER_NORM, layer_norm, OP)               /* each row of the 2-D view normalized, affine per column */   \
    X(GROUP_NORM, group_norm, OP)               /* NHWC channels in groups normalized, affine per channel */   \
    X(CONV2D, conv2d, OP)                       /* x (N,H,W,Cin) * W (KH,KW,Cin,Cout) + b (Cout) */            \
    X(CONV_TRANSPOSE2D, conv_transpose2d, OP)   /* x (N,H,W,Cin) *T W (KH,KW,Cout,Cin) + b (Cout) */           \
    X(AVG_POOL2D, avg_pool2d, OP)               /* mean of k x k windows of (N,H,W,C) */                       \
    X(UPSAMPLE2D, upsample2d, OP)               /* nearest neighbour, (N,H,W,C) -> (N,fH,fW,C) */          \
    X(VQ_RESIDUAL, vq_residual, OP)             /* z (...,D) - its nearest row of a codebook (K,D) */

/* Op kinds, and the ids ELBO_OP_<ID>. */
typedef enum elbo_op_kind { ELBO_OP_KIND_LEAF, ELBO_OP_KIND_VIEW, ELBO_OP_KIND_OP } elbo_op_kind;

#define ELBO_OP_ID_(ID, name, kind) ELBO_OP_##ID,
typedef enum elbo_op { ELBO_OPS(ELBO_OP_ID_) ELBO_OP_COUNT } elbo_op;
#undef ELBO_OP_ID_

#endif
