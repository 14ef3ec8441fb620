/* Disentangling objectives: penalties on a batch of a diagonal Gaussian
 * posterior q(z|x) = N(mu, e^logvar), built on the tape from the batch's
 * nodes mu, logvar and z (each (B,D), z = mu + e^{logvar/2} eps), each
 * returning a (1,1) node to add to the reconstruction term of the loss
 * (a batch mean), and its diagnostic values for logging.
 *
 *   beta-TCVAE  (Chen et al. 2018)  alpha MI + beta TC + gamma dwKL, with
 *               log q(z) by minibatch-weighted (MWS) or minibatch-stratified
 *               sampling (MSS)                           (objective_tcvae.c)
 *   DIP-VAE     (Kumar et al. 2018) I: Cov[mu]; II: E[Sigma] + Cov[mu];
 *               lambda_od Σ off-diag² + lambda_d Σ (diag - 1)²  (objective_dip.c)
 *   InfoVAE/WAE (Zhao et al. 2019, Tolstikhin et al. 2018) lambda MMD(q(z), p(z))
 *               with an RBF or inverse multiquadric kernel  (objective_mmd.c)
 *   FactorVAE   (Kim & Mnih 2018)   gamma mean(logit_real - logit_perm) of a
 *               discriminator trained apart on permuted latents
 *                                                         (objective_factor.c)
 *
 * The formulas and estimators are in docs/OBJECTIVES.md. Every penalty
 * function validates its configuration first (the *_validate functions:
 * negative or non-finite weights are ELBO_ERR_INVALID with one line) and
 * returns the tape's status when building the graph failed. */
#ifndef ELBO_OBJECTIVES_H
#define ELBO_OBJECTIVES_H

#include <stdbool.h>
#include <stdint.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/error.h"
#include "ops/rng.h"

/* ---- beta-TCVAE ---- */

typedef enum elbo_tc_estimator {
    ELBO_TC_MWS, /* minibatch-weighted sampling: q(z) ~ 1/(N B) Σ_j q(z|x_j) */
    ELBO_TC_MSS, /* minibatch-stratified sampling: weights 1/N, (N-M)/(N M), 1/M, M = B-1 */
} elbo_tc_estimator;

typedef struct elbo_tcvae_config {
    double alpha, beta, gamma; /* weights of MI, TC, dimension-wise KL: >= 0, finite */
    elbo_tc_estimator estimator;
    long dataset_size;         /* N, the training set's size: >= the batch size */
} elbo_tcvae_config;
#define ELBO_TCVAE_DEFAULT \
    ((elbo_tcvae_config){.alpha = 1.0, .beta = 6.0, .gamma = 1.0, .estimator = ELBO_TC_MWS, .dataset_size = 60000})

/* Per-example log-densities (each (B,1), nodes on the tape) and the batch
 * means of the three terms (nats). log q(z_i) and log Π_d q(z_i,d) are the
 * estimator's; log q(z_i|x_i) and log p(z_i) exact. */
typedef struct elbo_tcvae_terms {
    elbo_node *log_qz, *log_qz_prod, *log_qz_x, *log_pz;
    double mi, tc, dwkl; /* means of log q(z|x) - log q(z), log q(z) - log Π q(z_d), log Π q(z_d) - log p(z) */
} elbo_tcvae_terms;

elbo_status elbo_tcvae_validate(const elbo_tcvae_config *c);
/* The log-weight matrix (B,B) of an estimator: entry [i,j] weights
 * q(z_i|x_j) in the estimate of q(z_i) (MWS: 1/(N B) everywhere; MSS: 1/N on
 * the diagonal, (N-M)/(N M) at j = i+1 mod B, 1/M elsewhere, M = B-1). */
elbo_status elbo_tcvae_log_weights(elbo_tc_estimator e, int B, long N, float *logw);
/* *penalty = mean_i [alpha MI_i + beta TC_i + gamma dwKL_i]; terms may be NULL. */
elbo_status elbo_tcvae_penalty(elbo_tape *t, elbo_node *mu, elbo_node *logvar, elbo_node *z,
                               const elbo_tcvae_config *c, elbo_node **penalty, elbo_tcvae_terms *terms);

/* ---- DIP-VAE ---- */

typedef enum elbo_dip_kind { ELBO_DIP_I = 1, ELBO_DIP_II = 2 } elbo_dip_kind;

typedef struct elbo_dip_config {
    elbo_dip_kind kind;
    double lambda_od, lambda_d; /* >= 0, finite */
} elbo_dip_config;

typedef struct elbo_dip_terms {
    elbo_node *cov;      /* (D,D): Cov[mu] (biased, 1/B), plus diag(mean e^logvar) for DIP-II */
    double off_diag_sq;  /* Σ_{k != l} cov[k,l]² */
    double diag_sq;      /* Σ_k (cov[k,k] - 1)² */
} elbo_dip_terms;

elbo_status elbo_dip_validate(const elbo_dip_config *c);
/* *penalty = lambda_od off_diag_sq + lambda_d diag_sq; logvar may be NULL for DIP-I. */
elbo_status elbo_dip_penalty(elbo_tape *t, elbo_node *mu, elbo_node *logvar, const elbo_dip_config *c,
                             elbo_node **penalty, elbo_dip_terms *terms);

/* ---- InfoVAE / WAE-MMD ---- */

typedef enum elbo_mmd_kernel {
    ELBO_MMD_RBF, /* k(x,y) = e^{-|x-y|²/C} */
    ELBO_MMD_IMQ, /* k(x,y) = C / (C + |x-y|²) */
} elbo_mmd_kernel;

typedef struct elbo_mmd_config {
    elbo_mmd_kernel kernel;
    double lambda;    /* >= 0, finite */
    double prior_var; /* sigma² of the prior N(0, sigma² I): C = 2 D sigma²; > 0, finite */
} elbo_mmd_config;

typedef struct elbo_mmd_terms {
    double mmd; /* the unbiased estimate (may be slightly negative) */
} elbo_mmd_terms;

elbo_status elbo_mmd_validate(const elbo_mmd_config *c);
/* *penalty = lambda MMD²_u between the rows of z (B,D) and M prior samples:
 * prior (M,D) if given, else M = B rows drawn from N(0, prior_var I) with
 * rng. B, M >= 2. */
elbo_status elbo_mmd_penalty(elbo_tape *t, elbo_node *z, const float *prior, int M, elbo_rng *rng,
                             const elbo_mmd_config *c, elbo_node **penalty, elbo_mmd_terms *terms);

/* ---- FactorVAE ---- */

#define ELBO_FACTOR_MAX_LAYERS 8

typedef struct elbo_factor_config {
    double gamma;         /* TC weight: >= 0, finite */
    int hidden;           /* units per hidden layer (1000 in the paper) */
    int layers;           /* hidden layers, 1..ELBO_FACTOR_MAX_LAYERS */
    float slope;          /* leaky ReLU slope (0.2) */
    elbo_adam_config adam; /* the discriminator's optimizer (lr 1e-4, betas 0.5, 0.9 in the paper) */
} elbo_factor_config;
#define ELBO_FACTOR_DEFAULT                                                                                  \
    ((elbo_factor_config){.gamma = 6.4, .hidden = 1000, .layers = 2, .slope = 0.2f,                          \
                          .adam = {.lr = 1e-4f, .beta1 = 0.5f, .beta2 = 0.9f, .eps = 1e-8f, .weight_decay = 0.0f}})

/* The discriminator D -> hidden x layers -> 2 (logits: [real, permuted]),
 * leaky ReLU between, its own parameter slab, Adam state and tape. */
typedef struct elbo_factor_disc {
    elbo_factor_config cfg;
    int dim;
    elbo_params p;
    int w[ELBO_FACTOR_MAX_LAYERS + 1], b[ELBO_FACTOR_MAX_LAYERS + 1];
    elbo_tape *tape; /* the discriminator's steps */
    float *perm;     /* (2B,D) scratch: the codes and their permutation */
    int perm_rows;
    elbo_rng rng;    /* the permutations of the registry's steps (seeded by init) */
} elbo_factor_disc;

typedef struct elbo_factor_terms {
    double tc;       /* mean(logit_real - logit_perm) over the batch */
    double disc_loss; /* the discriminator's last cross-entropy (elbo_factor_disc_step) */
    double disc_acc;  /* its accuracy on real and permuted codes */
} elbo_factor_terms;

elbo_status elbo_factor_validate(const elbo_factor_config *c);
/* Registers and initializes (PyTorch's nn.Linear default, from rng) the
 * discriminator for latent dimension dim; its own rng (d->rng) is seeded
 * from the next draw of rng. */
elbo_status elbo_factor_disc_init(elbo_factor_disc *d, int dim, const elbo_factor_config *c, elbo_rng *rng);
void elbo_factor_disc_free(elbo_factor_disc *d);
/* out (B,D) = z with each column permuted across the rows independently
 * (Fisher-Yates from rng, column by column): the product of the marginals. */
elbo_status elbo_factor_permute(elbo_rng *rng, int B, int D, const float *z, float *out);
/* *penalty = gamma mean(logit_real - logit_perm) of the discriminator on z:
 * its weights enter as constants, so the gradient flows into z only. */
elbo_status elbo_factor_penalty(elbo_tape *t, elbo_factor_disc *d, elbo_node *z, elbo_node **penalty,
                                elbo_factor_terms *terms);
/* One discriminator step on detached codes z (B,D) (copied values): the
 * cross-entropy of real (class 0) against z permuted with rng (class 1),
 * backward on the discriminator's own tape, one Adam step. */
elbo_status elbo_factor_disc_step(elbo_factor_disc *d, const float *z, int B, elbo_rng *rng,
                                  elbo_factor_terms *terms);

/* ---- in the objective registry (models/vae/component.h) ----
 * --objective tcvae | dip1 | dip2 | mmd | factorvae: the entries
 * elbo_objective_{tcvae,dip1,dip2,mmd,factorvae}, which read their weights
 * from elbo_vae_objective (losses there are batch SUMS: each penalty above,
 * a batch mean, enters times B):
 *   tcvae      rec + B penalty (no closed-form KL: MI + TC + dwKL replace it);
 *              alpha = MI weight, lambda = TC weight (beta), gamma = dwKL
 *              weight, variant = estimator (0 MWS, 1 MSS), n_data = N
 *   dip1/dip2  the ELBO + B penalty; lambda = lambda_od, alpha = lambda_d
 *   mmd        the ELBO + B penalty; lambda, variant = kernel (0 RBF, 1 IMQ);
 *              the prior samples from a stream seeded by (state->seed, step),
 *              so a resumed run draws the same ones
 *   factorvae  the ELBO + B penalty; gamma; state->disc the discriminator,
 *              which takes its step (on the batch's detached codes) before
 *              the penalty is built, whenever the tape records gradients
 * state: an elbo_objective_state (elbo_vae_objective.state, the trainer's
 * objective_state). */
typedef struct elbo_objective_state {
    uint64_t seed;          /* MMD: the prior samples' streams */
    elbo_factor_disc *disc; /* FactorVAE: the discriminator (with its own rng) */
} elbo_objective_state;

#endif
