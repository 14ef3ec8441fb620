/* FactorVAE (Kim & Mnih 2018): the total correlation KL(q(z) || Π_d q(z_d))
 * estimated by the density-ratio trick. A discriminator D(z) -> 2 logits
 * (real, permuted) is trained to tell the batch's codes from codes whose
 * every dimension was permuted across the batch (samples of Π_d q(z_d));
 * then TC ~ E_q[log D_real(z) / D_perm(z)] = mean(logit_real - logit_perm).
 * The VAE's penalty gamma TC sees the discriminator's weights as constants
 * (its gradient reaches z only); the discriminator's step runs on detached
 * codes, on its own tape, with its own Adam. Unlike the paper, which permutes
 * a second batch, the step permutes the batch it is given. At the end: the
 * registry's entry, --objective factorvae. */
#include "models/objectives/objectives_internal.h"
#include "models/vae/component.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

elbo_status elbo_factor_validate(const elbo_factor_config *c)
{
    if (!c)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: expected a configuration, got NULL");
    elbo_status s = obj_check_weight("factorvae: gamma (TC weight)", c->gamma);
    if (s != ELBO_OK)
        return s;
    if (c->hidden < 1 || c->layers < 1 || c->layers > ELBO_FACTOR_MAX_LAYERS)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: expected hidden >= 1 and 1..%d layers, got %d and %d",
                         ELBO_FACTOR_MAX_LAYERS, c->hidden, c->layers);
    if (!isfinite(c->slope) || c->slope < 0.0f || !isfinite(c->adam.lr) || c->adam.lr <= 0.0f)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: expected a finite slope >= 0 and lr > 0, got %g and %g",
                         (double)c->slope, (double)c->adam.lr);
    return ELBO_OK;
}

elbo_status elbo_factor_disc_init(elbo_factor_disc *d, int dim, const elbo_factor_config *c, elbo_rng *rng)
{
    memset(d, 0, sizeof *d);
    elbo_params_init(&d->p);
    elbo_status s = elbo_factor_validate(c);
    if (s != ELBO_OK)
        return s;
    if (dim < 1 || !rng)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: expected a latent dimension >= 1 and an rng, got %d", dim);
    d->cfg = *c;
    d->dim = dim;
    for (int l = 0; l <= c->layers; l++) {
        int in = l == 0 ? dim : c->hidden, out = l == c->layers ? 2 : c->hidden;
        char nm[32];
        snprintf(nm, sizeof nm, "disc.%d.weight", l);
        d->w[l] = elbo_params_add(&d->p, nm, in, out);
        snprintf(nm, sizeof nm, "disc.%d.bias", l);
        d->b[l] = elbo_params_add(&d->p, nm, 1, out);
        if (d->w[l] < 0 || d->b[l] < 0)
            return elbo_fail(ELBO_ERR_NOMEM, "factorvae: out of memory registering the discriminator");
    }
    if ((s = elbo_params_finalize(&d->p)) != ELBO_OK || (s = elbo_tape_create(&d->tape, 1 << 20)) != ELBO_OK) {
        elbo_factor_disc_free(d);
        return s;
    }
    for (int l = 0; l <= c->layers; l++) {
        int in = l == 0 ? dim : c->hidden;
        elbo_params_init_uniform_fan_in(&d->p, d->w[l], in, rng);
        elbo_params_init_uniform_fan_in(&d->p, d->b[l], in, rng);
    }
    elbo_rng_seed(&d->rng, elbo_rng_u64(rng));
    return ELBO_OK;
}

void elbo_factor_disc_free(elbo_factor_disc *d)
{
    if (!d)
        return;
    elbo_params_free(&d->p);
    elbo_tape_destroy(d->tape);
    free(d->perm);
    d->tape = NULL;
    d->perm = NULL;
    d->perm_rows = 0;
}

elbo_status elbo_factor_permute(elbo_rng *rng, int B, int D, const float *z, float *out)
{
    if (!rng || !z || !out || B < 1 || D < 1)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: permute: expected an rng and (B,D) codes, got (%d,%d)", B, D);
    if (out != z)
        memcpy(out, z, (size_t)B * (size_t)D * sizeof *out);
    for (int d = 0; d < D; d++) // Fisher-Yates down column d
        for (size_t i = (size_t)B; i > 1; i--) {
            size_t j = (size_t)elbo_rng_below(rng, i);
            float tmp = out[(i - 1) * (size_t)D + (size_t)d];
            out[(i - 1) * (size_t)D + (size_t)d] = out[j * (size_t)D + (size_t)d];
            out[j * (size_t)D + (size_t)d] = tmp;
        }
    return ELBO_OK;
}

/* A parameter as a trainable leaf, or as a constant viewing its values. */
static elbo_node *weight(elbo_tape *t, elbo_factor_disc *d, int id, bool train)
{
    if (train)
        return elbo_ad_param(t, &d->p, id);
    return elbo_ad_input_nd(t, d->p.info[id].ndim, d->p.info[id].dims, elbo_param_w(&d->p, id));
}

/* logits (B,2) = the MLP on x (B,D) */
static elbo_node *disc_forward(elbo_tape *t, elbo_factor_disc *d, elbo_node *x, bool train)
{
    elbo_node *h = x;
    for (int l = 0; l <= d->cfg.layers; l++) {
        h = elbo_ad_linear(t, h, weight(t, d, d->w[l], train), weight(t, d, d->b[l], train));
        if (l < d->cfg.layers)
            h = elbo_ad_leaky_relu(t, h, d->cfg.slope);
    }
    return h;
}

/* (B,1) logit_real - logit_perm */
static elbo_node *logit_gap(elbo_tape *t, elbo_node *logits)
{
    return elbo_ad_sub(t, elbo_ad_slice_cols(t, logits, 0, 1), elbo_ad_slice_cols(t, logits, 1, 1));
}

elbo_status elbo_factor_penalty(elbo_tape *t, elbo_factor_disc *d, elbo_node *z, elbo_node **penalty,
                                elbo_factor_terms *terms)
{
    elbo_status s;
    if (!d || !d->tape || !penalty)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: expected an initialized discriminator and a result");
    if ((s = elbo_factor_validate(&d->cfg)) != ELBO_OK || (s = obj_check_batch(t, "factorvae", z, NULL, NULL)) != ELBO_OK)
        return s;
    if (z->cols != d->dim)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: expected codes of dimension %d, got (%d,%d)", d->dim, z->rows,
                         z->cols);
    elbo_node *tc = elbo_ad_mean(t, logit_gap(t, disc_forward(t, d, z, false)));
    elbo_node *pen = elbo_ad_scale(t, tc, (float)d->cfg.gamma);
    if ((s = obj_built(t, "factorvae", pen)) != ELBO_OK)
        return s;
    *penalty = pen;
    if (terms)
        terms->tc = tc->x[0];
    return ELBO_OK;
}

elbo_status elbo_factor_disc_step(elbo_factor_disc *d, const float *z, int B, elbo_rng *rng,
                                  elbo_factor_terms *terms)
{
    if (!d || !d->tape || !z || !rng || B < 2)
        return elbo_fail(ELBO_ERR_INVALID, "factorvae: step: expected a discriminator, an rng and >= 2 codes, got %d", B);
    size_t n = (size_t)B * (size_t)d->dim;
    if (B > d->perm_rows) {
        float *p = realloc(d->perm, 2 * n * sizeof *p);
        if (!p)
            return elbo_fail(ELBO_ERR_NOMEM, "factorvae: out of memory for %d codes", B);
        d->perm = p;
        d->perm_rows = B;
    }
    /* rows 0..B-1 the codes (class 0), B..2B-1 the permuted codes (class 1) */
    memcpy(d->perm, z, n * sizeof *z);
    elbo_status s = elbo_factor_permute(rng, B, d->dim, z, d->perm + n);
    if (s != ELBO_OK)
        return s;
    elbo_tape *t = d->tape;
    elbo_tape_reset(t);
    int32_t *labels = (int32_t *)elbo_tape_alloc(t, (size_t)(2 * B));
    if (!labels)
        return elbo_tape_status(t);
    for (int i = 0; i < 2 * B; i++)
        labels[i] = i >= B;
    elbo_node *logits = disc_forward(t, d, elbo_ad_input(t, 2 * B, d->dim, d->perm), true);
    elbo_node *loss = elbo_ad_mean(t, elbo_ad_categorical_nll(t, logits, labels));
    if ((s = obj_built(t, "factorvae: step", loss)) != ELBO_OK)
        return s;
    elbo_params_clear_grad(&d->p);
    if ((s = elbo_backward(t, loss)) != ELBO_OK)
        return s;
    elbo_adam_step(&d->p, &d->cfg.adam);
    if (terms) {
        int right = 0;
        for (int i = 0; i < 2 * B; i++)
            right += (logits->x[2 * i] > logits->x[2 * i + 1]) == (i < B);
        terms->disc_loss = loss->x[0];
        terms->disc_acc = (double)right / (double)(2 * B);
    }
    return ELBO_OK;
}

/* ---- the registry's entry: --objective factorvae (the ELBO + B penalty) ---- */

static elbo_node *factor(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o)
{
    const elbo_objective_state *st = o->state;
    if (!st || !st->disc || !st->disc->tape) {
        elbo_fail(ELBO_ERR_INVALID, "objective factorvae: expected its discriminator in the objective's state "
                  "(elbo_objective_state.disc), got none");
        return NULL;
    }
    elbo_factor_disc *d = st->disc;
    d->cfg.gamma = o->gamma;
    /* training: the discriminator's step first, on this batch's detached codes */
    if (elbo_tape_grad_enabled(t) && elbo_factor_disc_step(d, l->z->x, l->B, &d->rng, NULL) != ELBO_OK)
        return NULL;
    elbo_node *pen;
    if (elbo_factor_penalty(t, d, l->z, &pen, NULL) != ELBO_OK)
        return NULL;
    return elbo_ad_scale(t, pen, (float)l->B);
}

static elbo_status factor_check(const elbo_vae_objective *o)
{
    elbo_status s = elbo_objective_check_weights(o);
    if (s != ELBO_OK)
        return s;
    /* the state may come after the check (a trainer's objective_state is set after its init) */
    const elbo_objective_state *st = o->state;
    elbo_factor_config c = st && st->disc ? st->disc->cfg : ELBO_FACTOR_DEFAULT;
    c.gamma = o->gamma;
    return elbo_factor_validate(&c);
}

const elbo_vae_objective_ops elbo_objective_factorvae = {
    .name = "factorvae",
    .help = "FactorVAE: the ELBO + --factor-gamma TC from a discriminator trained against permuted codes",
    .check = factor_check,
    .loss = elbo_objective_elbo_loss,
    .penalty = factor,
};
