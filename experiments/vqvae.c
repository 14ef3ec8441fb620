/* Discrete latents (section 17.8 notes; van den Oord et al. 2017): a VQ-VAE
 * on Fashion-MNIST, then a learned autoregressive prior over its code grid.
 *
 * Stage 1 trains the VQ-VAE (models/vqvae: conv encoder to a 7x7 grid of
 * D-dim vectors, nearest of K codes, straight-through gradient, commitment
 * beta |z_e - sg(e)|², EMA codebook with Laplace-smoothed counts, decoder of
 * transposed convolutions, Bernoulli likelihood on the grey levels). The
 * codebook starts at K encoder outputs of the first batch; no dead code is
 * ever restarted. Stage 2 encodes both splits and fits a MADE over the
 * codes in raster order; samples are drawn code by code and decoded.
 *
 * Outputs: summary.json (test reconstruction BCE per image and MSE per
 * pixel, codebook perplexity and dead codes, prior NLL), epochs.csv,
 * prior_epochs.csv, code_usage.csv and .svg, reconstructions.png (rows of
 * originals, each followed by its reconstructions), samples.png.
 * No checkpoint: a run is minutes, and SIGINT ends it without output.
 *
 * --mpi (under mpirun -np P): both stages train data-parallel, as `vae
 * --mpi` trains (common/data_parallel.h): every rank runs the same batches
 * and computes its rows of each, the gradients are summed in rank order
 * (buckets during backward), and so are the codebook's batch statistics
 * before the EMA moves (elbo_vqvae_step_shard), so every rank takes the
 * same step and a run repeats bit for bit with the same P. The parameters
 * are then the same on every rank; every rank runs the rest (the codes of
 * both splits, the figures) and rank 0 alone prints and writes
 * (elbo_dp_quiet_followers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data.h"
#include "data_parallel.h"
#include "dp_train.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "models/vqvae/vqvae.h"
#include "progress.h"
#include "results.h"
#include "summary.h"

static int epochs, prior_epochs, train_n, test_n, batch, codes_k, dim, channels, prior_hidden, side, buckets;
static double lr, prior_lr, beta, decay, eps;
static bool normalize, use_mpi;

static const elbo_opt opts[] = {
    {"epochs", ELBO_OPT_INT, &epochs, "3", "VQ-VAE training epochs", .min = 1, .max = 100000},
    {"prior-epochs", ELBO_OPT_INT, &prior_epochs, "3", "prior training epochs", .min = 0, .max = 100000},
    {"train-size", ELBO_OPT_INT, &train_n, "60000", "training images used (at most)", .min = 1, .max = 2000000000},
    {"test-size", ELBO_OPT_INT, &test_n, "10000", "test images used (at most)", .min = 1, .max = 2000000000},
    {"batch", ELBO_OPT_INT, &batch, "128", "minibatch size", .min = 1, .max = 100000},
    {"lr", ELBO_OPT_DOUBLE, &lr, "1e-3", "Adam learning rate of the VQ-VAE", .min = 1e-8, .max = 10},
    {"prior-lr", ELBO_OPT_DOUBLE, &prior_lr, "1e-3", "Adam learning rate of the prior", .min = 1e-8, .max = 10},
    {"codes", ELBO_OPT_INT, &codes_k, "128", "codebook size K", .min = 2, .max = ELBO_VQ_MAX_CODES},
    {"dim", ELBO_OPT_INT, &dim, "4", "code vector length D", .min = 1, .max = ELBO_VQ_MAX_DIM},
    {"channels", ELBO_OPT_INT, &channels, "32", "hidden channels of encoder and decoder", .min = 1,
     .max = ELBO_VQ_MAX_CHANNELS},
    {"beta", ELBO_OPT_DOUBLE, &beta, "0.25", "commitment weight", .min = 0, .max = 100},
    {"decay", ELBO_OPT_DOUBLE, &decay, "0.99", "EMA decay of the codebook", .min = 0, .max = 0.9999},
    {"eps", ELBO_OPT_DOUBLE, &eps, "1e-5", "Laplace smoothing of the EMA counts", .min = 1e-12, .max = 0.5},
    {"normalize", ELBO_OPT_BOOL, &normalize, "true", "layer-normalize each z_e vector before the lookup",
     .choices = NULL},
    {"prior-hidden", ELBO_OPT_INT, &prior_hidden, "512", "hidden units of the MADE prior", .min = 1,
     .max = ELBO_VQ_PRIOR_MAX_HIDDEN},
    {"side", ELBO_OPT_INT, &side, "8", "image grids are side x side", .min = 2, .max = 32},
    {"mpi", ELBO_OPT_BOOL, &use_mpi, "false", "train data-parallel over MPI ranks (under mpirun or srun); rank 0 "
     "writes", .choices = NULL},
    {"buckets", ELBO_OPT_INT, &buckets, "4", "--mpi: about this many gradient buckets", .min = 1, .max = 64},
    ELBO_DATA_OPTS,
};

/* random streams of the run (mc_rng: seed, stream) */
enum { RNG_NETS = 1, RNG_SHUFFLE, RNG_CODEBOOK, RNG_PRIOR, RNG_PRIOR_SHUFFLE, RNG_SAMPLES };

typedef struct epoch_row {
    double loss, bce, commit, perplexity, dead, seconds;
} epoch_row;

/* --mpi: the hooks that sum across the ranks, for a batch of B rows (NULL
 * without MPI: the whole batch is this process's). */
static elbo_status dp_sum(void *ctx, double *x, int n) { return elbo_dp_sum(ctx, x, n); }

static const elbo_vq_shard *shard_of(elbo_dp *dp, int B, elbo_vq_shard *sh)
{
    if (!dp)
        return NULL;
    *sh = (elbo_vq_shard){.batch = B, .grad_ready = elbo_dp_grad_ready, .after_backward = elbo_dp_after_backward,
                          .sum = dp_sum, .ctx = dp};
    return sh;
}

/* A failed step fails on every rank at once (a rank with a bad loss hands
 * in NaNs), so with --mpi the ranks agree on it before stopping. */
static void step_check(const elbo_cli *cli, elbo_dp *dp, elbo_status st, const char *what)
{
    if (st != ELBO_OK)
        elbo_dp_check(dp, cli, elbo_dp_agree_status(dp, st, what), what, false);
}

/* Sum x[0..n) over the ranks (rank order), in place. */
static void over_ranks(const elbo_cli *cli, elbo_dp *dp, double *x, int n)
{
    elbo_dp_check(dp, cli, elbo_dp_sum(dp, x, n), "epoch statistics", false);
}

static void train_vqvae(const elbo_cli *cli, elbo_dp *dp, elbo_vqvae *m, elbo_tape *t, const elbo_dataset *train,
                        int E, epoch_row *rows, uint64_t *last_counts)
{
    size_t n = train->n, d = train->d, K = (size_t)m->cb.K;
    int B = batch < (int)n ? batch : (int)n, lo, hi;
    elbo_dp_rows(dp, B, &lo, &hi);
    elbo_vq_shard shard;
    const elbo_vq_shard *sh = shard_of(dp, B, &shard);
    uint32_t *idx = drv_alloc(cli, n, sizeof *idx);
    float *x = drv_alloc(cli, (size_t)B * d, sizeof *x);
    uint64_t *counts = drv_alloc(cli, K, sizeof *counts);
    double *sums = drv_alloc(cli, 3 + K, sizeof *sums);
    elbo_rng sh_rng, cr;
    mc_rng(&sh_rng, cli->seed, RNG_SHUFFLE, 0);
    mc_rng(&cr, cli->seed, RNG_CODEBOOK, 0);
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    adam.lr = (float)lr;
    elbo_dp_check(dp, cli, elbo_dp_agree_status(dp, elbo_dp_attach(dp, &m->p, buckets), "cannot train"), "--mpi",
                  false);
    const bool root = elbo_dp_root(dp);
    size_t steps = n / (size_t)B; /* whole batches; the shuffle moves the rest around */
    for (int e = 0; e < E; e++) {
        elbo_rng_shuffle(&sh_rng, idx, n);
        if (e == 0) { /* the codebook from the first batch's encoder outputs (every rank the same) */
            elbo_dataset_gather(train, idx, (size_t)B, x, NULL);
            drv_check(cli, elbo_vqvae_init_codebook(m, t, x, B, &cr), "codebook");
        }
        memset(counts, 0, K * sizeof *counts);
        char label[64];
        snprintf(label, sizeof label, "vqvae epoch %d/%d", e + 1, E);
        elbo_progress pg;
        if (root)
            elbo_progress_begin(&pg, label, steps);
        double t0 = elbo_now(), sl = 0, sb = 0, sc = 0;
        for (size_t s = 0; s < steps; s++) {
            elbo_dataset_gather(train, idx + s * (size_t)B + lo, (size_t)(hi - lo), x, NULL);
            elbo_vqvae_stats st;
            step_check(cli, dp, elbo_vqvae_step_shard(m, t, x, hi - lo, sh, &adam, &st, counts), "training step");
            sl += st.loss * B, sb += st.bce, sc += st.commit;
            if (root)
                elbo_progress_update(&pg, s + 1, st.loss * B / (hi - lo));
        }
        if (root)
            elbo_progress_end(&pg);
        if (dp) { /* the epoch's sums and code counts over every rank's rows; the same parameters everywhere */
            sums[0] = sl, sums[1] = sb, sums[2] = sc;
            for (size_t k = 0; k < K; k++)
                sums[3 + k] = (double)counts[k];
            over_ranks(cli, dp, sums, 3 + (int)K);
            sl = sums[0], sb = sums[1], sc = sums[2];
            for (size_t k = 0; k < K; k++)
                counts[k] = (uint64_t)sums[3 + k];
            elbo_dp_check(dp, cli, elbo_dp_check_params(dp, &m->p, (uint64_t)e + 1), "--mpi", false);
        }
        double N = (double)(steps * (size_t)B);
        rows[e] = (epoch_row){sl / N, sb / N, sc / N, elbo_vq_perplexity(counts, (int)K),
                              elbo_vq_dead_codes(counts, (int)K), elbo_dp_max(dp, elbo_now() - t0)};
        printf("vqvae epoch %d/%d: loss %.3f  bce %.3f  commit %.4f  perplexity %.1f/%zu  dead %d  %.1fs\n", e + 1, E,
               rows[e].loss, rows[e].bce, rows[e].commit, rows[e].perplexity, K, (int)rows[e].dead, rows[e].seconds);
        fflush(stdout);
    }
    elbo_dp_detach(dp);
    memcpy(last_counts, counts, K * sizeof *counts);
    free(idx), free(x), free(counts), free(sums);
}

/* prior epochs: rows of (train NLL, test NLL, seconds) per image */
static void train_prior(const elbo_cli *cli, elbo_dp *dp, elbo_vq_prior *pr, elbo_tape *t, const int32_t *ctr,
                        size_t ntr, const int32_t *cte, size_t nte, int E, double *rows)
{
    int P = pr->P, B = batch < (int)ntr ? batch : (int)ntr, lo, hi;
    elbo_dp_rows(dp, B, &lo, &hi);
    elbo_vq_shard shard;
    const elbo_vq_shard *sh = shard_of(dp, B, &shard);
    uint32_t *idx = drv_alloc(cli, ntr, sizeof *idx);
    int32_t *cb = drv_alloc(cli, (size_t)B * P, sizeof *cb);
    elbo_rng sh_rng;
    mc_rng(&sh_rng, cli->seed, RNG_PRIOR_SHUFFLE, 0);
    for (size_t i = 0; i < ntr; i++)
        idx[i] = (uint32_t)i;
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    adam.lr = (float)prior_lr;
    elbo_dp_check(dp, cli, elbo_dp_agree_status(dp, elbo_dp_attach(dp, &pr->p, buckets), "cannot train"), "--mpi",
                  false);
    const bool root = elbo_dp_root(dp);
    size_t steps = ntr / (size_t)B;
    for (int e = 0; e < E; e++) {
        elbo_rng_shuffle(&sh_rng, idx, ntr);
        char label[64];
        snprintf(label, sizeof label, "prior epoch %d/%d", e + 1, E);
        elbo_progress pg;
        if (root)
            elbo_progress_begin(&pg, label, steps);
        double t0 = elbo_now(), s_nll = 0, te;
        for (size_t s = 0; s < steps; s++) {
            for (int b = lo; b < hi; b++)
                memcpy(cb + (size_t)(b - lo) * P, ctr + (size_t)idx[s * (size_t)B + b] * P, (size_t)P * sizeof *cb);
            double nll;
            step_check(cli, dp, elbo_vq_prior_step_shard(pr, t, cb, hi - lo, sh, &adam, &nll), "prior step");
            s_nll += nll;
            if (root)
                elbo_progress_update(&pg, s + 1, nll / B);
        }
        if (root)
            elbo_progress_end(&pg);
        if (dp) {
            over_ranks(cli, dp, &s_nll, 1);
            elbo_dp_check(dp, cli, elbo_dp_check_params(dp, &pr->p, (uint64_t)e + 1), "--mpi", false);
        }
        double sec = elbo_dp_max(dp, elbo_now() - t0);
        drv_check(cli, elbo_vq_prior_eval(pr, t, cte, nte, 256, &te), "prior evaluation");
        rows[e * 4] = e + 1, rows[e * 4 + 1] = s_nll / (double)(steps * (size_t)B), rows[e * 4 + 2] = te / nte;
        rows[e * 4 + 3] = sec;
        printf("prior epoch %d/%d: train NLL %.2f  test NLL %.2f nats per image (%.3f bits per code)  %.1fs\n", e + 1,
               E, rows[e * 4 + 1], rows[e * 4 + 2], rows[e * 4 + 2] / (P * M_LN2), sec);
        fflush(stdout);
    }
    elbo_dp_detach(dp);
    free(idx), free(cb);
}

static void usage_figure(const elbo_cli *cli, const uint64_t *train_c, const uint64_t *test_c, int K)
{
    double *tab = drv_alloc(cli, (size_t)K * 3, sizeof *tab), *x = drv_alloc(cli, (size_t)K * 2, sizeof *x);
    double *f = x + K, tot = 0;
    for (int k = 0; k < K; k++)
        tot += (double)test_c[k];
    for (int k = 0; k < K; k++)
        tab[k * 3] = k, tab[k * 3 + 1] = (double)train_c[k], tab[k * 3 + 2] = (double)test_c[k];
    static const char *const h[3] = {"code", "train_count_last_epoch", "test_count"};
    drv_check(cli, elbo_csv_write(drv_path(cli, "code_usage.csv"), h, tab, (size_t)K, 3), "code_usage.csv");
    /* usage by rank, against the uniform 1/K */
    for (int k = 0; k < K; k++)
        f[k] = tot > 0 ? (double)test_c[k] / tot : 0;
    for (int i = 1; i < K; i++) /* insertion sort, descending: K is small */
        for (int j = i; j > 0 && f[j] > f[j - 1]; j--) {
            double u = f[j];
            f[j] = f[j - 1], f[j - 1] = u;
        }
    for (int k = 0; k < K; k++)
        x[k] = k + 1;
    elbo_svg *fig = elbo_svg_new(1, 1);
    if (!fig)
        drv_check(cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    elbo_plot_title(pl, "code usage on the test set, by rank");
    elbo_plot_xlabel(pl, "code rank");
    elbo_plot_ylabel(pl, "fraction of code positions");
    elbo_plot_line(pl, x, f, (size_t)K, &(elbo_style){.label = "test usage"});
    elbo_plot_hline(pl, 1.0 / K, &(elbo_style){.label = "uniform 1/K", .color = 0, .color_set = true,
                                               .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_RIGHT);
    drv_check(cli, elbo_svg_save(fig, drv_path(cli, "code_usage.svg")), "code_usage.svg");
    elbo_svg_free(fig);
    free(tab), free(x);
}

/* side/2 pairs of rows: side originals, then their reconstructions */
static void recon_grid(const elbo_cli *cli, elbo_vqvae *m, elbo_tape *t, const elbo_dataset *test)
{
    int half = side / 2 > 0 ? side / 2 : 1, n = half * side, d = (int)test->d;
    n = (size_t)n < test->n ? n : (int)test->n;
    float *x = drv_alloc(cli, (size_t)n * d, sizeof *x), *r = drv_alloc(cli, (size_t)n * d, sizeof *r);
    float *grid = drv_alloc(cli, (size_t)2 * half * side * d, sizeof *grid);
    elbo_dataset_rows(test, 0, (size_t)n, x, NULL);
    drv_check(cli, elbo_vqvae_reconstruct(m, t, x, n, r), "reconstructions");
    for (int i = 0; i < 2 * half * side; i++) {
        int row = i / side, c = i % side, j = (row / 2) * side + c;
        float *dst = grid + (size_t)i * d;
        if (j < n)
            memcpy(dst, (row % 2 ? r : x) + (size_t)j * d, (size_t)d * sizeof *dst);
        else
            memset(dst, 0, (size_t)d * sizeof *dst);
    }
    drv_check(cli, elbo_write_image_grid(cli->out, "reconstructions", grid, (size_t)2 * half * side, test->rows,
                                         test->cols, 1, 2 * half, side),
              "reconstructions.png");
    free(x), free(r), free(grid);
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "vqvae", "VQ-VAE with an EMA codebook and an autoregressive prior over its codes.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    elbo_dp *dp = use_mpi ? elbo_dp_begin(&argc, &argv, "vqvae") : NULL;
    cli.ranks = dp ? elbo_dp_size(dp) : 0;
    elbo_dp_check(dp, &cli, elbo_dp_agree_config(dp, &cli), "--mpi", false);
    elbo_dp_check(dp, &cli, elbo_dp_quiet_followers(dp, &cli), "--mpi", false);
    elbo_dataset train, test;
    if (dp) /* every rank reads the files; one that cannot stops them all */
        elbo_dp_check(dp, &cli, elbo_dp_agree_status(dp, elbo_data_try_load(&cli, &train, &test, !elbo_dp_root(dp)),
                                                     "cannot read the data"), "--data", true);
    else
        elbo_data_load_cli(&cli, &train, &test);
    size_t ntr = (size_t)train_n, nte = (size_t)test_n;
    int E = epochs, PE = prior_epochs;
    if (cli.quick) {
        ntr = ntr > 2048 ? 2048 : ntr, nte = nte > 512 ? 512 : nte;
        E = 1, PE = PE > 1 ? 1 : PE;
    }
    drv_check(&cli, elbo_dataset_truncate(&train, ntr), "data");
    drv_check(&cli, elbo_dataset_truncate(&test, nte), "data");
    if (train.channels != 1 || train.rows % 4 || train.cols % 4)
        drv_input_error(&cli, "%s: expected one-channel images of sides that are multiples of 4, got %dx%dx%d",
                        cli.data, train.rows, train.cols, train.channels);
    if (elbo_dp_size(dp) > (batch < (int)train.n ? batch : (int)train.n))
        elbo_dp_check(dp, &cli, elbo_fail(ELBO_ERR_UNSUPPORTED, "%d ranks, more than the %d rows of a batch",
                                          elbo_dp_size(dp), batch), "--mpi", false); /* exit 2 on every rank */

    elbo_vqvae_config cfg = {.rows = train.rows, .cols = train.cols, .channels = channels, .dim = dim,
                             .codes = codes_k, .beta = (float)beta, .decay = (float)decay, .eps = (float)eps,
                             .normalize = normalize};
    elbo_rng rng;
    mc_rng(&rng, cli.seed, RNG_NETS, 0);
    elbo_vqvae m;
    drv_check(&cli, elbo_vqvae_create(&m, &cfg, &rng), "model");
    elbo_tape *t;
    drv_check(&cli, elbo_tape_create(&t, 64u << 20), "tape");
    const int K = codes_k, P = elbo_vqvae_positions(&m);

    epoch_row *er = drv_alloc(&cli, (size_t)E, sizeof *er);
    uint64_t *train_c = drv_alloc(&cli, (size_t)K, sizeof *train_c), *test_c = drv_alloc(&cli, (size_t)K, sizeof *test_c);
    train_vqvae(&cli, dp, &m, t, &train, E, er, train_c);

    /* test reconstruction and code usage; the codes of both splits for the prior */
    int32_t *ctr = drv_alloc(&cli, train.n * (size_t)P, sizeof *ctr), *cte = drv_alloc(&cli, test.n * (size_t)P, sizeof *cte);
    double bce, sq, t0 = elbo_now();
    drv_check(&cli, elbo_vqvae_eval_data(&m, t, &test, 0, test.n, 256, cte, &bce, &sq, test_c), "test evaluation");
    drv_check(&cli, elbo_vqvae_eval_data(&m, t, &train, 0, train.n, 256, ctr, NULL, NULL, NULL), "encode train");
    double eval_s = elbo_now() - t0, test_bce = bce / test.n, test_mse = sq / ((double)test.n * test.d);
    double ppl = elbo_vq_perplexity(test_c, K), ppl_tr = er[E - 1].perplexity;
    int dead = elbo_vq_dead_codes(test_c, K), dead_tr = (int)er[E - 1].dead;
    printf("test: BCE %.3f nats per image, MSE %.5f per pixel; codebook perplexity %.1f of K = %d (K/4 = %.0f), "
           "%d dead codes (last training epoch: perplexity %.1f, %d dead)\n",
           test_bce, test_mse, ppl, K, K / 4.0, dead, ppl_tr, dead_tr);

    double *pe = drv_alloc(&cli, (size_t)(PE > 0 ? PE : 1) * 4, sizeof *pe);
    elbo_vq_prior pr;
    mc_rng(&rng, cli.seed, RNG_PRIOR, 0);
    drv_check(&cli, elbo_vq_prior_create(&pr, P, K, prior_hidden, &rng), "prior");
    double prior_nll = NAN, prior_s = 0;
    if (PE > 0) {
        train_prior(&cli, dp, &pr, t, ctr, train.n, cte, test.n, PE, pe);
        prior_nll = pe[(PE - 1) * 4 + 2];
        for (int e = 0; e < PE; e++)
            prior_s += pe[e * 4 + 3];
    } else {
        double te;
        drv_check(&cli, elbo_vq_prior_eval(&pr, t, cte, test.n, 256, &te), "prior evaluation");
        prior_nll = te / test.n;
    }

    /* figures */
    int ns = side * side;
    int32_t *sc = drv_alloc(&cli, (size_t)ns * P, sizeof *sc);
    float *img = drv_alloc(&cli, (size_t)ns * train.d, sizeof *img);
    mc_rng(&rng, cli.seed, RNG_SAMPLES, 0);
    drv_check(&cli, elbo_vq_prior_sample(&pr, t, ns, &rng, sc), "prior samples");
    drv_check(&cli, elbo_vqvae_decode_codes(&m, t, sc, ns, img), "decode samples");
    drv_check(&cli, elbo_write_image_grid(cli.out, "samples", img, (size_t)ns, train.rows, train.cols, 1, side, side),
              "samples.png");
    recon_grid(&cli, &m, t, &test);
    usage_figure(&cli, train_c, test_c, K);
    double *et = drv_alloc(&cli, (size_t)E * 7, sizeof *et), epoch_s = 0;
    for (int e = 0; e < E; e++) {
        double r[7] = {e + 1, er[e].loss, er[e].bce, er[e].commit, er[e].perplexity, er[e].dead, er[e].seconds};
        memcpy(et + (size_t)e * 7, r, sizeof r);
        epoch_s += er[e].seconds;
    }
    static const char *const eh[7] = {"epoch", "loss", "bce", "commit", "perplexity", "dead_codes", "seconds"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "epochs.csv"), eh, et, (size_t)E, 7), "epochs.csv");
    if (PE > 0) {
        static const char *const ph[4] = {"epoch", "train_nll", "test_nll", "seconds"};
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "prior_epochs.csv"), ph, pe, (size_t)PE, 4), "prior_epochs.csv");
    }

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    elbo_json_number(j, "train_images", (double)train.n);
    elbo_json_number(j, "test_images", (double)test.n);
    elbo_json_number(j, "epochs_run", E);
    elbo_json_number(j, "code_positions", P);
    elbo_json_number(j, "test_bce_per_image", test_bce);
    elbo_json_number(j, "test_mse_per_pixel", test_mse);
    elbo_json_number(j, "test_perplexity", ppl);
    elbo_json_number(j, "test_perplexity_over_k", ppl / K);
    elbo_json_number(j, "test_dead_codes", dead);
    elbo_json_number(j, "train_perplexity_last_epoch", ppl_tr);
    elbo_json_number(j, "train_dead_codes_last_epoch", dead_tr);
    elbo_json_number(j, "train_loss_last_epoch", er[E - 1].loss);
    elbo_json_number(j, "epoch_seconds", epoch_s / E);
    elbo_json_number(j, "eval_seconds", eval_s);
    elbo_json_number(j, "prior_epochs_run", PE);
    elbo_json_number(j, "prior_test_nll_nats", prior_nll);
    elbo_json_number(j, "prior_test_bits_per_code", prior_nll / (P * M_LN2));
    elbo_json_number(j, "prior_uniform_nll_nats", P * log((double)K));
    elbo_json_number(j, "prior_epoch_seconds", PE > 0 ? prior_s / PE : 0);
    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("prior: test NLL %.2f nats per image (%.3f bits per code; uniform codes: %.2f nats)\n", prior_nll,
           prior_nll / (P * M_LN2), P * log((double)K));
    printf("wrote %s/{summary.json, epochs.csv, prior_epochs.csv, code_usage.csv, code_usage.svg, "
           "reconstructions.png, samples.png}\n",
           cli.out);
    elbo_dp_end(dp);
    elbo_vq_prior_free(&pr);
    elbo_vqvae_free(&m);
    elbo_tape_destroy(t);
    elbo_dataset_free(&train), elbo_dataset_free(&test);
    free(er), free(train_c), free(test_c), free(ctr), free(cte), free(pe), free(sc), free(img), free(et);
    return 0;
}
