/* elbo_gemm at every supported level against elbo_gemm_ref: all four
 * transpose forms, beta 0/1/0.5, a fixed-seed sample of shapes in 1..300 plus
 * edge and tail shapes, padded leading dimensions; 1 vs 2 threads bit-identical.
 *
 * Tolerance: the float result may differ from the double-accumulated oracle by
 * the summation error bound |c - ref| <= gamma_K * sum_k |a_ik||b_kj| + |beta c|*u,
 * with gamma_K = 2*(K+2)*u, u = 2^-24 (any summation order, FMA or not, plus
 * the final beta*C + acc and the oracle's rounding). So the bound scales with K. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "ops/pool.h"
#include "test_util.h"

struct shape {
    size_t M, N, K;
};

static const struct shape edge_shapes[] = {
    {1, 1, 1},    {1, 1, 7},     {2, 3, 1},    {1, 400, 784}, {16, 40, 400}, {5, 17, 33},
    {6, 16, 256}, {7, 17, 257},  {8, 48, 160}, {9, 49, 161},  {13, 47, 159}, {14, 64, 321},
    {15, 95, 97}, {300, 1, 300}, {1, 300, 300}, {300, 300, 1}, {300, 300, 300}, {128, 40, 400},
};
#define NRANDOM 40

static uint64_t rng_state;
static size_t rand_dim(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return 1 + (size_t)((rng_state >> 33) % 300);
}

static size_t nshapes(void) { return sizeof edge_shapes / sizeof edge_shapes[0] + NRANDOM; }
static struct shape shape_at(size_t i)
{
    size_t ne = sizeof edge_shapes / sizeof edge_shapes[0];
    if (i < ne)
        return edge_shapes[i];
    rng_state = 0x5EED0000u + i; /* fixed seed per shape */
    struct shape s = {rand_dim(), rand_dim(), rand_dim()};
    return s;
}

/* One comparison: op(A) (M,K), op(B) (K,N), C (M,N), leading dims padded by pad. */
static void check_one(elbo_simd level, bool ta, bool tb, struct shape s, float beta, size_t pad, uint64_t seed)
{
    size_t M = s.M, N = s.N, K = s.K;
    size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = lda * (ta ? K : M), nb = ldb * (tb ? N : K), nc = ldc * M;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
    float *C = malloc(nc * sizeof *C), *R = malloc(nc * sizeof *R), *S = malloc(nc * sizeof *S);
    float *Aabs = malloc(na * sizeof *A), *Babs = malloc(nb * sizeof *B);
    cr_assert(A && B && C && R && S && Aabs && Babs);
    tu_fill_uniform(A, na, -1.0f, 1.0f, seed);
    tu_fill_uniform(B, nb, -1.0f, 1.0f, seed + 1);
    tu_fill_uniform(C, nc, -1.0f, 1.0f, seed + 2);
    for (size_t i = 0; i < na; i++)
        Aabs[i] = fabsf(A[i]);
    for (size_t i = 0; i < nb; i++)
        Babs[i] = fabsf(B[i]);
    if (beta == 0.0f) /* beta 0 must never read C: poison it */
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                C[i * ldc + j] = NAN;
    memcpy(R, C, nc * sizeof *C);
    elbo_gemm_ref(ta, tb, M, N, K, Aabs, lda, Babs, ldb, 0.0f, S, ldc); /* sum |a||b| */

    elbo_gemm_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    elbo_gemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, R, ldc);

    const double u = 0x1p-24, gamma = 2.0 * (double)(K + 2) * u;
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < ldc; j++) {
            float c = C[i * ldc + j], r = R[i * ldc + j];
            if (j >= N) { /* padding columns are never written */
                cr_assert(memcmp(&c, &r, sizeof c) == 0, "%s ta=%d tb=%d %zux%zux%zu: wrote pad (%zu,%zu)",
                          elbo_simd_name(level), ta, tb, M, N, K, i, j);
                continue;
            }
            double tol = gamma * S[i * ldc + j] + 2.0 * u * fabs((double)r) + 1e-30;
            cr_assert(isfinite(c) && fabs((double)c - (double)r) <= tol,
                      "%s ta=%d tb=%d beta=%g %zux%zux%zu pad %zu: C[%zu,%zu] = %.9g, ref %.9g, tol %.3g",
                      elbo_simd_name(level), ta, tb, beta, M, N, K, pad, i, j, c, r, tol);
        }
    }
    free(A), free(B), free(C), free(R), free(S), free(Aabs), free(Babs);
}

static void check_level(elbo_simd level)
{
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    for (size_t si = 0; si < nshapes(); si++) {
        struct shape s = shape_at(si);
        for (int form = 0; form < 4; form++)
            for (size_t bi = 0; bi < 3; bi++)
                check_one(level, form & 1, form & 2, s, betas[bi], (si % 3 == 0) ? 3 : 0, 1000 + si * 16 + (size_t)form);
    }
}

Test(gemm, scalar_matches_reference) { check_level(ELBO_SIMD_SCALAR); }

Test(gemm, avx2_matches_reference)
{
    if (!elbo_simd_supported(ELBO_SIMD_AVX2))
        cr_skip_test("avx2 not supported here");
    check_level(ELBO_SIMD_AVX2);
}

Test(gemm, avx512_matches_reference)
{
    if (!elbo_simd_supported(ELBO_SIMD_AVX512))
        cr_skip_test("avx512 not supported here");
    check_level(ELBO_SIMD_AVX512);
}

Test(gemm, neon_matches_reference)
{
    if (!elbo_simd_supported(ELBO_SIMD_NEON))
        cr_skip_test("neon not supported here");
    check_level(ELBO_SIMD_NEON);
}

/* The narrow path (N <= 4) and the direct small path (M*N*K <= 64^3): N in
 * 1..4 and some wide N, K in 1..3 and longer, every form, beta 0/1/0.5, every
 * level, with and without padded leading dimensions. */
Test(gemm, small_and_narrow_shapes)
{
    static const size_t Ms[] = {1, 2, 5, 17, 33, 64, 100};
    static const size_t Ns[] = {1, 2, 3, 4, 5, 16, 17, 32, 49};
    static const size_t Ks[] = {1, 2, 3, 7, 32, 33, 64, 100};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        uint64_t seed = 9000;
        for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                    for (int form = 0; form < 4; form++)
                        for (size_t bi = 0; bi < 3; bi++) {
                            struct shape s = {Ms[mi], Ns[ni], Ks[ki]};
                            check_one((elbo_simd)l, form & 1, form & 2, s, betas[bi], (seed % 2) ? 5 : 0, seed);
                            seed += 3;
                        }
    }
}

Test(gemm, padded_leading_dimensions)
{
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        struct shape s = {37, 53, 71};
        for (int form = 0; form < 4; form++)
            for (size_t pad = 1; pad <= 17; pad += 8)
                check_one((elbo_simd)l, form & 1, form & 2, s, 1.0f, pad, 77 + pad);
    }
}

Test(gemm, k_zero_scales_c)
{
    float C[6] = {1, 2, 3, 4, 5, 6};
    elbo_gemm(false, false, 2, 3, 0, NULL, 1, NULL, 3, 0.5f, C, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(C[i], 0.5f * (float)(i + 1), 0.0f);
    float D[2] = {NAN, NAN};
    elbo_gemm(false, false, 1, 2, 0, NULL, 1, NULL, 2, 0.0f, D, 2);
    cr_assert(D[0] == 0.0f && D[1] == 0.0f);
}

/* Same bits for 1 and 2 (and 3) threads, every level and form, shapes big
 * enough to be split across the pool. */
Test(gemm, thread_count_does_not_change_bits)
{
    static const struct shape shapes[] = {
        {128, 784, 400}, {128, 40, 400}, {784, 400, 128}, {300, 300, 300}, {257, 129, 517}, {16, 400, 784},
        {64, 2, 32},    {32, 2, 64},   {64, 1, 32},    {64, 32, 2},    {64, 32, 32},   {1000, 3, 1000},
        /* split by rows (N narrower than a B panel per thread), rows not a multiple of the tile */
        {400, 40, 128}, {128, 20, 400}, {131, 40, 400}, {401, 17, 300}, {20, 400, 128}, {128, 400, 20},
        /* a shared operand too large for per-task copies: packed once, in groups */
        {600, 600, 300}, {700, 500, 300},
        /* one row: the row path on 1 thread, split by columns on 2 and 3 */
        {1, 400, 784}, {1, 784, 400}, {1, 1000, 600}};
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l) || l == ELBO_SIMD_SCALAR)
            continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            struct shape s = shapes[si];
            for (int form = 0; form < 4; form++) {
                bool ta = form & 1, tb = form & 2;
                size_t na = s.M * s.K, nb = s.K * s.N, nc = s.M * s.N;
                float *A = malloc(na * 4), *B = malloc(nb * 4), *C0 = malloc(nc * 4), *C1 = malloc(nc * 4);
                tu_fill_uniform(A, na, -1, 1, 5 + si);
                tu_fill_uniform(B, nb, -1, 1, 6 + si);
                tu_fill_uniform(C0, nc, -1, 1, 7 + si);
                memcpy(C1, C0, nc * 4);
                size_t lda = ta ? s.M : s.K, ldb = tb ? s.K : s.N;
                cr_assert(elbo_set_threads(1) == ELBO_OK);
                elbo_gemm_at((elbo_simd)l, ta, tb, s.M, s.N, s.K, A, lda, B, ldb, 1.0f, C0, s.N);
                for (int th = 2; th <= 3; th++) {
                    float *C2 = malloc(nc * 4);
                    memcpy(C2, C1, nc * 4);
                    cr_assert(elbo_set_threads(th) == ELBO_OK);
                    elbo_gemm_at((elbo_simd)l, ta, tb, s.M, s.N, s.K, A, lda, B, ldb, 1.0f, C2, s.N);
                    cr_assert(memcmp(C0, C2, nc * 4) == 0, "%s ta=%d tb=%d %zux%zux%zu: %d threads differ",
                              elbo_simd_name((elbo_simd)l), ta, tb, s.M, s.N, s.K, th);
                    free(C2);
                }
                free(A), free(B), free(C0), free(C1);
            }
        }
    }
    elbo_set_threads(1);
}

/* A one-row product (the row path: B read row by row) gives the bits of
 * that row inside a larger product (the tiles), at every level, every form,
 * beta 0, 1 and 0.5, K over several K blocks. */
Test(gemm, one_row_equals_its_row_of_a_larger_product)
{
    static const struct shape shapes[] = {{9, 400, 784}, {17, 784, 400}, {9, 1000, 600}, {9, 33, 1025}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    elbo_set_threads(1);
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l) || l == ELBO_SIMD_SCALAR)
            continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int form = 0; form < 4; form++)
                for (size_t bi = 0; bi < 3; bi++) {
                    struct shape s = shapes[si];
                    bool ta = form & 1, tb = form & 2;
                    size_t na = s.M * s.K, nb = s.K * s.N, nc = s.M * s.N;
                    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *r = malloc(s.N * 4);
                    tu_fill_uniform(A, na, -1, 1, 30 + si);
                    tu_fill_uniform(B, nb, -1, 1, 31 + si);
                    tu_fill_uniform(C, nc, -1, 1, 32 + si);
                    memcpy(r, C, s.N * 4);
                    size_t lda = ta ? s.M : s.K, ldb = tb ? s.K : s.N;
                    elbo_gemm_at((elbo_simd)l, ta, tb, s.M, s.N, s.K, A, lda, B, ldb, betas[bi], C, s.N);
                    /* row 0 of op(A): A's first row, or (ta) its first column, lda as before */
                    elbo_gemm_at((elbo_simd)l, ta, tb, 1, s.N, s.K, A, lda, B, ldb, betas[bi], r, s.N);
                    cr_assert(memcmp(C, r, s.N * 4) == 0, "%s ta=%d tb=%d beta=%g %zux%zux%zu: row 0 differs",
                              elbo_simd_name((elbo_simd)l), ta, tb, betas[bi], s.M, s.N, s.K);
                    free(A), free(B), free(C), free(r);
                }
    }
}
