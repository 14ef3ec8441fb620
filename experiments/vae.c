/* The main driver: train and evaluate a VAE, beta-VAE or conditional VAE on
 * Fashion-MNIST or any data --data names (IDX, .npy, .npz, PNG class
 * folders: experiments/common/data.h) (chapter 17.5-17.8).
 *
 *   experiments/vae --data data/fashion-mnist --out runs/vae          # 784-400-20, 10 epochs
 *   experiments/vae --model cvae --hidden 512,256 --latent 8 --iw 100
 *   experiments/vae --model beta --beta 4 --kl-warmup 5 --free-bits 0.1
 *   experiments/vae --stochastic-layers 2 [--ladder] --binarize dynamic --iw 100   # docs/HIERARCHIES.md
 *
 * Writes to --out: epochs.csv (train and test negative ELBO, reconstruction,
 * KL, seconds per epoch), samples.png (decoder means of prior draws),
 * samples_aggregate.png (draws from the aggregated posterior),
 * reconstructions.png (test originals beside their reconstructions), each
 * grid's images as .npy beside it, loss.svg, checkpoint.ckpt (each epoch,
 * atomically), summary.json and index.html (the report); with
 * --dump-latents, latents_{train,test}_{mu,logvar,labels}.npy.
 *
 * Weights in and out as safetensors (models/vae/vae_safetensors.h):
 * --export FILE after training, --init FILE before it (--epochs 0: only
 * evaluate), and --eval-noise EPS.npy for a test -ELBO with fixed noise,
 * the number bench/safetensors_roundtrip.py compares with PyTorch's.
 *
 * SIGINT/SIGTERM: the current step finishes, a checkpoint is written, and
 * the run exits with 128 + the signal; --resume continues it bit for bit.
 *
 * --mpi (under mpirun -np P): data-parallel training (common/data_parallel.h):
 * each rank computes its shard of every batch, the gradients are summed in
 * rank order in buckets while backward runs, the test ELBO and IW-K are
 * split across ranks by chunks; rank 0 writes every output. The checkpoint
 * does not depend on P, so --resume may use another rank count. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/io/dataset.h"
#include "models/io/npy.h"
#include "models/io/png.h"
#include "models/io/svg.h"
#include "models/vae/component.h"
#include "models/vae/vae.h"
#include "models/vae/vae_safetensors.h"
#include "models/vae/vae_train.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "binarize.h"
#include "data.h"
#include "data_parallel.h"
#include "dp_train.h"
#include "dp_eval.h"
#include "progress.h"
#include "results.h"
#include "summary.h"
#include "vae_parts.h"
#include "vae_prior.h"

enum { MODEL_VAE, MODEL_BETA, MODEL_CVAE };

static int model_kind, act = -1, latent, stoch_layers, z2_dim, epochs, batch, binarize, iw, iwae_train, mc, eval_batch, warmup_shape,
    max_steps, buckets;
static double lr, beta = -1.0, kl_warmup, free_bits, sigma, leaky;
static const char *hidden_text, *lik_name;
static bool resume, dump_latents, use_mpi, ladder;
static const char *hier_hidden_text;
static const char *export_path, *init_path, *eval_noise_path, *prior_init_text;

static const elbo_opt opts[] = {
    {"model", ELBO_OPT_CHOICE, &model_kind, "vae", "vae, beta (beta-VAE, --beta defaults to 4) or cvae (class-conditional)",
     .choices = "vae|beta|cvae"},
    {"likelihood", ELBO_OPT_STRING, &lik_name, "bernoulli", "Pr(x|z): bernoulli (logits), gaussian (fixed --sigma) "
     "or gaussian-learned (a learned per-pixel variance)", .choices = NULL},
    ELBO_VAE_PART_OPTS,
    ELBO_VAE_OBJECTIVE_OPTS,
    {"sigma", ELBO_OPT_DOUBLE, &sigma, "0.1", "Gaussian likelihood: fixed sigma (initial sigma when learned)",
     .min = 1e-4, .max = 1e4},
    {"hidden", ELBO_OPT_STRING, &hidden_text, NULL, "encoder hidden widths, e.g. 400 or 512,256 (decoder mirrors); "
     "default 400, or 200,200 with --stochastic-layers 2", .choices = NULL},
    {"activation", ELBO_OPT_CHOICE, &act, NULL, "hidden activation; default relu, or tanh with --stochastic-layers 2",
     .choices = "relu|tanh|leaky"},
    {"leaky-slope", ELBO_OPT_DOUBLE, &leaky, "0.01", "slope of leaky ReLU below zero", .min = 0, .max = 1},
    {"latent", ELBO_OPT_INT, &latent, NULL, "latent dimensions (of z1 with two stochastic layers); default 20, or "
     "100 with --stochastic-layers 2", .min = 1, .max = 4096},
    {"stochastic-layers", ELBO_OPT_INT, &stoch_layers, "1", "stochastic layers: 1, or 2 for Burda et al.'s model "
     "x -> h -> z1 -> h -> z2 with Pr(z2) Pr(z1|z2) Pr(x|z1) (docs/HIERARCHIES.md)", .min = 1, .max = 2},
    {"ladder", ELBO_OPT_BOOL, &ladder, "false", "two stochastic layers: the ladder VAE's top-down inference "
     "(precision-weighted merge) instead of q(z1|x) q(z2|z1)", .choices = NULL},
    {"z2", ELBO_OPT_INT, &z2_dim, "50", "two stochastic layers: dimensions of the top layer z2", .min = 1,
     .max = 4096},
    {"hier-hidden", ELBO_OPT_STRING, &hier_hidden_text, "100,100", "two stochastic layers: hidden widths of the "
     "networks z1 -> z2 and z2 -> z1 (0 to 3 layers; \"\" for none)", .choices = NULL},
    {"epochs", ELBO_OPT_INT, &epochs, "10", "training epochs (0 with --init: evaluate the imported weights)",
     .min = 0, .max = 100000},
    {"batch", ELBO_OPT_INT, &batch, "128", "minibatch size", .min = 1, .max = 1000000},
    {"lr", ELBO_OPT_DOUBLE, &lr, "1e-3", "Adam learning rate", .min = 1e-8, .max = 10},
    {"beta", ELBO_OPT_DOUBLE, &beta, NULL, "KL weight (17.30); default 1, or 4 with --model beta", .min = 0,
     .max = 1e6},
    {"kl-warmup", ELBO_OPT_DOUBLE, &kl_warmup, "0", "epochs over which the KL weight rises from 0 to beta", .min = 0,
     .max = 1e6},
    {"warmup-shape", ELBO_OPT_CHOICE, &warmup_shape, "linear", "KL warm-up ramp", .choices = "linear|sigmoid"},
    {"free-bits", ELBO_OPT_DOUBLE, &free_bits, "0", "free bits: KL floor per latent dimension in nats (0: off)",
     .min = 0, .max = 1e3},
    {"binarize", ELBO_OPT_CHOICE, &binarize, "none", "pixels as [0,1] values, binarized once, or afresh each step",
     .choices = "none|static|dynamic"},
    {"mc-samples", ELBO_OPT_INT, &mc, "1", "Monte Carlo samples L per example in the training ELBO", .min = 1,
     .max = 1000},
    {"iwae-train", ELBO_OPT_INT, &iwae_train, "0", "train on the IWAE-K bound with this K (0: the ELBO)", .min = 0,
     .max = 1000},
    {"iw", ELBO_OPT_INT, &iw, "0", "also estimate the test -log p(x) with K importance samples (17.28)", .min = 0,
     .max = 100000},
    {"eval-batch", ELBO_OPT_INT, &eval_batch, "1000", "rows per evaluation chunk", .min = 1, .max = 1000000},
    {"resume", ELBO_OPT_BOOL, &resume, "false", "continue from OUT/checkpoint.ckpt", .choices = NULL},
    {"max-steps", ELBO_OPT_INT, &max_steps, "0", "stop (with a checkpoint) after this many steps in this process "
     "(0: no limit; for tests)", .min = 0, .max = 2000000000},
    {"dump-latents", ELBO_OPT_BOOL, &dump_latents, "false", "write encoder means and log-variances of train and test "
     "as latents_{train,test}_{mu,logvar,labels}.npy", .choices = NULL},
    {"export", ELBO_OPT_STRING, &export_path, "", "write the trained weights to FILE.safetensors, named as the "
     "PyTorch state_dict of bench/safetensors_roundtrip.py's MLPVAE", .choices = NULL},
    {"init", ELBO_OPT_STRING, &init_path, "", "start from the weights in FILE.safetensors (same layout; shapes must "
     "match the model the flags describe)", .choices = NULL},
    {"eval-noise", ELBO_OPT_STRING, &eval_noise_path, "", "also evaluate the test -ELBO with this fixed noise: a "
     "float32 .npy of (test examples, latent) standard normals", .choices = NULL},
    {"prior-init", ELBO_OPT_STRING, &prior_init_text, "", "mog prior: start from FILE (params.csv of mog_em --cov "
     "diag: component, weight, means, variances) or from EM on the encoder means after a warm-up epoch (em, or "
     "em:N after N epochs)", .choices = NULL},
    {"mpi", ELBO_OPT_BOOL, &use_mpi, "false", "data-parallel training over MPI ranks (under mpirun or srun)",
     .choices = NULL},
    {"buckets", ELBO_OPT_INT, &buckets, "4", "--mpi: about this many gradient buckets (runs of whole layers, last "
     "first), each summed across ranks as soon as backward has finished it", .min = 1, .max = 4096},
    ELBO_DATA_OPTS,
};

/* ---- SIGINT / SIGTERM: finish the step, checkpoint, exit ---- */
static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- per-epoch history (saved in the checkpoint so a resumed run has it all) ---- */
enum { H_EPOCH, H_TRAIN, H_TRAIN_REC, H_TRAIN_KL, H_TRAIN_LOSS, H_TEST, H_TEST_REC, H_TEST_KL, H_KLW, H_SECONDS,
       H_COLS };
static const char *const history_header[H_COLS] = {"epoch", "train_neg_elbo", "train_rec", "train_kl", "train_loss",
                                                   "test_neg_elbo", "test_rec", "test_kl", "kl_weight", "seconds"};

typedef struct history {
    size_t n, cap;
    double *rows; /* (n, H_COLS) */
} history;

static void history_push(const elbo_cli *cli, history *h, const double *row)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->rows = realloc(h->rows, h->cap * H_COLS * sizeof(double));
        if (!h->rows)
            drv_check(cli, elbo_fail(ELBO_ERR_NOMEM, "history: out of memory"), "history");
    }
    memcpy(h->rows + h->n * H_COLS, row, H_COLS * sizeof(double));
    h->n++;
}

/* ---- outputs ---- */

static void write_curves(const elbo_cli *cli, const history *h)
{
    drv_check(cli, elbo_csv_write(drv_path(cli, "epochs.csv"), history_header, h->rows, h->n, H_COLS), "epochs.csv");
    elbo_svg *fig = elbo_svg_new(3, 1);
    if (!fig)
        drv_check(cli, elbo_fail(ELBO_ERR_NOMEM, "svg: out of memory"), "loss.svg");
    double *x = drv_alloc(cli, h->n * 7, sizeof(double));
    double *col[6];
    const int which[6] = {H_TRAIN, H_TEST, H_TRAIN_REC, H_TEST_REC, H_TRAIN_KL, H_TEST_KL};
    for (int c = 0; c < 6; c++)
        col[c] = x + h->n * (size_t)(c + 1);
    for (size_t i = 0; i < h->n; i++) {
        x[i] = h->rows[i * H_COLS + H_EPOCH];
        for (int c = 0; c < 6; c++)
            col[c][i] = h->rows[i * H_COLS + which[c]];
    }
    const char *titles[3] = {"negative ELBO (nats)", "reconstruction -log Pr(x|z)", "KL(q(z|x) || Pr(z))"};
    for (int p = 0; p < 3; p++) {
        elbo_plot *pl = elbo_svg_panel(fig, p);
        elbo_plot_title(pl, titles[p]);
        elbo_plot_xlabel(pl, "epoch");
        elbo_style train_st = elbo_style_color(elbo_palette(0), "train"), test_st = elbo_style_color(elbo_palette(1), "test");
        test_st.dash = ELBO_DASH_DASHED;
        elbo_plot_line(pl, x, col[2 * p], h->n, &train_st);
        elbo_plot_line(pl, x, col[2 * p + 1], h->n, &test_st);
        train_st.label = test_st.label = NULL; /* markers at the epochs, same colours, no legend entry */
        elbo_plot_scatter(pl, x, col[2 * p], h->n, &train_st);
        elbo_plot_scatter(pl, x, col[2 * p + 1], h->n, &test_st);
    }
    elbo_svg_title(fig, "VAE training (per example)");
    drv_check(cli, elbo_svg_save(fig, drv_path(cli, "loss.svg")), "loss.svg");
    elbo_svg_free(fig);
    free(x);
}

/* samples.png, samples_aggregate.png, reconstructions.png, each with its
 * images as .npy beside it (elbo_write_image_grid). */
static void write_images(const elbo_cli *cli, elbo_vae *m, elbo_tape *t, const elbo_dataset *test,
                         const elbo_dataset *train, uint64_t seed)
{
    const int D = m->cfg.x_dim, C = m->cfg.n_classes, R = test->rows, W = test->cols, CH = test->channels;
    const size_t G = 10; /* grids of 10 x 10 */
    float *img = drv_alloc(cli, 2 * G * G * (size_t)D, sizeof(float)); /* a grid, then originals and reconstructions */
    float *y = C ? drv_alloc(cli, G * G * (size_t)C, sizeof(float)) : NULL;
    elbo_rng r;
    elbo_rng_seed(&r, seed ^ 0x5A4D504C45ull);
    /* A conditional model draws row i of the grid from class i. */
    for (size_t i = 0; C && i < G * G; i++)
        y[i * (size_t)C + (i / G) % (size_t)C] = 1.0f;
    drv_check(cli, elbo_vae_sample_prior(m, t, y, G * G, &r, img), "sample prior");
    drv_check(cli, elbo_write_image_grid(cli->out, "samples", img, G * G, R, W, CH, (int)G, (int)G), "samples.png");
    drv_check(cli, elbo_vae_sample_aggregate_data(m, t, train, G * G, &r, img, NULL), "sample aggregated posterior");
    drv_check(cli, elbo_write_image_grid(cli->out, "samples_aggregate", img, G * G, R, W, CH, (int)G, (int)G),
              "samples_aggregate.png");
    /* Reconstructions: columns alternate original | reconstruction, 5 pairs per row. */
    size_t n = G * G / 2 < test->n ? G * G / 2 : test->n;
    float *orig = img + G * G * (size_t)D, *rec = orig + n * (size_t)D;
    elbo_dataset_rows(test, 0, n, orig, NULL);
    drv_check(cli, elbo_vae_reconstruct_data(m, t, test, 0, n, 0, rec), "reconstruct");
    float *pairs = img;
    for (size_t i = 0; i < n; i++) {
        memcpy(pairs + (2 * i) * (size_t)D, orig + i * (size_t)D, (size_t)D * sizeof(float));
        memcpy(pairs + (2 * i + 1) * (size_t)D, rec + i * (size_t)D, (size_t)D * sizeof(float));
    }
    drv_check(cli, elbo_write_image_grid(cli->out, "reconstructions", pairs, 2 * n, R, W, CH, (int)G, (int)G),
              "reconstructions.png");
    free(img);
    free(y);
}

/* --eval-noise: the .npy at path, (test examples, z) float32 standard
 * normals, read before anything runs so a bad file ends the run at once
 * (exit 3, nothing written). */
static float *load_eval_noise(const elbo_cli *cli, const char *path, size_t n, size_t z)
{
    elbo_source src;
    elbo_npy_info info;
    drv_check_input(cli, elbo_source_open(&src, path), "--eval-noise");
    elbo_status st = elbo_npy_info_read(&src, &info);
    if (st == ELBO_OK && (info.ndim != 2 || info.shape[0] != n || info.shape[1] != z))
        st = elbo_fail(ELBO_ERR_MISMATCH, "%s: noise of %d dimensions (%llu, ...): expected (%zu, %zu), the test "
                       "examples by the latent size", path, info.ndim, info.ndim ? (unsigned long long)info.shape[0] : 0ull,
                       n, z);
    float *eps = drv_alloc(cli, n * z, sizeof(float));
    if (st == ELBO_OK)
        st = elbo_npy_read_f32(&src, &info, 0, n * z, eps);
    elbo_source_close(&src);
    drv_check_input(cli, st, "--eval-noise");
    return eps;
}

/* The test negative ELBO (and its terms) per example with the noise eps
 * (test examples, z) instead of draws: the number a peer computes from the
 * same weights and the same eps (bench/safetensors_roundtrip.py).
 * out: {-ELBO, rec, KL}. */
static void fixed_noise_eval(const elbo_cli *cli, elbo_vae *m, elbo_tape *t, const elbo_dataset *test,
                             const float *eps, int chunk, double *out)
{
    const size_t Z = (size_t)m->cfg.z_dim, C = (size_t)m->cfg.n_classes, cb = (size_t)chunk;
    float *x = drv_alloc(cli, cb * (size_t)m->cfg.x_dim, sizeof(float)), *y = drv_alloc(cli, cb * (C ? C : 1), sizeof(float));
    uint8_t *lab = drv_alloc(cli, cb, 1);
    bool grad = elbo_tape_grad_enabled(t);
    elbo_tape_set_grad(t, false);
    elbo_vae_objective obj = ELBO_VAE_OBJECTIVE_DEFAULT;
    double rec = 0, kl = 0;
    for (size_t i = 0; i < test->n; i += cb) {
        size_t b = test->n - i < cb ? test->n - i : cb;
        elbo_dataset_rows(test, i, b, x, lab);
        if (C)
            elbo_one_hot(lab, b, (int)C, y);
        elbo_tape_reset(t);
        elbo_node *loss;
        elbo_vae_batch_stats bs;
        drv_check(cli, elbo_vae_loss(m, t, x, C ? y : NULL, (int)b, &obj, NULL, eps + i * Z, &loss, &bs),
                  "evaluate with fixed noise");
        rec += bs.rec;
        kl += bs.kl;
    }
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, grad);
    out[1] = rec / (double)test->n;
    out[2] = kl / (double)test->n;
    out[0] = out[1] + out[2];
    free(x), free(y), free(lab);
}

/* CPU time of this process (all its threads): on a shared machine a rank's
 * wall time says more about the other users than about the rank. */
static double cpu_seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The test -ELBO: over every rank's chunks with --mpi, else in one pass. */
static void evaluate_test(const elbo_cli *cli, elbo_dp *dp, elbo_vae *m, elbo_tape *t, const elbo_dataset *test,
                          uint64_t seed, elbo_vae_eval *ev)
{
    if (!dp) {
        elbo_rng er;
        elbo_rng_seed(&er, seed);
        drv_check(cli, elbo_vae_evaluate_data(m, t, test, eval_batch, &er, ev), "evaluate");
        return;
    }
    elbo_dp_check(dp, cli, elbo_dp_evaluate(dp, m, t, test, eval_batch, seed, ev), "evaluate", false);
}

/* Sum the epoch's statistics over ranks (rank order); the longest rank's time. */
static void reduce_epoch_stats(const elbo_cli *cli, elbo_dp *dp, elbo_vae_epoch_stats *acc)
{
    double x[5] = {acc->rec, acc->kl, acc->neg_elbo, acc->loss, (double)acc->n};
    elbo_dp_check(dp, cli, elbo_dp_sum(dp, x, 5), "epoch statistics", false);
    *acc = (elbo_vae_epoch_stats){x[0], x[1], x[2], x[3], (uint64_t)x[4], elbo_dp_max(dp, acc->seconds)};
}

/* The checkpoint, written by rank 0 alone (atomically) with the statistics
 * of the epoch so far summed over ranks; every rank learns whether it worked. */
static void save_checkpoint(const elbo_cli *cli, elbo_dp *dp, elbo_vae_trainer *tr, const char *path,
                            const char *config, const void *extra, size_t extra_len)
{
    elbo_vae_epoch_stats mine = tr->acc;
    if (dp && !tr->epoch_done) /* at an epoch's end they are summed already */
        reduce_epoch_stats(cli, dp, &tr->acc);
    elbo_status st = elbo_dp_root(dp) ? elbo_vae_trainer_save(tr, path, config, extra, extra_len) : ELBO_OK;
    tr->acc = mine;
    elbo_dp_check(dp, cli, elbo_dp_agree_status(dp, st, "cannot write the checkpoint"), "checkpoint", false);
}

/* --stochastic-layers 2: the hierarchy's fields and parts (after the
 * --posterior and --prior flags, which it replaces: given as well, they are
 * a usage error). */
static void hier_check_flags(const elbo_cli *cli)
{
    if (ladder && stoch_layers != 2)
        drv_usage_error(cli, "--ladder needs --stochastic-layers 2");
    if (stoch_layers != 2)
        return;
    if (*export_path || *init_path)
        drv_usage_error(cli, "--export and --init use the PyTorch layout of one stochastic layer: not with "
                        "--stochastic-layers 2");
    if (free_bits > 0)
        drv_usage_error(cli, "--free-bits needs the KL per dimension in closed form: two stochastic layers have none");
    if (latent + z2_dim > 4096)
        drv_usage_error(cli, "--latent + --z2: expected at most 4096 dimensions in all");
    /* The disentangling objectives read (mu, logvar) as one diagonal Gaussian q(z|x) against Norm[0, I]. */
    int id;
    const elbo_vae_objective_ops *o = elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, elbo_vae_parts_opt.objective, &id) ==
                                              ELBO_OK ? elbo_vae_objective_by_id(id) : NULL;
    if (o && (o->penalty || o == &elbo_objective_tcvae)) {
        char msg[160];
        snprintf(msg, sizeof msg, "--objective %.40s: its penalty assumes one diagonal Gaussian layer, not "
                 "--stochastic-layers 2", elbo_vae_parts_opt.objective);
        drv_usage_error(cli, msg);
    }
}

static void hier_config(const elbo_cli *cli, elbo_vae_config *c)
{
    if (stoch_layers != 2)
        return;
    if (c->posterior != ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN || c->prior != ELBO_VAE_PRIOR_STANDARD_NORMAL)
        drv_usage_error(cli, "--stochastic-layers 2 sets the posterior (hier2, or ladder with --ladder) and the prior "
                        "(hier2): drop --posterior and --prior");
    double v[ELBO_VAE_MAX_HIER];
    int w[ELBO_VAE_MAX_HIER];
    int n = *hier_hidden_text ? drv_list(cli, "hier-hidden", hier_hidden_text, v, ELBO_VAE_MAX_HIER) : 0;
    for (int i = 0; i < n; i++) {
        if (v[i] < 1 || v[i] > 1e6 || v[i] != floor(v[i]))
            drv_usage_error(cli, "--hier-hidden: expected positive integer widths");
        w[i] = (int)v[i];
    }
    elbo_vae_parts_hier2(c, latent, z2_dim, w, n, ladder);
}

static int parse_hidden(const elbo_cli *cli, elbo_vae_config *c)
{
    double v[ELBO_VAE_MAX_HIDDEN];
    int n = drv_list(cli, "hidden", hidden_text, v, ELBO_VAE_MAX_HIDDEN);
    for (int i = 0; i < n; i++) {
        if (v[i] < 1 || v[i] > 1e6 || v[i] != floor(v[i]))
            drv_usage_error(cli, "--hidden: expected positive integer widths");
        c->hidden[i] = (int)v[i];
    }
    c->n_hidden = n;
    return n;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "vae", "Train and evaluate a VAE / beta-VAE / conditional VAE on Fashion-MNIST.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    elbo_vae_parts_check(&cli, lik_name);
    /* Two stochastic layers default to Burda et al.'s networks. */
    if (!hidden_text)
        hidden_text = stoch_layers == 2 ? ELBO_VAE_BURDA_HIDDEN : "400";
    if (act < 0)
        act = stoch_layers == 2 ? ELBO_VAE_TANH : ELBO_VAE_RELU;
    if (latent == 0)
        latent = stoch_layers == 2 ? ELBO_VAE_BURDA_Z1 : 20;
    hier_check_flags(&cli);
    elbo_vae_parts_check_posterior(&cli, free_bits, *export_path || *init_path);
    elbo_dp *dp = use_mpi ? elbo_dp_begin(&argc, &argv, "vae") : NULL;
    cli.ranks = dp ? elbo_dp_size(dp) : 0;
    const bool root = elbo_dp_root(dp);
    if (beta < 0)
        beta = model_kind == MODEL_BETA ? 4.0 : 1.0;
    if (epochs == 0 && !*init_path)
        drv_usage_error(&cli, "--epochs 0 evaluates imported weights: it needs --init FILE.safetensors");
    if (resume && *init_path)
        drv_usage_error(&cli, "--resume and --init both set the weights: give one");
    if (resume && strcmp(elbo_vae_parts_opt.objective, "factorvae") == 0)
        drv_usage_error(&cli, "--resume: the FactorVAE discriminator is not in the checkpoint; run factorvae "
                        "without --resume");

    /* Everything the run owns, zeroed so the one cleanup path at the end can
     * free it whatever was reached (failures below exit() from drv_check;
     * the returns go through `done`). */
    int rc = ELBO_EXIT_OK;
    elbo_dataset train = {0}, test = {0};
    elbo_vae model = {0};
    elbo_vae_trainer tr = {0};
    history hist = {0};
    double *secs = NULL;
    float *eps = NULL; /* --eval-noise */
    void *obj_state = NULL; /* the objective's own state (mmd, factorvae) */

    /* ---- data, kept in its stored type (uint8 pixels stay uint8; each
     * batch and evaluation chunk is converted as it is read) ---- */
    if (dp) /* every rank reads the data itself; one that cannot stops them all */
        elbo_dp_check(dp, &cli, elbo_dp_agree_status(dp, elbo_data_try_load(&cli, &train, &test, !root),
                                                     "cannot read its data"), "--data", true);
    else
        elbo_data_load_cli(&cli, &train, &test);
    elbo_dp_check(dp, &cli, elbo_dp_agree_config(dp, &cli), "--mpi", false);
    if (cli.quick) {
        drv_check(&cli, elbo_dataset_truncate(&train, 2048), "quick");
        drv_check(&cli, elbo_dataset_truncate(&test, 512), "quick");
        if (epochs > 2)
            epochs = 2;
    }
    /* Dynamic binarization draws training batches afresh each step; the
     * test set is binarized once so every evaluation sees the same data. */
    drv_check(&cli, elbo_binarize_splits(binarize, &train, &test, cli.seed * 2 + 1, cli.seed * 2 + 2), "binarize");

    /* ---- model ---- */
    elbo_vae_config mc_cfg = elbo_vae_config_default();
    mc_cfg.x_dim = (int)train.d;
    mc_cfg.z_dim = latent;
    mc_cfg.n_classes = model_kind == MODEL_CVAE ? train.classes : 0;
    parse_hidden(&cli, &mc_cfg);
    mc_cfg.act = (elbo_vae_act)act;
    mc_cfg.leaky_slope = (float)leaky;
    mc_cfg.lik = elbo_vae_parts_likelihood(&cli, lik_name);
    mc_cfg.gauss_logvar = (float)(2.0 * log(sigma));
    elbo_vae_parts_config(&cli, &train, &mc_cfg);
    hier_config(&cli, &mc_cfg);
    if (model_kind == MODEL_CVAE && (!train.y || train.classes < 1))
        drv_usage_error(&cli, "--model cvae needs labels");
    const vae_prior_init prior_init = vae_prior_check(&cli, prior_init_text, &mc_cfg, free_bits, resume);

    elbo_rng init_rng;
    elbo_rng_seed(&init_rng, cli.seed);
    drv_check(&cli, elbo_vae_create(&model, &mc_cfg, &init_rng), "model");
    vae_prior_load(&cli, &prior_init, &model);
    if (*eval_noise_path)
        eps = load_eval_noise(&cli, eval_noise_path, test.n, (size_t)mc_cfg.z_dim);
    if (*init_path) {
        drv_check_input(&cli, elbo_vae_load_safetensors(&model, init_path), "--init");
        fprintf(stderr, "vae: weights from %s\n", init_path);
    }

    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = batch;
    tc.adam.lr = (float)lr;
    tc.beta = (float)beta;
    tc.warmup_epochs = (float)kl_warmup;
    tc.warmup = warmup_shape ? ELBO_VAE_WARMUP_SIGMOID : ELBO_VAE_WARMUP_LINEAR;
    tc.free_bits = (float)free_bits;
    tc.mc_samples = mc;
    tc.iw_k = iwae_train;
    tc.dynamic_binarize = binarize == ELBO_BIN_DYNAMIC;
    tc.seed = cli.seed;
    elbo_vae_parts_train(&cli, &tc);
    elbo_dp_check(dp, &cli, elbo_dp_train_config(dp, &model.params, buckets, &tc), "--mpi", false);
    elbo_dp_check(dp, &cli, elbo_dp_agree_status(dp, elbo_vae_trainer_init(&tr, &model, &train, &tc),
                                                 "cannot set up the trainer"), "trainer", false);
    tr.objective_state = obj_state = elbo_vae_parts_state(&cli, &tc, model.cfg.z_dim, cli.seed);

    /* What must match for --resume to continue the same run (not --epochs:
     * a finished run may be extended). */
    char arch[1024], objective[256], config[2048], prior_json[64] = "";
    if (prior_init.em_epoch) /* the prior is refitted mid-run: a resumed run must do the same */
        snprintf(prior_json, sizeof prior_json, ",\"prior_init_em_epoch\":%d", prior_init.em_epoch);
    elbo_vae_config_json(&mc_cfg, arch, sizeof arch);
    elbo_vae_parts_json(&tc, objective, sizeof objective);
    snprintf(config, sizeof config,
             "{\"arch\":%s,\"batch\":%d,\"lr\":%.9g,\"beta\":%.9g,\"kl_warmup\":%.9g,\"warmup_shape\":%d,"
             "\"free_bits\":%.9g,\"binarize\":%d,\"mc_samples\":%d,\"iwae_train\":%d,\"seed\":%llu,\"quick\":%d,"
             "\"n_train\":%zu%s%s}",
             arch, batch, lr, beta, kl_warmup, warmup_shape, free_bits, binarize, mc, tc.iw_k,
             (unsigned long long)cli.seed, (int)cli.quick, train.n, objective, prior_json);

    char ckpt[1024]; /* a copy: drv_path's buffers rotate */
    snprintf(ckpt, sizeof ckpt, "%s", drv_path(&cli, "checkpoint.ckpt"));
    if (resume) {
        void *extra = NULL;
        size_t extra_len = 0;
        elbo_dp_check(dp, &cli, elbo_dp_agree_status(dp, elbo_vae_trainer_load(&tr, ckpt, config, &extra, &extra_len),
                                                     "cannot resume"), "resume", true);
        if (!root && !tr.epoch_done) /* rank 0 carries the epoch's sums so far */
            tr.acc = (elbo_vae_epoch_stats){.seconds = tr.acc.seconds};
        if (extra_len % (H_COLS * sizeof(double)) != 0) {
            free(extra);
            drv_check_input(&cli, elbo_fail(ELBO_ERR_FORMAT, "%s: history of %zu bytes: expected whole rows of %d numbers",
                                            ckpt, extra_len, H_COLS), "resume");
        }
        for (size_t i = 0; i < extra_len / (H_COLS * sizeof(double)); i++)
            history_push(&cli, &hist, (const double *)extra + i * H_COLS);
        free(extra);
        if (root)
            fprintf(stderr, "vae: resumed at epoch %llu, step %ld\n", (unsigned long long)elbo_vae_trainer_epoch(&tr),
                    model.params.step);
    }

    /* Evaluation shares the trainer's tape: one arena, sized by the larger
     * of a training step and an evaluation chunk (peak RSS is a bar). */
    elbo_tape *etape = tr.tape;

    install_signals();
    char spec[256];
    elbo_vae_config_spec(&mc_cfg, spec, sizeof spec);
    if (root)
        fprintf(stderr, "vae: %s, %s likelihood, %s posterior, %s prior, %s, z %d, objective %s, %zu train / %zu "
                "test, batch %d, %d threads, %s%s\n",
                model_kind == MODEL_CVAE ? "cvae" : beta != 1.0 ? "beta-vae" : "vae", lik_name,
                elbo_vae_posterior(mc_cfg.posterior)->name, elbo_vae_prior(mc_cfg.prior)->name, spec, latent,
                elbo_vae_objective_of(&(elbo_vae_objective){.ops = tc.objective, .iw_k = tc.iw_k})->name, train.n,
                test.n, batch, elbo_threads(), elbo_simd_name(elbo_simd_current()), dp ? ", data parallel" : "");
    if (root && dp)
        fprintf(stderr, "vae: %d ranks, %d gradient buckets\n", elbo_dp_size(dp), elbo_dp_buckets(dp));

    long steps_here = 0;
    while ((int)elbo_vae_trainer_epoch(&tr) < epochs) {
        uint64_t epoch = elbo_vae_trainer_epoch(&tr);
        char label[32];
        snprintf(label, sizeof label, "epoch %llu/%d", (unsigned long long)epoch + 1, epochs);
        double cpu_at_epoch_start = cpu_seconds_now();
        elbo_progress prog;
        if (root)
            elbo_progress_begin(&prog, label, tr.steps_per_epoch);
        bool end = false;
        while (!end) {
            drv_check(&cli, elbo_vae_trainer_step(&tr, &end), "train");
            steps_here++;
            if (root)
                elbo_progress_update(&prog, tr.batcher.next / (size_t)batch,
                                     tr.acc.n ? tr.acc.neg_elbo / (double)tr.acc.n : NAN);
            /* Ranks see a signal at different steps: they stop together, at
             * the next multiple of 16 steps (asking costs a round trip). */
            bool stop_now = stop_signal != 0;
            if (dp)
                stop_now = !end && steps_here % 16 == 0 && elbo_dp_any(dp, stop_now);
            if (!end && (stop_now || (max_steps && steps_here >= max_steps))) {
                if (root)
                    elbo_progress_end(&prog);
                save_checkpoint(&cli, dp, &tr, ckpt, config, hist.rows, hist.n * H_COLS * sizeof(double));
                if (root)
                    fprintf(stderr, "vae: stopped at step %ld (epoch %llu); checkpoint saved: rerun with --resume\n",
                            model.params.step, (unsigned long long)epoch + 1);
                rc = stop_now ? 128 + (stop_signal ? stop_signal : SIGTERM) : ELBO_EXIT_OK;
                goto done;
            }
        }
        if (root)
            elbo_progress_end(&prog);
        double mine_seconds = tr.acc.seconds, cpu_seconds = cpu_seconds_now() - cpu_at_epoch_start;
        /* --prior-init em: after the warm-up epochs, the mixture prior from EM
         * (every rank does the same on the same data: the same bits). */
        vae_prior_after_epoch(&cli, &prior_init, &model, etape, &train, eval_batch, (int)epoch + 1);
        if (dp) { /* every rank: the epoch's sums, and the same parameters */
            reduce_epoch_stats(&cli, dp, &tr.acc);
            elbo_dp_check(dp, &cli, elbo_dp_check_params(dp, &model.params, epoch + 1), "--mpi", false);
        }

        /* Evaluate with a noise stream fixed by (seed, epoch): no state to save. */
        elbo_vae_eval ev;
        evaluate_test(&cli, dp, &model, etape, &test, cli.seed * 1000003ull + epoch + 1, &ev);
        double n = (double)tr.acc.n;
        double row[H_COLS] = {(double)epoch + 1, tr.acc.neg_elbo / n, tr.acc.rec / n, tr.acc.kl / n,
                              tr.acc.loss / n, ev.neg_elbo, ev.rec, ev.kl,
                              elbo_vae_kl_weight(&tc, model.params.step - 1, tr.steps_per_epoch), tr.acc.seconds};
        history_push(&cli, &hist, row);
        if (dp) { /* this epoch's share of the counters */
            static elbo_dp_stats before;
            elbo_dp_stats ds;
            elbo_dp_comm_stats(dp, &ds);
            fprintf(stderr, "rank %d: epoch %llu: %.3f s in steps (%.3f s CPU), %.3f s in gradient hooks, %.3f s "
                    "waiting for sums; %ld of %ld bucket sums started by the gradient-ready hook\n", elbo_dp_rank(dp),
                    (unsigned long long)epoch + 1, mine_seconds, cpu_seconds, ds.hook_seconds - before.hook_seconds,
                    ds.wait_seconds - before.wait_seconds, ds.started_in_backward - before.started_in_backward,
                    ds.started - before.started);
            before = ds;
        }
        if (root) {
            fprintf(stderr, "epoch %3llu  train -ELBO %8.3f  test -ELBO %8.3f (rec %8.3f, KL %7.3f)  %.3f s\n",
                    (unsigned long long)epoch + 1, row[H_TRAIN], ev.neg_elbo, ev.rec, ev.kl, tr.acc.seconds);
            write_curves(&cli, &hist);
        }
        save_checkpoint(&cli, dp, &tr, ckpt, config, hist.rows, hist.n * H_COLS * sizeof(double));
        bool stop_now = dp ? elbo_dp_any(dp, stop_signal != 0) : stop_signal != 0; /* read once: all ranks agree */
        if (stop_now && (int)elbo_vae_trainer_epoch(&tr) < epochs) {
            if (root)
                fprintf(stderr, "vae: stopped after epoch %llu; checkpoint saved: rerun with --resume\n",
                        (unsigned long long)epoch + 1);
            rc = 128 + (stop_signal ? stop_signal : SIGTERM);
            goto done;
        }
    }

    /* ---- final evaluation: the checkpoint is written, so Ctrl-C may simply end it ---- */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (hist.n == 0 && !*init_path)
        drv_usage_error(&cli, "nothing to do: the checkpoint already has --epochs epochs and no history");
    if (hist.n == 0) { /* --epochs 0: the imported weights as they are (the noise of epoch 0's evaluation) */
        elbo_vae_eval ev;
        evaluate_test(&cli, dp, &model, etape, &test, cli.seed * 1000003ull + 1, &ev);
        double row[H_COLS] = {0, NAN, NAN, NAN, NAN, ev.neg_elbo, ev.rec, ev.kl, beta, 0};
        history_push(&cli, &hist, row);
        if (root) {
            fprintf(stderr, "imported weights: test -ELBO %8.3f (rec %8.3f, KL %7.3f)\n", ev.neg_elbo, ev.rec, ev.kl);
            write_curves(&cli, &hist);
        }
    }
    /* IW-K first: with --mpi every rank takes part; the rest is rank 0's. */
    double iw_nll = NAN, iw_seconds = 0.0;
    if (iw > 0) {
        double t0 = elbo_now();
        if (dp) {
            elbo_dp_check(dp, &cli, elbo_dp_iw_nll(dp, &model, etape, &test, iw, eval_batch, cli.seed * 7919ull + 17,
                                                   &iw_nll), "importance-weighted NLL", false);
        } else {
            elbo_rng ir;
            elbo_rng_seed(&ir, cli.seed * 7919ull + 17);
            drv_check(&cli, elbo_vae_iw_nll_data(&model, etape, &test, iw, eval_batch, &ir, &iw_nll, NULL),
                      "importance-weighted NLL");
        }
        iw_seconds = elbo_now() - t0;
        if (root)
            fprintf(stderr, "test -log p(x) ~ %.3f (IWAE-%d, %.1f s)\n", iw_nll, iw, iw_seconds);
    }
    if (!root)
        goto done;
    double fixed[3] = {NAN, NAN, NAN}; /* test -ELBO, rec, KL with --eval-noise */
    if (*eval_noise_path) {
        fixed_noise_eval(&cli, &model, etape, &test, eps, eval_batch, fixed);
        fprintf(stderr, "test -ELBO with the noise of %s: %.6f (rec %.6f, KL %.6f)\n", eval_noise_path, fixed[0],
                fixed[1], fixed[2]);
    }
    const double *last = hist.rows + (hist.n - 1) * H_COLS;
    int active = 0;
    double au_var[4096];
    drv_check(&cli, elbo_vae_active_units_data(&model, etape, &test, eval_batch, 0.01, &active, au_var),
              "active units");
    fprintf(stderr, "active units %d/%d\n", active, mc_cfg.z_dim);
    int active_z2 = 0; /* two stochastic layers: of z2 (the last z2_dim of z), as Burda et al. count per layer */
    for (int j = mc_cfg.z_dim - (mc_cfg.stochastic_layers == 2 ? mc_cfg.z2_dim : 0); j < mc_cfg.z_dim; j++)
        active_z2 += au_var[j] > 0.01;
    if (mc_cfg.stochastic_layers == 2)
        fprintf(stderr, "active units: z1 %d/%d, z2 %d/%d\n", active - active_z2, latent, active_z2, mc_cfg.z2_dim);
    write_images(&cli, &model, etape, &test, &train, cli.seed);
    if (dump_latents) {
        drv_check(&cli, elbo_dump_latents(cli.out, "latents_train", &model, etape, &train, eval_batch), "latents");
        drv_check(&cli, elbo_dump_latents(cli.out, "latents_test", &model, etape, &test, eval_batch), "latents");
    }

    elbo_summary s;
    elbo_summary_begin(&s, &cli);
    secs = drv_alloc(&cli, hist.n, sizeof(double));
    for (size_t i = 0; i < hist.n; i++)
        secs[i] = hist.rows[i * H_COLS + H_SECONDS];
    elbo_json_numbers(&s.json, "epoch_seconds", secs, hist.n);
    elbo_json_number(&s.json, "test_neg_elbo", last[H_TEST]);
    elbo_json_number(&s.json, "test_rec", last[H_TEST_REC]);
    elbo_json_number(&s.json, "test_kl", last[H_TEST_KL]);
    elbo_json_number(&s.json, "train_neg_elbo", last[H_TRAIN]);
    elbo_json_int(&s.json, "active_units", active);
    elbo_json_numbers(&s.json, "latent_variance", au_var, (size_t)mc_cfg.z_dim);
    if (iw > 0) {
        elbo_json_number(&s.json, "test_iw_nll", iw_nll);
        elbo_json_int(&s.json, "iw_k", iw);
        elbo_json_number(&s.json, "iw_seconds", iw_seconds);
    }
    if (*eval_noise_path) {
        elbo_json_number(&s.json, "test_neg_elbo_fixed_noise", fixed[0]);
        elbo_json_number(&s.json, "test_rec_fixed_noise", fixed[1]);
        elbo_json_number(&s.json, "test_kl_fixed_noise", fixed[2]);
    }
    elbo_json_int(&s.json, "steps", model.params.step);
    elbo_json_int(&s.json, "parameters", (long long)model.params.n);
    elbo_json_int(&s.json, "mpi_ranks", elbo_dp_size(dp));
    if (dp)
        elbo_json_int(&s.json, "gradient_buckets", elbo_dp_buckets(dp));
    elbo_json_begin_object(&s.json, "model");
    elbo_json_string(&s.json, "kind", model_kind == MODEL_CVAE ? "cvae" : beta != 1.0 ? "beta-vae" : "vae");
    elbo_json_int(&s.json, "x_dim", mc_cfg.x_dim);
    elbo_json_int(&s.json, "z_dim", mc_cfg.z_dim);
    elbo_json_int(&s.json, "n_classes", mc_cfg.n_classes);
    elbo_json_begin_array(&s.json, "hidden");
    for (int i = 0; i < mc_cfg.n_hidden; i++)
        elbo_json_int(&s.json, NULL, mc_cfg.hidden[i]);
    elbo_json_end_array(&s.json);
    elbo_json_number(&s.json, "beta", beta);
    elbo_json_string(&s.json, "arch", mc_cfg.arch == ELBO_VAE_ARCH_CONV ? "conv" : "mlp");
    elbo_json_string(&s.json, "encoder", spec);
    elbo_json_string(&s.json, "posterior", elbo_vae_posterior(mc_cfg.posterior)->name);
    elbo_json_string(&s.json, "prior", elbo_vae_prior(mc_cfg.prior)->name);
    elbo_json_int(&s.json, "stochastic_layers", mc_cfg.stochastic_layers == 2 ? 2 : 1);
    if (mc_cfg.stochastic_layers == 2) {
        elbo_json_int(&s.json, "z1_dim", latent);
        elbo_json_int(&s.json, "active_units_z1", active - active_z2);
        elbo_json_int(&s.json, "active_units_z2", active_z2);
        elbo_json_int(&s.json, "z2_dim", mc_cfg.z2_dim);
        elbo_json_begin_array(&s.json, "hier_hidden");
        for (int i = 0; i < mc_cfg.n_hier_hidden; i++)
            elbo_json_int(&s.json, NULL, mc_cfg.hier_hidden[i]);
        elbo_json_end_array(&s.json);
    }
    vae_prior_json(&prior_init, &mc_cfg, &s.json);
    elbo_json_string(&s.json, "likelihood", lik_name);
    const elbo_vae_objective_ops *obj_ops = elbo_vae_objective_of(&(elbo_vae_objective){.ops = tc.objective, .iw_k = tc.iw_k});
    elbo_json_string(&s.json, "objective", obj_ops->name);
    if (obj_ops == &elbo_objective_beta_capacity) {
        elbo_json_number(&s.json, "gamma", tc.gamma);
        elbo_json_number(&s.json, "capacity", tc.capacity_max);
        elbo_json_number(&s.json, "capacity_epochs", tc.capacity_epochs);
    }
    elbo_json_end_object(&s.json);
    vae_prior_report(&cli, &model, etape, &test, eval_batch, &s.json);
    if (*export_path) {
        drv_check(&cli, elbo_vae_save_safetensors(&model, export_path), "--export");
        fprintf(stderr, "vae: wrote %s\n", export_path);
    }
    drv_check(&cli, elbo_summary_write(&s, cli.out), "summary.json");
    fprintf(stderr, "vae: wrote %s/summary.json\n", cli.out);

done:
    elbo_dp_end(dp); /* first: the params' gradient slab may be its shared window */
    free(secs);
    free(eps);
    free(hist.rows);
    elbo_vae_trainer_free(&tr);
    elbo_vae_parts_state_free(obj_state);
    elbo_vae_free(&model);
    elbo_dataset_free(&train);
    elbo_dataset_free(&test);
    return rc;
}
