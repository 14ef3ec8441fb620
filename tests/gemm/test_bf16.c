/* bf16 rounding and the bf16 GEMM.
 *
 * Rounding: the vector conversion (elbo_bf16_round_n: VCVTNE2PS2BF16 where
 * the bf16 GEMM runs) against the scalar reference elbo_bf16_round_ref on
 * every upper half (sign, exponent, the 7 kept mantissa bits: all of bf16)
 * combined with the lower halves that decide rounding (0, 1, just below, at
 * and above the tie, all ones, and pseudo-random ones), so every exponent,
 * NaN, Inf, zero, subnormal and tie of either parity is covered; all 2^32
 * floats with -Dlong_tests=true. Known values pin the reference itself.
 *
 * GEMM: elbo_gemm_bf16_at against elbo_gemm_bf16_ref (the same rounding of
 * the inputs, products summed in double): bit-exact on inputs whose sums
 * are exact in float32 (small integers), within the float32 summation bound
 * otherwise; all four forms, beta 0/1/0.5, padded leading dimensions, the
 * VAE's shapes and tails, the fused bias + relu; bit-identical on 1, 2 and
 * 3 threads; a level without the kernel gives the float32 GEMM's bits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/bf16.h"
#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/pool.h"
#include "ops/precision.h"
#include "test_util.h"

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

Test(bf16, reference_known_values)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1 */
        {0x3f808000u, 0x3f80}, /* tie, even below: down */
        {0x3f818000u, 0x3f82}, /* tie, odd below: up */
        {0x3f807fffu, 0x3f80}, {0x3f808001u, 0x3f81},
        {0x7f7fffffu, 0x7f80}, /* largest float: overflows to Inf */
        {0x7f7f7fffu, 0x7f7f}, /* just below the rounding point: largest bf16 */
        {0xff7fffffu, 0xff80}, /* -Inf */
        {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},
        {0x7f800001u, 0x7fc0}, /* signalling NaN made quiet */
        {0xffc12345u, 0xffc1}, /* quiet NaN keeps sign and top payload */
        {0x7fffffffu, 0x7fff},
        {0x00000001u, 0x0000}, {0x807fffffu, 0x8000}, /* subnormals: signed zero */
        {0x00800000u, 0x0080}, /* smallest normal stays */
        {0x00000000u, 0x0000}, {0x80000000u, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = elbo_bf16_round_ref(from_bits(cases[i].in));
        cr_assert_eq(got, cases[i].out, "round(0x%08x) = 0x%04x, expected 0x%04x", cases[i].in, got, cases[i].out);
    }
    // RNE means: the nearest bf16, the even one on a tie, for finite normals
    for (uint32_t hi = 0x0080; hi < 0x7f7f; hi += 97) {
        uint32_t u = (hi << 16) | 0x1234u;
        float x = from_bits(u), lo = elbo_bf16_to_f32((uint16_t)hi), up = elbo_bf16_to_f32((uint16_t)(hi + 1));
        float r = elbo_bf16_quantize(x);
        cr_assert(r == lo && fabsf(x - lo) < fabsf(up - x), "0x%08x", u);
    }
}

// the vector conversion against the reference on n consecutive inputs
static void check_round(const float *x, uint16_t *y, size_t n)
{
    elbo_bf16_round_n(n, x, y);
    for (size_t i = 0; i < n; i++) {
        uint16_t r = elbo_bf16_round_ref(x[i]);
        if (y[i] != r) {
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            cr_assert_fail("bf16(0x%08x): vector 0x%04x, reference 0x%04x", u, y[i], r);
        }
    }
}

Test(bf16, vector_rounding_matches_reference)
{
    static const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4000, 0xc000};
    enum { NLOW = sizeof lows / sizeof lows[0], NRAND = 8, PER = NLOW + NRAND };
    size_t n = (size_t)PER << 16;
    float *x = malloc(n * sizeof *x);
    uint16_t *y = malloc(n * sizeof *y);
    cr_assert(x && y);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (uint32_t hi = 0; hi < 0x10000u; hi++)
        for (size_t l = 0; l < PER; l++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t low = l < NLOW ? lows[l] : (uint32_t)(s >> 48);
            uint32_t u = hi << 16 | low;
            memcpy(&x[(size_t)hi * PER + l], &u, sizeof u);
        }
    check_round(x, y, n);
    for (size_t len = 0; len < 70; len++) /* tails of the vector loop */
        check_round(x + 1000 + len, y, len);
    free(x), free(y);
}

Test(bf16, vector_rounding_all_floats, .timeout = 600)
{
    if (!getenv("ELBO_LONG_TESTS"))
        cr_skip_test("all 2^32 floats only with -Dlong_tests=true");
    enum { CHUNK = 1 << 20 };
    float *x = malloc(CHUNK * sizeof *x);
    uint16_t *y = malloc(CHUNK * sizeof *y);
    cr_assert(x && y);
    for (uint64_t base = 0; base < (1ull << 32); base += CHUNK) {
        for (uint32_t i = 0; i < CHUNK; i++) {
            uint32_t u = (uint32_t)(base + i);
            memcpy(&x[i], &u, sizeof u);
        }
        check_round(x, y, CHUNK);
    }
    free(x), free(y);
}

/* ---- the GEMM ---- */

struct shape {
    size_t M, N, K;
};
static const struct shape shapes[] = {
    {1, 1, 1},     {1, 1, 2},    {2, 3, 3},     {7, 17, 5},     {8, 48, 384},  {9, 49, 385},  {13, 47, 159},
    {16, 400, 31}, {5, 95, 770}, {33, 100, 64}, {128, 40, 400}, {128, 20, 400}, {64, 2, 32},  {3, 130, 1000},
};

// values: small integers (exact sums) or uniform in [-1, 1]
static void fill(float *x, size_t n, bool ints, uint64_t seed)
{
    tu_fill_uniform(x, n, -1.0f, 1.0f, seed);
    if (ints)
        for (size_t i = 0; i < n; i++)
            x[i] = roundf(x[i] * 8.0f);
}

static void check_one(bool ta, bool tb, struct shape s, float beta, size_t pad, bool ints, bool ep_on, uint64_t seed)
{
    size_t M = s.M, N = s.N, K = s.K;
    size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = lda * (ta ? K : M), nb = ldb * (tb ? N : K), nc = ldc * M;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *R = malloc(nc * 4), *S = malloc(nc * 4);
    float *Aq = malloc(na * 4), *Bq = malloc(nb * 4), *bias = malloc(N * 4);
    cr_assert(A && B && C && R && S && Aq && Bq && bias);
    fill(A, na, ints, seed);
    fill(B, nb, ints, seed + 1);
    fill(C, nc, ints, seed + 2);
    fill(bias, N, ints, seed + 3);
    if (!ints) /* values that are not bf16 already: the rounding matters */
        for (size_t i = 0; i < na; i++)
            A[i] *= 1.0f + 0x1p-12f;
    for (size_t i = 0; i < na; i++)
        Aq[i] = fabsf(elbo_bf16_quantize(A[i]));
    for (size_t i = 0; i < nb; i++)
        Bq[i] = fabsf(elbo_bf16_quantize(B[i]));
    if (beta == 0.0f)
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                C[i * ldc + j] = NAN;
    memcpy(R, C, nc * 4);
    elbo_gemm_ref(ta, tb, M, N, K, Aq, lda, Bq, ldb, 0.0f, S, ldc); /* sum |a||b| of the rounded inputs */
    elbo_gemm_epilogue ep = {.bias = bias, .relu = true};
    elbo_gemm_bf16_at(ELBO_SIMD_AVX512, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, ep_on ? &ep : NULL);
    elbo_gemm_bf16_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, R, ldc, ep_on ? &ep : NULL);
    const double u = 0x1p-24, gamma = 2.0 * (double)(K + 2) * u;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < ldc; j++) {
            float c = C[i * ldc + j], r = R[i * ldc + j];
            double tol = ints ? 0.0 : gamma * S[i * ldc + j] + 4.0 * u * (fabs((double)r) + 1.0) + 1e-30;
            if (j >= N || ints)
                cr_assert(memcmp(&c, &r, 4) == 0, "ta=%d tb=%d beta=%g %zux%zux%zu pad %zu ep %d: C[%zu,%zu] = %.9g, ref %.9g",
                          ta, tb, beta, M, N, K, pad, ep_on, i, j, c, r);
            else
                cr_assert(isfinite(c) && fabs((double)c - (double)r) <= tol,
                          "ta=%d tb=%d beta=%g %zux%zux%zu pad %zu ep %d: C[%zu,%zu] = %.9g, ref %.9g, tol %.3g", ta,
                          tb, beta, M, N, K, pad, ep_on, i, j, c, r, tol);
        }
    free(A), free(B), free(C), free(R), free(S), free(Aq), free(Bq), free(bias);
}

static void require_bf16(void)
{
    if (!elbo_gemm_bf16_supported(ELBO_SIMD_AVX512))
        cr_skip_test("no bf16 GEMM on this CPU or build");
}

Test(bf16_gemm, matches_reference)
{
    require_bf16();
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int form = 0; form < 4; form++)
            for (size_t bi = 0; bi < 3; bi++)
                for (int ints = 0; ints < 2; ints++)
                    check_one(form & 1, form & 2, shapes[si], betas[bi], si % 3 == 0 ? 3 : 0, ints, (si + bi) % 2,
                              7000 + si * 64 + (size_t)form * 8 + bi * 2 + (size_t)ints);
}

Test(bf16_gemm, vae_shapes_match_reference)
{
    require_bf16();
    static const struct shape vae[] = {{128, 400, 784}, {784, 400, 128}, {128, 784, 400}, {400, 784, 128}};
    for (size_t si = 0; si < 4; si++)
        for (int form = 0; form < 4; form++)
            check_one(form & 1, form & 2, vae[si], form == 2 ? 1.0f : 0.0f, 0, false, form == 0, 8000 + si * 4 + (size_t)form);
}

Test(bf16_gemm, same_bits_on_1_2_3_threads)
{
    require_bf16();
    static const struct shape big[] = {{128, 400, 784}, {784, 400, 128}, {300, 301, 302}, {128, 40, 400}};
    int saved = elbo_threads();
    for (size_t si = 0; si < 4; si++) {
        struct shape s = big[si];
        for (int form = 0; form < 4; form++) {
            bool ta = form & 1, tb = form & 2;
            size_t na = s.M * s.K, nb = s.K * s.N, nc = s.M * s.N;
            float *A = malloc(na * 4), *B = malloc(nb * 4), *C[3], *bias = malloc(s.N * 4);
            cr_assert(A && B && bias);
            fill(A, na, false, 11 + si), fill(B, nb, false, 12 + si), fill(bias, s.N, false, 13 + si);
            elbo_gemm_epilogue ep = {.bias = bias, .relu = form == 0};
            for (int t = 0; t < 3; t++) {
                cr_assert(elbo_set_threads(t + 1) == ELBO_OK);
                C[t] = malloc(nc * 4);
                fill(C[t], nc, false, 14 + si);
                elbo_gemm_bf16_at(ELBO_SIMD_AVX512, ta, tb, s.M, s.N, s.K, A, ta ? s.M : s.K, B, tb ? s.K : s.N, 0.5f,
                                  C[t], s.N, &ep);
            }
            cr_assert(memcmp(C[0], C[1], nc * 4) == 0, "%zux%zux%zu form %d: 2 threads differ", s.M, s.N, s.K, form);
            cr_assert(memcmp(C[0], C[2], nc * 4) == 0, "%zux%zux%zu form %d: 3 threads differ", s.M, s.N, s.K, form);
            free(A), free(B), free(C[0]), free(C[1]), free(C[2]), free(bias);
        }
    }
    elbo_set_threads(saved);
}

/* Rows of C depend only on their rows of op(A): the first 128 rows of a
 * 300-row product (the tile plan: M > 256) equal the 128-row product of the
 * same rows (the strip plan, B panels packed by the task that uses them),
 * on 1 and 2 threads. */
Test(bf16_gemm, strip_and_tile_plans_give_the_same_bits)
{
    require_bf16();
    const size_t M = 300, m = 128, N = 301, K = 302;
    int saved = elbo_threads();
    for (int form = 0; form < 4; form++) {
        bool ta = form & 1, tb = form & 2;
        float *A = malloc(M * K * 4), *B = malloc(K * N * 4), *C = malloc(M * N * 4), *c = malloc(m * N * 4);
        float *bias = malloc(N * 4);
        cr_assert(A && B && C && c && bias);
        fill(A, M * K, false, 21 + (size_t)form), fill(B, K * N, false, 22), fill(bias, N, false, 23);
        elbo_gemm_epilogue ep = {.bias = bias, .relu = form == 1};
        for (int t = 1; t <= 2; t++) {
            cr_assert(elbo_set_threads(t) == ELBO_OK);
            fill(C, M * N, false, 24), fill(c, m * N, false, 24);
            /* op(A) rows 0..m-1: A's first m rows, or (ta) its first m columns, lda M */
            elbo_gemm_bf16_at(ELBO_SIMD_AVX512, ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0.5f, C, N, &ep);
            elbo_gemm_bf16_at(ELBO_SIMD_AVX512, ta, tb, m, N, K, A, ta ? M : K, B, tb ? K : N, 0.5f, c, N, &ep);
            cr_assert(memcmp(C, c, m * N * 4) == 0, "form %d, %d threads: the strip plan differs from the tile plan",
                      form, t);
        }
        free(A), free(B), free(C), free(c), free(bias);
    }
    elbo_set_threads(saved);
}

Test(bf16_gemm, a_level_without_the_kernel_runs_fp32)
{
    elbo_simd level = elbo_simd_supported(ELBO_SIMD_AVX2) ? ELBO_SIMD_AVX2 : ELBO_SIMD_SCALAR;
    cr_assert(!elbo_gemm_bf16_supported(level));
    size_t M = 37, N = 53, K = 71;
    float *A = malloc(M * K * 4), *B = malloc(K * N * 4), *C = malloc(M * N * 4), *R = malloc(M * N * 4);
    fill(A, M * K, false, 1), fill(B, K * N, false, 2);
    elbo_gemm_bf16_at(level, false, false, M, N, K, A, K, B, N, 0.0f, C, N, NULL);
    elbo_gemm_at(level, false, false, M, N, K, A, K, B, N, 0.0f, R, N);
    cr_assert(memcmp(C, R, M * N * 4) == 0);
    free(A), free(B), free(C), free(R);
}

Test(bf16_gemm, precision_setting_and_notice)
{
    elbo_precision p;
    cr_assert(elbo_precision_parse("bf16", &p) == ELBO_OK && p == ELBO_PRECISION_BF16);
    cr_assert(elbo_precision_parse("fp16", &p) == ELBO_ERR_INVALID);
    cr_assert(elbo_precision_set(ELBO_PRECISION_BF16) == ELBO_OK);
    cr_assert_eq(elbo_precision_requested(), ELBO_PRECISION_BF16);
    bool sup = elbo_gemm_bf16_supported(elbo_simd_current());
    cr_assert_eq(elbo_precision_current(), sup ? ELBO_PRECISION_BF16 : ELBO_PRECISION_FP32);
    cr_assert_eq(elbo_precision_notice() == NULL, sup);
    if (elbo_simd_supported(ELBO_SIMD_AVX2)) { /* a level without the kernel: fp32 and a notice */
        elbo_simd saved = elbo_simd_current();
        cr_assert(elbo_simd_set(ELBO_SIMD_AVX2) == ELBO_OK);
        cr_assert_eq(elbo_precision_current(), ELBO_PRECISION_FP32);
        cr_assert(elbo_precision_notice() != NULL);
        elbo_simd_set(saved);
    }
    elbo_precision_set(ELBO_PRECISION_FP32);
    cr_assert(elbo_precision_notice() == NULL);
}

/* A finite float32 past the largest bf16 rounds to Inf: the product is
 * Inf, which the training loop's finite checks stop at (float32 would not). */
Test(bf16_gemm, overflow_to_inf_reaches_the_output)
{
    require_bf16();
    float A[2 * 3] = {3.40e38f, 0, 0, 1, 2, 3}, B[3 * 2] = {1, 0, 0, 1, 0, 0}, C[4], R[4];
    elbo_gemm_bf16_at(ELBO_SIMD_AVX512, false, false, 2, 2, 3, A, 3, B, 2, 0.0f, C, 2, NULL);
    elbo_gemm_at(ELBO_SIMD_AVX512, false, false, 2, 2, 3, A, 3, B, 2, 0.0f, R, 2);
    cr_assert(isinf(C[0]) && C[0] > 0, "bf16: C[0,0] = %g, expected +Inf", C[0]);
    cr_assert(isfinite(R[0]), "fp32: C[0,0] = %g", R[0]);
    cr_assert_eq(C[3], 2.0f);
}

/* The dense layer under ELBO_PRECISION=bf16: forward y = x·W + b (bias fused
 * into the tile stores) and the three gradients against the bf16 oracle, and
 * the same bits on 1 and 2 threads. x is a parameter too, so dx is computed. */
static void dense_layer(int threads, elbo_params *p, float *y, float *g)
{
    elbo_set_threads(threads);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_params_clear_grad(p);
    elbo_node *out = elbo_ad_linear(t, elbo_ad_param(t, p, 0), elbo_ad_param(t, p, 1), elbo_ad_param(t, p, 2));
    cr_assert(out, "%s", elbo_last_error());
    memcpy(y, out->x, (size_t)out->rows * (size_t)out->cols * sizeof(float));
    cr_assert_eq(elbo_backward(t, elbo_ad_sum(t, elbo_ad_mul(t, out, out))), ELBO_OK, "%s", elbo_last_error());
    memcpy(g, p->g, p->n * sizeof(float));
    elbo_tape_destroy(t);
}

Test(bf16_gemm, dense_layer_forward_backward)
{
    require_bf16();
    enum { Bt = 64, I = 300, O = 70 };
    elbo_params p;
    elbo_params_init(&p);
    cr_assert(elbo_params_add(&p, "x", Bt, I) == 0 && elbo_params_add(&p, "W", I, O) == 1 &&
              elbo_params_add(&p, "b", 1, O) == 2);
    cr_assert_eq(elbo_params_finalize(&p), ELBO_OK);
    tu_fill_uniform(p.w, p.n, -0.5f, 0.5f, 21);
    int saved = elbo_threads();
    elbo_precision_set(ELBO_PRECISION_BF16);
    float *y1 = malloc(Bt * O * 4), *y2 = malloc(Bt * O * 4), *g1 = malloc(p.n * 4), *g2 = malloc(p.n * 4);
    float *r = malloc(Bt * O * 4), *dy = malloc(Bt * O * 4), *rw = malloc(I * O * 4);
    dense_layer(1, &p, y1, g1);
    dense_layer(2, &p, y2, g2);
    elbo_precision_set(ELBO_PRECISION_FP32);
    elbo_set_threads(saved);
    cr_assert(memcmp(y1, y2, Bt * O * 4) == 0, "y differs between 1 and 2 threads");
    cr_assert(memcmp(g1, g2, p.n * 4) == 0, "gradients differ between 1 and 2 threads");
    const float *x = elbo_param_w(&p, 0), *W = elbo_param_w(&p, 1), *b = elbo_param_w(&p, 2);
    elbo_gemm_epilogue ep = {.bias = b};
    elbo_gemm_bf16_ref(false, false, Bt, O, I, x, I, W, O, 0.0f, r, O, &ep);
    for (int i = 0; i < Bt * O; i++) {
        cr_assert(fabsf(y1[i] - r[i]) <= 1e-5f * (1.0f + fabsf(r[i])), "y[%d] = %g, ref %g", i, y1[i], r[i]);
        dy[i] = 2.0f * y1[i]; /* d(sum y^2)/dy */
    }
    elbo_gemm_bf16_ref(true, false, I, O, Bt, x, I, dy, O, 0.0f, rw, O, NULL); /* dW = xᵀ·dy */
    const float *dW = g1 + p.info[1].offset;
    for (int i = 0; i < I * O; i++)
        cr_assert(fabsf(dW[i] - rw[i]) <= 1e-4f * (1.0f + fabsf(rw[i])), "dW[%d] = %g, ref %g", i, dW[i], rw[i]);
    float *rx = malloc(Bt * I * 4);
    elbo_gemm_bf16_ref(false, true, Bt, I, O, dy, O, W, O, 0.0f, rx, I, NULL); /* dx = dy·Wᵀ */
    const float *dx = g1 + p.info[0].offset;
    for (int i = 0; i < Bt * I; i++)
        cr_assert(fabsf(dx[i] - rx[i]) <= 1e-4f * (1.0f + fabsf(rx[i])), "dx[%d] = %g, ref %g", i, dx[i], rx[i]);
    free(y1), free(y2), free(g1), free(g2), free(r), free(dy), free(rw), free(rx);
    elbo_params_free(&p);
}

/* The convolutions under bf16: the fast path's im2col GEMMs take bf16 inputs,
 * so the forward, input and weight gradients match the direct loops run on
 * bf16-rounded operands (to the float32 summation bound), on 1 and 2 threads
 * with the same bits. */
static void quantize(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = elbo_bf16_quantize(x[i]);
}

static void conv_close(const float *got, const float *ref, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabsf(got[i] - ref[i]) <= 2e-5f * (1.0f + fabsf(ref[i])), "%s[%zu] = %g, direct loops %g", what, i,
                  got[i], ref[i]);
}

Test(bf16_gemm, convolutions_take_bf16_inputs)
{
    require_bf16();
    elbo_conv2d_geom g;
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(2, 1);
    cr_assert_eq(elbo_conv2d_geom_init(&g, 3, 15, 13, 5, 3, 3, 20, &o), ELBO_OK, "%s", elbo_last_error());
    size_t nx = 3 * 15 * 13 * 5, nw = 3 * 3 * 5 * 20, ny = (size_t)g.n * (size_t)g.oh * (size_t)g.ow * 20;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4), *xq = malloc(nx * 4), *wq = malloc(nw * 4),
          *dyq = malloc(ny * 4);
    float *y[2], *dx[2], *dw[2], *yr = malloc(ny * 4), *dxr = calloc(nx, 4), *dwr = malloc(nw * 4);
    fill(x, nx, false, 31), fill(w, nw, false, 32), fill(dy, ny, false, 33);
    memcpy(xq, x, nx * 4), memcpy(wq, w, nw * 4), memcpy(dyq, dy, ny * 4);
    quantize(xq, nx), quantize(wq, nw), quantize(dyq, ny);
    int saved = elbo_threads();
    elbo_precision_set(ELBO_PRECISION_BF16);
    for (int t = 0; t < 2; t++) {
        elbo_set_threads(t + 1);
        size_t ns = elbo_conv2d_scratch(&g);
        float *scratch = malloc((ns ? ns : 1) * 4);
        y[t] = malloc(ny * 4), dx[t] = calloc(nx, 4), dw[t] = malloc(nw * 4);
        elbo_conv2d_fwd(&g, x, w, 0.0f, y[t], scratch, ns);
        elbo_conv2d_dgrad(&g, dy, w, dx[t], scratch, ns);
        elbo_conv2d_wgrad(&g, x, dy, 0.0f, dw[t], scratch, ns);
        free(scratch);
    }
    elbo_precision_set(ELBO_PRECISION_FP32);
    elbo_set_threads(saved);
    elbo_conv2d_fwd_ref(&g, xq, wq, 0.0f, yr);
    elbo_conv2d_dgrad_ref(&g, dyq, wq, dxr);
    elbo_conv2d_wgrad_ref(&g, xq, dyq, 0.0f, dwr);
    conv_close(y[0], yr, ny, "y");
    conv_close(dx[0], dxr, nx, "dx");
    conv_close(dw[0], dwr, nw, "dW");
    cr_assert(memcmp(y[0], y[1], ny * 4) == 0 && memcmp(dx[0], dx[1], nx * 4) == 0 && memcmp(dw[0], dw[1], nw * 4) == 0,
              "bf16 convolutions differ between 1 and 2 threads");
    for (int t = 0; t < 2; t++)
        free(y[t]), free(dx[t]), free(dw[t]);
    free(x), free(w), free(dy), free(xq), free(wq), free(dyq), free(yr), free(dxr), free(dwr);
}

/* elbo_gemm_mixed under bf16: large shapes take bf16 inputs, small ones
 * (M < 20 or N < 16) stay float32 (the conversion would cost more). */
Test(bf16_gemm, mixed_picks_by_shape)
{
    require_bf16();
    static const struct {
        size_t M, N, K;
        bool bf16;
    } cases[] = {{20, 16, 50, true}, {128, 40, 400, true}, {19, 400, 100, false}, {128, 15, 100, false}, {1, 400, 784, false}};
    elbo_precision_set(ELBO_PRECISION_BF16);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t M = cases[c].M, N = cases[c].N, K = cases[c].K;
        float *A = malloc(M * K * 4), *B = malloc(K * N * 4), *C = malloc(M * N * 4), *R = malloc(M * N * 4);
        fill(A, M * K, false, 40 + c), fill(B, K * N, false, 50 + c);
        elbo_gemm_mixed(false, false, M, N, K, A, K, B, N, 0.0f, C, N, NULL);
        if (cases[c].bf16)
            elbo_gemm_bf16_at(elbo_simd_current(), false, false, M, N, K, A, K, B, N, 0.0f, R, N, NULL);
        else
            elbo_gemm(false, false, M, N, K, A, K, B, N, 0.0f, R, N);
        cr_assert(memcmp(C, R, M * N * 4) == 0, "%zux%zux%zu: expected the %s GEMM", M, N, K,
                  cases[c].bf16 ? "bf16" : "float32");
        free(A), free(B), free(C), free(R);
    }
    elbo_precision_set(ELBO_PRECISION_FP32);
}
