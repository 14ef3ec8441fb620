/* The toy VAE of the core issue: 2-D points on a noisy arc, a 1-D latent,
 * encoder and decoder each two hidden layers of 32 tanh units, a Gaussian
 * likelihood with sigma 0.1, trained by Adam. Small enough that one training
 * step measures the toolkit's per-op overhead rather than its FLOP rate;
 * shared by tests/autodiff/test_toy_vae.c, bench/autodiff/bench_toy.cc,
 * experiments/toy_vae.c and mirrored by bench/torch_toy_step.py.
 *
 *   x (B,2) -> tanh(linear 2->32) -> tanh(linear 32->32) -> linear 32->2 = [mu | logvar]
 *   z = mu + e^{logvar/2} eps                                   (B,1)
 *   z (B,1) -> tanh(linear 1->32) -> tanh(linear 32->32) -> linear 32->2 = mean of x
 *   loss = mean over the batch of  -log N(x; mean, 0.1² I) + KL(q(z|x) || N(0,1))
 */
#ifndef ELBO_TOY_VAE_H
#define ELBO_TOY_VAE_H

#include <stdint.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/error.h"
#include "ops/rng.h"

#define ELBO_TOY_X_DIM 2
#define ELBO_TOY_Z_DIM 1
#define ELBO_TOY_HIDDEN 32
#define ELBO_TOY_SIGMA 0.1f
#define ELBO_TOY_BATCH 64

typedef struct elbo_toy_vae {
    elbo_params params;
    /* parameter ids; weights are (fan_in, fan_out), biases (1, fan_out) */
    int enc_w1, enc_b1, enc_w2, enc_b2, enc_head_w, enc_head_b; /* head: (32, 2) = mu | logvar */
    int dec_w1, dec_b1, dec_w2, dec_b2, dec_out_w, dec_out_b;
    elbo_tape *tape;
    elbo_rng noise; /* the reparameterization's eps */
    elbo_adam_config adam;
} elbo_toy_vae;

/* Parameters initialised like PyTorch's nn.Linear (U(+-1/sqrt(fan_in))) from
 * seed; the noise stream is an independent stream of the same seed. */
elbo_status elbo_toy_vae_create(elbo_toy_vae *m, uint64_t seed);
void elbo_toy_vae_free(elbo_toy_vae *m);

/* Record the batch-mean negative ELBO of x (batch, 2) on m->tape (not reset
 * here); NULL on error (see elbo_tape_status). x must outlive the tape step. */
elbo_node *elbo_toy_vae_loss(elbo_toy_vae *m, const float *x, int batch);

/* One training step: reset the tape, zero the gradients, loss, backward,
 * Adam. *loss gets the loss before the update. */
elbo_status elbo_toy_vae_step(elbo_toy_vae *m, const float *x, int batch, float *loss);

/* n points (n, 2) on the upper unit half-circle, angle uniform, plus
 * N(0, 0.05²) noise per coordinate. */
void elbo_toy_arc_sample(elbo_rng *rng, float *x, int n);

#endif
