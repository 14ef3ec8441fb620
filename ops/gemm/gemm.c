/* GEMM driver (first cut: blocked scalar loops; packed SIMD path to follow). */
#include "ops/gemm.h"

// op(A) is (M,K), op(B) is (K,N), C is (M,N)
static void gemm_blocked(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                         const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            for (size_t j = 0; j < N; j++)
                c[j] = 0.0f;
        else if (beta != 1.0f)
            for (size_t j = 0; j < N; j++)
                c[j] *= beta;
        for (size_t k = 0; k < K; k++) {
            float a = ta ? A[k * lda + i] : A[i * lda + k];
            if (tb)
                for (size_t j = 0; j < N; j++)
                    c[j] += a * B[j * ldb + k];
            else
                for (size_t j = 0; j < N; j++)
                    c[j] += a * B[k * ldb + j];
        }
    }
}

void elbo_gemm_at(elbo_simd level, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                  const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                  size_t ldc)
{
    (void)level;
    gemm_blocked(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void elbo_gemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
               const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    elbo_gemm_at(elbo_simd_current(), trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}
