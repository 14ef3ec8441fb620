/* Figures 17.9, 17.11 and 17.12 with a VAE on Fashion-MNIST.
 *
 * 17.12: ancestral samples z* ~ Norm(0, I), x* = f[z*, phi] + noise: the
 *   predicted means (b, too smooth), the noise of Pr(x|z*) alone (c) and
 *   their sum (a, too noisy). With the Gaussian likelihood (the default, as
 *   in the book) the noise is sigma * eps; with a Bernoulli likelihood the
 *   "noisy" sample is the pixel-wise coin flip.
 * 17.9 / 17.11: the VAE pipeline on test images: x -> encoder (mu, Sigma) ->
 *   z* = mu + Sigma^{1/2} eps (the reparameterization trick) -> decoder.
 *   Rows: originals, decoded encoder means, decoded z* samples.
 *
 * The model is trained here for a few epochs, or loaded with --checkpoint
 * from a run of experiments/vae. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/png.h"
#include "models/io/svg.h"
#include "summary.h"
#include "vae_setup.h"

static int n_show;

/* Test images per chunk of the reconstruction-error pass. */
#define MSE_CHUNK 1000

static const elbo_opt opts[] = {
    VS_MODEL_OPTS("20", "gaussian", "0.25"),
    VS_TRAIN_OPTS("5", "60000"),
    {"show", ELBO_OPT_INT, &n_show, "10", "samples / test images per row", .min = 1, .max = 100},
};

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "vae_figures", "Figures 17.9, 17.11, 17.12: VAE samples (means, noise) and reconstructions.",
                  opts, sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    vs_begin(&cli, &argc, &argv);
    vs_data d;
    vs_load_data(&cli, &d);
    elbo_vae m;
    double test_nelbo = vs_model(&cli, &d, &(vs_objective){.beta = 1}, &m, "vae");
    elbo_tape *t = vs_tape(&cli);
    const int D = (int)d.test.d, Z = m.cfg.z_dim, R = d.test.rows, C = d.test.cols, CH = d.test.channels, N = n_show;

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    elbo_json_number(j, "test_neg_elbo", test_nelbo);
    elbo_json_string(j, "likelihood", m.cfg.lik == ELBO_VAE_BERNOULLI ? "bernoulli" : "gaussian");

    /* ---- fig 17.12: means, noise, noisy samples ---- */
    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    float *z = drv_alloc(&cli, (size_t)N * Z, sizeof(float));
    float *mean = drv_alloc(&cli, (size_t)N * D, sizeof(float));
    float *grid = drv_alloc(&cli, (size_t)3 * N * D, sizeof(float));
    elbo_rng_normal_f32(&rng, z, (size_t)N * Z);
    drv_check(&cli, elbo_vae_decode(&m, t, z, NULL, (size_t)N, 0, mean), "decode");
    double sigma = m.cfg.lik == ELBO_VAE_BERNOULLI ? NAN : exp(0.5 * m.cfg.gauss_logvar);
    float *lv = NULL;
    if (m.cfg.lik == ELBO_VAE_GAUSSIAN_LEARNED) /* per-pixel learned log-variance, a (1, D) parameter */
        lv = elbo_param_w(&m.params, m.lik_logvar);
    for (int i = 0; i < N; i++)
        for (int p = 0; p < D; p++) {
            float mu = mean[(size_t)i * D + p], noisy, noise;
            if (m.cfg.lik == ELBO_VAE_BERNOULLI) {
                noisy = elbo_rng_uniform(&rng) < mu ? 1.0f : 0.0f;
                noise = noisy - mu;
            } else {
                double s = lv ? exp(0.5 * lv[p]) : sigma;
                noise = (float)(s * elbo_rng_normal(&rng));
                noisy = mu + noise;
            }
            grid[(size_t)i * D + p] = noisy;                     /* row 1: (a) the sample */
            grid[(size_t)(N + i) * D + p] = mu;                  /* row 2: (b) the mean */
            grid[(size_t)(2 * N + i) * D + p] = 0.5f + noise;    /* row 3: (c) the noise, around grey */
        }
    drv_check(&cli, elbo_write_image_grid(cli.out, "samples_17_12", grid, (size_t)3 * N, R, C, CH, 3, N),
              "samples_17_12.png");
    /* Also a bigger grid of noise-free samples (what is usually shown). */
    int G = 8;
    float *zs = drv_alloc(&cli, (size_t)G * G * Z, sizeof(float)), *ms = drv_alloc(&cli, (size_t)G * G * D, sizeof(float));
    drv_check(&cli, elbo_vae_sample_prior(&m, t, NULL, (size_t)G * G, &rng, ms), "sample");
    drv_check(&cli, elbo_write_image_grid(cli.out, "samples_mean", ms, (size_t)G * G, R, C, CH, G, G),
              "samples_mean.png");

    /* ---- figs 17.9 / 17.11: originals, decoded means, decoded reparameterized samples ---- */
    float *mu = drv_alloc(&cli, (size_t)N * Z, sizeof(float)), *lvq = drv_alloc(&cli, (size_t)N * Z, sizeof(float));
    float *dec = drv_alloc(&cli, (size_t)N * D, sizeof(float));
    if ((size_t)N > d.test.n)
        drv_usage_error(&cli, "--show: more than the test images");
    drv_check(&cli, elbo_vae_encode_data(&m, t, &d.test, 0, (size_t)N, 0, mu, lvq), "encode");
    elbo_dataset_rows(&d.test, 0, (size_t)N, grid, NULL);
    drv_check(&cli, elbo_vae_decode(&m, t, mu, NULL, (size_t)N, 0, grid + (size_t)N * D), "decode");
    for (size_t k = 0; k < (size_t)N * Z; k++) /* z* = mu + sigma eps (17.25) */
        z[k] = mu[k] + expf(0.5f * lvq[k]) * (float)elbo_rng_normal(&rng);
    drv_check(&cli, elbo_vae_decode(&m, t, z, NULL, (size_t)N, 0, dec), "decode");
    memcpy(grid + (size_t)2 * N * D, dec, (size_t)N * D * sizeof(float));
    drv_check(&cli, elbo_write_image_grid(cli.out, "reconstructions", grid, (size_t)3 * N, R, C, CH, 3, N),
              "reconstructions.png");

    /* Numbers: reconstruction error of the whole test split against the
     * trivial "mean image" predictor, and the posterior spread; the split is
     * read a chunk at a time (the mean image first). */
    size_t nt = d.test.n, cb = MSE_CHUNK;
    float *xs = drv_alloc(&cli, cb * D, sizeof(float)), *rec = drv_alloc(&cli, cb * D, sizeof(float));
    double *avg = drv_alloc(&cli, (size_t)D, sizeof(double)), mse = 0, mse0 = 0;
    for (size_t i0 = 0; i0 < nt; i0 += cb) {
        size_t b = nt - i0 < cb ? nt - i0 : cb;
        elbo_dataset_rows(&d.test, i0, b, xs, NULL);
        for (size_t i = 0; i < b; i++)
            for (int p = 0; p < D; p++)
                avg[p] += xs[i * D + p] / (double)nt;
    }
    for (size_t i0 = 0; i0 < nt; i0 += cb) {
        size_t b = nt - i0 < cb ? nt - i0 : cb;
        elbo_dataset_rows(&d.test, i0, b, xs, NULL);
        drv_check(&cli, elbo_vae_reconstruct_data(&m, t, &d.test, i0, b, 0, rec), "reconstruct");
        for (size_t i = 0; i < b; i++)
            for (int p = 0; p < D; p++) {
                double x = xs[i * D + p], e = x - rec[i * D + p], e0 = x - avg[p];
                mse += e * e, mse0 += e0 * e0;
            }
    }
    mse /= (double)nt * D, mse0 /= (double)nt * D;
    double post_sd = 0;
    for (size_t k = 0; k < (size_t)N * Z; k++)
        post_sd += exp(0.5 * lvq[k]) / ((double)N * Z);
    printf("reconstruction MSE per pixel %.5f (mean-image predictor %.5f); mean posterior sd %.3f (prior 1)\n", mse,
           mse0, post_sd);
    if (m.cfg.lik != ELBO_VAE_BERNOULLI)
        printf("likelihood noise sd %.3f: samples = means + noise look too smooth before, too noisy after\n",
               lv ? NAN : sigma);
    elbo_json_number(j, "recon_mse", mse);
    elbo_json_number(j, "mean_image_mse", mse0);
    elbo_json_number(j, "mean_posterior_sd", post_sd);
    int active;
    drv_check(&cli, elbo_vae_active_units_data(&m, t, &d.test, 0, 0.01, &active, NULL), "active units");
    elbo_json_int(j, "active_units", active);
    elbo_json_int(j, "latent", Z);
    printf("active units %d/%d\n", active, Z);

    /* A small SVG so every driver has one: per-pixel sd of the means vs of the noisy samples. */
    elbo_svg *fig = elbo_svg_new(1, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    elbo_plot_title(pl, "test reconstruction MSE per pixel");
    double bx[2] = {0, 1}, by[2] = {mse, mse0};
    elbo_plot_scatter(pl, bx, by, 2, &(elbo_style){.size = 6});
    elbo_plot_xlim(pl, -0.5, 1.5);
    elbo_plot_xlabel(pl, "0: VAE (encoder mean)   1: mean image");
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "recon_mse.svg")), "svg");
    elbo_svg_free(fig);
    double row[4] = {test_nelbo, mse, mse0, post_sd};
    static const char *const hdr[4] = {"test_neg_elbo", "recon_mse", "mean_image_mse", "mean_posterior_sd"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "metrics.csv"), hdr, row, 1, 4), "metrics.csv");

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{samples_17_12.png (rows: sample, mean, noise), samples_mean.png, reconstructions.png "
           "(rows: original, mean, z* sample), metrics.csv, summary.json}\n",
           cli.out);
    elbo_vae_free(&m);
    vs_free_data(&d);
    vs_end();
    free(z), free(mean), free(grid), free(zs), free(ms), free(mu), free(lvq), free(dec), free(rec), free(avg), free(xs);
    return 0;
}
