/* GEMM micro-kernels: one register-blocked tile, written once over ops/simd.h
 * and compiled per ISA (this file is in elbo_isa_sources). The tile size is
 * per ISA in tile.h; tails (m < MR rows, n < NR columns) are the same code with
 * fewer accumulators, so every element of C sees the same operations in the
 * same order whichever tile computes it (the driver relies on that for
 * thread-count-independent results). */
#include "ops/simd.h"

#include "ops/gemm/gemm_internal.h"
#include "ops/gemm/tile.h"

void KERNEL(gemm_pack_a)(bool ta, size_t m, size_t kc, const float *A, size_t lda, float *ap);
void KERNEL(gemm_pack_b)(bool tb, size_t n, size_t kc, const float *B, size_t ldb, float *bp);
bool KERNEL(gemm_narrow)(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                         const float *B, size_t ldb, float beta, float *C, size_t ldc);

// One tile: A is (MR_,kc) with element (i,k) at a[i*as + k*ks] (a packed
// panel: as = 1, ks = GEMM_MR), B is (kc,n) with rows bs floats apart, C is
// (MR_,n) with row stride ldc; NV_ vectors cover n (the last may be partial).
// AS1 selects the as == 1 copy (packed or k-strided A) at compile time;
// otherwise ks == 1 (rows of A read in place).
static inline __attribute__((always_inline)) void tile(const size_t MR_, const size_t NV_, const bool AS1,
                                                       size_t n, size_t kc, const float *restrict ap,
                                                       size_t as, size_t ks, const float *restrict b,
                                                       size_t bs, float *restrict c, size_t ldc, float beta)
{
    if (AS1)
        as = 1;
    else
        ks = 1;
    vf acc[GEMM_MR][GEMM_NV];
#pragma GCC unroll 16
    for (size_t i = 0; i < MR_; i++)
#pragma GCC unroll 4
        for (size_t v = 0; v < NV_; v++)
            acc[i][v] = vf_zero();
    // Fetch this tile of C while the K loop runs: C is often bigger than L2
    // (a 784x400 weight gradient is 1.25 MB), and its rows are ldc apart,
    // where the hardware prefetcher does not look.
    if (beta != 0.0f) {
#pragma GCC unroll 16
        for (size_t i = 0; i < MR_; i++)
#pragma GCC unroll 4
            for (size_t v = 0; v < NV_; v++)
                __builtin_prefetch(c + i * ldc + v * VLEN, 1, 3);
    }

#pragma GCC unroll 2
    for (size_t k = 0; k < kc; k++) {
        vf bv[GEMM_NV];
#pragma GCC unroll 4
        for (size_t v = 0; v < NV_; v++)
            bv[v] = vf_load(b + v * VLEN);
#pragma GCC unroll 16
        for (size_t i = 0; i < MR_; i++) {
            vf av = vf_set1(ap[i * as]);
#pragma GCC unroll 4
            for (size_t v = 0; v < NV_; v++)
                acc[i][v] = vf_fmadd(av, bv[v], acc[i][v]);
        }
        ap += ks;
        b += bs;
    }

    // C = beta*C + acc, the last vector possibly partial
    size_t nlast = n - (NV_ - 1) * VLEN; /* 1..VLEN */
    vf vb = vf_set1(beta);
#pragma GCC unroll 16
    for (size_t i = 0; i < MR_; i++) {
        float *cr = c + i * ldc;
#pragma GCC unroll 4
        for (size_t v = 0; v < NV_; v++) {
            vf r = acc[i][v];
            float *p = cr + v * VLEN;
            if (v + 1 < NV_ || nlast == VLEN) {
                if (beta == 1.0f)
                    r = vf_add(vf_load(p), r);
                else if (beta != 0.0f)
                    r = vf_fmadd(vb, vf_load(p), r);
                vf_store(p, r);
            } else {
                if (beta == 1.0f)
                    r = vf_add(vf_load_n(p, nlast), r);
                else if (beta != 0.0f)
                    r = vf_fmadd(vb, vf_load_n(p, nlast), r);
                vf_store_n(p, r, nlast);
            }
        }
    }
}

// C is (m,n), m <= GEMM_MR, n <= GEMM_NR: one call per tile, the variant with
// exactly m rows and ceil(n/VLEN) vectors.
static void gemm_kernel(size_t m, size_t n, size_t kc, const float *ap, size_t as, size_t ks, const float *b,
                        size_t bs, float *c, size_t ldc, float beta)
{
    size_t nv = (n + VLEN - 1) / VLEN;
#define TILE_V(mm, vv)                                                                             \
    case vv:                                                                                       \
        if ((mm) <= GEMM_MR && (vv) <= GEMM_NV) {                                                  \
            if (as == 1)                                                                           \
                tile(mm, vv, true, n, kc, ap, 1, ks, b, bs, c, ldc, beta);                         \
            else                                                                                   \
                tile(mm, vv, false, n, kc, ap, as, 1, b, bs, c, ldc, beta);                        \
        }                                                                                          \
        return;
#define TILE_M(mm)                                                                                 \
    case mm:                                                                                       \
        switch (nv) {                                                                              \
            TILE_V(mm, 1) TILE_V(mm, 2) TILE_V(mm, 3) TILE_V(mm, 4) default : return;              \
        }
    switch (m) {
        TILE_M(1) TILE_M(2) TILE_M(3) TILE_M(4) TILE_M(5) TILE_M(6) TILE_M(7) TILE_M(8)
        TILE_M(9) TILE_M(10) TILE_M(11) TILE_M(12) TILE_M(13) TILE_M(14) default : return;
    }
#undef TILE_M
#undef TILE_V
}

const struct elbo_gemm_isa KERNEL(elbo_gemm_isa) = {
    .mr = GEMM_MR,
    .nr = GEMM_NR,
    .kc = GEMM_KC,
    .vlen = VLEN,
    .kernel = gemm_kernel,
    .pack_a = KERNEL(gemm_pack_a),
    .pack_b = KERNEL(gemm_pack_b),
    .narrow = KERNEL(gemm_narrow),
};
