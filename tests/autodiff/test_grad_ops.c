/* Every autodiff op against central finite differences, at every SIMD level
 * this CPU supports and at shapes whose odd sizes exercise the SIMD tails.
 *
 * Method: the op's output y is projected to a scalar L = Σ R ⊙ y with a fixed
 * random R (on the tape: sum(mul(y, R)), whose backward hands the op exactly
 * dy = R). Each input element w is perturbed to w ± h in float, the forward
 * re-run in no-grad mode, and L evaluated in double from the float outputs:
 *     fd = (L(w+h) - L(w-h)) / ((w+h) - (w-h))      (the stored floats' step)
 * Outputs the perturbation does not touch are bitwise unchanged, so float
 * rounding enters only through the touched outputs: noise ~ ulp(y)/h.
 * Pass: |fd - ad| <= atol + rtol |fd| with h, atol, rtol per op (table below;
 * default h = 1e-2, atol = 2e-3, rtol = 1e-2). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/simd_level.h"
#include "test_util.h"

#define MAX_IN 3

/* The (R,C) shapes of the op's output (roughly); the odd ones hit SIMD tails. */
static const int shapes[][2] = {{1, 1}, {3, 7}, {5, 17}, {16, 33}};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

typedef struct gcase gcase;
typedef elbo_node *(*build_fn)(elbo_tape *t, elbo_node **in, const gcase *c);

struct gcase {
    const char *name;
    int n_in;
    int shape[MAX_IN][2]; /* filled per (R,C) by the case's shape rule */
    float lo[MAX_IN], hi[MAX_IN];
    bool away_from_zero[MAX_IN]; /* |x| in [lo,hi], random sign (kinks at 0) */
    bool grad[MAX_IN];           /* a parameter (checked) or a constant input */
    build_fn build;
    float h;
    double atol, rtol;
    const float *eps; /* reparam noise, fixed for the case */
    int start, len;   /* slice */
    float s;          /* scale / leaky slope / fixed logvar */
};

/* ---- the loss L = Σ R ⊙ y on the tape, and in double from values ---- */

static double project(const elbo_node *y, const float *R)
{
    double L = 0.0;
    for (int i = 0; i < y->rows * y->cols; i++)
        L += (double)R[i] * (double)y->x[i];
    return L;
}

static elbo_node *build_inputs(elbo_tape *t, elbo_params *p, const gcase *c, elbo_node **in)
{
    for (int i = 0; i < c->n_in; i++)
        in[i] = c->grad[i] ? elbo_ad_param(t, p, i)
                           : elbo_ad_input(t, c->shape[i][0], c->shape[i][1], elbo_param_w(p, i));
    return c->build(t, in, c);
}

static void check_case(const gcase *c, elbo_simd level, int R, int C)
{
    elbo_params p;
    elbo_params_init(&p);
    for (int i = 0; i < c->n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        cr_assert(elbo_params_add(&p, name, c->shape[i][0], c->shape[i][1]) == i);
    }
    cr_assert(elbo_params_finalize(&p) == ELBO_OK);
    for (int i = 0; i < c->n_in; i++) {
        size_t n = (size_t)c->shape[i][0] * (size_t)c->shape[i][1];
        float *w = elbo_param_w(&p, i);
        tu_fill_uniform(w, n, c->lo[i], c->hi[i], 1000u + 7u * (uint64_t)i + 131u * (uint64_t)(R * 64 + C));
        if (c->away_from_zero[i]) {
            float *sign = malloc(n * sizeof *sign);
            tu_fill_uniform(sign, n, -1.0f, 1.0f, 99u + (uint64_t)i);
            for (size_t j = 0; j < n; j++)
                w[j] = sign[j] < 0.0f ? -w[j] : w[j];
            free(sign);
        }
    }

    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 1 << 16) == ELBO_OK);
    elbo_node *in[MAX_IN];

    /* Reverse mode. */
    elbo_params_zero_grad(&p);
    elbo_node *y = build_inputs(t, &p, c, in);
    cr_assert(y, "%s: build failed: %s", c->name, elbo_last_error());
    size_t ny = (size_t)y->rows * (size_t)y->cols;
    float *Rw = malloc(ny * sizeof *Rw);
    tu_fill_uniform(Rw, ny, -1.0f, 1.0f, 4242u + ny);
    elbo_node *L = elbo_ad_sum(t, elbo_ad_mul(t, y, elbo_ad_input(t, y->rows, y->cols, Rw)));
    cr_assert(elbo_backward(t, L) == ELBO_OK, "%s: %s", c->name, elbo_last_error());
    float *ad = malloc(p.n * sizeof *ad);
    memcpy(ad, p.g, p.n * sizeof *ad);

    /* Central differences, forward only. */
    elbo_tape_set_grad(t, false);
    int checked = 0;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->grad[i])
            continue;
        float *w = elbo_param_w(&p, i);
        const float *g = ad + p.info[i].offset;
        for (int j = 0; j < c->shape[i][0] * c->shape[i][1]; j++) {
            float w0 = w[j];
            float wp = w0 + c->h, wm = w0 - c->h;
            w[j] = wp;
            elbo_tape_reset(t);
            double Lp = project(build_inputs(t, &p, c, in), Rw);
            w[j] = wm;
            elbo_tape_reset(t);
            double Lm = project(build_inputs(t, &p, c, in), Rw);
            w[j] = w0;
            double fd = (Lp - Lm) / ((double)wp - (double)wm);
            double err = fabs(fd - (double)g[j]);
            cr_expect(err <= c->atol + c->rtol * fabs(fd),
                      "%s [%s] out (%d,%d): d in%d[%d] fd %.6g ad %.6g (|err| %.3g > %.3g + %.3g|fd|)", c->name,
                      elbo_simd_name(level), R, C, i, j, fd, (double)g[j], err, c->atol, c->rtol);
            checked++;
        }
    }
    cr_assert(checked > 0);
    /* The padding of the gradient slab is never written. */
    for (int i = 0; i < c->n_in; i++) {
        size_t end = p.info[i].offset + (size_t)c->shape[i][0] * (size_t)c->shape[i][1];
        size_t next = i + 1 < c->n_in ? p.info[i + 1].offset : p.n;
        for (size_t k = end; k < next; k++)
            cr_expect(ad[k] == 0.0f, "%s: gradient padding written at %zu", c->name, k);
    }
    free(ad);
    free(Rw);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

/* Run a case at every supported level and every shape; rule fills the input
 * shapes of the case for output-ish shape (R,C). */
typedef void (*shape_rule)(gcase *c, int R, int C);

static void run(gcase c, shape_rule rule)
{
    if (c.h == 0.0f)
        c.h = 1e-2f;
    if (c.atol == 0.0)
        c.atol = 2e-3;
    if (c.rtol == 0.0)
        c.rtol = 1e-2;
    elbo_simd saved = elbo_simd_current();
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        cr_assert(elbo_simd_set((elbo_simd)lv) == ELBO_OK);
        for (int s = 0; s < N_SHAPES; s++) {
            rule(&c, shapes[s][0], shapes[s][1]);
            check_case(&c, (elbo_simd)lv, shapes[s][0], shapes[s][1]);
        }
    }
    elbo_simd_set(saved);
}

/* ---- shape rules ---- */

static void set(gcase *c, int i, int r, int cols)
{
    c->shape[i][0] = r;
    c->shape[i][1] = cols;
}
static void same_rc(gcase *c, int R, int C)
{
    for (int i = 0; i < c->n_in; i++)
        set(c, i, R, C);
}
static void row_b(gcase *c, int R, int C) /* a (R,C), b (1,C) */
{
    set(c, 0, R, C);
    set(c, 1, 1, C);
}
static void mm(gcase *c, int R, int C) /* a (R,K), b (K,C), K = C+2 (odd with odd C) */
{
    set(c, 0, R, C + 2);
    set(c, 1, C + 2, C);
    set(c, 2, 1, C);
}
static void cat(gcase *c, int R, int C) /* a (R,C), b (R,C/2+1) */
{
    set(c, 0, R, C);
    set(c, 1, R, C / 2 + 1);
}
static void slice(gcase *c, int R, int C) /* a (R,C+3) -> a[:, 1:1+C] */
{
    set(c, 0, R, C + 3);
    c->start = 1;
    c->len = C;
}
static void gauss_learned(gcase *c, int R, int C) /* m, x (R,C), lv (1,C) */
{
    set(c, 0, R, C);
    set(c, 1, R, C);
    set(c, 2, 1, C);
}
static float reparam_eps[16 * 33];
static void reparam_shape(gcase *c, int R, int C)
{
    same_rc(c, R, C);
    tu_fill_uniform(reparam_eps, (size_t)R * (size_t)C, -2.0f, 2.0f, 77u);
    c->eps = reparam_eps;
}

/* ---- builders ---- */

static elbo_node *b_matmul(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_matmul(t, in[0], in[1]); }
static elbo_node *b_linear(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_linear(t, in[0], in[1], in[2]); }
static elbo_node *b_linear_nobias(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_linear(t, in[0], in[1], NULL); }
static elbo_node *b_add(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_add(t, in[0], in[1]); }
static elbo_node *b_sub(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_sub(t, in[0], in[1]); }
static elbo_node *b_mul(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_mul(t, in[0], in[1]); }
static elbo_node *b_scale(elbo_tape *t, elbo_node **in, const gcase *c) { return elbo_ad_scale(t, in[0], c->s); }
static elbo_node *b_concat(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_concat_cols(t, in[0], in[1]); }
static elbo_node *b_slice(elbo_tape *t, elbo_node **in, const gcase *c) { return elbo_ad_slice_cols(t, in[0], c->start, c->len); }
static elbo_node *b_relu(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_relu(t, in[0]); }
static elbo_node *b_leaky(elbo_tape *t, elbo_node **in, const gcase *c) { return elbo_ad_leaky_relu(t, in[0], c->s); }
static elbo_node *b_tanh(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_tanh(t, in[0]); }
static elbo_node *b_sigmoid(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_sigmoid(t, in[0]); }
static elbo_node *b_softplus(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_softplus(t, in[0]); }
static elbo_node *b_exp(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_exp(t, in[0]); }
static elbo_node *b_log(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_log(t, in[0]); }
static elbo_node *b_sum(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_sum(t, in[0]); }
static elbo_node *b_mean(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_mean(t, in[0]); }
static elbo_node *b_sum_rows(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_sum_rows(t, in[0]); }
static elbo_node *b_lse(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_logsumexp_rows(t, in[0]); }
static elbo_node *b_bern(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_bernoulli_nll(t, in[0], in[1]); }
static elbo_node *b_gauss_fixed(elbo_tape *t, elbo_node **in, const gcase *c) { return elbo_ad_gauss_nll(t, in[0], in[1], NULL, c->s); }
static elbo_node *b_gauss_learned(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_gauss_nll(t, in[0], in[1], in[2], 0.0f); }
static elbo_node *b_kl(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_kl_diag(t, in[0], in[1]); }
static elbo_node *b_reparam(elbo_tape *t, elbo_node **in, const gcase *c) { return elbo_ad_reparam(t, in[0], in[1], NULL, c->eps); }
/* Both inputs the same node: gradients from the two uses must add up. */
static elbo_node *b_mul_self(elbo_tape *t, elbo_node **in, const gcase *c) { (void)c; return elbo_ad_mul(t, in[0], in[0]); }

#define U(l, h) .lo = {l, l, l}, .hi = {h, h, h}
#define ALL {true, true, true}

/* ---- linalg ---- */
Test(grad, matmul) { run((gcase){.name = "matmul", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_matmul}, mm); }
Test(grad, linear) { run((gcase){.name = "linear", .n_in = 3, U(-1, 1), .grad = ALL, .build = b_linear}, mm); }
Test(grad, linear_const_x) /* the first layer: dX is skipped, dW and db still right */
{
    run((gcase){.name = "linear_const_x", .n_in = 3, U(-1, 1), .grad = {false, true, true}, .build = b_linear}, mm);
}
Test(grad, linear_no_bias) { run((gcase){.name = "linear_no_bias", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_linear_nobias}, mm); }
Test(grad, concat_cols) { run((gcase){.name = "concat_cols", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_concat}, cat); }
Test(grad, slice_cols) { run((gcase){.name = "slice_cols", .n_in = 1, U(-1, 1), .grad = ALL, .build = b_slice}, slice); }

/* ---- elementwise ---- */
Test(grad, add) { run((gcase){.name = "add", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_add}, same_rc); }
Test(grad, add_row_broadcast) { run((gcase){.name = "add_row", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_add}, row_b); }
Test(grad, sub) { run((gcase){.name = "sub", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_sub}, same_rc); }
Test(grad, sub_row_broadcast) { run((gcase){.name = "sub_row", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_sub}, row_b); }
Test(grad, mul) { run((gcase){.name = "mul", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_mul}, same_rc); }
Test(grad, mul_row_broadcast) { run((gcase){.name = "mul_row", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_mul}, row_b); }
Test(grad, mul_same_node_twice) { run((gcase){.name = "mul_self", .n_in = 1, U(-1, 1), .grad = ALL, .build = b_mul_self}, same_rc); }
Test(grad, scale) { run((gcase){.name = "scale", .n_in = 1, U(-1, 1), .grad = ALL, .build = b_scale, .s = -1.7f}, same_rc); }
Test(grad, reparam)
{
    run((gcase){.name = "reparam", .n_in = 2, .lo = {-1, -2}, .hi = {1, 1}, .grad = ALL, .build = b_reparam}, reparam_shape);
}
Test(grad, reparam_mu_only) /* logvar constant: its gradient goes to scratch */
{
    run((gcase){.name = "reparam_mu_only", .n_in = 2, .lo = {-1, -2}, .hi = {1, 1}, .grad = {true, false},
                .build = b_reparam},
        reparam_shape);
}

/* ---- activations (inputs kept h-clear of kinks and of log's pole) ---- */
Test(grad, relu)
{
    run((gcase){.name = "relu", .n_in = 1, U(0.1f, 1), .away_from_zero = {true}, .grad = ALL, .build = b_relu}, same_rc);
}
Test(grad, leaky_relu)
{
    run((gcase){.name = "leaky_relu", .n_in = 1, U(0.1f, 1), .away_from_zero = {true}, .grad = ALL, .build = b_leaky,
                .s = 0.1f},
        same_rc);
}
Test(grad, tanh) { run((gcase){.name = "tanh", .n_in = 1, U(-2, 2), .grad = ALL, .build = b_tanh}, same_rc); }
Test(grad, sigmoid) { run((gcase){.name = "sigmoid", .n_in = 1, U(-3, 3), .grad = ALL, .build = b_sigmoid}, same_rc); }
Test(grad, softplus) { run((gcase){.name = "softplus", .n_in = 1, U(-3, 3), .grad = ALL, .build = b_softplus}, same_rc); }
Test(grad, exp) { run((gcase){.name = "exp", .n_in = 1, U(-2, 2), .grad = ALL, .build = b_exp}, same_rc); }
Test(grad, log) { run((gcase){.name = "log", .n_in = 1, U(0.5f, 2), .grad = ALL, .build = b_log, .h = 5e-3f}, same_rc); }

/* ---- reductions ---- */
Test(grad, sum) { run((gcase){.name = "sum", .n_in = 1, U(-1, 1), .grad = ALL, .build = b_sum}, same_rc); }
Test(grad, mean) { run((gcase){.name = "mean", .n_in = 1, U(-1, 1), .grad = ALL, .build = b_mean}, same_rc); }
Test(grad, sum_rows) { run((gcase){.name = "sum_rows", .n_in = 1, U(-1, 1), .grad = ALL, .build = b_sum_rows}, same_rc); }
Test(grad, logsumexp_rows) { run((gcase){.name = "logsumexp_rows", .n_in = 1, U(-3, 3), .grad = ALL, .build = b_lse}, same_rc); }

/* ---- fused losses ---- */
Test(grad, bernoulli_nll)
{
    run((gcase){.name = "bernoulli_nll", .n_in = 2, .lo = {-3, 0}, .hi = {3, 1}, .grad = ALL, .build = b_bern}, same_rc);
}
Test(grad, bernoulli_nll_const_target)
{
    run((gcase){.name = "bernoulli_nll_const_target", .n_in = 2, .lo = {-3, 0}, .hi = {3, 1}, .grad = {true, false},
                .build = b_bern},
        same_rc);
}
Test(grad, gauss_nll_fixed)
{
    run((gcase){.name = "gauss_nll_fixed", .n_in = 2, U(-1, 1), .grad = {true, false}, .build = b_gauss_fixed,
                .s = -0.5f},
        same_rc);
}
Test(grad, gauss_nll_fixed_target_grad)
{
    run((gcase){.name = "gauss_nll_fixed_target_grad", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_gauss_fixed,
                .s = -0.5f},
        same_rc);
}
Test(grad, gauss_nll_learned)
{
    run((gcase){.name = "gauss_nll_learned", .n_in = 3, U(-1, 1), .grad = {true, false, true}, .build = b_gauss_learned},
        gauss_learned);
}
Test(grad, gauss_nll_learned_all)
{
    run((gcase){.name = "gauss_nll_learned_all", .n_in = 3, U(-1, 1), .grad = ALL, .build = b_gauss_learned},
        gauss_learned);
}
Test(grad, kl_diag) { run((gcase){.name = "kl_diag", .n_in = 2, U(-1, 1), .grad = ALL, .build = b_kl}, same_rc); }
Test(grad, kl_diag_mu_only)
{
    run((gcase){.name = "kl_diag_mu_only", .n_in = 2, U(-1, 1), .grad = {true, false}, .build = b_kl}, same_rc);
}
