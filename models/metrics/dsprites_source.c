/* dSprites + encoder as a code source: draw indices, render, encode. */
#include "models/metrics/dsprites_source.h"

#include <stdlib.h>
#include <string.h>

static elbo_status dsprites_draw(void *ctx, elbo_rng *rng, int factor, const int32_t *classes, size_t n,
                                 double *codes)
{
    elbo_dsprites_source *s = ctx;
    for (size_t at = 0; at < n; at += s->batch) {
        size_t m = n - at < s->batch ? n - at : s->batch;
        elbo_status st = elbo_dsprites_draw(rng, factor, factor >= 0 ? classes + at : NULL, m, s->index);
        if (st == ELBO_OK)
            st = elbo_dsprites_render_f32(s->ds, s->index, m, s->images);
        if (st == ELBO_OK)
            st = s->encode(s->encode_ctx, s->images, m, codes + at * (size_t)s->source.dim);
        if (st != ELBO_OK)
            return st;
    }
    return ELBO_OK;
}

elbo_status elbo_dsprites_source_init(elbo_dsprites_source *s, const elbo_dsprites *ds, int dim,
                                      elbo_encode_fn encode, void *encode_ctx, size_t batch)
{
    memset(s, 0, sizeof *s);
    if (!ds || !encode || dim < 1 || batch < 1)
        return elbo_fail(ELBO_ERR_INVALID, "dsprites source: needs a renderer, an encoder, dim >= 1 and batch >= 1");
    s->index = malloc(batch * sizeof *s->index);
    s->images = malloc(batch * ELBO_DSPRITES_PIXELS * sizeof *s->images);
    if (!s->index || !s->images) {
        elbo_dsprites_source_free(s);
        return elbo_fail(ELBO_ERR_NOMEM, "dsprites source: out of memory for a batch of %zu images", batch);
    }
    s->ds = ds;
    s->encode = encode;
    s->encode_ctx = encode_ctx;
    s->batch = batch;
    s->source = (elbo_code_source){.dim = dim, .count = ELBO_DSPRITES_FACTORS, .sizes = elbo_dsprites_sizes,
                                   .ctx = s, .draw = dsprites_draw};
    return ELBO_OK;
}

void elbo_dsprites_source_free(elbo_dsprites_source *s)
{
    free(s->index);
    free(s->images);
    memset(s, 0, sizeof *s);
}
