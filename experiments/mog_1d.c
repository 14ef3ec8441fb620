/* Figure 17.1 and problem 17.1: a 1-D mixture of Gaussians as a latent
 * variable model.
 *
 *   Pr(z = n) = lambda_n,  Pr(x | z = n) = Norm(mu_n, sigma_n^2),
 *   Pr(x) = sum_n Pr(x, z = n) = sum_n lambda_n Norm(x; mu_n, sigma_n^2)   (17.4)
 *
 * (a) the weighted components (dashed) and their sum, with a histogram of
 * ancestral samples; (b) the joint Pr(x, z) as a heat map over x and the
 * discrete z: summing its rows gives (a). Problem 17.1's parameter count
 * comes from models/mog; EM (models/mog) refits the mixture from the samples
 * to show the parameters are recoverable. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "models/mog/mog.h"
#include "summary.h"

#define MAX_K 16

static const char *w_text, *mu_text, *sd_text;
static double x_lo, x_hi;
static int grid, n_samples, bins, count_k;

static const elbo_opt opts[] = {
    {"weights", ELBO_OPT_STRING, &w_text, "0.3,0.5,0.2", "component weights lambda_n (normalised)", .choices = NULL},
    {"means", ELBO_OPT_STRING, &mu_text, "-1.5,0.6,2.6", "component means mu_n", .choices = NULL},
    {"sds", ELBO_OPT_STRING, &sd_text, "0.5,0.7,0.4", "component standard deviations sigma_n", .choices = NULL},
    {"x-min", ELBO_OPT_DOUBLE, &x_lo, "-4", "plot range", .min = -1e6, .max = 1e6},
    {"x-max", ELBO_OPT_DOUBLE, &x_hi, "4.5", "plot range", .min = -1e6, .max = 1e6},
    {"grid", ELBO_OPT_INT, &grid, "500", "x grid points", .min = 10, .max = 1000000},
    {"samples", ELBO_OPT_INT, &n_samples, "20000", "ancestral samples (histogram, EM refit)", .min = 0,
     .max = 100000000},
    {"bins", ELBO_OPT_INT, &bins, "60", "histogram bins", .min = 2, .max = 10000},
    {"count-k", ELBO_OPT_INT, &count_k, "5", "problem 17.1: components to count parameters for", .min = 1,
     .max = 1000000},
};

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "mog_1d", "Figure 17.1 / problem 17.1: 1-D mixture of Gaussians.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    double w[MAX_K], mu[MAX_K], sd[MAX_K];
    mog_params p;
    int k = drv_mixture_1d(&cli, w_text, mu_text, sd_text, w, mu, sd, MAX_K, &p);
    if (!(x_hi > x_lo))
        drv_usage_error(&cli, "--x-max must exceed --x-min");
    if (cli.quick && n_samples > 2000)
        n_samples = 2000;

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;

    /* Problem 17.1: k-1 free weights in [0,1] (sum to one), k means in R, k variances > 0. */
    size_t free5 = mog_param_count((size_t)count_k, 1, MOG_COV_SPHERICAL);
    printf("problem 17.1: a 1-D mixture of %d Gaussians has %d weights in [0,1] summing to one, %d means in "
           "(-inf, inf) and %d variances in (0, inf): %zu numbers, %zu free\n",
           count_k, count_k, count_k, count_k, free5 + 1, free5);
    elbo_json_int(j, "problem_17_1_components", count_k);
    elbo_json_int(j, "problem_17_1_parameters", (long long)free5 + 1);
    elbo_json_int(j, "problem_17_1_free_parameters", (long long)free5);

    /* Densities on the grid: Pr(x) and the joint Pr(x, z=n) = Pr(x) Pr(z=n|x). */
    double *x = drv_alloc(&cli, (size_t)grid, sizeof(double)), *lp = drv_alloc(&cli, (size_t)grid, sizeof(double));
    double *resp = drv_alloc(&cli, (size_t)grid * k, sizeof(double));
    for (int g = 0; g < grid; g++)
        x[g] = x_lo + (x_hi - x_lo) * g / (grid - 1);
    drv_check(&cli, mog_score_samples(&p, x, (size_t)grid, lp, resp, NULL), "density");
    int cols = 2 + k;
    double *tab = drv_alloc(&cli, (size_t)grid * cols, sizeof(double));
    double mass = 0;
    for (int g = 0; g < grid; g++) {
        double px = exp(lp[g]);
        tab[(size_t)g * cols] = x[g], tab[(size_t)g * cols + 1] = px;
        for (int i = 0; i < k; i++)
            tab[(size_t)g * cols + 2 + i] = px * resp[(size_t)g * k + i];
        mass += px * (x_hi - x_lo) / (grid - 1);
    }
    const char *hdr[2 + MAX_K];
    char names[MAX_K][24];
    hdr[0] = "x", hdr[1] = "pdf";
    for (int i = 0; i < k; i++) {
        snprintf(names[i], sizeof names[i], "joint_z%d", i + 1);
        hdr[2 + i] = names[i];
    }
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "density.csv"), hdr, tab, (size_t)grid, (size_t)cols),
              "density.csv");
    printf("mixture of %d components: integral of Pr(x) over [%g, %g] = %.6f\n", k, x_lo, x_hi, mass);
    elbo_json_number(j, "density_mass", mass);

    /* Ancestral samples, their histogram, and an EM refit from them. */
    double *xs = drv_alloc(&cli, (size_t)n_samples + 1, sizeof(double));
    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    if (n_samples > 0)
        drv_check(&cli, mog_sample(&p, &rng, (size_t)n_samples, xs, NULL), "sampling");
    double *hist = drv_alloc(&cli, (size_t)bins, sizeof(double)), bw = (x_hi - x_lo) / bins;
    for (int s = 0; s < n_samples; s++) {
        int b = (int)floor((xs[s] - x_lo) / bw);
        if (b >= 0 && b < bins)
            hist[b] += 1.0 / (n_samples * bw);
    }
    if (n_samples >= 10 * k) {
        mog_config cfg;
        mog_config_default(&cfg, (size_t)k);
        cfg.cov = MOG_COV_SPHERICAL;
        cfg.seed = cli.seed;
        cfg.restarts = 3;
        cfg.max_iter = 500;
        cfg.tol = 1e-8;
        mog_result fit;
        drv_check(&cli, mog_fit(xs, (size_t)n_samples, 1, &cfg, &fit), "EM refit");
        double truth;
        drv_check(&cli, mog_score_samples(&p, xs, (size_t)n_samples, NULL, NULL, &truth), "score");
        printf("EM refit from %d samples (%d iterations): mean log-likelihood %.5f (true parameters %.5f)\n",
               n_samples, fit.iterations, fit.mean_loglik, truth);
        printf("  %-10s %10s %10s %10s\n", "component", "weight", "mean", "sd");
        for (size_t i = 0; i < fit.params.k; i++)
            printf("  %-10zu %10.4f %10.4f %10.4f\n", i + 1, fit.params.weights[i], fit.params.means[i],
                   sqrt(fit.params.covars[i]));
        elbo_json_number(j, "refit_mean_loglik", fit.mean_loglik);
        elbo_json_number(j, "true_mean_loglik", truth);
        mog_result_free(&fit);
    }

    /* Figure 17.1. */
    elbo_svg *fig = elbo_svg_new(2, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    elbo_plot_title(pl, "a) Pr(x) = sum_n lambda_n Norm(mu_n, sigma_n^2)");
    elbo_plot_xlabel(pl, "x");
    elbo_plot_ylabel(pl, "density");
    if (n_samples > 0) { /* histogram as a step outline */
        double *hx = drv_alloc(&cli, (size_t)bins * 2, sizeof(double)), *hy = drv_alloc(&cli, (size_t)bins * 2, sizeof(double));
        for (int b = 0; b < bins; b++)
            hx[2 * b] = x_lo + b * bw, hx[2 * b + 1] = x_lo + (b + 1) * bw, hy[2 * b] = hy[2 * b + 1] = hist[b];
        elbo_style hs = elbo_style_color(0xBBBBBB, "samples (histogram)");
        hs.width = -1;
        hs.alpha = 0.5;
        elbo_plot_fill(pl, hx, NULL, hy, (size_t)bins * 2, 0, &hs);
        free(hx), free(hy);
    }
    double *col = drv_alloc(&cli, (size_t)grid, sizeof(double));
    for (int i = 0; i < k; i++) {
        for (int g = 0; g < grid; g++)
            col[g] = tab[(size_t)g * cols + 2 + i];
        char lab[48];
        snprintf(lab, sizeof lab, "lambda_%d Norm(x; %g, %g^2)", i + 1, mu[i], sd[i]);
        elbo_plot_line(pl, x, col, (size_t)grid, &(elbo_style){.label = lab, .dash = ELBO_DASH_DASHED});
    }
    for (int g = 0; g < grid; g++)
        col[g] = tab[(size_t)g * cols + 1];
    elbo_plot_line(pl, x, col, (size_t)grid,
                   &(elbo_style){.label = "Pr(x)", .color = 0x00A6C8, .color_set = true, .width = 2.6});
    double top = 0;
    for (int g = 0; g < grid; g++)
        top = fmax(top, col[g]);
    elbo_plot_ylim(pl, 0, 1.7 * top); /* room for the legend above the peaks */
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_LEFT);

    pl = elbo_svg_panel(fig, 1);
    elbo_plot_title(pl, "b) joint Pr(x, z)");
    elbo_plot_xlabel(pl, "x");
    elbo_plot_ylabel(pl, "z");
    /* z is discrete: each value gets a band of rows with empty rows between,
     * so the bands stay apart however the viewer interpolates the image. */
    enum { BAND = 8 };
    double *heat = drv_alloc(&cli, (size_t)grid * k * BAND, sizeof(double));
    for (int r = 0; r < k * BAND; r++)
        for (int g = 0; g < grid; g++)
            heat[(size_t)r * grid + g] = r % BAND == 0 || r % BAND == BAND - 1 ? 0 : tab[(size_t)g * cols + 2 + r / BAND];
    elbo_plot_heatmap(pl, heat, grid, k * BAND, x_lo, x_hi, 0.5, k + 0.5, 0, 0, "Pr(x, z)");
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "mog_1d.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{density.csv,mog_1d.svg,summary.json}\n", cli.out);
    mog_params_free(&p);
    free(x), free(lp), free(resp), free(tab), free(xs), free(hist), free(col), free(heat);
    return 0;
}
