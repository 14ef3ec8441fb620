/* Notebook 17.3 and section 17.8.1: importance sampling against plain Monte Carlo.
 *
 * Part 1 (the notebook, exactly): y ~ Pr(y) = Norm(0, 1),
 *   f1(y) = exp(-(y-1)^4),  f2(y) = 20.446 exp(-(y-3)^4).
 * E[f1] and E[f2] by plain Monte Carlo with 10^8 samples; then for each
 * sample count, 10000 repeated estimates (mean, variance; a +-2 sd band on a
 * log-x axis, true value dashed). f2 lives where Pr(y) has little mass, so
 * plain MC is noisy; importance sampling from q(y) = Norm(3, 1) with weights
 * Pr(y)/q(y) = exp(4.5 - 3y) cuts the variance by more than an order of
 * magnitude. The "true" values come from quadrature (Simpson, 1e-12 accurate),
 * and so do the per-sample variances, which predict the table as var/n.
 *
 * Part 2 (section 17.8.1): Pr(x*) of the nonlinear latent variable model of
 * notebook 17.1 by sampling z from the prior (eq. 17.27) against importance
 * sampling from a Gaussian fitted to the posterior (eq. 17.28), both against
 * the exact value from a fine z grid; and the ELBO <= IWAE-K <= log Pr(x*)
 * ladder for growing K. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "models/mog/nlvm.h"
#include "summary.h"

#define MAX_COUNTS 128
#define SQRT_2PI 2.5066282746310002

static double n_big, is_mean, is_sd, f2_scale;
static int reps, nlvm_reps;
static const char *counts_text, *nlvm_x_text, *nlvm_xm_text;

static const elbo_opt opts[] = {
    {"n-big", ELBO_OPT_DOUBLE, &n_big, "1e8", "samples of the single large estimates", .min = 1, .max = 1e10},
    {"counts", ELBO_OPT_STRING, &counts_text,
     "1,2,3,4,5,6,7,8,9,10,15,20,25,30,45,50,60,70,80,90,100,150,200,250,300,350,400,450,500",
     "samples per estimate in the tables", .choices = NULL},
    {"reps", ELBO_OPT_INT, &reps, "10000", "repeated estimates per sample count", .min = 2, .max = 10000000},
    {"is-mean", ELBO_OPT_DOUBLE, &is_mean, "3", "mean of the proposal q(y)", .min = -10, .max = 10},
    {"is-sd", ELBO_OPT_DOUBLE, &is_sd, "1", "standard deviation of the proposal q(y)", .min = 0.05, .max = 10},
    {"f2-scale", ELBO_OPT_DOUBLE, &f2_scale, "20.446", "constant in f2(y) = c exp(-(y-3)^4)", .min = 0, .max = 1e6},
    {"nlvm-x", ELBO_OPT_STRING, &nlvm_x_text, "1.3,-0.1",
     "section 17.8.1: x* of the notebook-17.1 model with a unimodal posterior", .choices = NULL},
    {"nlvm-x-multi", ELBO_OPT_STRING, &nlvm_xm_text, "0.9,-0.9",
     "section 17.8.1: x* with a multimodal posterior (a Gaussian q misses modes)", .choices = NULL},
    {"nlvm-reps", ELBO_OPT_INT, &nlvm_reps, "300", "section 17.8.1: repeated estimates per sample count", .min = 2,
     .max = 1000000},
};

static double f1(double y)
{
    double d = y - 1;
    d *= d;
    return exp(-d * d);
}

static double f2(double y)
{
    double d = y - 3;
    d *= d;
    return f2_scale * exp(-d * d);
}

static double npdf(double y, double m, double s)
{
    double t = (y - m) / s;
    return exp(-0.5 * t * t) / (s * SQRT_2PI);
}

/* Simpson's rule over [-15, 18] (all integrands here vanish well inside). */
static double simpson(double (*g)(double, const void *), const void *ctx)
{
    const double a = -15, b = 18;
    const int n = 330000; /* even */
    double h = (b - a) / n, s = g(a, ctx) + g(b, ctx);
    for (int i = 1; i < n; i++)
        s += (i & 1 ? 4 : 2) * g(a + i * h, ctx);
    return s * h / 3;
}

/* Integrands: mode 0 f1 p, 1 f2 p, 2 f1^2 p, 3 f2^2 p, 4 (f2 p)^2 / q. */
static double integrand(double y, const void *ctx)
{
    int mode = *(const int *)ctx;
    double p = npdf(y, 0, 1);
    switch (mode) {
    case 0: return f1(y) * p;
    case 1: return f2(y) * p;
    case 2: return f1(y) * f1(y) * p;
    case 3: return f2(y) * f2(y) * p;
    default: {
        double q = npdf(y, is_mean, is_sd);
        return q > 0 ? f2(y) * f2(y) * p * p / q : 0;
    }
    }
}

static double quad(int mode) { return simpson(integrand, &mode); }

/* Estimators. A sample from Pr gives f1 and f2 (plain MC); a sample from q
 * gives f2 Pr/q (importance sampling). */
enum { E_F1, E_F2, E_IS, NEST };

static double sample_value(int which, double eps)
{
    if (which == E_IS) {
        double y = is_mean + is_sd * eps;
        /* Pr(y)/q(y) in closed form: exp(-y^2/2 + eps^2/2) sd. */
        return f2(y) * is_sd * exp(0.5 * (eps * eps - y * y));
    }
    return which == E_F1 ? f1(eps) : f2(eps);
}

static void big_block(void *ctx, elbo_rng *r, unsigned n, double *acc)
{
    int which = *(const int *)ctx;
    double eps[MC_CHUNK], a = 0, a2 = 0, b = 0, b2 = 0;
    mc_normals(r, eps, n);
    for (unsigned i = 0; i < n; i++) {
        double u = sample_value(which, eps[i]);
        a += u, a2 += u * u;
        if (which == E_F1) { /* the plain-MC pass also estimates E[f2] from the same y */
            double v = f2(eps[i]);
            b += v, b2 += v * v;
        }
    }
    acc[0] += a, acc[1] += a2, acc[2] += b, acc[3] += b2;
}

typedef struct rep_ctx {
    int which, n;
} rep_ctx;

static double rep_estimate(void *ctx, elbo_rng *r, int rep)
{
    (void)rep;
    const rep_ctx *c = ctx;
    double eps[MC_CHUNK], s = 0;
    for (int i = 0; i < c->n; i += MC_CHUNK) {
        unsigned k = (unsigned)(c->n - i < (int)MC_CHUNK ? c->n - i : (int)MC_CHUNK);
        mc_normals(r, eps, k);
        for (unsigned t = 0; t < k; t++)
            s += sample_value(c->which, eps[t]);
    }
    return s / c->n;
}

static void plot_table(elbo_plot *p, const char *title, const double *counts, const double *mean,
                       const double *var, int n, double truth, uint32_t color)
{
    double lo[MAX_COUNTS], hi[MAX_COUNTS];
    for (int i = 0; i < n; i++)
        lo[i] = mean[i] - 2 * sqrt(var[i]), hi[i] = mean[i] + 2 * sqrt(var[i]);
    elbo_plot_title(p, title);
    elbo_plot_xlabel(p, "number of samples");
    elbo_plot_ylabel(p, "estimate");
    elbo_plot_logx(p, true);
    elbo_style band = elbo_style_color(color, "+-2 sd");
    band.width = -1;
    elbo_plot_fill(p, counts, lo, hi, (size_t)n, 0, &band);
    elbo_style line = elbo_style_color(color, "mean of estimates");
    elbo_plot_line(p, counts, mean, (size_t)n, &line);
    elbo_plot_hline(p, truth, &(elbo_style){.label = "true value", .color = 0, .color_set = true,
                                            .dash = ELBO_DASH_DASHED});
}

/* Part 2 lives in nlvm_part(); see the bottom of the file. */
static void nlvm_part(const elbo_cli *cli, elbo_json *j);

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "importance_sampling",
                  "Notebook 17.3 / section 17.8.1: importance sampling vs plain Monte Carlo.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    double counts[MAX_COUNTS];
    int nc = drv_list(&cli, "counts", counts_text, counts, MAX_COUNTS);
    for (int i = 0; i < nc; i++)
        if (counts[i] < 1 || counts[i] > 1e7 || counts[i] != floor(counts[i]))
            drv_usage_error(&cli, "--counts: expected whole numbers in 1..1e7");
    uint64_t nb = (uint64_t)llround(cli.quick && n_big > 1e6 ? 1e6 : n_big);
    int nrep = cli.quick && reps > 1000 ? 1000 : reps;

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;

    /* Ground truth and per-sample variances by quadrature. */
    double t1 = quad(0), t2 = quad(1);
    double v1 = quad(2) - t1 * t1, v2 = quad(3) - t2 * t2, vis = quad(4) - t2 * t2;
    printf("quadrature: E[f1] = %.8f, E[f2] = %.8f; per-sample variance f1 %.5f, f2 %.5f, f2 IS %.5f\n", t1, t2,
           v1, v2, vis);

    /* The notebook's single large estimates. */
    double s[4];
    int which = E_F1;
    if (mc_sums(cli.seed, 1, nb, 4, big_block, &which, s) != 0)
        drv_check(&cli, ELBO_ERR_NOMEM, "sampling");
    double m1 = s[0] / (double)nb, m2 = s[2] / (double)nb;
    which = E_IS;
    double si[4];
    if (mc_sums(cli.seed, 2, nb, 4, big_block, &which, si) != 0)
        drv_check(&cli, ELBO_ERR_NOMEM, "sampling");
    double mi = si[0] / (double)nb;
    printf("plain MC with %llu samples: E[f1] = %.6f, E[f2] = %.6f; importance sampling: E[f2] = %.6f\n",
           (unsigned long long)nb, m1, m2, mi);
    elbo_json_number(j, "true_f1", t1);
    elbo_json_number(j, "true_f2", t2);
    elbo_json_number(j, "mc_big_f1", m1);
    elbo_json_number(j, "mc_big_f2", m2);
    elbo_json_number(j, "is_big_f2", mi);
    elbo_json_number(j, "n_big", (double)nb);
    elbo_json_number(j, "per_sample_var_f1", v1);
    elbo_json_number(j, "per_sample_var_f2", v2);
    elbo_json_number(j, "per_sample_var_f2_is", vis);

    /* The tables: reps estimates per count for f1 (MC), f2 (MC), f2 (IS).
     * Plain MC of f1 and f2 share their draws (same stream), as in the notebook. */
    double mean[NEST][MAX_COUNTS], var[NEST][MAX_COUNTS];
    double *est = drv_alloc(&cli, (size_t)nrep, sizeof(double));
    double *tab = drv_alloc(&cli, (size_t)nc * 10, sizeof(double));
    printf("%6s | %10s %10s | %10s %10s | %10s %10s | %8s\n", "n", "f1 mean", "f1 var", "f2 mean", "f2 var",
           "IS mean", "IS var", "MC/IS");
    double min_ratio = INFINITY;
    for (int c = 0; c < nc; c++) {
        for (int e = 0; e < NEST; e++) {
            rep_ctx rc = {e, (int)counts[c]};
            mc_reps(cli.seed, (e == E_IS ? 20000 : 10000) + (uint64_t)c, nrep, rep_estimate, &rc, est);
            mc_mean_var(est, nrep, &mean[e][c], &var[e][c]);
        }
        double ratio = var[E_F2][c] / var[E_IS][c];
        min_ratio = fmin(min_ratio, ratio);
        double row[10] = {counts[c], mean[E_F1][c], var[E_F1][c], mean[E_F2][c], var[E_F2][c],
                          mean[E_IS][c], var[E_IS][c], v2 / counts[c], vis / counts[c], ratio};
        memcpy(tab + (size_t)c * 10, row, sizeof row);
        printf("%6.0f | %10.5f %10.5f | %10.5f %10.5f | %10.5f %10.5f | %8.1f\n", counts[c], mean[E_F1][c],
               var[E_F1][c], mean[E_F2][c], var[E_F2][c], mean[E_IS][c], var[E_IS][c], ratio);
    }
    static const char *const hdr[10] = {"samples", "f1_mean", "f1_var", "f2_mean", "f2_var", "f2_is_mean",
                                        "f2_is_var", "f2_pred_var", "f2_is_pred_var", "var_ratio_mc_over_is"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "table.csv"), hdr, tab, (size_t)nc, 10), "table.csv");
    elbo_json_int(j, "reps", nrep);
    elbo_json_number(j, "var_ratio_mc_over_is_min", min_ratio);
    elbo_json_number(j, "var_ratio_per_sample", v2 / vis);
    /* Largest |mean of estimates - truth| in units of its standard error. */
    double worst = 0;
    for (int c = 0; c < nc; c++) {
        worst = fmax(worst, fabs(mean[E_F1][c] - t1) / sqrt(var[E_F1][c] / nrep));
        worst = fmax(worst, fabs(mean[E_IS][c] - t2) / sqrt(var[E_IS][c] / nrep));
    }
    elbo_json_number(j, "table_max_abs_z", worst);
    printf("variance ratio plain MC / IS for f2: per sample %.1f, smallest over the table %.1f\n", v2 / vis,
           min_ratio);

    /* Figures: the functions and densities; the three tables. */
    elbo_svg *fig = elbo_svg_new(2, 2);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    enum { NG = 601 };
    double gx[NG], gp[NG], gq[NG], g1[NG], g2[NG];
    for (int i = 0; i < NG; i++) {
        double y = -3 + 9.0 * i / (NG - 1);
        gx[i] = y, gp[i] = npdf(y, 0, 1), gq[i] = npdf(y, is_mean, is_sd), g1[i] = f1(y), g2[i] = f2(y) / f2_scale;
    }
    elbo_plot *p = elbo_svg_panel(fig, 0);
    elbo_plot_title(p, "densities and functions");
    elbo_plot_xlabel(p, "y");
    elbo_plot_line(p, gx, gp, NG, &(elbo_style){.label = "Pr(y) = Norm(0,1)", .color = 0, .color_set = true});
    elbo_plot_line(p, gx, gq, NG, &(elbo_style){.label = "q(y)", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED});
    elbo_plot_line(p, gx, g1, NG, &(elbo_style){.label = "f1(y)"});
    elbo_plot_line(p, gx, g2, NG, &(elbo_style){.label = "f2(y) / 20.446"});
    elbo_plot_legend(p, ELBO_LEGEND_TOP_LEFT);
    plot_table(elbo_svg_panel(fig, 1), "f1: plain Monte Carlo", counts, mean[E_F1], var[E_F1], nc, t1, elbo_palette(0));
    plot_table(elbo_svg_panel(fig, 2), "f2: plain Monte Carlo", counts, mean[E_F2], var[E_F2], nc, t2, elbo_palette(1));
    plot_table(elbo_svg_panel(fig, 3), "f2: importance sampling, q = Norm(3,1)", counts, mean[E_IS], var[E_IS], nc,
               t2, elbo_palette(2));
    /* Same y range for both f2 panels so the narrower band is visible at a glance. */
    double ylo = t2 - 2.5 * sqrt(var[E_F2][0]), yhi = t2 + 2.5 * sqrt(var[E_F2][0]);
    elbo_plot_ylim(elbo_svg_panel(fig, 2), ylo, yhi);
    elbo_plot_ylim(elbo_svg_panel(fig, 3), ylo, yhi);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "importance_sampling.svg")), "svg");
    elbo_svg_free(fig);

    nlvm_part(&cli, j);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{table.csv,importance_sampling.svg,summary.json}\n", cli.out);
    free(est), free(tab);
    return 0;
}

/* log w = log Pr(x|z) + log Pr(z) - log q(z) for z ~ q = Norm(m, sd^2): the
 * importance weight of (17.28); mean_k w_k is the IWAE-K bound's argument. */
static double log_weights(const elbo_cli *cli, const nlvm *model, const double *x, double m, double sd, elbo_rng *r,
                          int k, double *z, double *lw)
{
    for (int i = 0; i < k; i++)
        z[i] = m + sd * elbo_rng_normal(r);
    drv_check(cli, nlvm_log_lik(model, x, z, (size_t)k, lw), "likelihood");
    double mx = -INFINITY;
    for (int i = 0; i < k; i++) {
        double e = (z[i] - m) / sd;
        lw[i] += -0.5 * z[i] * z[i] + 0.5 * e * e + log(sd);
        mx = fmax(mx, lw[i]);
    }
    double s = 0; /* log mean exp */
    for (int i = 0; i < k; i++)
        s += exp(lw[i] - mx);
    return mx + log(s / k);
}

/* One x*: Pr(x*) by prior sampling and by IS, and the IWAE-K ladder, into
 * figure row `row`; summary keys start with `pre`. */
static void nlvm_point(const elbo_cli *cli, elbo_json *j, const double *x, const char *pre, elbo_svg *fig, int row)
{
    char key[96];
#define KEY(s) (snprintf(key, sizeof key, "%s%s", pre, s), key)
    int R = cli->quick && nlvm_reps > 60 ? 60 : nlvm_reps;
    nlvm model;
    nlvm_init_notebook(&model);
    enum { NG = 16001 };
    double *z = drv_alloc(cli, NG, sizeof(double)), *dens = drv_alloc(cli, NG, sizeof(double)), log_px;
    drv_check(cli, nlvm_posterior_grid(&model, x, -8, 8, NG, z, dens, &log_px), "posterior grid");
    nlvm_gauss1 mom, var;
    drv_check(cli, nlvm_posterior_gauss(&model, x, log_px, z, dens, NG, &mom, &var), "closest Gaussian");
    double px = exp(log_px);
    printf("\nsection 17.8.1: Pr(x*) of the notebook-17.1 model at x* = (%g, %g): exact (grid) %.6f, log %.5f\n", x[0],
           x[1], px, log_px);
    printf("  proposals: moment match N(%.3f, %.3f^2) (covers every mode), variational N(%.3f, %.3f^2) (one mode)\n",
           mom.mean, mom.sd, var.mean, var.sd);

    /* Pr(x*) estimates: prior sampling (17.27) vs importance sampling (17.28). */
    static const int counts[] = {2, 10, 100, 1000, 10000}; /* the library needs N >= 2 for its SE */
    enum { NC = 5 };
    int nc = cli->quick ? 4 : NC;
    double tab[NC][7];
    double *e1 = drv_alloc(cli, (size_t)R, sizeof(double)), *e2 = drv_alloc(cli, (size_t)R, sizeof(double));
    double *e3 = drv_alloc(cli, (size_t)R, sizeof(double));
    printf("  %6s | %12s %12s | %12s %12s | %12s %12s\n", "N", "prior mean", "prior var", "IS mean", "IS var",
           "IS(var.) mean", "IS(var.) var");
    for (int c = 0; c < nc; c++) {
        for (int r = 0; r < R; r++) {
            elbo_rng g;
            nlvm_estimate est;
            mc_rng(&g, cli->seed, 30000 + (uint64_t)c, (uint64_t)r);
            drv_check(cli, nlvm_px_mc(&model, x, (size_t)counts[c], &g, &est), "prior sampling");
            e1[r] = est.p;
            drv_check(cli, nlvm_px_is(&model, x, &mom.mean, &mom.sd, (size_t)counts[c], &g, &est), "IS");
            e2[r] = est.p;
            /* A proposal that never reaches some mode can leave all weights ~0: count it as 0. */
            elbo_status st = nlvm_px_is(&model, x, &var.mean, &var.sd, (size_t)counts[c], &g, &est);
            if (st != ELBO_OK && st != ELBO_ERR_NONFINITE)
                drv_check(cli, st, "IS");
            e3[r] = st == ELBO_OK ? est.p : 0;
        }
        double row[7] = {counts[c]};
        mc_mean_var(e1, R, &row[1], &row[2]);
        mc_mean_var(e2, R, &row[3], &row[4]);
        mc_mean_var(e3, R, &row[5], &row[6]);
        memcpy(tab[c], row, sizeof row);
        printf("  %6d | %12.6f %12.4g | %12.6f %12.4g | %12.6f %12.4g\n", counts[c], row[1], row[2], row[3], row[4],
               row[5], row[6]);
    }
    static const char *const h[7] = {"samples", "prior_mean", "prior_var", "is_moment_mean", "is_moment_var",
                                     "is_variational_mean", "is_variational_var"};
    char fname[64];
    snprintf(fname, sizeof fname, "%spx.csv", pre);
    drv_check(cli, elbo_csv_write(drv_path(cli, fname), h, &tab[0][0], (size_t)nc, 7), fname);
    int ref = nc > 2 ? 2 : nc - 1; /* N = 100 */
    elbo_json_numbers(j, KEY("x_star"), x, 2);
    elbo_json_number(j, KEY("px_exact"), px);
    elbo_json_number(j, KEY("log_px_exact"), log_px);
    elbo_json_number(j, KEY("var_prior"), tab[ref][2]);
    elbo_json_number(j, KEY("var_is"), tab[ref][6]);
    elbo_json_number(j, KEY("var_is_moment_q"), tab[ref][4]);
    elbo_json_number(j, KEY("var_ratio_prior_over_is"), tab[ref][2] / tab[ref][6]);
    elbo_json_number(j, KEY("is_mean_rel_error"), fabs(tab[nc - 1][5] - px) / px);

    /* ELBO <= IWAE-K <= log Pr(x*): E[log mean_k w_k] for both proposals. */
    static const int ks[] = {1, 2, 5, 10, 100, 1000};
    enum { NK = 6 };
    int nk = cli->quick ? 5 : NK;
    double kt[NK][3];
    double *zb = drv_alloc(cli, 1000, sizeof(double)), *lw = drv_alloc(cli, 1000, sizeof(double));
    printf("  %6s %14s %14s   (exact log Pr(x*) %.5f)\n", "K", "IWAE-K (mom.)", "IWAE-K (var.)", log_px);
    for (int c = 0; c < nk; c++) {
        int reps = ks[c] >= 100 ? R : 10 * R;
        double s1 = 0, s2 = 0;
        for (int r = 0; r < reps; r++) {
            elbo_rng g;
            mc_rng(&g, cli->seed, 40000 + (uint64_t)c, (uint64_t)r);
            s1 += log_weights(cli, &model, x, mom.mean, mom.sd, &g, ks[c], zb, lw);
            s2 += log_weights(cli, &model, x, var.mean, var.sd, &g, ks[c], zb, lw);
        }
        kt[c][0] = ks[c], kt[c][1] = s1 / reps, kt[c][2] = s2 / reps;
        printf("  %6d %14.5f %14.5f%s\n", ks[c], kt[c][1], kt[c][2], ks[c] == 1 ? "   <- the ELBO" : "");
    }
    static const char *const kh[3] = {"K", "iwae_moment_q", "iwae_variational_q"};
    snprintf(fname, sizeof fname, "%siwae.csv", pre);
    drv_check(cli, elbo_csv_write(drv_path(cli, fname), kh, &kt[0][0], (size_t)nk, 3), fname);
    elbo_json_number(j, KEY("elbo"), kt[0][2]);
    elbo_json_number(j, KEY("elbo_moment_q"), kt[0][1]);
    elbo_json_number(j, KEY("iwae_max_k"), kt[nk - 1][2]);
    elbo_json_number(j, KEY("iwae_max_k_moment_q"), kt[nk - 1][1]);
    elbo_json_int(j, KEY("max_k"), ks[nk - 1]);

    char title[128];
    elbo_plot *pl = elbo_svg_panel(fig, 2 * row);
    snprintf(title, sizeof title, "Pr(x*), x* = (%g, %g): estimates +- 2 sd", x[0], x[1]);
    elbo_plot_title(pl, title);
    elbo_plot_xlabel(pl, "samples");
    elbo_plot_logx(pl, true);
    double cx[NC], m1[NC], l1[NC], h1[NC], m2[NC], l2[NC], h2[NC];
    for (int c = 0; c < nc; c++) {
        cx[c] = tab[c][0];
        m1[c] = tab[c][1], l1[c] = m1[c] - 2 * sqrt(tab[c][2]), h1[c] = m1[c] + 2 * sqrt(tab[c][2]);
        m2[c] = tab[c][5], l2[c] = m2[c] - 2 * sqrt(tab[c][6]), h2[c] = m2[c] + 2 * sqrt(tab[c][6]);
    }
    elbo_style a = elbo_style_color(elbo_palette(0), "z from the prior (17.27)");
    elbo_style b = elbo_style_color(elbo_palette(1), "IS, q = variational Gaussian (17.28)");
    elbo_style ab = a, bb = b;
    ab.label = bb.label = NULL, ab.width = bb.width = -1;
    elbo_plot_fill(pl, cx, l1, h1, (size_t)nc, 0, &ab);
    elbo_plot_fill(pl, cx, l2, h2, (size_t)nc, 0, &bb);
    elbo_plot_line(pl, cx, m1, (size_t)nc, &a);
    elbo_plot_line(pl, cx, m2, (size_t)nc, &b);
    elbo_plot_hline(pl, px, &(elbo_style){.label = "exact", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED});
    elbo_plot_ylim(pl, 0, 3 * px);
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_RIGHT);
    pl = elbo_svg_panel(fig, 2 * row + 1);
    elbo_plot_title(pl, "ELBO (K=1) <= IWAE-K <= log Pr(x*)");
    elbo_plot_xlabel(pl, "K");
    elbo_plot_logx(pl, true);
    double kx[NK], k1[NK], k2[NK];
    for (int c = 0; c < nk; c++)
        kx[c] = kt[c][0], k1[c] = kt[c][1], k2[c] = kt[c][2];
    elbo_plot_line(pl, kx, k2, (size_t)nk, &(elbo_style){.label = "q variational (one mode)"});
    elbo_plot_scatter(pl, kx, k2, (size_t)nk, &(elbo_style){.color = elbo_palette(0), .color_set = true});
    elbo_plot_line(pl, kx, k1, (size_t)nk, &(elbo_style){.label = "q moment match"});
    elbo_plot_scatter(pl, kx, k1, (size_t)nk, &(elbo_style){.color = elbo_palette(1), .color_set = true});
    elbo_plot_hline(pl, log_px, &(elbo_style){.label = "log Pr(x*) exact", .color = 0, .color_set = true,
                                              .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(pl, ELBO_LEGEND_BOTTOM_RIGHT);
    free(z), free(dens), free(e1), free(e2), free(e3), free(zb), free(lw);
#undef KEY
}

static void nlvm_part(const elbo_cli *cli, elbo_json *j)
{
    double x[2], xm[2];
    if (drv_list(cli, "nlvm-x", nlvm_x_text, x, 2) != 2 || drv_list(cli, "nlvm-x-multi", nlvm_xm_text, xm, 2) != 2)
        drv_usage_error(cli, "--nlvm-x / --nlvm-x-multi: expected two numbers x1,x2");
    elbo_svg *fig = elbo_svg_new(2, 2);
    if (!fig)
        drv_check(cli, ELBO_ERR_NOMEM, "figure");
    nlvm_point(cli, j, x, "nlvm_", fig, 0);
    nlvm_point(cli, j, xm, "nlvm_multi_", fig, 1);
    printf("  (multimodal x*: the variational q sits on one mode, so IS with it and its IWAE-K level off near the\n"
           "   log of the mass it covers; the broad moment match converges to log Pr(x*) but needs large K)\n");
    drv_check(cli, elbo_svg_save(fig, drv_path(cli, "nlvm_likelihood.svg")), "svg");
    elbo_svg_free(fig);
}
