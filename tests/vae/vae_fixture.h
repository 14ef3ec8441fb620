/* Small synthetic data for the VAE tests: binary 8x8 "images", each a noisy
 * copy of one of a few random prototypes (its class), so a model learns
 * something real in a few hundred steps and every test runs in seconds. */
#ifndef ELBO_TEST_VAE_FIXTURE_H
#define ELBO_TEST_VAE_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>

#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "ops/rng.h"

#define FX_SIDE 8
#define FX_D (FX_SIDE * FX_SIDE)
#define FX_CLASSES 4

/* The float32 storage of a fixture data set (elbo_dataset_from_arrays). */
#define FX_X(ds) ((float *)(void *)(ds).pixels)

/* n examples from FX_CLASSES prototypes (fixed by proto_seed), pixels
 * flipped with probability flip (drawn from seed); labels are the class. */
static inline elbo_status fx_dataset(size_t n, float flip, uint64_t proto_seed, uint64_t seed, elbo_dataset *ds)
{
    float proto[FX_CLASSES][FX_D];
    elbo_rng r;
    elbo_rng_seed(&r, proto_seed);
    for (int c = 0; c < FX_CLASSES; c++)
        for (int j = 0; j < FX_D; j++)
            proto[c][j] = elbo_rng_uniform(&r) < 0.5 ? 1.0f : 0.0f;
    float *x = malloc(n * FX_D * sizeof(float));
    uint8_t *y = malloc(n);
    if (!x || !y) {
        free(x);
        free(y);
        return ELBO_ERR_NOMEM;
    }
    elbo_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int c = (int)elbo_rng_below(&r, FX_CLASSES);
        y[i] = (uint8_t)c;
        for (int j = 0; j < FX_D; j++) {
            float v = proto[c][j];
            x[i * FX_D + j] = elbo_rng_uniform(&r) < flip ? 1.0f - v : v;
        }
    }
    elbo_status st = elbo_dataset_from_arrays(x, y, n, FX_SIDE, FX_SIDE, FX_CLASSES, ds);
    free(x);
    free(y);
    return st;
}

/* A small model over the fixture: 64-[hidden]-z. */
static inline elbo_vae_config fx_config(int hidden, int z, int classes, elbo_vae_act act, elbo_vae_lik lik)
{
    elbo_vae_config c = elbo_vae_config_default();
    c.x_dim = FX_D;
    c.z_dim = z;
    c.n_classes = classes;
    c.n_hidden = hidden > 0 ? 1 : 0;
    c.hidden[0] = hidden;
    c.act = act;
    c.lik = lik;
    c.gauss_logvar = -1.0f;
    return c;
}

/* One-hot labels of ds (n, classes), malloc'd. */
static inline float *fx_one_hot(const elbo_dataset *ds, int classes)
{
    float *y = calloc(ds->n * (size_t)classes, sizeof(float));
    if (y)
        elbo_one_hot(ds->y, ds->n, classes, y);
    return y;
}

#endif
