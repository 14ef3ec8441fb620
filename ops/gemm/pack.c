/* Packing of A and B panels into the k-major layout of the micro-kernels
 * (see gemm_internal.h). Compiled per ISA (elbo_isa_sources): the transposing
 * cases use 8x8 AVX transposes on x86, plain loops elsewhere. Padding rows
 * and columns are written as zeros, so the kernel never reads garbage. */
#include "ops/simd.h"

#include <stdbool.h>

#include "ops/gemm/gemm_internal.h"
#include "ops/gemm/tile.h"

#if defined(__AVX2__)
// r[0..7] are 8 rows of 8 floats; out[t] gets column t of them (8x8 transpose)
static inline void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#define HAVE_TRANSPOSE8 1
#else
#define HAVE_TRANSPOSE8 0
#endif

// X is (n,kc) with row stride ldx (rows are panel lanes, columns are k);
// writes xp[k*w + j] = X[j*ldx + k] for j < n, zeros for n <= j < w.
// Only moves 32-bit words: the bf16 packing (bf16_isa.c) runs it on pairs.
void KERNEL(gemm_pack_transposed32)(size_t n, size_t w, size_t kc, const float *X, size_t ldx, float *xp);
void KERNEL(gemm_pack_transposed32)(size_t n, size_t w, size_t kc, const float *X, size_t ldx, float *xp)
{
    size_t k0 = 0;
#if HAVE_TRANSPOSE8
    // 8 lanes at a time, 8 k at a time; missing lanes read a zero row
    static const float zeros[8];
    k0 = kc & ~(size_t)7;
    for (size_t j = 0; j < w; j += 8) {
        size_t wj = w - j < 8 ? w - j : 8;
        const float *row[8];
        size_t step[8];
        for (size_t r = 0; r < 8; r++) {
            bool real = r < wj && j + r < n;
            row[r] = real ? X + (j + r) * ldx : zeros;
            step[r] = real ? 8 : 0;
        }
        for (size_t k = 0; k < k0; k += 8) {
            __m256 v[8];
            for (size_t r = 0; r < 8; r++) {
                v[r] = _mm256_loadu_ps(row[r]);
                row[r] += step[r];
            }
            transpose8(v);
            float *dst = xp + k * w + j;
            if (wj == 8) {
                for (size_t t = 0; t < 8; t++)
                    _mm256_storeu_ps(dst + t * w, v[t]);
            } else {
                float tmp[8][8];
                for (size_t t = 0; t < 8; t++)
                    _mm256_storeu_ps(tmp[t], v[t]);
                for (size_t t = 0; t < 8; t++)
                    for (size_t r = 0; r < wj; r++)
                        dst[t * w + r] = tmp[t][r];
            }
        }
    }
#endif
    for (size_t k = k0; k < kc; k++) {
        float *dst = xp + k * w;
        for (size_t j = 0; j < n; j++)
            dst[j] = X[j * ldx + k];
        for (size_t j = n; j < w; j++)
            dst[j] = 0.0f;
    }
}

// X is (kc,n) with row stride ldx: xp[k*w + j] = X[k*ldx + j], zero padded to w.
static void pack_rows(size_t n, size_t w, size_t kc, const float *X, size_t ldx, float *xp)
{
    if (n == w && w % VLEN == 0) { /* whole vectors, no padding: B panels */
        for (size_t k = 0; k < kc; k++)
            for (size_t v = 0; v < w; v += VLEN)
                vf_store(xp + k * w + v, vf_load(X + k * ldx + v));
        return;
    }
    if (n == w && w == GEMM_MR) { /* a full A panel: fixed-size copies, no masked stores */
        for (size_t k = 0; k < kc; k++)
            memcpy(xp + k * GEMM_MR, X + k * ldx, GEMM_MR * sizeof(float));
        return;
    }
    for (size_t k = 0; k < kc; k++) {
        const float *src = X + k * ldx;
        float *dst = xp + k * w;
        for (size_t v = 0; v < w; v += VLEN) {
            size_t cnt = w - v < VLEN ? w - v : VLEN;           /* lanes to write */
            size_t valid = n > v ? (n - v < cnt ? n - v : cnt) : 0; /* lanes to read */
            vf x = valid == VLEN ? vf_load(src + v) : vf_load_n(src + v, valid);
            if (cnt == VLEN)
                vf_store(dst + v, x);
            else
                vf_store_n(dst + v, x, cnt);
        }
    }
}

// op(A) block is (m,kc): A[i*lda + k], or with ta A stored (kc,m): A[k*lda + i]
void KERNEL(gemm_pack_a)(bool ta, size_t m, size_t kc, const float *A, size_t lda, float *ap)
{
    if (ta)
        pack_rows(m, GEMM_MR, kc, A, lda, ap);
    else
        KERNEL(gemm_pack_transposed32)(m, GEMM_MR, kc, A, lda, ap);
}

// op(B) block is (kc,n): B[k*ldb + j], or with tb B stored (n,kc): B[j*ldb + k]
void KERNEL(gemm_pack_b)(bool tb, size_t n, size_t kc, const float *B, size_t ldb, float *bp)
{
    if (tb)
        KERNEL(gemm_pack_transposed32)(n, GEMM_NR, kc, B, ldb, bp);
    else
        pack_rows(n, GEMM_NR, kc, B, ldb, bp);
}
