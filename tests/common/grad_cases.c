/* The finite-difference gradient cases (see grad_cases.h). */
#include "grad_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* ---- shape rules: input shapes from the test shape (R,C) ---- */

static void set(gcase *c, int i, int ndim, int d0, int d1, int d2, int d3)
{
    c->ndim[i] = ndim;
    int d[4] = {d0, d1, d2, d3};
    for (int k = 0; k < 4; k++)
        c->shape[i][k] = k < ndim ? d[k] : 0;
}
static void set2(gcase *c, int i, int r, int cols) { set(c, i, 2, r, cols, 0, 0); }

static void same_rc(gcase *c, int R, int C)
{
    for (int i = 0; i < c->n_in; i++)
        set2(c, i, R, C);
}
static void row_b(gcase *c, int R, int C) /* a (R,C), b (1,C) */
{
    set2(c, 0, R, C);
    set2(c, 1, 1, C);
}
static void mm(gcase *c, int R, int C) /* a (R,K), b (K,C), K = C+2 (odd with odd C) */
{
    set2(c, 0, R, C + 2);
    set2(c, 1, C + 2, C);
    set2(c, 2, 1, C);
}
static void cat(gcase *c, int R, int C) /* a (R,C), b (R,C/2+1) */
{
    set2(c, 0, R, C);
    set2(c, 1, R, C / 2 + 1);
}
static void slice(gcase *c, int R, int C) /* a (R,C+3) -> a[:, 1:1+C] */
{
    set2(c, 0, R, C + 3);
    c->start = 1;
    c->len = C;
}
static void gauss_learned(gcase *c, int R, int C) /* m, x (R,C), lv (1,C) */
{
    set2(c, 0, R, C);
    set2(c, 1, R, C);
    set2(c, 2, 1, C);
}
/* data some rules make: up to the benchmarks' shape (128, 256) */
#define GC_DATA_MAX (1 << 16)
static float reparam_eps[GC_DATA_MAX];
static void reparam_shape(gcase *c, int R, int C)
{
    same_rc(c, R, C);
    tu_fill_uniform(reparam_eps, (size_t)R * (size_t)C, -2.0f, 2.0f, 77u);
    c->eps = reparam_eps;
}
/* NHWC images from (R,C): 1 or 2 images with small odd sizes and a few
 * channels at the test shapes, growing with R and C for the benchmarks */
static int img_n(int R) { return 1 + R % 2 + R / 32; }
static int img_h(int R) { return 3 + R % 4 + R / 8; }
static int img_w(int C) { return 4 + C % 3 + C / 16; }
static int img_c(int C) { return 1 + C % 3 + C / 64; }
static void image(gcase *c, int R, int C) /* x (N,H,W,C) for every input */
{
    for (int i = 0; i < c->n_in; i++)
        set(c, i, 4, img_n(R), img_h(R), img_w(C), img_c(C));
}
static void image_channel_bias(gcase *c, int R, int C) /* x (N,H,W,C), b (C) */
{
    set(c, 0, 4, img_n(R), img_h(R), img_w(C), img_c(C) + 1);
    set(c, 1, 1, img_c(C) + 1, 0, 0, 0);
}
static void image_pair(gcase *c, int R, int C) /* a (N,H,W,Ca), b (N,H,W,Cb) */
{
    set(c, 0, 4, img_n(R), img_h(R), img_w(C), img_c(C));
    set(c, 1, 4, img_n(R), img_h(R), img_w(C), 2);
}
static void image_reshape(gcase *c, int R, int C) /* x (R, 2C), b (3, C) */
{
    set2(c, 0, R, 2 * C);
    set2(c, 1, 3, C);
}
/* conv: x (N,H,W,Cin), w (k,k,Cin,Cout) (transposed: (k,k,Cout,Cin)), b (Cout); ip = {k, stride, pad, dil, transposed, out_pad} */
static void conv(gcase *c, int R, int C)
{
    int cin = img_c(C), cout = 2 + R % 3 + R / 16, k = c->ip[0], tr = c->ip[4];
    int h = img_h(R) + (c->ip[3] - 1) * (k - 1), w = img_w(C) + (c->ip[3] - 1) * (k - 1);
    set(c, 0, 4, img_n(R), h, w, cin);
    set(c, 1, 4, k, k, tr ? cout : cin, tr ? cin : cout);
    set(c, 2, 1, cout, 0, 0, 0);
}
static void norm_rows(gcase *c, int R, int C) /* x (R,C), gamma, beta (C) */
{
    set2(c, 0, R, C + 1);
    set(c, 1, 1, C + 1, 0, 0, 0);
    set(c, 2, 1, C + 1, 0, 0, 0);
}
static void norm_image(gcase *c, int R, int C) /* x (N,H,W,2G), gamma, beta (2G), G = ip[0] */
{
    int ch = 2 * c->ip[0];
    set(c, 0, 4, img_n(R), img_h(R), img_w(C), ch);
    set(c, 1, 1, ch, 0, 0, 0);
    set(c, 2, 1, ch, 0, 0, 0);
}
static void axis_image(gcase *c, int R, int C) /* x (N,H,W,Ch) with Ch = 2 + C % 5 */
{
    set(c, 0, 4, img_n(R), img_h(R), img_w(C), 2 + C % 5);
}
static void pairs(gcase *c, int R, int C) /* a (R,C), b (R%3+2, C) */
{
    set2(c, 0, R, C);
    set2(c, 1, R % 3 + 2, C);
}
static void pairs_gauss(gcase *c, int R, int C) /* z (R,C), mu and logvar (R%3+2, C) */
{
    set2(c, 0, R, C);
    set2(c, 1, R % 3 + 2, C);
    set2(c, 2, R % 3 + 2, C);
}
static void pairs_gauss_wide(gcase *c, int R, int C) /* z (R,C), mu and logvar (R%3+17, C): past 16 lanes */
{
    set2(c, 0, R, C);
    set2(c, 1, R % 3 + 17, C);
    set2(c, 2, R % 3 + 17, C);
}
static void three_d(gcase *c, int R, int C) /* a (R,3,C) */
{
    set(c, 0, 3, R, 3, C, 0);
}
static int32_t labels_buf[GC_DATA_MAX];
static void labels_rows(gcase *c, int R, int C) /* logits (R, C+1), labels (R) */
{
    set2(c, 0, R, C + 1);
    for (int r = 0; r < R; r++)
        labels_buf[r] = (r * 7 + 3) % (C + 1);
    c->labels = labels_buf;
}
static void labels_image(gcase *c, int R, int C) /* logits (N,H,W,K), labels per pixel */
{
    int K = 3 + C % 4;
    set(c, 0, 4, img_n(R), img_h(R), img_w(C), K);
    int n = img_n(R) * img_h(R) * img_w(C);
    for (int i = 0; i < n; i++)
        labels_buf[i] = (i * 5 + 1) % K;
    c->labels = labels_buf;
}
static void vq_rows(gcase *c, int R, int C) /* z (R,C), codebook (3,C) */
{
    set2(c, 0, R, C);
    set2(c, 1, 3, C);
}
static void vq_image(gcase *c, int R, int C) /* z (N,H,W,D), codebook (3,D) */
{
    int D = img_c(C) + 1;
    set(c, 0, 4, img_n(R), img_h(R), img_w(C), D);
    set2(c, 1, 3, D);
}

/* ---- builders ---- */

#define B(name) static elbo_node *b_##name(elbo_tape *t, elbo_node **in, const gcase *c)
#define NOC (void)c
B(matmul) { NOC; return elbo_ad_matmul(t, in[0], in[1]); }
B(linear) { NOC; return elbo_ad_linear(t, in[0], in[1], in[2]); }
B(linear_nobias) { NOC; return elbo_ad_linear(t, in[0], in[1], NULL); }
B(add) { NOC; return elbo_ad_add(t, in[0], in[1]); }
B(sub) { NOC; return elbo_ad_sub(t, in[0], in[1]); }
B(mul) { NOC; return elbo_ad_mul(t, in[0], in[1]); }
B(scale) { return elbo_ad_scale(t, in[0], c->s); }
B(concat) { NOC; return elbo_ad_concat_cols(t, in[0], in[1]); }
B(concat_channels) { NOC; return elbo_ad_concat_channels(t, in[0], in[1]); }
B(slice) { return elbo_ad_slice_cols(t, in[0], c->start, c->len); }
B(sum) { NOC; return elbo_ad_sum(t, in[0]); }
B(mean) { NOC; return elbo_ad_mean(t, in[0]); }
B(sum_rows) { NOC; return elbo_ad_sum_rows(t, in[0]); }
B(lse) { NOC; return elbo_ad_logsumexp_rows(t, in[0]); }
B(lse_axis) { return elbo_ad_logsumexp_axis(t, in[0], c->ip[0]); }
B(sqdiff_pairs) { NOC; return elbo_ad_sqdiff_pairs(t, in[0], in[1]); }
B(transpose) { NOC; return elbo_ad_transpose(t, in[0]); }
B(gauss_pairs) { NOC; return elbo_ad_gauss_logpdf_pairs(t, in[0], in[1], in[2]); }
B(diag_gauss_pairs) { NOC; return elbo_ad_diag_gauss_logpdf_pairs(t, in[0], in[1], in[2]); }
B(bern) { NOC; return elbo_ad_bernoulli_nll(t, in[0], in[1]); }
B(gauss_fixed) { return elbo_ad_gauss_nll(t, in[0], in[1], NULL, c->s); }
B(gauss_learned) { NOC; return elbo_ad_gauss_nll(t, in[0], in[1], in[2], 0.0f); }
B(kl) { NOC; return elbo_ad_kl_diag(t, in[0], in[1]); }
B(reparam) { return elbo_ad_reparam(t, in[0], in[1], NULL, c->eps); }
/* Both inputs the same node: gradients from the two uses must add up. */
B(mul_self) { NOC; return elbo_ad_mul(t, in[0], in[0]); }
/* (R, 2C) as (R, 2, C) and as its flat view */
B(reshape) { NOC; return elbo_ad_reshape(t, in[0], 3, (const int[]){in[0]->rows, 2, -1}); }
B(flatten) { NOC; return elbo_ad_flatten(t, elbo_ad_reshape(t, in[0], 3, (const int[]){in[0]->rows, 2, -1})); }
/* views consumed by a GEMM whose gradients overwrite (beta 0) through them:
 * a (R,2C) as (2R,C) times b (3,C) as (C,3) */
B(reshape_matmul)
{
    NOC;
    elbo_node *v = elbo_ad_reshape(t, in[0], 2, (const int[]){2 * in[0]->rows, -1});
    return elbo_ad_matmul(t, v, elbo_ad_reshape(t, in[1], 2, (const int[]){in[1]->cols, -1}));
}
B(cat_nll) { return elbo_ad_categorical_nll(t, in[0], c->labels); }
B(softmax) { return elbo_ad_softmax(t, in[0], c->ip[0]); }
B(log_softmax) { return elbo_ad_log_softmax(t, in[0], c->ip[0]); }
B(layer_norm) { return elbo_ad_layer_norm(t, in[0], c->n_in > 1 ? in[1] : NULL, c->n_in > 1 ? in[2] : NULL, c->s); }
B(group_norm) { return elbo_ad_group_norm(t, in[0], c->ip[0], c->n_in > 1 ? in[1] : NULL, c->n_in > 1 ? in[2] : NULL, c->s); }
B(avg_pool) { return elbo_ad_avg_pool2d(t, in[0], c->ip[0], c->ip[1]); }
B(upsample) { return elbo_ad_upsample2d(t, in[0], c->ip[0]); }
static elbo_conv2d_opts conv_opts(const gcase *c)
{
    elbo_conv2d_opts o = {c->ip[1], c->ip[1], c->ip[2], c->ip[2], c->ip[3], c->ip[3], c->ip[5], c->ip[5]};
    return o;
}
B(conv2d)
{
    elbo_conv2d_opts o = conv_opts(c);
    return elbo_ad_conv2d(t, in[0], in[1], c->n_in > 2 ? in[2] : NULL, &o);
}
B(conv_t)
{
    elbo_conv2d_opts o = conv_opts(c);
    return elbo_ad_conv_transpose2d(t, in[0], in[1], c->n_in > 2 ? in[2] : NULL, &o);
}
/* vq_residual away from ties: code k is moved by 5k and vector i by 5 (i % K)
 * in every coordinate, so with entries in [-1,1] each vector's own code is
 * nearer in every coordinate (|diff| <= 2 against >= 3) and a step of h
 * cannot change a choice; every code has vectors once there are K of them. */
static float vq_off_z[GC_DATA_MAX], vq_off_e[GC_DATA_MAX];
B(vq_residual)
{
    NOC;
    int K = in[1]->rows, D = in[1]->cols;
    size_t M = (size_t)in[0]->rows * (size_t)in[0]->cols / (size_t)D;
    for (size_t i = 0; i < M; i++)
        for (int d = 0; d < D; d++)
            vq_off_z[i * (size_t)D + (size_t)d] = 5.0f * (float)(i % (size_t)K);
    for (int k = 0; k < K; k++)
        for (int d = 0; d < D; d++)
            vq_off_e[k * D + d] = 5.0f * (float)k;
    elbo_node *oz = elbo_ad_input_nd(t, in[0]->shape.ndim, in[0]->shape.d, vq_off_z);
    elbo_node *oe = elbo_ad_input(t, K, D, vq_off_e);
    return elbo_ad_vq_residual(t, elbo_ad_add(t, in[0], oz), elbo_ad_add(t, in[1], oe));
}

/* ---- activations: one case per entry of ELBO_ACTIVATIONS ----
 * relu and leaky_relu have a kink at 0: inputs kept h-clear of it; log
 * needs x > 0. Parameters: slope 0.1, alpha 0.7. */
#define ACT_BUILD_0(name) return elbo_ad_##name(t, in[0]);
#define ACT_BUILD_1(name) return elbo_ad_##name(t, in[0], c->s);
#define ACT_BUILDER_(ID, name, reads, np, pname, lo, hi, atol, rtol, _)                                     \
    B(act_##name)                                                                                          \
    {                                                                                                      \
        NOC;                                                                                               \
        ACT_BUILD_##np(name)                                                                               \
    }
ELBO_ACTIVATIONS(ACT_BUILDER_, _)

#define U(l, h) .lo = {l, l, l}, .hi = {h, h, h}
#define ALL {true, true, true}
#define CASE(nm, id, ...) {.name = nm, .op = ELBO_OP_##id, __VA_ARGS__}

static const gcase cases[] = {
    /* ---- linalg ---- */
    CASE("matmul", MATMUL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_matmul, .rule = mm),
    CASE("linear", LINEAR, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_linear, .rule = mm),
    /* the first layer: dX is skipped, dW and db still right */
    CASE("linear_const_x", LINEAR, .n_in = 3, U(-1, 1), .grad = {false, true, true}, .build = b_linear, .rule = mm),
    CASE("linear_no_bias", LINEAR, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_linear_nobias, .rule = mm),
    CASE("concat_cols", CONCAT, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_concat, .rule = cat),
    CASE("concat_channels", CONCAT, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_concat_channels, .rule = image_pair),
    CASE("transpose", TRANSPOSE, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_transpose, .rule = same_rc),
    CASE("sqdiff_pairs", SQDIFF_PAIRS, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_sqdiff_pairs, .rule = pairs),
    CASE("sqdiff_pairs_const_b", SQDIFF_PAIRS, .n_in = 2, U(-1, 1), .grad = {true, false},
         .build = b_sqdiff_pairs, .rule = pairs),
    CASE("gauss_logpdf_pairs", GAUSS_LOGPDF_PAIRS, .n_in = 3, .lo = {-1, -1, -1}, .hi = {1, 1, 0.5f}, .grad = ALL,
         .build = b_gauss_pairs, .rule = pairs_gauss),
    CASE("gauss_logpdf_pairs_const_z", GAUSS_LOGPDF_PAIRS, .n_in = 3, .lo = {-1, -1, -1}, .hi = {1, 1, 0.5f},
         .grad = {false, true, true}, .build = b_gauss_pairs, .rule = pairs_gauss),
    CASE("diag_gauss_logpdf_pairs", DIAG_GAUSS_LOGPDF_PAIRS, .n_in = 3, .lo = {-1, -1, -1}, .hi = {1, 1, 0.5f},
         .grad = ALL, .build = b_diag_gauss_pairs, .rule = pairs_gauss_wide),
    CASE("diag_gauss_logpdf_pairs_const_mu", DIAG_GAUSS_LOGPDF_PAIRS, .n_in = 3, .lo = {-1, -1, -1},
         .hi = {1, 1, 0.5f}, .grad = {true, false, true}, .build = b_diag_gauss_pairs, .rule = pairs_gauss),
    CASE("slice_cols", SLICE_COLS, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_slice, .rule = slice),
    /* ---- views ---- */
    CASE("reshape", RESHAPE, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_reshape, .rule = image_reshape),
    CASE("flatten", RESHAPE, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_flatten, .rule = image_reshape),
    CASE("reshape_into_matmul", MATMUL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_reshape_matmul,
         .rule = image_reshape),
    /* ---- elementwise ---- */
    CASE("add", ADD, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_add, .rule = same_rc),
    CASE("add_row_broadcast", ADD, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_add, .rule = row_b),
    CASE("add_channel_bias", ADD, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_add, .rule = image_channel_bias),
    CASE("add_images", ADD, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_add, .rule = image),
    CASE("sub", SUB, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_sub, .rule = same_rc),
    CASE("sub_row_broadcast", SUB, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_sub, .rule = row_b),
    CASE("mul", MUL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_mul, .rule = same_rc),
    CASE("mul_row_broadcast", MUL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_mul, .rule = row_b),
    CASE("mul_channel_scale", MUL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_mul, .rule = image_channel_bias),
    CASE("mul_same_node_twice", MUL, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_mul_self, .rule = same_rc),
    CASE("scale", SCALE, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_scale, .s = -1.7f, .rule = same_rc),
    CASE("reparam", REPARAM, .n_in = 2, .lo = {-1, -2}, .hi = {1, 1}, .grad = ALL, .build = b_reparam,
         .rule = reparam_shape),
    /* logvar constant: its gradient goes to scratch */
    CASE("reparam_mu_only", REPARAM, .n_in = 2, .lo = {-1, -2}, .hi = {1, 1}, .grad = {true, false},
         .build = b_reparam, .rule = reparam_shape),
    /* ---- activations (inputs kept h-clear of kinks and of log's pole) ---- */
    CASE("relu", RELU, .n_in = 1, U(0.1f, 1), .away_from_zero = {true}, .grad = ALL, .build = b_act_relu, .rule = same_rc),
    CASE("leaky_relu", LEAKY_RELU, .n_in = 1, U(0.1f, 1), .away_from_zero = {true}, .grad = ALL,
         .build = b_act_leaky_relu, .s = 0.1f, .rule = same_rc),
    CASE("tanh", TANH, .n_in = 1, U(-2, 2), .grad = ALL, .build = b_act_tanh, .rule = same_rc),
    CASE("sigmoid", SIGMOID, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_act_sigmoid, .rule = same_rc),
    CASE("softplus", SOFTPLUS, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_act_softplus, .rule = same_rc),
    CASE("exp", EXP, .n_in = 1, U(-2, 2), .grad = ALL, .build = b_act_exp, .rule = same_rc),
    CASE("log", LOG, .n_in = 1, U(0.5f, 2), .grad = ALL, .build = b_act_log, .h = 5e-3f, .rule = same_rc),
    CASE("gelu", GELU, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_act_gelu, .rule = same_rc),
    CASE("gelu_images", GELU, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_act_gelu, .rule = image),
    CASE("silu", SILU, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_act_silu, .rule = same_rc),
    CASE("elu", ELU, .n_in = 1, U(0.1f, 2), .away_from_zero = {true}, .grad = ALL, .build = b_act_elu, .s = 0.7f,
         .rule = same_rc),
    /* ---- reductions and axes ---- */
    CASE("sum", SUM, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_sum, .rule = same_rc),
    CASE("mean", MEAN, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_mean, .rule = same_rc),
    CASE("sum_rows", SUM_ROWS, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_sum_rows, .rule = same_rc),
    CASE("logsumexp_rows", LOGSUMEXP_ROWS, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_lse, .rule = same_rc),
    CASE("logsumexp_axis_middle", LOGSUMEXP_AXIS, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_lse_axis,
         .ip = {1}, .rule = three_d),
    CASE("logsumexp_axis_last", LOGSUMEXP_AXIS, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_lse_axis,
         .ip = {-1}, .rule = same_rc),
    CASE("logsumexp_axis0", LOGSUMEXP_AXIS, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_lse_axis,
         .ip = {0}, .rule = three_d),
    CASE("softmax_rows", SOFTMAX, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_softmax, .ip = {-1}, .rule = same_rc),
    CASE("softmax_axis1_images", SOFTMAX, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_softmax, .ip = {1},
         .rule = axis_image),
    CASE("log_softmax_rows", LOG_SOFTMAX, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_log_softmax, .ip = {1},
         .rule = same_rc),
    CASE("log_softmax_channels", LOG_SOFTMAX, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_log_softmax, .ip = {-1},
         .rule = axis_image),
    CASE("log_softmax_axis0", LOG_SOFTMAX, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_log_softmax, .ip = {0},
         .rule = same_rc),
    /* ---- normalization (values spread so the variance is not tiny; eps 1e-5) ---- */
    CASE("layer_norm", LAYER_NORM, .n_in = 3, .lo = {-2, 0.5f, -1}, .hi = {2, 1.5f, 1}, .grad = ALL,
         .build = b_layer_norm, .s = 1e-5f, .rule = norm_rows, .h = 5e-3f),
    CASE("layer_norm_images", LAYER_NORM, .n_in = 1, U(-2, 2), .grad = ALL, .build = b_layer_norm, .s = 1e-5f,
         .rule = image, .h = 5e-3f),
    CASE("group_norm", GROUP_NORM, .n_in = 3, .lo = {-2, 0.5f, -1}, .hi = {2, 1.5f, 1}, .grad = ALL,
         .build = b_group_norm, .s = 1e-5f, .ip = {2}, .rule = norm_image, .h = 5e-3f),
    CASE("group_norm_one_group", GROUP_NORM, .n_in = 3, .lo = {-2, 0.5f, -1}, .hi = {2, 1.5f, 1}, .grad = ALL,
         .build = b_group_norm, .s = 1e-5f, .ip = {1}, .rule = norm_image, .h = 5e-3f),
    /* ---- image layers ---- */
    CASE("conv2d_k3_s1_p1", CONV2D, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_conv2d, .ip = {3, 1, 1, 1},
         .rule = conv),
    CASE("conv2d_k4_s2_p1", CONV2D, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_conv2d, .ip = {4, 2, 1, 1},
         .rule = conv),
    CASE("conv2d_k3_dil2_no_bias", CONV2D, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_conv2d, .ip = {3, 1, 0, 2},
         .rule = conv),
    CASE("conv2d_const_x", CONV2D, .n_in = 3, U(-1, 1), .grad = {false, true, true}, .build = b_conv2d,
         .ip = {3, 2, 1, 1}, .rule = conv),
    CASE("conv2d_pointwise", CONV2D, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_conv2d, .ip = {1, 1, 0, 1},
         .rule = conv),
    CASE("conv_transpose2d_k4_s2_p1", CONV_TRANSPOSE2D, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_conv_t,
         .ip = {4, 2, 1, 1, 1, 0}, .rule = conv),
    CASE("conv_transpose2d_k3_s2_p1_op1", CONV_TRANSPOSE2D, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_conv_t,
         .ip = {3, 2, 1, 1, 1, 1}, .rule = conv),
    CASE("conv_transpose2d_k3_s1_no_bias", CONV_TRANSPOSE2D, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_conv_t,
         .ip = {3, 1, 0, 1, 1, 0}, .rule = conv),
    CASE("avg_pool2d_k2_s2", AVG_POOL2D, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_avg_pool, .ip = {2, 2},
         .rule = image),
    CASE("avg_pool2d_k3_s1", AVG_POOL2D, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_avg_pool, .ip = {3, 1},
         .rule = image),
    CASE("upsample2d_2", UPSAMPLE2D, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_upsample, .ip = {2}, .rule = image),
    CASE("upsample2d_3", UPSAMPLE2D, .n_in = 1, U(-1, 1), .grad = ALL, .build = b_upsample, .ip = {3}, .rule = image),
    /* ---- fused losses ---- */
    CASE("bernoulli_nll", BERNOULLI_NLL, .n_in = 2, .lo = {-3, 0}, .hi = {3, 1}, .grad = ALL, .build = b_bern,
         .rule = same_rc),
    CASE("bernoulli_nll_const_target", BERNOULLI_NLL, .n_in = 2, .lo = {-3, 0}, .hi = {3, 1},
         .grad = {true, false}, .build = b_bern, .rule = same_rc),
    CASE("gauss_nll_fixed", GAUSS_NLL, .n_in = 2, U(-1, 1), .grad = {true, false}, .build = b_gauss_fixed,
         .s = -0.5f, .rule = same_rc),
    CASE("gauss_nll_fixed_target_grad", GAUSS_NLL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_gauss_fixed,
         .s = -0.5f, .rule = same_rc),
    CASE("gauss_nll_learned", GAUSS_NLL, .n_in = 3, U(-1, 1), .grad = {true, false, true},
         .build = b_gauss_learned, .rule = gauss_learned),
    CASE("gauss_nll_learned_all", GAUSS_NLL, .n_in = 3, U(-1, 1), .grad = ALL, .build = b_gauss_learned,
         .rule = gauss_learned),
    CASE("kl_diag", KL_DIAG, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_kl, .rule = same_rc),
    CASE("kl_diag_mu_only", KL_DIAG, .n_in = 2, U(-1, 1), .grad = {true, false}, .build = b_kl, .rule = same_rc),
    CASE("categorical_nll", CATEGORICAL_NLL, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_cat_nll,
         .rule = labels_rows),
    CASE("categorical_nll_per_pixel", CATEGORICAL_NLL, .n_in = 1, U(-3, 3), .grad = ALL, .build = b_cat_nll,
         .rule = labels_image),
    CASE("vq_residual", VQ_RESIDUAL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_vq_residual, .rule = vq_rows),
    CASE("vq_residual_const_codebook", VQ_RESIDUAL, .n_in = 2, U(-1, 1), .grad = {true, false},
         .build = b_vq_residual, .rule = vq_rows),
    CASE("vq_residual_images", VQ_RESIDUAL, .n_in = 2, U(-1, 1), .grad = ALL, .build = b_vq_residual,
         .rule = vq_image),
};

int gc_count(void) { return (int)(sizeof cases / sizeof cases[0]); }

gcase gc_case(int i)
{
    gcase c = cases[i];
    if (c.h == 0.0f)
        c.h = 1e-2f;
    if (c.atol == 0.0)
        c.atol = 2e-3;
    if (c.rtol == 0.0)
        c.rtol = 1e-2;
    return c;
}

const int gc_shapes[][2] = {{1, 1}, {3, 7}, {5, 17}, {16, 33}};
const int gc_nshapes = (int)(sizeof gc_shapes / sizeof gc_shapes[0]);

/* ---- the check ---- */

static size_t in_size(const gcase *c, int i)
{
    size_t n = 1;
    for (int k = 0; k < c->ndim[i]; k++)
        n *= (size_t)c->shape[i][k];
    return n;
}

bool gc_setup(gcase *c, int R, int C, elbo_params *p)
{
    c->rule(c, R, C);
    for (int i = 0; i < c->n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        if (elbo_params_add_nd(p, name, c->ndim[i], c->shape[i]) != i)
            return false;
    }
    if (elbo_params_finalize(p) != ELBO_OK)
        return false;
    for (int i = 0; i < c->n_in; i++) {
        size_t n = in_size(c, i);
        float *w = elbo_param_w(p, i);
        tu_fill_uniform(w, n, c->lo[i], c->hi[i], 1000u + 7u * (uint64_t)i + 131u * (uint64_t)(R * 64 + C));
        if (c->away_from_zero[i]) {
            float *sign = malloc(n * sizeof *sign);
            tu_fill_uniform(sign, n, -1.0f, 1.0f, 99u + (uint64_t)i);
            for (size_t j = 0; j < n; j++)
                w[j] = sign[j] < 0.0f ? -w[j] : w[j];
            free(sign);
        }
    }
    return true;
}

elbo_node *gc_graph(const gcase *c, elbo_tape *t, elbo_params *p)
{
    elbo_node *in[GC_MAX_IN];
    for (int i = 0; i < c->n_in; i++)
        in[i] = c->grad[i] ? elbo_ad_param(t, p, i) : elbo_ad_input_nd(t, c->ndim[i], c->shape[i], elbo_param_w(p, i));
    return c->build(t, in, c);
}

/* L = sum R . y, in double from the float outputs */
static double project(const elbo_node *y, const float *Rw)
{
    double L = 0.0;
    for (size_t i = 0; i < (size_t)y->rows * (size_t)y->cols; i++)
        L += (double)Rw[i] * (double)y->x[i];
    return L;
}

int gc_check(gcase c, int R, int C, char *msg, size_t msg_len)
{
    elbo_params p;
    elbo_params_init(&p);
    elbo_tape *t = NULL;
    int bad = -1;
    msg[0] = '\0';
    if (!gc_setup(&c, R, C, &p) || elbo_tape_create(&t, 1 << 16) != ELBO_OK) {
        snprintf(msg, msg_len, "%s (%d,%d): setup failed: %s", c.name, R, C, elbo_last_error());
        goto out;
    }
    /* reverse mode */
    elbo_params_zero_grad(&p);
    elbo_node *y = gc_graph(&c, t, &p);
    if (!y || y->op != c.op) {
        snprintf(msg, msg_len, "%s (%d,%d): %s", c.name, R, C,
                 y ? "the graph's result is not of the case's op" : elbo_last_error());
        goto out;
    }
    size_t ny = (size_t)y->rows * (size_t)y->cols;
    float *Rw = malloc(ny * sizeof *Rw), *ad = malloc(p.n * sizeof *ad);
    tu_fill_uniform(Rw, ny, -1.0f, 1.0f, 4242u + ny);
    elbo_node *L = elbo_ad_sum(t, elbo_ad_mul(t, y, elbo_ad_input_nd(t, y->shape.ndim, y->shape.d, Rw)));
    if (elbo_backward(t, L) != ELBO_OK) {
        snprintf(msg, msg_len, "%s (%d,%d): backward: %s", c.name, R, C, elbo_last_error());
        free(Rw), free(ad);
        goto out;
    }
    memcpy(ad, p.g, p.n * sizeof *ad);
    /* central differences, forward only */
    elbo_tape_set_grad(t, false);
    bad = 0;
    int checked = 0;
    for (int i = 0; i < c.n_in; i++) {
        if (!c.grad[i])
            continue;
        float *w = elbo_param_w(&p, i);
        const float *g = ad + p.info[i].offset;
        for (size_t j = 0; j < in_size(&c, i); j++) {
            float w0 = w[j], wp = w0 + c.h, wm = w0 - c.h;
            w[j] = wp;
            elbo_tape_reset(t);
            double Lp = project(gc_graph(&c, t, &p), Rw);
            w[j] = wm;
            elbo_tape_reset(t);
            double Lm = project(gc_graph(&c, t, &p), Rw);
            w[j] = w0;
            double fd = (Lp - Lm) / ((double)wp - (double)wm), err = fabs(fd - (double)g[j]);
            checked++;
            if (err > c.atol + c.rtol * fabs(fd) && bad++ == 0)
                snprintf(msg, msg_len, "%s [%s] (%d,%d): d in%d[%zu] fd %.6g ad %.6g (|err| %.3g > %.3g + %.3g|fd|)",
                         c.name, elbo_simd_name(elbo_simd_current()), R, C, i, j, fd, (double)g[j], err, c.atol,
                         c.rtol);
        }
    }
    /* the padding of the gradient slab is never written */
    for (int i = 0; i < c.n_in; i++) {
        size_t end = p.info[i].offset + in_size(&c, i), next = i + 1 < c.n_in ? p.info[i + 1].offset : p.n;
        for (size_t k = end; k < next; k++)
            if (ad[k] != 0.0f && bad++ == 0)
                snprintf(msg, msg_len, "%s (%d,%d): gradient padding written at %zu", c.name, R, C, k);
    }
    if (checked == 0 && bad++ == 0)
        snprintf(msg, msg_len, "%s: no gradient checked", c.name);
    free(Rw), free(ad);
out:
    elbo_tape_destroy(t);
    elbo_params_free(&p);
    return bad;
}
