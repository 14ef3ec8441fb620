/* Training a VAE: minibatch steps with Adam, KL warm-up, free bits, dynamic
 * binarization, the non-finite guard, and checkpoints that resume bit for bit.
 *
 * The trainer owns no data: it reads an elbo_dataset and draws minibatches
 * from an elbo_batcher, so its whole position is (batcher epoch, next), the
 * RNG streams, the parameters with their Adam moments and step, and the
 * running sums of the current epoch. A checkpoint holds exactly that; a run
 * interrupted after any step and resumed from its checkpoint continues with
 * the same bits as one never interrupted. */
#ifndef ELBO_VAE_TRAIN_H
#define ELBO_VAE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "ops/error.h"
#include "ops/rng.h"

typedef enum elbo_vae_warmup {
    ELBO_VAE_WARMUP_LINEAR,  /* weight rises linearly from 0 to beta */
    ELBO_VAE_WARMUP_SIGMOID, /* a logistic ramp rescaled to go exactly from 0 to beta */
} elbo_vae_warmup;

typedef struct elbo_vae_train_config {
    int batch;                /* examples per step (the last of an epoch may be smaller) */
    elbo_adam_config adam;
    float beta;               /* KL weight: 1 is the VAE, != 1 the beta-VAE (17.30) */
    float warmup_epochs;      /* KL warm-up length in epochs (0: none) */
    elbo_vae_warmup warmup;
    float free_bits;          /* lambda nats per latent dimension (0: off) */
    int mc_samples;           /* L samples per example */
    int iw_k;                 /* > 1: train on the IWAE-K bound */
    bool dynamic_binarize;    /* x <- (u < x) afresh each step */
    uint64_t seed;            /* the batch order, the noise and the binarization streams */
    /* The objective (an entry of the registry, models/vae/component.h); NULL:
     * the ELBO, or IWAE-K when iw_k > 1. */
    const elbo_vae_objective_ops *objective;
    float gamma;              /* capacity objective: weight of |KL - C|; penalties: their weight */
    float capacity_max;       /* C_max, nats per example */
    float capacity_epochs;    /* epochs over which C rises linearly from 0 to C_max (0: C_max at once) */
    float alpha, lambda;      /* more weights of penalty objectives */
    int variant;              /* an objective's own choice (e.g. an estimator) */
    /* Data parallel (all zero: one process). Every process runs the same
     * batches and draws the same noise; this one computes only the rows
     * [n shard / shards, n (shard+1) / shards) of each batch of n. Losses
     * are sums over rows, so the sum of the processes' gradients (which
     * the caller forms in after_backward) is the whole batch's gradient. */
    int shard, shards;
    elbo_grad_ready_fn grad_ready; /* set on the tape: called as each parameter's gradient is final */
    /* After backward, before the finite check and the update: e.g. finish
     * summing the gradients across processes. An error stops the step. */
    elbo_status (*after_backward)(void *ctx, elbo_params *p);
    void *hook_ctx;           /* passed to grad_ready and after_backward */
} elbo_vae_train_config;

#define ELBO_VAE_TRAIN_DEFAULT                                                                               \
    ((elbo_vae_train_config){.batch = 128, .adam = ELBO_ADAM_DEFAULT, .beta = 1.0f, .warmup_epochs = 0.0f, \
                             .warmup = ELBO_VAE_WARMUP_LINEAR, .free_bits = 0.0f, .mc_samples = 1,          \
                             .iw_k = 0, .dynamic_binarize = false, .seed = 1, .objective = NULL,           \
                             .gamma = 1.0f, .capacity_max = 0.0f, .capacity_epochs = 0.0f})

/* Running sums of the current epoch (per-example means: divide by n). */
typedef struct elbo_vae_epoch_stats {
    double rec, kl, neg_elbo, loss;
    uint64_t n;       /* examples seen */
    double seconds;   /* time spent in steps (not evaluation or checkpoints) */
} elbo_vae_epoch_stats;

typedef struct elbo_vae_trainer {
    elbo_vae *m;
    elbo_tape *tape;
    const elbo_dataset *data;
    elbo_vae_train_config cfg;
    elbo_batcher batcher;
    elbo_rng noise;      /* reparameterization noise */
    elbo_rng binarize;   /* dynamic binarization */
    float *xb, *yb;      /* (batch, D) and (batch, C) minibatch buffers (a shard's rows at their batch position) */
    float *eps_all, *eps; /* shards > 1: one sample's noise for the batch (batch, Z); the shard's (S, rows, Z) */
    uint8_t *lb;         /* (batch) labels */
    size_t steps_per_epoch;
    elbo_vae_epoch_stats acc;
    bool epoch_done;     /* the last step ended an epoch: the next one starts afresh */
    elbo_vae_batch_stats last; /* the terms of the last step's batch */
    void *objective_state;     /* handed to the objective each step (elbo_vae_objective.state) */
} elbo_vae_trainer;

/* A trainer for model m over data (kept by the caller). The tape is created
 * here. Labels are needed (and one-hot encoded per batch) iff the model is
 * conditional. */
elbo_status elbo_vae_trainer_init(elbo_vae_trainer *tr, elbo_vae *m, const elbo_dataset *data,
                                  const elbo_vae_train_config *cfg);
void elbo_vae_trainer_free(elbo_vae_trainer *tr);

/* The KL weight at optimizer step `step` (0-based): beta times the warm-up
 * factor, which reaches 1 after warmup_epochs * steps_per_epoch steps. */
float elbo_vae_kl_weight(const elbo_vae_train_config *cfg, long step, size_t steps_per_epoch);
/* The capacity C at optimizer step `step` (0-based): C_max min(1, step /
 * (capacity_epochs * steps_per_epoch)) (Burgess et al. 2018). */
float elbo_vae_capacity(const elbo_vae_train_config *cfg, long step, size_t steps_per_epoch);
/* The objective of the step `step` (weights at that step) for a trainer's config. */
elbo_vae_objective elbo_vae_train_objective(const elbo_vae_train_config *cfg, long step, size_t steps_per_epoch,
                                            size_t n_data);

/* One step on the next minibatch (gather, then elbo_vae_step: forward,
 * backward, non-finite guard, Adam); tr->last receives its terms.
 * *epoch_end is set when this step finished an epoch (tr->acc then holds the
 * whole epoch until the next step). A NaN/Inf in the loss or a gradient is
 * ELBO_ERR_NONFINITE naming the step and the term or parameter; the
 * parameters are then left as they were before the step. */
elbo_status elbo_vae_trainer_step(elbo_vae_trainer *tr, bool *epoch_end);

/* Completed epochs (the epoch of the next step, from 0). */
uint64_t elbo_vae_trainer_epoch(const elbo_vae_trainer *tr);

/* Checkpoint (architecture record version 2: the parts and the layers;
 * version 3 adds the second stochastic layer, version 4 then the flow
 * posteriors' steps and width, each written only when needed; version 1,
 * the MLP of earlier releases, still loads): architecture, parameters, Adam moments and step, RNG streams,
 * batch position, epoch sums, the caller's config string (must match on
 * resume) and an opaque extra blob of the caller (e.g. its per-epoch history). */
elbo_status elbo_vae_trainer_save(const elbo_vae_trainer *tr, const char *path, const char *config,
                                  const void *extra, size_t extra_len);
/* Restore a trainer built with the same configuration. *extra receives a
 * malloc'd copy of the extra blob (caller frees) when extra is not NULL. */
elbo_status elbo_vae_trainer_load(elbo_vae_trainer *tr, const char *path, const char *config, void **extra,
                                  size_t *extra_len);

/* The architecture record of a checkpoint (section "vae.arch", n numbers)
 * into c: version 1 (an MLP), 2, 3 (two stochastic layers) or 4 (flows); another version, a wrong length or an
 * impossible value is ELBO_ERR_FORMAT naming it. The config is not yet
 * validated as a model (elbo_vae_create does that). */
elbo_status elbo_vae_arch_decode(const float *a, size_t n, elbo_vae_config *c);
/* The learned prior's record (section "vae.prior", n numbers: version 1,
 * components, pseudo-input squashing) into c's prior_k and prior_squash;
 * anything else is ELBO_ERR_FORMAT. */
elbo_status elbo_vae_prior_record_decode(const float *a, size_t n, elbo_vae_config *c);

/* A model alone from a checkpoint written by elbo_vae_trainer_save (for
 * sampling and evaluation): creates *m from the stored architecture. */
elbo_status elbo_vae_load_model(const char *path, elbo_vae *m);

#endif
