/* Vectorized transcendentals over ops/simd.h: for vf (float32, ISA builds
 * only) exp, expm1, log, log1p on [0,1], tanh, sigmoid, softplus, erfc and
 * the normal CDF and density (GELU); for v8 (float64,
 * 8 lanes, every build including the reference) exp and log for the EM pass.
 * Include only from sources compiled per ISA (ops/kernels/, models/mog).
 *
 * Method: range reduction plus a polynomial, FMA Horner: Cephes single-precision
 * forms and coefficients for log and tanh; for exp and log1p on [0,1] the
 * lowest degrees that keep the bounds below, fitted by scripts/fit_poly.py.
 * Error bounds, measured against double-precision libm over dense sweeps
 * (2^21 points each) in tests/ops/test_simd_math.c, which asserts them
 * (measured maxima on AVX2/AVX-512 in brackets):
 *   vf_exp       <= 1.5 ulp on [-87, 88]       [1.25]; subnormal results <= 1 ulp [0.80]
 *                   exp(-inf) = 0, exp(x > 88.73) = inf, exp(x < -103.98) = 0
 *   vf_log       <= 1 ulp on [1e-30, FLT_MAX]  [0.80], subnormal inputs too [0.50];
 *                   log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf
 *   vf_tanh      <= 2 ulp on [-10, 10]         [1.50]; exactly +-1 beyond ~9
 *   vf_sigmoid   <= 3 ulp on [-80, 30]         [2.79]; never overflows (e^-|x| only)
 *   vf_softplus  <= 3 ulp on [-80, 80]         [2.24]; = x for x > ~16.6, stable for any |x|
 *   x vf_normal_cdf(x) (GELU) <= 8 ulp on [-12.5, 16] [7.36], near 0 too [6.81]
 *   x vf_sigmoid(x) (SiLU)    <= 4 ulp on [-80, 30]   [3.43]
 *   vf_expm1 (through the ELU kernel) within 2e-6 relative of expm1f on [-20, 0]
 * (tanh, sigmoid, softplus and the normal CDF use vf_exp_neg, which flushes
 * results below ~2^-126 to 0 on AVX2 and NEON: sigmoid(x < -87.3) and
 * GELU(x < -12.9) may be 0 instead of a subnormal there.)
 * NaN inputs give NaN everywhere. */
#ifndef ELBO_SIMD_MATH_H
#define ELBO_SIMD_MATH_H

#include <float.h>
#include <math.h>

#include "ops/simd.h"

#if !ELBO_REFERENCE /* vf exists in the ISA builds only */

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

/* x 2^n for integral n in [VF_LDEXP_ZERO_N, 127]: one scalef on AVX-512
 * (exact down to the subnormals), else a multiply by vf_pow2i(n) (n = -127
 * builds +0). For x in (0, 1] and n = VF_LDEXP_ZERO_N the result is 0. */
#ifdef VF_HAS_SCALEF
#define VF_LDEXP_ZERO_N (-150) /* x 2^-150 < 2^-149 / 2 rounds to 0 */
static inline vf vf_ldexp(vf x, vf n) { return vf_scalef(x, n); }
#else
#define VF_LDEXP_ZERO_N (-127)
static inline vf vf_ldexp(vf x, vf n) { return vf_mul(x, vf_pow2i(n)); }
#endif

/* x with the sign bit of s */
static inline vf vf_copysign(vf x, vf s)
{
    vi sign = vi_set1(INT32_MIN);
    vi mag = vi_set1(INT32_MAX);
    return vi_as_vf(vi_or(vi_and(vf_as_vi(x), mag), vi_and(vf_as_vi(s), sign)));
}

/* ---- batches ----
 * A batch is up to VF_BATCH independent vectors run step by step through one
 * formula (the _k forms below; k = 1 is the plain form). One vector at a time
 * is one long chain of dependent FMAs (about 30 for a softplus), and the FP
 * scheduler holds barely two such chains, so the FMA pipes idle on latency;
 * four chains interleaved in program order keep them busy (the Bernoulli
 * loss in cache: 1.2x). */
#define VF_BATCH 4

/* y[j] = c[0] x[j]^(nc-1) + ... + c[nc-1] for k vectors: Horner, FMAs, the
 * vectors interleaved step by step (c highest degree first) */
static inline void vf_horner_k(size_t k, const vf *x, const float *c, size_t nc, vf *y)
{
    for (size_t j = 0; j < k; j++)
        y[j] = vf_set1(c[0]);
    for (size_t i = 1; i < nc; i++)
        for (size_t j = 0; j < k; j++)
            y[j] = vf_fmadd(y[j], x[j], vf_set1(c[i]));
}

/* ---- exp ---- */

/* e^r = 1 + r + r^2 P(r) on |r| <= ln2/2, P of degree 4 (see vf_exp_reduced_k) */
static const float vf_exp_P[] = {1.3814599951729178e-3f, 8.368710055947304e-3f, 4.166838899254799e-2f,
                                 1.666652113199234e-1f, 4.999999403953552e-1f};

/* e^r for x = n ln2 + r, each of k vectors: the polynomial e^r and
 * n = round(x log2 e), r in [-ln2/2, ln2/2] (two-constant Cody-Waite),
 * e^r = 1 + r + r^2 P(r) as in Cephes expf, with P of degree 4 (relative
 * error 3e-9; Cephes' degree 5 buys nothing in float). Needs |x| <= ~104 so
 * that n ln2_hi stays exact. */
static inline void vf_exp_reduced_k(size_t k, const vf *x, vf *p, vf *n)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;      /* 9 significant bits: n * ln2_hi is exact */
    const float ln2_lo = -2.12194440e-4f;   /* ln2 - ln2_hi */
    vf r[VF_BATCH];
    for (size_t j = 0; j < k; j++)
        n[j] = vf_round(vf_mul(x[j], vf_set1(log2e)));
    for (size_t j = 0; j < k; j++)
        r[j] = vf_fnmadd(n[j], vf_set1(ln2_lo), vf_fnmadd(n[j], vf_set1(ln2_hi), x[j]));
    vf_horner_k(k, r, vf_exp_P, sizeof vf_exp_P / sizeof vf_exp_P[0], p);
    for (size_t j = 0; j < k; j++)
        p[j] = vf_fmadd(p[j], vf_mul(r[j], r[j]), vf_add(r[j], vf_set1(1.0f)));
}

/* The same for one vector whose argument is a head plus a small tail,
 * x = a + b: the reduction takes n ln2 off the head before the tail is
 * added (a - n ln2 is exact), so the rounding of a + b never enters. e^x of
 * an argument that is itself a rounded square (e^{-z^2}) gets a relative
 * error of the order of ulp(z^2) otherwise. */
static inline vf vf_exp_reduced_tail(vf a, vf b, vf *n)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f; /* as in vf_exp_reduced_k */
    *n = vf_round(vf_mul(vf_add(a, b), vf_set1(log2e)));
    vf r = vf_add(vf_fnmadd(*n, vf_set1(ln2_lo), vf_fnmadd(*n, vf_set1(ln2_hi), a)), b);
    vf p;
    vf_horner_k(1, &r, vf_exp_P, sizeof vf_exp_P / sizeof vf_exp_P[0], &p);
    return vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
}

static inline vf vf_exp_reduced(vf x, vf *n)
{
    vf p;
    vf_exp_reduced_k(1, &x, &p, n);
    return p;
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
        return vf_ldexp(p, n);
    vf n1 = vf_round(vf_mul(n, vf_set1(0.5f)));
    return vf_mul(vf_mul(p, vf_pow2i(n1)), vf_pow2i(vf_sub(n, n1)));
}

/* e^x for x <= 0, cheaper than vf_exp: one vf_ldexp by 2^n; k vectors in
 * place. Clamping x at ZERO_N ln2 - 0.03 makes n = VF_LDEXP_ZERO_N there with
 * e^r < 1, so -inf and any x below give exactly 0. Subnormal results are exact
 * on AVX-512 and flush to 0 elsewhere (x < ~-87.3). Same accuracy as vf_exp
 * on [-87.3, 0]. */
static inline void vf_exp_neg_k(size_t k, vf *x)
{
    const float lo = (float)VF_LDEXP_ZERO_N * 0.693147181f - 0.03f; /* -104.0 or -88.06 */
    vf p[VF_BATCH], n[VF_BATCH];
    for (size_t j = 0; j < k; j++)
        x[j] = vf_max(vf_set1(lo), x[j]); /* NaN passes */
    vf_exp_reduced_k(k, x, p, n);
    for (size_t j = 0; j < k; j++)
        x[j] = vf_ldexp(p[j], n[j]);
}

static inline vf vf_exp_neg(vf x)
{
    vf_exp_neg_k(1, &x);
    return x;
}

/* e^(a + b) for a + b <= 0, b a small tail of the argument (see
 * vf_exp_reduced_tail); as vf_exp_neg otherwise: below ZERO_N ln2 - 0.03 the
 * result is exactly 0. */
static inline vf vf_exp_neg_tail(vf a, vf b)
{
    const vf lo = vf_set1((float)VF_LDEXP_ZERO_N * 0.693147181f - 0.03f);
    vf s = vf_add(a, b);
    a = vf_select_gt(lo, s, lo, a); /* NaN passes: the compare is false */
    b = vf_select_gt(lo, s, vf_zero(), b);
    vf n, p = vf_exp_reduced_tail(a, b, &n);
    return vf_ldexp(p, n);
}

/* e^x - 1 without cancellation near 0: with x = n ln2 + r,
 * e^x - 1 = 2^n (r + r^2 P(r)) + (2^n - 1), the bracket free of the 1 that
 * would cancel; exactly r + r^2 P(r) for |x| < ln2/2. x is clamped to
 * [-87, 88]: -1 below (e^-87 - 1 rounds to -1), about e^88 above. */
static inline vf vf_expm1(vf x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f; /* as in vf_exp_reduced_k */
    x = vf_min(vf_set1(88.0f), vf_max(vf_set1(-87.0f), x)); /* NaN passes */
    vf n = vf_round(vf_mul(x, vf_set1(log2e)));
    vf r = vf_fnmadd(n, vf_set1(ln2_lo), vf_fnmadd(n, vf_set1(ln2_hi), x));
    vf p;
    vf_horner_k(1, &r, vf_exp_P, sizeof vf_exp_P / sizeof vf_exp_P[0], &p);
    vf q = vf_fmadd(p, vf_mul(r, r), r);
    vf two_n = vf_pow2i(n);
    return vf_add(vf_mul(q, two_n), vf_sub(two_n, vf_set1(1.0f)));
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

/* log(1 + x) for x in [0, 1] (or NaN), k vectors in place: x + x^2 Q(x), Q a
 * degree-7 fit to (log1p(x) - x) / x^2 (relative error of the sum 3.3e-8 on
 * [0, 1], under float's 6e-8). No division: softplus and the Bernoulli loss
 * stay within memory bandwidth. */
static inline void vf_log1p_01_k(size_t k, vf *x)
{
    static const float Q[] = {5.3647588938474655e-3f, -3.0065547674894333e-2f, 7.920416444540024e-2f,
                              -1.3753773272037506e-1f, 1.9153642654418945e-1f, -2.4857160449028015e-1f,
                              3.33213210105896e-1f,    -4.9999648332595825e-1f};
    vf q[VF_BATCH];
    vf_horner_k(k, x, Q, sizeof Q / sizeof Q[0], q);
    for (size_t j = 0; j < k; j++)
        x[j] = vf_fmadd(vf_mul(x[j], x[j]), q[j], x[j]);
}

static inline vf vf_log1p_01(vf x)
{
    vf_log1p_01_k(1, &x);
    return x;
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
    vf e = vf_exp_neg(vf_neg_abs(x));
    vf q = vf_div(vf_set1(1.0f), vf_add(vf_set1(1.0f), e));
    return vf_select_gt(vf_zero(), x, vf_mul(e, q), q);
}

/* softplus x = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), k vectors in place */
static inline void vf_softplus_k(size_t k, vf *x)
{
    vf e[VF_BATCH];
    for (size_t j = 0; j < k; j++)
        e[j] = vf_neg_abs(x[j]);
    vf_exp_neg_k(k, e);
    vf_log1p_01_k(k, e);
    for (size_t j = 0; j < k; j++)
        x[j] = vf_add(vf_max(vf_zero(), x[j]), e[j]); /* vf_max(0, NaN) = NaN */
}

static inline vf vf_softplus(vf x)
{
    vf_softplus_k(1, &x);
    return x;
}

/* ---- erfc and the normal distribution ---- */

/* x split into a head of 12 significant bits and the exact rest: the head's
 * square is exact in float, so x^2 = h^2 + (x - h)(x + h) to a tail's rounding */
static inline void vf_split12(vf x, vf *h, vf *l)
{
    *h = vi_as_vf(vi_and(vf_as_vi(x), vi_set1((int32_t)0xfffff000))); /* 11 stored mantissa bits */
    *l = vf_sub(x, *h);
}

/* erfc(z) for z >= 0 given -z^2 as head + tail: the Chebyshev fit of
 * Numerical Recipes (erfcc), erfc(z) = t e^{-z^2 + P(t)}, t = 1 / (1 + z/2),
 * fractional error of the fit < 1.2e-7 for every z >= 0. */
static inline vf vf_erfc_core(vf z, vf nz2_head, vf nz2_tail)
{
    static const float P[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                              -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
    vf t = vf_div(vf_set1(1.0f), vf_fmadd(vf_set1(0.5f), z, vf_set1(1.0f)));
    vf p;
    vf_horner_k(1, &t, P, sizeof P / sizeof P[0], &p);
    return vf_mul(t, vf_exp_neg_tail(nz2_head, vf_add(nz2_tail, p)));
}

/* erfc(z) for z >= 0 (NaN passes), the argument's square split exactly:
 * relative error a few ulp for every z (measured in tests/ops/test_simd_math.c
 * through the GELU kernel); 0 for z >= 11 (erfc(11) < 2^-149). */
static inline vf vf_erfc_pos(vf z)
{
    z = vf_min(vf_set1(11.0f), z);
    vf h, l;
    vf_split12(z, &h, &l);
    vf head = vf_mul(vf_sub(vf_zero(), h), h);            /* -h^2, exact */
    vf tail = vf_mul(vf_sub(vf_zero(), l), vf_add(z, h)); /* -(z - h)(z + h) */
    return vf_erfc_core(z, head, tail);
}

/* The standard normal CDF Phi(x) = erfc(-x/sqrt2)/2 and density
 * phi(x) = e^{-x^2/2}/sqrt(2 pi), both with relative accuracy in the tails:
 * the exponent -x^2/2 comes from x itself (split as in vf_erfc_pos), not from
 * the rounded x/sqrt2. Phi(x) = E/2 for x < 0 and 1 - E/2 for x >= 0, with
 * E = erfc(|x|/sqrt2). phi may be NULL. */
static inline vf vf_normal_cdf(vf x, vf *phi)
{
    const float rsqrt2 = 0.70710678118654752f, rsqrt_2pi = 0.39894228040143268f;
    vf a = vf_min(vf_set1(15.5f), vf_abs(x)); /* Phi(-15.5) < 2^-149 */
    vf h, l;
    vf_split12(a, &h, &l);
    vf head = vf_mul(vf_mul(vf_set1(-0.5f), h), h);                  /* -h^2/2, exact */
    vf tail = vf_mul(vf_mul(vf_set1(-0.5f), l), vf_add(a, h));       /* -(a - h)(a + h)/2 */
    vf e = vf_erfc_core(vf_mul(a, vf_set1(rsqrt2)), head, tail);
    if (phi)
        *phi = vf_mul(vf_set1(rsqrt_2pi), vf_exp_neg_tail(head, tail));
    vf half_e = vf_mul(vf_set1(0.5f), e);
    return vf_select_gt(vf_zero(), x, half_e, vf_sub(vf_set1(1.0f), half_e));
}

#endif /* !ELBO_REFERENCE */

/* ---- exp and log over v8, built only from the operations above ---- */

/* 1.5 * 2^52: adding it rounds a double of magnitude < 2^51 to an integer
 * (round to nearest even) that then sits in the low mantissa bits. */
#define V8_SHIFTER 6755399441055744.0
#define V8_LOG2E 1.4426950408889634074
/* ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (Cody-Waite). */
#define V8_LN2_HI 6.93145751953125e-1
#define V8_LN2_LO 1.42860682030941723212e-6
/* Below this, exp() would be subnormal: we return 0 (flush), which is far
 * below anything a responsibility or a probability sum can notice. */
#define V8_EXP_MIN (-708.0)
#define V8_EXP_MAX 709.0
#define V8_SQRT2 1.41421356237309504880

/* exp(x), about 1 ulp for x in [V8_EXP_MIN, V8_EXP_MAX]; 0 below. Taylor
 * polynomial of degree 13 on |r| <= ln2/2 (truncation < 1e-17 relative). */
static inline v8 v8_exp(v8 x)
{
    v8 xc = v8_max(x, v8_set1(V8_EXP_MIN));
    xc = v8_select_gt(xc, v8_set1(V8_EXP_MAX), v8_set1(V8_EXP_MAX), xc);
    v8 t = v8_fmadd(xc, v8_set1(V8_LOG2E), v8_set1(V8_SHIFTER));
    v8 kf = v8_sub(t, v8_set1(V8_SHIFTER));
    v8 r = v8_fnmadd(kf, v8_set1(V8_LN2_HI), xc);
    r = v8_fnmadd(kf, v8_set1(V8_LN2_LO), r);
    static const double c[14] = {
        1.0,
        1.0,
        1.0 / 2,
        1.0 / 6,
        1.0 / 24,
        1.0 / 120,
        1.0 / 720,
        1.0 / 5040,
        1.0 / 40320,
        1.0 / 362880,
        1.0 / 3628800,
        1.0 / 39916800,
        1.0 / 479001600,
        1.0 / 6227020800,
    };
    v8 p = v8_set1(c[13]);
    for (int i = 12; i >= 0; i--)
        p = v8_fmadd(p, r, v8_set1(c[i]));
    /* 2^k: the low bits of t hold k; (k + 1023) << 52 is the exponent field */
    v8i e = v8i_shl(v8i_add(v8_bits(t), v8i_set1(1023)), 52);
    v8 y = v8_mul(p, v8_from_bits(e));
    return v8_select_lt(x, v8_set1(V8_EXP_MIN), v8_zero(), y);
}

/* log(x) for positive normal x, a few ulp: x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh(f), f = (m-1)/(m+1), |f| <= 0.172. */
static inline v8 v8_log(v8 x)
{
    const int64_t exp_mask = 0x7ff0000000000000LL, one_bits = 0x3ff0000000000000LL;
    v8i b = v8_bits(x);
    v8i eb = v8i_shr(b, 52); /* biased exponent (x > 0: no sign bit) */
    /* integer -> double through the shifter: exact for small integers */
    v8 e = v8_sub(v8_from_bits(v8i_add(v8_bits(v8_set1(V8_SHIFTER)), eb)), v8_set1(V8_SHIFTER + 1023.0));
    v8 m = v8_from_bits(v8i_or(v8i_and(b, v8i_set1(~exp_mask)), v8i_set1(one_bits)));
    v8 big = v8_select_gt(m, v8_set1(V8_SQRT2), v8_set1(1.0), v8_zero());
    m = v8_select_gt(m, v8_set1(V8_SQRT2), v8_mul(m, v8_set1(0.5)), m);
    e = v8_add(e, big);
    v8 f = v8_div(v8_sub(m, v8_set1(1.0)), v8_add(m, v8_set1(1.0)));
    v8 f2 = v8_mul(f, f);
    /* 1 + f2/3 + f2^2/5 + ... + f2^11/23: f2^12 < 1e-18 */
    v8 p = v8_set1(1.0 / 23);
    for (int i = 10; i >= 0; i--)
        p = v8_fmadd(p, f2, v8_set1(1.0 / (2 * i + 1)));
    v8 logm = v8_mul(v8_add(f, f), p);
    return v8_fmadd(e, v8_set1(V8_LN2_HI), v8_fmadd(e, v8_set1(V8_LN2_LO), logm));
}

#endif
