/* Every kernel of struct elbo_kernels at every supported SIMD level against
 * the scalar reference (ops/ref/), and the ops.h front-end against the
 * current level's table on inputs large enough to be split into tasks.
 *
 * Each case lists its arrays (size n = R*C, R or C; value range) and a
 * tolerance: an output passes when |got - want| <= atol + rtol |want| for
 * every element, where atol = atol0 + atol_col * C for row sums. Outputs are
 * pre-filled with random values, so `=` kernels must overwrite and `+=`
 * kernels must accumulate exactly as the reference does. Every array is
 * followed by guard floats that must survive (tails never write past n), and
 * starts one float past an aligned address. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

#define GUARD 40           /* floats after each array (> 2 * the widest VLEN) */
#define GUARD_VALUE 1234.5f
#define MAX_ARRAYS 6

typedef const struct elbo_kernels K;
/* k == NULL calls the ops.h front-end */
typedef void (*call_fn)(K *k, size_t R, size_t C, float **in, float **out);

enum size_kind { SZ_N, SZ_R, SZ_C };
struct arr {
    enum size_kind sz;
    float lo, hi;
};
struct kcase {
    const char *name;
    bool rowwise; /* shapes (R,C); else lengths n with R = 1, C = n */
    call_fn call;
    int nin, nout;
    struct arr in[MAX_ARRAYS], out[MAX_ARRAYS];
    double atol, rtol, atol_col;
};

/* ---- calls, same argument order as ops/kernels.h ---- */
static void c_add(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->add : elbo_add)(R * C, i[0], i[1], o[0]); }
static void c_sub(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->sub : elbo_sub)(R * C, i[0], i[1], o[0]); }
static void c_mul(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->mul : elbo_mul)(R * C, i[0], i[1], o[0]); }
static void c_scale(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->scale : elbo_scale)(R * C, -1.75f, i[0], o[0]); }
static void c_axpy(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->axpy : elbo_axpy)(R * C, 0.3f, i[0], o[0]); }
static void c_fma(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->fma : elbo_fma)(R * C, i[0], i[1], o[0]); }
static void c_add_bias(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->add_bias : elbo_add_bias)(R, C, i[0], o[0]); }
static void c_col_sum(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->col_sum : elbo_col_sum)(R, C, i[0], o[0]); }
static void c_relu(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->relu : elbo_relu)(R * C, i[0], o[0]); }
static void c_relu_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->relu_bwd : elbo_relu_bwd)(R * C, i[0], i[1], o[0]); }
static void c_leaky(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->leaky_relu : elbo_leaky_relu)(R * C, 0.01f, i[0], o[0]); }
static void c_leaky_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->leaky_relu_bwd : elbo_leaky_relu_bwd)(R * C, 0.01f, i[0], i[1], o[0]); }
static void c_tanh(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->tanh : elbo_tanh)(R * C, i[0], o[0]); }
static void c_tanh_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->tanh_bwd : elbo_tanh_bwd)(R * C, i[0], i[1], o[0]); }
static void c_sigmoid(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->sigmoid : elbo_sigmoid)(R * C, i[0], o[0]); }
static void c_sigmoid_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->sigmoid_bwd : elbo_sigmoid_bwd)(R * C, i[0], i[1], o[0]); }
static void c_softplus(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->softplus : elbo_softplus)(R * C, i[0], o[0]); }
static void c_softplus_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->softplus_bwd : elbo_softplus_bwd)(R * C, i[0], i[1], o[0]); }
static void c_exp(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->exp : elbo_exp)(R * C, i[0], o[0]); }
static void c_exp_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->exp_bwd : elbo_exp_bwd)(R * C, i[0], i[1], o[0]); }
static void c_log(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->log : elbo_log)(R * C, i[0], o[0]); }
static void c_log_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->log_bwd : elbo_log_bwd)(R * C, i[0], i[1], o[0]); }
static void c_row_sum(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->row_sum : elbo_row_sum)(R, C, i[0], o[0]); }
static void c_row_max(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->row_max : elbo_row_max)(R, C, i[0], o[0]); }
static void c_row_lse(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->row_logsumexp : elbo_row_logsumexp)(R, C, i[0], o[0]); }
static void c_bern(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->bernoulli_nll : elbo_bernoulli_nll)(R, C, i[0], i[1], o[0]); }
static void c_bern_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->bernoulli_nll_bwd : elbo_bernoulli_nll_bwd)(R, C, i[0], i[1], i[2], o[0]); }
static void c_gauss(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->gauss_nll : elbo_gauss_nll)(R, C, i[0], i[1], i[2], o[0]); }
static void c_gauss_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->gauss_nll_bwd : elbo_gauss_nll_bwd)(R, C, i[0], i[1], i[2], i[3], o[0], o[1]); }
static void c_gauss_bwd_fixed(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->gauss_nll_bwd : elbo_gauss_nll_bwd)(R, C, i[0], i[1], i[2], i[3], o[0], NULL); }
static void c_kl(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->kl_diag : elbo_kl_diag)(R, C, i[0], i[1], o[0]); }
static void c_kl_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->kl_diag_bwd : elbo_kl_diag_bwd)(R, C, i[0], i[1], i[2], o[0], o[1]); }
static void c_reparam(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->reparam : elbo_reparam)(R * C, i[0], i[1], i[2], o[0]); }
static void c_reparam_bwd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->reparam_bwd : elbo_reparam_bwd)(R * C, i[0], i[1], i[2], o[0], o[1]); }
/* Adam at step t = 3 with lr 1e-3, b1 0.9, b2 0.999, eps 1e-8, bias correction folded in */
static void c_adam(K *k, size_t R, size_t C, float **i, float **o)
{
    (k ? k->adam : elbo_adam)(R * C, 1e-3f * sqrtf(1.0f - 0.997003f) / (1.0f - 0.729f), 0.9f, 0.999f,
                              1e-8f * sqrtf(1.0f - 0.997003f), i[0], o[0], o[1], o[2]);
}
static void c_sgd(K *k, size_t R, size_t C, float **i, float **o) { (k ? k->sgd_momentum : elbo_sgd_momentum)(R * C, 0.01f, 0.9f, i[0], o[0], o[1]); }

/* Tolerances: EXACT for pure arithmetic with the same rounding as the
 * reference (ref uses fmaf where the kernel fuses); ULPS for one
 * transcendental (a few ulp: rtol 1e-6 = ~8 ulp at worst); GRAD for
 * `dx += dy f'` (one more rounding, cancellation against dx in [-1,1]);
 * SUMS for float-vector row sums vs the double reference. */
#define EXACT 1e-37, 0.0, 0.0
#define ULPS 1e-37, 1e-6, 0.0
#define GRAD 1e-6, 1e-5, 0.0
#define SUMS 1e-6, 1e-5, 2e-6

static const struct kcase cases[] = {
    {"add", false, c_add, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"sub", false, c_sub, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"mul", false, c_mul, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"scale", false, c_scale, 1, 1, {{SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"axpy", false, c_axpy, 1, 1, {{SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"fma", false, c_fma, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"add_bias", true, c_add_bias, 1, 1, {{SZ_C, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"col_sum", true, c_col_sum, 1, 1, {{SZ_N, -1.0f, 1.0f}}, {{SZ_C, -1.0f, 1.0f}}, 1e-6, 1e-5, 0.0},
    {"relu", false, c_relu, 1, 1, {{SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"relu_bwd", false, c_relu_bwd, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"leaky_relu", false, c_leaky, 1, 1, {{SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"leaky_relu_bwd", false, c_leaky_bwd, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, EXACT},
    {"tanh", false, c_tanh, 1, 1, {{SZ_N, -6.0f, 6.0f}}, {{SZ_N, -1.0f, 1.0f}}, ULPS},
    {"tanh_bwd", false, c_tanh_bwd, 2, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"sigmoid", false, c_sigmoid, 1, 1, {{SZ_N, -30.0f, 30.0f}}, {{SZ_N, -1.0f, 1.0f}}, ULPS},
    {"sigmoid_bwd", false, c_sigmoid_bwd, 2, 1, {{SZ_N, 0.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"softplus", false, c_softplus, 1, 1, {{SZ_N, -30.0f, 30.0f}}, {{SZ_N, -1.0f, 1.0f}}, ULPS},
    {"softplus_bwd", false, c_softplus_bwd, 2, 1, {{SZ_N, -30.0f, 30.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"exp", false, c_exp, 1, 1, {{SZ_N, -80.0f, 80.0f}}, {{SZ_N, -1.0f, 1.0f}}, ULPS},
    {"exp_bwd", false, c_exp_bwd, 2, 1, {{SZ_N, 0.0f, 3.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"log", false, c_log, 1, 1, {{SZ_N, 1e-3f, 1e3f}}, {{SZ_N, -1.0f, 1.0f}}, 1e-6, 1e-6, 0.0},
    {"log_bwd", false, c_log_bwd, 2, 1, {{SZ_N, 0.1f, 10.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"row_sum", true, c_row_sum, 1, 1, {{SZ_N, -1.0f, 1.0f}}, {{SZ_R, -1.0f, 1.0f}}, SUMS},
    {"row_max", true, c_row_max, 1, 1, {{SZ_N, -5.0f, 5.0f}}, {{SZ_R, -1.0f, 1.0f}}, EXACT},
    {"row_logsumexp", true, c_row_lse, 1, 1, {{SZ_N, -20.0f, 20.0f}}, {{SZ_R, -1.0f, 1.0f}}, 1e-6, 1e-6, 0.0},
    {"bernoulli_nll", true, c_bern, 2, 1, {{SZ_N, -30.0f, 30.0f}, {SZ_N, 0.0f, 1.0f}}, {{SZ_R, -1.0f, 1.0f}}, 1e-5, 1e-5, 1e-5},
    {"bernoulli_nll_bwd", true, c_bern_bwd, 3, 1, {{SZ_N, -30.0f, 30.0f}, {SZ_N, 0.0f, 1.0f}, {SZ_R, -2.0f, 2.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"gauss_nll", true, c_gauss, 3, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}, {SZ_C, -3.0f, 3.0f}}, {{SZ_R, -1.0f, 1.0f}}, 1e-5, 1e-5, 1e-5},
    {"gauss_nll_bwd", true, c_gauss_bwd, 4, 2, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}, {SZ_C, -3.0f, 3.0f}, {SZ_R, -2.0f, 2.0f}}, {{SZ_N, -1.0f, 1.0f}, {SZ_C, -1.0f, 1.0f}}, 1e-5, 1e-5, 1e-5},
    {"gauss_nll_bwd(dlv=NULL)", true, c_gauss_bwd_fixed, 4, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}, {SZ_C, -3.0f, 3.0f}, {SZ_R, -2.0f, 2.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"kl_diag", true, c_kl, 2, 1, {{SZ_N, -2.0f, 2.0f}, {SZ_N, -5.0f, 5.0f}}, {{SZ_R, -1.0f, 1.0f}}, 1e-5, 1e-5, 1e-5},
    {"kl_diag_bwd", true, c_kl_bwd, 3, 2, {{SZ_N, -2.0f, 2.0f}, {SZ_N, -5.0f, 5.0f}, {SZ_R, -2.0f, 2.0f}}, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, GRAD},
    {"reparam", false, c_reparam, 3, 1, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -5.0f, 5.0f}, {SZ_N, -3.0f, 3.0f}}, {{SZ_N, -1.0f, 1.0f}}, GRAD},
    {"reparam_bwd", false, c_reparam_bwd, 3, 2, {{SZ_N, -5.0f, 5.0f}, {SZ_N, -3.0f, 3.0f}, {SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, GRAD},
    {"adam", false, c_adam, 1, 3, {{SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}, {SZ_N, 0.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, 1e-7, 1e-5, 0.0},
    {"sgd_momentum", false, c_sgd, 1, 2, {{SZ_N, -1.0f, 1.0f}}, {{SZ_N, -1.0f, 1.0f}, {SZ_N, -1.0f, 1.0f}}, 1e-7, 1e-6, 0.0},
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t arr_len(enum size_kind sz, size_t R, size_t C)
{
    return sz == SZ_N ? R * C : sz == SZ_R ? R : C;
}

/* One float past a fresh allocation (unaligned), random data, guard after. */
static float *arr_new(size_t n, float lo, float hi, uint64_t seed)
{
    float *base = malloc((1 + n + GUARD) * sizeof(float));
    cr_assert(base);
    float *p = base + 1;
    tu_fill_uniform(p, n, lo, hi, seed);
    for (size_t g = 0; g < GUARD; g++)
        p[n + g] = GUARD_VALUE;
    return p;
}

static void arr_free(float *p) { free(p - 1); }

static bool guard_ok(const float *p, size_t n)
{
    for (size_t g = 0; g < GUARD; g++)
        if (p[n + g] != GUARD_VALUE)
            return false;
    return true;
}

/* Run case c on table `got` (NULL: the front-end) and on `want`, same inputs
 * and pre-filled outputs; assert the tolerance and the guards. */
static void check_case(const struct kcase *c, K *got, K *want, size_t R, size_t C, uint64_t seed)
{
    float *in[MAX_ARRAYS], *og[MAX_ARRAYS], *ow[MAX_ARRAYS];
    size_t lin[MAX_ARRAYS], lout[MAX_ARRAYS];
    for (int i = 0; i < c->nin; i++) {
        lin[i] = arr_len(c->in[i].sz, R, C);
        in[i] = arr_new(lin[i], c->in[i].lo, c->in[i].hi, seed + 17u * (uint64_t)i);
    }
    for (int i = 0; i < c->nout; i++) {
        lout[i] = arr_len(c->out[i].sz, R, C);
        og[i] = arr_new(lout[i], c->out[i].lo, c->out[i].hi, seed + 1000u + (uint64_t)i);
        ow[i] = arr_new(lout[i], c->out[i].lo, c->out[i].hi, seed + 1000u + (uint64_t)i);
    }
    c->call(got, R, C, in, og);
    c->call(want, R, C, in, ow);
    const char *gname = got ? got->name : "ops.h";
    for (int i = 0; i < c->nout; i++) {
        size_t worst = 0;
        double err = tu_max_rel_err(og[i], ow[i], lout[i], c->atol + c->atol_col * (double)C, c->rtol, &worst);
        cr_assert(err <= 1.0, "%s [%s vs %s] R=%zu C=%zu out %d: err %.3g of tol at [%zu]: got %.9g want %.9g",
                  c->name, gname, want->name, R, C, i, err, worst, (double)og[i][worst], (double)ow[i][worst]);
        /* the front-end only splits the work: same bits as one call on the table */
        if (!got)
            cr_assert(memcmp(og[i], ow[i], lout[i] * sizeof(float)) == 0,
                      "%s [ops.h] R=%zu C=%zu out %d: not bit-identical to one %s call", c->name, R, C, i,
                      want->name);
        cr_assert(guard_ok(og[i], lout[i]), "%s [%s] R=%zu C=%zu: wrote past the end of out %d", c->name,
                  gname, R, C, i);
    }
    for (int i = 0; i < c->nin; i++) {
        cr_assert(guard_ok(in[i], lin[i]), "%s [%s]: wrote past input %d", c->name, gname, i);
        arr_free(in[i]);
    }
    for (int i = 0; i < c->nout; i++) {
        arr_free(og[i]);
        arr_free(ow[i]);
    }
}

static const size_t lengths[] = {0, 1, 7, 8, 9, 15, 16, 17, 1000};
static const size_t shapes[][2] = {{3, 17}, {5, 33}, {1, 1000}, {1, 1}, {2, 8}, {7, 15}, {4, 16}, {0, 5}, {64, 9},
                                         /* narrow rows: the flat paths of add_bias and the losses */
                                         {64, 1}, {64, 2}, {300, 3}, {1000, 1}, {130, 5}, {9, 8}, {33, 16},
                                         /* whole batches of 4 vectors only; Fashion-MNIST rows (a batch
                                          * tail of one vector) */
                                         {2, 128}, {3, 784},
                                         /* rows past L1: the one-pass log-sum-exp */
                                         {2, 5003}};

static void check_all_shapes(const struct kcase *c, K *got, K *want)
{
    if (c->rowwise)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_case(c, got, want, shapes[s][0], shapes[s][1], 42u + s);
    else
        for (size_t s = 0; s < sizeof lengths / sizeof lengths[0]; s++)
            check_case(c, got, want, 1, lengths[s], 7u + s);
}

/* Every non-scalar level that this CPU and build support. */
static int simd_levels(K **out)
{
    int n = 0;
    for (int l = 0; l < ELBO_SIMD_COUNT; l++)
        if (l != ELBO_SIMD_SCALAR && elbo_kernels_for((elbo_simd)l))
            out[n++] = elbo_kernels_for((elbo_simd)l);
    return n;
}

Test(kernels, every_level_matches_scalar)
{
    K *levels[ELBO_SIMD_COUNT];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++)
        for (size_t c = 0; c < NCASES; c++)
            check_all_shapes(&cases[c], levels[l], &elbo_kernels_scalar);
}

Test(kernels, tables_are_complete)
{
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        K *k = elbo_kernels_for((elbo_simd)l);
        if (!k)
            continue;
        cr_assert_str_eq(k->name, elbo_simd_name((elbo_simd)l));
        /* every field after the name is a non-NULL function pointer */
        void (*const *fn)(void) = (void (*const *)(void))(const void *)&k->add;
        size_t nfn = (sizeof *k - offsetof(struct elbo_kernels, add)) / sizeof(void (*)(void));
        for (size_t i = 0; i < nfn; i++)
            cr_assert(fn[i] != NULL, "%s: kernel %zu is NULL", k->name, i);
    }
}

/* Front-end (threaded, chunked) against one call on the current table, at
 * small sizes and at sizes above ELBO_OPS_PARALLEL_MIN, for 1 and 2 threads:
 * bit-identical. */
Test(kernels, front_end_matches_table)
{
    static const size_t big_rows = 2001, big_cols = 33; /* 66033 floats, odd */
    for (int threads = 1; threads <= 2; threads++) {
        cr_assert_eq(elbo_set_threads(threads), ELBO_OK);
        for (size_t c = 0; c < NCASES; c++) {
            check_all_shapes(&cases[c], NULL, elbo_k());
            if (cases[c].rowwise) {
                check_case(&cases[c], NULL, elbo_k(), big_rows, big_cols, 99u);
                check_case(&cases[c], NULL, elbo_k(), 33001, 2, 98u); /* narrow rows, split into tasks */
            } else
                check_case(&cases[c], NULL, elbo_k(), 1, big_rows * big_cols, 99u);
        }
    }
    elbo_set_threads(1);
}

/* y may alias an input of the elementwise kernels */
Test(kernels, elementwise_in_place)
{
    K *levels[ELBO_SIMD_COUNT + 1];
    int nl = simd_levels(levels);
    levels[nl++] = &elbo_kernels_scalar;
    const size_t n = 37;
    for (int l = 0; l < nl; l++) {
        float a[37], b[37], y[37], want[37];
        tu_fill_uniform(a, n, -1, 1, 1);
        tu_fill_uniform(b, n, -1, 1, 2);
        elbo_kernels_scalar.add(n, a, b, want);
        memcpy(y, a, sizeof a);
        levels[l]->add(n, y, b, y);
        cr_assert(tu_max_rel_err(y, want, n, 1e-37, 0, NULL) <= 1.0, "%s add in place", levels[l]->name);
        elbo_kernels_scalar.scale(n, 3.0f, a, want);
        memcpy(y, a, sizeof a);
        levels[l]->scale(n, 3.0f, y, y);
        cr_assert(tu_max_rel_err(y, want, n, 1e-37, 0, NULL) <= 1.0, "%s scale in place", levels[l]->name);
    }
}

/* sum: double result within 1e-6 sum|x| of the double reference, every level */
Test(kernels, sum_matches_scalar)
{
    K *levels[ELBO_SIMD_COUNT];
    int nl = simd_levels(levels);
    static const size_t extra[] = {255, 256, 257, 4099, 100003};
    for (int l = 0; l < nl; l++)
        for (size_t s = 0; s < sizeof lengths / sizeof lengths[0] + sizeof extra / sizeof extra[0]; s++) {
            size_t n = s < sizeof lengths / sizeof lengths[0] ? lengths[s] : extra[s - sizeof lengths / sizeof lengths[0]];
            float *x = arr_new(n, -1.0f, 1.0f, 5u + s);
            double abs_sum = 0.0;
            for (size_t i = 0; i < n; i++)
                abs_sum += fabs(x[i]);
            double got = levels[l]->sum(n, x), want = elbo_kernels_scalar.sum(n, x);
            cr_assert(fabs(got - want) <= 1e-6 * abs_sum + 1e-30, "sum [%s] n=%zu: %.17g vs %.17g",
                      levels[l]->name, n, got, want);
            arr_free(x);
        }
}

/* d-arrays accumulate: bwd(dx = D) == D + bwd(dx = 0), for every level including scalar */
Test(kernels, gradients_accumulate)
{
    K *levels[ELBO_SIMD_COUNT + 1];
    int nl = simd_levels(levels);
    levels[nl++] = &elbo_kernels_scalar;
    static const char *const bwd[] = {"relu_bwd", "leaky_relu_bwd", "tanh_bwd", "sigmoid_bwd",
                                      "softplus_bwd", "exp_bwd", "log_bwd", "bernoulli_nll_bwd",
                                      "gauss_nll_bwd", "kl_diag_bwd", "reparam_bwd", "axpy", "fma",
                                      "add_bias", "col_sum"};
    const size_t R = 3, C = 17, n = R * C;
    for (int l = 0; l < nl; l++)
        for (size_t b = 0; b < sizeof bwd / sizeof bwd[0]; b++) {
            const struct kcase *c = NULL;
            for (size_t i = 0; i < NCASES; i++)
                if (strcmp(cases[i].name, bwd[b]) == 0)
                    c = &cases[i];
            cr_assert(c, "no case %s", bwd[b]);
            size_t rr = c->rowwise ? R : 1, cc = c->rowwise ? C : n;
            float *in[MAX_ARRAYS], *zero[MAX_ARRAYS], *acc[MAX_ARRAYS], *d0[MAX_ARRAYS];
            size_t lout[MAX_ARRAYS];
            for (int i = 0; i < c->nin; i++)
                in[i] = arr_new(arr_len(c->in[i].sz, rr, cc), c->in[i].lo, c->in[i].hi, 3u + (uint64_t)i);
            for (int i = 0; i < c->nout; i++) {
                lout[i] = arr_len(c->out[i].sz, rr, cc);
                zero[i] = arr_new(lout[i], 0.0f, 0.0f, 0);
                acc[i] = arr_new(lout[i], 2.0f, 3.0f, 11u + (uint64_t)i);
                d0[i] = arr_new(lout[i], 2.0f, 3.0f, 11u + (uint64_t)i);
            }
            c->call(levels[l], rr, cc, in, zero);
            c->call(levels[l], rr, cc, in, acc);
            for (int i = 0; i < c->nout; i++) {
                bool moved = false;
                for (size_t j = 0; j < lout[i]; j++) {
                    float want = d0[i][j] + zero[i][j];
                    cr_assert(fabsf(acc[i][j] - want) <= 1e-5f * (1.0f + fabsf(want)),
                              "%s [%s] out %d [%zu]: %g != %g + %g (overwrote instead of +=?)", c->name,
                              levels[l]->name, i, j, (double)acc[i][j], (double)d0[i][j], (double)zero[i][j]);
                    moved |= zero[i][j] != 0.0f;
                }
                cr_assert(moved, "%s [%s] out %d: gradient is all zero", c->name, levels[l]->name, i);
            }
            for (int i = 0; i < c->nin; i++)
                arr_free(in[i]);
            for (int i = 0; i < c->nout; i++) {
                arr_free(zero[i]);
                arr_free(acc[i]);
                arr_free(d0[i]);
            }
        }
}
