/* The kernel front-end: one elbo_<kernel> per entry of struct elbo_kernels
 * (ops/kernels.h), same signature and semantics, run on the table of the
 * current SIMD level (elbo_k()).
 *
 * Large inputs are split into fixed-size tasks (boundaries depend only on the
 * sizes, never on the thread count) and run through elbo_parallel_for
 * (ops/pool.h); small inputs run inline. Elementwise and row-wise results are
 * the same bits as one call on the whole array; elbo_sum combines per-chunk
 * double sums in chunk order, so it is bit-identical for any thread count.
 *
 * Conventions as in ops/kernels.h: row-major float32, (R,C) shapes, `d` arrays
 * are accumulated (+=). */
#ifndef ELBO_OPS_H
#define ELBO_OPS_H

#include <stddef.h>

#include "ops/kernels.h"

/* Inputs with fewer floats than this run inline on the caller. */
#define ELBO_OPS_PARALLEL_MIN 32768
/* Floats per task of a split elementwise loop (64 KiB per array). */
#define ELBO_OPS_CHUNK 16384

/* ---- elementwise, all (n) ---- */
void elbo_add(size_t n, const float *a, const float *b, float *y);
void elbo_sub(size_t n, const float *a, const float *b, float *y);
void elbo_mul(size_t n, const float *a, const float *b, float *y);
void elbo_scale(size_t n, float s, const float *x, float *y);
void elbo_axpy(size_t n, float a, const float *x, float *y);
void elbo_fma(size_t n, const float *a, const float *b, float *y);

/* y is (R,C), b is (C): y[r,c] += b[c] */
void elbo_add_bias(size_t rows, size_t cols, const float *b, float *y);
/* x is (R,C), y is (C): y[c] += sum_r x[r,c]  (runs inline) */
void elbo_col_sum(size_t rows, size_t cols, const float *x, float *y);

/* ---- activations, all (n) ---- */
void elbo_relu(size_t n, const float *x, float *y);
void elbo_relu_bwd(size_t n, const float *x, const float *dy, float *dx);
void elbo_leaky_relu(size_t n, float slope, const float *x, float *y);
void elbo_leaky_relu_bwd(size_t n, float slope, const float *x, const float *dy, float *dx);
void elbo_tanh(size_t n, const float *x, float *y);
void elbo_tanh_bwd(size_t n, const float *y, const float *dy, float *dx);
void elbo_sigmoid(size_t n, const float *x, float *y);
void elbo_sigmoid_bwd(size_t n, const float *y, const float *dy, float *dx);
void elbo_softplus(size_t n, const float *x, float *y);
void elbo_softplus_bwd(size_t n, const float *x, const float *dy, float *dx);
void elbo_exp(size_t n, const float *x, float *y);
void elbo_exp_bwd(size_t n, const float *y, const float *dy, float *dx);
void elbo_log(size_t n, const float *x, float *y);
void elbo_log_bwd(size_t n, const float *x, const float *dy, float *dx);

/* ---- row reductions: x is (R,C), y is (R) ---- */
void elbo_row_sum(size_t rows, size_t cols, const float *x, float *y);
void elbo_row_max(size_t rows, size_t cols, const float *x, float *y);
void elbo_row_logsumexp(size_t rows, size_t cols, const float *x, float *y);
/* sum of x (n) in double; bit-identical for any thread count */
double elbo_sum(size_t n, const float *x);

/* ---- fused losses: inputs (R,C), out and drow (R) ---- */
void elbo_bernoulli_nll(size_t rows, size_t cols, const float *l, const float *t, float *out);
void elbo_bernoulli_nll_bwd(size_t rows, size_t cols, const float *l, const float *t,
                            const float *drow, float *dl);
/* lv is (C); dlv (C) may be NULL; with dlv the backward runs inline */
void elbo_gauss_nll(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                    float *out);
void elbo_gauss_nll_bwd(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                        const float *drow, float *dm, float *dlv);
void elbo_kl_diag(size_t rows, size_t cols, const float *mu, const float *lv, float *out);
void elbo_kl_diag_bwd(size_t rows, size_t cols, const float *mu, const float *lv,
                      const float *drow, float *dmu, float *dlv);

/* ---- reparameterized sample, all (n) ---- */
void elbo_reparam(size_t n, const float *mu, const float *lv, const float *eps, float *z);
void elbo_reparam_bwd(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                      float *dlv);

/* ---- optimizers over flat slabs (n) ---- */
void elbo_adam(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
               float *v, float *w);
void elbo_sgd_momentum(size_t n, float lr, float mu, const float *g, float *u, float *w);

#endif
