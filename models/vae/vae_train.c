/* The VAE training loop: one minibatch step at a time, and checkpoints.
 *
 * Per-step work besides the model itself is kept to: one memcpy per example
 * to gather the batch, an arena reset (no malloc once the arena has grown to
 * its high-water mark in the first step), zeroing the gradient slab, one
 * vectorised sum over the gradient slab for the non-finite guard, and Adam. */
#include "models/vae/vae_train.h"
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/io/checkpoint.h"
#include "models/vae/component.h"
#include "ops/kernels.h"
#include "ops/pool.h"
#include "ops/simd_level.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Streams of one seed for distinct purposes: seed, then jump per purpose, so
 * adding a purpose never shifts another's numbers. */
static void stream(elbo_rng *r, uint64_t seed, int which)
{
    elbo_rng_seed(r, seed);
    for (int i = 0; i < which; i++)
        elbo_rng_jump(r);
}

/* Draws of z per example the objective makes (the noise a shard is given),
 * for the objectives that are sums over examples; 0 for the others. */
static int shard_draws(const elbo_vae_train_config *cfg)
{
    elbo_vae_objective o = {.ops = cfg->objective, .iw_k = cfg->iw_k, .mc_samples = cfg->mc_samples};
    const elbo_vae_objective_ops *ops = elbo_vae_objective_of(&o);
    if (ops == &elbo_objective_iwae)
        return cfg->iw_k > 1 ? cfg->iw_k : 1;
    if (ops == &elbo_objective_elbo)
        return cfg->mc_samples > 0 ? cfg->mc_samples : 1;
    return 0;
}

elbo_status elbo_vae_trainer_init(elbo_vae_trainer *tr, elbo_vae *m, const elbo_dataset *data,
                                  const elbo_vae_train_config *cfg)
{
    memset(tr, 0, sizeof *tr);
    const int D = m->cfg.x_dim, C = m->cfg.n_classes;
    if (!data || data->n == 0 || data->d != (size_t)D)
        return elbo_fail(ELBO_ERR_INVALID, "vae trainer init: expected a non-empty data set of %d features, got %zu",
                         D, data ? data->d : 0);
    if (C > 0 && (!data->y || data->classes > C))
        return elbo_fail(ELBO_ERR_INVALID, "vae trainer init: a conditional model of %d classes needs labels "
                         "below %d", C, C);
    if (cfg->batch < 1 || !(cfg->beta >= 0.0f) || !(cfg->free_bits >= 0.0f) || !(cfg->warmup_epochs >= 0.0f) ||
        cfg->mc_samples < 1 || cfg->iw_k < 0 || !(cfg->adam.lr > 0.0f) || !isfinite(cfg->beta) ||
        !isfinite(cfg->warmup_epochs) || !(cfg->capacity_epochs >= 0.0f) || !isfinite(cfg->capacity_epochs))
        return elbo_fail(ELBO_ERR_INVALID, "vae trainer init: expected batch >= 1, beta, free bits and warm-up "
                         ">= 0, mc_samples >= 1, iw_k >= 0 and lr > 0");
    elbo_vae_objective o0 = elbo_vae_train_objective(cfg, 0, 1, data->n);
    const elbo_vae_objective_ops *ops = elbo_vae_objective_of(&o0);
    elbo_status cst = ops->check ? ops->check(&o0) : ELBO_OK;
    if (cst == ELBO_OK && !(cfg->capacity_max >= 0.0f && isfinite(cfg->capacity_max)))
        cst = elbo_fail(ELBO_ERR_INVALID, "objective %s: capacity must be finite and >= 0, got %g", ops->name,
                        (double)cfg->capacity_max);
    if (cst != ELBO_OK)
        return cst;
    if (cfg->shards < 0 || (cfg->shards > 1 && (cfg->shard < 0 || cfg->shard >= cfg->shards)))
        return elbo_fail(ELBO_ERR_INVALID, "vae trainer init: shard %d of %d", cfg->shard, cfg->shards);
    if (cfg->shards > 1 && shard_draws(cfg) < 1)
        return elbo_fail(ELBO_ERR_INVALID, "vae trainer init: objective %s across processes: only the elbo and "
                         "iwae objectives are sums over examples with a known number of draws", ops->name);
    tr->m = m;
    tr->data = data;
    tr->cfg = *cfg;
    elbo_status st = elbo_batcher_init(&tr->batcher, data, (size_t)cfg->batch, true, false, cfg->seed);
    if (st != ELBO_OK)
        return st;
    tr->steps_per_epoch = elbo_batcher_batches(&tr->batcher);
    stream(&tr->noise, cfg->seed, 1);
    stream(&tr->binarize, cfg->seed, 2);
    size_t B = (size_t)cfg->batch;
    tr->xb = aligned_alloc(64, ((B * (size_t)D * sizeof(float)) + 63) & ~(size_t)63);
    tr->yb = C ? malloc(B * (size_t)C * sizeof(float)) : NULL;
    tr->lb = malloc(B);
    bool nomem = !tr->xb || (C && !tr->yb) || !tr->lb;
    if (cfg->shards > 1 && !nomem) {
        /* A shard's rows sit at their batch position; the rest stay zero. */
        size_t Z = (size_t)m->cfg.z_dim, S = (size_t)shard_draws(cfg);
        memset(tr->xb, 0, B * (size_t)D * sizeof(float));
        tr->eps_all = malloc(B * Z * sizeof(float));
        tr->eps = malloc(S * B * Z * sizeof(float));
        nomem = !tr->eps_all || !tr->eps;
    }
    /* Room for one step's graph; the arena grows to the high-water mark once. */
    if (nomem || elbo_tape_create(&tr->tape, (size_t)8 << 20) != ELBO_OK) {
        elbo_vae_trainer_free(tr);
        return elbo_fail(ELBO_ERR_NOMEM, "vae trainer init: out of memory");
    }
    if (cfg->grad_ready)
        elbo_tape_set_grad_hook(tr->tape, cfg->grad_ready, cfg->hook_ctx);
    tr->epoch_done = true; /* the first step starts an epoch */
    return ELBO_OK;
}

void elbo_vae_trainer_free(elbo_vae_trainer *tr)
{
    if (!tr)
        return;
    elbo_batcher_free(&tr->batcher);
    elbo_tape_destroy(tr->tape);
    free(tr->xb);
    free(tr->yb);
    free(tr->lb);
    free(tr->eps_all);
    free(tr->eps);
    memset(tr, 0, sizeof *tr);
}

uint64_t elbo_vae_trainer_epoch(const elbo_vae_trainer *tr)
{
    /* The batcher moves to epoch + 1 only when asked for the next batch. */
    return tr->batcher.epoch + (tr->epoch_done && tr->acc.n > 0 ? 1 : 0);
}

float elbo_vae_kl_weight(const elbo_vae_train_config *cfg, long step, size_t steps_per_epoch)
{
    double len = (double)cfg->warmup_epochs * (double)steps_per_epoch;
    if (!(len > 0.0))
        return cfg->beta;
    double u = (double)step / len;
    if (u >= 1.0)
        return cfg->beta;
    if (u < 0.0)
        u = 0.0;
    double f = u;
    if (cfg->warmup == ELBO_VAE_WARMUP_SIGMOID) {
        /* logistic(12 (u - 1/2)), rescaled so u = 0 gives 0 and u = 1 gives 1 */
        double lo = 1.0 / (1.0 + exp(6.0)), hi = 1.0 / (1.0 + exp(-6.0));
        f = (1.0 / (1.0 + exp(-12.0 * (u - 0.5))) - lo) / (hi - lo);
    }
    return (float)(cfg->beta * f);
}

float elbo_vae_capacity(const elbo_vae_train_config *cfg, long step, size_t steps_per_epoch)
{
    double len = (double)cfg->capacity_epochs * (double)steps_per_epoch;
    if (!(len > 0.0) || (double)step >= len)
        return cfg->capacity_max;
    return (float)((double)cfg->capacity_max * (step > 0 ? (double)step / len : 0.0));
}

elbo_vae_objective elbo_vae_train_objective(const elbo_vae_train_config *cfg, long step, size_t steps_per_epoch,
                                            size_t n_data)
{
    return (elbo_vae_objective){
        .kl_weight = elbo_vae_kl_weight(cfg, step, steps_per_epoch),
        .free_bits = cfg->free_bits,
        .mc_samples = cfg->mc_samples,
        .iw_k = cfg->iw_k,
        .ops = cfg->objective,
        .gamma = cfg->gamma,
        .capacity = elbo_vae_capacity(cfg, step, steps_per_epoch),
        .alpha = cfg->alpha,
        .lambda = cfg->lambda,
        .variant = cfg->variant,
        .step = step,
        .n_data = n_data,
    };
}

/* The finite check of the gradient slab, split into chunks fixed by its size
 * alone (the same verdict for any thread count), so that two threads share
 * it. At most MAX_SLAB_TASKS chunks of >= 64K floats. */
#define MIN_SLAB_CHUNK 65536
#define MAX_SLAB_TASKS 64

typedef struct slab_task {
    const float *g;
    size_t n, chunk;
    unsigned char *bad; /* per chunk: 1 if its sum is not finite */
} slab_task;

/* A chunk's sum is finite iff all its values are (or it overflows: also worth stopping for). */
static void slab_chunk(void *ctx, int task)
{
    slab_task *s = ctx;
    size_t lo = (size_t)task * s->chunk, len = s->n - lo < s->chunk ? s->n - lo : s->chunk;
    s->bad[task] = !isfinite(elbo_k()->sum(len, s->g + lo));
}

static int slab_tasks(slab_task *s)
{
    s->chunk = (s->n + MAX_SLAB_TASKS - 1) / MAX_SLAB_TASKS;
    if (s->chunk < MIN_SLAB_CHUNK)
        s->chunk = MIN_SLAB_CHUNK;
    return (int)((s->n + s->chunk - 1) / s->chunk);
}

static bool grad_finite(elbo_params *p)
{
    unsigned char bad[MAX_SLAB_TASKS] = {0};
    slab_task s = {.g = p->g, .n = p->n, .bad = bad};
    int tasks = slab_tasks(&s);
    elbo_parallel_for(tasks, slab_chunk, &s);
    for (int i = 0; i < tasks; i++)
        if (bad[i])
            return false;
    return true;
}

/* The minibatch gather, one memcpy per example, in tasks of GATHER_ROWS
 * rows: the rows are scattered over the data set (cache misses), so two
 * threads hide each other's memory latency. */
#define GATHER_ROWS 32

typedef struct gather_task {
    const elbo_dataset *ds;
    const uint32_t *idx;
    size_t n;
    float *x;
    uint8_t *y;
} gather_task;

static void gather_chunk(void *ctx, int task)
{
    gather_task *g = ctx;
    size_t lo = (size_t)task * GATHER_ROWS, len = g->n - lo < GATHER_ROWS ? g->n - lo : GATHER_ROWS;
    elbo_dataset_gather(g->ds, g->idx + lo, len, g->x + lo * g->ds->d, g->y ? g->y + lo : NULL);
}

/* Prefix the last error message with the step (1-based) that failed. */
static elbo_status with_step(elbo_status st, long step, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", elbo_last_error());
    return elbo_fail(st, "step %ld: %s%s", step, what, msg);
}

/* One step with the trainer's extras: eps fixes the noise, an empty batch
 * (B = 0: a process with no rows of this batch) contributes zero gradients,
 * and hooks (data parallel) see each gradient as it is final and run
 * between backward and the finite check. */
typedef struct step_extras {
    const float *eps;
    elbo_grad_ready_fn grad_ready;
    elbo_status (*after_backward)(void *ctx, elbo_params *p);
    void *ctx;
} step_extras;

/* A non-finite loss in a process whose gradient others wait for (data
 * parallel): it hands in NaNs, so the sum is NaN in every process and every
 * one stops at this step with the finite guard, none waits forever. */
static elbo_status poison_step(elbo_params *p, const step_extras *ex)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", elbo_last_error());
    elbo_params_poison_grad(p, ex->grad_ready, ex->ctx);
    elbo_status st = ex->after_backward(ex->ctx, p);
    if (st != ELBO_OK)
        return st;
    return with_step(elbo_fail(ELBO_ERR_NONFINITE, "%s", msg), p->step + 1, "");
}

static elbo_status vae_step(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                            const elbo_vae_objective *obj, elbo_rng *rng, const elbo_adam_config *adam,
                            const step_extras *ex, elbo_vae_batch_stats *stats)
{
    elbo_params *p = &m->params;
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, true);
    elbo_params_clear_grad(p); /* backward overwrites: no pass to zero the slab */
    elbo_node *loss;
    elbo_vae_batch_stats s = {0};
    elbo_status st = ELBO_OK;
    if (B > 0) {
        st = elbo_vae_loss(m, t, x, y, B, obj, rng, ex ? ex->eps : NULL, &loss, &s);
        if (st == ELBO_ERR_NONFINITE && ex && ex->after_backward)
            return poison_step(p, ex);
        if (st == ELBO_ERR_NONFINITE)
            return with_step(st, p->step + 1, "");
        if (st == ELBO_OK)
            st = elbo_backward(t, loss);
    } else { /* no rows: zero gradients, every one final at once */
        elbo_params_zero_grad(p);
        for (int i = p->count - 1; i >= 0 && ex && ex->grad_ready; i--)
            ex->grad_ready(ex->ctx, p, i);
    }
    if (st == ELBO_OK && ex && ex->after_backward)
        st = ex->after_backward(ex->ctx, p);
    if (st != ELBO_OK)
        return st;
    /* A cheap vectorised test first; only on failure look for the culprit. */
    if (!grad_finite(p)) {
        st = elbo_params_check_finite(p);
        if (st == ELBO_OK)
            elbo_fail(ELBO_ERR_NONFINITE, "the gradient sum overflows");
        return with_step(ELBO_ERR_NONFINITE, p->step + 1, ""); /* the message names the gradient */
    }
    elbo_adam_step(p, adam);
    const elbo_vae_objective_ops *ops = elbo_vae_objective_of(obj);
    if (ops->after_step && (st = ops->after_step(obj, t, &s)) != ELBO_OK)
        return with_step(st, p->step, "");
    if (stats)
        *stats = s;
    return ELBO_OK;
}

/* The step: forward (the objective's loss on the tape), backward, the
 * non-finite guard, the optimizer. */
elbo_status elbo_vae_step(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                          const elbo_vae_objective *obj, elbo_rng *rng, const elbo_adam_config *adam,
                          elbo_vae_batch_stats *stats)
{
    return vae_step(m, t, x, y, B, obj, rng, adam, NULL, stats);
}

elbo_status elbo_vae_step_hooked(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                                 const elbo_vae_objective *obj, elbo_rng *rng, const elbo_adam_config *adam,
                                 const elbo_vae_step_hooks *hooks, elbo_vae_batch_stats *stats)
{
    if (!hooks)
        return vae_step(m, t, x, y, B, obj, rng, adam, NULL, stats);
    step_extras ex = {.grad_ready = hooks->grad_ready, .after_backward = hooks->after_backward, .ctx = hooks->ctx};
    elbo_tape_set_grad_hook(t, hooks->grad_ready, hooks->ctx);
    elbo_status st = vae_step(m, t, x, y, B, obj, rng, adam, &ex, stats);
    elbo_tape_set_grad_hook(t, NULL, NULL);
    return st;
}

/* A shard's noise: each draw takes the whole batch's (n, Z) normals, as one
 * process does (the posterior's sample), and keeps rows lo..hi: (S, hi-lo, Z). */
static const float *shard_noise(elbo_vae_trainer *tr, size_t n, size_t lo, size_t hi)
{
    const size_t Z = (size_t)tr->m->cfg.z_dim, b = hi - lo;
    const int S = shard_draws(&tr->cfg);
    for (int s = 0; s < S; s++) {
        elbo_rng_normal_f32(&tr->noise, tr->eps_all, n * Z);
        memcpy(tr->eps + (size_t)s * b * Z, tr->eps_all + lo * Z, b * Z * sizeof(float));
    }
    return tr->eps;
}

elbo_status elbo_vae_trainer_step(elbo_vae_trainer *tr, bool *epoch_end)
{
    *epoch_end = false;
    double t0 = now_seconds();
    elbo_vae *m = tr->m;
    elbo_params *p = &m->params;
    const int D = m->cfg.x_dim, C = m->cfg.n_classes;

    const uint32_t *idx;
    size_t n = elbo_batcher_next(&tr->batcher, &idx);
    if (n == 0) /* the end-of-epoch marker: the next call starts the next epoch */
        n = elbo_batcher_next(&tr->batcher, &idx);
    if (n == 0)
        return elbo_fail(ELBO_ERR_INVALID, "vae trainer step: the batcher gave no batch");
    if (tr->epoch_done) {
        memset(&tr->acc, 0, sizeof tr->acc);
        tr->epoch_done = false;
    }

    /* This process's rows of the batch: all of it, or its shard. */
    const int shards = tr->cfg.shards > 1 ? tr->cfg.shards : 1, shard = shards > 1 ? tr->cfg.shard : 0;
    size_t lo = n * (size_t)shard / (size_t)shards, hi = n * (size_t)(shard + 1) / (size_t)shards, b = hi - lo;
    gather_task gt = {tr->data, idx + lo, b, tr->xb + lo * (size_t)D, C ? tr->lb + lo : NULL};
    elbo_parallel_for((int)((b + GATHER_ROWS - 1) / GATHER_ROWS), gather_chunk, &gt);
    /* The next batch's rows are scattered cache misses: start them now, to
     * arrive while this step computes (the order is known a whole epoch ahead). */
    size_t ahead = tr->data->n - tr->batcher.next, nn = ahead < n ? ahead : n;
    size_t nlo = nn * (size_t)shard / (size_t)shards, nhi = nn * (size_t)(shard + 1) / (size_t)shards;
    elbo_dataset_prefetch(tr->data, tr->batcher.perm + tr->batcher.next + nlo, nhi - nlo);
    /* Random streams advance by the whole batch in every process (a shard
     * binarizes zero rows too), so each row gets the numbers it gets in one. */
    if (tr->cfg.dynamic_binarize)
        elbo_binarize(&tr->binarize, tr->xb, tr->xb, n * (size_t)D);
    if (C) {
        memset(tr->yb, 0, n * (size_t)C * sizeof(float));
        for (size_t i = lo; i < hi; i++)
            tr->yb[i * (size_t)C + tr->lb[i]] = 1.0f;
    }

    elbo_vae_objective obj = elbo_vae_train_objective(&tr->cfg, p->step, tr->steps_per_epoch, tr->data->n);
    obj.state = tr->objective_state;
    step_extras ex = {shards > 1 ? shard_noise(tr, n, lo, hi) : NULL, tr->cfg.grad_ready, tr->cfg.after_backward,
                      tr->cfg.hook_ctx};
    elbo_vae_batch_stats s;
    elbo_status st = vae_step(m, tr->tape, tr->xb + lo * (size_t)D, C ? tr->yb + lo * (size_t)C : NULL, (int)b, &obj,
                              &tr->noise, &tr->cfg.adam, &ex, &s);
    if (st != ELBO_OK)
        return st;
    tr->last = s;

    tr->acc.rec += s.rec;
    tr->acc.kl += s.kl;
    tr->acc.neg_elbo += s.neg_elbo;
    tr->acc.loss += s.loss;
    tr->acc.n += b;
    tr->acc.seconds += now_seconds() - t0;
    if (tr->batcher.next >= tr->data->n) {
        tr->epoch_done = true;
        *epoch_end = true;
    }
    return ELBO_OK;
}

/* ---- checkpoints ---- */

#define BLOB_MAGIC 0x45564145u /* "EAVE" */
#define BLOB_VERSION 1u
/* The architecture record: version 1 (the MLP with a diagonal Gaussian
 * posterior and a standard normal prior) is the first ARCH_LEN_V1 floats of
 * version 2, which adds the parts and the layer list; each later version
 * extends the one before (below). Fields a version lacks read as 0. */
#define ARCH_LEN_V1 (6 + ELBO_VAE_MAX_HIDDEN + 4)
#define ARCH_LEN (ARCH_LEN_V1 + 7 + 5 * ELBO_VAE_MAX_HIDDEN)
/* Version 3 is version 2 followed by the second stochastic layer
 * (stochastic_layers, z2_dim, n_hier_hidden, hier_hidden[]; zeros for one
 * layer); version 4 is version 3 followed by the flow posteriors' steps and
 * hidden width. Each is written only when it is needed, so a one-layer
 * Gaussian model keeps version 2 and two layers without a flow version 3. */
#define ARCH_LEN_V3 (ARCH_LEN + 3 + ELBO_VAE_MAX_HIER)
#define ARCH_LEN_V4 (ARCH_LEN_V3 + 2)

static int arch_version(const elbo_vae_config *c)
{
    return c->flow_steps > 0 ? 4 : c->stochastic_layers == 2 ? 3 : 2;
}

static size_t arch_len(const elbo_vae_config *c)
{
    int v = arch_version(c);
    return v == 4 ? ARCH_LEN_V4 : v == 3 ? ARCH_LEN_V3 : ARCH_LEN;
}

typedef struct train_blob {
    uint32_t magic, version;
    elbo_rng noise, binarize;
    uint64_t batcher_epoch, batcher_next;
    double rec, kl, neg_elbo, loss, seconds;
    uint64_t n;
    uint32_t epoch_done, pad;
    uint64_t extra_len;
} train_blob;

/* The architecture as a float section (integers below 2^24 are exact). */
static void arch_encode(const elbo_vae_config *c, float *a)
{
    memset(a, 0, arch_len(c) * sizeof(float));
    a[0] = (float)arch_version(c);
    a[1] = (float)c->x_dim;
    a[2] = (float)c->z_dim;
    a[3] = (float)c->n_classes;
    a[4] = (float)c->n_hidden;
    a[5] = (float)c->act;
    for (int i = 0; i < c->n_hidden; i++)
        a[6 + i] = (float)c->hidden[i];
    a[6 + ELBO_VAE_MAX_HIDDEN] = c->leaky_slope;
    a[7 + ELBO_VAE_MAX_HIDDEN] = (float)c->lik;
    a[8 + ELBO_VAE_MAX_HIDDEN] = c->gauss_logvar;
    float *v2 = a + ARCH_LEN_V1;
    v2[0] = (float)c->posterior;
    v2[1] = (float)c->prior;
    v2[2] = (float)c->arch;
    v2[3] = (float)c->image_h;
    v2[4] = (float)c->image_w;
    v2[5] = (float)c->image_c;
    v2[6] = (float)c->n_layers;
    for (int i = 0; i < c->n_layers; i++) {
        const elbo_vae_layer *l = &c->layers[i];
        float *r = v2 + 7 + 5 * i;
        r[0] = (float)l->kind, r[1] = (float)l->width, r[2] = (float)l->k, r[3] = (float)l->stride, r[4] = (float)l->pad;
    }
    if (c->stochastic_layers == 2) {
        float *v3 = a + ARCH_LEN;
        v3[0] = 2.0f;
        v3[1] = (float)c->z2_dim;
        v3[2] = (float)c->n_hier_hidden;
        for (int i = 0; i < c->n_hier_hidden; i++)
            v3[3 + i] = (float)c->hier_hidden[i];
    }
    if (a[0] == 4.0f) {
        float *v4 = a + ARCH_LEN_V3;
        v4[0] = (float)c->flow_steps;
        v4[1] = (float)c->flow_hidden;
    }
}

/* A count field: an integer in [lo, hi]. */
static bool field(float v, int lo, int hi, int *out)
{
    if (!(v >= (float)lo && v <= (float)hi) || v != (float)(int)v)
        return false;
    *out = (int)v;
    return true;
}

elbo_status elbo_vae_arch_decode(const float *a, size_t n, elbo_vae_config *c)
{
    if (n < 1 || (a[0] != 1.0f && a[0] != 2.0f && a[0] != 3.0f && a[0] != 4.0f))
        return elbo_fail(ELBO_ERR_FORMAT, "vae checkpoint: architecture record version %g: this build reads "
                         "versions 1 to 4", n ? (double)a[0] : 0.0);
    size_t want = a[0] == 1.0f ? ARCH_LEN_V1 : a[0] == 2.0f ? ARCH_LEN : a[0] == 3.0f ? ARCH_LEN_V3 : ARCH_LEN_V4;
    if (n != want)
        return elbo_fail(ELBO_ERR_FORMAT, "vae checkpoint: architecture record version %g of %zu numbers, "
                         "expected %zu", (double)a[0], n, want);
    *c = elbo_vae_config_default();
    int act = 0, lik = 0;
    bool ok = field(a[1], 1, 1 << 24, &c->x_dim) && field(a[2], 1, 1 << 24, &c->z_dim) &&
              field(a[3], 0, 1 << 24, &c->n_classes) && field(a[4], 0, ELBO_VAE_MAX_HIDDEN, &c->n_hidden) &&
              field(a[5], 0, ELBO_VAE_LEAKY, &act) && field(a[7 + ELBO_VAE_MAX_HIDDEN], 0, ELBO_VAE_GAUSSIAN_LEARNED, &lik);
    for (int i = 0; ok && i < c->n_hidden; i++)
        ok = field(a[6 + i], 1, 1 << 24, &c->hidden[i]);
    c->act = (elbo_vae_act)act;
    c->lik = (elbo_vae_lik)lik;
    c->leaky_slope = a[6 + ELBO_VAE_MAX_HIDDEN];
    c->gauss_logvar = a[8 + ELBO_VAE_MAX_HIDDEN];
    if (ok && a[0] >= 2.0f) {
        const float *v2 = a + ARCH_LEN_V1;
        int arch = 0;
        ok = field(v2[0], 0, 1 << 16, &c->posterior) && field(v2[1], 0, 1 << 16, &c->prior) &&
             field(v2[2], 0, ELBO_VAE_ARCH_CONV, &arch) && field(v2[3], 0, 1 << 24, &c->image_h) &&
             field(v2[4], 0, 1 << 24, &c->image_w) && field(v2[5], 0, 1 << 24, &c->image_c) &&
             field(v2[6], 0, ELBO_VAE_MAX_HIDDEN, &c->n_layers);
        c->arch = (elbo_vae_arch)arch;
        for (int i = 0; ok && i < c->n_layers; i++) {
            const float *r = v2 + 7 + 5 * i;
            int kind = 0;
            elbo_vae_layer *l = &c->layers[i];
            ok = field(r[0], 0, ELBO_VAE_LAYER_CONV, &kind) && field(r[1], 1, 1 << 24, &l->width) &&
                 field(r[2], 0, 64, &l->k) && field(r[3], 0, 64, &l->stride) && field(r[4], 0, 64, &l->pad);
            l->kind = (elbo_vae_layer_kind)kind;
        }
    }
    if (ok && a[0] >= 3.0f && (a[0] == 3.0f || a[ARCH_LEN] != 0.0f)) { /* version 4: zeros for one layer */
        const float *v3 = a + ARCH_LEN;
        ok = field(v3[0], 2, 2, &c->stochastic_layers) && field(v3[1], 1, 1 << 24, &c->z2_dim) &&
             field(v3[2], 0, ELBO_VAE_MAX_HIER, &c->n_hier_hidden);
        for (int i = 0; ok && i < c->n_hier_hidden; i++)
            ok = field(v3[3 + i], 1, 1 << 24, &c->hier_hidden[i]);
    }
    if (ok && a[0] == 4.0f)
        ok = field(a[ARCH_LEN_V3], 0, ELBO_VAE_MAX_FLOW_STEPS, &c->flow_steps) &&
             field(a[ARCH_LEN_V3 + 1], 0, ELBO_VAE_MAX_FLOW_HIDDEN, &c->flow_hidden);
    if (!ok)
        return elbo_fail(ELBO_ERR_FORMAT, "vae checkpoint: architecture record version %g holds an impossible "
                         "value", (double)a[0]);
    return ELBO_OK;
}

/* The learned prior's settings, a section of its own ("vae.prior") beside
 * the architecture record, written when the prior has components: version
 * 1, components K, pseudo-input squashing. Absent: a prior without
 * components (every checkpoint before the learned priors). */
#define PRIOR_RECORD_LEN 3

static void prior_encode(const elbo_vae_config *c, float *a)
{
    a[0] = 1.0f;
    a[1] = (float)c->prior_k;
    a[2] = (float)c->prior_squash;
}

elbo_status elbo_vae_prior_record_decode(const float *a, size_t n, elbo_vae_config *c)
{
    if (n != PRIOR_RECORD_LEN || a[0] != 1.0f)
        return elbo_fail(ELBO_ERR_FORMAT, "vae checkpoint: prior record of %zu numbers, version %g: this build "
                         "reads version 1 of %d numbers", n, n ? (double)a[0] : 0.0, PRIOR_RECORD_LEN);
    if (!field(a[1], 1, ELBO_VAE_PRIOR_K_MAX, &c->prior_k) ||
        !field(a[2], ELBO_VAE_SQUASH_NONE, ELBO_VAE_SQUASH_HARDTANH, &c->prior_squash))
        return elbo_fail(ELBO_ERR_FORMAT, "vae checkpoint: prior record holds an impossible value (%g components, "
                         "squashing %g)", (double)a[1], (double)a[2]);
    return ELBO_OK;
}

/* Section names: "w/enc0.W", "m/enc0.W", "v/enc0.W", ..., "vae.arch" and "vae.prior". */
static void section_name(char *buf, size_t cap, char slab, const char *param)
{
    snprintf(buf, cap, "%c/%s", slab, param);
}

elbo_status elbo_vae_trainer_save(const elbo_vae_trainer *tr, const char *path, const char *config,
                                  const void *extra, size_t extra_len)
{
    const elbo_params *p = &tr->m->params;
    const bool has_prior = tr->m->cfg.prior_k > 0;
    size_t ns = 1 + 3 * (size_t)p->count + (has_prior ? 1 : 0);
    elbo_ckpt_section *sec = calloc(ns, sizeof *sec);
    char(*names)[ELBO_CKPT_NAME_MAX + 1] = calloc(ns, sizeof *names);
    size_t blob_len = sizeof(train_blob) + extra_len;
    uint8_t *blob = malloc(blob_len);
    if (!sec || !names || !blob) {
        free(sec), free(names), free(blob);
        return elbo_fail(ELBO_ERR_NOMEM, "vae trainer save: out of memory");
    }
    float arch[ARCH_LEN_V4];
    arch_encode(&tr->m->cfg, arch);
    sec[0] = (elbo_ckpt_section){"vae.arch", arch, arch_len(&tr->m->cfg)};
    float prior_rec[PRIOR_RECORD_LEN];
    prior_encode(&tr->m->cfg, prior_rec);
    if (has_prior)
        sec[ns - 1] = (elbo_ckpt_section){"vae.prior", prior_rec, PRIOR_RECORD_LEN};
    const char slab_name[3] = {'w', 'm', 'v'};
    float *slabs[3] = {p->w, p->m, p->v};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < p->count; i++) {
            size_t k = 1 + (size_t)s * (size_t)p->count + (size_t)i;
            section_name(names[k], sizeof names[k], slab_name[s], p->info[i].name);
            sec[k] = (elbo_ckpt_section){names[k], slabs[s] + p->info[i].offset,
                                        (size_t)p->info[i].rows * (size_t)p->info[i].cols};
        }

    train_blob b;
    memset(&b, 0, sizeof b);
    b.magic = BLOB_MAGIC;
    b.version = BLOB_VERSION;
    b.noise = tr->noise;
    b.binarize = tr->binarize;
    b.batcher_epoch = tr->batcher.epoch;
    b.batcher_next = tr->batcher.next;
    b.rec = tr->acc.rec;
    b.kl = tr->acc.kl;
    b.neg_elbo = tr->acc.neg_elbo;
    b.loss = tr->acc.loss;
    b.seconds = tr->acc.seconds;
    b.n = tr->acc.n;
    b.epoch_done = tr->epoch_done;
    b.extra_len = extra_len;
    memcpy(blob, &b, sizeof b);
    if (extra_len)
        memcpy(blob + sizeof b, extra, extra_len);

    elbo_ckpt_meta meta = {.config = config ? config : "", .step = (uint64_t)p->step,
                           .epoch = elbo_vae_trainer_epoch(tr), .blob = blob, .blob_len = blob_len};
    elbo_status st = elbo_ckpt_save(path, &meta, sec, ns);
    free(sec), free(names), free(blob);
    return st;
}

/* Copy the parameter sections of slab `which` ('w', 'm' or 'v') from ck into dst. */
static elbo_status load_slab(const elbo_ckpt *ck, const char *path, const elbo_params *p, char which, float *dst)
{
    char name[ELBO_CKPT_NAME_MAX + 1];
    for (int i = 0; i < p->count; i++) {
        section_name(name, sizeof name, which, p->info[i].name);
        const struct elbo_ckpt_entry *e = elbo_ckpt_find(ck, name);
        size_t count = (size_t)p->info[i].rows * (size_t)p->info[i].cols;
        if (!e || e->count != count)
            return elbo_fail(ELBO_ERR_MISMATCH, "%s: section %s: expected %zu floats, got %s%zu", path,
                             name, count, e ? "" : "none ", e ? e->count : 0);
        memcpy(dst + p->info[i].offset, e->data, count * sizeof(float));
    }
    return ELBO_OK;
}

static elbo_status read_arch(const elbo_ckpt *ck, const char *path, elbo_vae_config *c)
{
    const struct elbo_ckpt_entry *e = elbo_ckpt_find(ck, "vae.arch");
    if (!e)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: no vae.arch section: not a VAE checkpoint", path);
    elbo_status st = elbo_vae_arch_decode(e->data, e->count, c);
    const struct elbo_ckpt_entry *pr = elbo_ckpt_find(ck, "vae.prior");
    if (st == ELBO_OK && pr && (st = elbo_vae_prior_record_decode(pr->data, pr->count, c)) != ELBO_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", elbo_last_error());
        return elbo_fail(st, "%s: %s", path, why);
    }
    return st;
}

elbo_status elbo_vae_trainer_load(elbo_vae_trainer *tr, const char *path, const char *config, void **extra,
                                  size_t *extra_len)
{
    if (extra)
        *extra = NULL;
    if (extra_len)
        *extra_len = 0;
    elbo_ckpt ck;
    elbo_status st = elbo_ckpt_read(path, &ck);
    if (st != ELBO_OK)
        return st;
    elbo_params *p = &tr->m->params;
    elbo_vae_config arch;
    train_blob b;
    if ((st = read_arch(&ck, path, &arch)) != ELBO_OK)
        goto done;
    if (!elbo_vae_config_equal(&arch, &tr->m->cfg)) {
        st = elbo_fail(ELBO_ERR_MISMATCH, "%s: the checkpoint holds another architecture", path);
        goto done;
    }
    if (config && strcmp(config, ck.config) != 0) {
        size_t i = 0;
        while (config[i] && config[i] == ck.config[i])
            i++;
        st = elbo_fail(ELBO_ERR_MISMATCH, "%s: configuration differs at byte %zu: expected \"%.40s\", "
                       "got \"%.40s\"", path, i, config + i, ck.config + i);
        goto done;
    }
    if (ck.blob_len < sizeof b) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: trainer state of %zu bytes, expected >= %zu", path,
                       ck.blob_len, sizeof b);
        goto done;
    }
    memcpy(&b, ck.blob, sizeof b);
    if (b.magic != BLOB_MAGIC || b.version != BLOB_VERSION || b.extra_len != ck.blob_len - sizeof b) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: unknown trainer state (magic %08x, version %u)", path,
                       b.magic, b.version);
        goto done;
    }
    if ((st = load_slab(&ck, path, p, 'w', p->w)) != ELBO_OK || (st = load_slab(&ck, path, p, 'm', p->m)) != ELBO_OK ||
        (st = load_slab(&ck, path, p, 'v', p->v)) != ELBO_OK)
        goto done;
    if ((st = elbo_batcher_seek(&tr->batcher, b.batcher_epoch, (size_t)b.batcher_next)) != ELBO_OK)
        goto done;
    p->step = (long)ck.step;
    tr->noise = b.noise;
    tr->binarize = b.binarize;
    tr->acc = (elbo_vae_epoch_stats){b.rec, b.kl, b.neg_elbo, b.loss, b.n, b.seconds};
    tr->epoch_done = b.epoch_done != 0;
    if (extra && b.extra_len) {
        *extra = malloc(b.extra_len);
        if (!*extra) {
            st = elbo_fail(ELBO_ERR_NOMEM, "vae trainer load: out of memory");
            goto done;
        }
        memcpy(*extra, ck.blob + sizeof b, b.extra_len);
        if (extra_len)
            *extra_len = b.extra_len;
    }
done:
    elbo_ckpt_free(&ck);
    return st;
}

elbo_status elbo_vae_load_model(const char *path, elbo_vae *m)
{
    memset(m, 0, sizeof *m);
    elbo_ckpt ck;
    elbo_status st = elbo_ckpt_read(path, &ck);
    if (st != ELBO_OK)
        return st;
    elbo_vae_config c;
    elbo_rng r;
    elbo_rng_seed(&r, 0);
    if ((st = read_arch(&ck, path, &c)) == ELBO_OK && (st = elbo_vae_create(m, &c, &r)) == ELBO_OK) {
        st = load_slab(&ck, path, &m->params, 'w', m->params.w);
        if (st == ELBO_OK)
            st = load_slab(&ck, path, &m->params, 'm', m->params.m);
        if (st == ELBO_OK)
            st = load_slab(&ck, path, &m->params, 'v', m->params.v);
        if (st == ELBO_OK)
            m->params.step = (long)ck.step;
        else
            elbo_vae_free(m);
    }
    elbo_ckpt_free(&ck);
    return st;
}
