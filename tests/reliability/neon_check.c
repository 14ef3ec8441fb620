/* Dependency-free SIMD check: every entry of each SIMD kernel table against the
 * scalar reference, GEMM against its oracle (and 1 vs 2 threads), and
 * finite-difference gradient checks of the autodiff ops at every level, and a
 * toy VAE training run that must give the same bits for 1 and 2 threads and
 * after a checkpoint and resume, and agree across levels.
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
#define S_ATOL 1e-5
#define S_RTOL 2e-5

static const size_t lengths[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1000};
#define NLEN (sizeof lengths / sizeof lengths[0])
static const size_t row_counts[] = {1, 3};

/* ---- elementwise kernels ---- */
typedef void (*bin_fn)(size_t, const float *, const float *, float *);
typedef void (*un_fn)(size_t, const float *, float *);
typedef void (*bwd_fn)(size_t, const float *, const float *, float *);

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

static void check_unary(const char *lvl, const char *name, un_fn f, un_fn r, float lo, float hi,
                        double atol, double rtol)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        char shape[32];
        snprintf(shape, sizeof shape, "n=%zu", n);
        float *x = input(n, lo, hi, n + 11);
        float *y = output(n, 0, 0, 0), *yr = output(n, 0, 0, 0);
        f(n, x, y);
        r(n, x, yr);
        compare(lvl, name, shape, y, yr, n, atol, rtol);
        free(x);
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

static void check_bwd(const char *lvl, const char *name, bwd_fn f, bwd_fn r, float lo, float hi,
                      double atol, double rtol)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        char shape[32];
        snprintf(shape, sizeof shape, "n=%zu", n);
        float *x = input(n, lo, hi, n + 21), *dy = input(n, -2, 2, n + 22);
        float *dx = output(n, -1, 1, n + 23), *dxr = output(n, -1, 1, n + 23); /* accumulated */
        f(n, x, dy, dx);
        r(n, x, dy, dxr);
        compare(lvl, name, shape, dx, dxr, n, atol, rtol);
        free(x);
        free(dy);
        free(dx);
        free(dxr);
    }
}

static void check_scalar_arg(const char *lvl, const struct elbo_kernels *k, const struct elbo_kernels *r)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        char shape[32];
        snprintf(shape, sizeof shape, "n=%zu", n);
        float *x = input(n, -3, 3, n + 31);
        float *y = output(n, -1, 1, n + 32), *yr = output(n, -1, 1, n + 32);
        k->scale(n, -1.7f, x, y);
        r->scale(n, -1.7f, x, yr);
        compare(lvl, "scale", shape, y, yr, n, A_ATOL, A_RTOL);
        fill(y, n, -1, 1, n + 32);
        fill(yr, n, -1, 1, n + 32);
        reguard(y, n);
        k->axpy(n, 0.37f, x, y);
        r->axpy(n, 0.37f, x, yr);
        compare(lvl, "axpy", shape, y, yr, n, A_ATOL, A_RTOL);
        reguard(y, n);
        k->leaky_relu(n, 0.1f, x, y);
        r->leaky_relu(n, 0.1f, x, yr);
        compare(lvl, "leaky_relu", shape, y, yr, n, A_ATOL, A_RTOL);
        float *dy = input(n, -2, 2, n + 33);
        fill(y, n, -1, 1, n + 34);
        fill(yr, n, -1, 1, n + 34);
        reguard(y, n);
        k->leaky_relu_bwd(n, 0.1f, x, dy, y);
        r->leaky_relu_bwd(n, 0.1f, x, dy, yr);
        compare(lvl, "leaky_relu_bwd", shape, y, yr, n, A_ATOL, A_RTOL);
        free(x);
        free(dy);
        free(y);
        free(yr);
    }
}

/* ---- row/column kernels: (R,C) over R in {1,3}, C over the lengths ---- */
typedef void (*rc_fn)(size_t, size_t, const float *, float *);

static void check_rows(const char *lvl, const char *name, rc_fn f, rc_fn r, bool out_is_cols,
                       bool accumulates, float lo, float hi, double atol, double rtol)
{
    for (size_t ri = 0; ri < 2; ri++)
        for (size_t li = 0; li < NLEN; li++) {
            size_t R = row_counts[ri], C = lengths[li];
            if (!out_is_cols && C == 0)
                continue; /* row max/logsumexp of an empty row is undefined */
            char shape[48];
            snprintf(shape, sizeof shape, "(%zu,%zu)", R, C);
            size_t no = out_is_cols ? C : R;
            float *x = input(R * C, lo, hi, R * 1000 + C);
            float *y = output(no, -1, 1, C + 5), *yr = output(no, -1, 1, C + 5);
            if (!accumulates) {
                fill(y, no, 0, 0, 0);
                fill(yr, no, 0, 0, 0);
            }
            f(R, C, x, y);
            r(R, C, x, yr);
            compare(lvl, name, shape, y, yr, no, atol, rtol);
            free(x);
            free(y);
            free(yr);
        }
}

static void check_add_bias(const char *lvl, const struct elbo_kernels *k, const struct elbo_kernels *r)
{
    for (size_t ri = 0; ri < 2; ri++)
        for (size_t li = 0; li < NLEN; li++) {
            size_t R = row_counts[ri], C = lengths[li];
            char shape[48];
            snprintf(shape, sizeof shape, "(%zu,%zu)", R, C);
            float *b = input(C, -2, 2, C + 41);
            float *y = output(R * C, -1, 1, C + 42), *yr = output(R * C, -1, 1, C + 42);
            k->add_bias(R, C, b, y);
            r->add_bias(R, C, b, yr);
            compare(lvl, "add_bias", shape, y, yr, R * C, A_ATOL, A_RTOL);
            free(b);
            free(y);
            free(yr);
        }
}

static void check_sum(const char *lvl, const struct elbo_kernels *k, const struct elbo_kernels *r)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        float *x = input(n, -4, 4, n + 51);
        double got = k->sum(n, x), want = r->sum(n, x), mag = 0;
        for (size_t i = 0; i < n; i++)
            mag += fabs((double)x[i]);
        /* stated: float blocks of 256, error below ~8 eps sum|x| before the double total */
        bool ok = fabs(got - want) <= 1e-12 + 8.0 * 1.2e-7 * mag;
        result(ok, "%s sum n=%zu%s", lvl, n, ok ? "" : ": mismatch");
        if (!ok)
            printf("     got %.17g want %.17g\n", got, want);
        free(x);
    }
}

/* ---- fused losses ---- */
static void check_losses(const char *lvl, const struct elbo_kernels *k, const struct elbo_kernels *r)
{
    for (size_t ri = 0; ri < 2; ri++)
        for (size_t li = 0; li < NLEN; li++) {
            size_t R = row_counts[ri], C = lengths[li], RC = R * C;
            char shape[48];
            snprintf(shape, sizeof shape, "(%zu,%zu)", R, C);
            float *l = input(RC, -8, 8, RC + 61), *t = input(RC, 0, 1, RC + 62);
            float *drow = input(R, -2, 2, R + 63), *lv = input(C, -2, 2, C + 64);
            float *m = input(RC, -2, 2, RC + 65), *lvr = input(RC, -3, 3, RC + 66);
            float *o = output(R, 0, 0, 0), *orf = output(R, 0, 0, 0);
            float *d1 = output(RC, -1, 1, RC + 67), *d1r = output(RC, -1, 1, RC + 67);
            float *d2 = output(RC, -1, 1, RC + 68), *d2r = output(RC, -1, 1, RC + 68);
            float *dc = output(C, -1, 1, C + 69), *dcr = output(C, -1, 1, C + 69);

            k->bernoulli_nll(R, C, l, t, o);
            r->bernoulli_nll(R, C, l, t, orf);
            compare(lvl, "bernoulli_nll", shape, o, orf, R, S_ATOL, S_RTOL);
            k->bernoulli_nll_bwd(R, C, l, t, drow, d1);
            r->bernoulli_nll_bwd(R, C, l, t, drow, d1r);
            compare(lvl, "bernoulli_nll_bwd", shape, d1, d1r, RC, T_ATOL, T_RTOL);

            k->gauss_nll(R, C, m, t, lv, o);
            r->gauss_nll(R, C, m, t, lv, orf);
            compare(lvl, "gauss_nll", shape, o, orf, R, S_ATOL, S_RTOL);
            k->gauss_nll_bwd(R, C, m, t, lv, drow, d1, dc);
            r->gauss_nll_bwd(R, C, m, t, lv, drow, d1r, dcr);
            compare(lvl, "gauss_nll_bwd dm", shape, d1, d1r, RC, T_ATOL, T_RTOL);
            compare(lvl, "gauss_nll_bwd dlv", shape, dc, dcr, C, S_ATOL, S_RTOL);
            k->gauss_nll_bwd(R, C, m, t, lv, drow, d1, NULL); /* fixed variance */
            r->gauss_nll_bwd(R, C, m, t, lv, drow, d1r, NULL);
            compare(lvl, "gauss_nll_bwd dlv=NULL", shape, d1, d1r, RC, T_ATOL, T_RTOL);

            k->kl_diag(R, C, m, lvr, o);
            r->kl_diag(R, C, m, lvr, orf);
            compare(lvl, "kl_diag", shape, o, orf, R, S_ATOL, S_RTOL);
            k->kl_diag_bwd(R, C, m, lvr, drow, d1, d2);
            r->kl_diag_bwd(R, C, m, lvr, drow, d1r, d2r);
            compare(lvl, "kl_diag_bwd dmu", shape, d1, d1r, RC, T_ATOL, T_RTOL);
            compare(lvl, "kl_diag_bwd dlv", shape, d2, d2r, RC, T_ATOL, T_RTOL);

            free(l), free(t), free(drow), free(lv), free(m), free(lvr), free(o), free(orf);
            free(d1), free(d1r), free(d2), free(d2r), free(dc), free(dcr);
        }
}

static void check_reparam_and_optim(const char *lvl, const struct elbo_kernels *k,
                                    const struct elbo_kernels *r)
{
    for (size_t li = 0; li < NLEN; li++) {
        size_t n = lengths[li];
        char shape[32];
        snprintf(shape, sizeof shape, "n=%zu", n);
        float *mu = input(n, -2, 2, n + 71), *lv = input(n, -4, 2, n + 72), *eps = input(n, -3, 3, n + 73);
        float *dz = input(n, -1, 1, n + 74);
        float *z = output(n, 0, 0, 0), *zr = output(n, 0, 0, 0);
        k->reparam(n, mu, lv, eps, z);
        r->reparam(n, mu, lv, eps, zr);
        compare(lvl, "reparam", shape, z, zr, n, T_ATOL, T_RTOL);
        float *dmu = output(n, -1, 1, n + 75), *dmur = output(n, -1, 1, n + 75);
        float *dlv = output(n, -1, 1, n + 76), *dlvr = output(n, -1, 1, n + 76);
        k->reparam_bwd(n, lv, eps, dz, dmu, dlv);
        r->reparam_bwd(n, lv, eps, dz, dmur, dlvr);
        compare(lvl, "reparam_bwd dmu", shape, dmu, dmur, n, A_ATOL, A_RTOL);
        compare(lvl, "reparam_bwd dlv", shape, dlv, dlvr, n, T_ATOL, T_RTOL);

        /* optimizers: three steps so the state feeds back */
        float *g = input(n, -1, 1, n + 77);
        float *m = output(n, -0.1f, 0.1f, n + 78), *mr = output(n, -0.1f, 0.1f, n + 78);
        float *v = output(n, 0, 0.01f, n + 79), *vr = output(n, 0, 0.01f, n + 79);
        float *w = output(n, -1, 1, n + 80), *wr = output(n, -1, 1, n + 80);
        for (int s = 1; s <= 3; s++) {
            float lr_t = 1e-3f * sqrtf(1 - powf(0.999f, (float)s)) / (1 - powf(0.9f, (float)s));
            float eps_t = 1e-8f * sqrtf(1 - powf(0.999f, (float)s));
            k->adam(n, lr_t, 0.9f, 0.999f, eps_t, g, m, v, w);
            r->adam(n, lr_t, 0.9f, 0.999f, eps_t, g, mr, vr, wr);
        }
        compare(lvl, "adam w", shape, w, wr, n, A_ATOL, T_RTOL);
        compare(lvl, "adam m", shape, m, mr, n, A_ATOL, A_RTOL);
        compare(lvl, "adam v", shape, v, vr, n, A_ATOL, A_RTOL);
        for (int s = 0; s < 3; s++) {
            k->sgd_momentum(n, 0.05f, 0.9f, g, m, w);
            r->sgd_momentum(n, 0.05f, 0.9f, g, mr, wr);
        }
        compare(lvl, "sgd_momentum w", shape, w, wr, n, A_ATOL, A_RTOL);
        compare(lvl, "sgd_momentum u", shape, m, mr, n, A_ATOL, A_RTOL);
        free(mu), free(lv), free(eps), free(dz), free(z), free(zr), free(dmu), free(dmur);
        free(dlv), free(dlvr), free(g), free(m), free(mr), free(v), free(vr), free(w), free(wr);
    }
}

static void check_table(elbo_simd level)
{
    const struct elbo_kernels *k = elbo_kernels_for(level), *r = &elbo_kernels_scalar;
    const char *lvl = elbo_simd_name(level);
    if (!k) {
        result(false, "%s: kernel table missing", lvl);
        return;
    }
    /* every entry is filled in */
    const void *const *slots = (const void *const *)((const char *)k + sizeof(const char *));
    size_t nslots = (sizeof *k - sizeof(const char *)) / sizeof(void *);
    size_t missing = 0;
    for (size_t i = 0; i < nslots; i++)
        missing += slots[i] == NULL;
    result(missing == 0 && k->name && strcmp(k->name, lvl) == 0, "%s table complete and named (%zu slots)", lvl,
           nslots);
    if (missing)
        return;

    check_binary(lvl, "add", k->add, r->add, false, A_ATOL, A_RTOL);
    check_binary(lvl, "sub", k->sub, r->sub, false, A_ATOL, A_RTOL);
    check_binary(lvl, "mul", k->mul, r->mul, false, A_ATOL, A_RTOL);
    check_binary(lvl, "fma", k->fma, r->fma, true, A_ATOL, A_RTOL);
    check_scalar_arg(lvl, k, r);
    check_add_bias(lvl, k, r);
    check_rows(lvl, "col_sum", k->col_sum, r->col_sum, true, true, -2, 2, A_ATOL, A_RTOL);
    check_rows(lvl, "row_sum", k->row_sum, r->row_sum, false, false, -2, 2, S_ATOL, S_RTOL);
    check_rows(lvl, "row_max", k->row_max, r->row_max, false, false, -50, 50, 0, 0 + 1e-30);
    check_rows(lvl, "row_logsumexp", k->row_logsumexp, r->row_logsumexp, false, false, -30, 30, S_ATOL,
               S_RTOL);
    check_sum(lvl, k, r);

    check_unary(lvl, "relu", k->relu, r->relu, -3, 3, A_ATOL, A_RTOL);
    check_unary(lvl, "tanh", k->tanh, r->tanh, -6, 6, T_ATOL, T_RTOL);
    check_unary(lvl, "sigmoid", k->sigmoid, r->sigmoid, -12, 12, T_ATOL, T_RTOL);
    check_unary(lvl, "softplus", k->softplus, r->softplus, -20, 20, T_ATOL, T_RTOL);
    check_unary(lvl, "exp", k->exp, r->exp, -80, 80, T_ATOL, T_RTOL);
    check_unary(lvl, "log", k->log, r->log, 1e-6f, 1e4f, T_ATOL, T_RTOL);
    check_unary_special(lvl, "tanh", k->tanh, r->tanh, false);
    check_unary_special(lvl, "sigmoid", k->sigmoid, r->sigmoid, false);
    check_unary_special(lvl, "softplus", k->softplus, r->softplus, false);
    check_unary_special(lvl, "exp", k->exp, r->exp, false);
    check_unary_special(lvl, "log", k->log, r->log, true);

    check_bwd(lvl, "relu_bwd", k->relu_bwd, r->relu_bwd, -3, 3, A_ATOL, A_RTOL);
    check_bwd(lvl, "tanh_bwd", k->tanh_bwd, r->tanh_bwd, -1, 1, A_ATOL, A_RTOL);
    check_bwd(lvl, "sigmoid_bwd", k->sigmoid_bwd, r->sigmoid_bwd, 0, 1, A_ATOL, A_RTOL);
    check_bwd(lvl, "softplus_bwd", k->softplus_bwd, r->softplus_bwd, -20, 20, T_ATOL, T_RTOL);
    check_bwd(lvl, "exp_bwd", k->exp_bwd, r->exp_bwd, 0, 50, A_ATOL, A_RTOL);
    check_bwd(lvl, "log_bwd", k->log_bwd, r->log_bwd, 1e-3f, 1e3f, A_ATOL, A_RTOL);

    check_losses(lvl, k, r);
    check_reparam_and_optim(lvl, k, r);
}

/* ---- GEMM ---- */
static void check_gemm(elbo_simd level)
{
    static const size_t dims[][3] = {{0, 0, 0}, {1, 1, 1}, {1, 7, 3}, {3, 1, 5}, {4, 4, 4},   {5, 9, 0},
                                      {7, 17, 9}, {8, 8, 8}, {16, 15, 17}, {33, 65, 31}, {64, 1, 100},
                                      {1, 100, 64}, {97, 130, 61}};
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
