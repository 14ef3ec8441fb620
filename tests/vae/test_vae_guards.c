/* Training guards (issue 8), and the data-parallel step's hooks (a shard
 * with a non-finite loss hands in NaNs; elbo_vae_step_hooked calls its hooks
 * and keeps elbo_vae_step's bits). A non-finite loss or gradient stops training
 * with one line naming the step and the term (reconstruction, KL) or the
 * parameter whose gradient went bad; the step changes neither the weights nor
 * the Adam state, and the last good checkpoint stays in place, byte for byte,
 * and still resumes.
 *
 * Each case trains one good epoch on the synthetic 8x8 fixture and
 * checkpoints it, as a driver does at the end of an epoch, then makes the next
 * step diverge in a controlled way:
 *   - reconstruction: a NaN in the output bias (the encoder, hence KL, is fine);
 *   - KL: the encoder's mean head pushed to 1e20, so mu^2 overflows, while the
 *     decoder ignores z (zero first-layer weights) and reconstructs finitely;
 *   - gradient: a finite loss whose gradient overflows: all-zero pixels, a
 *     decoder hidden layer at 1e38 and zero output weights, so the output
 *     logits are the (finite) bias, but dL/dout.W = sum over the batch of
 *     1e38 * (sigmoid(30) - 0) = 32e38, which is Inf in float32. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae/vae_train.h"
#include "test_util.h"
#include "vae_fixture.h"

#define CONFIG "{\"guard\":1}"
#define BATCH 32
#define N_TRAIN 128 /* 4 steps per epoch */

typedef struct guard_run {
    char *dir;
    char ckpt[4200];
    elbo_dataset ds;
    elbo_vae m;
    elbo_vae_trainer tr;
    uint8_t *good;   /* the checkpoint file after the good epoch */
    size_t good_len;
    long good_step;  /* optimizer steps in the good checkpoint */
    float *w_good;   /* weights in the good checkpoint */
} guard_run;

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    cr_assert(len > 0);
    rewind(f);
    uint8_t *b = malloc((size_t)len);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* One good epoch, checkpointed. */
static void start(guard_run *g)
{
    memset(g, 0, sizeof *g);
    g->dir = tu_tempdir();
    cr_assert(g->dir);
    snprintf(g->ckpt, sizeof g->ckpt, "%s/checkpoint.ckpt", g->dir);
    cr_assert_eq(fx_dataset(N_TRAIN, 0.1f, 1, 1, &g->ds), ELBO_OK);
    elbo_vae_config c = fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng r;
    elbo_rng_seed(&r, 5);
    cr_assert_eq(elbo_vae_create(&g->m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = BATCH;
    cr_assert_eq(elbo_vae_trainer_init(&g->tr, &g->m, &g->ds, &tc), ELBO_OK, "%s", elbo_last_error());
    bool end = false;
    while (!end)
        cr_assert_eq(elbo_vae_trainer_step(&g->tr, &end), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_vae_trainer_save(&g->tr, g->ckpt, CONFIG, NULL, 0), ELBO_OK, "%s", elbo_last_error());
    g->good = slurp(g->ckpt, &g->good_len);
    g->good_step = g->m.params.step;
    cr_assert_eq(g->good_step, N_TRAIN / BATCH);
    g->w_good = malloc(g->m.params.n * sizeof(float));
    memcpy(g->w_good, g->m.params.w, g->m.params.n * sizeof(float));
}

/* The next step must fail as non-finite, say `step N` and every word of
 * `says` on one line, and change nothing; the checkpoint must be the good
 * one and must still resume to the good weights and train on. */
static void expect_guarded(guard_run *g, const char *const *says, const char *must_not_say)
{
    elbo_params *p = &g->m.params;
    float *w = malloc(p->n * sizeof(float)), *m1 = malloc(p->n * sizeof(float)), *v = malloc(p->n * sizeof(float));
    memcpy(w, p->w, p->n * sizeof(float));
    memcpy(m1, p->m, p->n * sizeof(float));
    memcpy(v, p->v, p->n * sizeof(float));

    bool end = false;
    elbo_status st = elbo_vae_trainer_step(&g->tr, &end);
    const char *msg = elbo_last_error();
    cr_log_info("guard: %s", msg);
    cr_expect_eq(st, ELBO_ERR_NONFINITE, "status: expected nonfinite, got %s (%s)", elbo_status_name(st), msg);
    char step[32];
    snprintf(step, sizeof step, "step %ld", g->good_step + 1);
    cr_expect(strstr(msg, step) != NULL, "message does not name %s: '%s'", step, msg);
    for (const char *const *s = says; *s; s++)
        cr_expect(strstr(msg, *s) != NULL, "message does not say '%s': '%s'", *s, msg);
    if (must_not_say)
        cr_expect(strstr(msg, must_not_say) == NULL, "message blames '%s': '%s'", must_not_say, msg);
    cr_expect(strchr(msg, '\n') == NULL, "message is not one line: '%s'", msg);
    cr_expect(strstr(msg, ".c:") == NULL, "message names a source file: '%s'", msg);

    /* The failed step left the parameters and the optimizer alone. */
    cr_expect_eq(p->step, g->good_step, "the step counter moved");
    cr_expect(memcmp(w, p->w, p->n * sizeof(float)) == 0, "weights changed by the failed step");
    cr_expect(memcmp(m1, p->m, p->n * sizeof(float)) == 0, "Adam m changed by the failed step");
    cr_expect(memcmp(v, p->v, p->n * sizeof(float)) == 0, "Adam v changed by the failed step");
    free(w);
    free(m1);
    free(v);

    /* The last good checkpoint is in place, byte for byte ... */
    size_t n;
    uint8_t *now = slurp(g->ckpt, &n);
    cr_expect(n == g->good_len && memcmp(now, g->good, n) == 0, "the checkpoint changed");
    free(now);

    /* ... and resumes: the good weights, and training goes on. The data is
     * reset to the fixture (the gradient case zeroed it). */
    elbo_dataset ds;
    cr_assert_eq(fx_dataset(N_TRAIN, 0.1f, 1, 1, &ds), ELBO_OK);
    elbo_vae b;
    elbo_rng r;
    elbo_rng_seed(&r, 99);
    cr_assert_eq(elbo_vae_create(&b, &g->m.cfg, &r), ELBO_OK);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = BATCH;
    elbo_vae_trainer tb;
    cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &ds, &tc), ELBO_OK);
    cr_assert_eq(elbo_vae_trainer_load(&tb, g->ckpt, CONFIG, NULL, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_expect_eq(b.params.step, g->good_step);
    cr_expect(memcmp(b.params.w, g->w_good, b.params.n * sizeof(float)) == 0,
              "the checkpoint does not hold the last good weights");
    cr_expect_eq(elbo_vae_trainer_step(&tb, &end), ELBO_OK, "resumed training failed: %s", elbo_last_error());
    cr_expect_eq(b.params.step, g->good_step + 1);
    elbo_vae_trainer_free(&tb);
    elbo_vae_free(&b);
    elbo_dataset_free(&ds);
}

static void finish(guard_run *g)
{
    elbo_vae_trainer_free(&g->tr);
    elbo_vae_free(&g->m);
    elbo_dataset_free(&g->ds);
    free(g->good);
    free(g->w_good);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g->dir);
    free(g->dir);
}

static void fill(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

Test(vae_guards, nonfinite_reconstruction_term)
{
    guard_run g;
    start(&g);
    elbo_param_w(&g.m.params, g.m.out_b)[7] = NAN;
    expect_guarded(&g, (const char *[]){"reconstruction", "nan", NULL}, "KL");
    finish(&g);
}

Test(vae_guards, nonfinite_kl_term)
{
    guard_run g;
    start(&g);
    const int Z = g.m.cfg.z_dim, H = g.m.cfg.hidden[0];
    /* mu = h W + b with b = 1e20: mu^2 overflows float32. */
    fill(elbo_param_w(&g.m.params, g.m.head_b), (size_t)Z, 1e20f);
    /* The decoder ignores z: its reconstruction stays finite. */
    fill(elbo_param_w(&g.m.params, g.m.dec_w[0]), (size_t)Z * (size_t)H, 0.0f);
    expect_guarded(&g, (const char *[]){"KL", "inf", NULL}, "reconstruction");
    finish(&g);
}

Test(vae_guards, nonfinite_gradient_names_the_parameter)
{
    guard_run g;
    start(&g);
    const int Z = g.m.cfg.z_dim, H = g.m.cfg.hidden[0];
    memset(FX_X(g.ds), 0, g.ds.n * g.ds.d * sizeof(float)); /* behind the loader's back */
    fill(elbo_param_w(&g.m.params, g.m.dec_w[0]), (size_t)Z * (size_t)H, 0.0f);
    fill(elbo_param_w(&g.m.params, g.m.dec_b[0]), (size_t)H, 1e38f);
    fill(elbo_param_w(&g.m.params, g.m.out_w), (size_t)H * FX_D, 0.0f);
    fill(elbo_param_w(&g.m.params, g.m.out_b), FX_D, 30.0f);
    /* The loss itself is finite: about 30 nats per pixel. */
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(&g.m, t, FX_X(g.ds), NULL, BATCH, &o, &r, NULL, &loss, NULL), ELBO_OK, "%s",
                 elbo_last_error());
    cr_assert(isfinite(loss->x[0]));
    elbo_tape_destroy(t);

    const char *name = g.m.params.info[g.m.out_w].name;
    expect_guarded(&g, (const char *[]){"gradient", name, NULL}, NULL);
    finish(&g);
}

/* Data parallel: a process whose shard's loss is not finite must still hand
 * in a gradient, or the others wait for it forever. It hands in NaNs (every
 * parameter declared final, then after_backward), so the sum is NaN in every
 * process and all stop at the same step; it reports its own loss term. */
typedef struct hook_log {
    int ready, after;
    bool all_nan;
} hook_log;

static void log_ready(void *ctx, elbo_params *p, int id)
{
    (void)p, (void)id;
    ((hook_log *)ctx)->ready++;
}

static elbo_status log_after(void *ctx, elbo_params *p)
{
    hook_log *h = ctx;
    h->after++;
    h->all_nan = true;
    for (size_t i = 0; i < p->n; i++)
        h->all_nan = h->all_nan && isnan(p->g[i]);
    return ELBO_OK;
}

Test(vae_guards, shard_with_nonfinite_loss_hands_in_nans)
{
    elbo_dataset ds;
    cr_assert_eq(fx_dataset(N_TRAIN, 0.1f, 1, 1, &ds), ELBO_OK);
    elbo_vae m;
    elbo_vae_config c = fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng r;
    elbo_rng_seed(&r, 5);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    hook_log h = {0};
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = BATCH;
    tc.shard = 1, tc.shards = 2;
    tc.grad_ready = log_ready, tc.after_backward = log_after, tc.hook_ctx = &h;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &ds, &tc), ELBO_OK, "%s", elbo_last_error());
    bool end = false;
    cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(h.after, 1);
    cr_assert(!h.all_nan);
    h = (hook_log){0};

    elbo_param_w(&m.params, m.out_b)[7] = NAN;
    float *w = malloc(m.params.n * sizeof(float));
    memcpy(w, m.params.w, m.params.n * sizeof(float));
    elbo_status st = elbo_vae_trainer_step(&tr, &end);
    const char *msg = elbo_last_error();
    cr_expect_eq(st, ELBO_ERR_NONFINITE, "%s", msg);
    cr_expect(strstr(msg, "step 2") && strstr(msg, "reconstruction"), "message: '%s'", msg);
    cr_expect_eq(h.ready, m.params.count, "%d of %d parameters declared final", h.ready, m.params.count);
    cr_expect_eq(h.after, 1);
    cr_expect(h.all_nan, "the gradient handed in is not all NaN");
    cr_expect_eq(m.params.step, 1, "the failed step moved the step counter");
    cr_expect(memcmp(w, m.params.w, m.params.n * sizeof(float)) == 0, "the failed step changed the weights");
    free(w);
    elbo_vae_trainer_free(&tr);
    elbo_vae_free(&m);
    elbo_dataset_free(&ds);
}

/* elbo_vae_step_hooked with hooks that only watch: every parameter declared
 * final once, after_backward once per step, and the bits of elbo_vae_step. */
static elbo_status watch_after(void *ctx, elbo_params *p)
{
    (void)p;
    ((hook_log *)ctx)->after++;
    return ELBO_OK;
}

Test(vae_guards, hooked_step_calls_the_hooks_and_keeps_the_bits)
{
    elbo_dataset ds;
    cr_assert_eq(fx_dataset(BATCH, 0.1f, 1, 1, &ds), ELBO_OK);
    elbo_vae_config c = fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_vae a, b;
    elbo_rng ra, rb;
    elbo_rng_seed(&ra, 8), elbo_rng_seed(&rb, 8);
    cr_assert_eq(elbo_vae_create(&a, &c, &ra), ELBO_OK);
    cr_assert_eq(elbo_vae_create(&b, &c, &rb), ELBO_OK);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    hook_log h = {0};
    const elbo_vae_step_hooks hooks = {log_ready, watch_after, &h};
    for (int s = 0; s < 3; s++) {
        cr_assert_eq(elbo_vae_step(&a, t, FX_X(ds), NULL, BATCH, &o, &ra, &adam, NULL), ELBO_OK);
        cr_assert_eq(elbo_vae_step_hooked(&b, t, FX_X(ds), NULL, BATCH, &o, &rb, &adam, &hooks, NULL), ELBO_OK);
    }
    cr_expect_eq(h.ready, 3 * b.params.count, "%d gradient-ready calls in 3 steps of %d parameters", h.ready,
                 b.params.count);
    cr_expect_eq(h.after, 3);
    cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0, "other weights than elbo_vae_step's");
    elbo_tape_destroy(t);
    elbo_vae_free(&a), elbo_vae_free(&b);
    elbo_dataset_free(&ds);
}
