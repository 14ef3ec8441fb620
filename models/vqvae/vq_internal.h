/* What the VQ-VAE and its prior share inside models/vqvae: a data-parallel
 * step's backward and its non-finite loss (vqvae.h, elbo_vq_shard). */
#ifndef ELBO_VQ_INTERNAL_H
#define ELBO_VQ_INTERNAL_H

#include "models/vqvae/vqvae.h"

/* Backward with the shard's gradient-ready hook on the tape, then its
 * after_backward (the sum). sh NULL: backward alone. */
elbo_status elbo_vq_shard_backward(elbo_tape *t, elbo_node *loss, elbo_params *p, const elbo_vq_shard *sh);
/* A non-finite loss: with a shard, NaN gradients handed in first; then
 * ELBO_ERR_NONFINITE, "WHAT: the loss is not finite at step N". */
elbo_status elbo_vq_nonfinite(elbo_params *p, const elbo_vq_shard *sh, const char *what);

#endif
