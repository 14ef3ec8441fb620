/* Importance-weighted bounds (17.28): on a trained model, the ELBO never
 * exceeds the IWAE-K estimate on average, and the estimate rises with K;
 * K = 1 is the ELBO itself. Plus the active-units count. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae/vae_train.h"
#include "test_util.h"
#include "vae_fixture.h"

static elbo_dataset train, test;
static elbo_vae model;

/* A model trained for a few epochs on the fixture (shared by the tests). */
static void setup(void)
{
    cr_assert_eq(fx_dataset(1024, 0.1f, 7, 11, &train), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(fx_dataset(400, 0.1f, 7, 12, &test), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_config c = fx_config(32, 4, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    cr_assert_eq(elbo_vae_create(&model, &c, &r), ELBO_OK);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    tc.adam.lr = 3e-3f;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &model, &train, &tc), ELBO_OK, "%s", elbo_last_error());
    for (int e = 0; e < 5; e++) {
        bool end = false;
        while (!end)
            cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
    elbo_vae_trainer_free(&tr);
}

static void teardown(void)
{
    elbo_vae_free(&model);
    elbo_dataset_free(&train);
    elbo_dataset_free(&test);
}

Test(vae_bounds, elbo_below_iwae_and_rising_with_k, .init = setup, .fini = teardown)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 5);
    /* Average the ELBO over a few noise draws so its MC error is small. */
    double elbo = 0.0;
    for (int rep = 0; rep < 8; rep++) {
        elbo_vae_eval ev;
        cr_assert_eq(elbo_vae_evaluate(&model, t, FX_X(test), NULL, test.n, 0, &r, &ev), ELBO_OK, "%s",
                     elbo_last_error());
        elbo += ev.neg_elbo / 8.0;
    }
    const int ks[4] = {1, 5, 25, 100};
    double nll[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(elbo_vae_iw_nll(&model, t, FX_X(test), NULL, test.n, ks[i], 0, &r, &nll[i], NULL), ELBO_OK, "%s",
                     elbo_last_error());
    /* -ELBO >= -IWAE_K, decreasing in K (bounds rise). K = 1 is the ELBO
     * estimated by sampling: equal up to MC noise. */
    cr_expect(fabs(nll[0] - elbo) < 0.5, "IWAE-1 %.4f vs ELBO %.4f", nll[0], elbo);
    for (int i = 1; i < 4; i++) {
        cr_expect_lt(nll[i], elbo, "IWAE-%d %.4f should be below -ELBO %.4f", ks[i], nll[i], elbo);
        cr_expect_lt(nll[i], nll[i - 1], "IWAE-%d %.4f should be below IWAE-%d %.4f", ks[i], nll[i], ks[i - 1],
                     nll[i - 1]);
    }
    /* The gap is real but bounded: the KL(q || posterior) it closes. */
    cr_expect_gt(elbo - nll[3], 0.05);
    elbo_tape_destroy(t);
}

Test(vae_bounds, iw_per_example_matches_mean, .init = setup, .fini = teardown)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_rng r1, r2;
    elbo_rng_seed(&r1, 9);
    elbo_rng_seed(&r2, 9);
    double *per = malloc(test.n * sizeof(double)), mean, mean2;
    /* Chunking must not change the numbers: the draws happen in the same order. */
    cr_assert_eq(elbo_vae_iw_nll(&model, t, FX_X(test), NULL, test.n, 10, 0, &r1, &mean, per), ELBO_OK);
    double s = 0.0;
    for (size_t i = 0; i < test.n; i++)
        s += per[i];
    cr_expect(fabs(s / (double)test.n - mean) < 1e-9);
    cr_assert_eq(elbo_vae_iw_nll(&model, t, FX_X(test), NULL, test.n, 10, 100, &r2, &mean2, NULL), ELBO_OK);
    cr_expect(fabs(mean2 - mean) < 1e-3, "eval batch changed the estimate: %.6f vs %.6f", mean2, mean);
    free(per);
    elbo_tape_destroy(t);
}

Test(vae_bounds, active_units, .init = setup, .fini = teardown)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    int z = model.cfg.z_dim, active = -1;
    double var[16];
    cr_assert_eq(elbo_vae_active_units(&model, t, FX_X(test), NULL, test.n, 0, 0.01, &active, var), ELBO_OK);
    int expect = 0;
    for (int j = 0; j < z; j++)
        expect += var[j] > 0.01;
    cr_expect_eq(active, expect);
    cr_expect_gt(active, 0, "a trained model uses some latent dimension");

    /* Silence two latents: zero their mean weights and bias, so E_q[z_j|x] is constant. */
    float *W = elbo_param_w(&model.params, model.head_w), *b = elbo_param_w(&model.params, model.head_b);
    int in = model.params.info[model.head_w].rows, out = 2 * z;
    int was = 0;
    for (int j = 0; j < 2; j++)
        was += var[j] > 0.01;
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < in; i++)
            W[i * out + j] = 0.0f;
        b[j] = 0.3f;
    }
    int after = -1;
    cr_assert_eq(elbo_vae_active_units(&model, t, FX_X(test), NULL, test.n, 0, 0.01, &after, var), ELBO_OK);
    cr_expect_eq(after, active - was);
    cr_expect(var[0] < 1e-12 && var[1] < 1e-12);
    /* The threshold is strict and applies to the variance. */
    int none = -1;
    cr_assert_eq(elbo_vae_active_units(&model, t, FX_X(test), NULL, test.n, 0, 1e9, &none, NULL), ELBO_OK);
    cr_expect_eq(none, 0);
    elbo_tape_destroy(t);
}

Test(vae_bounds, sampling_and_reconstruction, .init = setup, .fini = teardown)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    size_t n = 50;
    float *out = malloc(n * FX_D * sizeof(float));
    size_t picked[50];
    cr_assert_eq(elbo_vae_sample_prior(&model, t, NULL, n, &r, out), ELBO_OK);
    for (size_t i = 0; i < n * FX_D; i++)
        cr_assert(out[i] >= 0.0f && out[i] <= 1.0f);
    cr_assert_eq(elbo_vae_sample_aggregate(&model, t, FX_X(train), NULL, train.n, n, &r, out, picked), ELBO_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_lt(picked[i], train.n);
    /* Reconstructions of the encoder mean are close to the data (10% flips). */
    cr_assert_eq(elbo_vae_reconstruct(&model, t, FX_X(test), NULL, n, 0, out), ELBO_OK);
    double err = 0.0;
    for (size_t i = 0; i < n * FX_D; i++)
        err += fabs(out[i] - FX_X(test)[i]);
    cr_expect_lt(err / (double)(n * FX_D), 0.25, "mean reconstruction error %.3f", err / (double)(n * FX_D));
    /* decode(encode(x)) is reconstruct(x). */
    float *mu = malloc(n * 4 * sizeof(float)), *dec = malloc(n * FX_D * sizeof(float));
    cr_assert_eq(elbo_vae_encode(&model, t, FX_X(test), NULL, n, 7, mu, NULL), ELBO_OK);
    cr_assert_eq(elbo_vae_decode(&model, t, mu, NULL, n, 0, dec), ELBO_OK);
    cr_expect(memcmp(dec, out, n * FX_D * sizeof(float)) == 0);
    free(mu);
    free(dec);
    free(out);
    elbo_tape_destroy(t);
}
