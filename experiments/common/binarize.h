/* --binarize none|static|dynamic for the VAE drivers (Bernoulli pixels from
 * grey levels, as the IWAE and VampPrior papers train on MNIST):
 *   none     the grey levels in [0,1] as they are
 *   static   one Bernoulli draw of every training pixel, fixed for the run
 *   dynamic  a fresh draw of each pixel every time its example is in a
 *            batch (once per epoch), from the trainer's seeded stream
 *            (elbo_vae_train_config.dynamic_binarize)
 * Whenever the mode is not none the test set is binarized once, with its own
 * fixed seed, so every evaluation (and every model of a comparison) sees the
 * same binary test images. */
#ifndef ELBO_EXPERIMENTS_BINARIZE_H
#define ELBO_EXPERIMENTS_BINARIZE_H

#include <stdint.h>

#include "models/io/dataset.h"
#include "ops/error.h"

enum { ELBO_BIN_NONE, ELBO_BIN_STATIC, ELBO_BIN_DYNAMIC };
#define ELBO_BINARIZE_CHOICES "none|static|dynamic"
#define ELBO_BINARIZE_HELP "pixels as [0,1] values, binarized once, or afresh each epoch (the test set: once)"

/* The splits for mode: static binarizes train from train_seed; any mode but
 * none binarizes test from test_seed. */
elbo_status elbo_binarize_splits(int mode, elbo_dataset *train, elbo_dataset *test, uint64_t train_seed,
                                 uint64_t test_seed);

#endif
