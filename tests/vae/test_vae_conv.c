/* The convolutional architecture and the model's files: the gradient of
 * conv models (plain, conditional, convolutions only) against central finite
 * differences with the noise fixed; the shapes planned for 28x28 and 64x64
 * inputs; specs that do not parse or do not fit, refused with one line;
 * checkpoints of conv models (version 2), version 1 records (earlier MLP
 * checkpoints) loading and unknown versions refused by name; safetensors of
 * a conv model in PyTorch's layout, and back; one and two threads training
 * the same bits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/checkpoint.h"
#include "models/io/safetensors.h"
#include "models/vae/component.h"
#include "models/vae/vae_safetensors.h"
#include "models/vae/vae_train.h"
#include "ops/pool.h"
#include "test_util.h"
#include "vae_fixture.h"

static elbo_vae_config conv_config(const char *spec, int z, int classes)
{
    elbo_vae_config c = fx_config(0, z, classes, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    c.image_h = c.image_w = FX_SIDE;
    c.image_c = 1;
    cr_assert_eq(elbo_vae_config_parse_encoder(&c, spec), ELBO_OK, "%s", elbo_last_error());
    return c;
}

static double loss_at(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B, const float *eps)
{
    elbo_tape_reset(t);
    elbo_node *loss;
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    cr_assert_eq(elbo_vae_loss(m, t, x, y, B, &o, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    return loss->x[0];
}

static void check_grad(elbo_vae_config cfg, uint64_t seed)
{
    enum { B = 3 };
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &cfg, &r), ELBO_OK, "%s", elbo_last_error());
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    float x[B * FX_D], y[B * FX_CLASSES] = {0};
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, seed + 1);
    for (int b = 0; b < B; b++)
        y[b * FX_CLASSES + b % FX_CLASSES] = 1.0f;
    const float *yy = cfg.n_classes ? y : NULL;
    float *eps = malloc((size_t)B * cfg.z_dim * sizeof(float));
    elbo_rng_normal_f32(&r, eps, (size_t)B * cfg.z_dim);

    elbo_params *p = &m.params;
    elbo_params_zero_grad(p);
    elbo_tape_reset(t);
    elbo_node *loss;
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    cr_assert_eq(elbo_vae_loss(&m, t, x, yy, B, &o, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
    float *g = malloc(p->n * sizeof(float));
    memcpy(g, p->g, p->n * sizeof(float));
    int checked = 0, convs = 0;
    for (int i = 0; i < p->count; i++) {
        size_t cnt = elbo_param_size(p, i);
        convs += p->info[i].ndim == 4;
        for (size_t k = 0; k < cnt; k += 1 + cnt / 9) {
            float *w = p->w + p->info[i].offset + k, w0 = *w;
            const float h = 2e-3f;
            *w = w0 + h;
            double lp = loss_at(&m, t, x, yy, B, eps);
            *w = w0 - h;
            double lm = loss_at(&m, t, x, yy, B, eps);
            *w = w0;
            double fd = (lp - lm) / (2.0 * h), an = g[p->info[i].offset + k];
            cr_expect(fabs(fd - an) <= 2e-2 + 2e-2 * fabs(fd), "%s[%zu]: analytic %.6g, finite difference %.6g",
                      p->info[i].name, k, an, fd);
            checked++;
        }
    }
    cr_expect_gt(convs, 1, "no convolution weights in %d parameters", p->count);
    cr_assert_gt(checked, 20);
    free(eps);
    free(g);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_conv, gradient_conv_then_dense)
{
    /* 8x8 -> 4x4x3 (k3 s2 p1; the transposed convolution needs output padding 1) -> dense 6 */
    check_grad(conv_config("conv:3:3:2,dense:6", 3, 0), 1);
}

Test(vae_conv, gradient_two_convs_no_dense)
{
    /* 8 -> 4 -> 2 (k4 s2 p1): the head reads the flattened 2x2x3 image */
    check_grad(conv_config("conv:2:4:2,conv:3:4:2", 2, 0), 2);
}

Test(vae_conv, gradient_conditional)
{
    /* the class joins at the dense layer and at the decoder's first */
    check_grad(conv_config("conv:2:3:1,conv:3:4:2:1,dense:5", 2, FX_CLASSES), 3);
}

Test(vae_conv, shapes_for_28_and_64)
{
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_vae m;
    elbo_vae_config c = elbo_vae_config_default();
    c.image_h = c.image_w = 28, c.image_c = 1;
    cr_assert_eq(elbo_vae_config_conv_default(&c), ELBO_OK);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    /* 28 -> 14 -> 7, dense 256 */
    cr_expect(m.net.in[1].h == 14 && m.net.in[2].h == 7 && m.net.in[2].c == 64 && m.net.in[3].c == 256);
    cr_expect_eq(m.params.info[m.out_w].dims[3], 32); /* out: (4,4,1,32) transposed conv back to 1 channel */
    cr_expect_eq(m.params.info[m.out_w].dims[2], 1);
    elbo_vae_free(&m);

    c = elbo_vae_config_default();
    c.x_dim = 64 * 64;
    c.z_dim = 10;
    c.image_h = c.image_w = 64, c.image_c = 1;
    cr_assert_eq(elbo_vae_config_conv_default(&c), ELBO_OK);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    /* Burgess et al.: 64 -> 32 -> 16 -> 8 -> 4 with 32-32-64-64 channels, dense 256 */
    const int side[5] = {64, 32, 16, 8, 4}, ch[5] = {1, 32, 32, 64, 64};
    for (int i = 0; i < 5; i++)
        cr_expect(m.net.in[i].h == side[i] && m.net.in[i].c == ch[i], "layer %d input %dx%dx%d", i, m.net.in[i].h,
                  m.net.in[i].w, m.net.in[i].c);
    cr_expect_eq(m.params.info[m.dec_w[0]].cols, 256);     /* z -> 256 */
    cr_expect_eq(m.params.info[m.dec_w[1]].cols, 4 * 4 * 64); /* 256 -> 4x4x64 */
    /* a forward pass gives (B, 64, 64, 1) logits */
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    float *x = calloc(2 * 4096, sizeof(float)), *mean = malloc(2 * 4096 * sizeof(float));
    cr_assert_eq(elbo_vae_reconstruct(&m, t, x, NULL, 2, 0, mean), ELBO_OK, "%s", elbo_last_error());
    for (int i = 0; i < 2 * 4096; i++)
        cr_assert(mean[i] > 0.0f && mean[i] < 1.0f);
    free(x);
    free(mean);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

/* spec on an 8x8x1 input: refused by parse (parse) or create; the message one line naming `want`. */
static void refused(const char *spec, bool parse, const char *want)
{
    elbo_vae_config c = fx_config(0, 2, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    c.image_h = c.image_w = FX_SIDE;
    c.image_c = 1;
    elbo_status st = elbo_vae_config_parse_encoder(&c, spec);
    if (!parse) {
        cr_assert_eq(st, ELBO_OK, "%s: %s", spec, elbo_last_error());
        elbo_rng r;
        elbo_rng_seed(&r, 1);
        elbo_vae m;
        st = elbo_vae_create(&m, &c, &r);
    }
    cr_expect_eq(st, ELBO_ERR_INVALID, "%s was accepted", spec);
    const char *msg = elbo_last_error();
    cr_expect(strstr(msg, want) && !strchr(msg, '\n'), "%s: %s", spec, msg);
}

Test(vae_conv, bad_specs_are_refused)
{
    refused("conv:32:4", true, "conv:32:4");
    refused("conv:32:4:2,", true, "comma");
    refused("pool:2", true, "pool:2");
    refused("conv:0:3:1", true, "conv:0:3:1");
    refused("dense:-3", true, "dense:-3");
    refused("conv:8:3:1,conv:8:3:1,conv:8:3:1,conv:8:3:1,conv:8:3:1,conv:8:3:1,conv:8:3:1,conv:8:3:1,conv:8:3:1",
            true, "more than");
    refused("conv:4:12:1:0", false, "does not fit");          /* a kernel larger than the image */
    refused("dense:16,conv:4:3:1", false, "needs an image");  /* a convolution after a dense layer */
    refused("conv:4:4:2,conv:4:4:2,conv:4:4:2,conv:4:4:2", false, "layer 4"); /* 8 -> 4 -> 2 -> 1 -> nothing */
    /* an image shape that does not hold the features */
    elbo_vae_config c = fx_config(0, 2, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    c.image_h = 7, c.image_w = 8, c.image_c = 1;
    cr_assert_eq(elbo_vae_config_parse_encoder(&c, "conv:4:3:1"), ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_vae m;
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "7 x 8 x 1") != NULL, "%s", elbo_last_error());
    /* the spec's text round-trips */
    c.image_h = 8;
    cr_assert_eq(elbo_vae_config_parse_encoder(&c, "conv:4:3:1,conv:6:4:2:1,dense:9"), ELBO_OK);
    char buf[128];
    elbo_vae_config_spec(&c, buf, sizeof buf);
    cr_expect_str_eq(buf, "conv:4:3:1:1,conv:6:4:2:1,dense:9");
}

/* A trainer's checkpoint of model c after a few steps, at path; returns the trained model. */
static void train_and_save(elbo_vae_config c, const char *path, elbo_vae *m)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(96, 0.1f, 5, 6, &train), ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 8);
    cr_assert_eq(elbo_vae_create(m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, m, &train, &tc), ELBO_OK, "%s", elbo_last_error());
    for (int s = 0; s < 4; s++) {
        bool end;
        cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
    cr_assert_eq(elbo_vae_trainer_save(&tr, path, "{}", NULL, 0), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_trainer_free(&tr);
    elbo_dataset_free(&train);
}

Test(vae_conv, conv_checkpoint_round_trips)
{
    char *dir = tu_tempdir(), path[1024];
    snprintf(path, sizeof path, "%s/conv.ckpt", dir);
    elbo_vae_config c = conv_config("conv:3:3:2,dense:6", 3, 0);
    elbo_vae a, b;
    train_and_save(c, path, &a);
    cr_assert_eq(elbo_vae_load_model(path, &b), ELBO_OK, "%s", elbo_last_error());
    cr_expect(elbo_vae_config_equal(&a.cfg, &b.cfg));
    cr_expect_eq(a.params.n, b.params.n);
    cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    elbo_vae_free(&a);
    elbo_vae_free(&b);
    free(dir);
}

/* Rewrite the architecture record of the checkpoint at src into dst: its
 * first n numbers, with version v. */
static void rewrite_arch(const char *src, const char *dst, size_t n, float v)
{
    elbo_ckpt ck;
    cr_assert_eq(elbo_ckpt_read(src, &ck), ELBO_OK, "%s", elbo_last_error());
    elbo_ckpt_section *sec = calloc(ck.nsections, sizeof *sec);
    for (size_t i = 0; i < ck.nsections; i++) {
        sec[i] = (elbo_ckpt_section){ck.sections[i].name, ck.sections[i].data, ck.sections[i].count};
        if (strcmp(ck.sections[i].name, "vae.arch") == 0) {
            cr_assert_geq(sec[i].count, n);
            sec[i].count = n;
            sec[i].data[0] = v;
        }
    }
    elbo_ckpt_meta meta = {.config = ck.config, .step = ck.step, .epoch = ck.epoch, .blob = ck.blob,
                           .blob_len = ck.blob_len};
    cr_assert_eq(elbo_ckpt_save(dst, &meta, sec, ck.nsections), ELBO_OK, "%s", elbo_last_error());
    free(sec);
    elbo_ckpt_free(&ck);
}

Test(vae_conv, version_1_loads_and_unknown_versions_are_refused)
{
    char *dir = tu_tempdir(), path[1024], v1[1024], v3[1024];
    snprintf(path, sizeof path, "%s/mlp.ckpt", dir);
    snprintf(v1, sizeof v1, "%s/v1.ckpt", dir);
    snprintf(v3, sizeof v3, "%s/v3.ckpt", dir);
    elbo_vae_config c = fx_config(12, 3, FX_CLASSES, ELBO_VAE_TANH, ELBO_VAE_GAUSSIAN_LEARNED);
    elbo_vae a, b;
    train_and_save(c, path, &a);
    /* version 1: the MLP record of earlier releases, 6 + 8 + 4 numbers */
    rewrite_arch(path, v1, 6 + ELBO_VAE_MAX_HIDDEN + 4, 1.0f);
    cr_assert_eq(elbo_vae_load_model(v1, &b), ELBO_OK, "%s", elbo_last_error());
    cr_expect(elbo_vae_config_equal(&a.cfg, &b.cfg));
    cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0);
    elbo_vae_free(&b);
    /* version 4 does not exist yet; version 3 (two stochastic layers) of the wrong length is refused */
    rewrite_arch(path, v3, 6 + ELBO_VAE_MAX_HIDDEN + 4, 4.0f);
    cr_expect_eq(elbo_vae_load_model(v3, &b), ELBO_ERR_FORMAT);
    const char *msg = elbo_last_error();
    cr_expect(strstr(msg, "version 4") && strstr(msg, "1, 2 and 3") && !strchr(msg, '\n'), "%s", msg);
    rewrite_arch(path, v3, 6 + ELBO_VAE_MAX_HIDDEN + 4, 3.0f);
    cr_expect_eq(elbo_vae_load_model(v3, &b), ELBO_ERR_FORMAT);
    msg = elbo_last_error();
    cr_expect(strstr(msg, "version 3") && strstr(msg, "expected") && !strchr(msg, '\n'), "%s", msg);
    elbo_vae_free(&a);
    free(dir);
}

Test(vae_conv, safetensors_in_pytorch_layout_and_back)
{
    char *dir = tu_tempdir(), path[1024];
    snprintf(path, sizeof path, "%s/conv.safetensors", dir);
    elbo_vae_config c = conv_config("conv:3:3:2,dense:6", 3, 0);
    elbo_rng r;
    elbo_rng_seed(&r, 4);
    elbo_vae a, b;
    cr_assert_eq(elbo_vae_create(&a, &c, &r), ELBO_OK);
    cr_assert_eq(elbo_vae_create(&b, &c, &r), ELBO_OK); /* other weights */
    cr_assert_eq(elbo_vae_save_safetensors(&a, path), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_vae_load_safetensors(&b, path), ELBO_OK, "%s", elbo_last_error());
    cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0, "weights changed on the way");

    elbo_safetensors f;
    cr_assert_eq(elbo_safetensors_open(path, &f), ELBO_OK);
    float buf[4096];
    /* encoder.0.weight: Conv2d (Cout 3, Cin 1, 3, 3); ours (3,3,1,3): [co][ci][ky][kx] = w[ky][kx][ci][co] */
    const elbo_st_tensor *t = elbo_safetensors_find(&f, "encoder.0.weight");
    cr_assert_not_null(t);
    cr_expect(t->ndim == 4 && t->shape[0] == 3 && t->shape[1] == 1 && t->shape[2] == 3 && t->shape[3] == 3);
    cr_assert_eq(elbo_safetensors_read_f32(&f, t, buf), ELBO_OK);
    const float *w = elbo_param_w(&a.params, a.enc_w[0]);
    for (int co = 0; co < 3; co++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                cr_expect_eq(buf[(co * 3 + ky) * 3 + kx], w[(ky * 3 + kx) * 3 + co]);
    /* encoder.2.weight: Linear (6, 48) over PyTorch's CHW flattening of the 4x4x3 image:
     * column c*16 + y*4 + x is our row (y*4 + x)*3 + c */
    t = elbo_safetensors_find(&f, "encoder.2.weight");
    cr_assert(t && t->ndim == 2 && t->shape[0] == 6 && t->shape[1] == 48);
    cr_assert_eq(elbo_safetensors_read_f32(&f, t, buf), ELBO_OK);
    w = elbo_param_w(&a.params, a.enc_w[1]);
    for (int o = 0; o < 6; o++)
        for (int ch = 0; ch < 3; ch++)
            for (int px = 0; px < 16; px++)
                cr_expect_eq(buf[o * 48 + ch * 16 + px], w[(px * 3 + ch) * 6 + o]);
    /* decoder.4.weight (out): ConvTranspose2d (Cin 3, Cout 1, 3, 3); ours (3,3,1,3) */
    t = elbo_safetensors_find(&f, "decoder.4.weight");
    cr_assert(t && t->ndim == 4 && t->shape[0] == 3 && t->shape[1] == 1);
    cr_assert_eq(elbo_safetensors_read_f32(&f, t, buf), ELBO_OK);
    w = elbo_param_w(&a.params, a.out_w);
    for (int ci = 0; ci < 3; ci++)
        for (int k = 0; k < 9; k++)
            cr_expect_eq(buf[ci * 9 + k], w[k * 3 + ci]);
    /* decoder.2.weight: Linear (48, 6) whose output is unflattened CHW to 3x4x4 */
    t = elbo_safetensors_find(&f, "decoder.2.weight");
    cr_assert(t && t->shape[0] == 48 && t->shape[1] == 6);
    elbo_safetensors_close(&f);

    /* an MLP's file does not fit a conv model */
    elbo_vae mlp;
    elbo_vae_config mc = fx_config(6, 3, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    cr_assert_eq(elbo_vae_create(&mlp, &mc, &r), ELBO_OK);
    cr_assert_eq(elbo_vae_save_safetensors(&mlp, path), ELBO_OK);
    cr_expect_eq(elbo_vae_load_safetensors(&b, path), ELBO_ERR_MISMATCH);
    elbo_vae_free(&mlp);
    elbo_vae_free(&a);
    elbo_vae_free(&b);
    free(dir);
}

Test(vae_conv, same_bits_for_one_and_two_threads)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(256, 0.1f, 5, 6, &train), ELBO_OK);
    elbo_vae_config c = conv_config("conv:8:3:1,conv:16:4:2,dense:32", 4, 0);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 64;
    float *w[2];
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(elbo_set_threads(k + 1), ELBO_OK);
        elbo_rng r;
        elbo_rng_seed(&r, 8);
        elbo_vae m;
        cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK);
        elbo_vae_trainer tr;
        cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK);
        for (int s = 0; s < 6; s++) {
            bool end;
            cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
        }
        n = m.params.n;
        w[k] = malloc(n * sizeof(float));
        memcpy(w[k], m.params.w, n * sizeof(float));
        elbo_vae_trainer_free(&tr);
        elbo_vae_free(&m);
    }
    elbo_set_threads(1);
    cr_expect(memcmp(w[0], w[1], n * sizeof(float)) == 0, "1 and 2 threads trained different weights");
    free(w[0]);
    free(w[1]);
    elbo_dataset_free(&train);
}
