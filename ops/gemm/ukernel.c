/* GEMM micro-kernels: one register-blocked tile, written once over ops/simd.h
 * and compiled per ISA (this file is in elbo_isa_sources). The tile size is
 * per ISA in tile.h; tails (m < MR rows, n < NR columns) are the same code with
 * fewer accumulators, so every element of C sees the same operations in the
 * same order whichever tile computes it (the driver relies on that for
 * thread-count-independent results). */
#include "ops/simd.h"

#include "ops/gemm/gemm_internal.h"
#include "ops/gemm/tile.h"

/* A one-row C (gemm_row): as many vectors as the tile has accumulators. */
#define ROW_NV (GEMM_MR * GEMM_NV)

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

// One chunk of a row of C: c (1, n), n <= NV_*VLEN, = beta*c + a · B over
// kc rows of B (rows ldb apart), a[k*sa]; the tile's arithmetic for one row.
static inline __attribute__((always_inline)) void row_chunk(const size_t NV_, size_t n, size_t kc,
                                                            const float *restrict a, size_t sa,
                                                            const float *restrict b, size_t ldb,
                                                            float *restrict c, float beta)
{
    vf acc[ROW_NV];
#pragma GCC unroll 24
    for (size_t v = 0; v < NV_; v++)
        acc[v] = vf_zero();
    size_t nlast = n - (NV_ - 1) * VLEN; /* 1..VLEN */
    for (size_t k = 0; k < kc; k++) {
        vf av = vf_set1(a[k * sa]);
        const float *br = b + k * ldb;
#pragma GCC unroll 24
        for (size_t v = 0; v < NV_; v++) {
            vf bv = v + 1 < NV_ || nlast == VLEN ? vf_load(br + v * VLEN) : vf_load_n(br + v * VLEN, nlast);
            acc[v] = vf_fmadd(av, bv, acc[v]);
        }
    }
    vf vb = vf_set1(beta);
#pragma GCC unroll 24
    for (size_t v = 0; v < NV_; v++) {
        vf r = acc[v];
        float *p = c + v * VLEN;
        size_t cnt = v + 1 < NV_ ? VLEN : nlast;
        vf old = beta == 0.0f ? vf_zero() : cnt == VLEN ? vf_load(p) : vf_load_n(p, cnt);
        if (beta == 1.0f)
            r = vf_add(old, r);
        else if (beta != 0.0f)
            r = vf_fmadd(vb, old, r);
        if (cnt == VLEN)
            vf_store(p, r);
        else
            vf_store_n(p, r, cnt);
    }
}

// C (1,N) = beta*C + a (1,K) · B (K,N), B row-major in place: the tiled
// path's arithmetic for a one-row C (zero accumulators, FMAs over k in
// order, beta*C + acc per K block of kc, blocks in order), with up to ROW_NV
// vectors of the row at a time so that B streams row by row instead of one
// 48-column panel at a time. The same bits as the tiles.
static void gemm_row(size_t N, size_t K, size_t kc, const float *a, size_t sa, const float *B, size_t ldb,
                     float beta, float *c)
{
    for (size_t k0 = 0; k0 < K; k0 += kc) {
        size_t kb = K - k0 < kc ? K - k0 : kc;
        float bk = k0 == 0 ? beta : 1.0f;
        for (size_t j0 = 0; j0 < N; j0 += ROW_NV * VLEN) {
            size_t n = N - j0 < ROW_NV * VLEN ? N - j0 : ROW_NV * VLEN, nv = (n + VLEN - 1) / VLEN;
            const float *ak = a + k0 * sa, *b = B + k0 * ldb + j0;
#define ROW_V(vv)                                                                                  \
    case vv:                                                                                       \
        if ((vv) <= ROW_NV)                                                                        \
            row_chunk(vv, n, kb, ak, sa, b, ldb, c + j0, bk);                                     \
        break;
            switch (nv) {
                ROW_V(1) ROW_V(2) ROW_V(3) ROW_V(4) ROW_V(5) ROW_V(6) ROW_V(7) ROW_V(8) ROW_V(9) ROW_V(10)
                ROW_V(11) ROW_V(12) ROW_V(13) ROW_V(14) ROW_V(15) ROW_V(16) ROW_V(17) ROW_V(18) ROW_V(19)
                ROW_V(20) ROW_V(21) ROW_V(22) ROW_V(23) ROW_V(24) default : break;
            }
#undef ROW_V
        }
    }
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
    .row = gemm_row,
};
