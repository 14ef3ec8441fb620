/* Variational autoencoders (chapter 17.5-17.8): VAE, beta-VAE, conditional
 * VAE, importance-weighted bounds, posterior-collapse remedies.
 *
 * A VAE here is six parts, each a small table of functions in its own file
 * (models/vae/component.h has the interfaces and the registry):
 *   encoder network  x [| c] -> the posterior's parameters (models/vae/net.c:
 *                    an MLP, or convolutions then dense layers, from a spec)
 *   posterior family q(z|x): its parameters, reparameterized sampling, log q,
 *                    the closed-form KL where there is one (posterior_*.c)
 *   prior            Pr(z): log density and sampling (prior_*.c)
 *   decoder network  z [| c] -> the parameters of Pr(x|z) (the encoder mirrored)
 *   likelihood       Pr(x|z): Bernoulli logits, Gaussian mean with a fixed or
 *                    learned per-dimension variance (likelihood_*.c)
 *   objective        what a step minimises: the ELBO (beta, warm-up, free
 *                    bits), IWAE-K, beta-VAE with capacity annealing, or the
 *                    ELBO plus a penalty on the batch's latents
 *                    (models/objectives/)
 * Everything is built on the tape (autodiff/tape.h), so the loss of a
 * minibatch is one graph and one backward sweep.
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

#define ELBO_VAE_MAX_HIDDEN 8  /* hidden layers of the encoder (dense or convolutional) */
#define ELBO_VAE_MAX_PARAMS 64  /* parameter tensors of one model, all parts together */
#define ELBO_VAE_MAX_PART_PARAMS 8 /* of the posterior, the prior or the likelihood */
#define ELBO_VAE_MAX_HIER 3 /* hidden layers of each network between two stochastic layers */
#define ELBO_VAE_PRIOR_K_MAX 4096  /* components of a learned prior (cfg.prior_k) */

typedef enum elbo_vae_act {
    ELBO_VAE_RELU,
    ELBO_VAE_TANH,
    ELBO_VAE_LEAKY, /* leaky ReLU with cfg.leaky_slope */
} elbo_vae_act;

/* The likelihoods, in the order of ELBO_VAE_LIKELIHOODS (component.h): the
 * value is also the id stored in checkpoints. */
typedef enum elbo_vae_lik {
    ELBO_VAE_BERNOULLI,        /* decoder gives logits; x in [0,1] */
    ELBO_VAE_GAUSSIAN,         /* mean, fixed log sigma^2 = cfg.gauss_logvar */
    ELBO_VAE_GAUSSIAN_LEARNED, /* mean, a learned log sigma^2 per pixel */
} elbo_vae_lik;

typedef enum elbo_vae_arch {
    ELBO_VAE_ARCH_MLP,  /* dense layers of widths hidden[0..n_hidden-1] */
    ELBO_VAE_ARCH_CONV, /* layers[0..n_layers-1] over an image_h x image_w x image_c (HWC) input */
} elbo_vae_arch;

typedef enum elbo_vae_layer_kind { ELBO_VAE_LAYER_DENSE, ELBO_VAE_LAYER_CONV } elbo_vae_layer_kind;

/* One encoder layer; the decoder mirrors it (a dense layer back to its input
 * size, a convolution by the transposed convolution of the same geometry). */
typedef struct elbo_vae_layer {
    elbo_vae_layer_kind kind;
    int width;          /* output features (dense) or channels (conv) */
    int k, stride, pad; /* conv: k x k kernel, stride, zero padding on each side */
} elbo_vae_layer;

/* How VampPrior pseudo-inputs reach the encoder (cfg.prior_squash):
 * u = a, sigmoid(a), or hard-tanh min(max(a, 0), 1) (Tomczak & Welling 2018). */
enum { ELBO_VAE_SQUASH_NONE, ELBO_VAE_SQUASH_SIGMOID, ELBO_VAE_SQUASH_HARDTANH };
const char *elbo_vae_prior_squash_name(int squash);

typedef struct elbo_vae_config {
    int x_dim;       /* D, e.g. 784 */
    int z_dim;       /* latent dimensions (two stochastic layers: z1 and z2 together) */
    int n_classes;   /* > 0: conditional VAE, one-hot class joins encoder and decoder inputs */
    int n_hidden;    /* hidden layers of the encoder; the decoder mirrors them */
    int hidden[ELBO_VAE_MAX_HIDDEN]; /* encoder widths, first to last */
    elbo_vae_act act;
    float leaky_slope;  /* for ELBO_VAE_LEAKY (e.g. 0.01) */
    elbo_vae_lik lik;
    float gauss_logvar; /* fixed log sigma^2 for ELBO_VAE_GAUSSIAN; initial value when learned */
    int posterior;      /* an ELBO_VAE_POSTERIOR_* id (component.h); 0: diagonal Gaussian */
    int prior;          /* an ELBO_VAE_PRIOR_* id; 0: standard normal */
    int prior_k;        /* learned priors: components (VampPrior pseudo-inputs, MoG components); 0 for normal */
    int prior_squash;   /* VampPrior: pseudo-inputs as they are (0), sigmoid (1) or hard-tanh to [0,1] (2) */
    elbo_vae_arch arch; /* MLP: hidden[]; CONV: layers[] over the image below */
    int image_h, image_w, image_c; /* CONV: the input as an image, image_h * image_w * image_c = x_dim */
    int n_layers;
    elbo_vae_layer layers[ELBO_VAE_MAX_HIDDEN];
    /* ---- two stochastic layers (models/vae/hier.c, docs/HIERARCHIES.md) ----
     * stochastic_layers 2: the latent is z = [z1 | z2], z_dim = z1 + z2_dim
     * columns (Burda et al. 2016: 100 + 50); the encoder head gives q(z1|x)
     * (or the ladder's bottom-up estimate), the decoder reads z1 only, and
     * two small MLPs of the hier_hidden widths (with cfg.act) map z1 -> z2
     * (inference, posterior hier2; the ladder's is d1 -> z2 bottom-up) and
     * z2 -> z1 (the generative Pr(z1|z2) of prior hier2). The posterior must
     * be hier2 or ladder and the prior hier2 exactly when there are two
     * layers. 0 or 1: one layer (the other fields unused, 0). */
    int stochastic_layers;
    int z2_dim;
    int n_hier_hidden;
    int hier_hidden[ELBO_VAE_MAX_HIER];
    /* Flow posteriors (planar, iaf; docs/POSTERIORS.md): flow_steps K in
     * 1..ELBO_VAE_MAX_FLOW_STEPS transformations after the Gaussian base,
     * and flow_hidden, the units of each IAF step's MADE hidden layer.
     * Both 0 (and ignored) for the Gaussian families. */
    int flow_steps;
    int flow_hidden;
} elbo_vae_config;

#define ELBO_VAE_MAX_FLOW_STEPS 32
#define ELBO_VAE_MAX_FLOW_HIDDEN 4096

/* 784-400-20 ReLU, Bernoulli, diagonal Gaussian posterior, standard normal
 * prior: the common reference. */
elbo_vae_config elbo_vae_config_default(void);

/* The encoder from a spec: comma-separated layers "conv:C:K:S[:P]" (C
 * channels, K x K kernel, stride S, padding P, default (K - S + 1) / 2) and
 * "dense:W", e.g. "conv:32:4:2,conv:32:4:2,dense:256". Sets arch CONV and
 * the layers; the image shape must be set (cfg->image_*) for the fit to be
 * checked by elbo_vae_create. ELBO_ERR_INVALID naming the bad layer. */
elbo_status elbo_vae_config_parse_encoder(elbo_vae_config *cfg, const char *spec);
/* The default convolutional encoder for cfg's image: the 4-layer 32-32-64-64
 * k4 s2 stack with a dense 256 of Chen et al. / Burgess et al. for 64x64
 * inputs, two layers 32-64 k4 s2 and dense 256 for smaller ones (28x28). */
elbo_status elbo_vae_config_conv_default(elbo_vae_config *cfg);
/* The spec of cfg's encoder ("dense:400" or "conv:32:4:2:1,...") into buf. */
int elbo_vae_config_spec(const elbo_vae_config *cfg, char *buf, size_t cap);

/* The shape of an activation between layers: an image (h, w, c) or a
 * vector of c features (h = w = 0). */
typedef struct elbo_vae_act_shape {
    int h, w, c;
} elbo_vae_act_shape;

/* The networks as planned from the config by elbo_vae_create. */
typedef struct elbo_vae_net {
    int n;                                      /* encoder hidden layers */
    elbo_vae_layer layer[ELBO_VAE_MAX_HIDDEN];  /* encoder layer i */
    elbo_vae_act_shape in[ELBO_VAE_MAX_HIDDEN + 1]; /* in[i]: input of encoder layer i; in[n]: the head's */
    int y_at;                                   /* conditional: the encoder layer whose input takes the
                                                 * class (n: the head) */
    int out_pad_h[ELBO_VAE_MAX_HIDDEN], out_pad_w[ELBO_VAE_MAX_HIDDEN]; /* output padding of the transposed
                                                 * convolution mirroring conv layer i */
} elbo_vae_net;

typedef struct elbo_vae {
    elbo_vae_config cfg;
    elbo_params params;
    elbo_vae_net net;
    /* parameter ids: encoder layers, the posterior head, decoder layers,
     * output; decoder layer i mirrors encoder layer n-1-i, out mirrors layer 0 */
    int enc_w[ELBO_VAE_MAX_HIDDEN], enc_b[ELBO_VAE_MAX_HIDDEN];
    int head_w, head_b;
    int dec_w[ELBO_VAE_MAX_HIDDEN], dec_b[ELBO_VAE_MAX_HIDDEN];
    int out_w, out_b;
    int lik_logvar; /* (1,D) for ELBO_VAE_GAUSSIAN_LEARNED, else -1 */
    /* parameters of the posterior, prior and likelihood parts (their add_params) */
    int post_ids[ELBO_VAE_MAX_PART_PARAMS], prior_ids[ELBO_VAE_MAX_PART_PARAMS],
        lik_ids[ELBO_VAE_MAX_PART_PARAMS];
    /* how each parameter is initialised: U(+-1/sqrt(fan_in)) when fan_in > 0, else filled with init_fill */
    int init_fan_in[ELBO_VAE_MAX_PARAMS];
    float init_fill[ELBO_VAE_MAX_PARAMS];
} elbo_vae;

/* Validate cfg (an encoder spec that does not fit the input is
 * ELBO_ERR_INVALID naming the layer and the shapes), register the parameters
 * and initialise them like PyTorch's defaults (nn.Linear, nn.Conv2d,
 * nn.ConvTranspose2d: U(+-1/sqrt(fan_in)) for weights and biases). */
elbo_status elbo_vae_create(elbo_vae *m, const elbo_vae_config *cfg, elbo_rng *rng);
/* For a part's add_params: register a parameter of ndim dims initialised
 * U(+-1/sqrt(fan_in)) (fan_in > 0) or filled with `fill`; returns its id or -1. */
int elbo_vae_add_param(elbo_vae *m, const char *name, int ndim, const int *dims, int fan_in, float fill);
void elbo_vae_free(elbo_vae *m);
/* Same architecture (for checkpoints and tests). */
bool elbo_vae_config_equal(const elbo_vae_config *a, const elbo_vae_config *b);
/* A JSON object describing cfg into buf (for checkpoints and summary.json);
 * returns the length it needs (like snprintf). */
int elbo_vae_config_json(const elbo_vae_config *cfg, char *buf, size_t cap);

/* ---- the objective ---- */

typedef struct elbo_vae_objective_ops elbo_vae_objective_ops; /* component.h */

/* The objective of one step: which (ops: an entry of the objective registry,
 * NULL for the ELBO, or IWAE-K when iw_k > 1) and its weights at this step. */
typedef struct elbo_vae_objective {
    float kl_weight;  /* beta times the warm-up factor at this step */
    float free_bits;  /* lambda nats per latent dimension (0: off) */
    int mc_samples;   /* L >= 1 samples of z per example for the reconstruction term */
    int iw_k;         /* > 1: train on the IWAE-K bound instead (kl_weight and free bits ignored) */
    const elbo_vae_objective_ops *ops;
    float gamma;      /* capacity: weight of |KL - C|; penalties: their weight */
    float capacity;   /* C at this step, nats per example (capacity objective) */
    float alpha, lambda; /* more weights for penalty objectives (their meaning is theirs) */
    int variant;      /* an objective's own choice (e.g. an estimator), 0 the default */
    long step;        /* optimizer steps taken before this one */
    size_t n_data;    /* examples in the training set (minibatch estimators of q(z)) */
    elbo_rng *rng;    /* for objectives that draw (e.g. permutations), may be NULL */
    void *state;      /* an objective's own state (e.g. a discriminator), may be NULL */
} elbo_vae_objective;
#define ELBO_VAE_OBJECTIVE_DEFAULT ((elbo_vae_objective){.kl_weight = 1.0f, .free_bits = 0.0f, .mc_samples = 1, .iw_k = 0})

/* What one minibatch gives (sums over its examples). */
typedef struct elbo_vae_batch_stats {
    double rec;      /* -sum log Pr(x|z), averaged over the L samples */
    double kl;       /* sum KL(q(z|x) || Pr(z)) (closed form, or estimated from the samples) */
    double neg_elbo; /* rec + kl: the negative ELBO, whatever the training weights */
    double loss;     /* what is minimised (weighted KL, free bits, -IWAE-K bound, penalties) */
    double penalty;  /* the penalty objective's added term (0 without one) */
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

/* One training step on a given batch: forward (elbo_vae_loss), backward,
 * the non-finite guard, then Adam with adam. stats receives the batch's
 * terms (may be NULL). The tape is reset first. A NaN/Inf in the loss or a
 * gradient is ELBO_ERR_NONFINITE naming the term or parameter, and the
 * parameters are left as they were. */
elbo_status elbo_vae_step(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                          const elbo_vae_objective *obj, elbo_rng *rng, const elbo_adam_config *adam,
                          elbo_vae_batch_stats *stats);

/* The same step in a data-parallel run (the trainer's shards,
 * vae_train.h, do this for the objectives that are sums over examples):
 * x is this process's B rows and the objective a batch of its own (a
 * batch-level estimator, e.g. beta-TCVAE's log q(z), sees these rows only,
 * as under PyTorch's DDP). grad_ready (set on the tape during backward) and
 * after_backward (before the finite check and Adam) let the caller sum the
 * gradients across the processes; a process whose loss is not finite hands
 * in NaN gradients, so all stop at the same step. */
typedef struct elbo_vae_step_hooks {
    void (*grad_ready)(void *ctx, elbo_params *p, int id);
    elbo_status (*after_backward)(void *ctx, elbo_params *p);
    void *ctx;
} elbo_vae_step_hooks;
elbo_status elbo_vae_step_hooked(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                                 const elbo_vae_objective *obj, elbo_rng *rng, const elbo_adam_config *adam,
                                 const elbo_vae_step_hooks *hooks, elbo_vae_batch_stats *stats);

/* ---- evaluation, sampling (vae_eval.c); no-grad, in batches of eval_batch rows ---- */

typedef struct elbo_vae_eval {
    double neg_elbo, rec, kl; /* per example, one posterior sample each */
} elbo_vae_eval;

/* Mean per-example negative ELBO of x (N, D) (y (N, C) one-hot or NULL). */
elbo_status elbo_vae_evaluate(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                              int eval_batch, elbo_rng *rng, elbo_vae_eval *out);
/* Importance-weighted estimate of -log Pr(x) with K samples from q(z|x)
 * (17.28, log-mean-exp), averaged over examples; K = 1 is the ELBO. Also
 * the per-example values into per_example (N) if not NULL. At most
 * eval_batch draws are decoded at once for any K (a larger K is taken in
 * chunks with a running log-sum-exp), so memory does not grow with K. */
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
/* N draws z ~ Pr(z) (the model's prior: Norm[0, I] by default) decoded to means (the noise-free
 * samples of 17.12b). */
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
