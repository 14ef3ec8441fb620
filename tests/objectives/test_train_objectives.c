/* Each objective of the registry trains: a few epochs of a small VAE on the
 * synthetic fixture through the trainer, every step finite, the penalty
 * present and finite, the training negative ELBO falling, and the same bits
 * from the same seed (the MMD's prior streams, FactorVAE's permutations and
 * discriminator included). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "../vae/vae_fixture.h"
#include "models/objectives/objectives.h"
#include "models/vae/component.h"
#include "models/vae/vae_train.h"

/* no pointers in a case: each test may run in a fresh process image */
typedef struct run_case {
    char name[16];
    int variant;
    float alpha, lambda, gamma;
} run_case;

static const run_case cases[] = {
    {"tcvae", 0, 1.0f, 6.0f, 1.0f},  {"tcvae", 1, 1.0f, 6.0f, 1.0f}, {"dip1", 0, 100.0f, 10.0f, 1.0f},
    {"dip2", 0, 10.0f, 10.0f, 1.0f}, {"mmd", 0, 0.0f, 10.0f, 1.0f},  {"mmd", 1, 0.0f, 10.0f, 1.0f},
    {"factorvae", 0, 0.0f, 0.0f, 6.4f},
};

typedef struct outcome {
    double first, last, penalty;
    float w[4096];
    size_t n;
    float disc_w0, disc_w;
} outcome;

static void train(const run_case *c, const elbo_dataset *data, outcome *out)
{
    int id = -1;
    cr_assert_eq(elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, c->name, &id), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_config cfg = fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng init;
    elbo_rng_seed(&init, 7);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &cfg, &init), ELBO_OK);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    tc.seed = 11;
    tc.objective = elbo_vae_objective_by_id(id);
    tc.variant = c->variant, tc.alpha = c->alpha, tc.lambda = c->lambda, tc.gamma = c->gamma;
    elbo_factor_disc disc = {0};
    elbo_objective_state st = {.seed = 5};
    if (strcmp(c->name, "factorvae") == 0) {
        elbo_factor_config fc = ELBO_FACTOR_DEFAULT;
        fc.hidden = 32;
        fc.gamma = c->gamma;
        elbo_rng r;
        elbo_rng_seed(&r, 3);
        cr_assert_eq(elbo_factor_disc_init(&disc, cfg.z_dim, &fc, &r), ELBO_OK);
        st.disc = &disc;
        out->disc_w0 = disc.p.w[0];
    }
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, data, &tc), ELBO_OK, "%s", elbo_last_error());
    tr.objective_state = &st;
    const int epochs = 6;
    for (int e = 0; e < epochs; e++) {
        bool end = false;
        while (!end) {
            cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s: %s", c->name, elbo_last_error());
            cr_assert(isfinite(tr.last.loss) && isfinite(tr.last.penalty), "%s: loss %g penalty %g", c->name,
                      tr.last.loss, tr.last.penalty);
        }
        double ne = tr.acc.neg_elbo / (double)tr.acc.n;
        if (e == 0)
            out->first = ne;
        out->last = ne;
    }
    out->penalty = tr.last.penalty;
    out->n = m.params.n < 4096 ? m.params.n : 4096;
    memcpy(out->w, m.params.w, out->n * sizeof(float));
    if (st.disc)
        out->disc_w = disc.p.w[0];
    elbo_vae_trainer_free(&tr);
    elbo_vae_free(&m);
    elbo_factor_disc_free(&disc);
}

ParameterizedTestParameters(train_objectives, each_trains)
{
    return cr_make_param_array(run_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(const run_case *c, train_objectives, each_trains)
{
    elbo_dataset data;
    cr_assert_eq(fx_dataset(256, 0.05f, 3, 1, &data), ELBO_OK);
    static outcome a, b;
    train(c, &data, &a);
    cr_log_info("%s/%d: train -ELBO %.2f -> %.2f, last penalty %.4g", c->name, c->variant, a.first, a.last, a.penalty);
    cr_expect(a.penalty != 0.0, "%s: no penalty in the loss", c->name);
    cr_expect_lt(a.last, a.first - 1.0, "%s/%d: train -ELBO %.2f -> %.2f", c->name, c->variant, a.first, a.last);
    if (strcmp(c->name, "factorvae") == 0)
        cr_expect_neq(a.disc_w, a.disc_w0, "the discriminator took no step");
    train(c, &data, &b);
    cr_expect_eq(memcmp(a.w, b.w, a.n * sizeof(float)), 0, "%s/%d: same seed, other weights", c->name, c->variant);
    elbo_dataset_free(&data);
}
