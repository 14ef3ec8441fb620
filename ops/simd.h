/* The one mapping of vector operations onto each instruction set, so that a
 * kernel is written once and compiled once per ISA.
 *
 * The build compiles the kernel sources (ops/kernels/, the EM pass of
 * models/mog) once per ISA with exactly one of ELBO_ISA_AVX512, ELBO_ISA_AVX2
 * or ELBO_ISA_NEON defined (and the matching -m flags), and once more with
 * none: the reference build (ELBO_REFERENCE is 1 there, 0 in the ISA builds),
 * where the naive scalar references beside each fast kernel are compiled
 * instead. Each function name gets the build's suffix through KERNEL(name)
 * (avx512, avx2, neon, scalar), so the copies link side by side and the
 * dispatcher (ops/simd_level.h) picks one at run time.
 *
 * Two kinds of vectors:
 *   vf  float32 at the ISA's natural width, VLEN lanes (ISA builds only)
 *       vf_load/u    unaligned load/store (all loads here are unaligned-safe)
 *       vf_fmadd     a*b + c, fused
 *       vf_hsum      horizontal sum, vf_hmax horizontal max
 *       vf_any_gt    a > b in any lane (a branch on a whole vector)
 *       vf_load_n    load the first n < VLEN floats, zero the rest (tails)
 *       vf_store_n   store the first n < VLEN floats
 *       vf_scalef    x 2^n for integral n, rounded once (AVX-512 only: VF_HAS_SCALEF)
 *   v8  float64 with a FIXED count of 8 lanes in every build (one zmm, two ymm,
 *       four NEON q-registers, or eight scalars in the reference build), for
 *       the EM pass: every lane is one point's own sequence of correctly
 *       rounded operations (add, sub, mul, div, explicit fma) and horizontal
 *       sums use one fixed tree (v8_hsum), so its results are bit-identical
 *       across SIMD levels as well as across thread counts.
 * Transcendentals built on these live in ops/simd_math.h. */
#ifndef ELBO_SIMD_H
#define ELBO_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ELBO_CAT_(a, b) a##_##b
#define ELBO_CAT(a, b) ELBO_CAT_(a, b)

#if defined(ELBO_ISA_AVX512)
#include <immintrin.h>
#define ELBO_ISA_SUFFIX avx512
#define VLEN 16
typedef __m512 vf;
typedef __m512i vi;
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_fnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a*b */
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm512_abs_ps(a); }
static inline vf vf_neg_abs(vf a) { return _mm512_or_ps(a, _mm512_set1_ps(-0.0f)); } /* -|a| */
static inline float vf_hsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }
/* lanes where a > b take x, others take y */
static inline vf vf_select_gt(vf a, vf b, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), y, x);
}
/* true if a > b in any lane (false for NaN lanes) */
static inline int vf_any_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) != 0; }
static inline vf vf_load_n(const float *p, size_t n)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
}
static inline void vf_store_n(float *p, vf a, size_t n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), a);
}
/* integer helpers for exponent tricks */
static inline vi vf_as_vi(vf a) { return _mm512_castps_si512(a); }
static inline vf vi_as_vf(vi a) { return _mm512_castsi512_ps(a); }
static inline vi vf_to_vi(vf a) { return _mm512_cvtps_epi32(a); } /* round to nearest */
static inline vf vi_to_vf(vi a) { return _mm512_cvtepi32_ps(a); }
static inline vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
static inline vi vi_set1(int32_t x) { return _mm512_set1_epi32(x); }
static inline vi vi_and(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm512_or_si512(a, b); }
static inline vi vi_shl(vi a, int k) { return _mm512_slli_epi32(a, (unsigned)k); }
static inline vi vi_shr(vi a, int k) { return _mm512_srli_epi32(a, (unsigned)k); }
static inline vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
#define VF_HAS_SCALEF 1
static inline vf vf_scalef(vf x, vf n) { return _mm512_scalef_ps(x, n); }

/* float64, 8 lanes */
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
#define ELBO_ISA_SUFFIX avx2
#define VLEN 8
typedef __m256 vf;
typedef __m256i vi;
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_fnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vf vf_neg_abs(vf a) { return _mm256_or_ps(a, _mm256_set1_ps(-0.0f)); } /* -|a| */
static inline float vf_hsum(vf a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float vf_hmax(vf a)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline vf vf_select_gt(vf a, vf b, vf x, vf y)
{
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
static inline int vf_any_gt(vf a, vf b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ)) != 0; }
static inline __m256i elbo_avx2_mask_(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_load_n(const float *p, size_t n) { return _mm256_maskload_ps(p, elbo_avx2_mask_(n)); }
static inline void vf_store_n(float *p, vf a, size_t n) { _mm256_maskstore_ps(p, elbo_avx2_mask_(n), a); }
static inline vi vf_as_vi(vf a) { return _mm256_castps_si256(a); }
static inline vf vi_as_vf(vi a) { return _mm256_castsi256_ps(a); }
static inline vi vf_to_vi(vf a) { return _mm256_cvtps_epi32(a); }
static inline vf vi_to_vf(vi a) { return _mm256_cvtepi32_ps(a); }
static inline vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
static inline vi vi_set1(int32_t x) { return _mm256_set1_epi32(x); }
static inline vi vi_and(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm256_or_si256(a, b); }
static inline vi vi_shl(vi a, int k) { return _mm256_slli_epi32(a, k); }
static inline vi vi_shr(vi a, int k) { return _mm256_srli_epi32(a, k); }
static inline vf vf_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

/* float64, 8 lanes */
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
#define ELBO_ISA_SUFFIX neon
#define VLEN 4
typedef float32x4_t vf;
typedef int32x4_t vi;
static inline vf vf_load(const float *p) { return vld1q_f32(p); }
static inline void vf_store(float *p, vf a) { vst1q_f32(p, a); }
static inline vf vf_set1(float x) { return vdupq_n_f32(x); }
static inline vf vf_zero(void) { return vdupq_n_f32(0.0f); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
static inline vf vf_fnmadd(vf a, vf b, vf c) { return vfmsq_f32(c, a, b); }
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf vf_min(vf a, vf b) { return vminq_f32(a, b); }
static inline vf vf_sqrt(vf a) { return vsqrtq_f32(a); }
static inline vf vf_abs(vf a) { return vabsq_f32(a); }
static inline vf vf_neg_abs(vf a) { return vnegq_f32(vabsq_f32(a)); } /* -|a| */
static inline float vf_hsum(vf a) { return vaddvq_f32(a); }
static inline float vf_hmax(vf a) { return vmaxvq_f32(a); }
static inline vf vf_select_gt(vf a, vf b, vf x, vf y) { return vbslq_f32(vcgtq_f32(a, b), x, y); }
static inline int vf_any_gt(vf a, vf b) { return vmaxvq_u32(vcgtq_f32(a, b)) != 0; }
static inline vf vf_load_n(const float *p, size_t n)
{
    float t[4] = {0};
    memcpy(t, p, n * sizeof *p);
    return vld1q_f32(t);
}
static inline void vf_store_n(float *p, vf a, size_t n)
{
    float t[4];
    vst1q_f32(t, a);
    memcpy(p, t, n * sizeof *p);
}
static inline vi vf_as_vi(vf a) { return vreinterpretq_s32_f32(a); }
static inline vf vi_as_vf(vi a) { return vreinterpretq_f32_s32(a); }
static inline vi vf_to_vi(vf a) { return vcvtnq_s32_f32(a); }
static inline vf vi_to_vf(vi a) { return vcvtq_f32_s32(a); }
static inline vi vi_add(vi a, vi b) { return vaddq_s32(a, b); }
static inline vi vi_sub(vi a, vi b) { return vsubq_s32(a, b); }
static inline vi vi_set1(int32_t x) { return vdupq_n_s32(x); }
static inline vi vi_and(vi a, vi b) { return vandq_s32(a, b); }
static inline vi vi_or(vi a, vi b) { return vorrq_s32(a, b); }
static inline vi vi_shl(vi a, int k) { return vshlq_s32(a, vdupq_n_s32(k)); }
static inline vi vi_shr(vi a, int k)
{
    return vreinterpretq_s32_u32(vshlq_u32(vreinterpretq_u32_s32(a), vdupq_n_s32(-k)));
}
static inline vf vf_round(vf a) { return vrndnq_f32(a); }

/* float64, 8 lanes */
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

#else /* no ISA macro: the reference build */
#define ELBO_ISA_SUFFIX scalar
#define ELBO_REFERENCE 1

/* float64, 8 lanes: the same arithmetic, one lane at a time (fma() from libm) */
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

#ifndef ELBO_REFERENCE
#define ELBO_REFERENCE 0
#endif

/* KERNEL(elbo_axpy) names this build's copy: elbo_axpy_avx2, elbo_axpy_avx512,
 * elbo_axpy_neon, or elbo_axpy_scalar (the reference). */
#define KERNEL(name) ELBO_CAT(name, ELBO_ISA_SUFFIX)

#endif
