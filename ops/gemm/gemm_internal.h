/* Internal interface between the GEMM driver (gemm.c) and the per-ISA parts
 * (ukernel.c, pack.c, compiled once per ISA over ops/simd.h).
 *
 * Packed layouts (both zero-padded to whole panels):
 *   A panel: mr rows of op(A) for one K block, stored k-major: ap[k*mr + i]
 *   B panel: nr cols of op(B) for one K block, stored k-major: bp[k*nr + j] */
#ifndef ELBO_GEMM_INTERNAL_H
#define ELBO_GEMM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elbo_gemm_isa {
    int mr, nr; /* register tile of the micro-kernel: mr rows by nr columns of C */
    int kc;     /* largest K block */
    int vlen;   /* floats per vector */
    /* C[0:m, 0:n] = beta*C + Ap·Bp over kc steps; m <= mr, n <= nr; beta 0 never reads C.
     * Ap is (m,kc), element (i,k) at a[i*as + k*ks]: a packed panel (as = 1,
     * ks = mr) or op(A) in place (A: as = lda, ks = 1; Aᵀ stored: as = 1, ks = lda).
     * Bp is (kc,n) with rows bs floats apart: a packed panel (bs = nr) or, when
     * n == nr and B is not transposed, B in place (bs = ldb).
     * C is (m,n) with row stride ldc. */
    void (*kernel)(size_t m, size_t n, size_t kc, const float *a, size_t as, size_t ks, const float *b,
                   size_t bs, float *c, size_t ldc, float beta);
    /* pack m <= mr rows of op(A) (A at row 0, col 0 of the block) into one panel
     * op(A) block is (m,kc): A[i*lda + k], or with ta A[k*lda + i] */
    void (*pack_a)(bool ta, size_t m, size_t kc, const float *A, size_t lda, float *ap);
    /* pack n <= nr cols of op(B) into one panel
     * op(B) block is (kc,n): B[k*ldb + j], or with tb B[j*ldb + k] */
    void (*pack_b)(bool tb, size_t n, size_t kc, const float *B, size_t ldb, float *bp);
    /* the whole GEMM for N <= 4 on the operands in place (narrow.c); false if
     * the shape is not one it handles (then nothing was written) */
    bool (*narrow)(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                   const float *B, size_t ldb, float beta, float *C, size_t ldc);
    /* C (1,N) = beta*C + a (1,K) · B (K,N), B row-major in place, a[k*sa],
     * K blocks of kc: the kernel's arithmetic for one row, B read row by row */
    void (*row)(size_t N, size_t K, size_t kc, const float *a, size_t sa, const float *B, size_t ldb, float beta,
                float *c);
};

/* The bf16 micro-kernel and its packing (bf16_isa.c; layouts there): panels
 * of 32-bit words, each a pair of bf16 along K. kernel NULL: not built. */
struct elbo_gemm_bf16_isa {
    int mr, nr; /* register tile */
    int kcp;    /* largest K block, in pairs */
    /* C[0:m, 0:n] = beta*C + Ap·Bp over kp pairs, then C = relu?(C + bias[0:n])
     * when bias or relu (bias NULL: none); beta 0 never reads C. ta: the A
     * panel as pack_a(ta, ...) laid it out (k-major for Aᵀ, row-major for A). */
    void (*kernel)(bool ta, size_t m, size_t n, size_t kp, const uint32_t *ap, const uint32_t *bp, float *c,
                   size_t ldc, float beta, const float *bias, bool relu);
    /* pack m <= mr rows (n <= nr cols) of one K block of kc <= 2*kcp floats */
    void (*pack_a)(bool ta, size_t m, size_t kc, const float *A, size_t lda, uint32_t *ap);
    void (*pack_b)(bool tb, size_t n, size_t kc, const float *B, size_t ldb, uint32_t *bp);
    /* y[0:n] = bf16(x[0:n]), bit-identical to elbo_bf16_round_ref */
    void (*round)(size_t n, const float *x, uint16_t *y);
};

/* Tiles of C over mp x np panels (gemm.c): at most max_mp x max_np panels
 * each, halved (columns first) until there are at least min_tiles of them,
 * so that the pool can balance them; the result depends on the shape only. */
struct elbo_gemm_tiling {
    size_t tile_mp, tile_np, tiles_m, tiles_n;
};
struct elbo_gemm_tiling elbo_gemm_tile_c(size_t mp, size_t np, size_t max_mp, size_t max_np, size_t min_tiles);

/* The GEMM workspace of the calling thread (gemm.c): slot WS_* below,
 * grown to nfloats, freed at thread exit; NULL without memory. */
enum { ELBO_GEMM_WS_PACK, ELBO_GEMM_WS_PANEL, ELBO_GEMM_WS_BF16, ELBO_GEMM_WS_SLOTS };
float *elbo_gemm_workspace(int slot, size_t nfloats);

extern const struct elbo_gemm_bf16_isa elbo_gemm_bf16_isa_avx512;
extern const struct elbo_gemm_bf16_isa elbo_gemm_bf16_isa_neon;

extern const struct elbo_gemm_isa elbo_gemm_isa_avx2;
extern const struct elbo_gemm_isa elbo_gemm_isa_avx512;
extern const struct elbo_gemm_isa elbo_gemm_isa_neon;

#endif
