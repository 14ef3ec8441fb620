/* Disentanglement on dSprites with ground truth (section 17.8.4, figure
 * 17.14): a grid of models (objective x beta x seed) trained on dSprites
 * streamed from the generator, each scored by every metric of
 * models/metrics on a held-out split.
 *
 *   disentangle_dsprites --objectives beta,tcvae --betas 1,2,4,6 --seeds 1,2,3 --steps 3000 --batch 64
 *
 * Networks (dsprites_setup.h, --arch): Chen et al.'s MLP or the 64x64 conv
 * stack of models/vae, 10 latents, Bernoulli likelihood, Adam. Objectives
 * (the models/vae registry, docs/OBJECTIVES.md): beta (the beta-VAE, 17.30),
 * tcvae (beta-TCVAE, MSS by default), factorvae, dip1, dip2, mmd; --betas is
 * each one's main weight (the KL weight, the TC weight, gamma, lambda_od,
 * lambda), the other weights come from their flags and every row of
 * metrics.csv names its weights (column weights). The split: the
 * common --seed shuffles the 737,280 indices once; the first --test-size
 * are held out (the same for every model), the rest are the training pool,
 * visited in per-model shuffled epochs. Each model's --seeds value seeds its
 * initialisation, batch order, noise and metric draws.
 *
 * Per model, on the held-out images: the test negative ELBO and KL (one
 * posterior draw), the total correlation of the aggregate posterior
 * (elbo_total_correlation), MIG as Chen et al. (without shape) and as
 * disentanglement_lib, SAP, DCI (2/3 of the held-out codes train the
 * ridge regressor, 1/3 test it), and the beta-VAE and FactorVAE scores
 * (batches of held-out rows sharing a factor's class; --score-source
 * dsprites draws fresh images from the generator through the encoder
 * instead: 3 million encodes at disentanglement_lib's 10000/5000 points,
 * minutes per model on one core).
 *
 * Outputs in --out, each written atomically, none before the flags are
 * checked: metrics.csv (one row per model, rewritten after each),
 * mig_vs_beta.svg (mean over seeds with the min-max spread, per objective),
 * traversal_OBJ_bBETA_sSEED.png (+ .npy: each row one latent, in order of
 * decreasing KL, moved from -span to span around a held-out image; the
 * centre column is that image's reconstruction), mi_heatmap.svg
 * (I(z_j; v_k) / H(v_k), histogram estimate, one panel per model),
 * mi_OBJ_bBETA_sSEED.csv (both MI matrices), config.json and summary.json.
 * --export-batches FILE.npy writes the training images of a one-model run
 * (uint8, (steps, batch, 4096)) for a peer to train on the same batches.
 * Bad flags (unknown objective, negative or non-finite beta, a repeated or
 * non-integer seed, a bad list) are one line and exit 2.
 *
 * --mpi (under mpirun -np P): each model trains data-parallel as under
 * PyTorch's DDP: every rank draws the same batches and renders and computes
 * its rows [n r / P, n (r+1) / P) of each, the objective treating them as a
 * batch of their own (beta-TCVAE's log q(z), DIP's covariance and the MMD
 * see a rank's rows only: the estimator of P batches of batch/P rows), with
 * noise from the rank's own stream; the gradients are summed in rank order
 * (common/data_parallel.h), so every rank takes the same step and a run
 * repeats bit for bit with the same P (one rank: the bits of the run
 * without MPI; another P: another estimator, other bits). FactorVAE is
 * refused: its discriminator trains on each rank's own permuted latents.
 * Every rank scores the models (the same parameters: the same scores) and
 * rank 0 alone prints and writes (elbo_dp_quiet_followers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data_parallel.h"
#include "dp_train.h"
#include "driver.h"
#include "dsprites_setup.h"
#include "models/io/csv.h"
#include "models/io/file.h"
#include "models/io/json.h"
#include "models/io/npy.h"
#include "models/io/svg.h"
#include "models/metrics/dsprites_source.h"
#include "models/metrics/metrics.h"
#include "progress.h"
#include "results.h"
#include "summary.h"

#define MAX_GRID 64
#define NF ELBO_DSPRITES_FACTORS

static const char *objectives_text, *betas_text, *seeds_text, *metrics_text, *export_path, *score_points_text,
    *hidden_text;
static int steps, batch, latent, test_size, mig_samples, tc_samples, trav_steps, image, score_source, arch;
static double lr, span;
static bool use_mpi;
static int buckets;
static elbo_dp *dp; /* --mpi, else NULL */
static ds_weights wts = {.dip_lambda_d = -1.0}; /* dip-lambda-d unset: follows lambda_od */
static int hidden[ELBO_VAE_MAX_HIDDEN], n_hidden;

static const elbo_opt opts[] = {
    {"objectives", ELBO_OPT_STRING, &objectives_text, "beta", "comma list of objectives: beta, tcvae, factorvae, "
     "dip1, dip2, mmd (docs/OBJECTIVES.md)", .choices = NULL},
    {"arch", ELBO_OPT_CHOICE, &arch, "mlp", "networks: Chen et al.'s MLP (4096-1200-1200) or the conv stack "
     "(conv:32:4:2,conv:32:4:2,conv:64:4:2,conv:64:4:2,dense:256), decoders mirrored", .choices = "mlp|conv"},
    {"hidden", ELBO_OPT_STRING, &hidden_text, "1200,1200", "mlp: encoder hidden widths (the decoder mirrors them)",
     .choices = NULL},
    {"betas", ELBO_OPT_STRING, &betas_text, "1,2,4,6", "each objective's main weight (>= 0), one model per value: "
     "the KL weight (beta), the TC weight (tcvae), gamma (factorvae), lambda_od (dip1, dip2), lambda (mmd)",
     .choices = NULL},
    {"tc-alpha", ELBO_OPT_DOUBLE, &wts.tc_alpha, "1", "tcvae: weight of the index-code mutual information",
     .min = 0, .max = 1e6},
    {"tc-gamma", ELBO_OPT_DOUBLE, &wts.tc_gamma, "1", "tcvae: weight of the dimension-wise KL", .min = 0, .max = 1e6},
    {"tc-estimator", ELBO_OPT_CHOICE, &wts.tc_estimator, "mss", "tcvae: log q(z) by minibatch-weighted or "
     "minibatch-stratified sampling (N = the training images)", .choices = "mws|mss"},
    {"factor-hidden", ELBO_OPT_INT, &wts.factor_hidden, "1000", "factorvae: discriminator units per hidden layer",
     .min = 1, .max = 100000},
    {"factor-layers", ELBO_OPT_INT, &wts.factor_layers, "2", "factorvae: discriminator hidden layers (Kim & Mnih: 6)",
     .min = 1, .max = 8},
    {"factor-lr", ELBO_OPT_DOUBLE, &wts.factor_lr, "1e-4", "factorvae: discriminator Adam learning rate (betas 0.5, "
     "0.9)", .min = 1e-8, .max = 10},
    {"dip-lambda-d", ELBO_OPT_DOUBLE, &wts.dip_lambda_d, NULL, "dip1, dip2: weight of the squared (diagonal - 1); "
     "default 10 lambda_od for dip1, lambda_od for dip2", .min = 0, .max = 1e6},
    {"mmd-kernel", ELBO_OPT_CHOICE, &wts.mmd_kernel, "imq", "mmd: kernel, C = 2 * latent", .choices = "rbf|imq"},
    {"seeds", ELBO_OPT_STRING, &seeds_text, "1,2,3", "model seeds (integers >= 0), one model per value",
     .choices = NULL},
    {"steps", ELBO_OPT_INT, &steps, "3000", "optimizer steps per model", .min = 1, .max = 100000000},
    {"batch", ELBO_OPT_INT, &batch, "64", "images per step", .min = 1, .max = 65536},
    {"lr", ELBO_OPT_DOUBLE, &lr, "1e-3", "Adam learning rate", .min = 1e-8, .max = 10},
    {"latent", ELBO_OPT_INT, &latent, "10", "latent dimensions", .min = 2, .max = 256},
    {"test-size", ELBO_OPT_INT, &test_size, "10000", "held-out images (metrics, test -ELBO)", .min = 500,
     .max = 368640},
    {"metrics", ELBO_OPT_STRING, &metrics_text, "all",
     "comma list of mig,mig_dl,betavae,factorvae,sap,dci,tc; all; or none", .choices = NULL},
    {"mig-samples", ELBO_OPT_INT, &mig_samples, "10000", "mig: samples per entropy estimate (0: all)", .min = 0,
     .max = 100000000},
    {"tc-samples", ELBO_OPT_INT, &tc_samples, "10000", "tc: samples of the aggregate posterior (0: all)", .min = 0,
     .max = 100000000},
    {"score-source", ELBO_OPT_CHOICE, &score_source, "table",
     "betavae, factorvae: rows of the held-out codes, or fresh generator images through the encoder (costly)",
     .choices = "table|dsprites"},
    {"score-points", ELBO_OPT_STRING, &score_points_text, "10000,5000",
     "betavae, factorvae: training and evaluation points", .choices = NULL},
    {"span", ELBO_OPT_DOUBLE, &span, "3", "traversal from -span to span", .min = 0.1, .max = 100},
    {"traversal-steps", ELBO_OPT_INT, &trav_steps, "9", "traversal columns", .min = 2, .max = 64},
    {"image", ELBO_OPT_INT, &image, "0", "held-out image the traversals start from", .min = 0, .max = 368639},
    {"export-batches", ELBO_OPT_STRING, &export_path, "",
     "write the training images of a one-model run as uint8 .npy (steps, batch, 4096)", .choices = NULL},
    {"mpi", ELBO_OPT_BOOL, &use_mpi, "false", "train each model data-parallel over MPI ranks (under mpirun or "
     "srun); rank 0 writes", .choices = NULL},
    {"buckets", ELBO_OPT_INT, &buckets, "4", "--mpi: about this many gradient buckets", .min = 1, .max = 64},
};

/* ---- the grid ---- */

enum { SRC_TABLE, SRC_DSPRITES }; /* --score-source, in its choices' order */

enum { M_MIG, M_MIG_DL, M_BETAVAE, M_FACTORVAE, M_SAP, M_DCI, M_TC, M_COUNT };
static const char *const metric_names[M_COUNT] = {"mig", "mig_dl", "betavae", "factorvae", "sap", "dci", "tc"};

typedef struct grid {
    int objectives[DS_OBJECTIVES], n_obj;
    double betas[MAX_GRID];
    int n_betas;
    uint64_t seeds[MAX_GRID];
    int n_seeds;
    bool want[M_COUNT];
    size_t score_train, score_eval;
} grid;

/* One token per comma; objects named outside the list are a usage error. */
static void parse_objectives(const elbo_cli *cli, grid *g)
{
    char buf[1024], *save, msg[256];
    snprintf(buf, sizeof buf, "%s", objectives_text);
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int o = 0;
        while (o < DS_OBJECTIVES && strcmp(tok, ds_objectives[o].name) != 0)
            o++;
        if (o == DS_OBJECTIVES) {
            snprintf(msg, sizeof msg, "--objectives: unknown objective '%.60s' (expected beta, tcvae, factorvae, "
                     "dip1, dip2 or mmd)", tok);
            drv_usage_error(cli, msg);
        }
        for (int k = 0; k < g->n_obj; k++)
            if (g->objectives[k] == o) {
                snprintf(msg, sizeof msg, "--objectives: '%s' given twice", tok);
                drv_usage_error(cli, msg);
            }
        g->objectives[g->n_obj++] = o;
    }
    if (!g->n_obj)
        drv_usage_error(cli, "--objectives: expected at least one objective");
}

static void parse_metrics(const elbo_cli *cli, grid *g)
{
    if (strcmp(metrics_text, "all") == 0) {
        for (int m = 0; m < M_COUNT; m++)
            g->want[m] = true;
        return;
    }
    if (strcmp(metrics_text, "none") == 0)
        return;
    char buf[1024], *save, msg[256];
    snprintf(buf, sizeof buf, "%s", metrics_text);
    int n = 0;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save), n++) {
        int m = 0;
        while (m < M_COUNT && strcmp(tok, metric_names[m]) != 0)
            m++;
        if (m == M_COUNT) {
            snprintf(msg, sizeof msg, "--metrics: unknown metric '%.60s' (expected mig, mig_dl, betavae, factorvae, "
                     "sap, dci, tc, all or none)", tok);
            drv_usage_error(cli, msg);
        }
        g->want[m] = true;
    }
    if (!n)
        drv_usage_error(cli, "--metrics: expected at least one metric, all or none");
}

static void parse_grid(const elbo_cli *cli, grid *g)
{
    memset(g, 0, sizeof *g);
    parse_objectives(cli, g);
    parse_metrics(cli, g);
    double h[ELBO_VAE_MAX_HIDDEN];
    n_hidden = drv_list(cli, "hidden", hidden_text, h, ELBO_VAE_MAX_HIDDEN);
    for (int i = 0; i < n_hidden; i++) {
        if (!(h[i] >= 1 && h[i] <= 100000 && h[i] == floor(h[i])))
            drv_usage_error(cli, "--hidden: expected positive integer widths up to 100000");
        hidden[i] = (int)h[i];
    }
    g->n_betas = drv_list(cli, "betas", betas_text, g->betas, MAX_GRID);
    for (int b = 0; b < g->n_betas; b++) {
        if (!isfinite(g->betas[b]) || g->betas[b] < 0 || g->betas[b] > 1e6)
            drv_usage_error(cli, "--betas: expected finite values in 0..1e6");
        for (int c = 0; c < b; c++)
            if (g->betas[c] == g->betas[b])
                drv_usage_error(cli, "--betas: a value is repeated");
    }
    double s[MAX_GRID];
    g->n_seeds = drv_list(cli, "seeds", seeds_text, s, MAX_GRID);
    for (int i = 0; i < g->n_seeds; i++) {
        if (!(s[i] >= 0 && s[i] <= 9007199254740992.0 && s[i] == floor(s[i])))
            drv_usage_error(cli, "--seeds: expected integers in 0..2^53");
        g->seeds[i] = (uint64_t)s[i];
        for (int c = 0; c < i; c++)
            if (g->seeds[c] == g->seeds[i])
                drv_usage_error(cli, "--seeds: a value is repeated");
    }
    if (g->n_obj * g->n_betas * g->n_seeds > MAX_GRID)
        drv_usage_error(cli, "the grid (objectives x betas x seeds) has more than 64 models");
    double pts[2];
    if (drv_list(cli, "score-points", score_points_text, pts, 2) != 2 || !(pts[0] >= 1 && pts[1] >= 1) ||
        pts[0] > 1e8 || pts[1] > 1e8 || pts[0] != floor(pts[0]) || pts[1] != floor(pts[1]))
        drv_usage_error(cli, "--score-points: expected TRAIN,EVAL, two positive integers");
    g->score_train = (size_t)pts[0], g->score_eval = (size_t)pts[1];
    if (*export_path) {
        size_t len = strlen(export_path);
        if (g->n_obj * g->n_betas * g->n_seeds != 1)
            drv_usage_error(cli, "--export-batches: needs a grid of one model (one objective, beta and seed)");
        if (len < 4 || strcmp(export_path + len - 4, ".npy") != 0)
            drv_usage_error(cli, "--export-batches: expected a FILE.npy");
    }
    if (image >= test_size)
        drv_usage_error(cli, "--image: beyond --test-size");
}

/* --quick: a tiny subset that runs in seconds (the first two betas, the
 * first seed, short training, small metric budgets). */
static void quick_grid(grid *g)
{
    g->n_betas = g->n_betas > 2 ? 2 : g->n_betas;
    g->n_seeds = 1;
    steps = steps > 20 ? 20 : steps;
    batch = batch > 32 ? 32 : batch;
    test_size = test_size > 600 ? 600 : test_size;
    image = image < test_size ? image : 0;
    mig_samples = 300, tc_samples = 300;
    g->score_train = g->score_train > 60 ? 60 : g->score_train;
    g->score_eval = g->score_eval > 30 ? 30 : g->score_eval;
}

/* ---- one model ---- */

/* The score columns of metrics.csv, in order. */
enum { C_MIG, C_MIG_DL, C_BETAVAE, C_FACTORVAE, C_SAP, C_DCI_D, C_DCI_C, C_DCI_I, C_COUNT };

typedef struct row {
    int obj;
    double beta;
    uint64_t seed;
    double m[C_COUNT];
    double tc, neg_elbo, rec, kl, train_neg_elbo;
    double seconds, images_per_s, eval_seconds;
    double *mi_dl, *mi_chen; /* (latent, NF) */
    int order[256];          /* latents by decreasing KL */
} row;

/* Shared state of the run. */
typedef struct run {
    elbo_cli *cli;
    grid g;
    ds_split split;
    elbo_dsprites *ds;
    elbo_tape *train_tape, *eval_tape;
    float *xb, *xe;        /* (batch, 4096), (DS_EVAL_CHUNK, 4096) */
    float *mu, *lv;        /* (test, Z) */
    double *dmu, *dlv;     /* the same in double */
    int32_t *classes;      /* (test, NF) */
    elbo_factors factors;
    int model, models; /* the model being trained (from 1) of the grid's */
} run;

static void label_of(const row *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s_b%g_s%llu", ds_objectives[r->obj].name, r->beta, (unsigned long long)r->seed);
}

/* Train one model on streamed batches; *seconds: time in steps. */
static void train(run *R, elbo_vae *m, row *r, elbo_npy_writer *exp_w)
{
    const elbo_cli *cli = R->cli;
    ds_stream st;
    drv_check(cli, ds_stream_init(&st, &R->split, (size_t)batch, r->seed), "batches");
    elbo_rng noise; /* each rank its own stream (rank 0: the one of a run without MPI) */
    elbo_rng_seed(&noise, (r->seed ^ 0x4015Eull) ^ (0x9E3779B97F4A7C15ull * (uint64_t)elbo_dp_rank(dp)));
    int lo, hi;
    elbo_dp_rows(dp, batch, &lo, &hi);
    const elbo_vae_step_hooks hooks = {elbo_dp_grad_ready, elbo_dp_after_backward, dp};
    elbo_dp_check(dp, cli, elbo_dp_agree_status(dp, elbo_dp_attach(dp, &m->params, buckets), "cannot train"),
                  "--mpi", false);
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    adam.lr = (float)lr;
    elbo_vae_objective obj;
    drv_check(cli, ds_objective_of(r->obj, r->beta, &wts, R->split.n_train, &obj), "objective");
    elbo_objective_state ostate;
    drv_check(cli, ds_objective_state(r->obj, r->beta, &wts, latent, r->seed, &ostate), "objective");
    obj.state = &ostate;
    char label[96], plabel[128];
    label_of(r, label, sizeof label);
    snprintf(plabel, sizeof plabel, "%s [%d/%d]", label, R->model, R->models);
    elbo_progress prog;
    const bool root = elbo_dp_root(dp);
    if (root)
        elbo_progress_begin(&prog, plabel, (uint64_t)steps);
    uint8_t *u8 = exp_w ? drv_alloc(cli, (size_t)batch * ELBO_DSPRITES_PIXELS, 1) : NULL;
    double busy = 0, tail = 0; /* tail: -ELBO summed over the last `last` steps */
    int last = steps < 100 ? steps : 100;
    for (int s = 0; s < steps; s++) {
        double t0 = elbo_now();
        const uint32_t *idx = ds_stream_next(&st);
        drv_check(cli, elbo_dsprites_render_f32(R->ds, idx + lo, (size_t)(hi - lo), R->xb), "render");
        elbo_vae_batch_stats bs;
        obj.step = m->params.step;
        elbo_status e = elbo_vae_step_hooked(m, R->train_tape, R->xb, NULL, hi - lo, &obj, &noise, &adam,
                                             dp ? &hooks : NULL, &bs);
        if (e != ELBO_OK) { /* with --mpi every rank fails at that step (NaNs handed in): they agree */
            char what[160];
            snprintf(what, sizeof what, "%s: step %d", label, s + 1);
            elbo_dp_check(dp, cli, elbo_dp_agree_status(dp, e, what), what, false);
        }
        busy += elbo_now() - t0;
        if (s >= steps - last)
            tail += bs.neg_elbo;
        if (root)
            elbo_progress_update(&prog, (uint64_t)s + 1, bs.neg_elbo / (hi - lo));
        if (exp_w) {
            drv_check(cli, elbo_dsprites_render_u8(R->ds, idx, (size_t)batch, u8), "render");
            drv_check(cli, elbo_npy_writer_put(exp_w, u8, (size_t)batch * ELBO_DSPRITES_PIXELS), export_path);
        }
    }
    if (root)
        elbo_progress_end(&prog);
    /* over every rank's rows; the slowest rank's time; the same parameters everywhere */
    elbo_dp_check(dp, cli, elbo_dp_sum(dp, &tail, 1), "--mpi", false);
    busy = elbo_dp_max(dp, busy);
    elbo_dp_check(dp, cli, elbo_dp_check_params(dp, &m->params, 1), "--mpi", false);
    elbo_dp_detach(dp);
    r->seconds = busy;
    r->images_per_s = (double)steps * batch / busy;
    r->train_neg_elbo = tail / last / batch;
    printf("%s: %d steps of %d in %.1f s (%.0f images/s), train -ELBO %.2f (mean of the last %d steps)\n", label, steps,
           batch, busy, r->images_per_s, r->train_neg_elbo, last);
    free(u8);
    ds_objective_state_free(&ostate);
    ds_stream_free(&st);
}

/* Latents by decreasing mean KL(q(z_j|x) || N(0,1)) over the held-out set. */
static void kl_order(const run *R, row *r)
{
    double kl[256] = {0};
    size_t n = (size_t)test_size;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < latent; j++) {
            double u = R->dmu[i * latent + j], v = R->dlv[i * latent + j];
            kl[j] += 0.5 * (u * u + exp(v) - v - 1) / (double)n;
        }
    for (int j = 0; j < latent; j++)
        r->order[j] = j;
    for (int a = 1; a < latent; a++)
        for (int c = a; c > 0 && kl[r->order[c]] > kl[r->order[c - 1]]; c--) {
            int t = r->order[c];
            r->order[c] = r->order[c - 1], r->order[c - 1] = t;
        }
}

/* DCI on the held-out codes: a seeded 2/3 trains the regressor, 1/3 tests. */
static void dci(const run *R, const elbo_codes *c, uint64_t seed, elbo_dci_result *out)
{
    size_t n = c->n, nt = n / 3, d = (size_t)c->dim;
    uint32_t *perm = drv_alloc(R->cli, n, sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    elbo_rng rng;
    elbo_rng_seed(&rng, seed ^ 0xDC1ull);
    elbo_rng_shuffle(&rng, perm, n);
    double *mean = drv_alloc(R->cli, n * d, sizeof *mean);
    int32_t *cls = drv_alloc(R->cli, n * NF, sizeof *cls);
    for (size_t i = 0; i < n; i++) {
        memcpy(mean + i * d, c->mean + perm[i] * d, d * sizeof *mean);
        memcpy(cls + i * NF, R->classes + (size_t)perm[i] * NF, NF * sizeof *cls);
    }
    elbo_codes te = {.n = nt, .dim = c->dim, .mean = mean}, tr = {.n = n - nt, .dim = c->dim, .mean = mean + nt * d};
    elbo_factors fte = {.n = nt, .count = NF, .classes = cls, .sizes = elbo_dsprites_sizes},
                 ftr = {.n = n - nt, .count = NF, .classes = cls + nt * NF, .sizes = elbo_dsprites_sizes};
    drv_check(R->cli, elbo_dci(&tr, &ftr, &te, &fte, 1e-3, out, NULL), "dci");
    free(perm), free(mean), free(cls);
}

/* beta-VAE and FactorVAE scores from the generator through the encoder, or from the held-out rows. */
static void classifier_scores(run *R, elbo_vae *m, const elbo_codes *c, row *r)
{
    const grid *g = &R->g;
    if (!g->want[M_BETAVAE] && !g->want[M_FACTORVAE])
        return;
    elbo_dsprites_source dsrc;
    elbo_table_source tsrc;
    ds_encoder enc = {m, R->eval_tape, drv_alloc(R->cli, 512 * (size_t)latent, sizeof(float))};
    const elbo_code_source *src;
    if (score_source == SRC_DSPRITES) {
        drv_check(R->cli, elbo_dsprites_source_init(&dsrc, R->ds, latent, ds_encode_means, &enc, 512), "scores");
        src = &dsrc.source;
    } else {
        drv_check(R->cli, elbo_table_source_init(&tsrc, c, &R->factors), "scores");
        src = &tsrc.source;
    }
    uint64_t seed = r->seed ^ 0x5C0BEull;
    elbo_score_result res;
    if (g->want[M_BETAVAE]) {
        elbo_betavae_opts o = elbo_betavae_defaults();
        o.train = g->score_train, o.eval = g->score_eval;
        drv_check(R->cli, elbo_betavae_score(src, &o, seed, &res), "betavae");
        r->m[C_BETAVAE] = res.eval_accuracy;
    }
    if (g->want[M_FACTORVAE]) {
        elbo_factorvae_opts o = elbo_factorvae_defaults();
        o.train = g->score_train, o.eval = g->score_eval;
        if (o.variance_points > 2 * g->score_train)
            o.variance_points = 2 * g->score_train < 64 ? 64 : 2 * g->score_train;
        drv_check(R->cli, elbo_factorvae_score(src, &o, seed, &res), "factorvae");
        r->m[C_FACTORVAE] = res.eval_accuracy;
    }
    if (score_source == SRC_DSPRITES)
        elbo_dsprites_source_free(&dsrc);
    else
        elbo_table_source_free(&tsrc);
    free(enc.mu);
}

/* Every metric asked for, on the held-out codes. */
static void score(run *R, elbo_vae *m, row *r)
{
    const grid *g = &R->g;
    size_t n = (size_t)test_size, nz = n * (size_t)latent;
    for (size_t i = 0; i < nz; i++)
        R->dmu[i] = R->mu[i], R->dlv[i] = R->lv[i];
    elbo_codes c = {.n = n, .dim = latent, .mean = R->dmu, .logvar = R->dlv};
    for (int k = 0; k < C_COUNT; k++)
        r->m[k] = NAN;
    r->tc = NAN;
    uint64_t seed = r->seed ^ 0x3E7Eull;
    if (g->want[M_MIG]) { /* Chen: every factor but shape */
        elbo_chen_opts o = {.samples = (size_t)mig_samples, .seed = seed, .factor_mask = 0x1E};
        drv_check(R->cli, elbo_mig_chen(&c, &R->factors, &o, &r->m[C_MIG], NULL, r->mi_chen), "mig");
    }
    if (g->want[M_MIG_DL])
        drv_check(R->cli, elbo_mig_hist(&c, &R->factors, 20, &r->m[C_MIG_DL], NULL, r->mi_dl), "mig_dl");
    if (g->want[M_SAP])
        drv_check(R->cli, elbo_sap(&c, &R->factors, &r->m[C_SAP], NULL), "sap");
    if (g->want[M_DCI]) {
        elbo_dci_result d;
        dci(R, &c, r->seed, &d);
        r->m[C_DCI_D] = d.disentanglement, r->m[C_DCI_C] = d.completeness, r->m[C_DCI_I] = d.informativeness;
    }
    if (g->want[M_TC]) {
        elbo_chen_opts o = {.samples = (size_t)tc_samples, .seed = seed ^ 0x7Cull};
        drv_check(R->cli, elbo_total_correlation(&c, &o, &r->tc), "tc");
    }
    classifier_scores(R, m, &c, r);
}

/* Figure 17.14 on dSprites: row k moves latent order[k] over [-span, span]. */
static void traversal(run *R, elbo_vae *m, const row *r)
{
    int rows = latent, cols = trav_steps;
    float *z = drv_alloc(R->cli, (size_t)rows * cols * latent, sizeof *z);
    float *img = drv_alloc(R->cli, (size_t)rows * cols * ELBO_DSPRITES_PIXELS, sizeof *img);
    for (int k = 0; k < rows; k++)
        for (int s = 0; s < cols; s++) {
            float *zz = z + ((size_t)k * cols + s) * latent;
            memcpy(zz, R->mu + (size_t)image * latent, (size_t)latent * sizeof *zz);
            zz[r->order[k]] = (float)(-span + 2 * span * s / (cols - 1));
        }
    drv_check(R->cli, elbo_vae_decode(m, R->eval_tape, z, NULL, (size_t)rows * cols, DS_EVAL_CHUNK, img), "decode");
    char name[128], label[96];
    label_of(r, label, sizeof label);
    snprintf(name, sizeof name, "traversal_%s", label);
    drv_check(R->cli, elbo_write_image_grid(R->cli->out, name, img, (size_t)rows * cols, ELBO_DSPRITES_SIDE,
                                            ELBO_DSPRITES_SIDE, 1, rows, cols), name);
    free(z), free(img);
}

/* Both MI matrices of a model as mi_LABEL.csv: code, then dl_FACTOR and chen_FACTOR columns. */
static void write_mi(const run *R, const row *r)
{
    const char *h[1 + 2 * NF];
    char names[2 * NF][32];
    h[0] = "code";
    for (int k = 0; k < NF; k++) {
        snprintf(names[k], 32, "dl_%s", elbo_dsprites_factor_name(k));
        snprintf(names[NF + k], 32, "chen_%s", elbo_dsprites_factor_name(k));
        h[1 + k] = names[k], h[1 + NF + k] = names[NF + k];
    }
    double *t = drv_alloc(R->cli, (size_t)latent * (1 + 2 * NF), sizeof *t);
    for (int j = 0; j < latent; j++) {
        double *o = t + (size_t)j * (1 + 2 * NF);
        o[0] = j;
        for (int k = 0; k < NF; k++)
            o[1 + k] = r->mi_dl[j * NF + k], o[1 + NF + k] = r->mi_chen[j * NF + k];
    }
    char file[128], label[96];
    label_of(r, label, sizeof label);
    snprintf(file, sizeof file, "mi_%s.csv", label);
    drv_check(R->cli, elbo_csv_write(drv_path(R->cli, file), h, t, (size_t)latent, 1 + 2 * NF), file);
    free(t);
}

static elbo_npy_writer export_w;

static void one_model(run *R, row *r)
{
    elbo_vae m;
    elbo_vae_config cfg;
    drv_check(R->cli, ds_arch(arch, latent, hidden, n_hidden, &cfg), "--arch");
    elbo_rng init;
    elbo_rng_seed(&init, r->seed);
    drv_check(R->cli, elbo_vae_create(&m, &cfg, &init), "model");
    train(R, &m, r, *export_path ? &export_w : NULL);
    double t0 = elbo_now();
    elbo_rng er;
    elbo_rng_seed(&er, r->seed ^ 0xE7A1ull);
    ds_eval ev;
    drv_check(R->cli, ds_evaluate(&m, R->eval_tape, R->ds, R->split.test, (size_t)test_size, R->xe, &er, R->mu,
                                  R->lv, &ev),
              "evaluate");
    r->neg_elbo = ev.neg_elbo, r->rec = ev.rec, r->kl = ev.kl;
    score(R, &m, r);
    kl_order(R, r);
    traversal(R, &m, r);
    write_mi(R, r);
    r->eval_seconds = elbo_now() - t0;
    char label[96];
    label_of(r, label, sizeof label);
    printf("%s: test -ELBO %.2f (KL %.2f), TC %.3f, MIG %.3f, MIG(dl) %.3f, beta-VAE %.3f, FactorVAE %.3f, SAP %.3f, "
           "DCI %.3f/%.3f/%.3f  (%.1f s)\n",
           label, r->neg_elbo, r->kl, r->tc, r->m[C_MIG], r->m[C_MIG_DL], r->m[C_BETAVAE], r->m[C_FACTORVAE],
           r->m[C_SAP], r->m[C_DCI_D], r->m[C_DCI_C], r->m[C_DCI_I], r->eval_seconds);
    fflush(stdout);
    elbo_vae_free(&m);
}

/* ---- outputs ---- */

static const char *const csv_cols = "objective,beta,seed,mig,mig_dl,betavae,factorvae,sap,dci_d,dci_c,dci_i,"
                                    "test_neg_elbo,kl,tc,test_rec,train_neg_elbo,steps,batch,seconds,images_per_s,eval_seconds,"
                                    "weights";

static void write_csv(const run *R, const row *rows, int n)
{
    elbo_afile f;
    elbo_status st = elbo_afile_open(&f, drv_path(R->cli, "metrics.csv"));
    if (st == ELBO_OK)
        st = elbo_afile_printf(&f, "%s\n", csv_cols);
    for (int i = 0; st == ELBO_OK && i < n; i++) {
        const row *r = rows + i;
        st = elbo_afile_printf(&f, "%s,%.17g,%llu", ds_objectives[r->obj].name, r->beta, (unsigned long long)r->seed);
        for (int k = 0; st == ELBO_OK && k < C_COUNT; k++)
            st = elbo_afile_printf(&f, ",%.17g", r->m[k]);
        char w[256];
        ds_weights_text(r->obj, r->beta, &wts, w, sizeof w);
        if (st == ELBO_OK)
            st = elbo_afile_printf(&f, ",%.17g,%.17g,%.17g,%.17g,%.17g,%d,%d,%.4f,%.2f,%.4f,%s\n", r->neg_elbo, r->kl,
                                   r->tc, r->rec, r->train_neg_elbo, steps, batch, r->seconds, r->images_per_s,
                                   r->eval_seconds, w);
    }
    if (st == ELBO_OK)
        st = elbo_afile_commit(&f);
    else
        elbo_afile_abort(&f);
    drv_check(R->cli, st, "metrics.csv");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Panel p: metric column col against beta, per objective: seeds as dots,
 * the mean as a line, min..max filled. */
static void mig_panel(elbo_plot *p, const row *rows, int n, const grid *g, int col, const char *title)
{
    double bs[MAX_GRID];
    memcpy(bs, g->betas, (size_t)g->n_betas * sizeof *bs);
    qsort(bs, (size_t)g->n_betas, sizeof *bs, cmp_double);
    elbo_plot_title(p, title);
    elbo_plot_xlabel(p, "beta");
    elbo_plot_ylabel(p, col == C_MIG ? "MIG (Chen et al.)" : "MIG (histogram)");
    for (int oi = 0; oi < g->n_obj; oi++) {
        double mean[MAX_GRID], lo[MAX_GRID], hi[MAX_GRID], px[MAX_GRID], py[MAX_GRID];
        int np = 0;
        for (int b = 0; b < g->n_betas; b++) {
            double s = 0, mn = INFINITY, mx = -INFINITY;
            int k = 0;
            for (int i = 0; i < n; i++)
                if (rows[i].obj == g->objectives[oi] && rows[i].beta == bs[b] && !isnan(rows[i].m[col])) {
                    double v = rows[i].m[col];
                    s += v, k++, mn = fmin(mn, v), mx = fmax(mx, v);
                    px[np] = bs[b], py[np++] = v;
                }
            mean[b] = k ? s / k : NAN, lo[b] = k ? mn : NAN, hi[b] = k ? mx : NAN;
        }
        elbo_style st = elbo_style_color(elbo_palette(oi), ds_objectives[g->objectives[oi]].name);
        elbo_plot_fill(p, bs, lo, hi, (size_t)g->n_betas, 0, &(elbo_style){.color = st.color, .color_set = true});
        elbo_plot_line(p, bs, mean, (size_t)g->n_betas, &st);
        elbo_plot_scatter(p, px, py, (size_t)np, &(elbo_style){.color = st.color, .color_set = true, .size = 3});
    }
    elbo_plot_legend(p, ELBO_LEGEND_TOP_RIGHT);
}

static void write_figures(const run *R, const row *rows, int n)
{
    elbo_svg *fig = elbo_svg_new(2, 1);
    if (!fig)
        drv_check(R->cli, ELBO_ERR_NOMEM, "figure");
    elbo_svg_title(fig, "dSprites: MIG against beta (line: mean; band: min-max over seeds)");
    mig_panel(elbo_svg_panel(fig, 0), rows, n, &R->g, C_MIG, "MIG, Chen et al. (no shape)");
    mig_panel(elbo_svg_panel(fig, 1), rows, n, &R->g, C_MIG_DL, "MIG, disentanglement_lib (5 factors)");
    drv_check(R->cli, elbo_svg_save(fig, drv_path(R->cli, "mig_vs_beta.svg")), "mig_vs_beta.svg");
    elbo_svg_free(fig);

    int cols = n < 4 ? n : 4, nrows = (n + cols - 1) / cols;
    fig = elbo_svg_new(cols, nrows);
    if (!fig)
        drv_check(R->cli, ELBO_ERR_NOMEM, "figure");
    elbo_svg_title(fig, "I(z_j; v_k) / H(v_k) (histograms)");
    double *z = drv_alloc(R->cli, (size_t)latent * NF, sizeof *z);
    for (int i = 0; i < n; i++) {
        elbo_plot *p = elbo_svg_panel(fig, i);
        char label[96];
        label_of(rows + i, label, sizeof label);
        double h[NF];
        drv_check(R->cli, elbo_factor_entropies(&R->factors, h), "entropies"); /* the held-out split's */
        for (int j = 0; j < latent; j++)
            for (int k = 0; k < NF; k++)
                z[j * NF + k] = rows[i].mi_dl[j * NF + k] / h[k];
        elbo_plot_title(p, label);
        elbo_plot_xlabel(p, "0 shape 1 scale 2 orient. 3 x 4 y");
        elbo_plot_ylabel(p, "latent");
        elbo_plot_heatmap(p, z, NF, latent, -0.5, NF - 0.5, -0.5, latent - 0.5, 0, 1, "MI / H");
    }
    drv_check(R->cli, elbo_svg_save(fig, drv_path(R->cli, "mi_heatmap.svg")), "mi_heatmap.svg");
    elbo_svg_free(fig);
    free(z);
}

/* config.json: the full configuration (seeds, grid, network) on its own. */
static void write_config(const run *R)
{
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_string(&j, "driver", R->cli->prog);
    elbo_cli_config_json(R->cli, &j);
    char desc[1024], spec[512];
    elbo_vae_config c;
    drv_check(R->cli, ds_arch(arch, latent, hidden, n_hidden, &c), "--arch");
    elbo_vae_config_json(&c, desc, sizeof desc);
    elbo_vae_config_spec(&c, spec, sizeof spec);
    elbo_json_string(&j, "architecture", desc);
    elbo_json_string(&j, "encoder", spec);
    elbo_json_begin_array(&j, "objectives_trained_with");
    for (int o = 0; o < R->g.n_obj; o++)
        elbo_json_string(&j, NULL, ds_objectives[R->g.objectives[o]].about);
    elbo_json_end_array(&j);
    elbo_json_end_object(&j);
    drv_check(R->cli, elbo_json_save(&j, drv_path(R->cli, "config.json")), "config.json");
    elbo_json_free(&j);
}

static void write_summary(const run *R, const row *rows, int n)
{
    elbo_summary s;
    elbo_summary_begin(&s, R->cli);
    elbo_json *j = &s.json;
    elbo_json_int(j, "models", n);
    elbo_json_int(j, "test_images", test_size);
    elbo_json_begin_array(j, "runs");
    for (int i = 0; i < n; i++) {
        const row *r = rows + i;
        elbo_json_begin_object(j, NULL);
        elbo_json_string(j, "objective", ds_objectives[r->obj].name);
        elbo_json_number(j, "beta", r->beta);
        elbo_json_uint(j, "seed", r->seed);
        char w[256];
        ds_weights_text(r->obj, r->beta, &wts, w, sizeof w);
        elbo_json_string(j, "weights", w);
        static const char *const keys[C_COUNT] = {"mig", "mig_dl", "betavae", "factorvae", "sap", "dci_d", "dci_c",
                                                  "dci_i"};
        for (int k = 0; k < C_COUNT; k++)
            elbo_json_number(j, keys[k], r->m[k]);
        elbo_json_number(j, "tc", r->tc);
        elbo_json_number(j, "test_neg_elbo", r->neg_elbo);
        elbo_json_number(j, "test_rec", r->rec);
        elbo_json_number(j, "kl", r->kl);
        elbo_json_number(j, "train_neg_elbo", r->train_neg_elbo);
        double order[256];
        for (int k = 0; k < latent; k++)
            order[k] = r->order[k];
        elbo_json_numbers(j, "traversal_rows_latents", order, (size_t)latent);
        elbo_json_end_object(j);
    }
    elbo_json_end_array(j);
    drv_check(R->cli, elbo_summary_write(&s, R->cli->out), "summary.json");
}

/* ---- main ---- */

static void setup(run *R)
{
    const elbo_cli *cli = R->cli;
    drv_check(cli, ds_split_make(&R->split, (size_t)test_size, cli->seed), "split");
    drv_check(cli, elbo_dsprites_new(&R->ds), "dSprites");
    drv_check(cli, elbo_tape_create(&R->train_tape, (size_t)64 << 20), "tape");
    drv_check(cli, elbo_tape_create(&R->eval_tape, (size_t)64 << 20), "tape");
    elbo_tape_set_grad(R->eval_tape, false);
    R->xb = drv_alloc(cli, (size_t)batch * ELBO_DSPRITES_PIXELS, sizeof(float));
    R->xe = drv_alloc(cli, (size_t)DS_EVAL_CHUNK * ELBO_DSPRITES_PIXELS, sizeof(float));
    size_t n = (size_t)test_size, nz = n * (size_t)latent;
    R->mu = drv_alloc(cli, nz, sizeof(float)), R->lv = drv_alloc(cli, nz, sizeof(float));
    R->dmu = drv_alloc(cli, nz, sizeof(double)), R->dlv = drv_alloc(cli, nz, sizeof(double));
    R->classes = drv_alloc(cli, n * NF, sizeof(int32_t));
    for (size_t i = 0; i < n; i++)
        elbo_dsprites_classes(R->split.test[i], R->classes + i * NF);
    R->factors = (elbo_factors){.n = n, .count = NF, .classes = R->classes, .sizes = elbo_dsprites_sizes};
}

/* --mpi: start MPI, check every rank has the same options, refuse what
 * cannot be split, quiet the ranks other than 0. */
static void start_ranks(elbo_cli *cli, const grid *g, int *argc, char ***argv)
{
    if (!use_mpi)
        return;
    dp = elbo_dp_begin(argc, argv, cli->prog);
    cli->ranks = elbo_dp_size(dp);
    elbo_dp_check(dp, cli, elbo_dp_agree_config(dp, cli), "--mpi", false);
    for (int o = 0; o < g->n_obj; o++)
        if (g->objectives[o] == DS_OBJ_FACTORVAE)
            elbo_dp_check(dp, cli, elbo_fail(ELBO_ERR_UNSUPPORTED, "factorvae trains its discriminator on each "
                                             "rank's own latents: not data-parallel"), "--mpi", false);
    if (elbo_dp_size(dp) > batch)
        elbo_dp_check(dp, cli, elbo_fail(ELBO_ERR_UNSUPPORTED, "%d ranks, more than the %d rows of a batch",
                                         elbo_dp_size(dp), batch), "--mpi", false);
    elbo_dp_check(dp, cli, elbo_dp_quiet_followers(dp, cli), "--mpi", false);
    if (!elbo_dp_root(dp))
        export_path = ""; /* rank 0 writes the batches */
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "disentangle_dsprites",
                  "Disentanglement on dSprites: a grid of models, every metric, traversals, MI heat maps.", opts,
                  sizeof opts / sizeof opts[0]);
    int rc = elbo_cli_parse(&cli, argc, argv, stdout); /* no --out folder until the flags are checked */
    if (rc == -1)
        return ELBO_EXIT_OK;
    if (rc == ELBO_EXIT_OK)
        rc = elbo_cli_apply(&cli);
    if (rc != ELBO_EXIT_OK) {
        fprintf(stderr, "%s: %s\n", cli.prog, cli.err);
        return rc;
    }
    run R = {.cli = &cli};
    parse_grid(&cli, &R.g);
    if (cli.quick)
        quick_grid(&R.g);
    start_ranks(&cli, &R.g, &argc, &argv);
    if (elbo_mkdir_p(cli.out) != ELBO_OK) {
        fprintf(stderr, "%s: --out: %s\n", cli.prog, elbo_last_error());
        return ELBO_EXIT_RUNTIME;
    }
    setup(&R);
    if (*export_path) {
        uint64_t shape[3] = {(uint64_t)steps, (uint64_t)batch, ELBO_DSPRITES_PIXELS};
        drv_check(&cli, elbo_npy_writer_open(&export_w, export_path, "|u1", shape, 3), export_path);
    }
    const grid *g = &R.g;
    int n = 0;
    row *rows = drv_alloc(&cli, MAX_GRID, sizeof *rows);
    printf("dSprites: %zu training, %d held-out images; %d model(s), %d steps of %d\n", R.split.n_train, test_size,
           g->n_obj * g->n_betas * g->n_seeds, steps, batch);
    for (int o = 0; o < g->n_obj; o++)
        for (int b = 0; b < g->n_betas; b++)
            for (int s = 0; s < g->n_seeds; s++, n++) {
                row *r = rows + n;
                R.model = n + 1, R.models = g->n_obj * g->n_betas * g->n_seeds;
                r->obj = g->objectives[o], r->beta = g->betas[b], r->seed = g->seeds[s];
                r->mi_dl = drv_alloc(&cli, (size_t)latent * NF, sizeof(double));
                r->mi_chen = drv_alloc(&cli, (size_t)latent * NF, sizeof(double));
                one_model(&R, r);
                write_csv(&R, rows, n + 1);
            }
    if (*export_path)
        drv_check(&cli, elbo_npy_writer_close(&export_w), export_path);
    write_figures(&R, rows, n);
    write_config(&R);
    write_summary(&R, rows, n);
    printf("wrote %s/{metrics.csv, mig_vs_beta.svg, mi_heatmap.svg, traversal_*.png, mi_*.csv, config.json, "
           "summary.json}\n",
           cli.out);
    for (int i = 0; i < n; i++)
        free(rows[i].mi_dl), free(rows[i].mi_chen);
    free(rows), free(R.xb), free(R.xe), free(R.mu), free(R.lv), free(R.dmu), free(R.dlv), free(R.classes);
    elbo_tape_destroy(R.train_tape), elbo_tape_destroy(R.eval_tape);
    elbo_dsprites_free(R.ds);
    ds_split_free(&R.split);
    elbo_dp_end(dp);
    return ELBO_EXIT_OK;
}
