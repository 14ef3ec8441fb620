/* A codes + factors table as an elbo_code_source: rows drawn with
 * replacement, uniformly among those with the fixed factor's class. */
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"

elbo_status elbo_table_source_rows(const elbo_table_source *s, elbo_rng *rng, int factor, const int32_t *classes,
                                   size_t n, uint32_t *rows)
{
    const elbo_factors *f = s->factors;
    if (factor >= f->count)
        return elbo_fail(ELBO_ERR_INVALID, "table source: factor %d: expected < %d", factor, f->count);
    for (size_t i = 0; i < n; i++) {
        if (factor < 0) {
            rows[i] = (uint32_t)elbo_rng_below(rng, f->n);
            continue;
        }
        int32_t c = classes[i];
        if (c < 0 || c >= f->sizes[factor])
            return elbo_fail(ELBO_ERR_INVALID, "table source: class %d of factor %d: expected 0..%d", c, factor,
                             f->sizes[factor] - 1);
        const size_t *st = s->starts + s->offset[factor] + c;
        if (st[1] == st[0])
            return elbo_fail(ELBO_ERR_INVALID, "table source: no row has class %d of factor %d", c, factor);
        rows[i] = s->rows[(size_t)factor * f->n + st[0] + elbo_rng_below(rng, st[1] - st[0])];
    }
    return ELBO_OK;
}

static elbo_status table_draw(void *ctx, elbo_rng *rng, int factor, const int32_t *classes, size_t n, double *codes)
{
    const elbo_table_source *s = ctx;
    int d = s->codes->dim;
    uint32_t row[256];
    for (size_t at = 0; at < n; at += 256) { /* in pieces: no allocation per draw */
        size_t m = n - at < 256 ? n - at : 256;
        elbo_status st = elbo_table_source_rows(s, rng, factor, classes ? classes + at : NULL, m, row);
        if (st != ELBO_OK)
            return st;
        for (size_t i = 0; i < m; i++)
            memcpy(codes + (at + i) * (size_t)d, s->codes->mean + (size_t)row[i] * (size_t)d, (size_t)d * sizeof(double));
    }
    return ELBO_OK;
}

elbo_status elbo_table_source_init(elbo_table_source *s, const elbo_codes *codes, const elbo_factors *factors)
{
    memset(s, 0, sizeof *s);
    elbo_status st = elbo_metric_check(codes, factors);
    if (st == ELBO_OK && codes->n > UINT32_MAX)
        st = elbo_fail(ELBO_ERR_INVALID, "table source: %zu rows: at most %u", codes->n, UINT32_MAX);
    if (st != ELBO_OK)
        return st;
    size_t n = codes->n, total = 0;
    int nf = factors->count;
    for (int k = 0; k < nf; k++)
        total += (size_t)factors->sizes[k] + 1;
    s->rows = metric_alloc("table source", n * (size_t)nf, sizeof *s->rows);
    s->starts = metric_alloc("table source", total, sizeof *s->starts);
    s->offset = metric_alloc("table source", (size_t)nf, sizeof *s->offset);
    if (!s->rows || !s->starts || !s->offset) {
        elbo_table_source_free(s);
        return ELBO_ERR_NOMEM;
    }
    for (int k = 0, off = 0; k < nf; off += factors->sizes[k] + 1, k++) { /* counting sort by class */
        size_t *start = s->starts + off;
        s->offset[k] = (size_t)off;
        for (size_t i = 0; i < n; i++)
            start[factors->classes[i * (size_t)nf + (size_t)k] + 1]++;
        for (int32_t c = 0; c < factors->sizes[k]; c++)
            start[c + 1] += start[c];
        for (size_t i = 0; i < n; i++) {
            int32_t c = factors->classes[i * (size_t)nf + (size_t)k];
            s->rows[(size_t)k * n + start[c]++] = (uint32_t)i;
        }
        for (int32_t c = factors->sizes[k]; c > 0; c--) /* the fill advanced each start to the next */
            start[c] = start[c - 1];
        start[0] = 0;
    }
    s->codes = codes;
    s->factors = factors;
    s->source = (elbo_code_source){.dim = codes->dim, .count = nf, .sizes = factors->sizes, .ctx = s, .draw = table_draw};
    return ELBO_OK;
}

void elbo_table_source_free(elbo_table_source *s)
{
    free(s->rows);
    free(s->starts);
    free(s->offset);
    memset(s, 0, sizeof *s);
}
