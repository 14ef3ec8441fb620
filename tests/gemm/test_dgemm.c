/* elbo_dgemm at every supported level against elbo_dgemm_ref, bit for bit:
 * both are one FMA chain per element of C over k in order (ops/gemm.h), so
 * any difference is a bug, not rounding. All four transpose forms, beta
 * 0/1/0.5 (beta 0 on a NaN-poisoned C), widths around every tile width
 * (8, 16, 24 columns), rows around every tile height, K across the 256 block,
 * padded leading dimensions (padding never written); 1, 2 and 3 threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "ops/pool.h"

static void fill(double *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) { /* splitmix64 -> [-1, 1) */
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = (double)(z >> 11) * 0x1p-52 - 1.0;
    }
}

struct shape {
    size_t M, N, K;
};

/* C by elbo_dgemm_at(level) with `threads` threads equals the reference bit for bit. */
static void check_one(elbo_simd level, int threads, bool ta, bool tb, struct shape s, double beta, size_t pad,
                      uint64_t seed)
{
    size_t M = s.M, N = s.N, K = s.K;
    size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = lda * (ta ? K : M), nb = ldb * (tb ? N : K), nc = ldc * M;
    double *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B);
    double *C = malloc(nc * sizeof *C), *R = malloc(nc * sizeof *R);
    cr_assert(A && B && C && R);
    fill(A, na, seed);
    fill(B, nb, seed + 1);
    fill(C, nc, seed + 2);
    if (beta == 0.0) /* beta 0 must never read C */
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                C[i * ldc + j] = NAN;
    memcpy(R, C, nc * sizeof *C);
    cr_assert(elbo_set_threads(threads) == ELBO_OK);
    elbo_dgemm_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    cr_assert(elbo_set_threads(1) == ELBO_OK);
    elbo_dgemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, R, ldc);
    for (size_t i = 0; i < nc; i++)
        cr_assert(memcmp(&C[i], &R[i], sizeof *C) == 0,
                  "%s threads=%d ta=%d tb=%d beta=%g %zux%zux%zu pad %zu: C[%zu,%zu] = %.17g, ref %.17g",
                  elbo_simd_name(level), threads, ta, tb, beta, M, N, K, pad, i / ldc, i % ldc, C[i], R[i]);
    free(A), free(B), free(C), free(R);
}

static void check_level(elbo_simd level)
{
    static const size_t Ms[] = {1, 2, 3, 7, 8, 9, 11, 16, 17, 33, 80};
    static const size_t Ns[] = {1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 47, 49};
    static const size_t Ks[] = {1, 5, 8, 16, 63, 65, 257};
    static const double betas[] = {0.0, 1.0, 0.5};
    uint64_t seed = 100;
    for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
                int form = (int)(seed % 4);
                struct shape s = {Ms[mi], Ns[ni], Ks[ki]};
                check_one(level, 1, form & 1, form & 2, s, betas[seed % 3], (seed % 5 == 0) ? 3 : 0, seed);
                seed += 7;
            }
    /* every form and beta on a few larger, odd shapes (several tiles and K blocks) */
    static const struct shape big[] = {{201, 131, 300}, {97, 250, 513}, {300, 16, 777}, {250, 8, 100}};
    for (size_t si = 0; si < sizeof big / sizeof big[0]; si++)
        for (int form = 0; form < 4; form++)
            for (size_t bi = 0; bi < 3; bi++)
                check_one(level, 1, form & 1, form & 2, big[si], betas[bi], form == 2 ? 5 : 0, seed++);
}

Test(dgemm, scalar_matches_reference) { check_level(ELBO_SIMD_SCALAR); }

Test(dgemm, avx2_matches_reference)
{
    if (!elbo_simd_supported(ELBO_SIMD_AVX2))
        cr_skip_test("avx2 not supported here");
    check_level(ELBO_SIMD_AVX2);
}

Test(dgemm, avx512_matches_reference)
{
    if (!elbo_simd_supported(ELBO_SIMD_AVX512))
        cr_skip_test("avx512 not supported here");
    check_level(ELBO_SIMD_AVX512);
}

Test(dgemm, neon_matches_reference)
{
    if (!elbo_simd_supported(ELBO_SIMD_NEON))
        cr_skip_test("neon not supported here");
    check_level(ELBO_SIMD_NEON);
}

/* Shapes large enough to be split into pool tasks: same bits as the reference on 2 and 3 threads. */
Test(dgemm, thread_count_does_not_change_bits)
{
    static const struct shape shapes[] = {{300, 300, 300}, {80, 240, 16}, {80, 16, 2000}, {1000, 24, 200},
                                          {333, 77, 129}};
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int form = 0; form < 4; form++)
                for (int threads = 2; threads <= 3; threads++)
                    check_one((elbo_simd)l, threads, form & 1, form & 2, shapes[si], form == 3 ? 0.5 : 1.0, 0,
                              500 + si * 8 + (size_t)form);
    }
}

Test(dgemm, k_zero_scales_c)
{
    double C[6] = {1, 2, 3, 4, 5, 6};
    elbo_dgemm(false, false, 2, 3, 0, NULL, 1, NULL, 3, 0.5, C, 3);
    for (int i = 0; i < 6; i++)
        cr_assert(C[i] == 0.5 * (double)(i + 1));
    double D[2] = {NAN, NAN};
    elbo_dgemm(false, false, 1, 2, 0, NULL, 1, NULL, 2, 0.0, D, 2);
    cr_assert(D[0] == 0.0 && D[1] == 0.0);
}
