/* The trainer's side of data-parallel training (data_parallel.h; NULL: one
 * process, and both calls do the one-process thing): which rows of a batch
 * this rank computes, and a VAE trainer configured to sum its gradients
 * across the ranks. */
#ifndef ELBO_EXPERIMENTS_DP_TRAIN_H
#define ELBO_EXPERIMENTS_DP_TRAIN_H

#include "data_parallel.h"
#include "models/vae/vae_train.h"

/* Rank r of P computes rows [B r / P, B (r+1) / P) of each batch of B. */
void elbo_dp_rows(const elbo_dp *d, int B, int *lo, int *hi);
/* Collective: p attached to the ranks in about nbuckets gradient buckets,
 * and tc's shard and hooks pointed at them (the trainer then computes its
 * rows of each batch and the gradient sums travel during backward). The
 * same status on every rank. NULL: nothing, ELBO_OK. */
elbo_status elbo_dp_train_config(elbo_dp *d, elbo_params *p, int nbuckets, elbo_vae_train_config *tc);

#endif
