/* What experiments/disentangle_dsprites needs from models/vae and
 * models/data, header-only (one driver is one translation unit): the
 * held-out split of dSprites, minibatches streamed from the generator, the
 * networks (Chen et al.'s MLP, the conv stack), the objectives, one training
 * step and the evaluation of a held-out set in chunks. Everything that
 * depends on the model API is here.
 *
 * Streaming: no data set is ever materialised. A training step renders its
 * B indices as floats into one (B, 64, 64, 1) buffer; the evaluation renders
 * EVAL_CHUNK images at a time. What is kept is the index lists (2.9 MB). */
#ifndef ELBO_EXPERIMENTS_DSPRITES_SETUP_H
#define ELBO_EXPERIMENTS_DSPRITES_SETUP_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "models/data/dsprites.h"
#include "models/objectives/objectives.h"
#include "models/vae/component.h"
#include "models/vae/vae.h"
#include "ops/rng.h"

#define DS_EVAL_CHUNK 500

/* ---- the split ---- */

/* test: n_test indices, train: the other ELBO_DSPRITES_COUNT - n_test, from
 * one seeded shuffle of the whole set (the same for every model of a run). */
typedef struct ds_split {
    uint32_t *all; /* (ELBO_DSPRITES_COUNT): test first, then train */
    const uint32_t *test, *train;
    size_t n_test, n_train;
} ds_split;

static inline elbo_status ds_split_make(ds_split *s, size_t n_test, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    if (n_test < 1 || n_test >= ELBO_DSPRITES_COUNT)
        return elbo_fail(ELBO_ERR_INVALID, "dSprites split: %zu test images: expected 1..%u", n_test,
                         ELBO_DSPRITES_COUNT - 1);
    s->all = malloc(ELBO_DSPRITES_COUNT * sizeof *s->all);
    if (!s->all)
        return elbo_fail(ELBO_ERR_NOMEM, "dSprites split: out of memory");
    for (uint32_t i = 0; i < ELBO_DSPRITES_COUNT; i++)
        s->all[i] = i;
    elbo_rng r;
    elbo_rng_seed(&r, seed ^ 0x5B117ull);
    elbo_rng_shuffle(&r, s->all, ELBO_DSPRITES_COUNT);
    s->test = s->all, s->n_test = n_test;
    s->train = s->all + n_test, s->n_train = ELBO_DSPRITES_COUNT - n_test;
    return ELBO_OK;
}

static inline void ds_split_free(ds_split *s) { free(s->all); }

/* ---- minibatches ---- */

/* Epochs over the training indices, each a fresh seeded shuffle; the last
 * partial batch of an epoch is dropped (every step has B images). */
typedef struct ds_stream {
    const uint32_t *pool;
    size_t n, next, batch;
    uint32_t *perm; /* (n) this epoch's order */
    elbo_rng rng;
    uint64_t epoch;
} ds_stream;

static inline elbo_status ds_stream_init(ds_stream *s, const ds_split *sp, size_t batch, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    if (batch < 1 || batch > sp->n_train)
        return elbo_fail(ELBO_ERR_INVALID, "dSprites stream: batch %zu: expected 1..%zu", batch, sp->n_train);
    s->pool = sp->train, s->n = sp->n_train, s->batch = batch, s->next = sp->n_train; /* first call shuffles */
    s->perm = malloc(s->n * sizeof *s->perm);
    if (!s->perm)
        return elbo_fail(ELBO_ERR_NOMEM, "dSprites stream: out of memory");
    elbo_rng_seed(&s->rng, seed ^ 0xBA7Cull);
    return ELBO_OK;
}

/* The next batch's indices (batch of them). */
static inline const uint32_t *ds_stream_next(ds_stream *s)
{
    if (s->next + s->batch > s->n) {
        memcpy(s->perm, s->pool, s->n * sizeof *s->perm);
        elbo_rng_shuffle(&s->rng, s->perm, s->n);
        s->next = 0, s->epoch++;
    }
    const uint32_t *b = s->perm + s->next;
    s->next += s->batch;
    return b;
}

static inline void ds_stream_free(ds_stream *s) { free(s->perm); }

/* ---- the networks ---- */

enum { DS_ARCH_MLP, DS_ARCH_CONV }; /* --arch, in its choices' order */

/* mlp: Chen et al.'s MLP for 64x64 dSprites, encoder 4096-1200-1200-(2 x
 * latent) (hidden: the widths, --hidden, 1200,1200 by default), ReLU; models/vae mirrors the encoder in the decoder, so the
 * decoder is latent-1200-1200-4096 (Chen's has a third 1200 layer).
 * conv: models/vae's default for 64x64 images, the 32-32-64-64 k4 s2 stack
 * with a dense 256 of Chen et al. / Burgess et al., mirrored by transposed
 * convolutions. Both Bernoulli, diagonal Gaussian posterior, N(0, I) prior. */
static inline elbo_status ds_arch(int arch, int latent, const int *hidden, int n_hidden, elbo_vae_config *c)
{
    *c = elbo_vae_config_default();
    c->x_dim = ELBO_DSPRITES_PIXELS;
    c->z_dim = latent;
    c->act = ELBO_VAE_RELU;
    c->lik = ELBO_VAE_BERNOULLI;
    if (arch == DS_ARCH_CONV) {
        c->image_h = c->image_w = ELBO_DSPRITES_SIDE, c->image_c = 1;
        return elbo_vae_config_conv_default(c);
    }
    c->arch = ELBO_VAE_ARCH_MLP;
    if (n_hidden < 1 || n_hidden > ELBO_VAE_MAX_HIDDEN)
        return elbo_fail(ELBO_ERR_INVALID, "dSprites MLP: %d hidden layers: expected 1..%d", n_hidden,
                         ELBO_VAE_MAX_HIDDEN);
    c->n_hidden = n_hidden;
    for (int i = 0; i < n_hidden; i++)
        c->hidden[i] = hidden[i];
    return ELBO_OK;
}

/* The objectives of the grid: a driver name, the models/vae registry entry
 * it trains with, and which weight the grid's beta sets (the objective's
 * main weight; the others come from ds_weights). */
typedef struct ds_objective {
    const char *name;     /* in metrics.csv and file names */
    const char *registry; /* elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, ...) */
    const char *about;
} ds_objective;

enum { DS_OBJ_BETA, DS_OBJ_TCVAE, DS_OBJ_FACTORVAE, DS_OBJ_DIP1, DS_OBJ_DIP2, DS_OBJ_MMD };
static const ds_objective ds_objectives[] = {
    {"beta", "elbo", "beta-VAE: rec + beta KL (17.30); beta = the grid's value"},
    {"tcvae", "tcvae", "beta-TCVAE (Chen et al. 2018): rec + alpha MI + beta TC + gamma dwKL; beta = the grid's value"},
    {"factorvae", "factorvae", "FactorVAE (Kim & Mnih 2018): ELBO + gamma TC (discriminator); gamma = the grid's value"},
    {"dip1", "dip1", "DIP-VAE I (Kumar et al. 2018): ELBO + lambda_od off-diag + lambda_d diag of Cov[mu]; "
                     "lambda_od = the grid's value"},
    {"dip2", "dip2", "DIP-VAE II (Kumar et al. 2018): the same on E[Sigma] + Cov[mu]; lambda_od = the grid's value"},
    {"mmd", "mmd", "InfoVAE / WAE-MMD: ELBO + lambda MMD(q(z), p(z)); lambda = the grid's value"},
};
#define DS_OBJECTIVES ((int)(sizeof ds_objectives / sizeof ds_objectives[0]))

/* The weights the grid does not vary (models/objectives/objectives.h). */
typedef struct ds_weights {
    double tc_alpha, tc_gamma; /* tcvae: MI and dimension-wise KL weights */
    int tc_estimator;          /* tcvae: 0 MWS, 1 MSS */
    double dip_lambda_d;       /* dip1/dip2: < 0 follows lambda_od (x10 for dip1, x1 for dip2) */
    int mmd_kernel;            /* mmd: 0 RBF, 1 IMQ */
    int factor_hidden, factor_layers; /* factorvae: the discriminator */
    double factor_lr;
} ds_weights;

/* dip's lambda_d at lambda_od w (Kumar et al.'s defaults when unset). */
static inline double ds_dip_lambda_d(int which, double w, const ds_weights *k)
{
    return k->dip_lambda_d >= 0 ? k->dip_lambda_d : which == DS_OBJ_DIP1 ? 10.0 * w : w;
}

/* The step's objective for ds_objectives[which] at main weight beta, for a
 * training set of n_data images (tcvae's estimators of q(z)). */
static inline elbo_status ds_objective_of(int which, double beta, const ds_weights *k, size_t n_data,
                                          elbo_vae_objective *o)
{
    *o = ELBO_VAE_OBJECTIVE_DEFAULT;
    int id;
    elbo_status st = elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, ds_objectives[which].registry, &id);
    if (st != ELBO_OK)
        return st;
    o->ops = elbo_vae_objective_by_id(id);
    o->n_data = n_data;
    switch (which) {
    case DS_OBJ_BETA:
        o->kl_weight = (float)beta;
        break;
    case DS_OBJ_TCVAE: /* the fields objective_tcvae.c reads */
        o->alpha = (float)k->tc_alpha, o->lambda = (float)beta, o->gamma = (float)k->tc_gamma;
        o->variant = k->tc_estimator;
        break;
    case DS_OBJ_FACTORVAE:
        o->gamma = (float)beta;
        break;
    case DS_OBJ_DIP1:
    case DS_OBJ_DIP2:
        o->lambda = (float)beta, o->alpha = (float)ds_dip_lambda_d(which, beta, k);
        break;
    default: /* mmd */
        o->lambda = (float)beta, o->variant = k->mmd_kernel;
        break;
    }
    return ELBO_OK;
}

/* The objective's weights as one CSV-safe field ("name=value;..."). */
static inline void ds_weights_text(int which, double beta, const ds_weights *k, char *buf, size_t cap)
{
    switch (which) {
    case DS_OBJ_BETA:
        snprintf(buf, cap, "beta=%g", beta);
        break;
    case DS_OBJ_TCVAE:
        snprintf(buf, cap, "alpha=%g;beta=%g;gamma=%g;estimator=%s", k->tc_alpha, beta, k->tc_gamma,
                 k->tc_estimator ? "mss" : "mws");
        break;
    case DS_OBJ_FACTORVAE:
        snprintf(buf, cap, "gamma=%g;disc_hidden=%d;disc_layers=%d;disc_lr=%g", beta, k->factor_hidden,
                 k->factor_layers, k->factor_lr);
        break;
    case DS_OBJ_DIP1:
    case DS_OBJ_DIP2:
        snprintf(buf, cap, "lambda_od=%g;lambda_d=%g", beta, ds_dip_lambda_d(which, beta, k));
        break;
    default:
        snprintf(buf, cap, "lambda=%g;kernel=%s", beta, k->mmd_kernel ? "imq" : "rbf");
        break;
    }
}

/* The objective's own state (elbo_vae_objective.state): the MMD's prior
 * stream seed, FactorVAE's discriminator (initialised from seed). Free with
 * ds_objective_state_free. */
static inline elbo_status ds_objective_state(int which, double beta, const ds_weights *k, int z_dim, uint64_t seed,
                                             elbo_objective_state *s)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    if (which != DS_OBJ_FACTORVAE)
        return ELBO_OK;
    elbo_factor_config c = ELBO_FACTOR_DEFAULT;
    c.gamma = beta, c.hidden = k->factor_hidden, c.layers = k->factor_layers, c.adam.lr = (float)k->factor_lr;
    s->disc = calloc(1, sizeof *s->disc);
    if (!s->disc)
        return elbo_fail(ELBO_ERR_NOMEM, "discriminator: out of memory");
    elbo_rng r;
    elbo_rng_seed(&r, seed ^ 0xFAC70Dull);
    elbo_status st = elbo_factor_disc_init(s->disc, z_dim, &c, &r);
    if (st != ELBO_OK)
        free(s->disc), s->disc = NULL;
    return st;
}

static inline void ds_objective_state_free(elbo_objective_state *s)
{
    if (s->disc)
        elbo_factor_disc_free(s->disc);
    free(s->disc);
    s->disc = NULL;
}

/* ---- evaluation of the held-out set ---- */

typedef struct ds_eval {
    double neg_elbo, rec, kl; /* per image */
} ds_eval;

/* Encoder means and log-variances (n, Z) of the images idx (n) and the
 * per-image negative ELBO (one posterior draw from rng), EVAL_CHUNK images
 * at a time through x (EVAL_CHUNK * 4096 floats). t: a no-grad tape. */
static inline elbo_status ds_evaluate(elbo_vae *m, elbo_tape *t, const elbo_dsprites *ds, const uint32_t *idx,
                                      size_t n, float *x, elbo_rng *rng, float *mu, float *logvar, ds_eval *out)
{
    const size_t Z = (size_t)m->cfg.z_dim;
    memset(out, 0, sizeof *out);
    for (size_t at = 0; at < n; at += DS_EVAL_CHUNK) {
        size_t k = n - at < DS_EVAL_CHUNK ? n - at : DS_EVAL_CHUNK;
        elbo_status st = elbo_dsprites_render_f32(ds, idx + at, k, x);
        if (st == ELBO_OK)
            st = elbo_vae_encode(m, t, x, NULL, k, DS_EVAL_CHUNK, mu + at * Z, logvar + at * Z);
        elbo_vae_eval ev;
        if (st == ELBO_OK)
            st = elbo_vae_evaluate(m, t, x, NULL, k, DS_EVAL_CHUNK, rng, &ev);
        if (st != ELBO_OK)
            return st;
        out->neg_elbo += ev.neg_elbo * (double)k, out->rec += ev.rec * (double)k, out->kl += ev.kl * (double)k;
    }
    out->neg_elbo /= (double)n, out->rec /= (double)n, out->kl /= (double)n;
    return ELBO_OK;
}

/* The encoder as a code source for the classifier-based scores
 * (models/metrics/dsprites_source.h): images -> means, in double. */
typedef struct ds_encoder {
    elbo_vae *m;
    elbo_tape *t;
    float *mu; /* (batch, Z) */
} ds_encoder;

static inline elbo_status ds_encode_means(void *ctx, const float *images, size_t n, double *codes)
{
    ds_encoder *e = ctx;
    elbo_status st = elbo_vae_encode(e->m, e->t, images, NULL, n, (int)n, e->mu, NULL);
    for (size_t i = 0; st == ELBO_OK && i < n * (size_t)e->m->cfg.z_dim; i++)
        codes[i] = e->mu[i];
    return st;
}

#endif
