/* Activations, forward y = f(x) and backward dx += dy f'(.), all (n): each
 * SIMD kernel, written once over ops/simd.h, beside its naive scalar
 * reference (the reference build); transcendentals from ops/simd_math.h
 * (error bounds stated there). map_fwd / map_bwd run the full vectors and one
 * masked tail; they are static inline, so each element function is inlined
 * into them. The activations themselves are listed in ops/kernels/list.h
 * (ELBO_ACTIVATIONS), which also makes their tape ops. */

#include "ops/kernels/kernels_isa.h"
#include "ops/simd_math.h"

#if ELBO_REFERENCE
#include "ops/kernels/ref_math.h"
#endif

#if !ELBO_REFERENCE /* helpers of the SIMD kernels */

/* y = f(x) */
static inline void map_fwd(size_t n, const float *x, float *y, vf (*f)(vf))
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(y + i, f(vf_load(x + i)));
    if (i < n)
        vf_store_n(y + i, f(vf_load_n(x + i, n - i)), n - i);
}

/* dx += dy * g(a), with a the saved input or output */
static inline void map_bwd(size_t n, const float *a, const float *dy, float *dx, vf (*g)(vf))
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN)
        vf_store(dx + i, vf_fmadd(vf_load(dy + i), g(vf_load(a + i)), vf_load(dx + i)));
    if (i < n) {
        size_t k = n - i;
        vf_store_n(dx + i, vf_fmadd(vf_load_n(dy + i, k), g(vf_load_n(a + i, k)), vf_load_n(dx + i, k)), k);
    }
}

/* ---- element functions ---- */

/* max(x, 0); NaN -> 0 as in the reference (x > 0 is false) */
static inline vf relu1(vf x) { return vf_select_gt(x, vf_zero(), x, vf_zero()); }
/* 1 - y^2 */
static inline vf tanh_d(vf y) { return vf_fnmadd(y, y, vf_set1(1.0f)); }
/* y (1 - y) */
static inline vf sigmoid_d(vf y) { return vf_mul(y, vf_sub(vf_set1(1.0f), y)); }
/* y itself */
static inline vf ident(vf y) { return y; }
/* 1 / x */
static inline vf recip(vf x) { return vf_div(vf_set1(1.0f), x); }

#endif

/* y = max(x, 0) */
#if ELBO_REFERENCE
void KERNEL(elbo_relu)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
#else
void KERNEL(elbo_relu)(size_t n, const float *x, float *y) { map_fwd(n, x, y, relu1); }
#endif

/* dx += dy * [x > 0] */
#if ELBO_REFERENCE
void KERNEL(elbo_relu_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}
#else
/* dx += dy [x > 0]  (select, not multiply: an Inf/NaN dy of a dead unit stays out) */
void KERNEL(elbo_relu_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf g = vf_select_gt(vf_load(x + i), vf_zero(), vf_load(dy + i), vf_zero());
        vf_store(dx + i, vf_add(vf_load(dx + i), g));
    }
    if (i < n) {
        size_t k = n - i;
        vf g = vf_select_gt(vf_load_n(x + i, k), vf_zero(), vf_load_n(dy + i, k), vf_zero());
        vf_store_n(dx + i, vf_add(vf_load_n(dx + i, k), g), k);
    }
}
#endif

/* y = x > 0 ? x : slope x */
#if ELBO_REFERENCE
void KERNEL(elbo_leaky_relu)(size_t n, float slope, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}
#else
void KERNEL(elbo_leaky_relu)(size_t n, float slope, const float *x, float *y)
{
    vf s = vf_set1(slope);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf v = vf_load(x + i);
        vf_store(y + i, vf_select_gt(v, vf_zero(), v, vf_mul(s, v)));
    }
    if (i < n) {
        vf v = vf_load_n(x + i, n - i);
        vf_store_n(y + i, vf_select_gt(v, vf_zero(), v, vf_mul(s, v)), n - i);
    }
}
#endif

/* dx += dy * (x > 0 ? 1 : slope) */
#if ELBO_REFERENCE
void KERNEL(elbo_leaky_relu_bwd)(size_t n, float slope, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}
#else
/* dx += x > 0 ? dy : slope dy */
void KERNEL(elbo_leaky_relu_bwd)(size_t n, float slope, const float *x, const float *dy, float *dx)
{
    vf s = vf_set1(slope);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf g = vf_load(dy + i);
        g = vf_select_gt(vf_load(x + i), vf_zero(), g, vf_mul(s, g));
        vf_store(dx + i, vf_add(vf_load(dx + i), g));
    }
    if (i < n) {
        size_t k = n - i;
        vf g = vf_load_n(dy + i, k);
        g = vf_select_gt(vf_load_n(x + i, k), vf_zero(), g, vf_mul(s, g));
        vf_store_n(dx + i, vf_add(vf_load_n(dx + i, k), g), k);
    }
}
#endif

/* y = tanh(x) */
#if ELBO_REFERENCE
void KERNEL(elbo_tanh)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}
#else
/* y = tanh x */
void KERNEL(elbo_tanh)(size_t n, const float *x, float *y) { map_fwd(n, x, y, vf_tanh); }
#endif

/* dx += dy (1 - y^2) */
#if ELBO_REFERENCE
void KERNEL(elbo_tanh_bwd)(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}
#else
void KERNEL(elbo_tanh_bwd)(size_t n, const float *y, const float *dy, float *dx) { map_bwd(n, y, dy, dx, tanh_d); }
#endif

/* y = 1 / (1 + e^-x) */
#if ELBO_REFERENCE
void KERNEL(elbo_sigmoid)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ref_sigmoid1(x[i]);
}
#else
void KERNEL(elbo_sigmoid)(size_t n, const float *x, float *y) { map_fwd(n, x, y, vf_sigmoid); }
#endif

/* dx += dy y (1 - y) */
#if ELBO_REFERENCE
void KERNEL(elbo_sigmoid_bwd)(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}
#else
void KERNEL(elbo_sigmoid_bwd)(size_t n, const float *y, const float *dy, float *dx)
{
    map_bwd(n, y, dy, dx, sigmoid_d);
}
#endif

/* y = log(1 + e^x) */
#if ELBO_REFERENCE
void KERNEL(elbo_softplus)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = ref_softplus1(x[i]);
}
#else
void KERNEL(elbo_softplus)(size_t n, const float *x, float *y) { map_fwd(n, x, y, vf_softplus); }
#endif

/* dx += dy sigmoid(x) */
#if ELBO_REFERENCE
void KERNEL(elbo_softplus_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * ref_sigmoid1(x[i]);
}
#else
void KERNEL(elbo_softplus_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    map_bwd(n, x, dy, dx, vf_sigmoid);
}
#endif

/* y = e^x */
#if ELBO_REFERENCE
void KERNEL(elbo_exp)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}
#else
void KERNEL(elbo_exp)(size_t n, const float *x, float *y) { map_fwd(n, x, y, vf_exp); }
#endif

/* dx += dy y */
#if ELBO_REFERENCE
void KERNEL(elbo_exp_bwd)(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i];
}
#else
void KERNEL(elbo_exp_bwd)(size_t n, const float *y, const float *dy, float *dx) { map_bwd(n, y, dy, dx, ident); }
#endif

/* y = log(x) */
#if ELBO_REFERENCE
void KERNEL(elbo_log)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = logf(x[i]);
}
#else
/* y = log x */
void KERNEL(elbo_log)(size_t n, const float *x, float *y) { map_fwd(n, x, y, vf_log); }
#endif

/* dx += dy / x */
#if ELBO_REFERENCE
void KERNEL(elbo_log_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] / x[i];
}
#else
void KERNEL(elbo_log_bwd)(size_t n, const float *x, const float *dy, float *dx) { map_bwd(n, x, dy, dx, recip); }
#endif

/* y = x Phi(x), Phi the standard normal CDF: the exact GELU,
 * x/2 (1 + erf(x/sqrt2)) = x/2 erfc(-x/sqrt2) (the erfc form keeps relative
 * accuracy for x < 0, where 1 + erf cancels) */
#if ELBO_REFERENCE
void KERNEL(elbo_gelu)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(0.5 * x[i] * erfc(-(double)x[i] * M_SQRT1_2));
}
#else
static inline vf gelu1(vf x) { return vf_mul(x, vf_normal_cdf(x, NULL)); }
void KERNEL(elbo_gelu)(size_t n, const float *x, float *y) { map_fwd(n, x, y, gelu1); }
#endif

/* dx += dy (Phi(x) + x phi(x)) */
#if ELBO_REFERENCE
void KERNEL(elbo_gelu_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        double xi = x[i], cdf = 0.5 * erfc(-xi * M_SQRT1_2), pdf = exp(-0.5 * xi * xi) / sqrt(2.0 * M_PI);
        dx[i] += dy[i] * (float)(cdf + xi * pdf);
    }
}
#else
static inline vf gelu_d(vf x)
{
    vf phi, cdf = vf_normal_cdf(x, &phi);
    return vf_fmadd(x, phi, cdf);
}
void KERNEL(elbo_gelu_bwd)(size_t n, const float *x, const float *dy, float *dx) { map_bwd(n, x, dy, dx, gelu_d); }
#endif

/* y = x sigmoid(x) (SiLU, swish) */
#if ELBO_REFERENCE
void KERNEL(elbo_silu)(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * ref_sigmoid1(x[i]);
}
#else
static inline vf silu1(vf x) { return vf_mul(x, vf_sigmoid(x)); }
void KERNEL(elbo_silu)(size_t n, const float *x, float *y) { map_fwd(n, x, y, silu1); }
#endif

/* dx += dy s (1 + x (1 - s)), s = sigmoid(x) */
#if ELBO_REFERENCE
void KERNEL(elbo_silu_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) {
        float s = ref_sigmoid1(x[i]);
        dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}
#else
static inline vf silu_d(vf x)
{
    vf s = vf_sigmoid(x);
    return vf_mul(s, vf_fmadd(x, vf_sub(vf_set1(1.0f), s), vf_set1(1.0f)));
}
void KERNEL(elbo_silu_bwd)(size_t n, const float *x, const float *dy, float *dx) { map_bwd(n, x, dy, dx, silu_d); }
#endif

/* y = x > 0 ? x : alpha (e^x - 1)   (ELU; expm1 keeps x near 0 exact) */
#if ELBO_REFERENCE
void KERNEL(elbo_elu)(size_t n, float alpha, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
}
#else
void KERNEL(elbo_elu)(size_t n, float alpha, const float *x, float *y)
{
    vf a = vf_set1(alpha);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf v = vf_load(x + i);
        vf_store(y + i, vf_select_gt(v, vf_zero(), v, vf_mul(a, vf_expm1(v))));
    }
    if (i < n) {
        vf v = vf_load_n(x + i, n - i);
        vf_store_n(y + i, vf_select_gt(v, vf_zero(), v, vf_mul(a, vf_expm1(v))), n - i);
    }
}
#endif

/* dx += dy (x > 0 ? 1 : alpha e^x) */
#if ELBO_REFERENCE
void KERNEL(elbo_elu_bwd)(size_t n, float alpha, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * alpha * expf(x[i]);
}
#else
void KERNEL(elbo_elu_bwd)(size_t n, float alpha, const float *x, const float *dy, float *dx)
{
    vf a = vf_set1(alpha);
    size_t i = 0;
    for (; i + VLEN <= n; i += VLEN) {
        vf v = vf_load(x + i), g = vf_load(dy + i);
        g = vf_select_gt(v, vf_zero(), g, vf_mul(vf_mul(g, a), vf_exp(v)));
        vf_store(dx + i, vf_add(vf_load(dx + i), g));
    }
    if (i < n) {
        size_t k = n - i;
        vf v = vf_load_n(x + i, k), g = vf_load_n(dy + i, k);
        g = vf_select_gt(v, vf_zero(), g, vf_mul(vf_mul(g, a), vf_exp(v)));
        vf_store_n(dx + i, vf_add(vf_load_n(dx + i, k), g), k);
    }
}
#endif
