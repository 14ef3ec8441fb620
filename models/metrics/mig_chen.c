/* Chen et al.'s MIG (rtqichen/beta-tcvae: disentanglement_metrics.py,
 * estimate_entropies; metric_helpers/mi_metric.py), with the sampling made
 * an input (noise, order) so that an independent computation can use the
 * same draws. Cost: one Gaussian log-density and one exp per (sample,
 * component, dimension) of each group: about dim * n * min(S, n) for the
 * marginal plus dim * n * min(S, n/K_k) per factor k. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"
#include "ops/pool.h"

/* Samples per task of the parallel loop (fixed, so results do not depend on
 * the thread count: each sample's value is computed whole by one task). */
#define SAMPLE_BLOCK 8
#define LOG_2PI 1.8378770664093454836

/* The components of one group, dimension-major, and its samples. */
typedef struct group {
    int dim;
    size_t m, stride;                /* components; distance between dimensions in mu/ivar/cst */
    const double *mu, *ivar, *cst;   /* component i of dimension j at [j * stride + i] */
    const double *z;                 /* (s, dim) the samples */
    size_t s;
    double *neg_log_q;               /* (s, dim) -log q(z_sj | group) */
} group;

/* -log (1/m sum_i N(z; mu_i, var_i)) for the samples of one block. */
static void group_task(void *ctx, int task)
{
    const group *g = ctx;
    size_t s0 = (size_t)task * SAMPLE_BLOCK, s1 = s0 + SAMPLE_BLOCK < g->s ? s0 + SAMPLE_BLOCK : g->s;
    double log_m = log((double)g->m);
    for (size_t s = s0; s < s1; s++)
        for (int j = 0; j < g->dim; j++) {
            const double *mu = g->mu + (size_t)j * g->stride, *iv = g->ivar + (size_t)j * g->stride,
                         *cs = g->cst + (size_t)j * g->stride;
            double z = g->z[s * (size_t)g->dim + (size_t)j], top = -INFINITY, sum = 0;
            for (size_t i = 0; i < g->m; i++) {
                double d = z - mu[i], a = cs[i] - 0.5 * d * d * iv[i];
                top = a > top ? a : top;
            }
            for (size_t i = 0; i < g->m; i++) {
                double d = z - mu[i];
                sum += exp(cs[i] - 0.5 * d * d * iv[i] - top);
            }
            g->neg_log_q[s * (size_t)g->dim + (size_t)j] = -(top + log(sum) - log_m);
        }
}

/* Working state of one estimate. */
typedef struct chen {
    const elbo_codes *codes;
    const elbo_factors *factors;
    size_t n, cap;          /* points; samples per group */
    int dim;
    const uint32_t *order;  /* (n) */
    double *z;              /* (n, dim) one draw per point */
    double *mu, *ivar, *cst;/* (dim, n) components in the current grouping order */
    double *zs, *out;       /* (cap, dim) a group's samples and their -log q */
} chen;

/* Lay the points perm (n) out dimension-major (the groups are runs of perm). */
static void gather_components(chen *c, const uint32_t *perm)
{
    for (int j = 0; j < c->dim; j++)
        for (size_t i = 0; i < c->n; i++) {
            size_t at = (size_t)perm[i] * (size_t)c->dim + (size_t)j, to = (size_t)j * c->n + i;
            double lv = c->codes->logvar[at];
            c->mu[to] = c->codes->mean[at];
            c->ivar[to] = exp(-lv);
            c->cst[to] = -0.5 * (LOG_2PI + lv);
        }
}

/* Entropy estimate h (dim) of the group of components [first, first + m)
 * whose samples are rows (s of them). */
static void group_entropy(chen *c, size_t first, size_t m, const uint32_t *rows, size_t s, double *h)
{
    for (size_t i = 0; i < s; i++)
        memcpy(c->zs + i * (size_t)c->dim, c->z + (size_t)rows[i] * (size_t)c->dim, (size_t)c->dim * sizeof(double));
    group g = {.dim = c->dim, .m = m, .stride = c->n, .mu = c->mu + first, .ivar = c->ivar + first,
               .cst = c->cst + first, .z = c->zs, .s = s, .neg_log_q = c->out};
    elbo_parallel_for((int)((s + SAMPLE_BLOCK - 1) / SAMPLE_BLOCK), group_task, &g);
    for (int j = 0; j < c->dim; j++) {
        double sum = 0;
        for (size_t i = 0; i < s; i++)
            sum += c->out[i * (size_t)c->dim + (size_t)j];
        h[j] = sum / (double)s;
    }
}

/* H(z_j | v_k) (dim) into hc: groups by class, samples the first cap rows
 * of each class in order. perm, starts, rows, taken: scratch. */
static void conditional_entropy(chen *c, int k, uint32_t *perm, size_t *starts, uint32_t *rows, size_t *taken,
                                double *h, double *hc)
{
    const elbo_factors *f = c->factors;
    int32_t K = f->sizes[k];
    memset(starts, 0, ((size_t)K + 1) * sizeof *starts);
    for (size_t i = 0; i < c->n; i++)
        starts[f->classes[i * (size_t)f->count + (size_t)k] + 1]++;
    for (int32_t v = 0; v < K; v++)
        starts[v + 1] += starts[v];
    memcpy(taken, starts, (size_t)K * sizeof *taken);
    for (size_t i = 0; i < c->n; i++) /* points grouped by class, in point order */
        perm[taken[f->classes[i * (size_t)f->count + (size_t)k]]++] = (uint32_t)i;
    gather_components(c, perm);
    memset(taken, 0, (size_t)K * sizeof *taken);
    for (size_t i = 0; i < c->n; i++) { /* samples: the first cap points of each class in `order` */
        uint32_t r = c->order[i];
        int32_t v = f->classes[(size_t)r * (size_t)f->count + (size_t)k];
        if (taken[v] < c->cap)
            rows[starts[v] + taken[v]++] = r;
    }
    memset(hc, 0, (size_t)c->dim * sizeof *hc);
    for (int32_t v = 0; v < K; v++) {
        size_t m = starts[v + 1] - starts[v];
        if (!m)
            continue;
        group_entropy(c, starts[v], m, rows + starts[v], taken[v], h);
        for (int j = 0; j < c->dim; j++)
            hc[j] += (double)m / (double)c->n * h[j];
    }
}

static elbo_status check_opts(const elbo_codes *codes, const elbo_factors *factors, const elbo_chen_opts *o,
                              uint64_t *mask)
{
    elbo_status st = elbo_metric_check(codes, factors);
    if (st != ELBO_OK)
        return st;
    if (!codes->logvar)
        return elbo_fail(ELBO_ERR_INVALID, "mig (Chen): needs the encoder's log-variances");
    if (factors->count > 64)
        return elbo_fail(ELBO_ERR_INVALID, "mig (Chen): %d factors: at most 64 (the factor mask)", factors->count);
    uint64_t all = factors->count == 64 ? ~(uint64_t)0 : ((uint64_t)1 << factors->count) - 1;
    *mask = o->factor_mask ? o->factor_mask & all : all;
    if (!*mask)
        return elbo_fail(ELBO_ERR_INVALID, "mig (Chen): factor mask %#llx selects none of the %d factors",
                         (unsigned long long)o->factor_mask, factors->count);
    if (codes->n > UINT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "mig (Chen): %zu points: at most %u", codes->n, UINT32_MAX);
    if (o->order) { /* a permutation: every point exactly once */
        uint8_t *seen = metric_alloc("mig (Chen)", codes->n, 1);
        if (!seen)
            return ELBO_ERR_NOMEM;
        for (size_t i = 0; i < codes->n && st == ELBO_OK; i++) {
            if (o->order[i] >= codes->n || seen[o->order[i]])
                st = elbo_fail(ELBO_ERR_INVALID, "mig (Chen): order[%zu] = %u: expected a permutation of 0..%zu", i,
                               o->order[i], codes->n - 1);
            else
                seen[o->order[i]] = 1;
        }
        free(seen);
    }
    if (o->noise)
        for (size_t i = 0; i < codes->n * (size_t)codes->dim && st == ELBO_OK; i++)
            if (!isfinite(o->noise[i]))
                st = elbo_fail(ELBO_ERR_NONFINITE, "mig (Chen): noise[%zu] is %g", i, o->noise[i]);
    return st;
}

/* z = mean + exp(logvar / 2) * noise, noise given or drawn; order given,
 * identity or drawn. */
static void draw_inputs(chen *c, const elbo_chen_opts *o, uint32_t *own_order)
{
    elbo_rng rng;
    elbo_rng_seed(&rng, o->seed);
    size_t nd = c->n * (size_t)c->dim;
    for (size_t i = 0; i < nd; i++) {
        double e = o->noise ? o->noise[i] : elbo_rng_normal(&rng);
        c->z[i] = c->codes->mean[i] + exp(0.5 * c->codes->logvar[i]) * e;
    }
    if (o->order) {
        c->order = o->order;
        return;
    }
    for (size_t i = 0; i < c->n; i++)
        own_order[i] = (uint32_t)i;
    if (c->cap < c->n)
        elbo_rng_shuffle(&rng, own_order, c->n);
    c->order = own_order;
}

elbo_status elbo_mi_matrix_chen(const elbo_codes *codes, const elbo_factors *factors, const elbo_chen_opts *opts,
                                double *mi)
{
    uint64_t mask;
    elbo_status st = check_opts(codes, factors, opts, &mask);
    if (st != ELBO_OK)
        return st;
    size_t n = codes->n, nd = n * (size_t)codes->dim;
    int32_t kmax = 1;
    for (int k = 0; k < factors->count; k++)
        kmax = factors->sizes[k] > kmax ? factors->sizes[k] : kmax;
    chen c = {.codes = codes, .factors = factors, .n = n, .dim = codes->dim,
              .cap = opts->samples && opts->samples < n ? opts->samples : n};
    const char *what = "mig (Chen)";
    uint32_t *own_order = metric_alloc(what, n, sizeof *own_order), *perm = metric_alloc(what, n, sizeof *perm),
             *rows = metric_alloc(what, n, sizeof *rows);
    size_t *starts = metric_alloc(what, (size_t)kmax + 1, sizeof *starts),
           *taken = metric_alloc(what, (size_t)kmax, sizeof *taken);
    double *h = metric_alloc(what, (size_t)c.dim, sizeof *h), *h_all = metric_alloc(what, (size_t)c.dim, sizeof *h),
           *hc = metric_alloc(what, (size_t)c.dim, sizeof *hc);
    c.z = metric_alloc(what, nd, sizeof *c.z);
    c.mu = metric_alloc(what, nd, sizeof *c.mu);
    c.ivar = metric_alloc(what, nd, sizeof *c.ivar);
    c.cst = metric_alloc(what, nd, sizeof *c.cst);
    c.zs = metric_alloc(what, c.cap * (size_t)c.dim, sizeof *c.zs);
    c.out = metric_alloc(what, c.cap * (size_t)c.dim, sizeof *c.out);
    if (!own_order || !perm || !rows || !starts || !taken || !h || !h_all || !hc || !c.z || !c.mu || !c.ivar ||
        !c.cst || !c.zs || !c.out)
        st = ELBO_ERR_NOMEM;
    if (st == ELBO_OK) {
        draw_inputs(&c, opts, own_order);
        for (size_t i = 0; i < n; i++)
            perm[i] = (uint32_t)i;
        gather_components(&c, perm);
        group_entropy(&c, 0, n, c.order, c.cap, h_all);
        for (int k = 0; k < factors->count; k++) {
            bool used = mask >> k & 1;
            if (used)
                conditional_entropy(&c, k, perm, starts, rows, taken, h, hc);
            for (int j = 0; j < c.dim; j++)
                mi[(size_t)j * (size_t)factors->count + (size_t)k] = used ? h_all[j] - hc[j] : 0;
        }
    }
    free(own_order), free(perm), free(rows), free(starts), free(taken), free(h), free(h_all), free(hc);
    free(c.z), free(c.mu), free(c.ivar), free(c.cst), free(c.zs), free(c.out);
    return st;
}

elbo_status elbo_mig_chen(const elbo_codes *codes, const elbo_factors *factors, const elbo_chen_opts *opts,
                          double *score, double *per_factor, double *mi_out)
{
    uint64_t mask;
    elbo_status st = check_opts(codes, factors, opts, &mask);
    if (st == ELBO_OK)
        st = metric_check_gap_inputs("mig (Chen)", codes, factors);
    if (st != ELBO_OK)
        return st;
    size_t cells = (size_t)codes->dim * (size_t)factors->count;
    double *mi = metric_alloc("mig (Chen)", cells, sizeof *mi);
    st = mi ? elbo_mi_matrix_chen(codes, factors, opts, mi) : ELBO_ERR_NOMEM;
    if (st == ELBO_OK)
        st = metric_mig_of("mig (Chen)", factors, mi, codes->dim, mask, true, score, per_factor);
    if (st == ELBO_OK && mi_out)
        memcpy(mi_out, mi, cells * sizeof *mi);
    free(mi);
    return st;
}
