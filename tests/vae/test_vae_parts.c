/* The parts of the composable VAE, each against an independent computation
 * in double: the diagonal Gaussian posterior's log q (at any z and at its
 * own draw), the standard normal prior's log density, the closed-form KL
 * against its Monte Carlo estimate, the IWAE log-weight and the
 * importance-weighted likelihood against a direct evaluation with the same
 * draws, the capacity schedule and objective, a penalty plugged in as an
 * objective, and the registry's answers to unknown names. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae/component.h"
#include "models/vae/vae_train.h"
#include "test_util.h"
#include "vae_fixture.h"

#define LOG2PI 1.8378770664093453

static elbo_tape *tape(void)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    return t;
}

static elbo_vae model(int hidden, int z, uint64_t seed)
{
    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    elbo_vae_config c = fx_config(hidden, z, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    return m;
}

Test(vae_parts, diag_gaussian_log_q_matches_the_density)
{
    enum { B = 5, Z = 4 };
    elbo_vae m = model(8, Z, 1);
    elbo_tape *t = tape();
    float mu[B * Z], lv[B * Z], z[B * Z], eps[B * Z];
    tu_fill_uniform(mu, B * Z, -2.0f, 2.0f, 2);
    tu_fill_uniform(lv, B * Z, -3.0f, 1.5f, 3);
    tu_fill_uniform(z, B * Z, -3.0f, 3.0f, 4);
    tu_fill_uniform(eps, B * Z, -2.5f, 2.5f, 5);
    elbo_vae_qparams q = {.mu = elbo_ad_input(t, B, Z, mu), .logvar = elbo_ad_input(t, B, Z, lv)};
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN);
    elbo_node *lp = post->log_prob(t, &m, &q, elbo_ad_input(t, B, Z, z));
    elbo_node *zs = post->sample(t, &m, &q, NULL, eps);
    elbo_node *ls = post->log_q_sample(t, &m, &q, zs);
    elbo_node *lps = post->log_prob(t, &m, &q, zs); /* the general form at the draw */
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    for (int b = 0; b < B; b++) {
        double want = 0.0, want_s = 0.0;
        for (int j = 0; j < Z; j++) {
            int k = b * Z + j;
            double var = exp((double)lv[k]);
            want += -0.5 * ((z[k] - mu[k]) * (z[k] - mu[k]) / var + lv[k] + LOG2PI);
            double zk = mu[k] + sqrt(var) * eps[k];
            want_s += -0.5 * ((zk - mu[k]) * (zk - mu[k]) / var + lv[k] + LOG2PI);
        }
        cr_expect(fabs(lp->x[b] - want) < 1e-4 * (1 + fabs(want)), "log q row %d: %.6f vs %.6f", b, lp->x[b], want);
        cr_expect(fabs(ls->x[b] - want_s) < 1e-4 * (1 + fabs(want_s)), "log q at draw row %d: %.6f vs %.6f", b,
                  ls->x[b], want_s);
        cr_expect(fabs(lps->x[b] - want_s) < 1e-3 * (1 + fabs(want_s)), "row %d", b);
    }
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_parts, standard_normal_prior_log_density_and_draws)
{
    enum { B = 6, Z = 3 };
    elbo_vae m = model(8, Z, 1);
    elbo_tape *t = tape();
    float z[B * Z];
    tu_fill_uniform(z, B * Z, -4.0f, 4.0f, 9);
    const elbo_vae_prior_ops *p = elbo_vae_prior(ELBO_VAE_PRIOR_STANDARD_NORMAL);
    elbo_node *lp = p->log_prob(t, &m, elbo_ad_input(t, B, Z, z));
    cr_assert_eq(elbo_tape_status(t), ELBO_OK);
    for (int b = 0; b < B; b++) {
        double want = 0.0;
        for (int j = 0; j < Z; j++)
            want += -0.5 * ((double)z[b * Z + j] * z[b * Z + j] + LOG2PI);
        cr_expect(fabs(lp->x[b] - want) < 1e-5 * (1 + fabs(want)));
    }
    /* draws: mean 0, variance 1 */
    enum { N = 20000 };
    float *d = malloc(N * Z * sizeof(float));
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    cr_assert_eq(p->sample(&m, &r, d, N), ELBO_OK);
    double s = 0, s2 = 0;
    for (int i = 0; i < N * Z; i++)
        s += d[i], s2 += (double)d[i] * d[i];
    cr_expect(fabs(s / (N * Z)) < 0.03 && fabs(s2 / (N * Z) - 1.0) < 0.03);
    free(d);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

/* An objective that checks the forward pass from inside: the closed-form
 * KL of each row against the mean of many Monte Carlo estimates
 * log q(z|x) - log Pr(z) at the posterior's draws, and the per-dimension KL
 * against the closed form in double. Returns the ELBO loss. */
static int mc_rows_checked;

static elbo_node *kl_check_loss(elbo_vae_fwd *f)
{
    enum { S = 4000 };
    const int B = f->B, Z = f->m->cfg.z_dim;
    double *acc = calloc((size_t)B, sizeof(double)), *acc2 = calloc((size_t)B, sizeof(double));
    for (int s = 0; s < S; s++) {
        elbo_node *k = elbo_vae_fwd_kl_mc(f, elbo_vae_fwd_sample(f));
        cr_assert_not_null(k);
        for (int b = 0; b < B; b++)
            acc[b] += k->x[b], acc2[b] += (double)k->x[b] * k->x[b];
    }
    elbo_node *dims = elbo_vae_posterior(f->m->cfg.posterior)->kl_dims(f->t, f->m, &f->q);
    for (int b = 0; b < B; b++) {
        double mean = acc[b] / S, sd = sqrt(acc2[b] / S - mean * mean), closed = 0.0;
        for (int j = 0; j < Z; j++) {
            double mu = f->q.mu->x[b * Z + j], lv = f->q.logvar->x[b * Z + j];
            double kj = 0.5 * (exp(lv) + mu * mu - 1.0 - lv);
            closed += kj;
            cr_expect(fabs(dims->x[b * Z + j] - kj) < 1e-4 * (1 + kj), "KL dim %d row %d", j, b);
        }
        cr_expect(fabs(f->kl->x[b] - closed) < 1e-4 * (1 + closed), "closed-form KL row %d", b);
        cr_expect(fabs(mean - closed) < 5.0 * sd / sqrt((double)S) + 1e-3, "row %d: MC KL %.4f +- %.4f vs %.4f", b,
                  mean, sd / sqrt((double)S), closed);
        mc_rows_checked++;
    }
    free(acc);
    free(acc2);
    f->draws = 0; /* the loss below draws afresh */
    return elbo_objective_elbo_loss(f);
}

Test(vae_parts, closed_form_kl_matches_monte_carlo)
{
    enum { B = 4 };
    elbo_vae m = model(8, 3, 11);
    /* wider posteriors than an untrained model gives: scale the head */
    float *hw = elbo_param_w(&m.params, m.head_w);
    for (size_t i = 0; i < elbo_param_size(&m.params, m.head_w); i++)
        hw[i] *= 4.0f;
    elbo_tape *t = tape();
    float x[B * FX_D];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 12);
    const elbo_vae_objective_ops check = {.name = "kl-check", .loss = kl_check_loss};
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.ops = &check;
    elbo_rng r;
    elbo_rng_seed(&r, 13);
    elbo_node *loss;
    mc_rows_checked = 0;
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, &r, NULL, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_expect_eq(mc_rows_checked, B);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

/* -log Pr(x|z) of a Bernoulli with probabilities p, in double. */
static double bern_nll(const float *x, const float *p, int D)
{
    double s = 0.0;
    for (int d = 0; d < D; d++)
        s -= x[d] * log((double)p[d]) + (1.0 - x[d]) * log(1.0 - (double)p[d]);
    return s;
}

Test(vae_parts, iwae_log_weight_matches_an_independent_computation)
{
    enum { B = 6, K = 7, Z = 3 };
    elbo_vae m = model(10, Z, 21);
    elbo_tape *t = tape();
    float x[B * FX_D];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 22);
    float mu[B * Z], lv[B * Z];
    cr_assert_eq(elbo_vae_encode(&m, t, x, NULL, B, 0, mu, lv), ELBO_OK);

    /* The estimator with K draws per row: its noise is the first B*K*Z
     * normals of its rng, row-major over (row, draw, dimension). */
    elbo_rng r1, r2;
    elbo_rng_seed(&r1, 23);
    elbo_rng_seed(&r2, 23);
    double mean, per[B];
    cr_assert_eq(elbo_vae_iw_nll(&m, t, x, NULL, B, K, 1000, &r1, &mean, per), ELBO_OK, "%s", elbo_last_error());
    float eps[B * K * Z], z[B * K * Z], p[B * K * FX_D];
    elbo_rng_normal_f32(&r2, eps, B * K * Z);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < Z; j++)
                z[(b * K + k) * Z + j] = (float)(mu[b * Z + j] + exp(0.5 * lv[b * Z + j]) * eps[(b * K + k) * Z + j]);
    cr_assert_eq(elbo_vae_decode(&m, t, z, NULL, B * K, 0, p), ELBO_OK);
    for (int b = 0; b < B; b++) {
        double lw[K], mx = -INFINITY;
        for (int k = 0; k < K; k++) {
            const float *zk = z + (b * K + k) * Z, *e = eps + (b * K + k) * Z;
            double lpz = 0.0, lq = 0.0;
            for (int j = 0; j < Z; j++) {
                lpz += -0.5 * ((double)zk[j] * zk[j] + LOG2PI);
                lq += -0.5 * ((double)e[j] * e[j] + lv[b * Z + j] + LOG2PI);
            }
            lw[k] = -bern_nll(x + b * FX_D, p + (b * K + k) * FX_D, FX_D) + lpz - lq;
            mx = lw[k] > mx ? lw[k] : mx;
        }
        double s = 0.0;
        for (int k = 0; k < K; k++)
            s += exp(lw[k] - mx);
        double want = -(mx + log(s / K));
        cr_expect(fabs(per[b] - want) < 2e-3 * (1 + fabs(want)), "row %d: %.5f vs %.5f", b, per[b], want);
    }

    /* The same function on the tape, with gradients: one row block, log w per draw. */
    elbo_tape_reset(t);
    elbo_vae_qparams q;
    elbo_node *xin = elbo_ad_input(t, B, FX_D, x);
    elbo_vae_fwd f = {.m = &m, .t = t, .B = B, .x = xin, .eps = eps};
    float e0[B * Z]; /* draw 0 of each row: eps[(b*K)*Z + j] */
    for (int b = 0; b < B; b++)
        memcpy(e0 + b * Z, eps + b * K * Z, Z * sizeof(float));
    f.eps = e0;
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    f.obj = &o;
    q.mu = elbo_ad_input(t, B, Z, mu);
    q.logvar = elbo_ad_input(t, B, Z, lv);
    q.n_extra = 0;
    f.q = q;
    elbo_node *zz = elbo_vae_fwd_sample(&f);
    elbo_node *lwn = elbo_vae_log_weight(t, &m, &f.q, zz, elbo_vae_fwd_nll(&f, zz));
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    for (int b = 0; b < B; b++) {
        const float *e = eps + b * K * Z;
        double lpz = 0.0, lq = 0.0;
        for (int j = 0; j < Z; j++) {
            double zj = zz->x[b * Z + j];
            lpz += -0.5 * (zj * zj + LOG2PI);
            lq += -0.5 * ((double)e[j] * e[j] + lv[b * Z + j] + LOG2PI);
        }
        double want = -bern_nll(x + b * FX_D, p + (b * K) * FX_D, FX_D) + lpz - lq;
        cr_expect(fabs(lwn->x[b] - want) < 2e-3 * (1 + fabs(want)), "log w row %d: %.5f vs %.5f", b, lwn->x[b], want);
    }
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_parts, capacity_rises_linearly_to_c_max)
{
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.capacity_max = 25.0f;
    tc.capacity_epochs = 2.0f;
    const size_t spe = 100; /* steps per epoch: C_max at step 200 */
    cr_expect_eq(elbo_vae_capacity(&tc, 0, spe), 0.0f);
    cr_expect(fabsf(elbo_vae_capacity(&tc, 50, spe) - 6.25f) < 1e-5f);
    cr_expect(fabsf(elbo_vae_capacity(&tc, 100, spe) - 12.5f) < 1e-5f);
    cr_expect(fabsf(elbo_vae_capacity(&tc, 199, spe) - 25.0f * 199.0f / 200.0f) < 1e-4f);
    cr_expect_eq(elbo_vae_capacity(&tc, 200, spe), 25.0f);
    cr_expect_eq(elbo_vae_capacity(&tc, 5000, spe), 25.0f);
    tc.capacity_epochs = 0.0f;
    cr_expect_eq(elbo_vae_capacity(&tc, 0, spe), 25.0f);
    /* the trainer's objective of a step carries it */
    tc.capacity_epochs = 2.0f;
    tc.objective = &elbo_objective_beta_capacity;
    elbo_vae_objective o = elbo_vae_train_objective(&tc, 100, spe, 1000);
    cr_expect(fabsf(o.capacity - 12.5f) < 1e-5f);
    cr_expect_eq(o.ops, &elbo_objective_beta_capacity);
}

Test(vae_parts, capacity_objective_value)
{
    enum { B = 5 };
    elbo_vae m = model(8, 3, 31);
    elbo_tape *t = tape();
    float x[B * FX_D], eps[B * 3];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 32);
    elbo_rng r;
    elbo_rng_seed(&r, 33);
    elbo_rng_normal_f32(&r, eps, B * 3);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.ops = &elbo_objective_beta_capacity;
    o.gamma = 100.0f;
    elbo_node *loss;
    elbo_vae_batch_stats s;
    const float caps[2] = {0.0f, 5.0f}; /* below and above the batch's mean KL */
    for (int i = 0; i < 2; i++) {
        o.capacity = caps[i];
        elbo_tape_reset(t);
        cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &s), ELBO_OK, "%s", elbo_last_error());
        double want = s.rec + 100.0 * fabs(s.kl - B * (double)caps[i]);
        cr_expect(fabs(loss->x[0] - want) < 1e-4 * (1 + want), "C %g: loss %.5f, want %.5f", (double)caps[i],
                  loss->x[0], want);
    }
    /* negative or non-finite weights are refused */
    o.gamma = -1.0f;
    elbo_tape_reset(t);
    cr_expect_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &s), ELBO_ERR_INVALID);
    o.gamma = NAN;
    cr_expect_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &s), ELBO_ERR_INVALID);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

/* A penalty on the latents: gamma * sum(mu^2) + sum(z) (both sums over the batch). */
static elbo_node *toy_penalty(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o)
{
    cr_assert(l->mu && l->logvar && l->z);
    cr_assert_eq(l->mu->rows, l->B);
    cr_assert_eq(l->z->cols, l->Z);
    return elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum(t, elbo_ad_mul(t, l->mu, l->mu)), o->gamma),
                       elbo_ad_sum(t, l->z));
}

static const elbo_vae_objective_ops toy = ELBO_VAE_PENALTY_OBJECTIVE("toy", "a test penalty", toy_penalty);

Test(vae_parts, a_penalty_plugs_in_as_an_objective)
{
    enum { B = 4, Z = 3 };
    elbo_vae m = model(8, Z, 41);
    elbo_tape *t = tape();
    float x[B * FX_D], eps[B * Z];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 42);
    tu_fill_uniform(eps, B * Z, -1.0f, 1.0f, 43);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    elbo_node *loss;
    elbo_vae_batch_stats plain, pen;
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &plain), ELBO_OK);
    o.ops = &toy;
    o.gamma = 0.5f;
    elbo_tape_reset(t);
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &pen), ELBO_OK, "%s", elbo_last_error());
    /* the penalty, independently: mu from the encoder, z = mu + sigma eps */
    float mu[B * Z], lv[B * Z];
    cr_assert_eq(elbo_vae_encode(&m, t, x, NULL, B, 0, mu, lv), ELBO_OK);
    double want = 0.0;
    for (int i = 0; i < B * Z; i++)
        want += 0.5 * mu[i] * mu[i] + mu[i] + exp(0.5 * lv[i]) * eps[i];
    cr_expect(fabs(pen.penalty - want) < 1e-4 * (1 + fabs(want)), "penalty %.6f vs %.6f", pen.penalty, want);
    cr_expect(fabs(pen.loss - (plain.loss + want)) < 1e-3 * (1 + fabs(pen.loss)));
    cr_expect_eq(pen.neg_elbo, plain.neg_elbo);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_parts, registry_finds_names_and_refuses_others)
{
    int id = -1;
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, "beta-capacity", &id), ELBO_OK);
    cr_expect_eq(elbo_vae_objective_by_id(id), &elbo_objective_beta_capacity);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_LIKELIHOOD, "gaussian-learned", &id), ELBO_OK);
    cr_expect_eq(id, ELBO_VAE_GAUSSIAN_LEARNED);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_POSTERIOR, "diag-gaussian", &id), ELBO_OK);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_PRIOR, "normal", &id), ELBO_OK);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, "tcvae?", &id), ELBO_ERR_INVALID);
    const char *msg = elbo_last_error();
    cr_expect(strstr(msg, "unknown objective") && strstr(msg, "tcvae?") && strstr(msg, "elbo") && !strchr(msg, '\n'),
              "%s", msg);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_PRIOR, NULL, &id), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_vae_names(ELBO_VAE_PART_OBJECTIVE), "elbo|iwae") != NULL);
    /* every table has a name and what its kind must have */
    for (int i = 0; elbo_vae_objective_by_id(i); i++)
        cr_expect(elbo_vae_objective_by_id(i)->name && elbo_vae_objective_by_id(i)->loss);
    for (int i = 0; elbo_vae_posterior(i); i++) {
        const elbo_vae_posterior_ops *p = elbo_vae_posterior(i);
        cr_expect(p->name && p->head_size && p->split && p->sample && p->log_q_sample && p->log_prob);
    }
    for (int i = 0; elbo_vae_prior(i); i++)
        cr_expect(elbo_vae_prior(i)->log_prob && elbo_vae_prior(i)->sample);
    for (int i = 0; elbo_vae_likelihood(i); i++)
        cr_expect(elbo_vae_likelihood(i)->nll && elbo_vae_likelihood(i)->mean);
}

/* after_step sees every step once, after the optimizer, with the step's terms. */
static int after_calls;
static double after_loss;

static elbo_status count_after(const elbo_vae_objective *o, elbo_tape *t, const elbo_vae_batch_stats *s)
{
    (void)t;
    cr_expect_eq(o->state, &after_calls);
    after_calls++;
    after_loss = s->loss;
    return ELBO_OK;
}

Test(vae_parts, step_on_a_batch_and_after_step_hook)
{
    enum { B = 16 };
    elbo_vae m = model(16, 3, 51);
    elbo_tape *t = tape();
    float x[B * FX_D];
    for (int i = 0; i < B * FX_D; i++)
        x[i] = (float)((i / 3 + i / FX_D) % 2); /* a fixed binary batch */
    const elbo_vae_objective_ops hooked = {.name = "hooked", .check = elbo_objective_check_weights,
                                           .loss = elbo_objective_elbo_loss, .after_step = count_after};
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.ops = &hooked;
    o.state = &after_calls;
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    adam.lr = 1e-2f;
    elbo_rng r;
    elbo_rng_seed(&r, 52);
    elbo_vae_batch_stats first, s;
    after_calls = 0;
    for (int k = 0; k < 60; k++) {
        cr_assert_eq(elbo_vae_step(&m, t, x, NULL, B, &o, &r, &adam, &s), ELBO_OK, "%s", elbo_last_error());
        if (k == 0)
            first = s;
        cr_expect_eq(after_loss, s.loss);
    }
    cr_expect_eq(after_calls, 60);
    cr_expect_eq(m.params.step, 60);
    cr_expect_lt(s.neg_elbo, 0.7 * first.neg_elbo, "-ELBO %.3f -> %.3f", first.neg_elbo, s.neg_elbo);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}
