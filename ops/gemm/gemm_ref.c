/* The GEMM test oracle: a naive triple loop accumulating in double. */
#include "ops/gemm.h"

// op(A) is (M,K), op(B) is (K,N), C is (M,N): C = beta*C + op(A)·op(B)
void elbo_gemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                   const float *A, size_t lda, const float *B, size_t ldb,
                   float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (size_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc += (double)a * (double)b;
            }
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? (float)acc : (float)((double)beta * (double)*c + acc);
        }
    }
}
