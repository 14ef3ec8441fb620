/* dSprites with an encoder as an elbo_code_source (metrics.h): each draw
 * picks dSprites indices (elbo_dsprites_draw), renders them as floats and
 * encodes them, in minibatches of `batch` images.
 *
 *     elbo_dsprites_source src;
 *     elbo_dsprites_source_init(&src, ds, 10, my_encode, my_model, 256);
 *     elbo_factorvae_score(&src.source, NULL, seed, &result);
 *     elbo_dsprites_source_free(&src);
 *
 * The source points into itself: initialise it where it will stay. */
#ifndef ELBO_METRICS_DSPRITES_SOURCE_H
#define ELBO_METRICS_DSPRITES_SOURCE_H

#include <stddef.h>

#include "models/data/dsprites.h"
#include "models/metrics/metrics.h"

/* images (n, 64, 64, 1) floats in {0, 1} -> codes (n, dim): the encoder means. */
typedef elbo_status (*elbo_encode_fn)(void *ctx, const float *images, size_t n, double *codes);

typedef struct elbo_dsprites_source {
    elbo_code_source source; /* pass &s.source to the scores */
    const elbo_dsprites *ds;
    elbo_encode_fn encode;
    void *encode_ctx;
    size_t batch;
    uint32_t *index; /* (batch) */
    float *images;   /* (batch, 64, 64, 1) */
} elbo_dsprites_source;

elbo_status elbo_dsprites_source_init(elbo_dsprites_source *s, const elbo_dsprites *ds, int dim,
                                      elbo_encode_fn encode, void *encode_ctx, size_t batch);
void elbo_dsprites_source_free(elbo_dsprites_source *s);

#endif
