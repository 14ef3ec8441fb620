/* Section 17.8.2: samples from the prior vs from the aggregated posterior
 * q(z) = (1/I) sum_i q(z | x_i), side by side.
 *
 * The encoder's posteriors do not fill the prior Norm(0, I) evenly (some
 * directions are squeezed, some regions are holes), so prior draws land
 * where the decoder saw no data; drawing z from the mixture of the training
 * posteriors instead gives more realistic samples. Measured here by the mean
 * distance from each decoded sample to its nearest test image, and by the
 * aggregated posterior's per-dimension variance (prior: 1). */
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

static int side, n_eval, n_ref;

static const elbo_opt opts[] = {
    VS_MODEL_OPTS("20", "bernoulli", "0.1"),
    VS_TRAIN_OPTS("5", "60000"),
    {"side", ELBO_OPT_INT, &side, "8", "each image grid is side x side samples", .min = 1, .max = 64},
    {"eval-samples", ELBO_OPT_INT, &n_eval, "500", "samples per source for the nearest-image distance", .min = 1,
     .max = 100000},
    {"reference", ELBO_OPT_INT, &n_ref, "2000", "test images searched for the nearest neighbour", .min = 1,
     .max = 10000},
};

/* Reference images converted to floats at a time. */
#define NN_CHUNK 256

/* Mean over samples of the RMS pixel distance to the nearest of the first
 * nr images of ref. */
static double nn_distance(const elbo_cli *cli, const float *s, size_t n, const elbo_dataset *ref, size_t nr, int D)
{
    double *best = drv_alloc(cli, n, sizeof(double)), tot = 0;
    float *chunk = drv_alloc(cli, (size_t)NN_CHUNK * D, sizeof(float));
    for (size_t i = 0; i < n; i++)
        best[i] = INFINITY;
    for (size_t r0 = 0; r0 < nr; r0 += NN_CHUNK) {
        size_t m = nr - r0 < NN_CHUNK ? nr - r0 : NN_CHUNK;
        elbo_dataset_rows(ref, r0, m, chunk, NULL);
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < m; r++) {
                double d2 = 0;
                for (int p = 0; p < D; p++) {
                    double e = (double)s[i * D + p] - chunk[r * D + p];
                    d2 += e * e;
                }
                best[i] = fmin(best[i], d2);
            }
    }
    for (size_t i = 0; i < n; i++)
        tot += sqrt(best[i] / D);
    free(best);
    free(chunk);
    return tot / (double)n;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "aggregated_posterior", "Section 17.8.2: prior samples vs aggregated-posterior samples.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    vs_begin(&cli, &argc, &argv);
    if (cli.quick)
        n_eval = n_eval > 100 ? 100 : n_eval, n_ref = n_ref > 500 ? 500 : n_ref;
    vs_data d;
    vs_load_data(&cli, &d);
    elbo_vae m;
    double test_nelbo = vs_model(&cli, &d, &(vs_objective){.beta = 1}, &m, "vae");
    elbo_tape *t = vs_tape(&cli);
    const int D = (int)d.test.d, Z = m.cfg.z_dim, R = d.test.rows, C = d.test.cols, CH = d.test.channels;
    size_t nr = (size_t)n_ref < d.test.n ? (size_t)n_ref : d.test.n;
    size_t ne = (size_t)n_eval > (size_t)side * side ? (size_t)n_eval : (size_t)side * side;

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    elbo_json_number(j, "test_neg_elbo", test_nelbo);

    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    float *sp = drv_alloc(&cli, ne * D, sizeof(float)), *sa = drv_alloc(&cli, ne * D, sizeof(float));
    drv_check(&cli, elbo_vae_sample_prior(&m, t, NULL, ne, &rng, sp), "prior samples");
    drv_check(&cli, elbo_vae_sample_aggregate_data(&m, t, &d.train, ne, &rng, sa, NULL),
              "aggregated-posterior samples");

    /* Side by side: prior | blank column | aggregated posterior. */
    int cols = 2 * side + 1;
    float *tiles = drv_alloc(&cli, (size_t)side * cols * D, sizeof(float));
    for (int r = 0; r < side; r++)
        for (int c = 0; c < cols; c++) {
            float *dst = tiles + ((size_t)r * cols + c) * D;
            if (c < side)
                memcpy(dst, sp + ((size_t)r * side + c) * D, (size_t)D * sizeof(float));
            else if (c > side)
                memcpy(dst, sa + ((size_t)r * side + c - side - 1) * D, (size_t)D * sizeof(float));
            else
                for (int p = 0; p < D; p++)
                    dst[p] = 1.0f;
        }
    drv_check(&cli, elbo_write_image_grid(cli.out, "prior_vs_aggregate", tiles, (size_t)side * cols, R, C, CH, side,
                                          cols), "prior_vs_aggregate.png");

    double dp = nn_distance(&cli, sp, ne, &d.test, nr, D), da = nn_distance(&cli, sa, ne, &d.test, nr, D);
    printf("mean RMS distance to the nearest of %zu test images: prior samples %.4f, aggregated-posterior samples "
           "%.4f\n",
           nr, dp, da);
    elbo_json_number(j, "nn_dist_prior", dp);
    elbo_json_number(j, "nn_dist_aggregate", da);

    /* The aggregated posterior's moments per dimension: Var = Var_i(mu_i) + mean_i sigma_i^2. */
    size_t n = d.train.n < 10000 ? d.train.n : 10000;
    float *mu = drv_alloc(&cli, n * Z, sizeof(float)), *lv = drv_alloc(&cli, n * Z, sizeof(float));
    drv_check(&cli, elbo_vae_encode_data(&m, t, &d.train, 0, n, 0, mu, lv), "encode");
    double *tab = drv_alloc(&cli, (size_t)Z * 4, sizeof(double));
    double vmin = INFINITY, vmax = 0;
    for (int k = 0; k < Z; k++) {
        double s = 0, s2 = 0, e = 0;
        for (size_t i = 0; i < n; i++)
            s += mu[i * Z + k], s2 += (double)mu[i * Z + k] * mu[i * Z + k], e += exp(lv[i * Z + k]);
        double mean = s / n, var = s2 / n - mean * mean + e / n;
        tab[k * 4] = k, tab[k * 4 + 1] = mean, tab[k * 4 + 2] = var, tab[k * 4 + 3] = e / n;
        vmin = fmin(vmin, var), vmax = fmax(vmax, var);
    }
    static const char *const h[4] = {"dim", "aggregate_mean", "aggregate_var", "mean_posterior_var"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "aggregate_moments.csv"), h, tab, (size_t)Z, 4),
              "aggregate_moments.csv");
    printf("aggregated posterior: per-dimension variance %.3f..%.3f (prior: 1)\n", vmin, vmax);
    elbo_json_number(j, "aggregate_var_min", vmin);
    elbo_json_number(j, "aggregate_var_max", vmax);

    elbo_svg *fig = elbo_svg_new(1, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    elbo_plot_title(pl, "aggregated posterior vs prior, per latent dimension");
    elbo_plot_xlabel(pl, "latent dimension");
    double *x = drv_alloc(&cli, (size_t)Z * 3, sizeof(double)), *v = x + Z, *w = x + 2 * Z;
    for (int k = 0; k < Z; k++)
        x[k] = k, v[k] = tab[k * 4 + 2], w[k] = tab[k * 4 + 3];
    elbo_plot_scatter(pl, x, v, (size_t)Z, &(elbo_style){.label = "Var of q(z) (aggregate)", .size = 4});
    elbo_plot_scatter(pl, x, w, (size_t)Z, &(elbo_style){.label = "mean posterior variance", .marker = ELBO_MARKER_SQUARE});
    elbo_plot_hline(pl, 1, &(elbo_style){.label = "prior variance", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_RIGHT);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "aggregate_moments.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{prior_vs_aggregate.png (left: prior, right: aggregated posterior), aggregate_moments.csv, "
           "aggregate_moments.svg, summary.json}\n",
           cli.out);
    elbo_vae_free(&m);
    vs_free_data(&d);
    vs_end();
    free(sp), free(sa), free(tiles), free(mu), free(lv), free(tab), free(x);
    return 0;
}
