/* Narrow GEMM: C (M,N) = beta*C + op(A) (M,K) · op(B) (K,N) with N <= 4, on
 * the operands in place (no packing beyond a K x N copy of op(B), no pool).
 * Compiled per ISA (elbo_isa_sources). The packed path would compute such a
 * C with whole nr-column panels (48 or 16 lanes for 1..4 useful columns);
 * here the vectors run along the long dimension instead:
 *
 *   A stored (M,K) (no trans_a): each C[i,j] is a dot product along K of a
 *     row of A and a column of op(B) (B's rows if trans_b, else a transposed
 *     copy), several (i,j) at a time, reduced together (hsum_batch);
 *   A stored (K,M) (trans_a): C[:,j] is built along M, broadcasting op(B)[k,j]
 *     and adding rows of A (column-broadcast FMAs), K split in two chains.
 *
 * Determinism: one thread; every C[i,j] sees the same operations in the same
 * order whichever block computes it (the lane tree of hsum_batch is the same
 * for each vector it reduces; masked tails add zeros), so the result depends
 * only on the shape and operands. */
#include "ops/simd.h"

#include <math.h>
#include <stdbool.h>

#include "ops/gemm/gemm_internal.h"

/* Largest K of the trans_b = false dot path: the transposed copy of op(B)
 * (N x K floats) lives on the stack (16 KB at N = 4). */
#define NARROW_KMAX 1024

/* out[t] = sum of the lanes of acc[t], t < cnt <= 8, by one fixed tree per vector. */
static inline void hsum_batch(const vf *acc, size_t cnt, float *out)
{
#if defined(ELBO_ISA_AVX512) || defined(ELBO_ISA_AVX2)
    __m256 a[8];
    for (size_t t = 0; t < 8; t++) {
#if defined(ELBO_ISA_AVX512)
        a[t] = t < cnt ? _mm256_add_ps(_mm512_castps512_ps256(acc[t]), _mm512_extractf32x8_ps(acc[t], 1))
                       : _mm256_setzero_ps();
#else
        a[t] = t < cnt ? acc[t] : _mm256_setzero_ps();
#endif
    }
    // lanes (0+1),(2+3) of each pair, then (01+23): per 128-bit half, 4 sums of 4 vectors
    __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    // low halves + high halves: sum t of a[t] in lane t
    __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
    float tmp[8];
    _mm256_storeu_ps(tmp, s);
    for (size_t t = 0; t < cnt; t++)
        out[t] = tmp[t];
#else
    for (size_t t = 0; t < cnt; t++)
        out[t] = vf_hsum(acc[t]);
#endif
}

/* c = beta*c + s (beta 0 never reads c) */
static inline void put(float *c, float beta, float s)
{
    if (beta == 0.0f)
        *c = s;
    else if (beta == 1.0f)
        *c = *c + s;
    else
        *c = fmaf(beta, *c, s);
}

/* Dot path, N_ columns, RB_ rows per block (RB_*N_ <= 8 accumulators).
 * A is (M,K) rows lda apart; column j of op(B) is bt[j*ldbt + 0..K). */
static inline __attribute__((always_inline)) void dot_rows(const size_t N_, const size_t RB_, size_t M,
                                                           size_t K, const float *A, size_t lda,
                                                           const float *bt, size_t ldbt, float beta, float *C,
                                                           size_t ldc)
{
    size_t i = 0;
    for (; i < M; i += RB_) {
        size_t rb = M - i < RB_ ? M - i : RB_;
        const float *ar[8];
        for (size_t r = 0; r < RB_; r++)
            ar[r] = A + (i + (r < rb ? r : 0)) * lda; /* a short block re-reads row i */
        vf acc[8];
        for (size_t t = 0; t < RB_ * N_; t++)
            acc[t] = vf_zero();
        size_t k = 0;
        for (; k + VLEN <= K; k += VLEN) {
            vf bv[4];
            for (size_t j = 0; j < N_; j++)
                bv[j] = vf_load(bt + j * ldbt + k);
            for (size_t r = 0; r < RB_; r++) {
                vf av = vf_load(ar[r] + k);
                for (size_t j = 0; j < N_; j++)
                    acc[r * N_ + j] = vf_fmadd(av, bv[j], acc[r * N_ + j]);
            }
        }
        if (k < K) {
            size_t kt = K - k;
            vf bv[4];
            for (size_t j = 0; j < N_; j++)
                bv[j] = vf_load_n(bt + j * ldbt + k, kt);
            for (size_t r = 0; r < RB_; r++) {
                vf av = vf_load_n(ar[r] + k, kt);
                for (size_t j = 0; j < N_; j++)
                    acc[r * N_ + j] = vf_fmadd(av, bv[j], acc[r * N_ + j]);
            }
        }
        float s[8];
        hsum_batch(acc, RB_ * N_, s);
        for (size_t r = 0; r < rb; r++)
            for (size_t j = 0; j < N_; j++)
                put(C + (i + r) * ldc + j, beta, s[r * N_ + j]);
    }
}

/* M-vector path for trans_a: op(A)[i,k] = A[k*lda + i]. One block of NV_
 * vectors of rows starting at A (the last vector has `last` lanes), N_
 * columns, two accumulator sets (even and odd k) for twice the chains. */
static inline __attribute__((always_inline)) void mvec_block(const size_t N_, const size_t NV_, size_t last,
                                                             size_t K, const float *a, size_t lda, bool tb,
                                                             const float *B, size_t ldb, float beta, float *C,
                                                             size_t ldc)
{
    vf acc0[4][4], acc1[4][4];
    for (size_t v = 0; v < NV_; v++)
        for (size_t j = 0; j < N_; j++)
            acc0[v][j] = acc1[v][j] = vf_zero();
    bool full = last == VLEN;
    size_t k = 0;
    for (; k + 2 <= K; k += 2) {
        vf b0[4], b1[4];
        for (size_t j = 0; j < N_; j++) {
            b0[j] = vf_set1(tb ? B[j * ldb + k] : B[k * ldb + j]);
            b1[j] = vf_set1(tb ? B[j * ldb + k + 1] : B[(k + 1) * ldb + j]);
        }
        const float *p0 = a + k * lda, *p1 = p0 + lda;
        for (size_t v = 0; v < NV_; v++) {
            vf a0, a1;
            if (v + 1 < NV_ || full) {
                a0 = vf_load(p0 + v * VLEN);
                a1 = vf_load(p1 + v * VLEN);
            } else {
                a0 = vf_load_n(p0 + v * VLEN, last);
                a1 = vf_load_n(p1 + v * VLEN, last);
            }
            for (size_t j = 0; j < N_; j++) {
                acc0[v][j] = vf_fmadd(a0, b0[j], acc0[v][j]);
                acc1[v][j] = vf_fmadd(a1, b1[j], acc1[v][j]);
            }
        }
    }
    if (k < K) {
        const float *p0 = a + k * lda;
        for (size_t j = 0; j < N_; j++) {
            vf b0 = vf_set1(tb ? B[j * ldb + k] : B[k * ldb + j]);
            for (size_t v = 0; v < NV_; v++) {
                vf a0 = v + 1 < NV_ || full ? vf_load(p0 + v * VLEN) : vf_load_n(p0 + v * VLEN, last);
                acc0[v][j] = vf_fmadd(a0, b0, acc0[v][j]);
            }
        }
    }
    for (size_t v = 0; v < NV_; v++) {
        size_t lanes = v + 1 < NV_ ? VLEN : last;
        for (size_t j = 0; j < N_; j++) {
            float s[VLEN];
            vf_store(s, vf_add(acc0[v][j], acc1[v][j]));
            for (size_t l = 0; l < lanes; l++)
                put(C + (v * VLEN + l) * ldc + j, beta, s[l]);
        }
    }
}

/* All of C for trans_a, in blocks of MB_ vectors of rows (MB_ * N_ <= 8). */
static inline __attribute__((always_inline)) void mvec_rows(const size_t N_, const size_t MB_, size_t M,
                                                            size_t K, const float *A, size_t lda, bool tb,
                                                            const float *B, size_t ldb, float beta, float *C,
                                                            size_t ldc)
{
    for (size_t i = 0; i < M; i += MB_ * VLEN) {
        size_t m = M - i < MB_ * VLEN ? M - i : MB_ * VLEN;
        size_t nv = (m + VLEN - 1) / VLEN, last = m - (nv - 1) * VLEN;
        const float *a = A + i;
        float *c = C + i * ldc;
        switch (nv) {
        case 1: mvec_block(N_, 1, last, K, a, lda, tb, B, ldb, beta, c, ldc); break;
        case 2: if (MB_ >= 2) mvec_block(N_, 2, last, K, a, lda, tb, B, ldb, beta, c, ldc); break;
        case 3: if (MB_ >= 3) mvec_block(N_, 3, last, K, a, lda, tb, B, ldb, beta, c, ldc); break;
        default: if (MB_ >= 4) mvec_block(N_, 4, last, K, a, lda, tb, B, ldb, beta, c, ldc); break;
        }
    }
}

bool KERNEL(gemm_narrow)(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                         const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (N == 0 || N > 4)
        return false;
    if (ta) {
        switch (N) {
        case 1: mvec_rows(1, 4, M, K, A, lda, tb, B, ldb, beta, C, ldc); break;
        case 2: mvec_rows(2, 4, M, K, A, lda, tb, B, ldb, beta, C, ldc); break;
        case 3: mvec_rows(3, 2, M, K, A, lda, tb, B, ldb, beta, C, ldc); break;
        default: mvec_rows(4, 2, M, K, A, lda, tb, B, ldb, beta, C, ldc); break;
        }
        return true;
    }
    // columns of op(B), K contiguous: B's rows (trans_b) or a transposed copy
    const float *bt = B;
    size_t ldbt = ldb;
    float copy[4 * NARROW_KMAX];
    if (!tb) {
        if (K > NARROW_KMAX)
            return false;
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < N; j++)
                copy[j * K + k] = B[k * ldb + j];
        bt = copy;
        ldbt = K;
    }
    switch (N) {
    case 1: dot_rows(1, 8, M, K, A, lda, bt, ldbt, beta, C, ldc); break;
    case 2: dot_rows(2, 4, M, K, A, lda, bt, ldbt, beta, C, ldc); break;
    case 3: dot_rows(3, 2, M, K, A, lda, bt, ldbt, beta, C, ldc); break;
    default: dot_rows(4, 2, M, K, A, lda, bt, ldbt, beta, C, ldc); break;
    }
    return true;
}
