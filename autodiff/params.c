/* Parameter slabs: registration, allocation and initialisation. */
#include "autodiff/params.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/tape.h"

_Static_assert(ELBO_PARAM_MAX_DIMS == ELBO_MAX_DIMS, "parameters and tensors have the same dimensions");

/* Each parameter starts on a 64-byte boundary so SIMD loops over one
 * parameter start aligned; the padding floats stay zero in every slab. */
#define PARAM_ALIGN_FLOATS 16

void elbo_params_init(elbo_params *p) { memset(p, 0, sizeof *p); }

int elbo_params_add(elbo_params *p, const char *name, int rows, int cols)
{
    return elbo_params_add_nd(p, name, 2, (const int[]){rows, cols});
}

/* dims[0..ndim-1] >= 1 with a product that fits an int (the 2-D view's cols) */
static bool dims_ok(int ndim, const int *dims)
{
    if (!dims || ndim < 1 || ndim > ELBO_PARAM_MAX_DIMS)
        return false;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            return false;
        n *= (size_t)dims[i];
        if (n > (size_t)INT32_MAX)
            return false;
    }
    return true;
}

int elbo_params_add_nd(elbo_params *p, const char *name, int ndim, const int *dims)
{
    if (p->w) {
        elbo_fail(ELBO_ERR_INVALID, "params add '%s': expected registration before finalize", name ? name : "");
        return -1;
    }
    if (!name || strlen(name) >= ELBO_PARAM_NAME_MAX || !dims_ok(ndim, dims)) {
        char shape[64] = "(";
        for (int i = 0; dims && i < ndim && i < ELBO_PARAM_MAX_DIMS; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), i ? ",%d" : "%d", dims[i]);
        strcat(shape, ")");
        elbo_fail(ELBO_ERR_INVALID,
                  "params add: expected a name shorter than %d and 1..%d dimensions >= 1, got '%s' %s",
                  ELBO_PARAM_NAME_MAX, ELBO_PARAM_MAX_DIMS, name ? name : "(null)", shape);
        return -1;
    }
    elbo_param_info *info = realloc(p->info, (size_t)(p->count + 1) * sizeof *info);
    if (!info) {
        elbo_fail(ELBO_ERR_NOMEM, "params add '%s': out of memory", name);
        return -1;
    }
    p->info = info;
    elbo_param_info *pi = &info[p->count];
    memset(pi, 0, sizeof *pi);
    strcpy(pi->name, name);
    pi->ndim = ndim;
    size_t size = 1;
    for (int i = 0; i < ndim; i++) {
        pi->dims[i] = dims[i];
        size *= (size_t)dims[i];
    }
    pi->rows = dims[0];
    pi->cols = (int)(size / (size_t)dims[0]);
    pi->offset = p->n;
    p->n += (size + PARAM_ALIGN_FLOATS - 1) / PARAM_ALIGN_FLOATS * PARAM_ALIGN_FLOATS;
    return p->count++;
}

static float *slab_alloc(size_t n)
{
    float *s = aligned_alloc(64, (n ? n : PARAM_ALIGN_FLOATS) * sizeof(float));
    if (s)
        memset(s, 0, n * sizeof(float));
    return s;
}

elbo_status elbo_params_finalize(elbo_params *p)
{
    if (p->w)
        return elbo_fail(ELBO_ERR_INVALID, "params finalize: already finalized");
    p->w = slab_alloc(p->n);
    p->g = slab_alloc(p->n);
    p->m = slab_alloc(p->n);
    p->v = slab_alloc(p->n);
    p->g_stale = calloc((size_t)(p->count ? p->count : 1), sizeof *p->g_stale);
    p->step = 0;
    if (!p->w || !p->g || !p->m || !p->v || !p->g_stale) {
        size_t n = p->n;
        elbo_params_free(p);
        return elbo_fail(ELBO_ERR_NOMEM, "params finalize: out of memory for 4 slabs of %zu floats", n);
    }
    return ELBO_OK;
}

void elbo_params_free(elbo_params *p)
{
    free(p->w);
    free(p->g);
    free(p->m);
    free(p->v);
    free(p->g_stale);
    free(p->info);
    elbo_params_init(p);
}

static size_t param_size(const elbo_params *p, int id) { return (size_t)p->info[id].rows * (size_t)p->info[id].cols; }

/* The init calls below are no-ops on a bad id: they have no status to
 * return, and a model that registered its own ids cannot pass one. */
static bool valid(const elbo_params *p, int id) { return p->w && id >= 0 && id < p->count; }

static void fill_uniform(elbo_params *p, int id, double bound, elbo_rng *rng)
{
    float *w = elbo_param_w(p, id);
    for (size_t i = 0, n = param_size(p, id); i < n; i++)
        w[i] = (float)((2.0 * elbo_rng_uniform(rng) - 1.0) * bound);
}

void elbo_params_init_xavier(elbo_params *p, int id, elbo_rng *rng)
{
    if (!valid(p, id))
        return;
    const elbo_param_info *pi = &p->info[id];
    fill_uniform(p, id, sqrt(6.0 / (double)(pi->rows + pi->cols)), rng);
}

void elbo_params_init_he(elbo_params *p, int id, elbo_rng *rng)
{
    if (!valid(p, id))
        return;
    double sd = sqrt(2.0 / (double)p->info[id].rows);
    float *w = elbo_param_w(p, id);
    for (size_t i = 0, n = param_size(p, id); i < n; i++)
        w[i] = (float)(sd * elbo_rng_normal(rng));
}

void elbo_params_init_uniform_fan_in(elbo_params *p, int id, int fan_in, elbo_rng *rng)
{
    if (!valid(p, id) || fan_in < 1)
        return;
    fill_uniform(p, id, 1.0 / sqrt((double)fan_in), rng);
}

void elbo_params_fill(elbo_params *p, int id, float value)
{
    if (!valid(p, id))
        return;
    float *w = elbo_param_w(p, id);
    for (size_t i = 0, n = param_size(p, id); i < n; i++)
        w[i] = value;
}
