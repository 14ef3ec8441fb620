/* Variational autoencoders (chapter 17.5-17.8): VAE, beta-VAE, conditional
 * VAE, importance-weighted bounds, posterior-collapse remedies.
 *
 * Encoder g[x, theta]: an MLP from x (and, for a conditional VAE, a one-hot
 * class c) to (mu, log sigma^2) of q(z|x) = Norm[mu, diag(sigma^2)] (17.20).
 * Decoder f[z, phi]: an MLP from z (and c) to the parameters of Pr(x|z):
 * Bernoulli logits, or the mean of a Gaussian with a fixed or learned
 * per-dimension variance. Both are built on the tape (autodiff/tape.h), so
 * the loss of a minibatch is one graph and one backward sweep.
 *
 * All per-batch quantities are SUMS over the batch (as the PyTorch reference
 * does); reported statistics divide by the example count. The model owns one
 * elbo_params (weights, gradients and Adam state in flat slabs). */
#ifndef ELBO_VAE_H
#define ELBO_VAE_H

#include <stdbool.h>
#include <stddef.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "models/io/dataset.h"
#include "ops/error.h"
#include "ops/rng.h"

#define ELBO_VAE_MAX_HIDDEN 8

typedef enum elbo_vae_act {
    ELBO_VAE_RELU,
    ELBO_VAE_TANH,
    ELBO_VAE_LEAKY, /* leaky ReLU with cfg.leaky_slope */
} elbo_vae_act;

typedef enum elbo_vae_lik {
    ELBO_VAE_BERNOULLI,        /* decoder gives logits; x in [0,1] */
    ELBO_VAE_GAUSSIAN,         /* mean, fixed log sigma^2 = cfg.gauss_logvar */
    ELBO_VAE_GAUSSIAN_LEARNED, /* mean, a learned log sigma^2 per pixel */
} elbo_vae_lik;

typedef struct elbo_vae_config {
    int x_dim;       /* D, e.g. 784 */
    int z_dim;       /* latent dimensions */
    int n_classes;   /* > 0: conditional VAE, one-hot class joins encoder and decoder inputs */
    int n_hidden;    /* hidden layers of the encoder; the decoder mirrors them */
    int hidden[ELBO_VAE_MAX_HIDDEN]; /* encoder widths, first to last */
    elbo_vae_act act;
    float leaky_slope;  /* for ELBO_VAE_LEAKY (e.g. 0.01) */
    elbo_vae_lik lik;
    float gauss_logvar; /* fixed log sigma^2 for ELBO_VAE_GAUSSIAN; initial value when learned */
} elbo_vae_config;

/* 784-400-20 ReLU, Bernoulli: the common reference. */
elbo_vae_config elbo_vae_config_default(void);

typedef struct elbo_vae {
    elbo_vae_config cfg;
    elbo_params params;
    /* parameter ids: encoder layers, the (mu | logvar) head, decoder layers, output */
    int enc_w[ELBO_VAE_MAX_HIDDEN], enc_b[ELBO_VAE_MAX_HIDDEN];
    int head_w, head_b;
    int dec_w[ELBO_VAE_MAX_HIDDEN], dec_b[ELBO_VAE_MAX_HIDDEN];
    int out_w, out_b;
    int lik_logvar; /* (1,D) for ELBO_VAE_GAUSSIAN_LEARNED, else -1 */
} elbo_vae;

/* Validate cfg, register the parameters and initialise them like PyTorch's
 * nn.Linear default (U(+-1/sqrt(fan_in)) for weights and biases). */
elbo_status elbo_vae_create(elbo_vae *m, const elbo_vae_config *cfg, elbo_rng *rng);
void elbo_vae_free(elbo_vae *m);
/* Same architecture (for checkpoints and tests). */
bool elbo_vae_config_equal(const elbo_vae_config *a, const elbo_vae_config *b);
/* A JSON object describing cfg into buf (for checkpoints and summary.json);
 * returns the length it needs (like snprintf). */
int elbo_vae_config_json(const elbo_vae_config *cfg, char *buf, size_t cap);

/* ---- the objective ---- */

typedef struct elbo_vae_objective {
    float kl_weight;  /* beta times the warm-up factor at this step */
    float free_bits;  /* lambda nats per latent dimension (0: off) */
    int mc_samples;   /* L >= 1 samples of z per example for the reconstruction term */
    int iw_k;         /* > 1: train on the IWAE-K bound instead (kl_weight and free bits ignored) */
} elbo_vae_objective;
#define ELBO_VAE_OBJECTIVE_DEFAULT ((elbo_vae_objective){.kl_weight = 1.0f, .free_bits = 0.0f, .mc_samples = 1, .iw_k = 0})

/* What one minibatch gives (sums over its examples). */
typedef struct elbo_vae_batch_stats {
    double rec;      /* -sum log Pr(x|z), averaged over the L samples */
    double kl;       /* sum KL(q(z|x) || Pr(z)) */
    double neg_elbo; /* rec + kl: the negative ELBO, whatever the training weights */
    double loss;     /* what is minimised (weighted KL, free bits, or -IWAE-K bound) */
} elbo_vae_batch_stats;

/* Build the loss of a minibatch on the tape: x (B, D), y (B, n_classes)
 * one-hot or NULL when unconditional. eps (B*L*Z, or B*K*Z for IWAE) fixes
 * the noise (tests: finite differences with eps fixed); NULL draws it from
 * rng. *loss is a (1,1) node (NULL on error); stats may be NULL. The loss
 * is checked: a NaN/Inf gives ELBO_ERR_NONFINITE naming the term and, if
 * the input holds one, the offending example. */
elbo_status elbo_vae_loss(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                          const elbo_vae_objective *obj, elbo_rng *rng, const float *eps,
                          elbo_node **loss, elbo_vae_batch_stats *stats);

/* ---- evaluation, sampling (vae_eval.c); no-grad, in batches of eval_batch rows ---- */

typedef struct elbo_vae_eval {
    double neg_elbo, rec, kl; /* per example, one posterior sample each */
} elbo_vae_eval;

/* Mean per-example negative ELBO of x (N, D) (y (N, C) one-hot or NULL). */
elbo_status elbo_vae_evaluate(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                              int eval_batch, elbo_rng *rng, elbo_vae_eval *out);
/* Importance-weighted estimate of -log Pr(x) with K samples from q(z|x)
 * (17.28, log-mean-exp), averaged over examples; K = 1 is the ELBO. Also
 * the per-example values into per_example (N) if not NULL. */
elbo_status elbo_vae_iw_nll(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N, int K,
                            int eval_batch, elbo_rng *rng, double *out, double *per_example);
/* Active units: latent j is active if Var_x(E_q[z_j|x]) > threshold (0.01).
 * var (Z) receives the variances if not NULL. */
elbo_status elbo_vae_active_units(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                                  int eval_batch, double threshold, int *active, double *var);

/* Encoder means and log-variances of x (N, D): mu, logvar (N, Z) (logvar may be NULL). */
elbo_status elbo_vae_encode(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                            int eval_batch, float *mu, float *logvar);
/* Means of Pr(x|z) for z (N, Z): probabilities for Bernoulli, Gaussian means otherwise. */
elbo_status elbo_vae_decode(elbo_vae *m, elbo_tape *t, const float *z, const float *y, size_t N,
                            int eval_batch, float *xmean);
/* Decode the encoder means of x: out (N, D). */
elbo_status elbo_vae_reconstruct(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                                 int eval_batch, float *out);
/* N draws z ~ Norm[0, I] decoded to means (the noise-free samples of 17.12b). */
elbo_status elbo_vae_sample_prior(elbo_vae *m, elbo_tape *t, const float *y, size_t N, elbo_rng *rng,
                                  float *out);
/* N draws from the aggregated posterior (1/I) sum_i q(z|x_i) over the data
 * x (Nx, D) (17.8.2): pick i uniformly, draw z ~ q(z|x_i), decode. The class
 * of example i conditions the decoder when the model is conditional and
 * labels y (Nx, C) are given; picked (N) receives the chosen i if not NULL. */
elbo_status elbo_vae_sample_aggregate(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t Nx,
                                      size_t N, elbo_rng *rng, float *out, size_t *picked);

/* The same over a data set in its stored type (models/io/dataset.h): rows
 * are converted one chunk at a time into the tape's arena, labels one-hot
 * from ds->y for a conditional model; never a float copy of the whole set.
 * Same numbers as the array forms on the converted rows. encode and
 * reconstruct take the rows first..first+N. */
elbo_status elbo_vae_evaluate_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int eval_batch, elbo_rng *rng,
                                   elbo_vae_eval *out);
elbo_status elbo_vae_iw_nll_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int K, int eval_batch,
                                 elbo_rng *rng, double *out, double *per_example);
elbo_status elbo_vae_active_units_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int eval_batch,
                                       double threshold, int *active, double *var);
elbo_status elbo_vae_encode_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, size_t first, size_t N,
                                 int eval_batch, float *mu, float *logvar);
elbo_status elbo_vae_reconstruct_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, size_t first, size_t N,
                                      int eval_batch, float *out);
elbo_status elbo_vae_sample_aggregate_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, size_t N,
                                           elbo_rng *rng, float *out, size_t *picked);

#endif
