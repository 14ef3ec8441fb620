/* VAE variants side by side (chapter 17.8 and its notes): each model of
 * --models trained with the same networks, data, epochs and seeds, then
 * scored by the test negative ELBO and the importance-weighted -log Pr(x)
 * with --iw K draws (17.28), chunked over the draws so K = 5000 fits in
 * memory.
 *
 *   experiments/vae_variants --models vae,iwae5 --seeds 1,2,3 --epochs 50 --iw 5000
 *   experiments/vae_variants --models vae,miwae,ciwae,piwae --epochs 10 --iw 1000 --iw-images 1000
 *   experiments/vae_variants --models vae,hier2,ladder --epochs 10 --iw 1000 --iw-images 500
 *
 * A model name is one line of the table below: the parts and objective it
 * overrides on the common 784-400-20 network (--hidden, --latent). The
 * two-stochastic-layer models (hier2, hier2-wu, ladder) take Burda et al.'s
 * networks instead, whatever --hidden and --latent say: 784-200-200-z1 100,
 * 100-100-z2 50, the mirrored decoder, tanh (docs/HIERARCHIES.md), the
 * setup of `experiments/vae --stochastic-layers 2` (common/vae_parts.h);
 * hier2-wu trains them as Sonderby et al. do, with ReLU units and KL warm-up.
 * Writes to --out: variants.csv
 * (one row per model and seed: model, seed, test_neg_elbo, iw_nll, k (the IW
 * draws), kl, active_units, epoch_seconds (median over epochs), params,
 * cluster_accuracy (empty unless the model reports one), status),
 * iw_nll.svg (the mean IW -log Pr(x) per model, bars from the lowest to the
 * highest seed), samples_MODEL.png (decoded prior draws of the first seed,
 * with .npy beside), summary.json (the full configuration, the table
 * entries used and every run) and index.html. A run that fails (a
 * non-finite loss, ...) is recorded with its error and the others go on;
 * the exit code is then 1.
 *
 * --binarize dynamic (the default here, as the IWAE and VampPrior papers on
 * MNIST): training pixels drawn afresh each epoch from the run's seed; the
 * test set binarized once from --binarize-seed, the same for every model and
 * seed (common/binarize.h).
 *
 * --mpi (under mpirun -np P): each run is trained data-parallel across the
 * ranks, as `vae --mpi` trains (common/data_parallel.h: every rank a shard
 * of each batch, gradients summed in rank order, the same bits whenever
 * repeated with the same P), and its test -ELBO and IW-K are split across
 * the ranks by chunks (common/dp_eval.h: the same bits for any P). Rank 0
 * writes the outputs. Objectives that are not sums over examples (MIWAE,
 * CIWAE, PIWAE) cannot be split and their runs fail with that message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binarize.h"
#include "cli.h"
#include "data.h"
#include "data_parallel.h"
#include "dp_train.h"
#include "dp_eval.h"
#include "driver.h"
#include "models/io/file.h"
#include "models/io/svg.h"
#include "models/metrics/cluster.h"
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "models/vae/vae.h"
#include "models/vae/vae_train.h"
#include "progress.h"
#include "results.h"
#include "summary.h"
#include "vae_parts.h"

/* ---- the variants: name -> what it changes on the common model ----
 * One line each. posterior, prior and objective are registry names
 * (models/vae/component.h); k: draws per IW bound in training (0: the
 * objective's default, 5 for the IWAE family); m: MIWAE/PIWAE groups; beta:
 * CIWAE's ELBO weight; layers: stochastic layers (2: Burda et al.'s
 * networks replace the common one, elbo_vae_parts_burda2); ladder: with two
 * layers, the ladder VAE's top-down inference; prior_k: a learned prior's
 * components (VampPrior pseudo-inputs, hard-tanh squashed as in the paper;
 * mixture components, from a random start); flow_steps, flow_hidden: a
 * flow posterior's steps and the IAF's MADE units; relu: ReLU units in place
 * of the two-layer networks' tanh; warmup: epochs of the KL weight's linear
 * rise from 0 to 1 (Sonderby et al. 2016). */
typedef struct variant {
    const char *name, *help;
    const char *posterior, *prior, *objective;
    int k, m;
    double beta;
    int layers;
    bool ladder;
    int prior_k, flow_steps, flow_hidden;
    bool relu;
    float warmup;
} variant;

#define V(...) {__VA_ARGS__} /* fields left out: the plain VAE's (one stochastic layer) */
static const variant table[] = {
    V(.name = "vae", .help = "the VAE: diagonal Gaussian, standard normal prior, the ELBO"),
    V(.name = "iwae5", .help = "trained on the IWAE-5 bound (Burda et al. 2016)", .objective = "iwae", .k = 5),
    V(.name = "miwae", .help = "MIWAE(M 2, K 5) (Rainforth et al. 2018)", .objective = "miwae", .k = 5, .m = 2),
    V(.name = "ciwae", .help = "CIWAE, beta 0.5, K 5 (Rainforth et al. 2018)", .objective = "ciwae", .k = 5,
      .beta = 0.5),
    V(.name = "piwae", .help = "PIWAE(M 2, K 5): decoder IWAE-10, encoder MIWAE (Rainforth et al. 2018)",
      .objective = "piwae", .k = 5, .m = 2),
    V(.name = "hier2", .help = "two stochastic layers, Burda et al.'s networks (784-200-200-100, 100-100-50, tanh), "
      "the ELBO", .posterior = "hier2", .prior = "hier2", .layers = 2),
    V(.name = "hier2-wu", .help = "hier2's widths with ReLU units and a 10-epoch KL warm-up (Sonderby et al. 2016), "
      "the ELBO", .posterior = "hier2", .prior = "hier2", .layers = 2, .relu = true, .warmup = 10.0f),
    V(.name = "ladder", .help = "ladder VAE's top-down inference (Sonderby et al. 2016) on the hier2 model, the ELBO",
      .posterior = "ladder", .prior = "hier2", .layers = 2, .ladder = true),
    V(.name = "vamp", .help = "VampPrior, K 500 pseudo-inputs (Tomczak & Welling 2018), the ELBO", .prior = "vamp",
      .prior_k = 500),
    V(.name = "mog", .help = "mixture-of-Gaussians prior, K 10, with its cluster accuracy, the ELBO", .prior = "mog",
      .prior_k = 10),
    V(.name = "fullcov", .help = "full-covariance Gaussian posterior (a Cholesky factor from the encoder), the ELBO",
      .posterior = "full-gaussian"),
    V(.name = "planar", .help = "planar flow posterior, K 4 (Rezende & Mohamed 2015), the ELBO",
      .posterior = "planar", .flow_steps = 4),
    V(.name = "iaf", .help = "inverse autoregressive flow, K 2, MADE 100 units (Kingma et al. 2016), the ELBO",
      .posterior = "iaf", .flow_steps = 2, .flow_hidden = 100),
};
#undef V

/* A table entry's part name, or the plain VAE's where it leaves it out. */
static const char *part(const char *name, const char *plain) { return name ? name : plain; }
#define N_TABLE (sizeof table / sizeof table[0])

/* Names of the models that are not in this build's table. */
/* (the VQ-VAE has discrete latents and no IW bound: experiments/vqvae) */
static const char *const planned[] = {"vqvae"};

#define MAX_MODELS 32
#define MAX_SEEDS 64

static const char *models_text, *seeds_text, *hidden_text, *fail_model;
static int epochs, latent, batch, iw, iw_images, eval_batch, binarize, train_n, test_n, binarize_seed, buckets;
static double lr;
static bool use_mpi;

static const elbo_opt opts[] = {
    {"models", ELBO_OPT_STRING, &models_text, "vae,iwae5", "comma-separated models of the table (--help lists "
     "them)", .choices = NULL},
    {"seeds", ELBO_OPT_STRING, &seeds_text, "1", "comma-separated seeds: each model is trained once per seed "
     "(initialisation, batch order, noise, dynamic binarization)", .choices = NULL},
    {"epochs", ELBO_OPT_INT, &epochs, "50", "training epochs of every model", .min = 1, .max = 100000},
    {"latent", ELBO_OPT_INT, &latent, "20", "latent dimensions of the one-layer models (hier2 and ladder: z1 100, "
     "z2 50, Burda et al.'s)", .min = 1, .max = 4096},
    {"hidden", ELBO_OPT_STRING, &hidden_text, "400", "encoder hidden widths of the one-layer models (decoder "
     "mirrors), e.g. 400 or 512,256; hier2 and ladder take Burda et al.'s 200,200 and 100,100, tanh",
     .choices = NULL},
    {"batch", ELBO_OPT_INT, &batch, "128", "minibatch size", .min = 1, .max = 1000000},
    {"lr", ELBO_OPT_DOUBLE, &lr, "1e-3", "Adam learning rate", .min = 1e-8, .max = 10},
    {"binarize", ELBO_OPT_CHOICE, &binarize, "dynamic", ELBO_BINARIZE_HELP, .choices = ELBO_BINARIZE_CHOICES},
    {"binarize-seed", ELBO_OPT_INT, &binarize_seed, "1", "seed of the one binarization of the test set (and of "
     "the training set with --binarize static), the same for every model and seed", .min = 0, .max = 2000000000},
    {"iw", ELBO_OPT_INT, &iw, "5000", "importance samples K of the test -log p(x) (17.28; 0: skip)", .min = 0,
     .max = 100000},
    {"iw-images", ELBO_OPT_INT, &iw_images, "0", "score -log p(x) on the first N test images (0: all)", .min = 0,
     .max = 2000000000},
    {"eval-batch", ELBO_OPT_INT, &eval_batch, "1000", "rows decoded at once in evaluation (IW draws included)",
     .min = 1, .max = 1000000},
    {"train-size", ELBO_OPT_INT, &train_n, "0", "training examples used (0: all)", .min = 0, .max = 2000000000},
    {"test-size", ELBO_OPT_INT, &test_n, "0", "test examples used (0: all)", .min = 0, .max = 2000000000},
    {"inject-failure", ELBO_OPT_STRING, &fail_model, "", "make this model's runs fail after training (tests the "
     "failure path)", .choices = NULL},
    {"mpi", ELBO_OPT_BOOL, &use_mpi, "false", "train each run data-parallel over MPI ranks (under mpirun or srun)",
     .choices = NULL},
    {"buckets", ELBO_OPT_INT, &buckets, "4", "--mpi: about this many gradient buckets per model", .min = 1,
     .max = 64},
    ELBO_DATA_OPTS,
};

/* ---- parsing ---- */

static const variant *find_variant(const char *name)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static void table_names(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_TABLE && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", table[i].name);
}

/* --models into out (each checked against the table and the registry). */
static int parse_models(const elbo_cli *cli, const variant **out)
{
    char buf[1024], names[256], msg[512];
    snprintf(buf, sizeof buf, "%s", models_text);
    table_names(names, sizeof names);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        const variant *v = find_variant(tok);
        if (!v) {
            bool later = false;
            for (size_t i = 0; i < sizeof planned / sizeof planned[0]; i++)
                later |= strcmp(planned[i], tok) == 0;
            snprintf(msg, sizeof msg, "--models: %s '%s': expected one of %s", later ? "this build has no model"
                     : "unknown model", tok, names);
            drv_usage_error(cli, msg);
        }
        int id;
        if (elbo_vae_find(ELBO_VAE_PART_POSTERIOR, part(v->posterior, "diag-gaussian"), &id) != ELBO_OK ||
            elbo_vae_find(ELBO_VAE_PART_PRIOR, part(v->prior, "normal"), &id) != ELBO_OK ||
            elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, part(v->objective, "elbo"), &id) != ELBO_OK) {
            snprintf(msg, sizeof msg, "--models: %s: %s", tok, elbo_last_error());
            drv_usage_error(cli, msg);
        }
        for (int i = 0; i < n; i++)
            if (out[i] == v) {
                snprintf(msg, sizeof msg, "--models: '%s' given twice", tok);
                drv_usage_error(cli, msg);
            }
        if (n == MAX_MODELS)
            drv_usage_error(cli, "--models: too many models");
        out[n++] = v;
    }
    if (n == 0)
        drv_usage_error(cli, "--models: expected at least one model");
    return n;
}

static int parse_seeds(const elbo_cli *cli, uint64_t *out)
{
    double s[MAX_SEEDS];
    int n = drv_list(cli, "seeds", seeds_text, s, MAX_SEEDS);
    for (int i = 0; i < n; i++) {
        if (s[i] < 0 || s[i] > 9.0e15 || s[i] != floor(s[i]))
            drv_usage_error(cli, "--seeds: expected non-negative integers");
        out[i] = (uint64_t)s[i];
        for (int j = 0; j < i; j++)
            if (out[j] == out[i])
                drv_usage_error(cli, "--seeds: a seed given twice");
    }
    return n;
}

/* ---- one run ---- */

typedef struct run_result {
    const variant *v;
    uint64_t seed;
    double test_neg_elbo, iw_nll, kl, epoch_seconds, cluster_accuracy;
    int active_units, k;
    long long params;
    double *epoch_secs; /* (epochs) */
    double *epoch_cpu;  /* (epochs): process CPU seconds (all threads), steadier than wall on a shared machine */
    double epoch_cpu_seconds;
    char error[320];    /* empty: the run finished */
} run_result;

typedef struct shared {
    const elbo_cli *cli;
    elbo_dp *dp;                      /* --mpi, else NULL */
    elbo_dataset train, test, iw_set; /* iw_set: the first --iw-images test images (or test itself) */
    bool iw_subset;
    elbo_vae_config cfg;              /* the common network */
    int epochs;
    int runs, run_index;
    double t_start;                   /* for the overall ETA */
    long epochs_done, epochs_total;
    elbo_tape *eval_tape;
} shared;

/* A line on stderr, from rank 0 alone with --mpi. */
static void note(const shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const shared *sh, const char *fmt, ...)
{
    if (!elbo_dp_root(sh->dp))
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *x, int n)
{
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static void fmt_hms(double s, char *buf, size_t cap)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* The model's configuration and training configuration for variant v. */
static elbo_status variant_config(const shared *sh, const variant *v, uint64_t seed, elbo_vae_config *c,
                                  elbo_vae_train_config *tc)
{
    *c = sh->cfg;
    if (v->layers == 2)
        elbo_vae_parts_burda2(c, v->ladder);
    if (v->relu)
        c->act = ELBO_VAE_RELU;
    int post, prior, obj;
    elbo_status st;
    if ((st = elbo_vae_find(ELBO_VAE_PART_POSTERIOR, part(v->posterior, "diag-gaussian"), &post)) != ELBO_OK ||
        (st = elbo_vae_find(ELBO_VAE_PART_PRIOR, part(v->prior, "normal"), &prior)) != ELBO_OK ||
        (st = elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, part(v->objective, "elbo"), &obj)) != ELBO_OK)
        return st;
    c->posterior = post;
    c->prior = prior;
    c->prior_k = v->prior_k;
    c->prior_squash = v->prior_k ? ELBO_VAE_SQUASH_HARDTANH : ELBO_VAE_SQUASH_NONE;
    c->flow_steps = v->flow_steps;
    c->flow_hidden = v->flow_hidden;
    *tc = ELBO_VAE_TRAIN_DEFAULT;
    tc->batch = batch;
    tc->adam.lr = (float)lr;
    tc->seed = seed;
    tc->dynamic_binarize = binarize == ELBO_BIN_DYNAMIC;
    const bool iw_family = obj == ELBO_VAE_OBJECTIVE_IWAE || obj == ELBO_VAE_OBJECTIVE_MIWAE ||
                           obj == ELBO_VAE_OBJECTIVE_CIWAE || obj == ELBO_VAE_OBJECTIVE_PIWAE;
    tc->objective = obj == ELBO_VAE_OBJECTIVE_ELBO ? NULL : elbo_vae_objective_by_id(obj);
    tc->iw_k = iw_family ? (v->k > 0 ? v->k : 5) : 0;
    tc->variant = v->m;
    tc->alpha = (float)v->beta;
    tc->warmup_epochs = v->warmup;
    return ELBO_OK;
}

static long long param_count(const elbo_params *p)
{
    long long n = 0;
    for (int i = 0; i < p->count; i++)
        n += (long long)elbo_param_size(p, i);
    return n;
}

/* With --mpi, an epoch's figures over every rank: the -ELBO summed over
 * the ranks' rows, the slowest rank's seconds, the ranks' CPU seconds summed. */
static elbo_status epoch_over_ranks(shared *sh, double *neg_elbo_sum, double *n, double *seconds, double *cpu)
{
    double x[3] = {*neg_elbo_sum, *n, *cpu};
    elbo_status st = elbo_dp_sum(sh->dp, x, 3);
    *neg_elbo_sum = x[0], *n = x[1], *cpu = x[2];
    *seconds = elbo_dp_max(sh->dp, *seconds);
    return st;
}

/* Train for the epochs with a progress line (rate and ETA of the epoch) and
 * a line per epoch with the ETA of the whole comparison. */
static elbo_status train(shared *sh, elbo_vae_trainer *tr, run_result *r)
{
    char label[96], eta[32];
    const bool root = elbo_dp_root(sh->dp);
    for (int e = 0; e < sh->epochs; e++) {
        snprintf(label, sizeof label, "[%d/%d] %s seed %llu, epoch %d/%d", sh->run_index + 1, sh->runs, r->v->name,
                 (unsigned long long)r->seed, e + 1, sh->epochs);
        elbo_progress prog;
        if (root)
            elbo_progress_begin(&prog, label, tr->steps_per_epoch);
        bool end = false;
        clock_t c0 = clock();
        elbo_status st = ELBO_OK;
        for (size_t s = 0; !end && st == ELBO_OK; s++) {
            st = elbo_vae_trainer_step(tr, &end);
            if (root)
                elbo_progress_update(&prog, s + 1, tr->acc.n ? tr->acc.neg_elbo / (double)tr->acc.n : NAN);
        }
        if (root)
            elbo_progress_end(&prog);
        if (st != ELBO_OK)
            return st;
        double neg_elbo = tr->acc.neg_elbo, n = (double)tr->acc.n, seconds = tr->acc.seconds;
        double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (sh->dp && (st = epoch_over_ranks(sh, &neg_elbo, &n, &seconds, &cpu)) != ELBO_OK)
            return st;
        r->epoch_secs[e] = seconds;
        r->epoch_cpu[e] = cpu;
        sh->epochs_done++;
        double el = elbo_now() - sh->t_start;
        fmt_hms(el / (double)sh->epochs_done * (double)(sh->epochs_total - sh->epochs_done), eta, sizeof eta);
        note(sh, "%s  train -ELBO %.3f  %.2f s  (ETA of all runs %s)\n", label, neg_elbo / n, seconds, eta);
    }
    return ELBO_OK;
}

/* The mixture prior's cluster accuracy on the test set: each example to the
 * argmax responsibility of its encoder mean, mapped to labels one to one
 * (Hungarian); NAN for other priors or unlabelled data. */
static elbo_status cluster_score(shared *sh, elbo_vae *m, double *acc)
{
    *acc = NAN;
    const elbo_dataset *d = &sh->test;
    if (m->cfg.prior != ELBO_VAE_PRIOR_MOG || !d->y || d->classes <= 0)
        return ELBO_OK;
    float *mu = malloc(d->n * (size_t)m->cfg.z_dim * sizeof *mu);
    int *cl = malloc(d->n * sizeof *cl);
    elbo_status st = mu && cl ? ELBO_OK : elbo_fail(ELBO_ERR_NOMEM, "cluster accuracy: out of memory");
    if (st == ELBO_OK)
        st = elbo_vae_encode_data(m, sh->eval_tape, d, 0, d->n, eval_batch, mu, NULL);
    if (st == ELBO_OK)
        st = elbo_vae_prior_mog_responsibilities(m, mu, d->n, NULL, cl);
    if (st == ELBO_OK)
        st = elbo_cluster_accuracy(cl, d->y, d->n, m->cfg.prior_k, d->classes, acc, NULL, NULL);
    free(mu), free(cl);
    return st;
}

/* The test -ELBO: in one pass, or with --mpi split across the ranks by
 * chunks (each chunk its own noise stream: other draws, the same bits for
 * any rank count). */
static elbo_status test_elbo(shared *sh, elbo_vae *m, uint64_t seed, elbo_vae_eval *ev)
{
    if (sh->dp)
        return elbo_dp_evaluate(sh->dp, m, sh->eval_tape, &sh->test, eval_batch, seed, ev);
    elbo_rng er;
    elbo_rng_seed(&er, seed);
    return elbo_vae_evaluate_data(m, sh->eval_tape, &sh->test, eval_batch, &er, ev);
}

/* The IW-K -log p(x) on the --iw-images, split as test_elbo is. */
static elbo_status test_iw_nll(shared *sh, elbo_vae *m, uint64_t seed, double *nll)
{
    if (sh->dp)
        return elbo_dp_iw_nll(sh->dp, m, sh->eval_tape, &sh->iw_set, iw, eval_batch, seed, nll);
    elbo_rng ir;
    elbo_rng_seed(&ir, seed);
    return elbo_vae_iw_nll_data(m, sh->eval_tape, &sh->iw_set, iw, eval_batch, &ir, nll, NULL);
}

/* The scores of a trained model on the test set (every rank with --mpi:
 * active units and cluster accuracy are the same computation on each). */
static elbo_status score(shared *sh, elbo_vae *m, run_result *r)
{
    elbo_tape *t = sh->eval_tape;
    elbo_vae_eval ev;
    elbo_status st = test_elbo(sh, m, r->seed * 1000003ull + 1, &ev);
    if (st != ELBO_OK)
        return st;
    r->test_neg_elbo = ev.neg_elbo;
    r->kl = ev.kl;
    if ((st = elbo_vae_active_units_data(m, t, &sh->test, eval_batch, 0.01, &r->active_units, NULL)) != ELBO_OK)
        return st;
    if ((st = cluster_score(sh, m, &r->cluster_accuracy)) != ELBO_OK)
        return st;
    if (iw > 0) {
        double t0 = elbo_now();
        if ((st = test_iw_nll(sh, m, r->seed * 7919ull + 17, &r->iw_nll)) != ELBO_OK)
            return st;
        note(sh, "%s seed %llu: test -ELBO %.3f, -log p(x) ~ %.3f (IW-%d on %zu images, %.1f s), KL %.3f, "
                "%d active units\n", r->v->name, (unsigned long long)r->seed, r->test_neg_elbo, r->iw_nll, iw,
                sh->iw_set.n, elbo_now() - t0, r->kl, r->active_units);
    }
    return ELBO_OK;
}

static elbo_status write_samples(shared *sh, elbo_vae *m, const run_result *r)
{
    const size_t G = 10;
    const elbo_dataset *d = &sh->test;
    float *img = malloc(G * G * d->d * sizeof(float));
    if (!img)
        return elbo_fail(ELBO_ERR_NOMEM, "samples: out of memory");
    elbo_rng sr;
    elbo_rng_seed(&sr, r->seed ^ 0x5A4D504C45ull);
    char name[96];
    snprintf(name, sizeof name, "samples_%s", r->v->name);
    elbo_status st = elbo_vae_sample_prior(m, sh->eval_tape, NULL, G * G, &sr, img);
    if (st == ELBO_OK)
        st = elbo_write_image_grid(sh->cli->out, name, img, G * G, d->rows, d->cols, d->channels, (int)G, (int)G);
    free(img);
    return st;
}

/* With --mpi: the model's gradients summed across the ranks (buckets over
 * its slab, the trainer's hooks), each rank training its shard of every
 * batch. Collective; the same status on every rank. */
static elbo_status attach_ranks(shared *sh, elbo_vae *m, elbo_vae_train_config *tc)
{
    return elbo_dp_train_config(sh->dp, &m->params, buckets, tc);
}

/* One model and seed, start to finish; any failure is returned (the message
 * in elbo_last_error()) with everything freed. With --mpi every rank runs
 * it, and returns the same status (the lowest failing rank's message). */
static elbo_status run_one(shared *sh, run_result *r, bool samples)
{
    elbo_vae m;
    elbo_vae_trainer tr;
    elbo_vae_config c;
    elbo_vae_train_config tc;
    bool have_m = false, have_tr = false;
    elbo_status st = variant_config(sh, r->v, r->seed, &c, &tc);
    elbo_rng init;
    elbo_rng_seed(&init, r->seed);
    if (st == ELBO_OK && (st = elbo_vae_create(&m, &c, &init)) == ELBO_OK)
        have_m = true;
    if (st == ELBO_OK)
        st = attach_ranks(sh, &m, &tc);
    if (st == ELBO_OK)
        st = elbo_dp_agree_status(sh->dp, elbo_vae_trainer_init(&tr, &m, &sh->train, &tc), "cannot train");
    have_tr = st == ELBO_OK;
    if (st == ELBO_OK) {
        r->params = param_count(&m.params);
        r->k = iw;
        char spec[256];
        elbo_vae_config_spec(&c, spec, sizeof spec);
        note(sh, "%s seed %llu: %s %s, z %d (of which z2 %d), %lld parameters\n", r->v->name,
             (unsigned long long)r->seed, spec, c.act == ELBO_VAE_TANH ? "tanh" : "relu", c.z_dim, c.z2_dim,
             r->params);
        /* A failed step fails on every rank at once (a rank with a bad loss
         * hands in NaNs): agreeing on it is one more collective, not a wait. */
        st = elbo_dp_agree_status(sh->dp, train(sh, &tr, r), "training");
    }
    if (have_m)
        elbo_dp_detach(sh->dp); /* collective; the scores need no sums of gradients */
    if (st == ELBO_OK) {
        r->epoch_seconds = median(r->epoch_secs, sh->epochs);
        r->epoch_cpu_seconds = median(r->epoch_cpu, sh->epochs);
        if (*fail_model && strcmp(fail_model, r->v->name) == 0)
            st = elbo_fail(ELBO_ERR_INVALID, "--inject-failure %s", fail_model);
    }
    if (st == ELBO_OK)
        st = elbo_dp_agree_status(sh->dp, score(sh, &m, r), "scoring");
    if (st == ELBO_OK && samples)
        st = elbo_dp_agree_status(sh->dp, elbo_dp_root(sh->dp) ? write_samples(sh, &m, r) : ELBO_OK, "samples");
    if (have_tr)
        elbo_vae_trainer_free(&tr);
    if (have_m)
        elbo_vae_free(&m);
    return st;
}

/* ---- outputs ---- */

static void csv_number(elbo_afile *f, double v, bool last)
{
    if (isfinite(v))
        elbo_afile_printf(f, "%.9g", v);
    elbo_afile_printf(f, last ? "\n" : ",");
}

/* The status cell: ok, or the error quoted (CSV: "" for a quote). */
static void csv_status(elbo_afile *f, const char *err)
{
    if (!*err) {
        elbo_afile_printf(f, "ok\n");
        return;
    }
    elbo_afile_printf(f, "\"failed: ");
    for (const char *c = err; *c; c++)
        elbo_afile_printf(f, *c == '"' ? "\"\"" : "%c", *c == '\n' ? ' ' : *c);
    elbo_afile_printf(f, "\"\n");
}

static elbo_status write_csv(const shared *sh, const run_result *runs, int n)
{
    elbo_afile f;
    elbo_status st = elbo_afile_open(&f, drv_path(sh->cli, "variants.csv"));
    if (st != ELBO_OK)
        return st;
    elbo_afile_printf(&f, "model,seed,test_neg_elbo,iw_nll,k,kl,active_units,epoch_seconds,params,cluster_accuracy,"
                      "status\n");
    for (int i = 0; i < n; i++) {
        const run_result *r = &runs[i];
        bool ok = !r->error[0];
        elbo_afile_printf(&f, "%s,%llu,", r->v->name, (unsigned long long)r->seed);
        csv_number(&f, ok ? r->test_neg_elbo : NAN, false);
        csv_number(&f, ok && iw > 0 ? r->iw_nll : NAN, false);
        elbo_afile_printf(&f, "%d,", iw);
        csv_number(&f, ok ? r->kl : NAN, false);
        csv_number(&f, ok ? r->active_units : NAN, false);
        csv_number(&f, r->epoch_seconds, false);
        csv_number(&f, (double)r->params, false);
        csv_number(&f, r->cluster_accuracy, false); /* NAN: the model reports none (empty cell) */
        csv_status(&f, r->error);
    }
    return elbo_afile_commit(&f);
}

/* The mean of the finished runs of model v over the seeds, and their range. */
static int model_stats(const run_result *runs, int n, const variant *v, double *mean, double *lo, double *hi)
{
    int c = 0;
    double s = 0.0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (runs[i].v == v && !runs[i].error[0] && isfinite(runs[i].iw_nll)) {
            double x = runs[i].iw_nll;
            s += x, c++;
            *lo = x < *lo ? x : *lo;
            *hi = x > *hi ? x : *hi;
        }
    *mean = c ? s / c : NAN;
    return c;
}

/* iw_nll.svg: a bar per model (its colour in the legend) at the mean over
 * the seeds, and a line from the lowest to the highest seed's value. The
 * axis starts a little below the lowest bar: differences of a nat or two
 * are what is compared. */
static elbo_status write_chart(const elbo_cli *cli, const run_result *runs, int n, const variant **models, int nm)
{
    elbo_svg *fig = elbo_svg_new(1, 1);
    if (!fig)
        return elbo_fail(ELBO_ERR_NOMEM, "svg: out of memory");
    elbo_svg_panel_size(fig, 120.0 + 70.0 * nm, 320.0);
    elbo_plot *p = elbo_svg_panel(fig, 0);
    double lo_all = INFINITY, hi_all = -INFINITY, mean[MAX_MODELS], lo[MAX_MODELS], hi[MAX_MODELS];
    int cnt[MAX_MODELS];
    for (int j = 0; j < nm; j++) {
        cnt[j] = model_stats(runs, n, models[j], &mean[j], &lo[j], &hi[j]);
        if (cnt[j]) {
            lo_all = lo[j] < lo_all ? lo[j] : lo_all;
            hi_all = hi[j] > hi_all ? hi[j] : hi_all;
        }
    }
    if (!isfinite(lo_all)) /* nothing finished: an empty chart with the axes */
        lo_all = 0.0, hi_all = 1.0;
    double span = hi_all - lo_all > 0.5 ? hi_all - lo_all : 0.5;
    double base = lo_all - 0.5 * span;
    for (int j = 0; j < nm; j++) {
        if (!cnt[j])
            continue;
        double x[2] = {j - 0.35, j + 0.35}, top[2] = {mean[j], mean[j]};
        elbo_style st = elbo_style_color(elbo_palette(j), models[j]->name);
        st.alpha = 0.8;
        elbo_plot_fill(p, x, NULL, top, 2, base, &st);
        double ex[2] = {j, j}, ey[2] = {lo[j], hi[j]};
        elbo_style bar = elbo_style_color(0x000000, NULL);
        elbo_plot_line(p, ex, ey, 2, &bar);
    }
    elbo_plot_xlim(p, -0.6, nm - 0.4);
    elbo_plot_ylim(p, base, hi_all + 0.3 * span);
    elbo_plot_xlabel(p, "model (legend)");
    elbo_plot_ylabel(p, "test -log p(x), nats");
    char title[128];
    snprintf(title, sizeof title, "IW-%d negative log-likelihood: mean and range over seeds", iw);
    elbo_plot_title(p, title);
    elbo_plot_legend(p, ELBO_LEGEND_TOP_RIGHT);
    elbo_status st = elbo_svg_save(fig, drv_path(cli, "iw_nll.svg"));
    elbo_svg_free(fig);
    return st;
}

static void write_summary(const shared *sh, const run_result *runs, int n, const variant **models, int nm,
                          const uint64_t *seeds, int ns)
{
    elbo_summary s;
    elbo_summary_begin(&s, sh->cli);
    elbo_json *j = &s.json;
    elbo_json_int(j, "epochs_run", sh->epochs);
    elbo_json_int(j, "train_examples", (long long)sh->train.n);
    elbo_json_int(j, "test_examples", (long long)sh->test.n);
    elbo_json_int(j, "iw_k", iw);
    elbo_json_int(j, "iw_images", (long long)sh->iw_set.n);
    elbo_json_begin_array(j, "seeds");
    for (int i = 0; i < ns; i++)
        elbo_json_uint(j, NULL, seeds[i]);
    elbo_json_end_array(j);
    char spec[256];
    elbo_vae_config_spec(&sh->cfg, spec, sizeof spec);
    elbo_json_string(j, "network", spec);
    elbo_json_begin_array(j, "models");
    for (int m = 0; m < nm; m++) {
        const variant *v = models[m];
        double mean, lo, hi;
        int c = model_stats(runs, n, v, &mean, &lo, &hi);
        elbo_json_begin_object(j, NULL);
        elbo_json_string(j, "name", v->name);
        elbo_json_string(j, "about", v->help);
        elbo_json_string(j, "posterior", part(v->posterior, "diag-gaussian"));
        elbo_json_string(j, "prior", part(v->prior, "normal"));
        elbo_json_string(j, "objective", part(v->objective, "elbo"));
        elbo_json_int(j, "train_k", v->k);
        elbo_json_int(j, "train_m", v->m);
        elbo_json_number(j, "ciwae_beta", v->beta);
        elbo_json_int(j, "stochastic_layers", v->layers == 2 ? 2 : 1);
        elbo_json_number(j, "kl_warmup_epochs", v->warmup);
        elbo_vae_config mc;
        elbo_vae_train_config tc;
        if (variant_config(sh, v, 0, &mc, &tc) == ELBO_OK) {
            elbo_vae_config_spec(&mc, spec, sizeof spec);
            elbo_json_string(j, "network", spec);
            elbo_json_string(j, "activation", mc.act == ELBO_VAE_TANH ? "tanh" : mc.act == ELBO_VAE_LEAKY ? "leaky"
                                                                                                          : "relu");
            elbo_json_int(j, "z_dim", mc.z_dim);
            elbo_json_int(j, "z2_dim", mc.z2_dim);
            elbo_json_begin_array(j, "hier_hidden");
            for (int i = 0; i < mc.n_hier_hidden; i++)
                elbo_json_int(j, NULL, mc.hier_hidden[i]);
            elbo_json_end_array(j);
        }
        elbo_json_int(j, "finished_runs", c);
        elbo_json_number(j, "mean_iw_nll", mean);
        elbo_json_number(j, "min_iw_nll", c ? lo : NAN);
        elbo_json_number(j, "max_iw_nll", c ? hi : NAN);
        elbo_json_end_object(j);
    }
    elbo_json_end_array(j);
    elbo_json_begin_array(j, "runs");
    for (int i = 0; i < n; i++) {
        const run_result *r = &runs[i];
        elbo_json_begin_object(j, NULL);
        elbo_json_string(j, "model", r->v->name);
        elbo_json_uint(j, "seed", r->seed);
        elbo_json_string(j, "status", r->error[0] ? "failed" : "ok");
        if (r->error[0])
            elbo_json_string(j, "error", r->error);
        elbo_json_number(j, "test_neg_elbo", r->error[0] ? NAN : r->test_neg_elbo);
        elbo_json_number(j, "iw_nll", r->error[0] ? NAN : r->iw_nll);
        elbo_json_number(j, "kl", r->error[0] ? NAN : r->kl);
        elbo_json_int(j, "active_units", r->active_units);
        elbo_json_number(j, "epoch_seconds", r->epoch_seconds);
        elbo_json_numbers(j, "epoch_seconds_all", r->epoch_secs, (size_t)sh->epochs);
        elbo_json_number(j, "epoch_cpu_seconds", r->epoch_cpu_seconds);
        elbo_json_numbers(j, "epoch_cpu_seconds_all", r->epoch_cpu, (size_t)sh->epochs);
        elbo_json_int(j, "params", r->params);
        elbo_json_end_object(j);
    }
    elbo_json_end_array(j);
    drv_check(sh->cli, elbo_summary_write(&s, sh->cli->out), "summary.json");
}

/* ---- main ---- */

static void load_data(const elbo_cli *cli, shared *sh)
{
    if (sh->dp) /* every rank reads the files; one that cannot stops them all */
        elbo_dp_check(sh->dp, cli, elbo_dp_agree_status(sh->dp, elbo_data_try_load(cli, &sh->train, &sh->test,
                                                                                      !elbo_dp_root(sh->dp)),
                                                        "cannot read the data"), "--data", true);
    else
        elbo_data_load_cli(cli, &sh->train, &sh->test);
    size_t ntr = train_n > 0 ? (size_t)train_n : sh->train.n, nte = test_n > 0 ? (size_t)test_n : sh->test.n;
    if (cli->quick) {
        ntr = ntr > 2048 ? 2048 : ntr;
        nte = nte > 512 ? 512 : nte;
    }
    drv_check(cli, elbo_dataset_truncate(&sh->train, ntr), "--train-size");
    drv_check(cli, elbo_dataset_truncate(&sh->test, nte), "--test-size");
    drv_check(cli, elbo_binarize_splits(binarize, &sh->train, &sh->test, (uint64_t)binarize_seed * 2 + 1,
                                        (uint64_t)binarize_seed * 2 + 2), "binarize");
    size_t ni = iw_images > 0 && (size_t)iw_images < sh->test.n ? (size_t)iw_images : sh->test.n;
    if (ni < sh->test.n) {
        uint32_t *idx = drv_alloc(cli, ni, sizeof *idx);
        for (size_t i = 0; i < ni; i++)
            idx[i] = (uint32_t)i;
        drv_check(cli, elbo_dataset_subset(&sh->test, idx, ni, &sh->iw_set), "--iw-images");
        sh->iw_subset = true;
        free(idx);
    } else {
        sh->iw_set = sh->test;
    }
}

static void common_network(const elbo_cli *cli, shared *sh)
{
    elbo_vae_config c = elbo_vae_config_default();
    c.x_dim = (int)sh->train.d;
    c.z_dim = latent;
    double h[ELBO_VAE_MAX_HIDDEN];
    int nh = drv_list(cli, "hidden", hidden_text, h, ELBO_VAE_MAX_HIDDEN);
    for (int i = 0; i < nh; i++) {
        if (h[i] < 1 || h[i] > 1e6 || h[i] != floor(h[i]))
            drv_usage_error(cli, "--hidden: expected positive integer widths");
        c.hidden[i] = (int)h[i];
    }
    c.n_hidden = nh;
    sh->cfg = c;
}

static void usage_models(void)
{
    fprintf(stdout, "\nmodels (--models; the one-layer ones on the --hidden and --latent networks, hier2 and "
            "ladder on Burda et al.'s):\n");
    for (size_t i = 0; i < N_TABLE; i++)
        fprintf(stdout, "  %-8s %s\n", table[i].name, table[i].help);

}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "vae_variants", "Train VAE variants with the same networks, data, epochs and seeds; compare "
                  "their importance-weighted likelihoods.", opts, sizeof opts / sizeof opts[0]);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            elbo_cli_usage(&cli, stdout);
            usage_models();
            return 0;
        }
    elbo_cli_main(&cli, argc, argv);
    const variant *models[MAX_MODELS];
    uint64_t seeds[MAX_SEEDS];
    int nm = parse_models(&cli, models), ns = parse_seeds(&cli, seeds);

    shared sh = {.cli = &cli, .dp = use_mpi ? elbo_dp_begin(&argc, &argv, "vae_variants") : NULL};
    cli.ranks = sh.dp ? elbo_dp_size(sh.dp) : 0;
    elbo_dp_check(sh.dp, &cli, elbo_dp_agree_config(sh.dp, &cli), "--mpi", false);
    const bool root = elbo_dp_root(sh.dp);
    load_data(&cli, &sh);
    common_network(&cli, &sh);
    sh.epochs = cli.quick && epochs > 1 ? 1 : epochs;
    sh.runs = nm * ns;
    sh.epochs_total = (long)sh.runs * sh.epochs;
    drv_check(&cli, elbo_tape_create(&sh.eval_tape, 16u << 20), "tape");
    {
        elbo_vae probe; /* the network fits the data: a usage error now, not a failed run later */
        elbo_rng r;
        elbo_rng_seed(&r, 0);
        if (elbo_vae_create(&probe, &sh.cfg, &r) != ELBO_OK)
            drv_usage_error(&cli, elbo_last_error());
        elbo_vae_free(&probe);
    }
    char spec[256];
    elbo_vae_config_spec(&sh.cfg, spec, sizeof spec);
    note(&sh, "vae_variants: %d models x %d seeds, %s, z %d (one-layer models), %d epochs, batch %d, %s binarization, "
         "%zu train / %zu test, IW-%d on %zu images, %d rank(s)\n", nm, ns, spec, latent, sh.epochs, batch,
         binarize == ELBO_BIN_DYNAMIC ? "dynamic" : binarize == ELBO_BIN_STATIC ? "static" : "no", sh.train.n,
         sh.test.n, iw, sh.iw_set.n, elbo_dp_size(sh.dp));

    run_result *runs = drv_alloc(&cli, (size_t)sh.runs, sizeof *runs);
    int failed = 0;
    sh.t_start = elbo_now();
    for (int mi = 0; mi < nm; mi++)
        for (int si = 0; si < ns; si++) {
            run_result *r = &runs[sh.run_index];
            *r = (run_result){.v = models[mi], .seed = seeds[si], .test_neg_elbo = NAN, .iw_nll = NAN, .kl = NAN,
                              .epoch_seconds = NAN, .cluster_accuracy = NAN, .epoch_cpu_seconds = NAN};
            r->epoch_secs = drv_alloc(&cli, (size_t)sh.epochs, sizeof(double));
            r->epoch_cpu = drv_alloc(&cli, (size_t)sh.epochs, sizeof(double));
            for (int e = 0; e < sh.epochs; e++)
                r->epoch_secs[e] = r->epoch_cpu[e] = NAN;
            elbo_status st = run_one(&sh, r, si == 0);
            if (st != ELBO_OK) {
                snprintf(r->error, sizeof r->error, "%s (%s)", elbo_last_error(), elbo_status_name(st));
                note(&sh, "vae_variants: %s seed %llu failed: %s; going on with the others\n", r->v->name,
                     (unsigned long long)r->seed, r->error);
                failed++;
            }
            sh.run_index++;
            if (root) /* what is done so far */
                drv_check(&cli, write_csv(&sh, runs, sh.run_index), "variants.csv");
        }
    if (root && iw > 0)
        drv_check(&cli, write_chart(&cli, runs, sh.runs, models, nm), "iw_nll.svg");
    if (root)
        write_summary(&sh, runs, sh.runs, models, nm, seeds, ns);
    note(&sh, "vae_variants: wrote %s/variants.csv and summary.json (%d of %d runs failed)\n", cli.out, failed,
         sh.runs);
    elbo_dp_end(sh.dp);
    for (int i = 0; i < sh.runs; i++)
        free(runs[i].epoch_secs), free(runs[i].epoch_cpu);
    free(runs);
    elbo_tape_destroy(sh.eval_tape);
    if (sh.iw_subset)
        elbo_dataset_free(&sh.iw_set);
    elbo_dataset_free(&sh.train);
    elbo_dataset_free(&sh.test);
    return failed ? ELBO_EXIT_RUNTIME : ELBO_EXIT_OK;
}
