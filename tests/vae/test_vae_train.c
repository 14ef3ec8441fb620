/* Training behaviour: the conditional VAE beats the VAE of the same size,
 * a checkpointed-and-resumed run equals an uninterrupted one bit for bit,
 * KL warm-up and free-bits schedules, and the non-finite guard. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae/component.h"
#include "models/vae/vae_train.h"
#include "ops/pool.h"
#include "test_util.h"
#include "vae_fixture.h"

static double train_and_eval(elbo_vae_config c, const elbo_dataset *train, const elbo_dataset *test, int epochs)
{
    elbo_rng r;
    elbo_rng_seed(&r, 21);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    tc.adam.lr = 3e-3f;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, train, &tc), ELBO_OK, "%s", elbo_last_error());
    for (int e = 0; e < epochs; e++) {
        bool end = false;
        while (!end)
            cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    float *y = c.n_classes ? fx_one_hot(test, c.n_classes) : NULL;
    elbo_rng er;
    elbo_rng_seed(&er, 4);
    double nll;
    /* IWAE-50: a low-variance estimate of -log p(x), fair to both models. */
    cr_assert_eq(elbo_vae_iw_nll(&m, t, FX_X(*test), y, test->n, 50, 0, &er, &nll, NULL), ELBO_OK, "%s",
                 elbo_last_error());
    free(y);
    elbo_tape_destroy(t);
    elbo_vae_trainer_free(&tr);
    elbo_vae_free(&m);
    return nll;
}

Test(vae_train, cvae_at_or_below_vae)
{
    elbo_dataset train, test;
    cr_assert_eq(fx_dataset(1024, 0.05f, 3, 1, &train), ELBO_OK);
    cr_assert_eq(fx_dataset(512, 0.05f, 3, 2, &test), ELBO_OK);
    /* With one latent dimension the VAE must squeeze the class through z;
     * the CVAE is told it. */
    double vae = train_and_eval(fx_config(32, 1, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI), &train, &test, 6);
    double cvae = train_and_eval(fx_config(32, 1, FX_CLASSES, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI), &train, &test, 6);
    cr_expect_leq(cvae, vae, "CVAE -log p(x) %.3f should be at or below the VAE's %.3f", cvae, vae);
    elbo_dataset_free(&train);
    elbo_dataset_free(&test);
}

/* Train `steps` steps (or to the end of `epochs` epochs when steps < 0). */
static void run_steps(elbo_vae_trainer *tr, long steps)
{
    for (long s = 0; s < steps; s++) {
        bool end;
        cr_assert_eq(elbo_vae_trainer_step(tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
}

static void resume_case(elbo_vae_config c, elbo_vae_train_config tc, long total, long split)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(300, 0.1f, 5, 6, &train), ELBO_OK);
    char *dir = tu_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/ck.ckpt", dir);

    /* Uninterrupted. */
    elbo_rng r;
    elbo_rng_seed(&r, 8);
    elbo_vae a;
    cr_assert_eq(elbo_vae_create(&a, &c, &r), ELBO_OK);
    elbo_vae_trainer ta;
    cr_assert_eq(elbo_vae_trainer_init(&ta, &a, &train, &tc), ELBO_OK, "%s", elbo_last_error());
    run_steps(&ta, total);

    /* Interrupted after `split` steps, then a fresh process-like restart. */
    elbo_rng_seed(&r, 8);
    elbo_vae b;
    cr_assert_eq(elbo_vae_create(&b, &c, &r), ELBO_OK);
    elbo_vae_trainer tb;
    cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
    run_steps(&tb, split);
    const char hist[] = "driver history";
    cr_assert_eq(elbo_vae_trainer_save(&tb, path, "{\"cfg\":1}", hist, sizeof hist), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_trainer_free(&tb);
    elbo_vae_free(&b);

    elbo_rng_seed(&r, 99); /* different init: everything must come from the checkpoint */
    cr_assert_eq(elbo_vae_create(&b, &c, &r), ELBO_OK);
    cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
    /* A different config string is refused. */
    cr_expect_eq(elbo_vae_trainer_load(&tb, path, "{\"cfg\":2}", NULL, NULL), ELBO_ERR_MISMATCH);
    void *extra = NULL;
    size_t extra_len = 0;
    cr_assert_eq(elbo_vae_trainer_load(&tb, path, "{\"cfg\":1}", &extra, &extra_len), ELBO_OK, "%s",
                 elbo_last_error());
    cr_expect_eq(extra_len, sizeof hist);
    cr_expect(extra && memcmp(extra, hist, sizeof hist) == 0);
    free(extra);
    run_steps(&tb, total - split);

    const elbo_params *pa = &a.params, *pb = &b.params;
    cr_expect_eq(pa->step, pb->step);
    cr_expect(memcmp(pa->w, pb->w, pa->n * sizeof(float)) == 0, "weights differ after resume");
    cr_expect(memcmp(pa->m, pb->m, pa->n * sizeof(float)) == 0, "Adam m differs after resume");
    cr_expect(memcmp(pa->v, pb->v, pa->n * sizeof(float)) == 0, "Adam v differs after resume");
    cr_expect(ta.acc.neg_elbo == tb.acc.neg_elbo && ta.acc.n == tb.acc.n, "epoch sums differ: %.17g vs %.17g",
              ta.acc.neg_elbo, tb.acc.neg_elbo);
    cr_expect_eq(elbo_vae_trainer_epoch(&ta), elbo_vae_trainer_epoch(&tb));

    /* The model alone loads from the same file. */
    elbo_vae only;
    cr_assert_eq(elbo_vae_load_model(path, &only), ELBO_OK, "%s", elbo_last_error());
    cr_expect(elbo_vae_config_equal(&only.cfg, &c));
    elbo_vae_free(&only);

    elbo_vae_trainer_free(&ta);
    elbo_vae_trainer_free(&tb);
    elbo_vae_free(&a);
    elbo_vae_free(&b);
    elbo_dataset_free(&train);
    free(dir);
}

Test(vae_train, resume_is_bit_identical)
{
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32; /* 300 examples: 10 steps per epoch, the last one short */
    /* Split mid-epoch, and exactly at an epoch boundary. */
    resume_case(fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI), tc, 27, 13);
    resume_case(fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI), tc, 27, 10);
}

Test(vae_train, resume_with_every_stream)
{
    /* Dynamic binarization, warm-up, free bits and a conditional model: every RNG stream and schedule. */
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 50;
    tc.dynamic_binarize = true;
    tc.warmup_epochs = 2.0f;
    tc.warmup = ELBO_VAE_WARMUP_SIGMOID;
    tc.free_bits = 0.1f;
    tc.mc_samples = 2;
    resume_case(fx_config(16, 3, FX_CLASSES, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI), tc, 20, 7);
    elbo_vae_train_config iw = ELBO_VAE_TRAIN_DEFAULT;
    iw.batch = 64;
    iw.iw_k = 3;
    resume_case(fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_GAUSSIAN_LEARNED), iw, 12, 5);
}

Test(vae_train, resume_conv_and_capacity)
{
    /* A convolutional model trained on the capacity objective while C rises. */
    elbo_vae_config c = fx_config(0, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    c.image_h = c.image_w = FX_SIDE;
    c.image_c = 1;
    cr_assert_eq(elbo_vae_config_parse_encoder(&c, "conv:4:3:2,dense:8"), ELBO_OK);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    tc.objective = &elbo_objective_beta_capacity;
    tc.gamma = 50.0f;
    tc.capacity_max = 4.0f;
    tc.capacity_epochs = 2.0f;
    resume_case(c, tc, 23, 11);
}

Test(vae_train, warmup_schedules)
{
    elbo_vae_train_config c = ELBO_VAE_TRAIN_DEFAULT;
    c.beta = 2.0f;
    cr_expect_eq(elbo_vae_kl_weight(&c, 0, 100), 2.0f, "no warm-up: beta from the start");
    c.warmup_epochs = 2.0f; /* 200 steps */
    cr_expect_eq(elbo_vae_kl_weight(&c, 0, 100), 0.0f);
    cr_expect(fabsf(elbo_vae_kl_weight(&c, 50, 100) - 0.5f) < 1e-6f);
    cr_expect(fabsf(elbo_vae_kl_weight(&c, 100, 100) - 1.0f) < 1e-6f);
    cr_expect_eq(elbo_vae_kl_weight(&c, 200, 100), 2.0f);
    cr_expect_eq(elbo_vae_kl_weight(&c, 5000, 100), 2.0f);
    c.warmup = ELBO_VAE_WARMUP_SIGMOID;
    cr_expect(fabsf(elbo_vae_kl_weight(&c, 0, 100)) < 1e-6f);
    cr_expect(fabsf(elbo_vae_kl_weight(&c, 100, 100) - 1.0f) < 1e-6f, "symmetric about the middle");
    cr_expect(fabsf(elbo_vae_kl_weight(&c, 200, 100) - 2.0f) < 1e-6f);
    float prev = -1.0f;
    for (long s = 0; s <= 200; s++) {
        float w = elbo_vae_kl_weight(&c, s, 100);
        cr_assert_geq(w, prev, "monotone at step %ld", s);
        prev = w;
    }
    cr_expect_lt(elbo_vae_kl_weight(&c, 20, 100), 0.1f * 2.0f, "sigmoid starts slower than linear");
}

Test(vae_train, free_bits_floor)
{
    elbo_vae_config c = fx_config(16, 4, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng r;
    elbo_rng_seed(&r, 2);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    const int B = 8;
    float x[B * FX_D];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 3);
    float eps[B * 4];
    elbo_rng_normal_f32(&r, eps, B * 4);

    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    elbo_node *loss;
    elbo_vae_batch_stats plain, fb;
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &plain), ELBO_OK);
    /* A floor above every dimension's KL: the KL term is B * Z * lambda and
     * passes no gradient to the encoder head. */
    o.free_bits = 50.0f;
    elbo_tape_reset(t);
    elbo_params_zero_grad(&m.params);
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &fb), ELBO_OK);
    cr_expect(fabs(fb.loss - (plain.rec + B * 4 * 50.0)) < 1e-3 * fb.loss, "loss %.6f vs %.6f", fb.loss,
              plain.rec + B * 4 * 50.0);
    cr_expect(fb.kl == plain.kl && fb.neg_elbo == plain.neg_elbo, "reported KL is the true KL");
    /* A floor of ~0: the same as no free bits. */
    o.free_bits = 1e-9f;
    elbo_tape_reset(t);
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &fb), ELBO_OK);
    cr_expect(fabs(fb.loss - plain.loss) < 1e-4 * plain.loss, "loss %.6f vs %.6f", fb.loss, plain.loss);
    /* The beta weight scales the KL term only. */
    o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.kl_weight = 3.0f;
    elbo_tape_reset(t);
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &fb), ELBO_OK);
    cr_expect(fabs(fb.loss - (plain.rec + 3.0 * plain.kl)) < 1e-4 * fb.loss);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_train, nonfinite_input_is_reported)
{
    elbo_vae_config c = fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng r;
    elbo_rng_seed(&r, 2);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    const int B = 4;
    float x[B * FX_D];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 3);
    x[2 * FX_D + 5] = NAN;
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    elbo_node *loss = (elbo_node *)1;
    cr_expect_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, &r, NULL, &loss, NULL), ELBO_ERR_NONFINITE);
    cr_expect_null(loss);
    cr_expect(strstr(elbo_last_error(), "example 2, feature 5") != NULL, "message: %s", elbo_last_error());
    /* Evaluation reports it too. */
    elbo_vae_eval ev;
    cr_expect_eq(elbo_vae_evaluate(&m, t, x, NULL, B, 0, &r, &ev), ELBO_ERR_NONFINITE);
    double nll;
    cr_expect_eq(elbo_vae_iw_nll(&m, t, x, NULL, B, 5, 0, &r, &nll, NULL), ELBO_ERR_NONFINITE);

    /* In training: the step fails naming the step, and the weights are untouched. */
    elbo_dataset ds;
    cr_assert_eq(fx_dataset(64, 0.1f, 1, 1, &ds), ELBO_OK);
    FX_X(ds)[10 * FX_D + 3] = INFINITY; /* behind the loader's back */
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 64;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &ds, &tc), ELBO_OK);
    float *w0 = malloc(m.params.n * sizeof(float));
    memcpy(w0, m.params.w, m.params.n * sizeof(float));
    bool end;
    cr_expect_eq(elbo_vae_trainer_step(&tr, &end), ELBO_ERR_NONFINITE);
    cr_expect(strstr(elbo_last_error(), "step 1") != NULL, "message: %s", elbo_last_error());
    cr_expect(memcmp(w0, m.params.w, m.params.n * sizeof(float)) == 0);
    cr_expect_eq(m.params.step, 0);

    /* A parameter gone bad is named through its gradient or the loss. */
    FX_X(ds)[10 * FX_D + 3] = 0.5f;
    elbo_param_w(&m.params, m.out_b)[7] = NAN;
    cr_expect_eq(elbo_vae_trainer_step(&tr, &end), ELBO_ERR_NONFINITE);
    cr_expect(strstr(elbo_last_error(), "step 1") != NULL, "message: %s", elbo_last_error());

    free(w0);
    elbo_vae_trainer_free(&tr);
    elbo_dataset_free(&ds);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_train, same_bits_for_one_and_two_threads)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(512, 0.1f, 5, 6, &train), ELBO_OK);
    /* Wide enough that GEMMs and slab passes split into several tasks. */
    elbo_vae_config c = fx_config(300, 8, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 128;
    float *w[2];
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(elbo_set_threads(k + 1), ELBO_OK);
        elbo_rng r;
        elbo_rng_seed(&r, 8);
        elbo_vae m;
        cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK);
        elbo_vae_trainer tr;
        cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK);
        run_steps(&tr, 9);
        w[k] = malloc(m.params.n * sizeof(float));
        memcpy(w[k], m.params.w, m.params.n * sizeof(float));
        elbo_vae_trainer_free(&tr);
        elbo_vae_free(&m);
    }
    elbo_set_threads(1);
    elbo_vae m0;
    elbo_rng r;
    elbo_rng_seed(&r, 8);
    cr_assert_eq(elbo_vae_create(&m0, &c, &r), ELBO_OK);
    cr_expect(memcmp(w[0], w[1], m0.params.n * sizeof(float)) == 0, "1 and 2 threads trained different weights");
    elbo_vae_free(&m0);
    free(w[0]);
    free(w[1]);
    elbo_dataset_free(&train);
}
