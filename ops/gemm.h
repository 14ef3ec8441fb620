/* Single-precision matrix multiply in the forms the tape needs.
 *
 * Row-major. op(A) is (M,K): A itself (stored (M,K), lda >= K) or, with
 * trans_a, the transpose of A stored (K,M) (lda >= M). op(B) is (K,N): B
 * stored (K,N) (ldb >= N) or, with trans_b, the transpose of B stored (N,K)
 * (ldb >= K). C is (M,N), ldc >= N.
 *
 *   C = beta * C + op(A) · op(B)      (beta = 0 never reads C: NaN-safe)
 *
 * Results are bit-identical for any thread count. */
#ifndef ELBO_GEMM_H
#define ELBO_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "simd_level.h"

void elbo_gemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
               const float *A, size_t lda, const float *B, size_t ldb,
               float beta, float *C, size_t ldc);

/* The same at a given SIMD level (tests, benchmarks). */
void elbo_gemm_at(elbo_simd level, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                  const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc);

/* Naive triple loop accumulating in double: the test oracle. */
void elbo_gemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                   const float *A, size_t lda, const float *B, size_t ldb,
                   float beta, float *C, size_t ldc);

/* float64, the same forms (ops/gemm/dgemm.c): every element of C is one
 * chain of fused multiply-adds over k in increasing order started from
 * beta*C, at every SIMD level, tiling and thread count, so the result is
 * bit-identical to elbo_dgemm_ref, the naive loop. */
void elbo_dgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                const double *A, size_t lda, const double *B, size_t ldb,
                double beta, double *C, size_t ldc);
void elbo_dgemm_at(elbo_simd level, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                   const double *A, size_t lda, const double *B, size_t ldb,
                   double beta, double *C, size_t ldc);
void elbo_dgemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                    const double *A, size_t lda, const double *B, size_t ldb,
                    double beta, double *C, size_t ldc);
/* ---- mixed precision: bf16 inputs, float32 accumulation ----
 * The same product with every element of op(A) and op(B) rounded to bf16
 * (ops/bf16.h) and the products summed in float32 (vdpbf16ps), as each tile
 * of C is stored: C = beta*C + op(A)·op(B), then C += bias (one value per
 * column) and C = max(C, 0) when the epilogue asks (ep may be NULL).
 * Bit-identical for any thread count. Where the level has no bf16 kernel
 * (elbo_gemm_bf16_supported false) it runs the float32 GEMM, epilogue after. */
typedef struct elbo_gemm_epilogue {
    const float *bias; /* (N) added to every row of C, or NULL */
    bool relu;         /* then C = max(C, 0) */
} elbo_gemm_epilogue;

bool elbo_gemm_bf16_supported(elbo_simd level);
void elbo_gemm_bf16_at(elbo_simd level, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                       const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc,
                       const elbo_gemm_epilogue *ep);
/* The oracle: inputs rounded by elbo_bf16_round_ref, products summed in double. */
void elbo_gemm_bf16_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                        const float *B, size_t ldb, float beta, float *C, size_t ldc, const elbo_gemm_epilogue *ep);

/* The GEMM of dense layers and convolutions: bf16 inputs when the process
 * precision is bf16 (ops/precision.h) and supported and the shape is large
 * enough to pay for the conversion (M >= 20 and N >= 16), float32 otherwise;
 * then the epilogue (fused into the tile stores where the kernel has it). */
void elbo_gemm_mixed(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                     const float *B, size_t ldb, float beta, float *C, size_t ldc, const elbo_gemm_epilogue *ep);

#endif
