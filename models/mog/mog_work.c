/* Packing the data into panels once, and running the fused pass over fixed
 * tasks on the thread pool; task results are summed in task order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog_internal.h"
#include "ops/pool.h"

#define ALIGN_BYTES 64

double *mog_alloc_doubles(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(double);
    bytes = (bytes + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
    return aligned_alloc(ALIGN_BYTES, bytes);
}

elbo_status mog_slots_ensure(mog_slots *s)
{
    int want = elbo_threads() + 1; /* + 1: in case the caller runs tasks beside all workers */
    if (want <= s->n)
        return ELBO_OK;
    double **mem = realloc(s->mem, (size_t)want * sizeof *mem);
    if (!mem)
        return elbo_fail(ELBO_ERR_NOMEM, "mog: out of memory for task scratch");
    s->mem = mem;
    int *busy = realloc(s->busy, (size_t)want * sizeof *busy);
    if (!busy)
        return elbo_fail(ELBO_ERR_NOMEM, "mog: out of memory for task scratch");
    s->busy = busy;
    for (int i = s->n; i < want; i++) {
        busy[i] = 0;
        if (!(mem[i] = mog_alloc_doubles(s->doubles)))
            return elbo_fail(ELBO_ERR_NOMEM, "mog: out of memory for task scratch");
        s->n = i + 1;
    }
    return ELBO_OK;
}

int mog_slot_claim(mog_slots *s)
{
    for (;;)
        for (int i = 0; i < s->n; i++)
            if (!__atomic_exchange_n(&s->busy[i], 1, __ATOMIC_ACQUIRE))
                return i;
}

void mog_slot_release(mog_slots *s, int slot) { __atomic_store_n(&s->busy[slot], 0, __ATOMIC_RELEASE); }

void mog_slots_free(mog_slots *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->mem[i]);
    free(s->mem), free(s->busy);
    memset(s, 0, sizeof *s);
}

void mog_work_free(mog_work *w)
{
    free(w->xt);
    free(w->mu);
    free(w->mask);
    free(w->u);
    free(w->cst);
    free(w->outs);
    free(w->out_mem);
    mog_slots_free(&w->slots);
    memset(w, 0, sizeof *w);
}

elbo_status mog_work_init(mog_work *w, const double *x, size_t n, size_t d, size_t k, mog_cov cov)
{
    memset(w, 0, sizeof *w);
    size_t npad = (n + MOG_PAD_POINTS - 1) / MOG_PAD_POINTS * MOG_PAD_POINTS;
    w->n = n;
    w->d = d;
    w->k = k;
    w->full = cov == MOG_COV_FULL;
    w->dp = (d + MOG_TILE - 1) / MOG_TILE * MOG_TILE;
    w->npanels = npad / MOG_LANES;
    w->ntasks = (w->npanels + MOG_TASK_PANELS - 1) / MOG_TASK_PANELS;
    w->slots.doubles = mog_pass_carve(NULL, d, k, w->full, &(mog_pass_layout){0});
    size_t s2len = w->full ? k * d * d : k * d, per_out = k + k * d + s2len;
    w->xt = mog_alloc_doubles(npad * w->dp);
    w->mu = mog_alloc_doubles(k * w->dp);
    w->mask = mog_alloc_doubles(npad);
    w->u = mog_alloc_doubles(w->full ? k * w->dp * w->dp : k * d);
    w->cst = mog_alloc_doubles(k);
    w->outs = calloc(w->ntasks ? w->ntasks : 1, sizeof *w->outs);
    w->out_mem = mog_alloc_doubles(w->ntasks * per_out);
    if (!w->xt || !w->mu || !w->mask || !w->u || !w->cst || !w->outs || !w->out_mem) {
        mog_work_free(w);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: out of memory packing %zu x %zu points", n, d);
    }
    for (size_t t = 0; t < w->ntasks; t++) {
        double *o = w->out_mem + t * per_out;
        w->outs[t].nk = o;
        w->outs[t].s1 = o + k;
        w->outs[t].s2 = o + k + k * d;
    }
    mog_work_pack(w, x, NULL);
    w->fn = mog_pass_kernel();
    return ELBO_OK;
}

void mog_work_pack(mog_work *w, const double *x, const size_t *order)
{
    size_t n = w->n, d = w->d, dp = w->dp;
    w->order = (size_t *)order;
    /* panel p holds slots 8p..8p+7, coordinate-major, dp rows; padding is zero (mask 0) */
    for (size_t p = 0; p < w->npanels; p++)
        for (size_t i = 0; i < MOG_LANES; i++) {
            size_t g = p * MOG_LANES + i, src = g < n && order ? order[g] : g;
            w->mask[g] = g < n ? 1.0 : 0.0;
            for (size_t j = 0; j < dp; j++)
                w->xt[(p * dp + j) * MOG_LANES + i] = g < n && j < d ? x[src * d + j] : 0.0;
        }
}

static void task(void *ctx, int t)
{
    mog_work *w = ctx;
    size_t p0 = (size_t)t * MOG_TASK_PANELS;
    size_t np = w->npanels - p0 < MOG_TASK_PANELS ? w->npanels - p0 : MOG_TASK_PANELS;
    int slot = mog_slot_claim(&w->slots);
    w->fn(&w->args, p0, np, w->slots.mem[slot], &w->outs[t]);
    mog_slot_release(&w->slots, slot);
}

elbo_status mog_work_run(mog_work *w, const mog_params *p, mog_stats *stats, double resp_floor, double *ll,
                         double *energy, double *entropy, double *ll_out, double *resp_out)
{
    size_t k = w->k, d = w->d, dp = w->dp;
    if (p->k != k || p->d != d || (p->cov == MOG_COV_FULL) != w->full)
        return elbo_fail(ELBO_ERR_MISMATCH, "mog: parameters (k=%zu d=%zu) do not match the data (k=%zu d=%zu)",
                         p->k, p->d, k, d);
    /* kernel-side parameters: zero-padded (dp, dp) factors, or per-coordinate scales */
    if (w->full) {
        memset(w->u, 0, k * dp * dp * sizeof(double));
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++)
                for (size_t l = 0; l <= j; l++)
                    w->u[(c * dp + j) * dp + l] = p->prec_chol[(c * d + j) * d + l];
    } else {
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++)
                w->u[c * d + j] = p->prec_chol[p->cov == MOG_COV_DIAG ? c * d + j : c];
    }
    memcpy(w->cst, p->log_norm, k * sizeof(double));
    memset(w->mu, 0, k * dp * sizeof(double));
    for (size_t c = 0; c < k; c++)
        memcpy(w->mu + c * dp, p->means + c * d, d * sizeof(double));
    w->args = (mog_pass_args){
        .d = d, .k = k, .dp = dp, .full = w->full, .xt = w->xt, .mask = w->mask, .mu = w->mu, .u = w->u,
        .cst = w->cst, .want_stats = stats != NULL, .skip = resp_floor >= 0, .floor = resp_floor, .n = w->n, .order = w->order, .ll_out = ll_out,
        .resp_out = resp_out,
    };
    elbo_status st = mog_slots_ensure(&w->slots);
    if (st != ELBO_OK)
        return st;
    elbo_parallel_for((int)w->ntasks, task, w);
    return mog_sum_tasks(w->outs, w->ntasks, p, stats, w->full ? k * d * d : k * d, ll, energy, entropy);
}

elbo_status mog_sum_tasks(const mog_pass_out *outs, size_t ntasks, const mog_params *p, mog_stats *stats,
                          size_t s2len, double *ll, double *energy, double *entropy)
{
    const size_t k = p->k, d = p->d;
    /* fixed order: task 0, 1, 2, ... whatever thread ran them */
    double sll = 0.0, sen = 0.0, set = 0.0;
    if (stats) {
        mog_stats_zero(stats);
        memcpy(stats->c, p->means, k * d * sizeof(double));
    }
    for (size_t t = 0; t < ntasks; t++) {
        const mog_pass_out *o = &outs[t];
        sll += o->ll;
        sen += o->energy;
        set += o->entropy;
        if (!stats)
            continue;
        for (size_t i = 0; i < k; i++)
            stats->nk[i] += o->nk[i];
        for (size_t i = 0; i < k * d; i++)
            stats->s1[i] += o->s1[i];
        for (size_t i = 0; i < s2len; i++)
            stats->s2[i] += o->s2[i];
    }
    if (stats)
        stats->entropy = set;
    if (ll)
        *ll = sll;
    if (energy)
        *energy = sen;
    if (entropy)
        *entropy = set;
    if (!isfinite(sll))
        return elbo_fail(ELBO_ERR_NONFINITE, "mog: E-step: log-likelihood is %g", sll);
    return ELBO_OK;
}
