/* Vectorized transcendentals over ops/simd.h: exp, log, log1p on [0,1], tanh,
 * sigmoid, softplus. Include only from sources compiled per ISA (ops/kernels/).
 *
 * Method: range reduction plus a minimax polynomial (Cephes single-precision
 * coefficients), FMA Horner. Error bounds, measured against double-precision
 * libm over dense sweeps (2^21 points each) in tests/ops/test_simd_math.c,
 * which asserts them (measured maxima on AVX2/AVX-512 in brackets):
 *   vf_exp       <= 1.5 ulp on [-87, 88]       [1.26]; subnormal results <= 1 ulp [0.78]
 *                   exp(-inf) = 0, exp(x > 88.73) = inf, exp(x < -103.98) = 0
 *   vf_log       <= 1 ulp on [1e-30, FLT_MAX]  [0.80], subnormal inputs too [0.50];
 *                   log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf
 *   vf_tanh      <= 2 ulp on [-10, 10]         [1.50]; exactly +-1 beyond ~9
 *   vf_sigmoid   <= 3 ulp on [-80, 30]         [2.79]; never overflows (e^-|x| only)
 *   vf_softplus  <= 3 ulp on [-80, 80]         [2.13]; = x for x > ~16.6, stable for any |x|
 * (tanh, sigmoid and softplus use vf_exp_neg, which flushes results below
 * ~2^-126 to 0: sigmoid(x < -87.3) may be 0 instead of a subnormal.)
 * NaN inputs give NaN everywhere. */
#ifndef ELBO_SIMD_MATH_H
#define ELBO_SIMD_MATH_H

#include <float.h>
#include <math.h>

#include "ops/simd.h"

/* ---- helpers ---- */

/* Keep the first n < VLEN lanes of v, set the others to fill. */
static inline vf vf_keep_n(vf v, size_t n, float fill)
{
    static const float ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}; /* >= VLEN */
    vf live = vf_load_n(ones, n); /* 1 in the first n lanes, 0 after */
    return vf_select_gt(live, vf_set1(0.5f), v, vf_set1(fill));
}

/* Load the first n < VLEN floats of p, the other lanes set to fill
 * (e.g. -inf for a max, so a tail never wins). */
static inline vf vf_load_n_fill(const float *p, size_t n, float fill)
{
    return vf_keep_n(vf_load_n(p, n), n, fill);
}

/* 2^k for integral k in [-126, 127], built in the exponent field */
static inline vf vf_pow2i(vf k)
{
    const int32_t bias = 127, mant_bits = 23; /* IEEE binary32 */
    return vi_as_vf(vi_shl(vi_add(vf_to_vi(k), vi_set1(bias)), mant_bits));
}

/* x with the sign bit of s */
static inline vf vf_copysign(vf x, vf s)
{
    vi sign = vi_set1(INT32_MIN);
    vi mag = vi_set1(INT32_MAX);
    return vi_as_vf(vi_or(vi_and(vf_as_vi(x), mag), vi_and(vf_as_vi(s), sign)));
}

/* ---- exp ---- */

/* e^r for x = n ln2 + r: returns the polynomial e^r and n = round(x log2 e),
 * r in [-ln2/2, ln2/2] (two-constant Cody-Waite), e^r = 1 + r + r^2 P(r)
 * (Cephes expf). Needs |x| <= ~104 so that n ln2_hi stays exact. */
static inline vf vf_exp_reduced(vf x, vf *n_out)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;      /* 9 significant bits: n * ln2_hi is exact */
    const float ln2_lo = -2.12194440e-4f;   /* ln2 - ln2_hi */
    vf n = vf_round(vf_mul(x, vf_set1(log2e)));
    vf r = vf_fnmadd(n, vf_set1(ln2_hi), x);
    r = vf_fnmadd(n, vf_set1(ln2_lo), r);
    vf p = vf_set1(1.9875691500e-4f);
    p = vf_fmadd(p, r, vf_set1(1.3981999507e-3f));
    p = vf_fmadd(p, r, vf_set1(8.3334519073e-3f));
    p = vf_fmadd(p, r, vf_set1(4.1665795894e-2f));
    p = vf_fmadd(p, r, vf_set1(1.6666665459e-1f));
    p = vf_fmadd(p, r, vf_set1(5.0000001201e-1f));
    *n_out = n;
    return vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
}

/* e^x over the whole float range: e^x = e^r 2^n. */
static inline vf vf_exp(vf x)
{
    const float hi = 88.9f;    /* > 128 ln2 = 88.72: the scaled result overflows to inf */
    const float lo = -104.0f;  /* < -150 ln2 = -103.97: the scaled result rounds to 0 */
    /* vf_max/vf_min(c, x) return x when x is NaN, so NaN passes the clamp */
    x = vf_min(vf_set1(hi), vf_max(vf_set1(lo), x));
    vf n;
    vf p = vf_exp_reduced(x, &n);
    /* |x| <= 87 (n in [-126, 126], a normal result): one exact scaling by 2^n.
     * Else 2^n = 2^n1 2^(n-n1), n1 = round(n/2): both factors stay normal for n
     * in [-150, 128], so overflow, underflow and subnormals round only once
     * (for normal results both ways give the same bits: the scalings are exact). */
    if (!vf_any_gt(vf_abs(x), vf_set1(87.0f)))
        return vf_mul(p, vf_pow2i(n));
    vf n1 = vf_round(vf_mul(n, vf_set1(0.5f)));
    return vf_mul(vf_mul(p, vf_pow2i(n1)), vf_pow2i(vf_sub(n, n1)));
}

/* e^x for x <= 0, cheaper than vf_exp: one scaling by 2^n, n in [-127, 0].
 * Results in the subnormal range may flush to 0 (n = -127 builds 2^n as +0,
 * x < ~-87.7); -inf and any x < -88 give 0. Same accuracy as vf_exp on [-87.3, 0]. */
static inline vf vf_exp_neg(vf x)
{
    const float lo = -88.0f; /* n = round(-88 log2 e) = -127: the 2^n field is 0 */
    x = vf_max(vf_set1(lo), x); /* NaN passes */
    vf n;
    vf p = vf_exp_reduced(x, &n);
    return vf_mul(p, vf_pow2i(n));
}

/* ---- log ---- */

/* log x = e ln2 + log(1 + f), x = 2^e (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)),
 * log(1 + f) = f - f^2/2 + f^3 P(f) (Cephes logf). */
static inline vf vf_log(vf x)
{
    const float two23 = 8388608.0f;         /* 2^23 lifts subnormals to normals */
    const float sqrt_half = 0.707106781186547524f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f; /* as in vf_exp */
    const int32_t mant_mask = 0x007fffff;   /* binary32 mantissa field */
    const int32_t half_bits = 0x3f000000;   /* exponent field of 0.5 */
    const int32_t exp_shift = 23, exp_bias_half = 126; /* x = 2^(E-126) m, m in [0.5, 1) */
    vf xs = vf_select_gt(vf_set1(FLT_MIN), x, vf_mul(x, vf_set1(two23)), x);
    vf eoff = vf_select_gt(vf_set1(FLT_MIN), x, vf_set1(23.0f), vf_zero());
    vi bits = vf_as_vi(xs);
    vf e = vf_sub(vi_to_vf(vi_sub(vi_shr(bits, exp_shift), vi_set1(exp_bias_half))), eoff);
    vf m = vi_as_vf(vi_or(vi_and(bits, vi_set1(mant_mask)), vi_set1(half_bits)));
    /* m < sqrt(1/2): use 2m and e - 1, so f = m - 1 is in [-0.29, 0.41] */
    vf small = vf_select_gt(vf_set1(sqrt_half), m, vf_set1(1.0f), vf_zero());
    e = vf_sub(e, small);
    vf f = vf_sub(vf_fmadd(m, small, m), vf_set1(1.0f));
    vf z = vf_mul(f, f);
    vf p = vf_set1(7.0376836292e-2f);
    p = vf_fmadd(p, f, vf_set1(-1.1514610310e-1f));
    p = vf_fmadd(p, f, vf_set1(1.1676998740e-1f));
    p = vf_fmadd(p, f, vf_set1(-1.2420140846e-1f));
    p = vf_fmadd(p, f, vf_set1(1.4249322787e-1f));
    p = vf_fmadd(p, f, vf_set1(-1.6668057665e-1f));
    p = vf_fmadd(p, f, vf_set1(2.0000714765e-1f));
    p = vf_fmadd(p, f, vf_set1(-2.4999993993e-1f));
    p = vf_fmadd(p, f, vf_set1(3.3333331174e-1f));
    vf y = vf_mul(vf_mul(p, f), z);
    y = vf_fmadd(e, vf_set1(ln2_lo), y);
    y = vf_fnmadd(z, vf_set1(0.5f), y);
    vf r = vf_fmadd(e, vf_set1(ln2_hi), vf_add(f, y));
    /* specials: +inf -> inf; 0 -> -inf; x < 0 -> NaN; NaN -> NaN (x - x is 0 or NaN) */
    vf special = vf_add(vf_select_gt(vf_zero(), x, vf_set1(NAN), vf_set1(-INFINITY)), vf_sub(x, x));
    r = vf_select_gt(x, vf_set1(FLT_MAX), x, r);
    return vf_select_gt(x, vf_zero(), r, special);
}

/* log(1 + x) for x in [0, 1] (or NaN): x + x^2 Q(x), Q a degree-8 fit to
 * (log1p(x) - x) / x^2 (Lawson-weighted least squares, relative error of the
 * sum < 6e-9 on [0, 1]). No division: softplus and the Bernoulli loss stay
 * within memory bandwidth. */
static inline vf vf_log1p_01(vf x)
{
    vf q = vf_set1(-3.318460425361991e-3f);
    q = vf_fmadd(q, x, vf_set1(2.0204532891511917e-2f));
    q = vf_fmadd(q, x, vf_set1(-5.7664353400468826e-2f));
    q = vf_fmadd(q, x, vf_set1(1.068054661154747e-1f));
    q = vf_fmadd(q, x, vf_set1(-1.5355391800403595e-1f));
    q = vf_fmadd(q, x, vf_set1(1.9695399701595306e-1f));
    q = vf_fmadd(q, x, vf_set1(-2.4958586692810059e-1f));
    q = vf_fmadd(q, x, vf_set1(3.3330512046813965e-1f));
    q = vf_fmadd(q, x, vf_set1(-4.999993145465851e-1f));
    return vf_fmadd(vf_mul(x, x), q, x);
}

/* ---- activations ---- */

/* tanh x: |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf); else
 * sign(x) (1 - e) / (1 + e), e = e^-2|x| in [0, 0.29], so 1 - e never cancels. */
static inline vf vf_tanh(vf x)
{
    const float poly_max = 0.625f; /* Cephes tanhf switch point */
    const float poly_max_up = 0.62500006f; /* the next float: a < it <=> a <= poly_max */
    vf a = vf_abs(x);
    /* a whole vector on one side (the common case) computes that side only;
     * same bits per lane as the select below */
    if (!vf_any_gt(vf_set1(poly_max_up), a)) { /* every lane a > poly_max, or NaN */
        vf e = vf_exp_neg(vf_mul(vf_set1(-2.0f), a));
        return vf_copysign(vf_div(vf_sub(vf_set1(1.0f), e), vf_add(vf_set1(1.0f), e)), x);
    }
    vf z = vf_mul(x, x);
    vf p = vf_set1(-5.70498872745e-3f);
    p = vf_fmadd(p, z, vf_set1(2.06390887954e-2f));
    p = vf_fmadd(p, z, vf_set1(-5.37397155531e-2f));
    p = vf_fmadd(p, z, vf_set1(1.33314422036e-1f));
    p = vf_fmadd(p, z, vf_set1(-3.33332819422e-1f));
    vf small = vf_fmadd(vf_mul(p, z), x, x);
    if (!vf_any_gt(a, vf_set1(poly_max))) /* every lane a <= poly_max (NaN: small is NaN) */
        return small;
    vf e = vf_exp_neg(vf_mul(vf_set1(-2.0f), a));
    vf big = vf_div(vf_sub(vf_set1(1.0f), e), vf_add(vf_set1(1.0f), e));
    return vf_select_gt(a, vf_set1(poly_max), vf_copysign(big, x), small); /* NaN: small = NaN */
}

/* sigmoid x = 1 / (1 + e^-x) = q for x >= 0, e q for x < 0, with e = e^-|x|, q = 1/(1+e) */
static inline vf vf_sigmoid(vf x)
{
    vf e = vf_exp_neg(vf_sub(vf_zero(), vf_abs(x)));
    vf q = vf_div(vf_set1(1.0f), vf_add(vf_set1(1.0f), e));
    return vf_select_gt(vf_zero(), x, vf_mul(e, q), q);
}

/* softplus x = log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
static inline vf vf_softplus(vf x)
{
    vf e = vf_exp_neg(vf_sub(vf_zero(), vf_abs(x)));
    return vf_add(vf_max(vf_zero(), x), vf_log1p_01(e)); /* vf_max(0, NaN) = NaN */
}

#endif
