/* THE list of kernels. Everything else about a kernel is generated from its
 * entry here (X-macros, ggml style):
 *   - its slot in struct elbo_kernels (ops/kernels.h) and its name;
 *   - the prototypes of its copies, one per ISA plus the scalar reference
 *     (ops/kernels/kernels_isa.h), and the table of each build
 *     (ops/kernels/table.c, compiled once per ISA and once as the reference);
 *   - its threaded front-end elbo_<name> (ops/ops.h, ops/ops.c), whose
 *     splitting its signature class decides;
 *   - its benchmark ops_<name> in elbo_bench (bench/ops/bench_kernels.cc);
 *   - for an activation, its test cases and its tape op (see ELBO_ACTIVATIONS).
 * What is written by hand: the kernel itself, its SIMD body and its naive
 * scalar reference side by side in the family file (ops/kernels/<family>.c),
 * and its test case (tests/common/kernel_cases.c). tests/autodiff/
 * test_registry.c fails when a kernel lacks a copy at some level or a test
 * case, tests/autodiff/test_bench_list.c when it has no benchmark.
 *
 * Entries: K(name, CLASS) where CLASS is one of the signature classes
 * below; the comment gives the formula with the class's argument names.
 * Conventions: row-major float32; (R,C) is R rows by C columns; n counts
 * floats; `d`-prefixed arrays are gradients, ACCUMULATED into (+=), never
 * overwritten; outputs may alias inputs only where the comment says so. */
#ifndef ELBO_KERNEL_LIST_H
#define ELBO_KERNEL_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "ops/geom.h"

/* ---- signature classes: return type, parameters, and how the front-end
 * splits a call into tasks (ops/ops.c) ----
 * elementwise classes split n into fixed chunks; row classes split rows;
 * AXIS splits outer; NORM and WIN split images; serial classes run as one
 * call (their outputs are sums over rows, or the caller threads them). */
#define ELBO_KC_EW1_RET void          /* elementwise, one input */
#define ELBO_KC_EW1_PARAMS (size_t n, const float *x, float *y)
#define ELBO_KC_EW2_RET void          /* elementwise, two inputs */
#define ELBO_KC_EW2_PARAMS (size_t n, const float *a, const float *b, float *y)
#define ELBO_KC_EWS1_RET void         /* elementwise, a float parameter s, one input */
#define ELBO_KC_EWS1_PARAMS (size_t n, float s, const float *x, float *y)
#define ELBO_KC_EWS2_RET void         /* elementwise, a float parameter s, two inputs */
#define ELBO_KC_EWS2_PARAMS (size_t n, float s, const float *a, const float *b, float *y)
#define ELBO_KC_EW3_RET void          /* elementwise, three inputs */
#define ELBO_KC_EW3_PARAMS (size_t n, const float *a, const float *b, const float *c, float *y)
#define ELBO_KC_EW3X2_RET void        /* elementwise, three inputs, two outputs */
#define ELBO_KC_EW3X2_PARAMS (size_t n, const float *a, const float *b, const float *c, float *y, float *z)
#define ELBO_KC_ADAM_RET void         /* elementwise optimizer update */
#define ELBO_KC_ADAM_PARAMS \
    (size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m, float *v, float *w)
#define ELBO_KC_SGD_RET void          /* elementwise optimizer update */
#define ELBO_KC_SGD_PARAMS (size_t n, float lr, float mu, const float *g, float *u, float *w)
#define ELBO_KC_BIAS_RET void         /* y (R,C) with a (C) row: rows split */
#define ELBO_KC_BIAS_PARAMS (size_t rows, size_t cols, const float *b, float *y)
#define ELBO_KC_COLRED_RET void       /* x (R,C) summed over rows into y (C): serial */
#define ELBO_KC_COLRED_PARAMS (size_t rows, size_t cols, const float *x, float *y)
#define ELBO_KC_ROWRED_RET void       /* x (R,C) reduced per row into y (R): rows split */
#define ELBO_KC_ROWRED_PARAMS (size_t rows, size_t cols, const float *x, float *y)
#define ELBO_KC_SUM_RET double        /* total of x (n) in double: fixed chunks summed in order */
#define ELBO_KC_SUM_PARAMS (size_t n, const float *x)
#define ELBO_KC_LOSS2_RET void        /* a, b (R,C) -> out (R): rows split */
#define ELBO_KC_LOSS2_PARAMS (size_t rows, size_t cols, const float *a, const float *b, float *out)
#define ELBO_KC_LOSS2_BWD_RET void    /* a, b (R,C), drow (R) -> da (R,C): rows split */
#define ELBO_KC_LOSS2_BWD_PARAMS (size_t rows, size_t cols, const float *a, const float *b, const float *drow, float *da)
#define ELBO_KC_LOSS2_BWD2_RET void   /* a, b (R,C), drow (R) -> da, db (R,C): rows split */
#define ELBO_KC_LOSS2_BWD2_PARAMS \
    (size_t rows, size_t cols, const float *a, const float *b, const float *drow, float *da, float *db)
#define ELBO_KC_GAUSS_RET void        /* m, x (R,C), lv (C) -> out (R): rows split */
#define ELBO_KC_GAUSS_PARAMS (size_t rows, size_t cols, const float *m, const float *x, const float *lv, float *out)
#define ELBO_KC_GAUSS_BWD_RET void    /* rows split; serial when dlv (C) is summed */
#define ELBO_KC_GAUSS_BWD_PARAMS \
    (size_t rows, size_t cols, const float *m, const float *x, const float *lv, const float *drow, float *dm, float *dlv)
#define ELBO_KC_LABELS_RET void       /* l (R,C), labels (R) in [0,C) -> out (R): rows split */
#define ELBO_KC_LABELS_PARAMS (size_t rows, size_t cols, const float *l, const int32_t *labels, float *out)
#define ELBO_KC_LABELS_BWD_RET void   /* l (R,C), labels (R), drow (R) -> dl (R,C): rows split */
#define ELBO_KC_LABELS_BWD_PARAMS \
    (size_t rows, size_t cols, const float *l, const int32_t *labels, const float *drow, float *dl)
#define ELBO_KC_AXIS_RET void         /* x, y (outer, len, inner), along len: outer split */
#define ELBO_KC_AXIS_PARAMS (size_t outer, size_t len, size_t inner, const float *x, float *y)
#define ELBO_KC_AXIS_BWD_RET void     /* y, dy, dx (outer, len, inner): outer split */
#define ELBO_KC_AXIS_BWD_PARAMS (size_t outer, size_t len, size_t inner, const float *y, const float *dy, float *dx)
#define ELBO_NORM_MAX_GROUPS 1024     /* groups of one normalization: at most this many */
#define ELBO_KC_NORM_RET void         /* x, y (n, hw, c), gamma, beta (c), stats (n, groups, 2): n split */
#define ELBO_KC_NORM_PARAMS                                                                                  \
    (size_t n, size_t hw, size_t c, size_t groups, float eps, const float *x, const float *gamma,            \
     const float *beta, float *y, float *stats)
#define ELBO_KC_NORM_BWD_RET void     /* x, dy, dx (n, hw, c), stats (n, groups, 2), csum (n, 2c): n split */
#define ELBO_KC_NORM_BWD_PARAMS                                                                              \
    (size_t n, size_t hw, size_t c, size_t groups, const float *x, const float *gamma, const float *stats,   \
     const float *dy, float *dx, float *csum)
#define ELBO_KC_WIN_RET void          /* x (n, h, w, c) -> y (n, oh, ow, c): images split */
#define ELBO_KC_WIN_PARAMS (const elbo_window2d *g, const float *x, float *y)
#define ELBO_KC_WIN_BWD_RET void      /* dy (n, oh, ow, c) -> dx (n, h, w, c): images split */
#define ELBO_KC_WIN_BWD_PARAMS (const elbo_window2d *g, const float *dy, float *dx)
#define ELBO_KC_COL_RET void          /* rows [row0, row0+nrows) of an im2col matrix: serial */
#define ELBO_KC_COL_PARAMS (const elbo_conv2d_geom *g, size_t row0, size_t nrows, const float *a, float *b)

/* ---- activations ----
 * One entry makes the kernels <name> (y = f(x)) and <name>_bwd
 * (dx += dy f'), their front-ends and benchmarks, and the tape op
 * elbo_ad_<name> (autodiff/ops_activation.c; its enum id ELBO_OP_<ID>).
 *   reads   IN: <name>_bwd(n, x, dy, dx) reads the input x;
 *           OUT: <name>_bwd(n, y, dy, dx) reads the output y (cheaper)
 *   np      0, or 1 for a float parameter named pname (then the kernels are
 *           <name>(n, pname, x, y) and <name>_bwd(n, pname, x|y, dy, dx),
 *           and the tape op elbo_ad_<name>(t, a, pname))
 *   lo, hi  the input domain the generated kernel tests and benchmarks use
 *   atol, rtol  the forward kernel's tolerance against its reference
 *   X(ID,        name,       reads, np, pname, lo,     hi,     atol,  rtol) */
#define ELBO_ACTIVATIONS(X, ...)                                                  \
    X(RELU,       relu,       IN,    0,  none,  -1.0f,  1.0f,   1e-37, 0.0, __VA_ARGS__)  /* max(x,0) ; [x > 0] */ \
    X(LEAKY_RELU, leaky_relu, IN,    1,  slope, -1.0f,  1.0f,   1e-37, 0.0, __VA_ARGS__)  /* x>0 ? x : s x */ \
    X(TANH,       tanh,       OUT,   0,  none,  -6.0f,  6.0f,   1e-37, 1e-6, __VA_ARGS__) /* tanh x ; 1 - y^2 */ \
    X(SIGMOID,    sigmoid,    OUT,   0,  none,  -30.0f, 30.0f,  1e-37, 1e-6, __VA_ARGS__) /* 1/(1+e^-x) ; y(1-y) */ \
    X(SOFTPLUS,   softplus,   IN,    0,  none,  -30.0f, 30.0f,  1e-37, 1e-6, __VA_ARGS__) /* log(1+e^x) ; sigmoid(x) */ \
    X(EXP,        exp,        OUT,   0,  none,  -80.0f, 80.0f,  1e-37, 1e-6, __VA_ARGS__) /* e^x ; y */ \
    X(LOG,        log,        IN,    0,  none,  1e-3f,  1e3f,   1e-6,  1e-6, __VA_ARGS__) /* log x ; 1/x */ \
    X(GELU,       gelu,       IN,    0,  none,  -12.0f, 12.0f,  1e-30, 2e-6, __VA_ARGS__) /* x Phi(x) ; Phi(x) + x phi(x) */ \
    X(SILU,       silu,       IN,    0,  none,  -30.0f, 30.0f,  1e-30, 2e-6, __VA_ARGS__) /* x sigmoid(x) ; s(1 + x(1-s)) */ \
    X(ELU,        elu,        IN,    1,  alpha, -20.0f, 5.0f,   1e-30, 2e-6, __VA_ARGS__) /* x>0 ? x : a(e^x-1) ; x>0 ? 1 : a e^x */

/* An activation's two kernels, for a list macro K(name, CLASS). */
#define ELBO_ACT_KERNELS_(ID, name, reads, np, pname, lo, hi, atol, rtol, K) ELBO_ACT_KERNELS_##np(K, name)
#define ELBO_ACT_KERNELS_0(K, name) K(name, EW1) K(name##_bwd, EW2)
#define ELBO_ACT_KERNELS_1(K, name) K(name, EWS1) K(name##_bwd, EWS2)

/* ---- the kernels ---- */
#define ELBO_KERNELS(K)                                                                                     \
    /* elementwise.c: all (n); y may alias an input */                                                      \
    K(add, EW2)              /* y = a + b */                                                                \
    K(sub, EW2)              /* y = a - b */                                                                \
    K(mul, EW2)              /* y = a * b */                                                                \
    K(scale, EWS1)           /* y = s * x */                                                                \
    K(axpy, EWS1)            /* y += s * x */                                                               \
    K(fma, EW2)              /* y += a * b */                                                               \
    K(add_bias, BIAS)        /* y[r,c] += b[c] */                                                           \
    K(col_sum, COLRED)       /* y[c] += sum_r x[r,c] */                                                     \
    K(reparam, EW3)          /* a = mu, b = lv, c = eps: y = z = mu + e^{lv/2} eps */                       \
    K(reparam_bwd, EW3X2)    /* a = lv, b = eps, c = dz: y = dmu += dz ; z = dlv += dz eps 0.5 e^{lv/2} */   \
    /* activation.c */                                                                                       \
    ELBO_ACTIVATIONS(ELBO_ACT_KERNELS_, K)                                                                   \
    /* reduce.c: reductions along an axis; x (R,C), y (R) for the row kernels */                             \
    K(row_sum, ROWRED)       /* y[r] = sum_c x[r,c] */                                                      \
    K(row_max, ROWRED)       /* y[r] = max_c x[r,c] */                                                      \
    K(row_logsumexp, ROWRED) /* y[r] = log sum_c e^x[r,c] */                                                \
    K(sum, SUM)              /* sum of x (n), accumulated in double in a fixed order */                     \
    K(categorical_nll, LABELS) /* out[r] = log sum_c e^l[r,c] - l[r,labels[r]] */                           \
    K(categorical_nll_bwd, LABELS_BWD) /* dl += drow[r] (softmax(l[r]) - onehot(labels[r])) */              \
    K(softmax, AXIS)         /* y = e^x / sum_len e^x */                                                    \
    K(softmax_bwd, AXIS_BWD) /* dx += y (dy - sum_len dy y) */                                              \
    K(log_softmax, AXIS)     /* y = x - log sum_len e^x */                                                  \
    K(log_softmax_bwd, AXIS_BWD) /* dx += dy - e^y sum_len dy */                                            \
    /* loss.c: fused per-row losses; backward scales by drow[r] */                                           \
    K(bernoulli_nll, LOSS2)  /* a = logits l, b = targets t in [0,1]: out[r] = sum_c softplus(l) - t l */   \
    K(bernoulli_nll_bwd, LOSS2_BWD) /* da = dl += drow[r] (sigmoid(l) - t) */                               \
    K(gauss_nll, GAUSS)      /* out[r] = 0.5 sum_c [log 2pi + lv[c] + (x-m)^2 e^{-lv[c]}] */                \
    K(gauss_nll_bwd, GAUSS_BWD) /* dm += drow (m-x) e^{-lv}; dlv[c] += sum_r drow 0.5 (1 - (x-m)^2 e^{-lv})  \
                                   (dlv may be NULL: fixed variance) */                                      \
    K(kl_diag, LOSS2)        /* a = mu, b = lv: out[r] = 0.5 sum_c (e^lv + mu^2 - 1 - lv) */                \
    K(kl_diag_bwd, LOSS2_BWD2) /* da = dmu += drow mu ; db = dlv += drow 0.5 (e^lv - 1) */                   \
    /* norm.c: group normalization of (n, hw, c) in groups of c/groups channels (layer norm: hw = 1,          \
     * groups = 1); stats[g] = (mean, 1/sqrt(var + eps)); gamma, beta may be NULL */                          \
    K(groupnorm, NORM)       /* y = (x - mean) rstd gamma[c] + beta[c] */                                   \
    K(groupnorm_bwd, NORM_BWD) /* dx += rstd (gamma dy - mean_g(gamma dy) - xhat mean_g(gamma dy xhat));    \
                                  csum[i] = (sum_hw dy, sum_hw dy xhat) per channel (written) */             \
    /* image.c: NHWC windows */                                                                              \
    K(avgpool2d, WIN)        /* y = mean of each k x k window */                                            \
    K(avgpool2d_bwd, WIN_BWD) /* dx += dy / k^2 over each window */                                         \
    K(upsample2d, WIN)       /* y[i,j] = x[i/k, j/k] */                                                     \
    K(upsample2d_bwd, WIN_BWD) /* dx[i,j] += sum of dy over its k x k block */                              \
    /* im2col.c: rows of the im2col matrix of a convolution (ops/geom.h) */                                  \
    K(im2col, COL)           /* a = x (n,h,w,cin): b = col rows (nrows, kh*kw*cin) */                       \
    K(col2im, COL)           /* a = col rows: b = dx (n,h,w,cin) += each row added back at its pixels */    \
    /* optim.c: flat slabs (n) */                                                                            \
    K(adam, ADAM)            /* m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ; w -= lr_t m / (sqrt(v) + eps_t) */ \
    K(sgd_momentum, SGD)     /* u = mu u + g ; w -= lr u */

/* Kernel ids: ELBO_KERNEL_<name>, ELBO_KERNEL_COUNT. */
#define ELBO_KERNEL_ID_(name, cls) ELBO_KERNEL_##name,
enum elbo_kernel_id { ELBO_KERNELS(ELBO_KERNEL_ID_) ELBO_KERNEL_COUNT };
#undef ELBO_KERNEL_ID_

#endif
