/* Gradient bookkeeping and optimizers over the flat slabs: each is one pass
 * over n floats (the alignment padding is zero in g, so it stays zero in w). */
#include "autodiff/params.h"

#include <math.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/simd_level.h"

void elbo_params_zero_grad(elbo_params *p)
{
    if (!p->g)
        return;
    memset(p->g, 0, p->n * sizeof(float));
    memset(p->g_stale, 0, (size_t)p->count * sizeof *p->g_stale);
}

void elbo_params_poison_grad(elbo_params *p, void (*ready)(void *ctx, elbo_params *p, int id), void *ctx)
{
    for (size_t i = 0; i < p->n; i++)
        p->g[i] = NAN;
    memset(p->g_stale, 0, (size_t)p->count * sizeof *p->g_stale);
    for (int i = p->count - 1; i >= 0 && ready; i--)
        ready(ctx, p, i);
}

void elbo_params_clear_grad(elbo_params *p)
{
    if (p->g)
        for (int id = 0; id < p->count; id++)
            p->g_stale[id] = true;
}

double elbo_params_grad_norm(const elbo_params *p)
{
    /* Double accumulation in slab order: the same bits for any thread count. */
    double ss = 0.0;
    for (size_t i = 0; i < p->n; i++)
        ss += (double)p->g[i] * (double)p->g[i];
    return sqrt(ss);
}

double elbo_params_clip_grad(elbo_params *p, double max_norm)
{
    double norm = elbo_params_grad_norm(p);
    /* A non-finite norm is left for elbo_params_check_finite to report:
     * scaling by 0 or NaN would hide which parameter went bad. */
    if (isfinite(norm) && norm > max_norm && max_norm > 0.0)
        elbo_scale(p->n, (float)(max_norm / norm), p->g, p->g);
    return norm;
}

elbo_status elbo_params_check_finite(const elbo_params *p)
{
    for (int id = 0; id < p->count; id++) {
        const elbo_param_info *pi = &p->info[id];
        const float *g = elbo_param_g(p, id);
        for (size_t i = 0, n = (size_t)pi->rows * (size_t)pi->cols; i < n; i++)
            if (!isfinite(g[i]))
                return elbo_fail(ELBO_ERR_NONFINITE, "gradient of '%s' (%d,%d) is %s at [%zu,%zu]",
                                 pi->name, pi->rows, pi->cols, isnan(g[i]) ? "NaN" : "Inf", i / (size_t)pi->cols,
                                 i % (size_t)pi->cols);
    }
    return ELBO_OK;
}

/* Bias correction folded into the step size and epsilon, so the kernel does
 * one pass: m̂/(sqrt(v̂)+eps) = (m/c1) / (sqrt(v/c2) + eps)
 *   = (sqrt(c2)/c1) m / (sqrt(v) + eps sqrt(c2)), with c_i = 1 - beta_i^t. */
static void adam_constants(const elbo_adam_config *cfg, long step, float *lr_t, float *eps_t)
{
    double t = (double)step;
    double c1 = 1.0 - pow((double)cfg->beta1, t);
    double c2 = 1.0 - pow((double)cfg->beta2, t);
    *lr_t = (float)((double)cfg->lr * sqrt(c2) / c1);
    *eps_t = (float)((double)cfg->eps * sqrt(c2));
}

void elbo_adam_step(elbo_params *p, const elbo_adam_config *cfg)
{
    p->step++;
    float lr_t, eps_t;
    adam_constants(cfg, (long)p->step, &lr_t, &eps_t);
    if (cfg->weight_decay != 0.0f) /* L2 as PyTorch's Adam: g += wd w (g is rebuilt each step) */
        elbo_axpy(p->n, cfg->weight_decay, p->w, p->g);
    elbo_adam(p->n, lr_t, cfg->beta1, cfg->beta2, eps_t, p->g, p->m, p->v, p->w);
}

/* ---- the checked step: chunks of the slab, check then step each ---- */
#define CHECKED_CHUNK 16384 /* floats: 64 KB of g, hot in L1/L2 between check and step */
#define CHECKED_MAX_TASKS 64

struct checked {
    elbo_params *p;
    const elbo_adam_config *cfg;
    float lr_t, eps_t;
    size_t per_task; /* whole chunks per task, fixed by the slab size */
    unsigned char bad[CHECKED_MAX_TASKS];
};

static void checked_task(void *ctx, int task)
{
    struct checked *c = ctx;
    elbo_params *p = c->p;
    const struct elbo_kernels *k = elbo_k();
    size_t lo = (size_t)task * c->per_task, hi = lo + c->per_task < p->n ? lo + c->per_task : p->n;
    for (size_t i = lo; i < hi; i += CHECKED_CHUNK) {
        size_t len = hi - i < CHECKED_CHUNK ? hi - i : CHECKED_CHUNK;
        if (!isfinite(k->sum(len, p->g + i))) { /* stop this task; the step fails */
            c->bad[task] = 1;
            return;
        }
        if (c->cfg->weight_decay != 0.0f) /* g += wd w */
            k->axpy(len, c->cfg->weight_decay, p->w + i, p->g + i);
        k->adam(len, c->lr_t, c->cfg->beta1, c->cfg->beta2, c->eps_t, p->g + i, p->m + i, p->v + i, p->w + i);
    }
}

elbo_status elbo_adam_step_checked(elbo_params *p, const elbo_adam_config *cfg)
{
    struct checked c = {.p = p, .cfg = cfg};
    adam_constants(cfg, (long)p->step + 1, &c.lr_t, &c.eps_t);
    /* tasks of whole chunks, at least 8 chunks each, at most CHECKED_MAX_TASKS */
    size_t chunks = (p->n + CHECKED_CHUNK - 1) / CHECKED_CHUNK, tasks = (chunks + 7) / 8;
    if (tasks > CHECKED_MAX_TASKS)
        tasks = CHECKED_MAX_TASKS;
    if (tasks < 1)
        tasks = 1;
    c.per_task = (chunks + tasks - 1) / tasks * CHECKED_CHUNK;
    tasks = c.per_task ? (p->n + c.per_task - 1) / c.per_task : 1;
    elbo_parallel_for((int)tasks, checked_task, &c);
    for (size_t t = 0; t < tasks; t++) {
        if (!c.bad[t])
            continue;
        elbo_status st = elbo_params_check_finite(p); /* g is unchanged by the step: name the culprit */
        return st != ELBO_OK ? st : elbo_fail(ELBO_ERR_NONFINITE, "the gradient sum overflows");
    }
    p->step++;
    return ELBO_OK;
}

void elbo_sgd_step(elbo_params *p, float lr, float momentum)
{
    elbo_sgd_momentum(p->n, lr, momentum, p->g, p->m, p->w);
}
