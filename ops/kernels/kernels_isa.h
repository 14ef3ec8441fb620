/* Prototypes of one ISA's kernels (the family sources in ops/kernels/), named through KERNEL()
 * so each ISA's copy gets its suffix; ops/kernels/table.c collects them.
 * Semantics and shapes as in ops/kernels.h. */
#ifndef ELBO_KERNELS_ISA_H
#define ELBO_KERNELS_ISA_H

#include <stddef.h>

#include "ops/simd.h"

/* elementwise.c: all (n); add_bias y (R,C) b (C); col_sum x (R,C) y (C) */
void KERNEL(elbo_add)(size_t n, const float *a, const float *b, float *y);
void KERNEL(elbo_sub)(size_t n, const float *a, const float *b, float *y);
void KERNEL(elbo_mul)(size_t n, const float *a, const float *b, float *y);
void KERNEL(elbo_scale)(size_t n, float s, const float *x, float *y);
void KERNEL(elbo_axpy)(size_t n, float a, const float *x, float *y);
void KERNEL(elbo_fma)(size_t n, const float *a, const float *b, float *y);
void KERNEL(elbo_add_bias)(size_t rows, size_t cols, const float *b, float *y);
void KERNEL(elbo_col_sum)(size_t rows, size_t cols, const float *x, float *y);
void KERNEL(elbo_reparam)(size_t n, const float *mu, const float *lv, const float *eps, float *z);
void KERNEL(elbo_reparam_bwd)(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                         float *dlv);

/* activation.c: all (n) */
void KERNEL(elbo_relu)(size_t n, const float *x, float *y);
void KERNEL(elbo_relu_bwd)(size_t n, const float *x, const float *dy, float *dx);
void KERNEL(elbo_leaky_relu)(size_t n, float slope, const float *x, float *y);
void KERNEL(elbo_leaky_relu_bwd)(size_t n, float slope, const float *x, const float *dy, float *dx);
void KERNEL(elbo_tanh)(size_t n, const float *x, float *y);
void KERNEL(elbo_tanh_bwd)(size_t n, const float *y, const float *dy, float *dx);
void KERNEL(elbo_sigmoid)(size_t n, const float *x, float *y);
void KERNEL(elbo_sigmoid_bwd)(size_t n, const float *y, const float *dy, float *dx);
void KERNEL(elbo_softplus)(size_t n, const float *x, float *y);
void KERNEL(elbo_softplus_bwd)(size_t n, const float *x, const float *dy, float *dx);
void KERNEL(elbo_exp)(size_t n, const float *x, float *y);
void KERNEL(elbo_exp_bwd)(size_t n, const float *y, const float *dy, float *dx);
void KERNEL(elbo_log)(size_t n, const float *x, float *y);
void KERNEL(elbo_log_bwd)(size_t n, const float *x, const float *dy, float *dx);

/* reduce.c: x (R,C), y (R); sum over (n) */
void KERNEL(elbo_row_sum)(size_t rows, size_t cols, const float *x, float *y);
void KERNEL(elbo_row_max)(size_t rows, size_t cols, const float *x, float *y);
void KERNEL(elbo_row_logsumexp)(size_t rows, size_t cols, const float *x, float *y);
double KERNEL(elbo_sum)(size_t n, const float *x);

/* loss.c: inputs (R,C), out and drow (R) */
void KERNEL(elbo_bernoulli_nll)(size_t rows, size_t cols, const float *l, const float *t, float *out);
void KERNEL(elbo_bernoulli_nll_bwd)(size_t rows, size_t cols, const float *l, const float *t,
                               const float *drow, float *dl);
void KERNEL(elbo_gauss_nll)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                       float *out);
void KERNEL(elbo_gauss_nll_bwd)(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                           const float *drow, float *dm, float *dlv);
void KERNEL(elbo_kl_diag)(size_t rows, size_t cols, const float *mu, const float *lv, float *out);
void KERNEL(elbo_kl_diag_bwd)(size_t rows, size_t cols, const float *mu, const float *lv,
                         const float *drow, float *dmu, float *dlv);

/* optim.c: all (n) */
void KERNEL(elbo_adam)(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
                  float *v, float *w);
void KERNEL(elbo_sgd_momentum)(size_t n, float lr, float mu, const float *g, float *u, float *w);

#endif
