/* A VAE's test scores split across ranks by chunks (dp_eval.h). */
#include "dp_eval.h"

typedef struct eval_job {
    elbo_vae *m;
    elbo_tape *t;
    const elbo_dataset *ds;
    int chunk; /* rows per chunk */
    int iw;    /* 0: the ELBO (rec, KL); K: the IW-K -log p(x) */
    uint64_t seed;
} eval_job;

/* Chunk c's sums: its rows as a view of the data set, and noise from a
 * stream of (seed, c), so a chunk gives the same numbers on any rank. */
static elbo_status eval_chunk(void *ctx, size_t c, double *out)
{
    const eval_job *e = ctx;
    size_t lo = c * (size_t)e->chunk, b = e->ds->n - lo < (size_t)e->chunk ? e->ds->n - lo : (size_t)e->chunk;
    elbo_dataset v = *e->ds;
    v.pixels = elbo_dataset_row(e->ds, lo);
    v.y = e->ds->y ? e->ds->y + lo : NULL;
    v.n = b;
    elbo_rng r;
    elbo_rng_seed(&r, e->seed ^ (0x9E3779B97F4A7C15ull * (c + 1)));
    if (e->iw > 0) {
        double nll;
        elbo_status st = elbo_vae_iw_nll_data(e->m, e->t, &v, e->iw, e->chunk, &r, &nll, NULL);
        out[0] = nll * (double)b;
        return st;
    }
    elbo_vae_eval ev;
    elbo_status st = elbo_vae_evaluate_data(e->m, e->t, &v, e->chunk, &r, &ev);
    out[0] = ev.rec * (double)b;
    out[1] = ev.kl * (double)b;
    return st;
}

static size_t chunks_of(const elbo_dataset *ds, int chunk) { return (ds->n + (size_t)chunk - 1) / (size_t)chunk; }

elbo_status elbo_dp_evaluate(elbo_dp *d, elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int chunk, uint64_t seed,
                             elbo_vae_eval *ev)
{
    eval_job job = {m, t, ds, chunk, 0, seed};
    double sums[2];
    elbo_status st = elbo_dp_chunked_sum(d, chunks_of(ds, chunk), 2, eval_chunk, &job, sums);
    if (st != ELBO_OK)
        return st;
    *ev = (elbo_vae_eval){0};
    ev->rec = sums[0] / (double)ds->n;
    ev->kl = sums[1] / (double)ds->n;
    ev->neg_elbo = ev->rec + ev->kl;
    return ELBO_OK;
}

elbo_status elbo_dp_iw_nll(elbo_dp *d, elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int k, int chunk,
                           uint64_t seed, double *nll)
{
    eval_job job = {m, t, ds, chunk, k, seed};
    elbo_status st = elbo_dp_chunked_sum(d, chunks_of(ds, chunk), 1, eval_chunk, &job, nll);
    if (st == ELBO_OK)
        *nll /= (double)ds->n;
    return st;
}
