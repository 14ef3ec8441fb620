/* The kernel table: every vectorized kernel of the toolkit, once per SIMD level.
 *
 * elbo_kernels_scalar holds the naive reference kernels (ops/ref/), the test
 * oracle; the other tables hold one source (ops/kernels/) compiled per ISA over
 * the mapping in ops/simd.h. Callers normally go through ops/ops.h, which picks
 * the table for the current level and splits large arrays across threads.
 *
 * Conventions: row-major float32; (R,C) is R rows by C columns; n counts
 * floats; `d`-prefixed arrays are gradients and are ACCUMULATED into (+=),
 * never overwritten; outputs may alias inputs only where the comment says so. */
#ifndef ELBO_KERNELS_H
#define ELBO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

struct elbo_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */

    /* ---- elementwise, y may alias an input ---- */
    void (*add)(size_t n, const float *a, const float *b, float *y);  /* y = a + b */
    void (*sub)(size_t n, const float *a, const float *b, float *y);  /* y = a - b */
    void (*mul)(size_t n, const float *a, const float *b, float *y);  /* y = a * b */
    void (*scale)(size_t n, float s, const float *x, float *y);       /* y = s * x */
    void (*axpy)(size_t n, float a, const float *x, float *y);        /* y += a * x */
    void (*fma)(size_t n, const float *a, const float *b, float *y);  /* y += a * b */

    /* ---- row broadcast and column reduction ---- */
    /* y is (R,C), b is (C): y[r,c] += b[c] */
    void (*add_bias)(size_t rows, size_t cols, const float *b, float *y);
    /* x is (R,C), y is (C): y[c] += sum_r x[r,c] */
    void (*col_sum)(size_t rows, size_t cols, const float *x, float *y);

    /* ---- activations: forward y = f(x); backward dx += dy * f'(.) ---- */
    void (*relu)(size_t n, const float *x, float *y);
    void (*relu_bwd)(size_t n, const float *x, const float *dy, float *dx);
    void (*leaky_relu)(size_t n, float slope, const float *x, float *y);
    void (*leaky_relu_bwd)(size_t n, float slope, const float *x, const float *dy, float *dx);
    void (*tanh)(size_t n, const float *x, float *y);
    void (*tanh_bwd)(size_t n, const float *y, const float *dy, float *dx);     /* f' = 1 - y^2 */
    void (*sigmoid)(size_t n, const float *x, float *y);
    void (*sigmoid_bwd)(size_t n, const float *y, const float *dy, float *dx);  /* f' = y (1 - y) */
    void (*softplus)(size_t n, const float *x, float *y);                       /* log(1 + e^x), stable */
    void (*softplus_bwd)(size_t n, const float *x, const float *dy, float *dx); /* f' = sigmoid(x) */
    void (*exp)(size_t n, const float *x, float *y);
    void (*exp_bwd)(size_t n, const float *y, const float *dy, float *dx);      /* f' = y */
    void (*log)(size_t n, const float *x, float *y);
    void (*log_bwd)(size_t n, const float *x, const float *dy, float *dx);      /* f' = 1 / x */

    /* ---- row reductions: x is (R,C), y is (R) ---- */
    void (*row_sum)(size_t rows, size_t cols, const float *x, float *y);
    void (*row_max)(size_t rows, size_t cols, const float *x, float *y);
    void (*row_logsumexp)(size_t rows, size_t cols, const float *x, float *y); /* log sum_c e^x */
    /* sum of n floats, accumulated in double in a fixed order */
    double (*sum)(size_t n, const float *x);

    /* ---- fused losses, one value per row; backward scales by drow[r] ---- */
    /* Bernoulli NLL from logits l (R,C), targets t in [0,1]:
     * out[r] = sum_c softplus(l) - t*l ; dl += drow[r] * (sigmoid(l) - t) */
    void (*bernoulli_nll)(size_t rows, size_t cols, const float *l, const float *t, float *out);
    void (*bernoulli_nll_bwd)(size_t rows, size_t cols, const float *l, const float *t,
                              const float *drow, float *dl);
    /* Gaussian NLL, mean m (R,C), targets x (R,C), log-variance lv (C) broadcast over rows:
     * out[r] = 0.5 sum_c [log 2pi + lv[c] + (x-m)^2 e^{-lv[c]}]
     * dm += drow[r] (m-x) e^{-lv[c]} ; dlv[c] += sum_r drow[r] 0.5 (1 - (x-m)^2 e^{-lv[c]})
     * (fixed variance: pass lv filled with one value and dlv = NULL) */
    void (*gauss_nll)(size_t rows, size_t cols, const float *m, const float *x,
                      const float *lv, float *out);
    void (*gauss_nll_bwd)(size_t rows, size_t cols, const float *m, const float *x,
                          const float *lv, const float *drow, float *dm, float *dlv);
    /* KL( N(mu, e^lv) || N(0, I) ), mu and lv (R,C):
     * out[r] = 0.5 sum_c (e^lv + mu^2 - 1 - lv) ; dmu += drow mu ; dlv += drow 0.5 (e^lv - 1) */
    void (*kl_diag)(size_t rows, size_t cols, const float *mu, const float *lv, float *out);
    void (*kl_diag_bwd)(size_t rows, size_t cols, const float *mu, const float *lv,
                        const float *drow, float *dmu, float *dlv);

    /* ---- reparameterized sample z = mu + e^{lv/2} eps, all (n) ----
     * backward: dmu += dz ; dlv += dz * eps * 0.5 e^{lv/2} */
    void (*reparam)(size_t n, const float *mu, const float *lv, const float *eps, float *z);
    void (*reparam_bwd)(size_t n, const float *lv, const float *eps, const float *dz,
                        float *dmu, float *dlv);

    /* ---- optimizers over flat slabs w, g, state (n) ---- */
    /* Adam: m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ;
     * w -= lr_t m / (sqrt(v) + eps_t), where the caller folds bias correction into
     * lr_t = lr sqrt(1-b2^t)/(1-b1^t) and eps_t = eps sqrt(1-b2^t) */
    void (*adam)(size_t n, float lr_t, float b1, float b2, float eps_t,
                 const float *g, float *m, float *v, float *w);
    /* SGD with momentum: u = mu u + g ; w -= lr u */
    void (*sgd_momentum)(size_t n, float lr, float mu, const float *g, float *u, float *w);
};

extern const struct elbo_kernels elbo_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const struct elbo_kernels elbo_kernels_avx2;
extern const struct elbo_kernels elbo_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const struct elbo_kernels elbo_kernels_neon;
#endif

#endif
