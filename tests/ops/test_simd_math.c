/* Accuracy of the vectorized transcendentals (ops/simd_math.h) as deployed in
 * the exp/log/tanh/sigmoid/softplus kernels of every supported level, in ulp
 * against double-precision libm over dense sweeps, plus special values.
 * The bounds asserted here are the ones stated in ops/simd_math.h. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "ops/kernels.h"
#include "ops/simd_level.h"

#define SWEEP (1u << 21) /* points per sweep */

typedef const struct elbo_kernels K;
typedef void (*unary_fn)(size_t n, const float *x, float *y);

/* |got - want| in units of the float ulp at want (subnormal ulp 2^-149 below FLT_MIN) */
static double ulp_err(float got, double want)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got) ? 0.0 : INFINITY;
    double aw = fabs(want);
    int e = aw >= FLT_MIN ? ilogb(aw) : -126;
    return fabs((double)got - want) / ldexp(1.0, e - 23);
}

static double ref_exp(double x) { return exp(x); }
static double ref_log(double x) { return log(x); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double ref_gelu(double x) { return 0.5 * x * erfc(-x * M_SQRT1_2); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }

/* Max ulp error of f over SWEEP points: linear in [lo, hi], or log-spaced if geometric. */
static double sweep(unary_fn f, double (*ref)(double), double lo, double hi, int geometric, float *worst_x)
{
    float *x = malloc(SWEEP * sizeof *x), *y = malloc(SWEEP * sizeof *y);
    cr_assert(x && y);
    for (size_t i = 0; i < SWEEP; i++) {
        double t = (double)i / (SWEEP - 1);
        x[i] = (float)(geometric ? lo * pow(hi / lo, t) : lo + (hi - lo) * t);
    }
    f(SWEEP, x, y);
    double max = 0.0;
    for (size_t i = 0; i < SWEEP; i++) {
        double e = ulp_err(y[i], ref((double)x[i]));
        if (e > max) {
            max = e;
            *worst_x = x[i];
        }
    }
    free(x);
    free(y);
    return max;
}

struct bound {
    const char *name;
    size_t field; /* offsetof the kernel in struct elbo_kernels */
    double (*ref)(double);
    double lo, hi;
    int geometric;
    double max_ulp;        /* SIMD levels: the bound stated in ops/simd_math.h */
    double max_ulp_scalar; /* the scalar reference (glibc float libm, e.g. tanhf ~2.1 ulp) */
};

/* The stated bounds (ops/simd_math.h). */
static const struct bound bounds[] = {
    {"exp", offsetof(struct elbo_kernels, exp), ref_exp, -87.0, 88.0, 0, 1.5, 1.0},
    {"exp (subnormal results)", offsetof(struct elbo_kernels, exp), ref_exp, -103.9, -87.4, 0, 1.0, 1.0},
    {"log", offsetof(struct elbo_kernels, log), ref_log, 1e-30, 1e30, 1, 1.0, 1.0},
    {"log (large)", offsetof(struct elbo_kernels, log), ref_log, 1e30, 3.4e38, 1, 1.0, 1.0},
    {"log near 1", offsetof(struct elbo_kernels, log), ref_log, 0.5, 2.0, 0, 1.0, 1.0},
    {"log (subnormal inputs)", offsetof(struct elbo_kernels, log), ref_log, 1.4e-45, 1.1e-38, 1, 1.0, 1.0},
    {"tanh", offsetof(struct elbo_kernels, tanh), ref_tanh, -10.0, 10.0, 0, 2.0, 2.5},
    {"tanh near 0", offsetof(struct elbo_kernels, tanh), ref_tanh, 1e-6, 1.0, 1, 2.0, 2.5},
    {"sigmoid", offsetof(struct elbo_kernels, sigmoid), ref_sigmoid, -80.0, 30.0, 0, 3.0, 2.5},
    {"softplus", offsetof(struct elbo_kernels, softplus), ref_softplus, -80.0, 80.0, 0, 3.0, 2.0},
    {"gelu", offsetof(struct elbo_kernels, gelu), ref_gelu, -12.5, 16.0, 0, 8.0, 1.0},
    {"gelu near 0", offsetof(struct elbo_kernels, gelu), ref_gelu, 1e-6, 1.0, 1, 8.0, 1.0},
    {"silu", offsetof(struct elbo_kernels, silu), ref_silu, -80.0, 30.0, 0, 4.0, 3.5},
};

Test(simd_math, ulp_bounds_every_level)
{
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        K *k = elbo_kernels_for((elbo_simd)l);
        if (!k)
            continue;
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
            unary_fn f = *(const unary_fn *)(const void *)((const char *)k + bounds[b].field);
            float wx = 0.0f;
            double e = sweep(f, bounds[b].ref, bounds[b].lo, bounds[b].hi, bounds[b].geometric, &wx);
            cr_log_info("%-8s %-26s max %.3f ulp (at x = %.9g)", k->name, bounds[b].name, e, (double)wx);
            double max = l == ELBO_SIMD_SCALAR ? bounds[b].max_ulp_scalar : bounds[b].max_ulp;
            cr_expect(e <= max, "%s %s: %.3f ulp > %.1f at x = %.9g", k->name, bounds[b].name, e, max,
                      (double)wx);
        }
    }
}

/* Special values: same answers at every level. */
struct special {
    size_t field;
    float x, want; /* want NaN: expect NaN */
};

static const struct special specials[] = {
    {offsetof(struct elbo_kernels, exp), -INFINITY, 0.0f},
    {offsetof(struct elbo_kernels, exp), INFINITY, INFINITY},
    {offsetof(struct elbo_kernels, exp), 89.0f, INFINITY},
    {offsetof(struct elbo_kernels, exp), 1e4f, INFINITY},
    {offsetof(struct elbo_kernels, exp), -104.0f, 0.0f},
    {offsetof(struct elbo_kernels, exp), -1e4f, 0.0f},
    {offsetof(struct elbo_kernels, exp), 0.0f, 1.0f},
    {offsetof(struct elbo_kernels, exp), NAN, NAN},
    {offsetof(struct elbo_kernels, log), 0.0f, -INFINITY},
    {offsetof(struct elbo_kernels, log), -0.0f, -INFINITY},
    {offsetof(struct elbo_kernels, log), -1.0f, NAN},
    {offsetof(struct elbo_kernels, log), -INFINITY, NAN},
    {offsetof(struct elbo_kernels, log), INFINITY, INFINITY},
    {offsetof(struct elbo_kernels, log), 1.0f, 0.0f},
    {offsetof(struct elbo_kernels, log), NAN, NAN},
    {offsetof(struct elbo_kernels, tanh), INFINITY, 1.0f},
    {offsetof(struct elbo_kernels, tanh), -INFINITY, -1.0f},
    {offsetof(struct elbo_kernels, tanh), 1e4f, 1.0f},
    {offsetof(struct elbo_kernels, tanh), -1e4f, -1.0f},
    {offsetof(struct elbo_kernels, tanh), 0.0f, 0.0f},
    {offsetof(struct elbo_kernels, tanh), NAN, NAN},
    {offsetof(struct elbo_kernels, sigmoid), 1e4f, 1.0f},
    {offsetof(struct elbo_kernels, sigmoid), -1e4f, 0.0f},
    {offsetof(struct elbo_kernels, sigmoid), INFINITY, 1.0f},
    {offsetof(struct elbo_kernels, sigmoid), -INFINITY, 0.0f},
    {offsetof(struct elbo_kernels, sigmoid), 0.0f, 0.5f},
    {offsetof(struct elbo_kernels, sigmoid), NAN, NAN},
    {offsetof(struct elbo_kernels, softplus), 1e4f, 1e4f},
    {offsetof(struct elbo_kernels, softplus), -1e4f, 0.0f},
    {offsetof(struct elbo_kernels, softplus), INFINITY, INFINITY},
    {offsetof(struct elbo_kernels, softplus), -INFINITY, 0.0f},
    {offsetof(struct elbo_kernels, softplus), 0.0f, 0.693147182f},
    {offsetof(struct elbo_kernels, softplus), NAN, NAN},
    {offsetof(struct elbo_kernels, gelu), INFINITY, INFINITY},
    {offsetof(struct elbo_kernels, gelu), -INFINITY, NAN}, /* -inf Phi(-inf) = -inf 0, as 0.5 x (1 + erf) gives */
    {offsetof(struct elbo_kernels, gelu), 1e4f, 1e4f},
    {offsetof(struct elbo_kernels, gelu), -1e4f, -0.0f},
    {offsetof(struct elbo_kernels, gelu), 0.0f, 0.0f},
    {offsetof(struct elbo_kernels, gelu), NAN, NAN},
    {offsetof(struct elbo_kernels, silu), INFINITY, INFINITY},
    {offsetof(struct elbo_kernels, silu), -1e4f, -0.0f},
    {offsetof(struct elbo_kernels, silu), 0.0f, 0.0f},
    {offsetof(struct elbo_kernels, silu), NAN, NAN},
};

Test(simd_math, special_values_every_level)
{
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        K *k = elbo_kernels_for((elbo_simd)l);
        if (!k)
            continue;
        for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
            unary_fn f = *(const unary_fn *)(const void *)((const char *)k + specials[s].field);
            /* the value in every lane position, and alone (tail path) */
            float x[19], y[19];
            for (int i = 0; i < 19; i++)
                x[i] = specials[s].x;
            f(19, x, y);
            for (int i = 0; i < 19; i++) {
                float want = specials[s].want;
                int ok = isnan(want) ? isnan(y[i]) : y[i] == want && signbit(y[i]) == signbit(want);
                cr_assert(ok, "%s kernel@%zu(%g)[%d] = %g, want %g", k->name, specials[s].field,
                          (double)specials[s].x, i, (double)y[i], (double)want);
            }
        }
    }
}
