/* Optimizer updates over flat slabs (n): each SIMD kernel, written once over
 * ops/simd.h, beside its naive scalar reference (the reference build). */

#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#if ELBO_REFERENCE
#include <math.h>
#endif

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

/* The Adam constants of one call, broadcast. */
struct adam_c {
    vf lr, b1, c1, b2, c2, eps; /* c1 = 1 - b1, c2 = 1 - b2 */
};

/* m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ; w -= lr_t m / (sqrt(v) + eps_t) */
static inline void adam1(const struct adam_c *c, vf g, vf *m, vf *v, vf *w)
{
    *m = vf_fmadd(c->b1, *m, vf_mul(c->c1, g));
    *v = vf_fmadd(c->b2, *v, vf_mul(c->c2, vf_mul(g, g)));
    vf step = vf_div(vf_mul(c->lr, *m), vf_add(vf_sqrt(*v), c->eps));
    *w = vf_sub(*w, step);
}

#endif

/* m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ; w -= lr_t m / (sqrt(v) + eps_t) */
#if ELBO_REFERENCE
void KERNEL(elbo_adam)(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
                   float *v, float *w)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps_t);
    }
}
#else
void KERNEL(elbo_adam)(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
                  float *v, float *w)
{
    struct adam_c c = {vf_set1(lr_t), vf_set1(b1), vf_set1(1.0f - b1),
                       vf_set1(b2),   vf_set1(1.0f - b2), vf_set1(eps_t)};
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf vm = vf_load(m + i), vv = vf_load(v + i), vw = vf_load(w + i);
        adam1(&c, vf_load(g + i), &vm, &vv, &vw);
        vf_store(m + i, vm);
        vf_store(v + i, vv);
        vf_store(w + i, vw);
    }
    if (i < n) {
        size_t k = n - i;
        vf vm = vf_load_n(m + i, k), vv = vf_load_n(v + i, k), vw = vf_load_n(w + i, k);
        adam1(&c, vf_load_n(g + i, k), &vm, &vv, &vw);
        vf_store_n(m + i, vm, k);
        vf_store_n(v + i, vv, k);
        vf_store_n(w + i, vw, k);
    }
}
#endif

/* u = mu u + g ; w -= lr u */
#if ELBO_REFERENCE
void KERNEL(elbo_sgd_momentum)(size_t n, float lr, float mu, const float *g, float *u, float *w)
{
    for (size_t i = 0; i < n; i++) {
        u[i] = mu * u[i] + g[i];
        w[i] -= lr * u[i];
    }
}
#else
void KERNEL(elbo_sgd_momentum)(size_t n, float lr, float mu, const float *g, float *u, float *w)
{
    vf vlr = vf_set1(lr), vmu = vf_set1(mu);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf vu = vf_fmadd(vmu, vf_load(u + i), vf_load(g + i));
        vf_store(u + i, vu);
        vf_store(w + i, vf_fnmadd(vlr, vu, vf_load(w + i)));
    }
    if (i < n) {
        size_t k = n - i;
        vf vu = vf_fmadd(vmu, vf_load_n(u + i, k), vf_load_n(g + i, k));
        vf_store_n(u + i, vu, k);
        vf_store_n(w + i, vf_fnmadd(vlr, vu, vf_load_n(w + i, k)), k);
    }
}
#endif
