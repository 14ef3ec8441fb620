/* The kernel test cases (see kernel_cases.h). */
#include "kernel_cases.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

#define GUARD 40 /* floats after each array (> 2 * the widest VLEN) */
#define GUARD_VALUE 1234.5f

typedef kc_table K;

/* ---- calls, same argument order as the list's classes ----
 * CALL(slot) is the table's kernel, or the front-end elbo_<slot> for k NULL. */
#define CALL(slot) (k ? k->slot : elbo_##slot)
#define UNUSED_CASE (void)c

static void c_add(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(add)(R * C, i[0], i[1], o[0]); }
static void c_sub(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(sub)(R * C, i[0], i[1], o[0]); }
static void c_mul(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(mul)(R * C, i[0], i[1], o[0]); }
static void c_scale(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(scale)(R * C, -1.75f, i[0], o[0]); }
static void c_axpy(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(axpy)(R * C, 0.3f, i[0], o[0]); }
static void c_fma(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(fma)(R * C, i[0], i[1], o[0]); }
static void c_add_bias(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(add_bias)(R, C, i[0], o[0]); }
static void c_col_sum(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(col_sum)(R, C, i[0], o[0]); }
static void c_row_sum(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(row_sum)(R, C, i[0], o[0]); }
static void c_row_max(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(row_max)(R, C, i[0], o[0]); }
static void c_row_lse(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(row_logsumexp)(R, C, i[0], o[0]); }
/* the double total, stored as two floats (high part and the rest) so it is compared as an output */
static void c_sum(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    UNUSED_CASE;
    double s = CALL(sum)(R * C, i[0]);
    o[0][0] = (float)s;
    o[0][1] = (float)(s - (double)o[0][0]);
}
static void c_bern(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(bernoulli_nll)(R, C, i[0], i[1], o[0]); }
static void c_bern_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(bernoulli_nll_bwd)(R, C, i[0], i[1], i[2], o[0]); }
static void c_gauss(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(gauss_nll)(R, C, i[0], i[1], i[2], o[0]); }
static void c_gauss_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(gauss_nll_bwd)(R, C, i[0], i[1], i[2], i[3], o[0], o[1]); }
static void c_gauss_bwd_fixed(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(gauss_nll_bwd)(R, C, i[0], i[1], i[2], i[3], o[0], NULL); }
static void c_kl(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(kl_diag)(R, C, i[0], i[1], o[0]); }
static void c_kl_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(kl_diag_bwd)(R, C, i[0], i[1], i[2], o[0], o[1]); }
static void c_reparam(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(reparam)(R * C, i[0], i[1], i[2], o[0]); }
static void c_reparam_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(reparam_bwd)(R * C, i[0], i[1], i[2], o[0], o[1]); }
/* Adam at step t = 3 with lr 1e-3, b1 0.9, b2 0.999, eps 1e-8, bias correction folded in */
static void c_adam(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    UNUSED_CASE;
    CALL(adam)(R * C, 1e-3f * sqrtf(1.0f - 0.997003f) / (1.0f - 0.729f), 0.9f, 0.999f, 1e-8f * sqrtf(1.0f - 0.997003f),
               i[0], o[0], o[1], o[2]);
}
static void c_sgd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { UNUSED_CASE; CALL(sgd_momentum)(R * C, 0.01f, 0.9f, i[0], o[0], o[1]); }

/* labels in [0,C) from the floats in[1] in [0,1) */
static int32_t *labels_of(const float *u, size_t R, size_t C)
{
    int32_t *lab = malloc((R ? R : 1) * sizeof *lab);
    for (size_t r = 0; r < R; r++)
        lab[r] = (int32_t)((float)C * u[r]) < (int32_t)C ? (int32_t)((float)C * u[r]) : (int32_t)C - 1;
    return lab;
}
static void c_cat(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    UNUSED_CASE;
    int32_t *lab = labels_of(i[1], R, C);
    CALL(categorical_nll)(R, C, i[0], lab, o[0]);
    free(lab);
}
static void c_cat_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    UNUSED_CASE;
    int32_t *lab = labels_of(i[1], R, C);
    CALL(categorical_nll_bwd)(R, C, i[0], lab, i[2], o[0]);
    free(lab);
}

/* softmax along rows (outer R, len C, inner 1) or strided (outer R, len 3, inner C) */
#define AXIS_DIMS(c) (c)->gp[0] ? 3 : C, (c)->gp[0] ? C : 1
static void c_softmax(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { CALL(softmax)(R, AXIS_DIMS(c), i[0], o[0]); }
static void c_softmax_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { CALL(softmax_bwd)(R, AXIS_DIMS(c), i[0], i[1], o[0]); }
static void c_lsm(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { CALL(log_softmax)(R, AXIS_DIMS(c), i[0], o[0]); }
static void c_lsm_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o) { CALL(log_softmax_bwd)(R, AXIS_DIMS(c), i[0], i[1], o[0]); }

/* group norm of R samples: gp = {hw, groups (0: one per channel, or 1 when C is above the limit), no affine} */
static size_t norm_groups(const kcase *c, size_t C)
{
    return c->gp[1] ? (size_t)c->gp[1] : C <= ELBO_NORM_MAX_GROUPS ? C : 1;
}
static void c_norm(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    bool affine = !c->gp[2];
    CALL(groupnorm)(R, (size_t)c->gp[0], C, norm_groups(c, C), 1e-5f, i[0], affine ? i[1] : NULL,
                    affine ? i[2] : NULL, o[0], o[1]);
}
static void c_norm_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    CALL(groupnorm_bwd)(R, (size_t)c->gp[0], C, norm_groups(c, C), i[0], c->gp[2] ? NULL : i[1], i[2], i[3], o[0], o[1]);
}

/* image windows and im2col rows of the case's geometry at (R,C) */
static void c_pool(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    elbo_window2d g = kc_window_of(c, R, C);
    CALL(avgpool2d)(&g, i[0], o[0]);
}
static void c_pool_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    elbo_window2d g = kc_window_of(c, R, C);
    CALL(avgpool2d_bwd)(&g, i[0], o[0]);
}
static void c_up(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    elbo_window2d g = kc_window_of(c, R, C);
    CALL(upsample2d)(&g, i[0], o[0]);
}
static void c_up_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    elbo_window2d g = kc_window_of(c, R, C);
    CALL(upsample2d_bwd)(&g, i[0], o[0]);
}
static void c_im2col(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    elbo_conv2d_geom g = kc_conv_of(c, R, C);
    size_t row0, nrows;
    kc_conv_rows(&g, &row0, &nrows);
    CALL(im2col)(&g, row0, nrows, i[0], o[0]);
}
static void c_col2im(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)
{
    elbo_conv2d_geom g = kc_conv_of(c, R, C);
    size_t row0, nrows;
    kc_conv_rows(&g, &row0, &nrows);
    CALL(col2im)(&g, row0, nrows, i[0], o[0]);
}

/* Tolerances: EXACT for pure arithmetic with the same rounding as the
 * reference (ref uses fmaf where the kernel fuses); ULPS for one
 * transcendental (a few ulp: rtol 1e-6 = ~8 ulp at worst); GRAD for
 * `dx += dy f'` (one more rounding, cancellation against dx in [-1,1]);
 * SUMS for float-vector row sums vs the double reference. */
#define EXACT 1e-37, 0.0, 0.0
#define ULPS 1e-37, 1e-6, 0.0
#define GRAD 1e-6, 1e-5, 0.0
#define SUMS 1e-6, 1e-5, 2e-6
#define NOGEOM KC_GEOM_NONE, {0}
#define KID(name) ELBO_KERNEL_##name
#define U11 -1.0f, 1.0f

static const kcase hand_cases[] = {
    {"add", KID(add), false, c_add, 2, 1, {{KC_N, U11}, {KC_N, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"sub", KID(sub), false, c_sub, 2, 1, {{KC_N, U11}, {KC_N, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"mul", KID(mul), false, c_mul, 2, 1, {{KC_N, U11}, {KC_N, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"scale", KID(scale), false, c_scale, 1, 1, {{KC_N, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"axpy", KID(axpy), false, c_axpy, 1, 1, {{KC_N, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"fma", KID(fma), false, c_fma, 2, 1, {{KC_N, U11}, {KC_N, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"add_bias", KID(add_bias), true, c_add_bias, 1, 1, {{KC_C, U11}}, {{KC_N, U11}}, EXACT, NOGEOM},
    {"col_sum", KID(col_sum), true, c_col_sum, 1, 1, {{KC_N, U11}}, {{KC_C, U11}}, 1e-6, 1e-5, 0.0, NOGEOM},
    {"row_sum", KID(row_sum), true, c_row_sum, 1, 1, {{KC_N, U11}}, {{KC_R, U11}}, SUMS, NOGEOM},
    {"row_max", KID(row_max), true, c_row_max, 1, 1, {{KC_N, -5.0f, 5.0f}}, {{KC_R, U11}}, EXACT, NOGEOM},
    {"row_logsumexp", KID(row_logsumexp), true, c_row_lse, 1, 1, {{KC_N, -20.0f, 20.0f}}, {{KC_R, U11}}, 1e-6, 1e-6, 0.0, NOGEOM},
    {"sum", KID(sum), false, c_sum, 1, 1, {{KC_N, U11}}, {{KC_R2, U11}}, 1e-6, 1e-6, 1e-6, NOGEOM},
    {"bernoulli_nll", KID(bernoulli_nll), true, c_bern, 2, 1, {{KC_N, -30.0f, 30.0f}, {KC_N, 0.0f, 1.0f}}, {{KC_R, U11}}, 1e-5, 1e-5, 1e-5, NOGEOM},
    {"bernoulli_nll_bwd", KID(bernoulli_nll_bwd), true, c_bern_bwd, 3, 1, {{KC_N, -30.0f, 30.0f}, {KC_N, 0.0f, 1.0f}, {KC_R, -2.0f, 2.0f}}, {{KC_N, U11}}, GRAD, NOGEOM},
    {"gauss_nll", KID(gauss_nll), true, c_gauss, 3, 1, {{KC_N, U11}, {KC_N, U11}, {KC_C, -3.0f, 3.0f}}, {{KC_R, U11}}, 1e-5, 1e-5, 1e-5, NOGEOM},
    {"gauss_nll_bwd", KID(gauss_nll_bwd), true, c_gauss_bwd, 4, 2, {{KC_N, U11}, {KC_N, U11}, {KC_C, -3.0f, 3.0f}, {KC_R, -2.0f, 2.0f}}, {{KC_N, U11}, {KC_C, U11}}, 1e-5, 1e-5, 1e-5, NOGEOM},
    {"gauss_nll_bwd(dlv=NULL)", KID(gauss_nll_bwd), true, c_gauss_bwd_fixed, 4, 1, {{KC_N, U11}, {KC_N, U11}, {KC_C, -3.0f, 3.0f}, {KC_R, -2.0f, 2.0f}}, {{KC_N, U11}}, GRAD, NOGEOM},
    {"kl_diag", KID(kl_diag), true, c_kl, 2, 1, {{KC_N, -2.0f, 2.0f}, {KC_N, -5.0f, 5.0f}}, {{KC_R, U11}}, 1e-5, 1e-5, 1e-5, NOGEOM},
    {"kl_diag_bwd", KID(kl_diag_bwd), true, c_kl_bwd, 3, 2, {{KC_N, -2.0f, 2.0f}, {KC_N, -5.0f, 5.0f}, {KC_R, -2.0f, 2.0f}}, {{KC_N, U11}, {KC_N, U11}}, GRAD, NOGEOM},
    {"categorical_nll", KID(categorical_nll), true, c_cat, 2, 1, {{KC_N, -20.0f, 20.0f}, {KC_R, 0.0f, 1.0f}}, {{KC_R, U11}}, 1e-5, 1e-5, 0.0, NOGEOM},
    {"categorical_nll_bwd", KID(categorical_nll_bwd), true, c_cat_bwd, 3, 1, {{KC_N, -20.0f, 20.0f}, {KC_R, 0.0f, 1.0f}, {KC_R, -2.0f, 2.0f}}, {{KC_N, U11}}, GRAD, NOGEOM},
    {"softmax", KID(softmax), true, c_softmax, 1, 1, {{KC_N, -20.0f, 20.0f}}, {{KC_N, U11}}, 1e-7, 2e-5, 0.0, NOGEOM},
    {"softmax(strided)", KID(softmax), true, c_softmax, 1, 1, {{KC_N3, -20.0f, 20.0f}}, {{KC_N3, U11}}, 1e-7, 2e-5, 0.0, KC_GEOM_NONE, {1}},
    {"softmax_bwd", KID(softmax_bwd), true, c_softmax_bwd, 2, 1, {{KC_N, 0.0f, 0.2f}, {KC_N, U11}}, {{KC_N, U11}}, 1e-6, 1e-5, 2e-8, NOGEOM},
    {"softmax_bwd(strided)", KID(softmax_bwd), true, c_softmax_bwd, 2, 1, {{KC_N3, 0.0f, 1.0f}, {KC_N3, U11}}, {{KC_N3, U11}}, GRAD, KC_GEOM_NONE, {1}},
    {"log_softmax", KID(log_softmax), true, c_lsm, 1, 1, {{KC_N, -20.0f, 20.0f}}, {{KC_N, U11}}, 1e-5, 1e-6, 0.0, NOGEOM},
    {"log_softmax(strided)", KID(log_softmax), true, c_lsm, 1, 1, {{KC_N3, -20.0f, 20.0f}}, {{KC_N3, U11}}, 1e-5, 1e-6, 0.0, KC_GEOM_NONE, {1}},
    {"log_softmax_bwd", KID(log_softmax_bwd), true, c_lsm_bwd, 2, 1, {{KC_N, -8.0f, 0.0f}, {KC_N, U11}}, {{KC_N, U11}}, 1e-5, 1e-5, 2e-7, NOGEOM},
    {"log_softmax_bwd(strided)", KID(log_softmax_bwd), true, c_lsm_bwd, 2, 1, {{KC_N3, -3.0f, 0.0f}, {KC_N3, U11}}, {{KC_N3, U11}}, 1e-5, 1e-5, 0.0, KC_GEOM_NONE, {1}},
    {"groupnorm(layer)", KID(groupnorm), true, c_norm, 3, 2, {{KC_N, -3.0f, 5.0f}, {KC_C, 0.5f, 1.5f}, {KC_C, U11}}, {{KC_N, U11}, {KC_R2, U11}}, 1e-5, 1e-5, 0.0, KC_GEOM_NONE, {1, 1, 0}},
    {"groupnorm(layer, no affine)", KID(groupnorm), true, c_norm, 1, 2, {{KC_N, -3.0f, 5.0f}}, {{KC_N, U11}, {KC_R2, U11}}, 1e-5, 1e-5, 0.0, KC_GEOM_NONE, {1, 1, 1}},
    {"groupnorm(3 pixels, 1 group)", KID(groupnorm), true, c_norm, 3, 2, {{KC_N3, -3.0f, 5.0f}, {KC_C, 0.5f, 1.5f}, {KC_C, U11}}, {{KC_N3, U11}, {KC_R2, U11}}, 1e-5, 1e-5, 0.0, KC_GEOM_NONE, {3, 1, 0}},
    {"groupnorm(3 pixels, group per channel)", KID(groupnorm), true, c_norm, 3, 2, {{KC_N3, -3.0f, 5.0f}, {KC_C, 0.5f, 1.5f}, {KC_C, U11}}, {{KC_N3, U11}, {KC_N2, U11}}, 1e-4, 1e-4, 0.0, KC_GEOM_NONE, {3, 0, 0}},
    {"groupnorm_bwd(layer)", KID(groupnorm_bwd), true, c_norm_bwd, 4, 2, {{KC_N, -3.0f, 5.0f}, {KC_C, 0.5f, 1.5f}, {KC_R2, 0.5f, 1.5f}, {KC_N, U11}}, {{KC_N, U11}, {KC_N2, U11}}, 1e-5, 1e-5, 2e-7, KC_GEOM_NONE, {1, 1, 0}},
    {"groupnorm_bwd(3 pixels, 1 group)", KID(groupnorm_bwd), true, c_norm_bwd, 4, 2, {{KC_N3, -3.0f, 5.0f}, {KC_C, 0.5f, 1.5f}, {KC_R2, 0.5f, 1.5f}, {KC_N3, U11}}, {{KC_N3, U11}, {KC_N2, U11}}, 1e-5, 1e-5, 2e-7, KC_GEOM_NONE, {3, 1, 0}},
    {"groupnorm_bwd(3 pixels, group per channel, no affine)", KID(groupnorm_bwd), true, c_norm_bwd, 4, 2, {{KC_N3, -3.0f, 5.0f}, {KC_C, 0.5f, 1.5f}, {KC_N2, 0.5f, 1.5f}, {KC_N3, U11}}, {{KC_N3, U11}, {KC_N2, U11}}, 1e-5, 1e-5, 0.0, KC_GEOM_NONE, {3, 0, 1}},
    {"avgpool2d(k2 s2)", KID(avgpool2d), true, c_pool, 1, 1, {{KC_WIN_IN, U11}}, {{KC_WIN_OUT, U11}}, 1e-6, 1e-5, 0.0, KC_GEOM_POOL, {2, 2}},
    {"avgpool2d(k3 s1)", KID(avgpool2d), true, c_pool, 1, 1, {{KC_WIN_IN, U11}}, {{KC_WIN_OUT, U11}}, 1e-6, 1e-5, 0.0, KC_GEOM_POOL, {3, 1}},
    {"avgpool2d_bwd(k2 s2)", KID(avgpool2d_bwd), true, c_pool_bwd, 1, 1, {{KC_WIN_OUT, U11}}, {{KC_WIN_IN, U11}}, EXACT, KC_GEOM_POOL, {2, 2}},
    {"avgpool2d_bwd(k3 s1)", KID(avgpool2d_bwd), true, c_pool_bwd, 1, 1, {{KC_WIN_OUT, U11}}, {{KC_WIN_IN, U11}}, EXACT, KC_GEOM_POOL, {3, 1}},
    {"upsample2d(2)", KID(upsample2d), true, c_up, 1, 1, {{KC_WIN_IN, U11}}, {{KC_WIN_OUT, U11}}, EXACT, KC_GEOM_UPSAMPLE, {2}},
    {"upsample2d(3)", KID(upsample2d), true, c_up, 1, 1, {{KC_WIN_IN, U11}}, {{KC_WIN_OUT, U11}}, EXACT, KC_GEOM_UPSAMPLE, {3}},
    {"upsample2d_bwd(2)", KID(upsample2d_bwd), true, c_up_bwd, 1, 1, {{KC_WIN_OUT, U11}}, {{KC_WIN_IN, U11}}, EXACT, KC_GEOM_UPSAMPLE, {2}},
    {"upsample2d_bwd(3)", KID(upsample2d_bwd), true, c_up_bwd, 1, 1, {{KC_WIN_OUT, U11}}, {{KC_WIN_IN, U11}}, EXACT, KC_GEOM_UPSAMPLE, {3}},
    {"im2col(k3x2 s1,2 p1,0)", KID(im2col), true, c_im2col, 1, 1, {{KC_CONV_IN, U11}}, {{KC_CONV_COL, U11}}, EXACT, KC_GEOM_CONV, {3, 2, 1, 2, 1, 0, 1, 1}},
    {"im2col(k2x3 s2,1 p0,2 d2,2)", KID(im2col), true, c_im2col, 1, 1, {{KC_CONV_IN, U11}}, {{KC_CONV_COL, U11}}, EXACT, KC_GEOM_CONV, {2, 3, 2, 1, 0, 2, 2, 2}},
    {"col2im(k3x2 s1,2 p1,0)", KID(col2im), true, c_col2im, 1, 1, {{KC_CONV_COL, U11}}, {{KC_CONV_IN, U11}}, EXACT, KC_GEOM_CONV, {3, 2, 1, 2, 1, 0, 1, 1}},
    {"col2im(k2x3 s2,1 p0,2 d2,2)", KID(col2im), true, c_col2im, 1, 1, {{KC_CONV_COL, U11}}, {{KC_CONV_IN, U11}}, EXACT, KC_GEOM_CONV, {2, 3, 2, 1, 0, 2, 2, 2}},
    {"col2im(k4 s2 p1)", KID(col2im), true, c_col2im, 1, 1, {{KC_CONV_COL, U11}}, {{KC_CONV_IN, U11}}, EXACT, KC_GEOM_CONV, {4, 4, 2, 2, 1, 1, 1, 1}},
    {"reparam", KID(reparam), false, c_reparam, 3, 1, {{KC_N, U11}, {KC_N, -5.0f, 5.0f}, {KC_N, -3.0f, 3.0f}}, {{KC_N, U11}}, GRAD, NOGEOM},
    {"reparam_bwd", KID(reparam_bwd), false, c_reparam_bwd, 3, 2, {{KC_N, -5.0f, 5.0f}, {KC_N, -3.0f, 3.0f}, {KC_N, U11}}, {{KC_N, U11}, {KC_N, U11}}, GRAD, NOGEOM},
    {"adam", KID(adam), false, c_adam, 1, 3, {{KC_N, U11}}, {{KC_N, U11}, {KC_N, 0.0f, 1.0f}, {KC_N, U11}}, 1e-7, 1e-5, 0.0, NOGEOM},
    {"sgd_momentum", KID(sgd_momentum), false, c_sgd, 1, 2, {{KC_N, U11}}, {{KC_N, U11}, {KC_N, U11}}, 1e-7, 1e-6, 0.0, NOGEOM},
};
#define N_HAND (int)(sizeof hand_cases / sizeof hand_cases[0])

/* ---- the activations' cases, generated from their list entries ----
 * forward on the entry's domain and tolerance; backward on the array it
 * reads: x in the domain (reads IN) or y = f(x) of the reference (reads OUT),
 * with dy in [-1,1] and the GRAD tolerance. */
#define ACT_PARAM_0(name) /* none */
#define ACT_PARAM_1(name) 0.2f,

#define ACT_CALLS_(ID, name, reads, np, pname, lo, hi, atol, rtol, _)                                     \
    static void c_##name(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)                   \
    {                                                                                                      \
        UNUSED_CASE;                                                                                       \
        CALL(name)(R * C, ACT_PARAM_##np(name) i[0], o[0]);                                                \
    }                                                                                                      \
    static void c_##name##_bwd(const kcase *c, K *k, size_t R, size_t C, float **i, float **o)             \
    {                                                                                                      \
        UNUSED_CASE;                                                                                       \
        size_t n = R * C;                                                                                  \
        const float *a = i[0];                                                                             \
        float *y = NULL;                                                                                   \
        if (ELBO_ACT_READS_OUT_##reads) { /* the output of the reference forward */                        \
            y = malloc((n ? n : 1) * sizeof *y);                                                           \
            elbo_kernels_scalar.name(n, ACT_PARAM_##np(name) i[0], y);                                     \
            a = y;                                                                                         \
        }                                                                                                  \
        CALL(name##_bwd)(n, ACT_PARAM_##np(name) a, i[1], o[0]);                                           \
        free(y);                                                                                           \
    }
#define ELBO_ACT_READS_OUT_IN 0
#define ELBO_ACT_READS_OUT_OUT 1
ELBO_ACTIVATIONS(ACT_CALLS_, _)

#define ACT_CASES_(ID, name, reads, np, pname, lo, hi, atol, rtol, _)                                        \
    {#name, KID(name), false, c_##name, 1, 1, {{KC_N, lo, hi}}, {{KC_N, U11}}, atol, rtol, 0.0, NOGEOM},     \
        {#name "_bwd", KID(name##_bwd), false, c_##name##_bwd, 2, 1, {{KC_N, lo, hi}, {KC_N, U11}}, {{KC_N, U11}}, \
         GRAD, NOGEOM},
static const kcase act_cases[] = {ELBO_ACTIVATIONS(ACT_CASES_, _)};
#define N_ACT (int)(sizeof act_cases / sizeof act_cases[0])

int kc_count(void) { return N_HAND + N_ACT; }
const kcase *kc_case(int i) { return i < N_HAND ? &hand_cases[i] : &act_cases[i - N_HAND]; }

const kcase *kc_find(const char *name)
{
    for (int i = 0; i < kc_count(); i++)
        if (strcmp(kc_case(i)->name, name) == 0)
            return kc_case(i);
    return NULL;
}

/* ---- shapes and geometries ---- */

const size_t kc_lengths[] = {0, 1, 7, 8, 9, 15, 16, 17, 1000};
const size_t kc_nlengths = sizeof kc_lengths / sizeof kc_lengths[0];
const size_t kc_shapes[][2] = {{3, 17}, {5, 33}, {1, 1000}, {1, 1}, {2, 8}, {7, 15}, {4, 16}, {0, 5}, {64, 9},
                               /* narrow rows: the flat paths of add_bias and the losses */
                               {64, 1}, {64, 2}, {300, 3}, {1000, 1}, {130, 5}, {9, 8}, {33, 16},
                               /* whole batches of 4 vectors only; Fashion-MNIST rows (a batch
                                * tail of one vector) */
                               {2, 128}, {3, 784},
                               /* rows past L1: the one-pass log-sum-exp */
                               {2, 5003}};
const size_t kc_nshapes = sizeof kc_shapes / sizeof kc_shapes[0];

/* Images from (R,C): C channels (capped at 67 so a shape stays small), 1 or
 * 2 images and one more per 100 rows (so a large R splits into tasks), sizes
 * varying with R and C. */
static int img_c(size_t C) { return C ? (int)(C < 67 ? C : 67 - C % 3) : 0; }
static int img_n(size_t R) { return R ? (int)(1 + R % 2 + R / 100) : 0; }

elbo_window2d kc_window_of(const kcase *c, size_t R, size_t C)
{
    elbo_window2d g = {.n = img_n(R), .c = img_c(C), .k = c->gp[0]};
    if (c->geom == KC_GEOM_POOL) {
        g.stride = c->gp[1];
        g.h = g.k + (int)(R % 5);
        g.w = g.k + 1 + (int)(C % 4);
        g.oh = (g.h - g.k) / g.stride + 1;
        g.ow = (g.w - g.k) / g.stride + 1;
    } else { /* upsampling by k */
        g.stride = g.k;
        g.h = 1 + (int)(R % 4);
        g.w = 2 + (int)(C % 3);
        g.oh = g.h * g.k;
        g.ow = g.w * g.k;
    }
    return g;
}

elbo_conv2d_geom kc_conv_of(const kcase *c, size_t R, size_t C)
{
    elbo_conv2d_geom g = {.n = img_n(R), .cin = C ? (int)(1 + C % 5) : 0, .cout = 1,
                          .kh = c->gp[0], .kw = c->gp[1], .stride_h = c->gp[2], .stride_w = c->gp[3],
                          .pad_h = c->gp[4], .pad_w = c->gp[5], .dil_h = c->gp[6], .dil_w = c->gp[7]};
    g.h = g.dil_h * (g.kh - 1) + 1 + (int)(R % 5);
    g.w = g.dil_w * (g.kw - 1) + 1 + (int)(C % 4);
    g.oh = (g.h + 2 * g.pad_h - g.dil_h * (g.kh - 1) - 1) / g.stride_h + 1;
    g.ow = (g.w + 2 * g.pad_w - g.dil_w * (g.kw - 1) - 1) / g.stride_w + 1;
    return g;
}

/* all rows but the first third: a range that does not start at row 0 */
void kc_conv_rows(const elbo_conv2d_geom *g, size_t *row0, size_t *nrows)
{
    size_t total = elbo_conv2d_rows(g);
    *row0 = total / 3;
    *nrows = total - *row0;
}

size_t kc_len(const kcase *c, enum kc_size sz, size_t R, size_t C)
{
    switch (sz) {
    case KC_N: return R * C;
    case KC_R: return R;
    case KC_C: return C;
    case KC_N2: return 2 * R * C;
    case KC_N3: return 3 * R * C;
    case KC_R2: return 2 * R;
    case KC_WIN_IN: {
        elbo_window2d g = kc_window_of(c, R, C);
        return (size_t)g.n * elbo_window2d_in_image(&g);
    }
    case KC_WIN_OUT: {
        elbo_window2d g = kc_window_of(c, R, C);
        return (size_t)g.n * elbo_window2d_out_image(&g);
    }
    case KC_CONV_IN: {
        elbo_conv2d_geom g = kc_conv_of(c, R, C);
        return (size_t)g.n * (size_t)g.h * (size_t)g.w * (size_t)g.cin;
    }
    case KC_CONV_COL: {
        elbo_conv2d_geom g = kc_conv_of(c, R, C);
        size_t row0, nrows;
        kc_conv_rows(&g, &row0, &nrows);
        return nrows * elbo_conv2d_cols(&g);
    }
    }
    return 0;
}

/* ---- arrays with guards ---- */

float *kc_array(size_t n, float lo, float hi, unsigned seed)
{
    float *base = malloc((1 + n + GUARD) * sizeof(float));
    if (!base)
        abort();
    float *p = base + 1;
    tu_fill_uniform(p, n, lo, hi, seed);
    for (size_t g = 0; g < GUARD; g++)
        p[n + g] = GUARD_VALUE;
    return p;
}

void kc_array_free(float *p) { free(p - 1); }

bool kc_guard_ok(const float *p, size_t n)
{
    for (size_t g = 0; g < GUARD; g++)
        if (p[n + g] != GUARD_VALUE)
            return false;
    return true;
}

bool kc_check(const kcase *c, K *got, K *want, size_t R, size_t C, unsigned seed, char *msg, size_t msg_len)
{
    float *in[KC_MAX_ARRAYS], *og[KC_MAX_ARRAYS], *ow[KC_MAX_ARRAYS];
    size_t lin[KC_MAX_ARRAYS], lout[KC_MAX_ARRAYS];
    for (int i = 0; i < c->nin; i++) {
        lin[i] = kc_len(c, c->in[i].sz, R, C);
        in[i] = kc_array(lin[i], c->in[i].lo, c->in[i].hi, seed + 17u * (unsigned)i);
    }
    for (int i = 0; i < c->nout; i++) {
        lout[i] = kc_len(c, c->out[i].sz, R, C);
        og[i] = kc_array(lout[i], c->out[i].lo, c->out[i].hi, seed + 1000u + (unsigned)i);
        ow[i] = kc_array(lout[i], c->out[i].lo, c->out[i].hi, seed + 1000u + (unsigned)i);
    }
    c->call(c, got, R, C, in, og);
    c->call(c, want, R, C, in, ow);
    const char *gname = got ? got->name : "ops.h";
    bool ok = true;
    for (int i = 0; ok && i < c->nout; i++) {
        size_t worst = 0;
        double err = tu_max_rel_err(og[i], ow[i], lout[i], c->atol + c->atol_col * (double)C, c->rtol, &worst);
        if (err > 1.0) {
            snprintf(msg, msg_len, "%s [%s vs %s] R=%zu C=%zu out %d: err %.3g of tol at [%zu]: got %.9g want %.9g",
                     c->name, gname, want->name, R, C, i, err, worst, (double)og[i][worst], (double)ow[i][worst]);
            ok = false;
        } else if (!got && memcmp(og[i], ow[i], lout[i] * sizeof(float)) != 0) {
            snprintf(msg, msg_len, "%s [ops.h] R=%zu C=%zu out %d: not bit-identical to one %s call", c->name, R, C,
                     i, want->name);
            ok = false;
        } else if (!kc_guard_ok(og[i], lout[i])) {
            snprintf(msg, msg_len, "%s [%s] R=%zu C=%zu: wrote past the end of out %d", c->name, gname, R, C, i);
            ok = false;
        }
    }
    for (int i = 0; i < c->nin; i++) {
        if (ok && !kc_guard_ok(in[i], lin[i])) {
            snprintf(msg, msg_len, "%s [%s]: wrote past input %d", c->name, gname, i);
            ok = false;
        }
        kc_array_free(in[i]);
    }
    for (int i = 0; i < c->nout; i++) {
        kc_array_free(og[i]);
        kc_array_free(ow[i]);
    }
    return ok;
}

bool kc_check_all_shapes(const kcase *c, K *got, K *want, char *msg, size_t msg_len)
{
    if (c->rowwise) {
        for (size_t s = 0; s < kc_nshapes; s++)
            if (!kc_check(c, got, want, kc_shapes[s][0], kc_shapes[s][1], 42u + (unsigned)s, msg, msg_len))
                return false;
    } else {
        for (size_t s = 0; s < kc_nlengths; s++)
            if (!kc_check(c, got, want, 1, kc_lengths[s], 7u + (unsigned)s, msg, msg_len))
                return false;
    }
    return true;
}
