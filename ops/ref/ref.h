/* Naive scalar reference kernels (the "scalar" level and the test oracle).
 *
 * One function per entry of struct elbo_kernels (ops/kernels.h), same
 * signature and semantics, named elbo_ref_<field>. Straight loops, libm
 * transcendentals in float, sums accumulated in double. */
#ifndef ELBO_OPS_REF_H
#define ELBO_OPS_REF_H

#include <stddef.h>

/* elementwise, all (n) */
void elbo_ref_add(size_t n, const float *a, const float *b, float *y);
void elbo_ref_sub(size_t n, const float *a, const float *b, float *y);
void elbo_ref_mul(size_t n, const float *a, const float *b, float *y);
void elbo_ref_scale(size_t n, float s, const float *x, float *y);
void elbo_ref_axpy(size_t n, float a, const float *x, float *y);
void elbo_ref_fma(size_t n, const float *a, const float *b, float *y);

/* y is (R,C), b is (C) ; x is (R,C), y is (C) */
void elbo_ref_add_bias(size_t rows, size_t cols, const float *b, float *y);
void elbo_ref_col_sum(size_t rows, size_t cols, const float *x, float *y);

/* activations, all (n) */
void elbo_ref_relu(size_t n, const float *x, float *y);
void elbo_ref_relu_bwd(size_t n, const float *x, const float *dy, float *dx);
void elbo_ref_leaky_relu(size_t n, float slope, const float *x, float *y);
void elbo_ref_leaky_relu_bwd(size_t n, float slope, const float *x, const float *dy, float *dx);
void elbo_ref_tanh(size_t n, const float *x, float *y);
void elbo_ref_tanh_bwd(size_t n, const float *y, const float *dy, float *dx);
void elbo_ref_sigmoid(size_t n, const float *x, float *y);
void elbo_ref_sigmoid_bwd(size_t n, const float *y, const float *dy, float *dx);
void elbo_ref_softplus(size_t n, const float *x, float *y);
void elbo_ref_softplus_bwd(size_t n, const float *x, const float *dy, float *dx);
void elbo_ref_exp(size_t n, const float *x, float *y);
void elbo_ref_exp_bwd(size_t n, const float *y, const float *dy, float *dx);
void elbo_ref_log(size_t n, const float *x, float *y);
void elbo_ref_log_bwd(size_t n, const float *x, const float *dy, float *dx);

/* row reductions: x is (R,C), y is (R) */
void elbo_ref_row_sum(size_t rows, size_t cols, const float *x, float *y);
void elbo_ref_row_max(size_t rows, size_t cols, const float *x, float *y);
void elbo_ref_row_logsumexp(size_t rows, size_t cols, const float *x, float *y);
double elbo_ref_sum(size_t n, const float *x);

/* fused losses: inputs (R,C), out and drow (R) */
void elbo_ref_bernoulli_nll(size_t rows, size_t cols, const float *l, const float *t, float *out);
void elbo_ref_bernoulli_nll_bwd(size_t rows, size_t cols, const float *l, const float *t,
                                const float *drow, float *dl);
void elbo_ref_gauss_nll(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                        float *out);
void elbo_ref_gauss_nll_bwd(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                            const float *drow, float *dm, float *dlv);
void elbo_ref_kl_diag(size_t rows, size_t cols, const float *mu, const float *lv, float *out);
void elbo_ref_kl_diag_bwd(size_t rows, size_t cols, const float *mu, const float *lv,
                          const float *drow, float *dmu, float *dlv);

/* reparameterized sample, all (n) */
void elbo_ref_reparam(size_t n, const float *mu, const float *lv, const float *eps, float *z);
void elbo_ref_reparam_bwd(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                          float *dlv);

/* optimizers over flat slabs (n) */
void elbo_ref_adam(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
                   float *v, float *w);
void elbo_ref_sgd_momentum(size_t n, float lr, float mu, const float *g, float *u, float *w);

/* scalar helpers shared with ops/kernels tails and tests */
float elbo_ref_softplus1(float x);
float elbo_ref_sigmoid1(float x);

#endif
