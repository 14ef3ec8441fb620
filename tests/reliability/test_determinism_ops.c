/* Determinism of the kernel front-end (ops/ops.h): every call on arrays large
 * enough to be split into tasks gives the same bits for 1 and 2 threads, at
 * every SIMD level, and the same bits as one whole-array kernel call; and of
 * the image layers on the tape (convolutions, normalization, pooling,
 * upsampling, softmax, categorical NLL): forward and gradients with the same
 * bits for 1 and 2 threads at every level. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

static void restore_defaults(void)
{
    elbo_set_threads(1);
    elbo_simd_set(elbo_simd_best());
}

static bool same_bits(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

/* ---------------- kernel front-end ---------------- */

/* Every front-end call on arrays large enough to be split into tasks. */
#define FE_N 100003 /* > ELBO_OPS_PARALLEL_MIN, not a multiple of the chunk */
#define FE_R 257
#define FE_C 389

typedef struct fe_out {
    float add[FE_N], mul[FE_N], axpy[FE_N], tanh_[FE_N], sig[FE_N], sp[FE_N], ex[FE_N], lg[FE_N], sp_bwd[FE_N];
    float rowlse[FE_R], rowmax[FE_R], colsum[FE_C], bias[FE_R * FE_C];
    float bern[FE_R], bern_bwd[FE_R * FE_C], kl[FE_R], kl_dmu[FE_R * FE_C], kl_dlv[FE_R * FE_C];
    float gauss[FE_R], gauss_dm[FE_R * FE_C], gauss_dlv[FE_C];
    float adam_w[FE_N], adam_m[FE_N], adam_v[FE_N];
    float gelu[FE_N], gelu_bwd[FE_N], silu[FE_N], elu[FE_N];
    float softmax[FE_R * FE_C], lsm_bwd[FE_R * FE_C], cat[FE_R], cat_bwd[FE_R * FE_C];
    float norm[FE_R * FE_C], norm_stats[FE_R * 2], norm_dx[FE_R * FE_C], norm_csum[FE_R * 2 * FE_C];
    float pool[FE_N], up_bwd[FE_N];
    double sum;
} fe_out;

static void frontend_run(int threads, const float *a, const float *b, fe_out *o)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK, "%s", elbo_last_error());
    memset(o, 0, sizeof *o);
    float *pos = malloc(FE_N * sizeof *pos), *t01 = malloc(FE_R * FE_C * sizeof *t01);
    float *drow = malloc(FE_R * sizeof *drow), *lv = malloc(FE_C * sizeof *lv);
    for (size_t i = 0; i < FE_N; i++)
        pos[i] = fabsf(a[i]) + 1e-3f;
    tu_fill_uniform(t01, FE_R * FE_C, 0, 1, 5);
    tu_fill_uniform(drow, FE_R, -1, 1, 6);
    tu_fill_uniform(lv, FE_C, -1, 1, 7);

    elbo_add(FE_N, a, b, o->add);
    elbo_mul(FE_N, a, b, o->mul);
    memcpy(o->axpy, b, sizeof o->axpy);
    elbo_axpy(FE_N, 0.3f, a, o->axpy);
    elbo_tanh(FE_N, a, o->tanh_);
    elbo_sigmoid(FE_N, a, o->sig);
    elbo_softplus(FE_N, a, o->sp);
    elbo_exp(FE_N, a, o->ex);
    elbo_log(FE_N, pos, o->lg);
    elbo_softplus_bwd(FE_N, a, b, o->sp_bwd);
    o->sum = elbo_sum(FE_N, a);
    elbo_row_logsumexp(FE_R, FE_C, a, o->rowlse);
    elbo_row_max(FE_R, FE_C, a, o->rowmax);
    elbo_col_sum(FE_R, FE_C, a, o->colsum);
    memcpy(o->bias, b, sizeof o->bias);
    elbo_add_bias(FE_R, FE_C, a, o->bias);
    elbo_bernoulli_nll(FE_R, FE_C, a, t01, o->bern);
    elbo_bernoulli_nll_bwd(FE_R, FE_C, a, t01, drow, o->bern_bwd);
    elbo_kl_diag(FE_R, FE_C, a, b, o->kl);
    elbo_kl_diag_bwd(FE_R, FE_C, a, b, drow, o->kl_dmu, o->kl_dlv);
    elbo_gauss_nll(FE_R, FE_C, a, t01, lv, o->gauss);
    elbo_gauss_nll_bwd(FE_R, FE_C, a, t01, lv, drow, o->gauss_dm, o->gauss_dlv);
    memcpy(o->adam_w, a, sizeof o->adam_w);
    for (int s = 0; s < 3; s++)
        elbo_adam(FE_N, 1e-3f, 0.9f, 0.999f, 1e-8f, b, o->adam_m, o->adam_v, o->adam_w);
    elbo_gelu(FE_N, a, o->gelu);
    elbo_gelu_bwd(FE_N, a, b, o->gelu_bwd);
    elbo_silu(FE_N, a, o->silu);
    elbo_elu(FE_N, 0.7f, a, o->elu);
    elbo_softmax(FE_R, FE_C, 1, a, o->softmax);
    elbo_log_softmax_bwd(FE_R, FE_C, 1, t01, a, o->lsm_bwd);
    int32_t labels[FE_R];
    for (int r = 0; r < FE_R; r++)
        labels[r] = (r * 7) % FE_C;
    elbo_categorical_nll(FE_R, FE_C, a, labels, o->cat);
    elbo_categorical_nll_bwd(FE_R, FE_C, a, labels, drow, o->cat_bwd);
    elbo_groupnorm(FE_R, 1, FE_C, 1, 1e-5f, a, lv, lv, o->norm, o->norm_stats);
    elbo_groupnorm_bwd(FE_R, 1, FE_C, 1, a, lv, o->norm_stats, b, o->norm_dx, o->norm_csum);
    /* 8 images of 50 x 50 x 4 pooled 2 x 2 (100000 floats in), and upsampled back */
    elbo_window2d win = {.n = 10, .h = 50, .w = 50, .c = 4, .k = 2, .stride = 2, .oh = 25, .ow = 25};
    elbo_avgpool2d(&win, a, o->pool);
    elbo_window2d up = {.n = 10, .h = 25, .w = 25, .c = 4, .k = 2, .stride = 2, .oh = 50, .ow = 50};
    elbo_upsample2d_bwd(&up, a, o->up_bwd);
    free(pos), free(t01), free(drow), free(lv);
}

Test(determinism, kernel_frontend_threads, .fini = restore_defaults)
{
    float *a = malloc(FE_N * sizeof *a), *b = malloc(FE_N * sizeof *b);
    tu_fill_uniform(a, FE_N, -4, 4, 1);
    tu_fill_uniform(b, FE_N, -1, 1, 2);
    fe_out *o1 = malloc(sizeof *o1), *o2 = malloc(sizeof *o2);
    for (int level = 0; level < ELBO_SIMD_COUNT; level++) {
        if (!elbo_simd_supported((elbo_simd)level))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)level), ELBO_OK);
        frontend_run(1, a, b, o1);
        frontend_run(2, a, b, o2);
        /* field by field so a failure names the kernel */
#define SAME(f)                                                                                              \
    cr_expect(same_bits(&o1->f, &o2->f, sizeof o1->f), "%s: elbo_" #f " differs between 1 and 2 threads",   \
              elbo_simd_name((elbo_simd)level))
        SAME(add);
        SAME(mul);
        SAME(axpy);
        SAME(tanh_);
        SAME(sig);
        SAME(sp);
        SAME(ex);
        SAME(lg);
        SAME(sp_bwd);
        SAME(sum);
        SAME(rowlse);
        SAME(rowmax);
        SAME(colsum);
        SAME(bias);
        SAME(bern);
        SAME(bern_bwd);
        SAME(kl);
        SAME(kl_dmu);
        SAME(kl_dlv);
        SAME(gauss);
        SAME(gauss_dm);
        SAME(gauss_dlv);
        SAME(adam_w);
        SAME(adam_m);
        SAME(adam_v);
        SAME(gelu);
        SAME(gelu_bwd);
        SAME(silu);
        SAME(elu);
        SAME(softmax);
        SAME(lsm_bwd);
        SAME(cat);
        SAME(cat_bwd);
        SAME(norm);
        SAME(norm_stats);
        SAME(norm_dx);
        SAME(norm_csum);
        SAME(pool);
        SAME(up_bwd);
#undef SAME
        /* elementwise results are the bits of one whole-array call of the level's kernel */
        float *y = malloc(FE_N * sizeof *y);
        elbo_k()->tanh(FE_N, a, y);
        cr_expect(same_bits(y, o2->tanh_, FE_N * sizeof *y), "%s: threaded elbo_tanh != one kernel call",
                  elbo_simd_name((elbo_simd)level));
        free(y);
    }
    free(a), free(b), free(o1), free(o2);
}

/* ---------------- image layers on the tape ---------------- */

/* A small convolutional encoder-decoder through every image layer; the
 * loss and every parameter gradient after one backward. */
#define IMG_N 8
typedef struct img_run {
    float loss;
    float *g; /* the gradient slab */
    size_t n;
} img_run;

static img_run image_net(int threads, const float *x)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK);
    elbo_params p;
    elbo_params_init(&p);
    int w1 = elbo_params_add_nd(&p, "w1", 4, (const int[]){4, 4, 1, 16});
    int b1 = elbo_params_add(&p, "b1", 1, 16);
    int g1 = elbo_params_add(&p, "g1", 1, 16), be1 = elbo_params_add(&p, "be1", 1, 16);
    int w2 = elbo_params_add_nd(&p, "w2", 4, (const int[]){4, 4, 8, 16}); /* transposed: (k,k,Cout,Cin) */
    int b2 = elbo_params_add(&p, "b2", 1, 8);
    int ln = elbo_params_add(&p, "ln", 1, 28 * 28 * 9), lb = elbo_params_add(&p, "lb", 1, 28 * 28 * 9);
    int w3 = elbo_params_add_nd(&p, "w3", 4, (const int[]){3, 3, 9, 4});
    cr_assert(w3 >= 0);
    cr_assert_eq(elbo_params_finalize(&p), ELBO_OK);
    tu_fill_uniform(p.w, p.n, -0.3f, 0.3f, 17);
    elbo_params_fill(&p, g1, 1.0f);
    elbo_params_fill(&p, ln, 1.0f);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 22), ELBO_OK);
    elbo_params_clear_grad(&p);
    elbo_node *in = elbo_ad_input_nd(t, 4, (const int[]){IMG_N, 28, 28, 1}, x);
    elbo_node *h = elbo_ad_conv2d(t, in, elbo_ad_param(t, &p, w1), elbo_ad_param(t, &p, b1),
                                  &ELBO_CONV2D_OPTS(2, 1)); /* (N,14,14,16) */
    h = elbo_ad_gelu(t, elbo_ad_group_norm(t, h, 4, elbo_ad_param(t, &p, g1), elbo_ad_param(t, &p, be1), 1e-5f));
    h = elbo_ad_upsample2d(t, elbo_ad_avg_pool2d(t, h, 2, 2), 2); /* (N,14,14,16) */
    h = elbo_ad_silu(t, elbo_ad_conv_transpose2d(t, h, elbo_ad_param(t, &p, w2), elbo_ad_param(t, &p, b2),
                                                 &ELBO_CONV2D_OPTS(2, 1))); /* (N,28,28,8) */
    h = elbo_ad_concat_channels(t, h, in);                                  /* (N,28,28,9) */
    h = elbo_ad_layer_norm(t, h, elbo_ad_param(t, &p, ln), elbo_ad_param(t, &p, lb), 1e-5f);
    h = elbo_ad_conv2d(t, h, elbo_ad_param(t, &p, w3), NULL, &ELBO_CONV2D_OPTS(1, 1)); /* (N,28,28,4) */
    int32_t labels[IMG_N * 28 * 28];
    for (int i = 0; i < IMG_N * 28 * 28; i++)
        labels[i] = (int32_t)(x[i] * 3.99f);
    elbo_node *nll = elbo_ad_categorical_nll(t, elbo_ad_log_softmax(t, h, -1), labels);
    elbo_node *loss = elbo_ad_mean(t, nll);
    cr_assert(loss, "%s", elbo_last_error());
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
    img_run r = {.loss = loss->x[0], .n = p.n, .g = malloc(p.n * sizeof(float))};
    memcpy(r.g, p.g, p.n * sizeof(float));
    elbo_tape_destroy(t);
    elbo_params_free(&p);
    return r;
}

Test(determinism, image_layers_threads, .fini = restore_defaults)
{
    float *x = malloc(IMG_N * 28 * 28 * sizeof *x);
    tu_fill_uniform(x, IMG_N * 28 * 28, 0, 1, 9);
    for (int level = 0; level < ELBO_SIMD_COUNT; level++) {
        if (!elbo_simd_supported((elbo_simd)level))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)level), ELBO_OK);
        img_run a = image_net(1, x), b = image_net(2, x);
        cr_expect(isfinite(a.loss), "%s: loss %g", elbo_simd_name((elbo_simd)level), (double)a.loss);
        cr_expect(same_bits(&a.loss, &b.loss, sizeof a.loss), "%s: loss differs between 1 and 2 threads",
                  elbo_simd_name((elbo_simd)level));
        cr_expect(a.n == b.n && same_bits(a.g, b.g, a.n * sizeof(float)),
                  "%s: gradients differ between 1 and 2 threads", elbo_simd_name((elbo_simd)level));
        free(a.g), free(b.g);
    }
    free(x);
}
