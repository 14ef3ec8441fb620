/* Bad weights (negative, NaN, infinite) and bad settings are refused by the
 * validation functions and by the penalties themselves, with one line. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "models/objectives/objectives.h"

static void refused(elbo_status s, const char *what)
{
    cr_expect_eq(s, ELBO_ERR_INVALID, "%s accepted", what);
    cr_expect(strlen(elbo_last_error()) > 0 && !strchr(elbo_last_error(), '\n'), "%s: message '%s'", what,
              elbo_last_error());
}

static const double bad[] = {-1.0, -1e-9, NAN, INFINITY, -INFINITY};

Test(validate, tcvae)
{
    elbo_tcvae_config ok = ELBO_TCVAE_DEFAULT;
    cr_expect_eq(elbo_tcvae_validate(&ok), ELBO_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        elbo_tcvae_config c = ok;
        c.alpha = bad[i];
        refused(elbo_tcvae_validate(&c), "alpha");
        c = ok, c.beta = bad[i];
        refused(elbo_tcvae_validate(&c), "beta");
        c = ok, c.gamma = bad[i];
        refused(elbo_tcvae_validate(&c), "gamma");
    }
    elbo_tcvae_config c = ok;
    c.estimator = (elbo_tc_estimator)7;
    refused(elbo_tcvae_validate(&c), "estimator");
    c = ok, c.dataset_size = 0;
    refused(elbo_tcvae_validate(&c), "dataset size");
    refused(elbo_tcvae_validate(NULL), "NULL");
}

Test(validate, dip)
{
    elbo_dip_config ok = {.kind = ELBO_DIP_II, .lambda_od = 1, .lambda_d = 1};
    cr_expect_eq(elbo_dip_validate(&ok), ELBO_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        elbo_dip_config c = ok;
        c.lambda_od = bad[i];
        refused(elbo_dip_validate(&c), "lambda_od");
        c = ok, c.lambda_d = bad[i];
        refused(elbo_dip_validate(&c), "lambda_d");
    }
    elbo_dip_config c = ok;
    c.kind = (elbo_dip_kind)3;
    refused(elbo_dip_validate(&c), "kind");
}

Test(validate, mmd)
{
    elbo_mmd_config ok = {.kernel = ELBO_MMD_RBF, .lambda = 1, .prior_var = 1};
    cr_expect_eq(elbo_mmd_validate(&ok), ELBO_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        elbo_mmd_config c = ok;
        c.lambda = bad[i];
        refused(elbo_mmd_validate(&c), "lambda");
        c = ok, c.prior_var = bad[i];
        refused(elbo_mmd_validate(&c), "prior variance");
    }
    elbo_mmd_config c = ok;
    c.prior_var = 0.0;
    refused(elbo_mmd_validate(&c), "prior variance 0");
    c = ok, c.kernel = (elbo_mmd_kernel)5;
    refused(elbo_mmd_validate(&c), "kernel");
}

Test(validate, factorvae)
{
    elbo_factor_config ok = ELBO_FACTOR_DEFAULT;
    cr_expect_eq(elbo_factor_validate(&ok), ELBO_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        elbo_factor_config c = ok;
        c.gamma = bad[i];
        refused(elbo_factor_validate(&c), "gamma");
    }
    elbo_factor_config c = ok;
    c.layers = 0;
    refused(elbo_factor_validate(&c), "no layers");
    c = ok, c.adam.lr = NAN;
    refused(elbo_factor_validate(&c), "lr NaN");
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_factor_disc d;
    c = ok, c.gamma = -2;
    refused(elbo_factor_disc_init(&d, 4, &c, &r), "init with a negative gamma");
    elbo_factor_disc_free(&d);
}

/* The penalties validate before they build anything. */
Test(validate, penalties_refuse_bad_weights)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 16), ELBO_OK);
    float x[8] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f};
    elbo_node *mu = elbo_ad_input(t, 4, 2, x), *pen = NULL;
    elbo_tcvae_config tc = ELBO_TCVAE_DEFAULT;
    tc.beta = NAN;
    refused(elbo_tcvae_penalty(t, mu, mu, mu, &tc, &pen, NULL), "tcvae penalty, beta NaN");
    elbo_dip_config dip = {.kind = ELBO_DIP_I, .lambda_od = -1, .lambda_d = 1};
    refused(elbo_dip_penalty(t, mu, NULL, &dip, &pen, NULL), "dip penalty, lambda_od -1");
    elbo_mmd_config mmd = {.kernel = ELBO_MMD_IMQ, .lambda = INFINITY, .prior_var = 1};
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    refused(elbo_mmd_penalty(t, mu, NULL, 0, &r, &mmd, &pen, NULL), "mmd penalty, lambda inf");
    cr_expect_null(pen, "no penalty built");
    cr_expect_eq(elbo_tape_status(t), ELBO_OK, "the tape is untouched");
    /* a batch larger than the data set: MWS and MSS need N >= B */
    tc = ELBO_TCVAE_DEFAULT;
    tc.dataset_size = 3;
    refused(elbo_tcvae_penalty(t, mu, mu, mu, &tc, &pen, NULL), "tcvae, N < B");
    elbo_tape_destroy(t);
}
