/* Determinism: the same seed and configuration give the same bits, run after
 * run and for 1 or 2 threads, at every SIMD level this machine has: GEMM, a
 * small VAE on synthetic data, the toy VAE of the core issue, EM for a
 * mixture of Gaussians, a short VAE run on Fashion-MNIST; and VAE runs
 * interrupted by a checkpoint and resumed continue with the bits of the run
 * never interrupted.
 * The kernel front-end (ops/ops.h) is in test_determinism_ops.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodiff/params.h"
#include "models/io/dataset.h"
#include "models/mog/mog.h"
#include "models/toy_vae.h"
#include "models/vae/vae.h"
#include "models/vae/vae_train.h"
#include "ops/gemm.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

static void restore_defaults(void)
{
    elbo_set_threads(1);
    elbo_simd_set(elbo_simd_best());
}

static bool same_bits(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

static size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return n;
}

/* ---------------- GEMM ---------------- */

static void gemm_once(int threads, bool ta, bool tb, size_t M, size_t N, size_t K, const float *A,
                      const float *B, float *C)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK, "%s", elbo_last_error());
    size_t lda = ta ? M : K, ldb = tb ? K : N;
    for (size_t i = 0; i < M * N; i++)
        C[i] = 0.25f;
    elbo_gemm(ta, tb, M, N, K, A, lda, B, ldb, 0.5f, C, N);
}

Test(determinism, gemm_threads_and_repeats, .fini = restore_defaults)
{
    static const size_t shapes[][3] = {{1, 1, 1}, {7, 9, 5}, {64, 64, 64}, {257, 130, 99}, {128, 400, 784},
                                       {513, 17, 300}};
    for (int level = 0; level < ELBO_SIMD_COUNT; level++) {
        if (!elbo_simd_supported((elbo_simd)level))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)level), ELBO_OK);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++) {
                bool ta = t & 1, tb = t & 2;
                size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                float *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B);
                float *C1 = malloc(M * N * sizeof *C1), *C2 = malloc(M * N * sizeof *C2),
                      *C3 = malloc(M * N * sizeof *C3);
                tu_fill_uniform(A, M * K, -1, 1, 11 + s);
                tu_fill_uniform(B, K * N, -1, 1, 12 + s);
                gemm_once(1, ta, tb, M, N, K, A, B, C1);
                gemm_once(2, ta, tb, M, N, K, A, B, C2);
                gemm_once(2, ta, tb, M, N, K, A, B, C3);
                size_t d = first_diff(C1, C2, M * N);
                cr_expect(d == M * N, "%s gemm %zux%zux%zu ta=%d tb=%d: 1 vs 2 threads differ at [%zu]: %a vs %a",
                          elbo_simd_name((elbo_simd)level), M, N, K, ta, tb, d, d < M * N ? (double)C1[d] : 0.0,
                          d < M * N ? (double)C2[d] : 0.0);
                cr_expect(same_bits(C2, C3, M * N * sizeof *C2), "%s gemm %zux%zux%zu: two 2-thread runs differ",
                          elbo_simd_name((elbo_simd)level), M, N, K);
                free(A), free(B), free(C1), free(C2), free(C3);
            }
    }
}

/* ---------------- VAE runs ---------------- */

typedef struct run_result {
    float *w, *m, *v; /* copies of the slabs */
    size_t n;
    long step;
    double loss, neg_elbo;
} run_result;

static void run_free(run_result *r)
{
    free(r->w), free(r->m), free(r->v);
    memset(r, 0, sizeof *r);
}

static void capture(const elbo_vae_trainer *tr, run_result *r)
{
    const elbo_params *p = &tr->m->params;
    r->n = p->n;
    r->step = p->step;
    r->w = malloc(p->n * sizeof(float));
    r->m = malloc(p->n * sizeof(float));
    r->v = malloc(p->n * sizeof(float));
    memcpy(r->w, p->w, p->n * sizeof(float));
    memcpy(r->m, p->m, p->n * sizeof(float));
    memcpy(r->v, p->v, p->n * sizeof(float));
    r->loss = tr->acc.loss;
    r->neg_elbo = tr->acc.neg_elbo;
}

/* Train `steps` minibatch steps from seed; optionally checkpoint after
 * `split` steps into ckpt, tear everything down, rebuild and resume. */
static void train(const elbo_dataset *ds, const elbo_vae_config *cfg, const elbo_vae_train_config *tcfg,
                  int threads, int steps, int split, const char *ckpt, run_result *out)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK, "%s", elbo_last_error());
    elbo_vae m;
    elbo_vae_trainer tr;
    elbo_rng rng;
    elbo_rng_seed(&rng, tcfg->seed);
    cr_assert_eq(elbo_vae_create(&m, cfg, &rng), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, ds, tcfg), ELBO_OK, "%s", elbo_last_error());
    int s = 0;
    bool end;
    if (split > 0) {
        for (; s < split; s++)
            cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "step %d: %s", s, elbo_last_error());
        cr_assert_eq(elbo_vae_trainer_save(&tr, ckpt, "determinism-test", "xyz", 3), ELBO_OK, "%s",
                     elbo_last_error());
        /* wreck the live state, then rebuild from scratch and resume */
        elbo_vae_trainer_free(&tr);
        elbo_vae_free(&m);
        elbo_rng_seed(&rng, tcfg->seed + 999);
        cr_assert_eq(elbo_vae_create(&m, cfg, &rng), ELBO_OK, "%s", elbo_last_error());
        cr_assert_eq(elbo_vae_trainer_init(&tr, &m, ds, tcfg), ELBO_OK, "%s", elbo_last_error());
        void *extra = NULL;
        size_t extra_len = 0;
        cr_assert_eq(elbo_vae_trainer_load(&tr, ckpt, "determinism-test", &extra, &extra_len), ELBO_OK, "%s",
                     elbo_last_error());
        cr_expect(extra_len == 3 && extra && memcmp(extra, "xyz", 3) == 0, "extra blob not restored");
        free(extra);
    }
    for (; s < steps; s++)
        cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "step %d: %s", s, elbo_last_error());
    capture(&tr, out);
    elbo_vae_trainer_free(&tr);
    elbo_vae_free(&m);
}

static void expect_same_run(const run_result *a, const run_result *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: different parameter counts", what);
    size_t d = first_diff(a->w, b->w, a->n);
    cr_expect(d == a->n, "%s: parameters differ at [%zu]: %a vs %a", what, d, d < a->n ? (double)a->w[d] : 0.0,
              d < a->n ? (double)b->w[d] : 0.0);
    cr_expect(same_bits(a->m, b->m, a->n * sizeof(float)), "%s: Adam first moments differ", what);
    cr_expect(same_bits(a->v, b->v, a->n * sizeof(float)), "%s: Adam second moments differ", what);
    cr_expect_eq(a->step, b->step, "%s: optimizer steps differ", what);
    cr_expect(same_bits(&a->loss, &b->loss, sizeof a->loss), "%s: epoch loss sums differ: %a vs %a", what,
              a->loss, b->loss);
    cr_expect(same_bits(&a->neg_elbo, &b->neg_elbo, sizeof a->neg_elbo), "%s: epoch -ELBO sums differ", what);
}

/* Toy data: 300 images of 4x4 "bars" in [0,1]. */
static void toy_dataset(elbo_dataset *ds)
{
    size_t n = 300, d = 16;
    float *x = malloc(n * d * sizeof *x);
    uint8_t *y = malloc(n);
    tu_fill_uniform(x, n * d, 0, 0.2f, 3);
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint8_t)(i % 4);
        for (size_t c = 0; c < 4; c++)
            x[i * d + y[i] * 4 + c] = 0.9f;
    }
    cr_assert_eq(elbo_dataset_from_arrays(x, y, n, 4, 4, 4, ds), ELBO_OK, "%s", elbo_last_error());
    free(x);
    free(y);
}

static void determinism_suite(const elbo_dataset *ds, const elbo_vae_config *cfg, elbo_vae_train_config tcfg,
                              int steps, const char *name)
{
    char *dir = tu_tempdir();
    cr_assert(dir);
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
    for (int level = 0; level < ELBO_SIMD_COUNT; level++) {
        if (!elbo_simd_supported((elbo_simd)level))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)level), ELBO_OK);
        char what[128];
        run_result a, b, c, r;
        train(ds, cfg, &tcfg, 1, steps, 0, NULL, &a);
        train(ds, cfg, &tcfg, 1, steps, 0, NULL, &b);
        train(ds, cfg, &tcfg, 2, steps, 0, NULL, &c);
        train(ds, cfg, &tcfg, 2, steps, steps / 2, ckpt, &r);
        snprintf(what, sizeof what, "%s %s: run vs rerun", name, elbo_simd_name((elbo_simd)level));
        expect_same_run(&a, &b, what);
        snprintf(what, sizeof what, "%s %s: 1 vs 2 threads", name, elbo_simd_name((elbo_simd)level));
        expect_same_run(&a, &c, what);
        snprintf(what, sizeof what, "%s %s: straight vs checkpoint+resume", name, elbo_simd_name((elbo_simd)level));
        expect_same_run(&a, &r, what);
        run_free(&a), run_free(&b), run_free(&c), run_free(&r);
    }
    unlink(ckpt);
    rmdir(dir);
    free(dir);
}

Test(determinism, toy_vae, .fini = restore_defaults)
{
    elbo_dataset ds;
    toy_dataset(&ds);
    elbo_vae_config cfg = elbo_vae_config_default();
    cfg.x_dim = 16;
    cfg.z_dim = 2;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 24;
    cfg.hidden[1] = 12;
    cfg.act = ELBO_VAE_TANH;
    elbo_vae_train_config tcfg = ELBO_VAE_TRAIN_DEFAULT;
    tcfg.batch = 32;
    tcfg.seed = 7;
    tcfg.warmup_epochs = 1.0f;
    tcfg.dynamic_binarize = true;
    /* 300 examples in batches of 32: 10 steps per epoch, so 23 steps cross
     * two epoch boundaries and the resume point (11) sits mid-epoch */
    determinism_suite(&ds, &cfg, tcfg, 23, "toy vae");

    /* the conditional, learned-variance Gaussian variant */
    cfg.n_classes = 4;
    cfg.lik = ELBO_VAE_GAUSSIAN_LEARNED;
    cfg.act = ELBO_VAE_LEAKY;
    cfg.leaky_slope = 0.01f;
    tcfg.dynamic_binarize = false;
    tcfg.mc_samples = 2;
    determinism_suite(&ds, &cfg, tcfg, 23, "toy cvae");
    elbo_dataset_free(&ds);
}

Test(determinism, short_vae_fashion_mnist, .fini = restore_defaults)
{
    char dir[4096];
    const char *root = getenv("ELBO_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "%s/data/fashion-mnist", root ? root : ".");
    elbo_dataset ds;
    if (elbo_dataset_load(dir, "t10k", &ds) != ELBO_OK)
        cr_skip_test("Fashion-MNIST not available (%s); run scripts/fetch-data.sh", elbo_last_error());
    cr_assert_eq(elbo_dataset_truncate(&ds, 640), ELBO_OK);
    elbo_vae_config cfg = elbo_vae_config_default(); /* 784-400-20 ReLU Bernoulli */
    elbo_vae_train_config tcfg = ELBO_VAE_TRAIN_DEFAULT;
    tcfg.seed = 3;
    determinism_suite(&ds, &cfg, tcfg, 8, "fashion-mnist vae");
    elbo_dataset_free(&ds);
}

/* ---------------- the toy VAE of the core issue ---------------- */
typedef struct toy_out {
    float *w, loss[64];
    size_t n;
} toy_out;

static void toy_run(int threads, int steps, toy_out *o)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK);
    elbo_toy_vae m;
    cr_assert_eq(elbo_toy_vae_create(&m, 11), ELBO_OK, "%s", elbo_last_error());
    elbo_rng data;
    elbo_rng_seed(&data, 12);
    float x[ELBO_TOY_BATCH * ELBO_TOY_X_DIM];
    for (int s = 0; s < steps; s++) {
        elbo_toy_arc_sample(&data, x, ELBO_TOY_BATCH);
        float l;
        cr_assert_eq(elbo_toy_vae_step(&m, x, ELBO_TOY_BATCH, &l), ELBO_OK, "%s", elbo_last_error());
        o->loss[s % 64] = l;
    }
    o->n = m.params.n;
    o->w = malloc(o->n * sizeof(float));
    memcpy(o->w, m.params.w, o->n * sizeof(float));
    elbo_toy_vae_free(&m);
}

Test(determinism, toy_vae_of_core_issue, .fini = restore_defaults)
{
    for (int level = 0; level < ELBO_SIMD_COUNT; level++) {
        if (!elbo_simd_supported((elbo_simd)level))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)level), ELBO_OK);
        toy_out a, b, c;
        toy_run(1, 150, &a);
        toy_run(1, 150, &b);
        toy_run(2, 150, &c);
        const char *lvl = elbo_simd_name((elbo_simd)level);
        cr_expect(a.n == b.n && same_bits(a.w, b.w, a.n * sizeof(float)) && same_bits(a.loss, b.loss, sizeof a.loss),
                  "%s toy VAE: two runs with the same seed differ", lvl);
        cr_expect(a.n == c.n && same_bits(a.w, c.w, a.n * sizeof(float)) && same_bits(a.loss, c.loss, sizeof a.loss),
                  "%s toy VAE: 1 vs 2 threads differ", lvl);
        free(a.w), free(b.w), free(c.w);
    }
}

/* ---------------- EM for a mixture of Gaussians ---------------- */
Test(determinism, mog_em_threads, .fini = restore_defaults)
{
    size_t n = 20000, d = 3, k = 4;
    double *x = malloc(n * d * sizeof *x);
    elbo_rng r;
    elbo_rng_seed(&r, 21);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = elbo_rng_normal(&r) + 4.0 * (double)((i % k) == j);
    mog_config cfg;
    mog_config_default(&cfg, k);
    cfg.max_iter = 30;
    cfg.tol = 0;
    cfg.restarts = 2;
    cfg.seed = 5;
    mog_result res[3];
    int threads[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(elbo_set_threads(threads[i]), ELBO_OK);
        cr_assert_eq(mog_fit(x, n, d, &cfg, &res[i]), ELBO_OK, "%s", elbo_last_error());
    }
    for (int i = 1; i < 3; i++) {
        const mog_params *p = &res[0].params, *q = &res[i].params;
        cr_expect(same_bits(p->weights, q->weights, k * sizeof(double)) &&
                      same_bits(p->means, q->means, k * d * sizeof(double)) &&
                      same_bits(p->covars, q->covars, k * d * d * sizeof(double)) &&
                      same_bits(&res[0].mean_loglik, &res[i].mean_loglik, sizeof(double)),
                  "EM fit differs: run 0 (1 thread) vs run %d (%d threads)", i, threads[i]);
        for (int t = 0; t < res[0].iterations && t < res[i].iterations; t++)
            cr_expect(same_bits(&res[0].trace[t].loglik, &res[i].trace[t].loglik, sizeof(double)),
                      "EM trace differs at iteration %d (run %d)", t, i);
    }
    for (int i = 0; i < 3; i++)
        mog_result_free(&res[i]);
    free(x);
}
