/* Internal interface between the float64 GEMM driver (dgemm.c) and its
 * per-ISA micro-kernels (dgemm_ukernel.c, compiled once per ISA over the v8
 * vectors of ops/simd.h and once as the reference build).
 *
 * Register tiles: mr rows by nv v8 vectors (8 nv columns) of C. The driver
 * picks nv from N (1, 2 or 3) and the ISA gives the rows for that width, so
 * narrow products (N = 8 or 16) still fill the register file.
 *
 * Every tile computes each element of C as one chain of fused multiply-adds
 * over k in increasing order, started from beta*C (beta 0: from 0, C never
 * read; beta 1: from C itself) and carried through the K blocks by reloading
 * C. That is exactly the reference loop (dgemm_ref.c), so results are
 * bit-identical at every SIMD level, for any tiling and any thread count. */
#ifndef ELBO_DGEMM_INTERNAL_H
#define ELBO_DGEMM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#define DGEMM_LANES 8  /* doubles per v8 */
#define DGEMM_MAX_NV 3 /* widest tile: 24 columns */

/* C (m, 8 nv) with row stride ldc: the chain start (beta) then += A·B over kc.
 * A is (m, kc) with element (i, k) at a[i*as + k*ks] (packed panel: as = 1,
 * ks = mr; op(A) in place: A as = lda, ks = 1, Aᵀ stored as = 1, ks = lda).
 * B is (kc, 8 nv) with rows bs doubles apart (packed panel: bs = 8 nv). */
typedef void (*elbo_dgemm_kernel_fn)(size_t m, size_t kc, const double *a, size_t as, size_t ks, const double *b,
                                     size_t bs, double *c, size_t ldc, double beta);

struct elbo_dgemm_isa {
    int mr[DGEMM_MAX_NV + 1];                        /* rows of the tile for nv = 1..3 */
    elbo_dgemm_kernel_fn kernel[DGEMM_MAX_NV + 1];   /* kernel[nv], m <= mr[nv] */
    /* pack m <= mr rows of op(A) (kc steps) into ap[k*mr + i], zero rows up to mr */
    void (*pack_a)(bool ta, size_t m, size_t mr, size_t kc, const double *A, size_t lda, double *ap);
    /* pack n <= nr columns of op(B) (kc steps) into bp[k*nr + j], zero columns up to nr */
    void (*pack_b)(bool tb, size_t n, size_t nr, size_t kc, const double *B, size_t ldb, double *bp);
};

extern const struct elbo_dgemm_isa elbo_dgemm_isa_scalar;
extern const struct elbo_dgemm_isa elbo_dgemm_isa_avx2;
extern const struct elbo_dgemm_isa elbo_dgemm_isa_avx512;
extern const struct elbo_dgemm_isa elbo_dgemm_isa_neon;

#endif
