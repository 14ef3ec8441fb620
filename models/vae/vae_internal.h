/* Private to models/vae/: the graph pieces shared by vae.c, vae_eval.c and
 * vae_train.c. Not installed. */
#ifndef ELBO_VAE_INTERNAL_H
#define ELBO_VAE_INTERNAL_H

#include "models/vae/vae.h"

#define VAE_INTERNAL __attribute__((visibility("hidden")))

/* Encoder: x (B,D) [| y (B,C)] -> mu (B,Z), *logvar (B,Z). */
VAE_INTERNAL elbo_node *vae_encoder(elbo_vae *m, elbo_tape *t, elbo_node *x, elbo_node *y, elbo_node **logvar);
/* Decoder: z (B,Z) [| y (B,C)] -> logits or Gaussian means (B,D). */
VAE_INTERNAL elbo_node *vae_decoder(elbo_vae *m, elbo_tape *t, elbo_node *z, elbo_node *y);
/* Per-row -log Pr(x|z) from the decoder output: (B,1). */
VAE_INTERNAL elbo_node *vae_nll(elbo_vae *m, elbo_tape *t, elbo_node *out, elbo_node *x);
/* ELBO_OK if value is finite; else ELBO_ERR_NONFINITE naming term and, if
 * present, the first non-finite input (x (B,D)) or label (y (B,C)). */
VAE_INTERNAL elbo_status vae_check_finite(const char *term, double value, const float *x, const float *y, int B,
                                          int D, int C);

#endif
