/* The parts of a VAE as small tables of functions, and their registry.
 *
 * A posterior family, a prior, a likelihood or an objective is one const
 * table in its own file (models/vae/posterior_*.c, prior_*.c,
 * likelihood_*.c, models/objectives/) and one line in the lists below;
 * the registry finds it by the name in its table (the flags --posterior,
 * --prior, --likelihood, --objective). Graph functions build on the tape and
 * return a node, or NULL with the tape's error set (elbo_tape_status); every
 * (B,1) node holds one value per example, and batch totals are sums.
 *
 * Adding an objective that is the ELBO plus a penalty on the batch's latents
 * (beta-TCVAE, DIP-VAE, MMD, ...) is one file:
 *
 *     // models/objectives/dip.c
 *     static elbo_node *dip_i(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o)
 *     {
 *         ... a (1,1) node from l->mu, l->logvar, l->z (each (B,Z)), weighted by o->gamma ...
 *     }
 *     const elbo_vae_objective_ops elbo_objective_dip_i =
 *         ELBO_VAE_PENALTY_OBJECTIVE("dip-vae-i", "ELBO + DIP-VAE I covariance penalty", dip_i);
 *
 * plus `X(DIP_I, elbo_objective_dip_i)` in ELBO_VAE_OBJECTIVES, the file in
 * models/objectives/meson.build, and a test. The penalty's node is added to
 * the ELBO loss as it is (so it carries its own weight and, like every term,
 * is a sum over the batch: scale a per-batch mean by B). */
#ifndef ELBO_VAE_COMPONENT_H
#define ELBO_VAE_COMPONENT_H

#include <stdbool.h>

#include "autodiff/tape.h"
#include "models/vae/vae.h"

/* ---- the posterior q(z|x) ---- */

#define ELBO_VAE_Q_EXTRA 4

/* The posterior's parameters for a batch, all nodes on the tape: a mean and
 * a log-variance (B,Z) for every family (flows: of their base Gaussian),
 * and what else the family needs (a Cholesky factor, flow parameters). */
typedef struct elbo_vae_qparams {
    elbo_node *mu, *logvar;
    elbo_node *extra[ELBO_VAE_Q_EXTRA];
    int n_extra;
} elbo_vae_qparams;

typedef struct elbo_vae_posterior_ops {
    const char *name, *help;
    /* Outputs of the encoder head for Z latents (diagonal Gaussian: 2Z). */
    int (*head_size)(int Z);
    /* Optional: register the family's own parameters (elbo_vae_add_param,
     * ids into m->post_ids). */
    elbo_status (*add_params)(elbo_vae *m);
    /* The parameters from the head (B, head_size). */
    elbo_status (*split)(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q);
    /* z ~ q(z|x), reparameterized: (B,Z); the noise from eps (B*Z floats,
     * for tests and fixed-noise evaluation) or drawn from rng. */
    elbo_node *(*sample)(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng,
                         const float *eps);
    /* log q(z|x) of a z returned by sample (it may use the saved noise): (B,1). */
    elbo_node *(*log_q_sample)(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z);
    /* log q(z|x) of any z (B,Z): (B,1). */
    elbo_node *(*log_prob)(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z);
    /* Optional closed forms against the model's prior; NULL (without an
     * error) when the pair has none: KL(q || Pr(z)) (B,1), and per latent
     * dimension (B,Z) (free bits needs it). */
    elbo_node *(*kl)(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q);
    elbo_node *(*kl_dims)(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q);
} elbo_vae_posterior_ops;

/* ---- the prior Pr(z) ---- */

typedef struct elbo_vae_prior_ops {
    const char *name, *help;
    bool standard_normal; /* Norm[0, I]: posteriors may use their closed-form KL */
    int default_k;        /* > 0: a prior of cfg.prior_k components in [1, ELBO_VAE_PRIOR_K_MAX], this
                           * many unless set; 0: cfg.prior_k must be 0 */
    elbo_status (*add_params)(elbo_vae *m); /* optional: learned priors (ids into m->prior_ids) */
    /* Optional: set the prior's parameters after every parameter has had
     * its generic initialisation, drawing from the same init stream (so the
     * networks start the same whatever the prior). */
    elbo_status (*init_params)(elbo_vae *m, elbo_rng *rng);
    /* log Pr(z) of z (B,Z): (B,1). */
    elbo_node *(*log_prob)(elbo_tape *t, elbo_vae *m, elbo_node *z);
    /* n draws into z (n, Z). */
    elbo_status (*sample)(elbo_vae *m, elbo_rng *rng, float *z, size_t n);
} elbo_vae_prior_ops;

/* ---- the likelihood Pr(x|z) ---- */

typedef struct elbo_vae_likelihood_ops {
    const char *name, *help;
    elbo_status (*add_params)(elbo_vae *m); /* optional (ids into m->lik_ids) */
    /* -log Pr(x|z) per example from the decoder output (B, D...): (B,1). */
    elbo_node *(*nll)(elbo_tape *t, elbo_vae *m, elbo_node *out, elbo_node *x);
    /* The mean of Pr(x|z) from the decoder output (probabilities for Bernoulli logits). */
    elbo_node *(*mean)(elbo_tape *t, elbo_vae *m, elbo_node *out);
} elbo_vae_likelihood_ops;

/* ---- the forward pass an objective drives ---- */

/* The batch's latent statistics, all (B,Z) nodes on the tape, so a penalty
 * can build on them and its gradient flows into the encoder: the posterior
 * mean and log-variance, and the first reparameterized draw z. */
typedef struct elbo_vae_latents {
    elbo_node *mu, *logvar, *z;
    int B, Z;
    const elbo_vae_qparams *q; /* the full parameters, for families beyond the diagonal Gaussian */
} elbo_vae_latents;

/* A penalty: a (1,1) node added to the loss (weights from o), or NULL with
 * the tape's error set. */
typedef elbo_node *(*elbo_vae_penalty_fn)(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o);

/* One forward pass over a batch: set up by elbo_vae_loss (encoder run, q's
 * parameters split, the closed-form KL taken), then driven by the
 * objective through the functions below. */
typedef struct elbo_vae_fwd {
    elbo_vae *m;
    elbo_tape *t;
    const elbo_vae_objective *obj;
    int B;
    elbo_node *x, *y;     /* (B, D) input, (B, C) one-hot or NULL */
    elbo_vae_qparams q;
    elbo_node *kl;        /* (B,1) closed-form KL(q || Pr(z)), or NULL */
    elbo_node *z0;        /* the first draw (set by elbo_vae_fwd_sample) */
    elbo_rng *rng;
    const float *eps;     /* fixed noise: draw s takes eps + s*B*Z */
    int draws;
    double rec_sum;       /* sum of the -log Pr(x|z) of every elbo_vae_fwd_nll */
    int rec_count;
    double kl_mc_sum;     /* estimated KL when there is no closed form (elbo_vae_fwd_kl_mc) */
    int kl_mc_count;
    double penalty;       /* the value of the penalty node, if any */
} elbo_vae_fwd;

/* The next draw z (B,Z) from q(z|x). */
elbo_node *elbo_vae_fwd_sample(elbo_vae_fwd *f);
/* -log Pr(x|z) per example (B,1): the decoder and the likelihood. */
elbo_node *elbo_vae_fwd_nll(elbo_vae_fwd *f, elbo_node *z);
/* The IWAE log-weight of a draw z of q (B,1):
 *   log w = log Pr(x|z) + log Pr(z) - log q(z|x)      (17.28)
 * with nll = -log Pr(x|z). The one place it is written: training (the IWAE
 * objective) and evaluation (elbo_vae_iw_nll) both call it. */
elbo_node *elbo_vae_log_weight(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z,
                               elbo_node *nll);
/* KL(q || Pr(z)) per example estimated from a draw z: log q(z|x) - log Pr(z) (B,1). */
elbo_node *elbo_vae_fwd_kl_mc(elbo_vae_fwd *f, elbo_node *z);
/* The latent statistics of the batch (after the first draw). */
elbo_vae_latents elbo_vae_fwd_latents(const elbo_vae_fwd *f);

/* ---- objectives ---- */

struct elbo_vae_objective_ops {
    const char *name, *help;
    /* Optional: validate the weights (negative or non-finite: ELBO_ERR_INVALID). */
    elbo_status (*check)(const elbo_vae_objective *o);
    /* The (1,1) loss of the batch, or NULL with the tape's error set. */
    elbo_node *(*loss)(elbo_vae_fwd *f);
    /* Penalty objectives: the penalty that elbo_objective_elbo_loss adds. */
    elbo_vae_penalty_fn penalty;
    /* Optional: called by elbo_vae_step after the model's optimizer step,
     * with the step's graph still on the tape (values and gradients), e.g.
     * to update an objective's own network kept in o->state (FactorVAE's
     * discriminator, trained alternately). */
    elbo_status (*after_step)(const elbo_vae_objective *o, elbo_tape *t, const elbo_vae_batch_stats *stats);
};

/* The ELBO loss (beta / warm-up weight, free bits, L samples), plus
 * f->obj->ops->penalty of the latents when there is one. */
elbo_node *elbo_objective_elbo_loss(elbo_vae_fwd *f);
/* Weights of the ELBO family: kl_weight, free_bits, gamma, alpha, lambda
 * >= 0 and finite, mc_samples >= 1. */
elbo_status elbo_objective_check_weights(const elbo_vae_objective *o);

#define ELBO_VAE_PENALTY_OBJECTIVE(NAME, HELP, FN)                                                             \
    {.name = (NAME), .help = (HELP), .check = elbo_objective_check_weights, .loss = elbo_objective_elbo_loss,  \
     .penalty = (FN)}

/* ---- the lists: one line per part; ids are stored in checkpoints, so
 * append, never reorder ---- */

#define ELBO_VAE_POSTERIORS(X)                                                                                 \
    X(DIAG_GAUSSIAN, elbo_posterior_diag_gaussian)                                                             \
    X(HIER2, elbo_posterior_hier2)                                                                             \
    X(LADDER, elbo_posterior_ladder)                                                                           \
    X(FULL_GAUSSIAN, elbo_posterior_full_gaussian)                                                             \
    X(PLANAR, elbo_posterior_planar)                                                                           \
    X(IAF, elbo_posterior_iaf)

#define ELBO_VAE_PRIORS(X)                                                                                     \
    X(STANDARD_NORMAL, elbo_prior_standard_normal)                                                             \
    X(HIER2, elbo_prior_hier2)                                                                                 \
    X(VAMP, elbo_prior_vamp)                                                                                   \
    X(MOG, elbo_prior_mog)

/* In the order of enum elbo_vae_lik. */
#define ELBO_VAE_LIKELIHOODS(X)                                                                                \
    X(BERNOULLI, elbo_likelihood_bernoulli)                                                                    \
    X(GAUSSIAN, elbo_likelihood_gaussian)                                                                      \
    X(GAUSSIAN_LEARNED, elbo_likelihood_gaussian_learned)

#define ELBO_VAE_OBJECTIVES(X)                                                                                 \
    X(ELBO, elbo_objective_elbo)                                                                               \
    X(IWAE, elbo_objective_iwae)                                                                               \
    X(BETA_CAPACITY, elbo_objective_beta_capacity)                                                             \
    X(TCVAE, elbo_objective_tcvae)                                                                             \
    X(DIP1, elbo_objective_dip1)                                                                               \
    X(DIP2, elbo_objective_dip2)                                                                               \
    X(MMD, elbo_objective_mmd)                                                                                 \
    X(FACTORVAE, elbo_objective_factorvae)                                                                     \
    X(MIWAE, elbo_objective_miwae)                                                                             \
    X(CIWAE, elbo_objective_ciwae)                                                                             \
    X(PIWAE, elbo_objective_piwae)

#define ELBO_VAE_DECL_(ID, sym, type) extern const type sym;
#define ELBO_VAE_DECL_POST_(ID, sym) ELBO_VAE_DECL_(ID, sym, elbo_vae_posterior_ops)
#define ELBO_VAE_DECL_PRIOR_(ID, sym) ELBO_VAE_DECL_(ID, sym, elbo_vae_prior_ops)
#define ELBO_VAE_DECL_LIK_(ID, sym) ELBO_VAE_DECL_(ID, sym, elbo_vae_likelihood_ops)
#define ELBO_VAE_DECL_OBJ_(ID, sym) ELBO_VAE_DECL_(ID, sym, elbo_vae_objective_ops)
ELBO_VAE_POSTERIORS(ELBO_VAE_DECL_POST_)
ELBO_VAE_PRIORS(ELBO_VAE_DECL_PRIOR_)
ELBO_VAE_LIKELIHOODS(ELBO_VAE_DECL_LIK_)
ELBO_VAE_OBJECTIVES(ELBO_VAE_DECL_OBJ_)

#define ELBO_VAE_ID_(prefix, ID) prefix##ID,
#define ELBO_VAE_POST_ID_(ID, sym) ELBO_VAE_ID_(ELBO_VAE_POSTERIOR_, ID)
#define ELBO_VAE_PRIOR_ID_(ID, sym) ELBO_VAE_ID_(ELBO_VAE_PRIOR_, ID)
#define ELBO_VAE_OBJ_ID_(ID, sym) ELBO_VAE_ID_(ELBO_VAE_OBJECTIVE_, ID)
enum { ELBO_VAE_POSTERIORS(ELBO_VAE_POST_ID_) ELBO_VAE_POSTERIOR_COUNT };
enum { ELBO_VAE_PRIORS(ELBO_VAE_PRIOR_ID_) ELBO_VAE_PRIOR_COUNT };
enum { ELBO_VAE_OBJECTIVES(ELBO_VAE_OBJ_ID_) ELBO_VAE_OBJECTIVE_COUNT };

/* ---- the registry ---- */

typedef enum elbo_vae_part { ELBO_VAE_PART_POSTERIOR, ELBO_VAE_PART_PRIOR, ELBO_VAE_PART_LIKELIHOOD,
                             ELBO_VAE_PART_OBJECTIVE } elbo_vae_part;

/* The id of the part named `name`, or ELBO_ERR_INVALID with one line
 * naming it and listing the known names ("unknown objective "x": expected
 * elbo, iwae or beta-capacity"). */
elbo_status elbo_vae_find(elbo_vae_part part, const char *name, int *id);
/* The names of a part, separated by '|' (for help texts). */
const char *elbo_vae_names(elbo_vae_part part);

/* The tables by id (NULL when out of range). */
const elbo_vae_posterior_ops *elbo_vae_posterior(int id);
const elbo_vae_prior_ops *elbo_vae_prior(int id);
const elbo_vae_likelihood_ops *elbo_vae_likelihood(int id);
const elbo_vae_objective_ops *elbo_vae_objective_by_id(int id);

/* The objective an elbo_vae_objective means: ops, or (ops NULL) IWAE when iw_k > 1, else the ELBO. */
const elbo_vae_objective_ops *elbo_vae_objective_of(const elbo_vae_objective *o);

#endif
