/* float64 GEMM micro-kernels and packing, written once over the v8 vectors
 * of ops/simd.h (8 doubles in every build) and compiled once per ISA and once
 * as the reference build (the scalar level). See dgemm_internal.h for the
 * contract: each element of C is one in-order FMA chain, so every build gives
 * the same bits as the reference loop.
 *
 * Tile rows per width nv (accumulators = rows x nv v8 vectors):
 *   AVX-512 (32 zmm):  nv 1: 16 rows, nv 2: 10, nv 3: 8   (16, 20, 24 zmm)
 *   AVX2 (16 ymm, a v8 is two), NEON (32 q, a v8 is four), reference:
 *                      nv 1: 6 rows,  nv 2: 3,  nv 3: 2    (6 v8 = 12 ymm / 24 q)
 * so at least 16 independent FMA chains (AVX-512) cover 2 pipes x 4 cycles
 * of latency, and the B vectors and one broadcast still fit. */
#include "ops/simd.h"

#include <stdbool.h>

#include "ops/gemm/dgemm_internal.h"

#if defined(ELBO_ISA_AVX512)
#define MR1 16
#define MR2 10
#define MR3 8
#else
#define MR1 6
#define MR2 3
#define MR3 2
#endif
#define MRMAX MR1
#define L8 DGEMM_LANES

/* Keep a loaded B vector in registers: left alone, GCC folds the load into
 * every FMA as a memory operand, which puts mr x nv loads per k step on the
 * two load ports and makes the tile load-bound instead of FMA-bound. The
 * empty asm changes no value, so no result. */
#if defined(ELBO_ISA_AVX512)
#define PIN(x) __asm__("" : "+v"(x))
#elif defined(ELBO_ISA_AVX2)
#define PIN(x) __asm__("" : "+x"((x).lo), "+x"((x).hi))
#elif defined(ELBO_ISA_NEON)
#define PIN(x) __asm__("" : "+w"((x).q[0]), "+w"((x).q[1]), "+w"((x).q[2]), "+w"((x).q[3]))
#else
#define PIN(x) ((void)0)
#endif

/* C tile (MR_, 8 NV_) = chain start + A (MR_, kc) · B (kc, 8 NV_); AS1: A's
 * rows are adjacent (packed panel or Aᵀ in place), else its k are (rows of A in place). */
static inline __attribute__((always_inline)) void tile(const size_t MR_, const size_t NV_, const bool AS1, size_t kc,
                                                       const double *restrict a, size_t as, size_t ks,
                                                       const double *restrict b, size_t bs, double *restrict c,
                                                       size_t ldc, double beta)
{
    if (AS1)
        as = 1;
    else
        ks = 1;
    v8 acc[MRMAX][DGEMM_MAX_NV];
    const v8 vb = v8_set1(beta);
#pragma GCC unroll 16
    for (size_t i = 0; i < MR_; i++)
#pragma GCC unroll 3
        for (size_t v = 0; v < NV_; v++) {
            const double *p = c + i * ldc + v * L8;
            acc[i][v] = beta == 0.0 ? v8_zero() : beta == 1.0 ? v8_load(p) : v8_mul(vb, v8_load(p));
        }
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; k++) {
        v8 bv[DGEMM_MAX_NV];
#pragma GCC unroll 3
        for (size_t v = 0; v < NV_; v++) {
            bv[v] = v8_load(b + v * L8);
            PIN(bv[v]);
        }
#pragma GCC unroll 16
        for (size_t i = 0; i < MR_; i++) {
            v8 av = v8_set1(a[i * as]);
#pragma GCC unroll 3
            for (size_t v = 0; v < NV_; v++)
                acc[i][v] = v8_fmadd(av, bv[v], acc[i][v]);
        }
        a += ks;
        b += bs;
    }
#pragma GCC unroll 16
    for (size_t i = 0; i < MR_; i++)
#pragma GCC unroll 3
        for (size_t v = 0; v < NV_; v++)
            v8_store(c + i * ldc + v * L8, acc[i][v]);
}

/* One entry per width: a switch on m picks the copy with exactly m rows. */
#define ROWS(mm, NV_, MRN)                                                                                   \
    case mm:                                                                                                 \
        if ((mm) <= (MRN)) {                                                                                 \
            if (as == 1)                                                                                     \
                tile(mm, NV_, true, kc, a, 1, ks, b, bs, c, ldc, beta);                                      \
            else                                                                                             \
                tile(mm, NV_, false, kc, a, as, 1, b, bs, c, ldc, beta);                                     \
        }                                                                                                    \
        return;
#define KERNEL_NV(NV_, MRN)                                                                                  \
    static void kernel_nv##NV_(size_t m, size_t kc, const double *a, size_t as, size_t ks, const double *b,  \
                               size_t bs, double *c, size_t ldc, double beta)                                \
    {                                                                                                        \
        switch (m) {                                                                                         \
            ROWS(1, NV_, MRN) ROWS(2, NV_, MRN) ROWS(3, NV_, MRN) ROWS(4, NV_, MRN) ROWS(5, NV_, MRN)        \
            ROWS(6, NV_, MRN) ROWS(7, NV_, MRN) ROWS(8, NV_, MRN) ROWS(9, NV_, MRN) ROWS(10, NV_, MRN)       \
            ROWS(11, NV_, MRN) ROWS(12, NV_, MRN) ROWS(13, NV_, MRN) ROWS(14, NV_, MRN) ROWS(15, NV_, MRN)   \
            ROWS(16, NV_, MRN) default : return;                                                             \
        }                                                                                                    \
    }
KERNEL_NV(1, MR1)
KERNEL_NV(2, MR2)
KERNEL_NV(3, MR3)

/* ap[k*mr + i] = op(A)[i][k]: op(A) (m, kc) is A[i*lda + k], or with ta A[k*lda + i]. */
static void pack_a(bool ta, size_t m, size_t mr, size_t kc, const double *A, size_t lda, double *ap)
{
    for (size_t k = 0; k < kc; k++) {
        double *dst = ap + k * mr;
        if (ta)
            for (size_t i = 0; i < m; i++)
                dst[i] = A[k * lda + i];
        else
            for (size_t i = 0; i < m; i++)
                dst[i] = A[i * lda + k];
        for (size_t i = m; i < mr; i++)
            dst[i] = 0.0;
    }
}

/* bp[k*nr + j] = op(B)[k][j]: op(B) (kc, n) is B[k*ldb + j], or with tb B[j*ldb + k]. */
static void pack_b(bool tb, size_t n, size_t nr, size_t kc, const double *B, size_t ldb, double *bp)
{
    for (size_t k = 0; k < kc; k++) {
        double *dst = bp + k * nr;
        if (tb)
            for (size_t j = 0; j < n; j++)
                dst[j] = B[j * ldb + k];
        else
            for (size_t j = 0; j < n; j++)
                dst[j] = B[k * ldb + j];
        for (size_t j = n; j < nr; j++)
            dst[j] = 0.0;
    }
}

const struct elbo_dgemm_isa KERNEL(elbo_dgemm_isa) = {
    .mr = {0, MR1, MR2, MR3},
    .kernel = {0, kernel_nv1, kernel_nv2, kernel_nv3},
    .pack_a = pack_a,
    .pack_b = pack_b,
};
