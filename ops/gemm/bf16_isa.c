/* bf16 GEMM parts for AVX512_BF16: conversion, packing into bf16 pairs and
 * the vdpbf16ps micro-kernel. Compiled once, with the AVX-512 flags plus
 * -mavx512bf16 (ops/gemm/meson.build); the driver is gemm_bf16.c, which runs
 * this only where cpuid reports AVX512_BF16. Without compiler support the
 * table is empty (kernel NULL) and the driver reports bf16 unsupported.
 *
 * Packed layouts (zero-padded to whole panels and to an even K):
 *   A panel: mr rows, one K block of kp pairs, from Aᵀ stored (k-major):
 *              ap[p*mr + i] = (A[i,2p], A[i,2p+1])
 *            or from A stored (row-major: each row is just its bf16 copy,
 *            no transpose): ap[i*kp + p] = (A[i,2p], A[i,2p+1])
 *   B panel: nr cols: bp[p*nr + j] = (B[2p,j], B[2p+1,j])
 * each pair one 32-bit word, the even k in the low half, as vdpbf16ps reads:
 *   c[j] += a.hi*b[j].hi + a.lo*b[j].lo      (products exact in fp32, sums fp32) */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/bf16.h"
#include "ops/gemm/gemm_internal.h"

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>

#define BF_MR 8  /* 8 rows x 3 zmm: 24 accumulators, 3 B vectors, 1 broadcast */
#define BF_NV 3
#define BF_NR (BF_NV * 16)
#define BF_KCP 192 /* pairs per K block: a B panel is 192 x 48 words = 36 KB (L1) */

void gemm_pack_transposed32_avx512(size_t n, size_t w, size_t kc, const float *X, size_t ldx, float *xp);

static inline __mmask16 mask16(size_t n) { return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u); }

// y[0:n] = bf16(x[0:n]): 32 at a time by VCVTNE2PS2BF16 (RNE, DAZ, quiet NaN)
static void round_n(size_t n, const float *x, uint16_t *y)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512((void *)(y + i), (__m512i)r);
    }
    if (i < n) {
        size_t r = n - i, lo = r < 16 ? r : 16, hi = r - lo;
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mask16(hi), x + i + 16),
                                         _mm512_maskz_loadu_ps(mask16(lo), x + i));
        _mm512_mask_storeu_epi16(y + i, r >= 32 ? ~0u : (__mmask32)((1ull << r) - 1u), (__m512i)v);
    }
}

// X is (n,kc), rows ldx apart: xp[p*w + j] = (X[j,2p], X[j,2p+1]) for j < n,
// zeros for n <= j < w; kc <= 2*BF_KCP. Rows become pair words, then the
// 32-bit transposing pack of the fp32 GEMM lays them out.
static void pack_pairs_cols(size_t n, size_t w, size_t kc, const float *X, size_t ldx, uint32_t *xp)
{
    uint32_t tmp[BF_NR * BF_KCP];
    size_t kp = (kc + 1) / 2;
    for (size_t j = 0; j < n; j++) {
        round_n(kc, X + j * ldx, (uint16_t *)(tmp + j * kp));
        if (kc & 1) /* the odd k's partner is zero */
            ((uint16_t *)(tmp + j * kp))[kc] = 0;
    }
    gemm_pack_transposed32_avx512(n, w, kp, (const float *)tmp, kp, (float *)xp);
}

// X is (kc,n), rows ldx apart: xp[p*w + j] = (X[2p,j], X[2p+1,j]) for j < n,
// zeros for n <= j < w (w a multiple of 8)
static void pack_pairs_rows(size_t n, size_t w, size_t kc, const float *X, size_t ldx, uint32_t *xp)
{
    // word j of the result: bf16 j of the even row (low), bf16 j of the odd row (high)
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                         6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    size_t p = 0;
    if (n == w && w % 16 == 0) /* whole vectors (full B panels): plain loads and stores */
        for (; 2 * p + 1 < kc; p++) {
            const float *r0 = X + 2 * p * ldx, *r1 = r0 + ldx;
            for (size_t j = 0; j < w; j += 16) {
                __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(r1 + j), _mm512_loadu_ps(r0 + j));
                _mm512_storeu_si512((void *)(xp + p * w + j), _mm512_permutexvar_epi16(idx, (__m512i)v));
            }
        }
    if (n == 8 && w == 8) /* a full Aᵀ panel: two pairs per vector (rows 2p, 2p+2 low and high) */
        for (; 2 * p + 3 < kc; p += 2) {
            const float *r0 = X + 2 * p * ldx, *r1 = r0 + ldx, *r2 = r1 + ldx, *r3 = r2 + ldx;
            __m512 lo = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(r0)), _mm256_loadu_ps(r2), 1);
            __m512 hi = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(r1)), _mm256_loadu_ps(r3), 1);
            __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
            _mm512_storeu_si512((void *)(xp + p * w), _mm512_permutexvar_epi16(idx, (__m512i)v));
        }
    for (; p < (kc + 1) / 2; p++) {
        const float *r0 = X + 2 * p * ldx, *r1 = r0 + ldx;
        bool odd = 2 * p + 1 < kc;
        for (size_t j = 0; j < w; j += 16) {
            size_t valid = n > j ? (n - j < 16 ? n - j : 16) : 0, cnt = w - j < 16 ? w - j : 16;
            __m512 lo = _mm512_maskz_loadu_ps(mask16(valid), r0 + j);
            __m512 hi = odd ? _mm512_maskz_loadu_ps(mask16(valid), r1 + j) : _mm512_setzero_ps();
            __m512i v = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_mask_storeu_epi32(xp + p * w + j, mask16(cnt), v);
        }
    }
}

// op(A) block (m,kc): A[i*lda + k], or with ta A stored (kc,m): A[k*lda + i].
// Row-major panel for A (the kernel reads rows kp words apart), k-major for Aᵀ.
static void pack_a(bool ta, size_t m, size_t kc, const float *A, size_t lda, uint32_t *ap)
{
    if (ta) {
        pack_pairs_rows(m, BF_MR, kc, A, lda, ap);
        return;
    }
    size_t kp = (kc + 1) / 2;
    for (size_t i = 0; i < BF_MR; i++) {
        uint32_t *row = ap + i * kp;
        if (i >= m) { /* padding rows: zeros */
            memset(row, 0, kp * sizeof *row);
            continue;
        }
        round_n(kc, A + i * lda, (uint16_t *)row);
        if (kc & 1) /* the odd k's partner is zero */
            ((uint16_t *)row)[kc] = 0;
    }
}

// op(B) block (kc,n): B[k*ldb + j], or with tb B stored (n,kc): B[j*ldb + k]
static void pack_b(bool tb, size_t n, size_t kc, const float *B, size_t ldb, uint32_t *bp)
{
    if (tb)
        pack_pairs_cols(n, BF_NR, kc, B, ldb, bp);
    else
        pack_pairs_rows(n, BF_NR, kc, B, ldb, bp);
}

// One tile: C (m,n) = beta*C + Ap (BF_MR,kp pairs) · Bp (kp pairs, NV_ vectors),
// then y = relu?(y + bias) when this is the last K block (bias may be NULL).
// Pair (i,p) of A is a[i*as + p*ks]: KMAJ_ (as 1, ks BF_MR) or row-major (ks 1).
// All BF_MR rows are computed (padding rows are zeros), m rows stored.
static inline __attribute__((always_inline)) void tile(const size_t NV_, const bool KMAJ_, size_t m, size_t n,
                                                       size_t kp, const uint32_t *restrict a, size_t as,
                                                       const uint32_t *restrict b,
                                                       float *restrict c, size_t ldc, float beta,
                                                       const float *bias, bool relu)
{
    __m512 acc[BF_MR][BF_NV];
#pragma GCC unroll 8
    for (size_t i = 0; i < BF_MR; i++)
#pragma GCC unroll 3
        for (size_t v = 0; v < NV_; v++)
            acc[i][v] = _mm512_setzero_ps();
    if (beta != 0.0f)
        for (size_t i = 0; i < m; i++)
            for (size_t v = 0; v < NV_; v++)
                __builtin_prefetch(c + i * ldc + v * 16, 1, 3);
#pragma GCC unroll 2
    for (size_t p = 0; p < kp; p++) {
        __m512bh bv[BF_NV];
#pragma GCC unroll 3
        for (size_t v = 0; v < NV_; v++)
            bv[v] = (__m512bh)_mm512_loadu_si512((const void *)(b + v * 16));
#pragma GCC unroll 8
        for (size_t i = 0; i < BF_MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[KMAJ_ ? i : i * as]);
#pragma GCC unroll 3
            for (size_t v = 0; v < NV_; v++)
                acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
        }
        a += KMAJ_ ? BF_MR : 1;
        b += BF_NR;
    }
    size_t nlast = n - (NV_ - 1) * 16; /* 1..16 */
    __m512 vb = _mm512_set1_ps(beta), zero = _mm512_setzero_ps();
    __m512 bias_v[BF_NV];
    for (size_t v = 0; v < NV_; v++)
        bias_v[v] = bias ? _mm512_maskz_loadu_ps(mask16(v + 1 < NV_ ? 16 : nlast), bias + v * 16) : zero;
    for (size_t i = 0; i < m; i++) {
        float *cr = c + i * ldc;
#pragma GCC unroll 3
        for (size_t v = 0; v < NV_; v++) {
            __mmask16 k = mask16(v + 1 < NV_ ? 16 : nlast);
            __m512 r = acc[i][v];
            if (beta == 1.0f)
                r = _mm512_add_ps(_mm512_maskz_loadu_ps(k, cr + v * 16), r);
            else if (beta != 0.0f)
                r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k, cr + v * 16), r);
            if (bias)
                r = _mm512_add_ps(r, bias_v[v]);
            if (relu)
                r = _mm512_max_ps(r, zero);
            _mm512_mask_storeu_ps(cr + v * 16, k, r);
        }
    }
}

static void kernel(bool ta, size_t m, size_t n, size_t kp, const uint32_t *ap, const uint32_t *bp, float *c,
                   size_t ldc, float beta, const float *bias, bool relu)
{
    size_t nv = (n + 15) / 16;
    if (ta) { /* k-major panel */
        if (nv == 1) tile(1, true, m, n, kp, ap, 1, bp, c, ldc, beta, bias, relu);
        else if (nv == 2) tile(2, true, m, n, kp, ap, 1, bp, c, ldc, beta, bias, relu);
        else tile(3, true, m, n, kp, ap, 1, bp, c, ldc, beta, bias, relu);
    } else { /* row-major panel, rows kp words apart */
        if (nv == 1) tile(1, false, m, n, kp, ap, kp, bp, c, ldc, beta, bias, relu);
        else if (nv == 2) tile(2, false, m, n, kp, ap, kp, bp, c, ldc, beta, bias, relu);
        else tile(3, false, m, n, kp, ap, kp, bp, c, ldc, beta, bias, relu);
    }
}

const struct elbo_gemm_bf16_isa elbo_gemm_bf16_isa_avx512 = {
    .mr = BF_MR,
    .nr = BF_NR,
    .kcp = BF_KCP,
    .kernel = kernel,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .round = round_n,
};
#else
/* This compiler cannot build AVX512_BF16 code: no bf16 kernel. */
const struct elbo_gemm_bf16_isa elbo_gemm_bf16_isa_avx512 = {0};
#endif
