/* Figures 17.2, 17.3, 17.7, 17.8 and notebook 17.1: the nonlinear latent
 * variable model with 1-D z and 2-D x (models/mog/nlvm.h):
 *
 *   Pr(z) = Norm(0, 1),  Pr(x|z) = Norm(x; f(z), 0.04 I),
 *   f1(z) = 0.5 exp(sin(2 + 3.675 z)),  f2(z) = cos(2 + 2.85 z).
 *
 * Notebook grids exactly: z from -3 to 3 step 0.01 (600 points), x1 from
 * -0.5 to 2.5 and x2 from -1.5 to 1.5 step 0.01 (300 x 300).
 * - fig 17.2: the curve f(z) drawn with opacity Pr(z); the likelihood
 *   Pr(x | z = 1.8); the marginal Pr(x) = sum_z Pr(x|z) Pr(z) dz (a Riemann
 *   sum over the z grid: an infinite mixture made finite) as a heat map;
 * - fig 17.3: 500 ancestral samples on top of it;
 * - figs 17.7-17.8: the exact posterior Pr(z | x*) on the z grid for
 *   x* = (0.9, -0.9) (multimodal) and a unimodal x*, with the two closest
 *   Gaussians: the variational one (min KL(q || p), what the ELBO seeks) and
 *   the moment match (min KL(p || q)). */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "models/mog/nlvm.h"
#include "progress.h"
#include "summary.h"

#define NZ_MAX 100000

static const char *xstar_text, *xuni_text;
static double z_slice, step;
static int n_samples;

static const elbo_opt opts[] = {
    {"x-star", ELBO_OPT_STRING, &xstar_text, "0.9,-0.9", "figs 17.7-17.8: x* with a multimodal posterior",
     .choices = NULL},
    {"x-unimodal", ELBO_OPT_STRING, &xuni_text, "1.3,-0.1", "fig 17.8a: x* with a unimodal posterior", .choices = NULL},
    {"z-slice", ELBO_OPT_DOUBLE, &z_slice, "1.8", "z of the likelihood heat map", .min = -10, .max = 10},
    {"samples", ELBO_OPT_INT, &n_samples, "500", "ancestral samples", .min = 0, .max = 10000000},
    {"step", ELBO_OPT_DOUBLE, &step, "0.01", "grid step of z, x1 and x2 (notebook: 0.01)", .min = 1e-3, .max = 0.5},
};

typedef struct px_job {
    const double *fz, *wz; /* f at the z grid (nz, 2), Pr(z) dz (nz) */
    int nz, n1, n2;
    double x1_0, x2_0, h, sigma2;
    double *px; /* (n2, n1): row = x2 */
} px_job;

/* One row of the Pr(x) heat map (fixed x2). */
static void px_row(void *ctx, int r)
{
    px_job *j = ctx;
    double x2 = j->x2_0 + r * j->h, c = 1 / (2 * M_PI * j->sigma2), inv = -0.5 / j->sigma2;
    for (int i = 0; i < j->n1; i++) {
        double x1 = j->x1_0 + i * j->h, s = 0;
        for (int k = 0; k < j->nz; k++) {
            double d1 = x1 - j->fz[2 * k], d2 = x2 - j->fz[2 * k + 1];
            s += j->wz[k] * exp(inv * (d1 * d1 + d2 * d2));
        }
        j->px[(size_t)r * j->n1 + i] = c * s;
    }
}

static int count_modes(const double *p, int n)
{
    double mx = 0;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, p[i]);
    int m = 0;
    for (int i = 1; i + 1 < n; i++)
        if (p[i] > p[i - 1] && p[i] >= p[i + 1] && p[i] > 1e-3 * mx)
            m++;
    return m;
}

static double npdf(double z, double m, double s) { return exp(-0.5 * (z - m) * (z - m) / (s * s)) / (s * sqrt(2 * M_PI)); }

typedef struct post {
    double x[2], log_px;
    int modes;
    nlvm_gauss1 moment, varia;
    double *dens; /* (nz) */
} post;

static void posterior(const elbo_cli *cli, const nlvm *model, const double *z, int nz, post *p)
{
    p->dens = drv_alloc(cli, (size_t)nz, sizeof(double));
    drv_check(cli, nlvm_posterior_grid(model, p->x, z[0], z[nz - 1], (size_t)nz, NULL, p->dens, &p->log_px),
              "posterior");
    p->modes = count_modes(p->dens, nz);
    drv_check(cli, nlvm_posterior_gauss(model, p->x, p->log_px, z, p->dens, (size_t)nz, &p->moment, &p->varia),
              "closest Gaussian");
}

static void plot_posterior(elbo_plot *pl, const char *title, const double *z, int nz, const post *p,
                           const nlvm *model, double *tmp)
{
    elbo_plot_title(pl, title);
    elbo_plot_xlabel(pl, "z");
    elbo_plot_ylabel(pl, "density");
    elbo_style orange = elbo_style_color(0xE69F00, "Pr(z|x*) (exact, grid)");
    elbo_plot_fill(pl, z, NULL, p->dens, (size_t)nz, 0, &orange);
    for (int k = 0; k < nz; k++)
        tmp[k] = npdf(z[k], p->varia.mean, p->varia.sd);
    char lab[96];
    snprintf(lab, sizeof lab, "q: min KL(q||p) = %.2f", p->varia.kl);
    elbo_plot_line(pl, z, tmp, (size_t)nz, &(elbo_style){.label = lab, .color = 0x00A6C8, .color_set = true, .width = 2.4});
    for (int k = 0; k < nz; k++)
        tmp[k] = npdf(z[k], p->moment.mean, p->moment.sd);
    snprintf(lab, sizeof lab, "moment match (KL(q||p) = %.2f)", p->moment.kl);
    elbo_plot_line(pl, z, tmp, (size_t)nz, &(elbo_style){.label = lab, .color = 0x555555, .color_set = true,
                                                         .dash = ELBO_DASH_DASHED});
    for (int k = 0; k < nz; k++)
        tmp[k] = npdf(z[k], 0, 1);
    elbo_plot_line(pl, z, tmp, (size_t)nz, &(elbo_style){.label = "prior Pr(z)", .color = 0x999999, .color_set = true,
                                                         .dash = ELBO_DASH_DOTTED});
    (void)model;
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_LEFT);
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "nlvm", "Figures 17.2-17.3, 17.7-17.8 / notebook 17.1: the nonlinear latent variable model.",
                  opts, sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    post pm = {0}, pu = {0};
    if (drv_list(&cli, "x-star", xstar_text, pm.x, 2) != 2 || drv_list(&cli, "x-unimodal", xuni_text, pu.x, 2) != 2)
        drv_usage_error(&cli, "--x-star / --x-unimodal: expected two numbers x1,x2");
    if (cli.quick && step < 0.02)
        step = 0.02;

    nlvm model;
    nlvm_init_notebook(&model);
    /* Notebook grids: np.arange(-3, 3, 0.01) etc. (the end point excluded). */
    int nz = (int)floor(6.0 / step + 0.5), n1 = (int)floor(3.0 / step + 0.5), n2 = n1;
    double *z = drv_alloc(&cli, (size_t)nz, sizeof(double)), *fz = drv_alloc(&cli, (size_t)nz * 2, sizeof(double));
    double *wz = drv_alloc(&cli, (size_t)nz, sizeof(double));
    for (int k = 0; k < nz; k++)
        z[k] = -3 + k * step, wz[k] = npdf(z[k], 0, 1) * step;
    model.f(model.ctx, z, (size_t)nz, fz);

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;

    /* ---- Pr(x) as a Riemann sum over z (threaded over rows; row order fixed) ---- */
    px_job job = {fz, wz, nz, n1, n2, -0.5, -1.5, step, model.sigma2, drv_alloc(&cli, (size_t)n1 * n2, sizeof(double))};
    double t0 = elbo_now();
    elbo_parallel_for(n2, px_row, &job);
    double mass = 0;
    for (size_t i = 0; i < (size_t)n1 * n2; i++)
        mass += job.px[i] * step * step;
    printf("Pr(x) on the %dx%d grid (Riemann sum over %d z points, %.2fs): total mass in the window %.4f\n", n1, n2,
           nz, elbo_now() - t0, mass);
    elbo_json_number(j, "px_grid_mass", mass);
    elbo_json_int(j, "z_points", nz);
    /* The likelihood at z = z_slice. */
    double *lik = drv_alloc(&cli, (size_t)n1 * n2, sizeof(double)), fs[2];
    model.f(model.ctx, &z_slice, 1, fs);
    for (int r = 0; r < n2; r++)
        for (int i = 0; i < n1; i++) {
            double d1 = -0.5 + i * step - fs[0], d2 = -1.5 + r * step - fs[1];
            lik[(size_t)r * n1 + i] = exp(-0.5 * (d1 * d1 + d2 * d2) / model.sigma2) / (2 * M_PI * model.sigma2);
        }
    /* CSV of the heat map (long format). */
    {
        double *tab = drv_alloc(&cli, (size_t)n1 * n2 * 4, sizeof(double));
        for (int r = 0; r < n2; r++)
            for (int i = 0; i < n1; i++) {
                double *row = tab + ((size_t)r * n1 + i) * 4;
                row[0] = -0.5 + i * step, row[1] = -1.5 + r * step, row[2] = job.px[(size_t)r * n1 + i],
                row[3] = lik[(size_t)r * n1 + i];
            }
        static const char *const h[4] = {"x1", "x2", "px", "lik_at_z_slice"};
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "px_grid.csv"), h, tab, (size_t)n1 * n2, 4), "px_grid.csv");
        free(tab);
    }

    /* ---- ancestral samples ---- */
    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    double *sz = drv_alloc(&cli, (size_t)n_samples + 1, sizeof(double));
    double *sx = drv_alloc(&cli, (size_t)n_samples * 2 + 2, sizeof(double));
    if (n_samples > 0)
        drv_check(&cli, nlvm_sample(&model, &rng, (size_t)n_samples, sz, sx), "sampling");
    {
        double *tab = drv_alloc(&cli, (size_t)n_samples * 3 + 1, sizeof(double));
        for (int s = 0; s < n_samples; s++)
            tab[s * 3] = sz[s], tab[s * 3 + 1] = sx[2 * s], tab[s * 3 + 2] = sx[2 * s + 1];
        static const char *const h[3] = {"z", "x1", "x2"};
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "samples.csv"), h, tab, (size_t)n_samples, 3), "samples.csv");
        free(tab);
    }

    /* ---- posteriors and their closest Gaussians ---- */
    posterior(&cli, &model, z, nz, &pm);
    posterior(&cli, &model, z, nz, &pu);
    const char *names[2] = {"multimodal", "unimodal"};
    post *ps[2] = {&pm, &pu};
    for (int c = 0; c < 2; c++) {
        post *p = ps[c];
        printf("x* = (%g, %g): log Pr(x*) = %.4f, %d mode%s; closest Gaussian (min KL(q||p)) N(%.3f, %.3f^2) "
               "KL %.4f; moment match N(%.3f, %.3f^2) KL(q||p) %.4f\n",
               p->x[0], p->x[1], p->log_px, p->modes, p->modes == 1 ? "" : "s", p->varia.mean, p->varia.sd,
               p->varia.kl, p->moment.mean, p->moment.sd, p->moment.kl);
        char key[64];
        elbo_json_begin_object(j, names[c]);
        elbo_json_numbers(j, "x_star", p->x, 2);
        elbo_json_number(j, "log_px", p->log_px);
        elbo_json_int(j, "modes", p->modes);
        elbo_json_number(j, "q_mean", p->varia.mean);
        elbo_json_number(j, "q_sd", p->varia.sd);
        elbo_json_number(j, "q_kl", p->varia.kl);
        elbo_json_number(j, "moment_mean", p->moment.mean);
        elbo_json_number(j, "moment_sd", p->moment.sd);
        elbo_json_number(j, "moment_kl", p->moment.kl);
        elbo_json_end_object(j);
        snprintf(key, sizeof key, "%s_modes", names[c]); /* flat copies for scripts and sweeps */
        elbo_json_int(j, key, p->modes);
        snprintf(key, sizeof key, "%s_q_kl", names[c]);
        elbo_json_number(j, key, p->varia.kl);
        snprintf(key, sizeof key, "%s_moment_kl", names[c]);
        elbo_json_number(j, key, p->moment.kl);
    }
    {
        double *tab = drv_alloc(&cli, (size_t)nz * 5, sizeof(double));
        for (int k = 0; k < nz; k++) {
            double *row = tab + (size_t)k * 5;
            row[0] = z[k], row[1] = fz[2 * k], row[2] = fz[2 * k + 1];
            row[3] = pm.dens[k] * step, row[4] = pu.dens[k] * step; /* normalised to sum to one, as the notebook */
        }
        static const char *const h[5] = {"z", "f1", "f2", "posterior_multimodal", "posterior_unimodal"};
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "posterior.csv"), h, tab, (size_t)nz, 5), "posterior.csv");
        free(tab);
    }

    /* ---- figure: fig 17.2 (curve, likelihood slice, Pr(x)); fig 17.3 (samples);
     *      fig 17.7-17.8 (posteriors) ---- */
    elbo_svg *fig = elbo_svg_new(3, 2);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    elbo_plot_title(pl, "f(z) in x-space, opacity Pr(z)");
    elbo_plot_xlabel(pl, "x1");
    elbo_plot_ylabel(pl, "x2");
    elbo_plot_xlim(pl, -0.5, 2.5);
    elbo_plot_ylim(pl, -1.5, 1.5);
    double *bx = drv_alloc(&cli, (size_t)nz, sizeof(double)), *by = drv_alloc(&cli, (size_t)nz, sizeof(double));
    for (int level = 0; level < 8; level++) { /* eight opacity bands of Pr(z) */
        size_t n = 0;
        for (int k = 0; k < nz; k++) {
            int l = (int)(8 * npdf(z[k], 0, 1) / npdf(0, 0, 1));
            if ((l > 7 ? 7 : l) == level)
                bx[n] = fz[2 * k], by[n++] = fz[2 * k + 1];
        }
        elbo_plot_scatter(pl, bx, by, n, &(elbo_style){.color = 0x00A6C8, .color_set = true, .alpha = (level + 0.5) / 8, .size = 2});
    }
    pl = elbo_svg_panel(fig, 1);
    char title[96];
    snprintf(title, sizeof title, "likelihood Pr(x | z = %g)", z_slice);
    elbo_plot_title(pl, title);
    elbo_plot_xlabel(pl, "x1");
    elbo_plot_ylabel(pl, "x2");
    elbo_plot_heatmap(pl, lik, n1, n2, -0.5, -0.5 + n1 * step, -1.5, -1.5 + n2 * step, 0, 0, NULL);
    pl = elbo_svg_panel(fig, 2);
    snprintf(title, sizeof title, "Pr(x) and %d ancestral samples", n_samples);
    elbo_plot_title(pl, title);
    elbo_plot_xlabel(pl, "x1");
    elbo_plot_ylabel(pl, "x2");
    elbo_plot_heatmap(pl, job.px, n1, n2, -0.5, -0.5 + n1 * step, -1.5, -1.5 + n2 * step, 0, 0, NULL);
    double *ax = drv_alloc(&cli, (size_t)n_samples + 1, sizeof(double)), *ay = drv_alloc(&cli, (size_t)n_samples + 1, sizeof(double));
    for (int s = 0; s < n_samples; s++)
        ax[s] = sx[2 * s], ay[s] = sx[2 * s + 1];
    elbo_plot_scatter(pl, ax, ay, (size_t)n_samples, &(elbo_style){.color = 0xFFFFFF, .color_set = true, .size = 1.6, .alpha = 0.8});
    double mx[2] = {pm.x[0], pu.x[0]}, my[2] = {pm.x[1], pu.x[1]};
    elbo_plot_scatter(pl, mx, my, 2, &(elbo_style){.color = 0xD55E00, .color_set = true, .marker = ELBO_MARKER_CROSS, .size = 5});

    pl = elbo_svg_panel(fig, 3);
    elbo_plot_title(pl, "f1(z), f2(z) and the prior");
    elbo_plot_xlabel(pl, "z");
    for (int k = 0; k < nz; k++)
        bx[k] = fz[2 * k], by[k] = fz[2 * k + 1];
    elbo_plot_line(pl, z, bx, (size_t)nz, &(elbo_style){.label = "f1(z)"});
    elbo_plot_line(pl, z, by, (size_t)nz, &(elbo_style){.label = "f2(z)"});
    for (int k = 0; k < nz; k++)
        bx[k] = npdf(z[k], 0, 1);
    elbo_plot_line(pl, z, bx, (size_t)nz, &(elbo_style){.label = "Pr(z)", .color = 0x999999, .color_set = true, .dash = ELBO_DASH_DOTTED});
    elbo_plot_legend(pl, ELBO_LEGEND_BOTTOM_LEFT);
    snprintf(title, sizeof title, "fig 17.8b: x* = (%g, %g)", pm.x[0], pm.x[1]);
    plot_posterior(elbo_svg_panel(fig, 4), title, z, nz, &pm, &model, bx);
    snprintf(title, sizeof title, "fig 17.8a: x* = (%g, %g)", pu.x[0], pu.x[1]);
    plot_posterior(elbo_svg_panel(fig, 5), title, z, nz, &pu, &model, bx);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "nlvm.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{px_grid.csv,samples.csv,posterior.csv,nlvm.svg,summary.json}\n", cli.out);
    free(z), free(fz), free(wz), free(job.px), free(lik), free(sz), free(sx), free(pm.dens), free(pu.dens), free(bx),
        free(by), free(ax), free(ay);
    return 0;
}
