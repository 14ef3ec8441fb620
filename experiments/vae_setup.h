/* What the VAE-based figure drivers share (header-only; one driver is one
 * translation unit, so the static option variables below are per driver):
 * the data splits (Fashion-MNIST, or whatever --data names: common/data.h;
 * --binarize none|static|dynamic: common/binarize.h),
 * and a model that is either loaded from a
 * checkpoint of experiments/vae (--checkpoint DIR/checkpoint.ckpt) or
 * trained here for a few epochs with models/vae's trainer.
 *
 *     static const elbo_opt opts[] = { VS_MODEL_OPTS("20", "bernoulli", "0.1"), VS_TRAIN_OPTS("3", "60000"), ... };
 *     elbo_cli_main(&cli, argc, argv); vs_begin(&cli, &argc, &argv);
 *     vs_data d; vs_load_data(&cli, &d);
 *     elbo_vae m; vs_model(&cli, &d, &(vs_objective){.beta = 1}, &m, "vae");
 *     ... elbo_vae_encode(&m, vs_tape(&cli), ...) ...
 *     vs_end();
 *
 * --mpi (under mpirun -np P): every model is trained data-parallel across
 * the ranks, as `vae --mpi` trains (common/data_parallel.h: a shard of each
 * batch per rank, gradients summed in rank order, the same bits whenever
 * repeated with the same P), and its test -ELBO is split across them by
 * chunks (common/dp_eval.h). The parameters are then the same on every
 * rank, so every rank runs the rest of the driver, but only rank 0 prints
 * and writes (elbo_dp_quiet_followers). The figures after training are
 * drawn on every rank: on a machine of few cores they cost rank 0 a share.
 */
#ifndef ELBO_EXPERIMENTS_VAE_SETUP_H
#define ELBO_EXPERIMENTS_VAE_SETUP_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binarize.h"
#include "cli.h"
#include "data.h"
#include "data_parallel.h"
#include "dp_train.h"
#include "dp_eval.h"
#include "driver.h"
#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "models/vae/vae_train.h"
#include "progress.h"
#include "results.h"
#include "vae_parts.h"

static const char *vs_checkpoint, *vs_hidden, *vs_lik;
static int vs_latent, vs_epochs, vs_train_n, vs_test_n, vs_batch, vs_binarize;
static double vs_lr, vs_sigma;
static bool vs_dump_latents, vs_mpi;
static int vs_buckets;
static elbo_dp *vs_dp; /* --mpi, else NULL */

#define VS_MODEL_OPTS(latent, lik, sigma)                                                                                 \
    {"checkpoint", ELBO_OPT_STRING, &vs_checkpoint, "",                                                         \
     "use the model of a vae checkpoint (experiments/vae --out DIR writes DIR/checkpoint.ckpt) instead of "     \
     "training one here", .choices = NULL},                                                                     \
    {"latent", ELBO_OPT_INT, &vs_latent, latent, "latent dimensions", .min = 1, .max = 4096},                  \
    {"hidden", ELBO_OPT_STRING, &vs_hidden, "400", "encoder hidden widths, e.g. 400 or 512,256", .choices = NULL}, \
    {"likelihood", ELBO_OPT_STRING, &vs_lik, lik, "Pr(x|z): bernoulli, gaussian (fixed --sigma) or "            \
     "gaussian-learned", .choices = NULL},                                                                      \
    {"sigma", ELBO_OPT_DOUBLE, &vs_sigma, sigma, "Gaussian likelihood: (initial) sigma", .min = 1e-4, .max = 10}, \
    ELBO_VAE_PART_OPTS

#define VS_TRAIN_OPTS(epochs, train_n)                                                                          \
    {"epochs", ELBO_OPT_INT, &vs_epochs, epochs, "training epochs", .min = 1, .max = 100000},                  \
    {"train-size", ELBO_OPT_INT, &vs_train_n, train_n, "training examples used (at most; Fashion-MNIST has "   \
     "60000)", .min = 1, .max = 2000000000},                                                                     \
    {"test-size", ELBO_OPT_INT, &vs_test_n, "10000", "test examples used (at most)", .min = 1,                \
     .max = 2000000000},                                                                                        \
    {"batch", ELBO_OPT_INT, &vs_batch, "128", "minibatch size", .min = 1, .max = 100000},                      \
    {"lr", ELBO_OPT_DOUBLE, &vs_lr, "1e-3", "Adam learning rate", .min = 1e-8, .max = 10},                     \
    {"binarize", ELBO_OPT_CHOICE, &vs_binarize, "none", ELBO_BINARIZE_HELP, .choices = ELBO_BINARIZE_CHOICES}, \
    {"dump-latents", ELBO_OPT_BOOL, &vs_dump_latents, "false", "write encoder means and log-variances of train " \
     "and test as latents_{train,test}_{mu,logvar,labels}.npy", .choices = NULL},                              \
    {"mpi", ELBO_OPT_BOOL, &vs_mpi, "false", "train data-parallel over MPI ranks (under mpirun or srun); rank 0 " \
     "writes", .choices = NULL},                                                                                \
    {"buckets", ELBO_OPT_INT, &vs_buckets, "4", "--mpi: about this many gradient buckets", .min = 1, .max = 64},  \
    ELBO_VAE_OBJECTIVE_OPTS,                                                                                   \
    ELBO_DATA_OPTS

typedef struct vs_data {
    elbo_dataset train, test;
} vs_data;

/* Training objective of one model (beta-VAE weight, KL warm-up, free bits);
 * with main_weight set, the objective's main weight (--objective's: the KL
 * weight for the ELBO, the TC weight for tcvae, ...; vae_parts.h) is
 * weight instead of its flag's value. */
typedef struct vs_objective {
    double beta, warmup_epochs, free_bits;
    double *trace; /* if not NULL: per epoch (train -ELBO, rec, KL), room for --epochs rows */
    bool main_weight;
    double weight;
} vs_objective;

/* After elbo_cli_main: with --mpi, start MPI, check that every rank has the
 * same options, and quiet the ranks other than 0. */
static inline void vs_begin(elbo_cli *cli, int *argc, char ***argv)
{
    if (!vs_mpi)
        return;
    vs_dp = elbo_dp_begin(argc, argv, cli->prog);
    cli->ranks = elbo_dp_size(vs_dp);
    elbo_dp_check(vs_dp, cli, elbo_dp_agree_config(vs_dp, cli), "--mpi", false);
    elbo_dp_check(vs_dp, cli, elbo_dp_quiet_followers(vs_dp, cli), "--mpi", false);
}

/* The end of a driver that called vs_begin. */
static inline void vs_end(void) { elbo_dp_end(vs_dp); }

/* The splits of --data; --quick keeps 2048 training and 512 test images.
 * Missing or bad data ends the run with one line naming the file, the problem
 * and the fix (exit 3); with --mpi, on every rank, naming the rank. */
static inline void vs_load_data(const elbo_cli *cli, vs_data *d)
{
    elbo_vae_parts_check(cli, vs_lik); /* bad names: exit 2 before any data is read */
    if (vs_dp)
        elbo_dp_check(vs_dp, cli, elbo_dp_agree_status(vs_dp, elbo_data_try_load(cli, &d->train, &d->test,
                                                                                  !elbo_dp_root(vs_dp)),
                                                        "cannot read the data"), "--data", true);
    else
        elbo_data_load_cli(cli, &d->train, &d->test);
    size_t ntr = (size_t)vs_train_n, nte = (size_t)vs_test_n;
    if (cli->quick) {
        ntr = ntr > 2048 ? 2048 : ntr;
        nte = nte > 512 ? 512 : nte;
    }
    drv_check(cli, elbo_dataset_truncate(&d->train, ntr), "data");
    drv_check(cli, elbo_dataset_truncate(&d->test, nte), "data");
    drv_check(cli, elbo_binarize_splits(vs_binarize, &d->train, &d->test, cli->seed * 2 + 1, cli->seed * 2 + 2),
              "binarize");
}

static inline void vs_free_data(vs_data *d)
{
    elbo_dataset_free(&d->train);
    elbo_dataset_free(&d->test);
}

/* One no-grad tape for evaluation, shared by every model of the driver. */
static inline elbo_tape *vs_tape(const elbo_cli *cli)
{
    static elbo_tape *t;
    if (!t) {
        drv_check(cli, elbo_tape_create(&t, 64u << 20), "tape");
        elbo_tape_set_grad(t, false);
    }
    return t;
}

/* Epochs actually trained (--quick: one). */
static inline int vs_run_epochs(const elbo_cli *cli) { return cli->quick && vs_epochs > 1 ? 1 : vs_epochs; }

/* --dump-latents: the model's encoder means and log-variances over both
 * splits, as latents_{train,test}_*.npy (latents_LABEL_... for a model
 * labelled other than "vae", so drivers with several models keep each). */
static inline void vs_dump(const elbo_cli *cli, const vs_data *d, elbo_vae *m, const char *label)
{
    if (!vs_dump_latents)
        return;
    char pre[2][128];
    int plain = strcmp(label, "vae") == 0;
    for (int k = 0; k < 2; k++) {
        snprintf(pre[k], sizeof pre[k], "latents_%s%s%s", plain ? "" : label, plain ? "" : "_", k ? "test" : "train");
        for (char *c = pre[k]; *c; c++) /* a label may hold '=' or spaces: keep file names plain */
            if (!(*c == '_' || *c == '-' || *c == '.' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                  (*c >= 'A' && *c <= 'Z')))
                *c = '_';
        drv_check(cli, elbo_dump_latents(cli->out, pre[k], m, vs_tape(cli), k ? &d->test : &d->train, 0), "latents");
    }
}

/* The model of --checkpoint (exits on a bad or unsuitable file). */
static inline void vs_load_model(const elbo_cli *cli, const vs_data *d, elbo_vae *m, const char *label)
{
    drv_check_input(cli, elbo_vae_load_model(vs_checkpoint, m), "--checkpoint");
    if (m->cfg.x_dim != (int)d->train.d)
        drv_input_error(cli, "--checkpoint %s: the model's input size %d does not match the data's %zu",
                        vs_checkpoint, m->cfg.x_dim, d->train.d);
    if (m->cfg.n_classes > 0)
        drv_input_error(cli, "--checkpoint %s: a conditional VAE; these figures need an unconditional one",
                        vs_checkpoint);
    printf("%s: loaded %s (z %d)\n", label, vs_checkpoint, m->cfg.z_dim);
}

/* A new model of the flags' network, initialised from --seed. */
static inline void vs_new_model(const elbo_cli *cli, const vs_data *d, elbo_vae *m)
{
    elbo_vae_config c = elbo_vae_config_default();
    c.x_dim = (int)d->train.d;
    c.z_dim = vs_latent;
    double h[ELBO_VAE_MAX_HIDDEN];
    int nh = drv_list(cli, "hidden", vs_hidden, h, ELBO_VAE_MAX_HIDDEN);
    for (int i = 0; i < nh; i++) {
        if (h[i] < 1 || h[i] > 1e6 || h[i] != floor(h[i]))
            drv_usage_error(cli, "--hidden: expected positive integer widths");
        c.hidden[i] = (int)h[i];
    }
    c.n_hidden = nh;
    c.lik = elbo_vae_parts_likelihood(cli, vs_lik);
    c.gauss_logvar = (float)(2 * log(vs_sigma));
    elbo_vae_parts_config(cli, &d->train, &c);
    elbo_rng init;
    elbo_rng_seed(&init, cli->seed);
    drv_check(cli, elbo_vae_create(m, &c, &init), "model");
}

/* The trainer's configuration for objective o; with --mpi, m attached to
 * the ranks (its gradients summed across them as backward makes them) and
 * this rank's shard of every batch. */
static inline elbo_vae_train_config vs_train_config(const elbo_cli *cli, const vs_objective *o, elbo_vae *m)
{
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = vs_batch;
    tc.adam.lr = (float)vs_lr;
    tc.beta = (float)o->beta;
    tc.warmup_epochs = (float)o->warmup_epochs;
    tc.free_bits = (float)o->free_bits;
    tc.seed = cli->seed;
    tc.dynamic_binarize = vs_binarize == ELBO_BIN_DYNAMIC;
    elbo_vae_parts_train(cli, &tc);
    if (o->main_weight)
        elbo_vae_parts_set_main_weight(&tc, o->weight);
    elbo_dp_check(vs_dp, cli, elbo_dp_train_config(vs_dp, &m->params, vs_buckets, &tc), "--mpi", false);
    return tc;
}

/* One epoch with a progress line (rank 0's); acc gets the epoch's sums
 * over every rank's rows (-ELBO, rec, KL, examples), and with --mpi the
 * ranks check that their parameters agree. */
static inline void vs_epoch(const elbo_cli *cli, elbo_vae_trainer *tr, const char *label, int epoch, double acc[4])
{
    const bool root = elbo_dp_root(vs_dp);
    elbo_progress prog;
    if (root)
        elbo_progress_begin(&prog, label, tr->steps_per_epoch);
    bool end = false;
    for (size_t s = 0; !end; s++) {
        /* With --mpi a failed step fails on every rank at once (a rank with
         * a bad loss hands in NaNs), so they agree on it. */
        elbo_status st = elbo_vae_trainer_step(tr, &end);
        if (st != ELBO_OK)
            elbo_dp_check(vs_dp, cli, elbo_dp_agree_status(vs_dp, st, "training"), "training step", false);
        if (root)
            elbo_progress_update(&prog, s + 1, tr->acc.n ? tr->acc.neg_elbo / (double)tr->acc.n : NAN);
    }
    if (root)
        elbo_progress_end(&prog);
    acc[0] = tr->acc.neg_elbo, acc[1] = tr->acc.rec, acc[2] = tr->acc.kl, acc[3] = (double)tr->acc.n;
    elbo_dp_check(vs_dp, cli, elbo_dp_sum(vs_dp, acc, 4), "epoch statistics", false);
    elbo_dp_check(vs_dp, cli, elbo_dp_check_params(vs_dp, &tr->m->params, (uint64_t)epoch + 1), "--mpi", false);
}

/* The test -ELBO of m (with --mpi split across the ranks by chunks, each
 * chunk its own noise stream). */
static inline elbo_vae_eval vs_test_elbo(const elbo_cli *cli, const vs_data *d, elbo_vae *m)
{
    elbo_vae_eval ev;
    if (vs_dp) {
        elbo_dp_check(vs_dp, cli, elbo_dp_evaluate(vs_dp, m, vs_tape(cli), &d->test, 1000, cli->seed ^ 0x5EEDull, &ev),
                      "evaluate", false);
        return ev;
    }
    elbo_rng r;
    elbo_rng_seed(&r, cli->seed ^ 0x5EEDull);
    drv_check(cli, elbo_vae_evaluate_data(m, vs_tape(cli), &d->test, 1000, &r, &ev), "evaluate");
    return ev;
}

/* The model: loaded from --checkpoint, or trained for --epochs on the
 * training split with objective o (label names it in the log). Returns the
 * test negative ELBO per example (NAN when loaded). With --dump-latents its
 * latents are written (vs_dump). */
static inline double vs_model(const elbo_cli *cli, const vs_data *d, const vs_objective *o, elbo_vae *m,
                              const char *label)
{
    if (vs_checkpoint && *vs_checkpoint) {
        vs_load_model(cli, d, m, label);
        vs_dump(cli, d, m, label);
        return NAN;
    }
    vs_new_model(cli, d, m);
    elbo_vae_train_config tc = vs_train_config(cli, o, m);
    elbo_vae_trainer tr;
    elbo_dp_check(vs_dp, cli, elbo_dp_agree_status(vs_dp, elbo_vae_trainer_init(&tr, m, &d->train, &tc), "trainer"),
                  "trainer", false);
    void *obj_state = elbo_vae_parts_state(cli, &tc, m->cfg.z_dim, cli->seed);
    tr.objective_state = obj_state;
    int epochs = vs_run_epochs(cli);
    double t0 = elbo_now();
    for (int e = 0; e < epochs; e++) {
        double acc[4];
        vs_epoch(cli, &tr, label, e, acc);
        if (o->trace) {
            o->trace[3 * e] = acc[0] / acc[3];
            o->trace[3 * e + 1] = acc[1] / acc[3];
            o->trace[3 * e + 2] = acc[2] / acc[3];
        }
        printf("%s: epoch %d/%d  train -ELBO %.2f (rec %.2f, KL %.2f)  %.1fs\n", label, e + 1, epochs, acc[0] / acc[3],
               acc[1] / acc[3], acc[2] / acc[3], elbo_now() - t0);
        fflush(stdout);
    }
    elbo_vae_trainer_free(&tr);
    elbo_vae_parts_state_free(obj_state);
    elbo_dp_detach(vs_dp);
    elbo_vae_eval ev = vs_test_elbo(cli, d, m);
    printf("%s: test -ELBO %.2f (rec %.2f, KL %.2f)\n", label, ev.neg_elbo, ev.rec, ev.kl);
    vs_dump(cli, d, m, label);
    return ev.neg_elbo;
}

#endif
