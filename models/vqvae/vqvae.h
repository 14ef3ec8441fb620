/* VQ-VAE (van den Oord et al. 2017): a convolutional encoder to a grid of
 * D-dim vectors z_e, each replaced by its nearest of K codebook vectors,
 * and a decoder of transposed convolutions back to the image.
 *
 *   encoder  conv 4x4/2 (1->C) relu, conv 4x4/2 (C->C) relu, conv 1x1 (C->D),
 *            then (normalize) each D-vector to mean 0, variance 1 (layer norm)
 *            (H,W,1) -> (H/4,W/4,D) = z_e
 *   quantize r = z_e - e[k] (autodiff vq_residual), z_q = z_e - sg(r)
 *   decoder  conv 3x3/1 (D->C) relu, conv^T 4x4/2 (C->C) relu,
 *            conv^T 4x4/2 (C->1): Bernoulli logits (H,W,1)
 *   loss     (1/B) Σ_b [ BCE(x_b, logits_b) + beta |r_b|² ]
 *
 * z_q passes the decoder's gradient straight through to z_e; the commitment
 * term beta |z_e - sg(e)|² pulls z_e to its code. The codebook is no
 * parameter: it moves by the exponential moving averages of the vectors
 * assigned to each code (elbo_vq_ema_update), not by a codebook loss.
 *
 * The code grid has a learned categorical prior, a MADE (Germain et al.
 * 2015) over the one-hot codes in raster order (models/vqvae/prior.c).
 * Library code: nothing prints; errors are returned with one line. */
#ifndef ELBO_VQVAE_H
#define ELBO_VQVAE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "models/io/dataset.h"
#include "ops/error.h"
#include "ops/rng.h"

/* Accepted ranges (the drivers' flags and elbo_vqvae_create check these). */
#define ELBO_VQ_MAX_CODES 4096
#define ELBO_VQ_MAX_DIM 512
#define ELBO_VQ_MAX_CHANNELS 512

typedef struct elbo_vqvae_config {
    int rows, cols;  /* image size, each a multiple of 4 (one channel) */
    int channels;    /* C, hidden channels of both networks */
    int dim;         /* D, length of a code vector */
    int codes;       /* K, codebook size, in [2, ELBO_VQ_MAX_CODES] */
    float beta;      /* commitment weight (0.25) */
    float decay;     /* EMA decay in [0,1) (0.99) */
    float eps;       /* Laplace smoothing of the EMA counts (1e-5) */
    bool normalize;  /* z_e vectors layer-normalized (mean 0, variance 1 over D) before the lookup */
} elbo_vqvae_config;

#define ELBO_VQVAE_DEFAULT                                                                                      \
    ((elbo_vqvae_config){.rows = 28, .cols = 28, .channels = 32, .dim = 16, .codes = 128, .beta = 0.25f,      \
                         .decay = 0.99f, .eps = 1e-5f, .normalize = true})

/* The codebook and its EMA state: e_k = m_k / Ñ_k (see elbo_vq_ema_update). */
typedef struct elbo_vq_codebook {
    int K, D;
    float *e;        /* (K,D) code vectors, what the tape reads */
    double *count;   /* (K) N_k, the EMA of the vectors assigned to k */
    double *sum;     /* (K,D) m_k, the EMA of their sum */
    float decay, eps;
} elbo_vq_codebook;

typedef struct elbo_vqvae {
    elbo_vqvae_config cfg;
    int gh, gw;       /* code grid: rows/4 x cols/4 */
    elbo_params p;    /* the two networks */
    int enc_w[3], enc_b[3], dec_w[3], dec_b[3];
    elbo_vq_codebook cb;
} elbo_vqvae;

/* Per-step numbers, sums over the batch (divide by its size). */
typedef struct elbo_vqvae_stats {
    double bce;    /* Σ_b -log Pr(x_b | z_q), nats */
    double commit; /* Σ_b |z_e - e|² (before beta) */
    double loss;   /* the objective, per example */
} elbo_vqvae_stats;

/* Check cfg (one line naming the field), register and initialise the
 * networks from rng (PyTorch's U(+-1/sqrt(fan_in))), and allocate the
 * codebook (set it with elbo_vqvae_init_codebook). */
elbo_status elbo_vqvae_create(elbo_vqvae *m, const elbo_vqvae_config *cfg, elbo_rng *rng);
void elbo_vqvae_free(elbo_vqvae *m);
/* Positions of the code grid, gh * gw. */
static inline int elbo_vqvae_positions(const elbo_vqvae *m) { return m->gh * m->gw; }

/* The graph pieces: x (B,H,W,1) -> z_e (B,gh,gw,D); z (B,gh,gw,D) -> logits (B,H,W,1). */
elbo_node *elbo_vqvae_encoder(elbo_vqvae *m, elbo_tape *t, elbo_node *x);
elbo_node *elbo_vqvae_decoder(elbo_vqvae *m, elbo_tape *t, elbo_node *z);

/* The loss node (1,1) of a batch x (B, H*W) with its statistics (optional);
 * *res (optional) is the vq_residual node: its codes, and z_e = z_q + r. */
elbo_node *elbo_vqvae_loss(elbo_vqvae *m, elbo_tape *t, const float *x, int B, elbo_vqvae_stats *st,
                           elbo_node **res, elbo_node **z_e);

/* Codebook from data: the z_e vectors of the batch x (B rows), K of them
 * drawn without replacement by rng (with replacement if the batch has
 * fewer than K), N_k = 1 and m_k = e_k, so the start is a fixed point of
 * the average. */
elbo_status elbo_vqvae_init_codebook(elbo_vqvae *m, elbo_tape *t, const float *x, int B, elbo_rng *rng);

/* One training step: the loss, backward, Adam on the networks, then the EMA
 * update of the codebook from the batch's z_e and codes; counts (K, may be
 * NULL) gets the batch's code counts added. Non-finite loss or gradient:
 * ELBO_ERR_NONFINITE, nothing updated. */
elbo_status elbo_vqvae_step(elbo_vqvae *m, elbo_tape *t, const float *x, int B, const elbo_adam_config *adam,
                            elbo_vqvae_stats *st, uint64_t *counts);

/* Data parallel (models/vae/vae_train.h does the same for the VAE): every
 * process runs the same batches of `batch` rows and passes only its own
 * rows, so its loss is their share of the batch's (1/batch) Σ and the
 * gradients summed over the processes are the batch's. The hooks do the
 * sums: grad_ready (set on the tape during backward) and after_backward (the
 * gradients, before the finite check and Adam), and sum (x summed across
 * the processes in place, in a fixed order; called by every process at
 * every step) for the codebook's batch statistics before the EMA moves. So
 * every process takes the same step. A process whose loss is not finite
 * hands in NaN gradients (elbo_params_poison_grad): all stop at that step. */
typedef struct elbo_vq_shard {
    int batch;
    void (*grad_ready)(void *ctx, elbo_params *p, int id);
    elbo_status (*after_backward)(void *ctx, elbo_params *p);
    elbo_status (*sum)(void *ctx, double *x, int n);
    void *ctx;
} elbo_vq_shard;

/* elbo_vqvae_step on this process's rows x (rows, H*W) of a batch shared
 * with others (sh; NULL: the plain step). st holds this process's sums;
 * counts gets its rows' codes. */
elbo_status elbo_vqvae_step_shard(elbo_vqvae *m, elbo_tape *t, const float *x, int rows, const elbo_vq_shard *sh,
                                  const elbo_adam_config *adam, elbo_vqvae_stats *st, uint64_t *counts);

/* Evaluation over rows [first, first+n) of ds in chunks of B: codes (n *
 * positions, may be NULL), Σ BCE, Σ squared error of the probabilities
 * sigmoid(logits) against x (may be NULL), and code counts added to counts
 * (K, may be NULL). */
elbo_status elbo_vqvae_eval_data(elbo_vqvae *m, elbo_tape *t, const elbo_dataset *ds, size_t first, size_t n, int B,
                                 int32_t *codes, double *bce, double *sq_err, uint64_t *counts);

/* Decode code grids codes (n, positions) into probabilities out (n, H*W). */
elbo_status elbo_vqvae_decode_codes(elbo_vqvae *m, elbo_tape *t, const int32_t *codes, int n, float *out);
/* Reconstructions sigmoid(dec(z_q(x))) of x (n, H*W) into out (n, H*W). */
elbo_status elbo_vqvae_reconstruct(elbo_vqvae *m, elbo_tape *t, const float *x, int n, float *out);

/* ---- the codebook (models/vqvae/codebook.c) ---- */
elbo_status elbo_vq_codebook_alloc(elbo_vq_codebook *cb, int K, int D, float decay, float eps);
void elbo_vq_codebook_free(elbo_vq_codebook *cb);
/* Set e = init (K,D), N_k = 1, m_k = e_k. */
void elbo_vq_codebook_set(elbo_vq_codebook *cb, const float *init);
/* The EMA update from M vectors z (M,D) with codes (M):
 *   n_k = #{i: code_i = k},  s_k = Σ_{i: code_i = k} z_i
 *   N_k <- decay N_k + (1-decay) n_k,  m_k <- decay m_k + (1-decay) s_k
 *   Ñ_k = (N_k + eps) / (Σ_j N_j + K eps) Σ_j N_j      (Laplace smoothing)
 *   e_k = m_k / Ñ_k
 * in double, vectors in order. Codes out of range: ELBO_ERR_INVALID. */
elbo_status elbo_vq_ema_update(elbo_vq_codebook *cb, const float *z, const int32_t *codes, size_t M);
/* The update in two halves, for data parallel (the processes sum their
 * statistics between them): n (K + K D doubles) = the batch statistics
 * (n_k, then s_k) of M vectors; then the EMA from them. */
elbo_status elbo_vq_batch_stats(const elbo_vq_codebook *cb, const float *z, const int32_t *codes, size_t M, double *n);
void elbo_vq_ema_apply(elbo_vq_codebook *cb, const double *n);
/* exp(-Σ_k p_k log p_k), p_k = counts_k / Σ counts (0 log 0 = 0); 0 for no counts. */
double elbo_vq_perplexity(const uint64_t *counts, int K);
/* Codes with a count of 0. */
int elbo_vq_dead_codes(const uint64_t *counts, int K);

/* ---- the prior over code grids (models/vqvae/prior.c) ----
 * A MADE over P positions of K codes in raster order: one-hot input
 * (P*K), one masked hidden layer of H relu units with degrees 1 + h mod
 * (P-1), masked output logits (P, K); position q sees exactly positions
 * < q, so Pr(c) = Π_q softmax(logits_q(c_<q))[c_q] sums to 1 over the K^P
 * grids. */
typedef struct elbo_vq_prior {
    int P, K, H;
    elbo_params p;
    int w1, b1, w2, b2;
    float *mask1, *mask2; /* (P*K, H), (H, P*K) */
} elbo_vq_prior;

#define ELBO_VQ_PRIOR_MAX_HIDDEN 8192

elbo_status elbo_vq_prior_create(elbo_vq_prior *pr, int P, int K, int H, elbo_rng *rng);
void elbo_vq_prior_free(elbo_vq_prior *pr);
/* The negative log-likelihood node (B,1) in nats of code grids codes (B, P). */
elbo_node *elbo_vq_prior_nll(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int B);
/* One Adam step on the mean NLL of a batch; *nll gets its sum. */
elbo_status elbo_vq_prior_step(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int B,
                               const elbo_adam_config *adam, double *nll);
/* The same on this process's rows of a batch shared with others (the
 * shard's sum is not used); *nll gets its rows' sum. */
elbo_status elbo_vq_prior_step_shard(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int rows,
                                     const elbo_vq_shard *sh, const elbo_adam_config *adam, double *nll);
/* Σ NLL over n grids in chunks of B (no gradient). */
elbo_status elbo_vq_prior_eval(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, size_t n, int B, double *nll);
/* n grids drawn code by code in raster order into codes (n, P). */
elbo_status elbo_vq_prior_sample(elbo_vq_prior *pr, elbo_tape *t, int n, elbo_rng *rng, int32_t *codes);

#endif
