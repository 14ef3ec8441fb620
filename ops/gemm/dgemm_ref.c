/* The float64 GEMM oracle: the naive loop, each element one FMA chain over k
 * in increasing order from beta*C (beta 0: from 0, C never read). The packed
 * kernels (dgemm_internal.h) compute exactly this, so tests compare bits. */
#include <math.h>

#include "ops/gemm.h"

// op(A) is (M,K), op(B) is (K,N), C is (M,N): C = beta*C + op(A)·op(B)
void elbo_dgemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const double *A, size_t lda,
                    const double *B, size_t ldb, double beta, double *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double *c = &C[i * ldc + j];
            double acc = beta == 0.0 ? 0.0 : beta == 1.0 ? *c : beta * *c;
            for (size_t k = 0; k < K; k++) {
                double a = trans_a ? A[k * lda + i] : A[i * lda + k];
                double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc = fma(a, b, acc);
            }
            *c = acc;
        }
}
