/* See slab_kernels.h: thin forwards to the ops/ops.h front-end (which
 * threads long slabs deterministically). */
#include "autodiff/slab_kernels.h"

#include "ops/ops.h"

void slab_adam(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m, float *v, float *w)
{
    elbo_adam(n, lr_t, b1, b2, eps_t, g, m, v, w);
}

void slab_sgd_momentum(size_t n, float lr, float mu, const float *g, float *u, float *w)
{
    elbo_sgd_momentum(n, lr, mu, g, u, w);
}

void slab_scale(size_t n, float s, const float *x, float *y) { elbo_scale(n, s, x, y); }
void slab_axpy(size_t n, float a, const float *x, float *y) { elbo_axpy(n, a, x, y); }
