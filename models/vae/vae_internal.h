/* Private to models/vae/: the graph pieces shared by the model's files. Not
 * installed. */
#ifndef ELBO_VAE_INTERNAL_H
#define ELBO_VAE_INTERNAL_H

#include <string.h>

#include "models/vae/component.h"
#include "models/vae/vae.h"

#define VAE_INTERNAL __attribute__((visibility("hidden")))

/* net.c: the layer plan (shapes, where the class joins, output paddings;
 * ELBO_ERR_INVALID when a spec does not fit the input), the parameters of
 * the networks, and their graphs. */
VAE_INTERNAL elbo_status vae_net_plan(elbo_vae *m);
VAE_INTERNAL elbo_status vae_net_register(elbo_vae *m);
/* Encoder: x (B,D) [| y (B,C)] -> the posterior head (B, head_size). */
VAE_INTERNAL elbo_node *vae_encoder_head(elbo_vae *m, elbo_tape *t, elbo_node *x, elbo_node *y);
/* Encoder and the posterior's split: q's parameters of x. */
VAE_INTERNAL elbo_status vae_encode_q(elbo_vae *m, elbo_tape *t, elbo_node *x, elbo_node *y, elbo_vae_qparams *q);
/* Decoder: z (B,Z) [| y (B,C)] -> the likelihood's parameters (B, x's shape). */
VAE_INTERNAL elbo_node *vae_decoder(elbo_vae *m, elbo_tape *t, elbo_node *z, elbo_node *y);
/* The hidden activation of cfg (relu, tanh or leaky). */
VAE_INTERNAL elbo_node *vae_activation(elbo_tape *t, const elbo_vae_config *c, elbo_node *h);
/* Per-row -log Pr(x|z) from the decoder output: (B,1). */
VAE_INTERNAL elbo_node *vae_nll(elbo_vae *m, elbo_tape *t, elbo_node *out, elbo_node *x);
/* A constant (rows, cols) node filled with v, from the tape's arena. */
VAE_INTERNAL elbo_node *vae_constant(elbo_tape *t, int rows, int cols, float v);
/* Sum of the (R,1) column of n, in double. */
VAE_INTERNAL double vae_sum_col(const elbo_node *n);
/* ELBO_OK if value is finite; else ELBO_ERR_NONFINITE naming term and, if
 * present, the first non-finite input (x (B,D)) or label (y (B,C)). */
VAE_INTERNAL elbo_status vae_check_finite(const char *term, double value, const float *x, const float *y, int B,
                                          int D, int C);

#endif
