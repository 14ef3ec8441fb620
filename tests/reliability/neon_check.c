/* Dependency-free SIMD check: every entry of each SIMD kernel table against the
 * scalar reference (the shared kernel cases), GEMM against its oracle (and 1
 * vs 2 threads), the convolutions against their direct loops (and 1 vs 2
 * threads), finite-difference gradient checks of every autodiff op at every
 * level (the shared gradient cases), and a toy VAE training run that must
 * give the same bits for 1 and 2 threads and after a checkpoint and resume,
 * and agree across levels.
 *
 * Built for cross builds (Criterion has no aarch64 package), where it checks
 * elbo_kernels_neon under qemu-aarch64 (scripts/test-neon.sh), and natively,
 * where it checks avx2/avx512 the same way. Prints each failure, then
 * "N passed, N failed"; exits 1 on any failure.
 *
 *   neon_check [-v]      -v: also list passing checks */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/conv_cases.h"
#include "../common/grad_cases.h"
#include "../common/kernel_cases.h"
#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "models/vae/vae_train.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/pool.h"
#include "ops/simd_level.h"

static long n_pass, n_fail;
static bool verbose;

static void result(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(bool ok, const char *fmt, ...)
{
    if (ok)
        n_pass++;
    else
        n_fail++;
    if (!ok || verbose) {
        va_list ap;
        va_start(ap, fmt);
        printf("%s ", ok ? "ok  " : "FAIL");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
}

/* ---- deterministic data ---- */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 7919u + 17u;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)((mix(&s) >> 40) * 0x1.0p-24);
}

/* Inputs are allocated to exactly n floats so ASan catches overreads. */
static float *input(size_t n, float lo, float hi, uint64_t seed)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "neon_check: out of memory\n");
        exit(2);
    }
    fill(p, n, lo, hi, seed);
    return p;
}

/* Outputs carry GUARD sentinel floats past the end to catch tail overwrites. */
#define GUARD 16
#define SENTINEL 1234.5f
static float *output(size_t n, float lo, float hi, uint64_t seed)
{
    float *p = malloc((n + GUARD) * sizeof *p);
    if (!p) {
        fprintf(stderr, "neon_check: out of memory\n");
        exit(2);
    }
    fill(p, n, lo, hi, seed);
    for (size_t i = 0; i < GUARD; i++)
        p[n + i] = SENTINEL;
    return p;
}

/* Refill the sentinels (an output buffer reused for a second kernel must not
 * inherit the first kernel's overrun). */
static void reguard(float *p, size_t n)
{
    for (size_t i = 0; i < GUARD; i++)
        p[n + i] = SENTINEL;
}

static bool guard_ok(const float *p, size_t n)
{
    for (size_t i = 0; i < GUARD; i++)
        if (memcmp(&p[n + i], &(float){SENTINEL}, sizeof(float)) != 0)
            return false;
    return true;
}

static float *copy(const float *x, size_t n)
{
    float *p = output(n, 0, 0, 0);
    memcpy(p, x, n * sizeof *p);
    return p;
}

/* Largest |got - want| / (atol + rtol |want|); NaN must match NaN, inf must match exactly. */
static double err(const float *got, const float *want, size_t n, double atol, double rtol, size_t *at)
{
    double worst = 0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        double e;
        if (isnan(got[i]) || isnan(want[i]))
            e = isnan(got[i]) && isnan(want[i]) ? 0 : INFINITY;
        else if (isinf(got[i]) || isinf(want[i]))
            e = got[i] == want[i] ? 0 : INFINITY;
        else
            e = fabs((double)got[i] - (double)want[i]) / (atol + rtol * fabs((double)want[i]));
        if (e > worst) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

static void compare(const char *lvl, const char *what, const char *shape, const float *got,
                    const float *want, size_t n, double atol, double rtol)
{
    size_t at;
    double e = err(got, want, n, atol, rtol, &at);
    bool guards = guard_ok(got, n);
    reguard((float *)got, n); /* a reused buffer reports only its own kernel's overrun */
    if (e <= 1.0 && guards)
        result(true, "%s %s %s", lvl, what, shape);
    else if (!guards)
        result(false, "%s %s %s: wrote past the end of the output", lvl, what, shape);
    else
        result(false, "%s %s %s: [%zu] got %.9g want %.9g (err %.3g x tolerance)", lvl, what, shape,
               at, (double)got[at], (double)want[at], e);
}

/* Tolerances: exact arithmetic (one rounding, possibly fused), transcendental
 * approximations, and sums whose order differs between ISAs. */
#define A_ATOL 1e-6
#define A_RTOL 2e-6
#define T_ATOL 1e-6
#define T_RTOL 1e-5

static const size_t lengths[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1000};
#define NLEN (sizeof lengths / sizeof lengths[0])

/* ---- elementwise kernels ---- */
typedef void (*bin_fn)(size_t, const float *, const float *, float *);
typedef void (*un_fn)(size_t, const float *, float *);

static void check_binary(const char *lvl, const char *name, bin_fn f, bin_fn r, bool accumulates,
                         double atol, double rtol)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        char shape[32];
        snprintf(shape, sizeof shape, "n=%zu", n);
        float *a = input(n, -3, 3, n + 1), *b = input(n, -3, 3, n + 2);
        float *y = output(n, -1, 1, n + 3), *yr = output(n, -1, 1, n + 3);
        f(n, a, b, y);
        r(n, a, b, yr);
        compare(lvl, name, shape, y, yr, n, atol, rtol);
        if (!accumulates && n) { /* in place: y aliases a */
            float *ya = copy(a, n), *yra = copy(a, n);
            f(n, ya, b, ya);
            r(n, yra, b, yra);
            snprintf(shape, sizeof shape, "n=%zu in-place", n);
            compare(lvl, name, shape, ya, yra, n, atol, rtol);
            free(ya);
            free(yra);
        }
        free(a);
        free(b);
        free(y);
        free(yr);
    }
}

/* Special values through a forward activation: NaN must stay NaN (the
 * training guards rely on it), infinities and huge values must match. */
static void check_unary_special(const char *lvl, const char *name, un_fn f, un_fn r, bool positive_only)
{
    const float sp[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 20.0f, -20.0f, 88.0f, -88.0f, 89.0f, -104.0f,
                        200.0f, -200.0f, 3.4e38f, -3.4e38f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f};
    size_t n = sizeof sp / sizeof sp[0];
    float *x = input(n, 0, 0, 0);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!positive_only || !(sp[i] < 0) || isnan(sp[i]))
            x[m++] = sp[i];
    /* the same values at every lane position and in the tail */
    size_t N = 4 * m + 3;
    float *xs = input(N, 0, 0, 0);
    for (size_t i = 0; i < N; i++)
        xs[i] = x[(i * 5) % m];
    float *y = output(N, 0, 0, 0), *yr = output(N, 0, 0, 0);
    f(N, xs, y);
    r(N, xs, yr);
    for (size_t i = 0; i < N; i++) {
        size_t at;
        double e = err(&y[i], &yr[i], 1, T_ATOL, T_RTOL, &at);
        if (e > 1.0) {
            result(false, "%s %s special: x=%g got %.9g want %.9g", lvl, name, (double)xs[i],
                   (double)y[i], (double)yr[i]);
            goto out;
        }
    }
    result(guard_ok(y, N), "%s %s special values (0, -0, tiny, huge, +-inf, NaN)", lvl, name);
out:
    free(x);
    free(xs);
    free(y);
    free(yr);
}

/* Every kernel of the level's table: filled in, then every shared kernel
 * case (tests/common/kernel_cases.c) against the scalar reference, the
 * binary kernels in place, and special values through the transcendental
 * activations. */
static void check_table(elbo_simd level)
{
    const struct elbo_kernels *k = elbo_kernels_for(level), *r = &elbo_kernels_scalar;
    const char *lvl = elbo_simd_name(level);
    if (!k) {
        result(false, "%s: kernel table missing", lvl);
        return;
    }
    size_t missing = 0;
    for (int id = 0; id < ELBO_KERNEL_COUNT; id++)
        missing += elbo_kernel_slot(k, (enum elbo_kernel_id)id) == NULL;
    result(missing == 0 && k->name && strcmp(k->name, lvl) == 0, "%s table complete and named (%d kernels)", lvl,
           ELBO_KERNEL_COUNT);
    if (missing)
        return;
    for (int i = 0; i < kc_count(); i++) {
        char msg[512];
        bool ok = kc_check_all_shapes(kc_case(i), k, r, msg, sizeof msg);
        if (ok)
            result(true, "%s %s", lvl, kc_case(i)->name);
        else
            result(false, "%s", msg);
    }

    check_binary(lvl, "add", k->add, r->add, false, A_ATOL, A_RTOL);
    check_binary(lvl, "sub", k->sub, r->sub, false, A_ATOL, A_RTOL);
    check_binary(lvl, "mul", k->mul, r->mul, false, A_ATOL, A_RTOL);
    check_binary(lvl, "fma", k->fma, r->fma, true, A_ATOL, A_RTOL);
    check_unary_special(lvl, "tanh", k->tanh, r->tanh, false);
    check_unary_special(lvl, "sigmoid", k->sigmoid, r->sigmoid, false);
    check_unary_special(lvl, "softplus", k->softplus, r->softplus, false);
    check_unary_special(lvl, "exp", k->exp, r->exp, false);
    check_unary_special(lvl, "log", k->log, r->log, true);
    check_unary_special(lvl, "silu", k->silu, r->silu, false);
}

/* The convolutions' fast path against the direct loops, and 1 vs 2 threads. */
static void check_conv(elbo_simd level)
{
    char msg[512];
    if (elbo_simd_set(level) != ELBO_OK) {
        result(false, "%s: cannot select level: %s", elbo_simd_name(level), elbo_last_error());
        return;
    }
    int bad = cc_check_refs(msg, sizeof msg);
    result(bad == 0, "%s conv fast path vs direct loops%s%s", elbo_simd_name(level), bad ? ": " : "", bad ? msg : "");
    bad = cc_check_threads(msg, sizeof msg);
    result(bad == 0, "%s conv 1 vs 2 threads bit-identical%s%s", elbo_simd_name(level), bad ? ": " : "",
           bad ? msg : "");
}

/* ---- GEMM ---- */
static void check_gemm(elbo_simd level)
{
    static const size_t dims[][3] = {{0, 0, 0}, {1, 1, 1}, {1, 7, 3}, {3, 1, 5}, {4, 4, 4},   {5, 9, 0},
                                      {7, 17, 9}, {8, 8, 8}, {16, 15, 17}, {33, 65, 31}, {64, 1, 100},
                                      {1, 100, 64}, {97, 130, 61}, {1, 300, 1000}}; /* the last: the one-row path */
    const char *lvl = elbo_simd_name(level);
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 2; bi++) {
                    size_t M = dims[d][0], N = dims[d][1], K = dims[d][2];
                    size_t pad = 3; /* leading dimensions larger than the shape */
                    size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                    size_t arows = ta ? K : M, brows = tb ? N : K;
                    float beta = bi ? 0.5f : 0.0f;
                    float *A = input(arows * lda, -1, 1, d * 4 + 1), *B = input(brows * ldb, -1, 1, d * 4 + 2);
                    float *C = output(M * ldc, -1, 1, d * 4 + 3), *Cr = output(M * ldc, -1, 1, d * 4 + 3);
                    if (!bi) /* beta = 0 must never read C */
                        for (size_t i = 0; i < M * ldc; i++)
                            C[i] = Cr[i] = NAN;
                    elbo_gemm_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
                    elbo_gemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, Cr, ldc);
                    /* only the (M,N) block is written; padding columns keep their values */
                    char shape[80];
                    snprintf(shape, sizeof shape, "M=%zu N=%zu K=%zu ta=%d tb=%d beta=%g", M, N, K, ta, tb,
                             (double)beta);
                    double tol = 1e-5 * (double)(K + 1);
                    compare(lvl, "gemm", shape, C, Cr, M * ldc, tol, 1e-5);
                    free(A), free(B), free(C), free(Cr);
                }

    /* 1 vs 2 threads: bit-identical */
    size_t M = 130, N = 70, K = 90;
    float *A = input(M * K, -1, 1, 91), *B = input(K * N, -1, 1, 92);
    float *C1 = output(M * N, 0, 0, 0), *C2 = output(M * N, 0, 0, 0);
    elbo_set_threads(1);
    elbo_gemm_at(level, false, false, M, N, K, A, K, B, N, 0.0f, C1, N);
    elbo_set_threads(2);
    elbo_gemm_at(level, false, false, M, N, K, A, K, B, N, 0.0f, C2, N);
    elbo_set_threads(1);
    result(memcmp(C1, C2, M * N * sizeof *C1) == 0, "%s gemm 1 vs 2 threads bit-identical", lvl);
    free(A), free(B), free(C1), free(C2);
}

/* float64 GEMM: bit for bit equal to its FMA-chain reference (every form,
 * beta 0/1/0.5, widths around the 8/16/24-column tiles, K across a block), and
 * the same bits on 2 threads. */
static void check_dgemm(elbo_simd level)
{
    static const size_t dims[][3] = {{1, 1, 1},  {3, 7, 5},    {7, 8, 9},   {9, 16, 17},  {17, 17, 33},
                                      {2, 24, 3}, {16, 25, 64}, {33, 49, 7}, {80, 16, 257}, {40, 120, 17}};
    const char *lvl = elbo_simd_name(level);
    bool ok = true;
    char what[160] = "";
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int form = 0; form < 12; form++) {
            bool ta = form & 1, tb = form & 2;
            double beta = form / 4 == 0 ? 0.0 : form / 4 == 1 ? 1.0 : 0.5;
            size_t M = dims[d][0], N = dims[d][1], K = dims[d][2], pad = 3;
            size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            size_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
            double *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C),
                   *R = malloc(nc * sizeof *R);
            if (!A || !B || !C || !R) {
                result(false, "%s dgemm: out of memory", lvl);
                return;
            }
            for (size_t i = 0; i < na; i++)
                A[i] = sin(0.37 * (double)(i + d));
            for (size_t i = 0; i < nb; i++)
                B[i] = cos(0.51 * (double)(i + form));
            for (size_t i = 0; i < nc; i++)
                C[i] = R[i] = beta == 0.0 ? NAN : 0.25 * (double)(i % 7);
            elbo_dgemm_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
            elbo_dgemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, R, ldc);
            for (size_t i = 0; i < nc && ok; i++)
                if (memcmp(&C[i], &R[i], sizeof *C) != 0) {
                    ok = false;
                    snprintf(what, sizeof what, ": M=%zu N=%zu K=%zu ta=%d tb=%d beta=%g at (%zu,%zu)", M, N, K, ta,
                             tb, beta, i / ldc, i % ldc);
                }
            free(A), free(B), free(C), free(R);
        }
    result(ok, "%s dgemm bit-identical to the reference%s", lvl, what);

    size_t M = 200, N = 130, K = 300;
    double *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B), *C1 = malloc(M * N * sizeof *C1),
           *C2 = malloc(M * N * sizeof *C2);
    if (!A || !B || !C1 || !C2) {
        result(false, "%s dgemm: out of memory", lvl);
        return;
    }
    for (size_t i = 0; i < M * K; i++)
        A[i] = sin((double)i);
    for (size_t i = 0; i < K * N; i++)
        B[i] = cos((double)i);
    elbo_set_threads(1);
    elbo_dgemm_at(level, false, false, M, N, K, A, K, B, N, 0.0, C1, N);
    elbo_set_threads(2);
    elbo_dgemm_at(level, false, false, M, N, K, A, K, B, N, 0.0, C2, N);
    elbo_set_threads(1);
    result(memcmp(C1, C2, M * N * sizeof *C1) == 0, "%s dgemm 1 vs 2 threads bit-identical", lvl);
    free(A), free(B), free(C1), free(C2);
}

/* ---- bf16 GEMM (BFDOT on aarch64, vdpbf16ps on x86) against its oracle ---- */
static void check_gemm_bf16(elbo_simd level)
{
    const char *lvl = elbo_simd_name(level);
    if (!elbo_gemm_bf16_supported(level)) {
        printf("%s: no bf16 GEMM on this CPU or build (bf16 runs fp32)\n", lvl);
        return;
    }
    static const size_t dims[][3] = {{1, 1, 1}, {3, 5, 7}, {8, 12, 2}, {9, 13, 33}, {33, 65, 31}, {97, 130, 515}};
    elbo_gemm_epilogue ep;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int f = 0; f < 4; f++) {
            bool ta = f & 1, tb = f & 2;
            size_t M = dims[d][0], N = dims[d][1], K = dims[d][2], pad = 3;
            size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            float beta = f == 3 ? 0.5f : 0.0f;
            float *A = input((ta ? K : M) * lda, -1, 1, d * 4 + 5), *B = input((tb ? N : K) * ldb, -1, 1, d * 4 + 6);
            float *C = output(M * ldc, -1, 1, d * 4 + 7), *Cr = output(M * ldc, -1, 1, d * 4 + 7);
            float *bias = input(N, -1, 1, d * 4 + 8);
            ep.bias = bias;
            ep.relu = f == 0;
            elbo_gemm_bf16_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, &ep);
            elbo_gemm_bf16_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, Cr, ldc, &ep);
            char shape[80];
            snprintf(shape, sizeof shape, "M=%zu N=%zu K=%zu ta=%d tb=%d beta=%g", M, N, K, ta, tb, (double)beta);
            compare(lvl, "bf16 gemm", shape, C, Cr, M * ldc, 1e-5 * (double)(K + 1), 1e-5);
            free(A), free(B), free(C), free(Cr), free(bias);
        }
    size_t M = 130, N = 70, K = 90;
    float *A = input(M * K, -1, 1, 93), *B = input(K * N, -1, 1, 94);
    float *C1 = output(M * N, 0, 0, 0), *C2 = output(M * N, 0, 0, 0);
    elbo_set_threads(1);
    elbo_gemm_bf16_at(level, false, false, M, N, K, A, K, B, N, 0.0f, C1, N, NULL);
    elbo_set_threads(2);
    elbo_gemm_bf16_at(level, false, false, M, N, K, A, K, B, N, 0.0f, C2, N, NULL);
    elbo_set_threads(1);
    result(memcmp(C1, C2, M * N * sizeof *C1) == 0, "%s bf16 gemm 1 vs 2 threads bit-identical", lvl);
    free(A), free(B), free(C1), free(C2);
}

/* ---- autodiff: finite-difference gradient checks ---- */
typedef elbo_node *(*graph_fn)(elbo_tape *t, elbo_params *p, const float *data);

/* tanh MLP with a Bernoulli likelihood: linear, tanh, sigmoid-free logits, sum */
static elbo_node *g_mlp(elbo_tape *t, elbo_params *p, const float *data)
{
    elbo_node *x = elbo_ad_input(t, 4, 5, data);
    elbo_node *tg = elbo_ad_input(t, 4, 3, data + 20);
    elbo_node *h = elbo_ad_tanh(t, elbo_ad_linear(t, x, elbo_ad_param(t, p, 0), elbo_ad_param(t, p, 1)));
    elbo_node *l = elbo_ad_linear(t, h, elbo_ad_param(t, p, 2), elbo_ad_param(t, p, 3));
    return elbo_ad_sum(t, elbo_ad_bernoulli_nll(t, l, tg));
}

/* VAE-shaped: encoder to (mu | logvar), reparam with given eps, KL, softplus
 * decoder, Gaussian NLL with a learned per-dimension log-variance, mean */
static elbo_node *g_vae(elbo_tape *t, elbo_params *p, const float *data)
{
    elbo_node *x = elbo_ad_input(t, 4, 5, data);
    elbo_node *enc = elbo_ad_linear(t, x, elbo_ad_param(t, p, 0), elbo_ad_param(t, p, 1)); /* (4,6) */
    elbo_node *mu = elbo_ad_slice_cols(t, enc, 0, 3), *lv = elbo_ad_slice_cols(t, enc, 3, 3);
    elbo_node *z = elbo_ad_reparam(t, mu, lv, NULL, data + 40);
    elbo_node *kl = elbo_ad_kl_diag(t, mu, lv);
    elbo_node *hdec = elbo_ad_softplus(t, z);
    elbo_node *mean = elbo_ad_linear(t, hdec, elbo_ad_param(t, p, 2), elbo_ad_param(t, p, 3)); /* (4,5) */
    elbo_node *nll = elbo_ad_gauss_nll(t, mean, x, elbo_ad_param(t, p, 4), 0.0f);
    return elbo_ad_mean(t, elbo_ad_add(t, nll, kl));
}

/* the remaining ops: matmul, leaky relu, sigmoid, exp, log, mul, sub, scale,
 * concat, logsumexp over rows, sum over rows */
static elbo_node *g_misc(elbo_tape *t, elbo_params *p, const float *data)
{
    elbo_node *x = elbo_ad_input(t, 4, 5, data);
    elbo_node *a = elbo_ad_leaky_relu(t, elbo_ad_matmul(t, x, elbo_ad_param(t, p, 0)), 0.2f); /* (4,6) */
    elbo_node *s = elbo_ad_sigmoid(t, elbo_ad_param(t, p, 1));                                 /* (1,6) */
    elbo_node *b = elbo_ad_mul(t, a, s);
    elbo_node *c = elbo_ad_log(t, elbo_ad_add(t, elbo_ad_exp(t, elbo_ad_scale(t, b, 0.5f)), s));
    elbo_node *d = elbo_ad_sub(t, c, elbo_ad_param(t, p, 1));
    elbo_node *e = elbo_ad_concat_cols(t, d, elbo_ad_relu(t, x));
    elbo_node *f = elbo_ad_logsumexp_rows(t, e);
    return elbo_ad_sum(t, elbo_ad_add(t, f, elbo_ad_sum_rows(t, elbo_ad_tanh(t, b))));
}

static float loss_of(graph_fn g, elbo_tape *t, elbo_params *p, const float *data, bool grad)
{
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, grad);
    elbo_node *loss = g(t, p, data);
    if (elbo_tape_status(t) != ELBO_OK || !loss)
        return NAN;
    if (grad && elbo_backward(t, loss) != ELBO_OK)
        return NAN;
    return loss->x[0];
}

static void check_grad(const char *lvl, const char *name, graph_fn g, const int (*shapes)[2], int nparams)
{
    elbo_params p;
    elbo_params_init(&p);
    for (int i = 0; i < nparams; i++) {
        char pn[16];
        snprintf(pn, sizeof pn, "p%d", i);
        elbo_params_add(&p, pn, shapes[i][0], shapes[i][1]);
    }
    elbo_tape *t = NULL;
    if (elbo_params_finalize(&p) != ELBO_OK || elbo_tape_create(&t, 1 << 16) != ELBO_OK) {
        result(false, "%s grad %s: setup failed: %s", lvl, name, elbo_last_error());
        elbo_params_free(&p);
        return;
    }
    for (int i = 0; i < p.count; i++)
        fill(elbo_param_w(&p, i), (size_t)p.info[i].rows * (size_t)p.info[i].cols, -0.8f, 0.8f, 100 + i);
    float data[64];
    fill(data, 64, -1, 1, 99);
    for (int i = 20; i < 32; i++)
        data[i] = (data[i] + 1) * 0.5f; /* Bernoulli targets in [0,1] */

    elbo_params_zero_grad(&p);
    float l0 = loss_of(g, t, &p, data, true);
    if (!isfinite(l0)) {
        result(false, "%s grad %s: forward/backward failed: %s", lvl, name, elbo_last_error());
        goto out;
    }
    int bad = 0, checked = 0;
    double worst = 0;
    const float h = 1e-2f;
    for (int i = 0; i < p.count; i++) {
        size_t n = (size_t)p.info[i].rows * (size_t)p.info[i].cols;
        float *w = elbo_param_w(&p, i), *gr = elbo_param_g(&p, i);
        for (size_t j = 0; j < n; j++) {
            float keep = w[j];
            w[j] = keep + h;
            double lp = loss_of(g, t, &p, data, false);
            w[j] = keep - h;
            double lm = loss_of(g, t, &p, data, false);
            w[j] = keep;
            double fd = (lp - lm) / (2.0 * h);
            double e = fabs(fd - gr[j]) / (2e-3 + 2e-2 * fabs(fd));
            checked++;
            if (e > worst)
                worst = e;
            if (e > 1.0 && bad++ < 3)
                printf("     %s grad %s: %s[%zu] analytic %.6g finite-difference %.6g\n", lvl, name,
                       p.info[i].name, j, (double)gr[j], fd);
        }
    }
    result(bad == 0, "%s grad %s: %d of %d entries off (worst %.2f x tolerance)", lvl, name, bad, checked,
           worst);
out:
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

/* The composite graphs above, then every op's shared gradient case
 * (tests/common/grad_cases.c) at every test shape. */
static void check_autodiff(elbo_simd level)
{
    const char *lvl = elbo_simd_name(level);
    if (elbo_simd_set(level) != ELBO_OK) {
        result(false, "%s: cannot select level: %s", lvl, elbo_last_error());
        return;
    }
    static const int mlp[][2] = {{5, 6}, {1, 6}, {6, 3}, {1, 3}};
    static const int vae[][2] = {{5, 6}, {1, 6}, {3, 5}, {1, 5}, {1, 5}};
    static const int misc[][2] = {{5, 6}, {1, 6}};
    check_grad(lvl, "mlp", g_mlp, mlp, 4);
    check_grad(lvl, "vae", g_vae, vae, 5);
    check_grad(lvl, "misc", g_misc, misc, 2);
    for (int i = 0; i < gc_count(); i++) {
        gcase c = gc_case(i);
        char msg[512] = "";
        int bad = 0;
        for (int sh = 0; sh < gc_nshapes && bad == 0; sh++)
            bad = gc_check(c, gc_shapes[sh][0], gc_shapes[sh][1], msg, sizeof msg);
        result(bad == 0, "%s grad %s%s%s", lvl, c.name, bad ? ": " : "", bad ? msg : "");
    }
}

/* ---- a toy VAE run: determinism and agreement across levels ---- */
typedef struct toy_run {
    float *w;
    size_t n;
    double neg_elbo;
} toy_run;

static bool toy_train(int threads, int split, const char *ckpt, toy_run *out)
{
    size_t n = 200, d = 16;
    float x[200 * 16];
    uint8_t y[200];
    fill(x, n * d, 0, 0.2f, 3);
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint8_t)(i % 4);
        for (size_t c = 0; c < 4; c++)
            x[i * d + y[i] * 4 + c] = 0.9f;
    }
    elbo_dataset ds;
    elbo_vae m;
    elbo_vae_trainer tr;
    elbo_rng rng;
    elbo_vae_config cfg = elbo_vae_config_default();
    cfg.x_dim = 16, cfg.z_dim = 2, cfg.n_hidden = 1, cfg.hidden[0] = 20, cfg.act = ELBO_VAE_TANH;
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32, tc.seed = 5, tc.dynamic_binarize = true;
    bool end, ok = elbo_set_threads(threads) == ELBO_OK &&
                   elbo_dataset_from_arrays(x, y, n, 4, 4, 4, &ds) == ELBO_OK;
    if (!ok)
        return false;
    elbo_rng_seed(&rng, 5);
    ok = elbo_vae_create(&m, &cfg, &rng) == ELBO_OK && elbo_vae_trainer_init(&tr, &m, &ds, &tc) == ELBO_OK;
    for (int s = 0; ok && s < 15; s++) {
        if (s == split) {
            ok = elbo_vae_trainer_save(&tr, ckpt, "toy", NULL, 0) == ELBO_OK;
            elbo_vae_trainer_free(&tr);
            elbo_vae_free(&m);
            elbo_rng_seed(&rng, 77);
            ok = ok && elbo_vae_create(&m, &cfg, &rng) == ELBO_OK &&
                 elbo_vae_trainer_init(&tr, &m, &ds, &tc) == ELBO_OK &&
                 elbo_vae_trainer_load(&tr, ckpt, "toy", NULL, NULL) == ELBO_OK;
        }
        ok = ok && elbo_vae_trainer_step(&tr, &end) == ELBO_OK;
    }
    if (ok) {
        out->n = m.params.n;
        out->w = malloc(out->n * sizeof(float));
        memcpy(out->w, m.params.w, out->n * sizeof(float));
        out->neg_elbo = tr.acc.neg_elbo / (double)(tr.acc.n ? tr.acc.n : 1);
    }
    elbo_vae_trainer_free(&tr);
    elbo_vae_free(&m);
    elbo_dataset_free(&ds);
    elbo_set_threads(1);
    return ok;
}

static void check_toy_vae(elbo_simd level, double *neg_elbo)
{
    const char *lvl = elbo_simd_name(level);
    char ckpt[64];
    snprintf(ckpt, sizeof ckpt, "/tmp/neon_check-%d.ckpt", (int)getpid());
    toy_run a = {0}, b = {0}, c = {0};
    if (elbo_simd_set(level) != ELBO_OK || !toy_train(1, -1, ckpt, &a) || !toy_train(2, -1, ckpt, &b) ||
        !toy_train(2, 7, ckpt, &c)) {
        result(false, "%s toy vae: run failed: %s", lvl, elbo_last_error());
    } else {
        result(a.n == b.n && memcmp(a.w, b.w, a.n * sizeof(float)) == 0, "%s toy vae: 1 vs 2 threads bit-identical",
               lvl);
        result(a.n == c.n && memcmp(a.w, c.w, a.n * sizeof(float)) == 0,
               "%s toy vae: checkpoint + resume bit-identical to the straight run", lvl);
        *neg_elbo = a.neg_elbo;
    }
    remove(ckpt);
    free(a.w), free(b.w), free(c.w);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else {
            fprintf(stderr, "usage: neon_check [-v]\n");
            return 2;
        }
    }
    int levels = 0;
    for (int l = ELBO_SIMD_SCALAR + 1; l < ELBO_SIMD_COUNT; l++) {
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        levels++;
        printf("== %s vs scalar ==\n", elbo_simd_name((elbo_simd)l));
        check_table((elbo_simd)l);
        check_gemm((elbo_simd)l);
        check_dgemm((elbo_simd)l);
        check_gemm_bf16((elbo_simd)l);
        check_conv((elbo_simd)l);
    }
#if defined(__aarch64__)
    result(elbo_simd_supported(ELBO_SIMD_NEON) && elbo_simd_best() == ELBO_SIMD_NEON,
           "neon is built, supported and the default level");
#endif
    if (!levels)
        printf("no SIMD level besides scalar on this machine\n");
    printf("== autodiff finite differences ==\n");
    for (int l = 0; l < ELBO_SIMD_COUNT; l++)
        if (elbo_simd_supported((elbo_simd)l))
            check_autodiff((elbo_simd)l);
    printf("== toy VAE: determinism and agreement ==\n");
    double ref = NAN;
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        double v = NAN;
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        check_toy_vae((elbo_simd)l, &v);
        if (l == ELBO_SIMD_SCALAR)
            ref = v;
        else
            result(fabs(v - ref) <= 1e-3 * fabs(ref), "%s toy vae: last-epoch -ELBO %.6f vs scalar %.6f",
                   elbo_simd_name((elbo_simd)l), v, ref);
    }
    elbo_simd_set(elbo_simd_best());
    elbo_pool_shutdown();
    printf("%ld passed, %ld failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
