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
};

extern const struct elbo_gemm_isa elbo_gemm_isa_avx2;
extern const struct elbo_gemm_isa elbo_gemm_isa_avx512;
extern const struct elbo_gemm_isa elbo_gemm_isa_neon;

#endif
