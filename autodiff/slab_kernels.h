/* Private to autodiff/: the ops/ops.h front-end kernels that optim.c runs
 * over the parameter slabs, re-exported under names that do not collide.
 *
 * Why a separate file: params.h's Adam settings type `elbo_adam` and the
 * kernel front-end function elbo_adam() in ops/ops.h share one identifier,
 * so no translation unit can include both headers. optim.c includes
 * params.h; slab_kernels.c includes ops/ops.h. */
#ifndef ELBO_SLAB_KERNELS_H
#define ELBO_SLAB_KERNELS_H

#include <stddef.h>

#define SLAB_INTERNAL __attribute__((visibility("hidden")))

SLAB_INTERNAL void slab_adam(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
                             float *v, float *w);
SLAB_INTERNAL void slab_sgd_momentum(size_t n, float lr, float mu, const float *g, float *u, float *w);
SLAB_INTERNAL void slab_scale(size_t n, float s, const float *x, float *y);
SLAB_INTERNAL void slab_axpy(size_t n, float a, const float *x, float *y);

#endif
