/* One small mapping of vector operations onto each instruction set, so that a
 * kernel in ops/kernels/ is written once and compiled once per ISA.
 *
 * The build compiles those sources with exactly one of ELBO_ISA_AVX512,
 * ELBO_ISA_AVX2 or ELBO_ISA_NEON defined (and the matching -m flags); each
 * function name gets the ISA's suffix through KERNEL(name), so the copies
 * link side by side and ops/dispatch.c picks one at run time.
 *
 *   vf           a vector of VLEN floats
 *   vf_load/u    unaligned load/store (all loads here are unaligned-safe)
 *   vf_fmadd     a*b + c, fused
 *   vf_hsum      horizontal sum, vf_hmax horizontal max
 *   vf_any_gt    a > b in any lane (a branch on a whole vector)
 *   vf_load_n    load the first n < VLEN floats, zero the rest (tails)
 *   vf_store_n   store the first n < VLEN floats
 *   vf_scalef    x 2^n for integral n, rounded once (AVX-512 only: VF_HAS_SCALEF)
 * Transcendentals built on these live in ops/simd_math.h. */
#ifndef ELBO_SIMD_H
#define ELBO_SIMD_H

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

#else
#error "ops/simd.h: compile kernels with ELBO_ISA_AVX512, ELBO_ISA_AVX2 or ELBO_ISA_NEON"
#endif

/* KERNEL(axpy) names the ISA's copy: axpy_avx2, axpy_avx512, axpy_neon. */
#define KERNEL(name) ELBO_CAT(name, ELBO_ISA_SUFFIX)

#endif
