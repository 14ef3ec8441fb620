/* Eight float64 lanes, mapped onto each instruction set, for the EM kernels.
 *
 * ops/simd.h is float32 with the ISA's natural width; EM runs in float64 and
 * wants a FIXED lane count: the kernels vectorize across 8 points, and every
 * lane is one point's own sequential computation. Fixing the width at 8 for
 * every ISA (one zmm, two ymm, four NEON q-registers, or eight scalars) means
 * every lane sees the same sequence of correctly rounded operations (add, sub,
 * mul, div, explicit fma), so the results are bit-identical across SIMD levels
 * as well as across thread counts. Horizontal sums use one fixed tree.
 *
 * Compiled with exactly one of ELBO_ISA_AVX512 / ELBO_ISA_AVX2 / ELBO_ISA_NEON
 * (per-ISA static libraries, see meson.build) or none (the scalar build,
 * plain C with fma() from libm). MOG_KERNEL(name) adds the level's suffix. */
#ifndef ELBO_MOG_VEC8_H
#define ELBO_MOG_VEC8_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define MOG_CAT_(a, b) a##_##b
#define MOG_CAT(a, b) MOG_CAT_(a, b)

#if defined(ELBO_ISA_AVX512)
#include <immintrin.h>
#define MOG_SUFFIX avx512
typedef __m512d v8;
typedef __m512i v8i;
static inline v8 v8_load(const double *p) { return _mm512_loadu_pd(p); }
static inline void v8_store(double *p, v8 a) { _mm512_storeu_pd(p, a); }
static inline v8 v8_set1(double x) { return _mm512_set1_pd(x); }
static inline v8 v8_zero(void) { return _mm512_setzero_pd(); }
static inline v8 v8_add(v8 a, v8 b) { return _mm512_add_pd(a, b); }
static inline v8 v8_sub(v8 a, v8 b) { return _mm512_sub_pd(a, b); }
static inline v8 v8_mul(v8 a, v8 b) { return _mm512_mul_pd(a, b); }
static inline v8 v8_div(v8 a, v8 b) { return _mm512_div_pd(a, b); }
static inline v8 v8_fmadd(v8 a, v8 b, v8 c) { return _mm512_fmadd_pd(a, b, c); }   /* a*b + c */
static inline v8 v8_fnmadd(v8 a, v8 b, v8 c) { return _mm512_fnmadd_pd(a, b, c); } /* c - a*b */
static inline v8 v8_max(v8 a, v8 b) { return _mm512_max_pd(a, b); }
/* lanes where a < b take x, the others y */
static inline v8 v8_select_lt(v8 a, v8 b, v8 x, v8 y)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), y, x);
}
static inline v8 v8_select_gt(v8 a, v8 b, v8 x, v8 y)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_GT_OQ), y, x);
}
static inline v8i v8_bits(v8 a) { return _mm512_castpd_si512(a); }
static inline v8 v8_from_bits(v8i a) { return _mm512_castsi512_pd(a); }
static inline v8i v8i_add(v8i a, v8i b) { return _mm512_add_epi64(a, b); }
static inline v8i v8i_set1(int64_t x) { return _mm512_set1_epi64(x); }
static inline v8i v8i_and(v8i a, v8i b) { return _mm512_and_si512(a, b); }
static inline v8i v8i_or(v8i a, v8i b) { return _mm512_or_si512(a, b); }
static inline v8i v8i_shl(v8i a, int k) { return _mm512_slli_epi64(a, (unsigned)k); }
static inline v8i v8i_shr(v8i a, int k) { return _mm512_srli_epi64(a, (unsigned)k); }
/* lanes 0..3 + lanes 4..7, then pairs, then the last two: the fixed tree */
static inline double v8_hsum(v8 a)
{
    __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
}

#elif defined(ELBO_ISA_AVX2)
#include <immintrin.h>
#define MOG_SUFFIX avx2
typedef struct { __m256d lo, hi; } v8;
typedef struct { __m256i lo, hi; } v8i;
#define V8_2(op, a, b) ((v8){op((a).lo, (b).lo), op((a).hi, (b).hi)})
static inline v8 v8_load(const double *p) { return (v8){_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
static inline void v8_store(double *p, v8 a) { _mm256_storeu_pd(p, a.lo); _mm256_storeu_pd(p + 4, a.hi); }
static inline v8 v8_set1(double x) { __m256d v = _mm256_set1_pd(x); return (v8){v, v}; }
static inline v8 v8_zero(void) { __m256d v = _mm256_setzero_pd(); return (v8){v, v}; }
static inline v8 v8_add(v8 a, v8 b) { return V8_2(_mm256_add_pd, a, b); }
static inline v8 v8_sub(v8 a, v8 b) { return V8_2(_mm256_sub_pd, a, b); }
static inline v8 v8_mul(v8 a, v8 b) { return V8_2(_mm256_mul_pd, a, b); }
static inline v8 v8_div(v8 a, v8 b) { return V8_2(_mm256_div_pd, a, b); }
static inline v8 v8_max(v8 a, v8 b) { return V8_2(_mm256_max_pd, a, b); }
static inline v8 v8_fmadd(v8 a, v8 b, v8 c)
{
    return (v8){_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
}
static inline v8 v8_fnmadd(v8 a, v8 b, v8 c)
{
    return (v8){_mm256_fnmadd_pd(a.lo, b.lo, c.lo), _mm256_fnmadd_pd(a.hi, b.hi, c.hi)};
}
static inline v8 v8_select_lt(v8 a, v8 b, v8 x, v8 y)
{
    return (v8){_mm256_blendv_pd(y.lo, x.lo, _mm256_cmp_pd(a.lo, b.lo, _CMP_LT_OQ)),
                _mm256_blendv_pd(y.hi, x.hi, _mm256_cmp_pd(a.hi, b.hi, _CMP_LT_OQ))};
}
static inline v8 v8_select_gt(v8 a, v8 b, v8 x, v8 y) { return v8_select_lt(b, a, x, y); }
static inline v8i v8_bits(v8 a) { return (v8i){_mm256_castpd_si256(a.lo), _mm256_castpd_si256(a.hi)}; }
static inline v8 v8_from_bits(v8i a) { return (v8){_mm256_castsi256_pd(a.lo), _mm256_castsi256_pd(a.hi)}; }
static inline v8i v8i_add(v8i a, v8i b) { return (v8i){_mm256_add_epi64(a.lo, b.lo), _mm256_add_epi64(a.hi, b.hi)}; }
static inline v8i v8i_set1(int64_t x) { __m256i v = _mm256_set1_epi64x(x); return (v8i){v, v}; }
static inline v8i v8i_and(v8i a, v8i b) { return (v8i){_mm256_and_si256(a.lo, b.lo), _mm256_and_si256(a.hi, b.hi)}; }
static inline v8i v8i_or(v8i a, v8i b) { return (v8i){_mm256_or_si256(a.lo, b.lo), _mm256_or_si256(a.hi, b.hi)}; }
static inline v8i v8i_shl(v8i a, int k) { return (v8i){_mm256_slli_epi64(a.lo, k), _mm256_slli_epi64(a.hi, k)}; }
static inline v8i v8i_shr(v8i a, int k) { return (v8i){_mm256_srli_epi64(a.lo, k), _mm256_srli_epi64(a.hi, k)}; }
static inline double v8_hsum(v8 a)
{
    __m256d s4 = _mm256_add_pd(a.lo, a.hi);
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
}

#elif defined(ELBO_ISA_NEON)
#include <arm_neon.h>
#define MOG_SUFFIX neon
typedef struct { float64x2_t q[4]; } v8;
typedef struct { uint64x2_t q[4]; } v8i;
#define V8_4(expr) do { for (int i_ = 0; i_ < 4; i_++) { expr; } } while (0)
static inline v8 v8_load(const double *p) { v8 r; V8_4(r.q[i_] = vld1q_f64(p + 2 * i_)); return r; }
static inline void v8_store(double *p, v8 a) { V8_4(vst1q_f64(p + 2 * i_, a.q[i_])); }
static inline v8 v8_set1(double x) { v8 r; V8_4(r.q[i_] = vdupq_n_f64(x)); return r; }
static inline v8 v8_zero(void) { return v8_set1(0.0); }
static inline v8 v8_add(v8 a, v8 b) { V8_4(a.q[i_] = vaddq_f64(a.q[i_], b.q[i_])); return a; }
static inline v8 v8_sub(v8 a, v8 b) { V8_4(a.q[i_] = vsubq_f64(a.q[i_], b.q[i_])); return a; }
static inline v8 v8_mul(v8 a, v8 b) { V8_4(a.q[i_] = vmulq_f64(a.q[i_], b.q[i_])); return a; }
static inline v8 v8_div(v8 a, v8 b) { V8_4(a.q[i_] = vdivq_f64(a.q[i_], b.q[i_])); return a; }
static inline v8 v8_max(v8 a, v8 b) { V8_4(a.q[i_] = vmaxq_f64(a.q[i_], b.q[i_])); return a; }
static inline v8 v8_fmadd(v8 a, v8 b, v8 c) { V8_4(c.q[i_] = vfmaq_f64(c.q[i_], a.q[i_], b.q[i_])); return c; }
static inline v8 v8_fnmadd(v8 a, v8 b, v8 c) { V8_4(c.q[i_] = vfmsq_f64(c.q[i_], a.q[i_], b.q[i_])); return c; }
static inline v8 v8_select_lt(v8 a, v8 b, v8 x, v8 y)
{
    V8_4(y.q[i_] = vbslq_f64(vcltq_f64(a.q[i_], b.q[i_]), x.q[i_], y.q[i_]));
    return y;
}
static inline v8 v8_select_gt(v8 a, v8 b, v8 x, v8 y) { return v8_select_lt(b, a, x, y); }
static inline v8i v8_bits(v8 a) { v8i r; V8_4(r.q[i_] = vreinterpretq_u64_f64(a.q[i_])); return r; }
static inline v8 v8_from_bits(v8i a) { v8 r; V8_4(r.q[i_] = vreinterpretq_f64_u64(a.q[i_])); return r; }
static inline v8i v8i_add(v8i a, v8i b) { V8_4(a.q[i_] = vaddq_u64(a.q[i_], b.q[i_])); return a; }
static inline v8i v8i_set1(int64_t x) { v8i r; V8_4(r.q[i_] = vdupq_n_u64((uint64_t)x)); return r; }
static inline v8i v8i_and(v8i a, v8i b) { V8_4(a.q[i_] = vandq_u64(a.q[i_], b.q[i_])); return a; }
static inline v8i v8i_or(v8i a, v8i b) { V8_4(a.q[i_] = vorrq_u64(a.q[i_], b.q[i_])); return a; }
static inline v8i v8i_shl(v8i a, int k) { V8_4(a.q[i_] = vshlq_u64(a.q[i_], vdupq_n_s64(k))); return a; }
static inline v8i v8i_shr(v8i a, int k) { V8_4(a.q[i_] = vshlq_u64(a.q[i_], vdupq_n_s64(-k))); return a; }
static inline double v8_hsum(v8 a)
{
    float64x2_t s4a = vaddq_f64(a.q[0], a.q[2]), s4b = vaddq_f64(a.q[1], a.q[3]); /* lanes i + i+4 */
    float64x2_t s2 = vaddq_f64(s4a, s4b);                                          /* (0+4)+(2+6), (1+5)+(3+7) */
    return vgetq_lane_f64(s2, 0) + vgetq_lane_f64(s2, 1);
}

#else /* scalar: the same arithmetic, one lane at a time */
#define MOG_SUFFIX scalar
typedef struct { double v[8]; } v8;
typedef struct { uint64_t v[8]; } v8i;
#define V8_8(expr) do { for (int i_ = 0; i_ < 8; i_++) { expr; } } while (0)
static inline v8 v8_load(const double *p) { v8 r; memcpy(r.v, p, sizeof r.v); return r; }
static inline void v8_store(double *p, v8 a) { memcpy(p, a.v, sizeof a.v); }
static inline v8 v8_set1(double x) { v8 r; V8_8(r.v[i_] = x); return r; }
static inline v8 v8_zero(void) { return v8_set1(0.0); }
static inline v8 v8_add(v8 a, v8 b) { V8_8(a.v[i_] += b.v[i_]); return a; }
static inline v8 v8_sub(v8 a, v8 b) { V8_8(a.v[i_] -= b.v[i_]); return a; }
static inline v8 v8_mul(v8 a, v8 b) { V8_8(a.v[i_] *= b.v[i_]); return a; }
static inline v8 v8_div(v8 a, v8 b) { V8_8(a.v[i_] /= b.v[i_]); return a; }
static inline v8 v8_max(v8 a, v8 b) { V8_8(a.v[i_] = a.v[i_] > b.v[i_] ? a.v[i_] : b.v[i_]); return a; }
static inline v8 v8_fmadd(v8 a, v8 b, v8 c) { V8_8(c.v[i_] = fma(a.v[i_], b.v[i_], c.v[i_])); return c; }
static inline v8 v8_fnmadd(v8 a, v8 b, v8 c) { V8_8(c.v[i_] = fma(-a.v[i_], b.v[i_], c.v[i_])); return c; }
static inline v8 v8_select_lt(v8 a, v8 b, v8 x, v8 y) { V8_8(y.v[i_] = a.v[i_] < b.v[i_] ? x.v[i_] : y.v[i_]); return y; }
static inline v8 v8_select_gt(v8 a, v8 b, v8 x, v8 y) { return v8_select_lt(b, a, x, y); }
static inline v8i v8_bits(v8 a) { v8i r; memcpy(r.v, a.v, sizeof r.v); return r; }
static inline v8 v8_from_bits(v8i a) { v8 r; memcpy(r.v, a.v, sizeof r.v); return r; }
static inline v8i v8i_add(v8i a, v8i b) { V8_8(a.v[i_] += b.v[i_]); return a; }
static inline v8i v8i_set1(int64_t x) { v8i r; V8_8(r.v[i_] = (uint64_t)x); return r; }
static inline v8i v8i_and(v8i a, v8i b) { V8_8(a.v[i_] &= b.v[i_]); return a; }
static inline v8i v8i_or(v8i a, v8i b) { V8_8(a.v[i_] |= b.v[i_]); return a; }
static inline v8i v8i_shl(v8i a, int k) { V8_8(a.v[i_] <<= k); return a; }
static inline v8i v8i_shr(v8i a, int k) { V8_8(a.v[i_] >>= k); return a; }
static inline double v8_hsum(v8 a)
{
    double s4[4], s2[2];
    for (int i = 0; i < 4; i++)
        s4[i] = a.v[i] + a.v[i + 4];
    for (int i = 0; i < 2; i++)
        s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}
#endif

#define MOG_KERNEL(name) MOG_CAT(name, MOG_SUFFIX)

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
