/* Notebook 17.2 and problem 17.5: the reparameterization trick against the
 * score-function (REINFORCE) estimator of d/dphi E[f(x)].
 *
 *   x ~ Pr(x|phi) = Norm(mu = phi^3, sigma = exp(phi)),  f(x) = x^2 + sin(x)
 *   reparam:   x = phi^3 + exp(phi) eps,  grad = f'(x) (eps exp(phi) + 3 phi^2)
 *   REINFORCE: grad = f(x) d/dphi log Pr(x|phi)
 *            = f(x) (-1 + (3 phi^2 (x-mu) + (x-mu)^2) / exp(2 phi))
 *
 * Both are unbiased; the point of the notebook is their variance. Closed
 * forms exist because E[x^2] = mu^2 + sigma^2 and E[sin x] = sin(mu) e^{-sigma^2/2}:
 *   E(phi)     = phi^6 + e^{2phi} + sin(phi^3) e^{-e^{2phi}/2}
 *   dE/dphi    = 6 phi^5 + 2 e^{2phi} + e^{-e^{2phi}/2} (3 phi^2 cos(phi^3) - e^{2phi} sin(phi^3)) */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "summary.h"

#define MAX_COUNTS 64

static double n_expect, n_reparam, n_reinforce, n_curve, phi_a, phi_b, phi_grad, phi_min, phi_max, phi_step,
    var_phi;
static int var_reps, var_samples, count_reps;
static const char *counts_text;

static const elbo_opt opts[] = {
    {"phi-a", ELBO_OPT_DOUBLE, &phi_a, "0.5", "first phi for the E[f] estimate", .min = -3, .max = 3},
    {"phi-b", ELBO_OPT_DOUBLE, &phi_b, "-0.1", "second phi for the E[f] estimate", .min = -3, .max = 3},
    {"n-expect", ELBO_OPT_DOUBLE, &n_expect, "1e7", "samples per E[f] estimate", .min = 1, .max = 1e10},
    {"phi-grad", ELBO_OPT_DOUBLE, &phi_grad, "0.5", "phi of the single gradient estimates", .min = -3, .max = 3},
    {"n-reparam", ELBO_OPT_DOUBLE, &n_reparam, "1e7", "samples of the reparameterized gradient", .min = 1,
     .max = 1e10},
    {"n-reinforce", ELBO_OPT_DOUBLE, &n_reinforce, "1e8", "samples of the REINFORCE gradient", .min = 1,
     .max = 1e10},
    {"phi-min", ELBO_OPT_DOUBLE, &phi_min, "-1.5", "curve: first phi", .min = -3, .max = 3},
    {"phi-max", ELBO_OPT_DOUBLE, &phi_max, "1.5", "curve: last phi", .min = -3, .max = 3},
    {"phi-step", ELBO_OPT_DOUBLE, &phi_step, "0.05", "curve: phi step", .min = 1e-3, .max = 6},
    {"n-curve", ELBO_OPT_DOUBLE, &n_curve, "1e6", "curve: samples per phi", .min = 1, .max = 1e9},
    {"var-phi", ELBO_OPT_DOUBLE, &var_phi, "0.3", "phi of the variance comparison", .min = -3, .max = 3},
    {"var-reps", ELBO_OPT_INT, &var_reps, "100", "variance comparison: repeated estimates", .min = 2, .max = 1000000},
    {"var-samples", ELBO_OPT_INT, &var_samples, "1000", "variance comparison: samples per estimate", .min = 1,
     .max = 100000000},
    {"counts", ELBO_OPT_STRING, &counts_text, "1,2,5,10,20,50,100,200,500,1000,2000,5000,10000",
     "variance table: samples per estimate", .choices = NULL},
    {"count-reps", ELBO_OPT_INT, &count_reps, "1000", "variance table: repeated estimates per count", .min = 2,
     .max = 1000000},
};

static double e_closed(double phi)
{
    double s2 = exp(2 * phi), m = phi * phi * phi;
    return m * m + s2 + sin(m) * exp(-0.5 * s2);
}

static double de_closed(double phi)
{
    double s2 = exp(2 * phi), m = phi * phi * phi;
    return 6 * pow(phi, 5) + 2 * s2 + exp(-0.5 * s2) * (3 * phi * phi * cos(m) - s2 * sin(m));
}

/* Per-sample statistics at one phi: sums of f, f^2, reparam, reparam^2, REINFORCE, REINFORCE^2. */
enum { S_F, S_F2, S_R, S_R2, S_S, S_S2, NSTAT };

static void stats_block(void *ctx, elbo_rng *r, unsigned n, double *acc)
{
    double phi = *(const double *)ctx, mu = phi * phi * phi, s = exp(phi), inv_s2 = 1.0 / (s * s);
    double b = 3 * phi * phi, eps[MC_CHUNK];
    mc_normals(r, eps, n);
    double a[NSTAT] = {0};
    for (unsigned i = 0; i < n; i++) {
        double x = mu + s * eps[i], d = x - mu;
        double f = x * x + sin(x);
        double gr = (2 * x + cos(x)) * (eps[i] * s + b);
        double gs = f * (-1 + (b * d + d * d) * inv_s2);
        a[S_F] += f, a[S_F2] += f * f, a[S_R] += gr, a[S_R2] += gr * gr, a[S_S] += gs, a[S_S2] += gs * gs;
    }
    for (int k = 0; k < NSTAT; k++)
        acc[k] += a[k];
}

typedef struct est {
    double mean, se, var1; /* estimate, its standard error, per-sample variance */
} est;

static est finish(const double *sums, int k, uint64_t n)
{
    double m = sums[k] / (double)n, v = n > 1 ? (sums[k + 1] - (double)n * m * m) / (double)(n - 1) : 0;
    return (est){m, sqrt(fmax(v, 0) / (double)n), fmax(v, 0)};
}

static void estimate(const elbo_cli *cli, uint64_t stream, double phi, uint64_t n, double sums[NSTAT])
{
    if (mc_sums(cli->seed, stream, n, NSTAT, stats_block, &phi, sums) != 0)
        drv_check(cli, ELBO_ERR_NOMEM, "sampling");
}

/* One repeated estimate from `samples` draws: the reparameterized or the
 * REINFORCE mean. Both use the same stream, so the two tables are paired. */
typedef struct rep_ctx {
    double phi;
    int samples, which; /* S_R or S_S */
} rep_ctx;

static double rep_estimate(void *ctx, elbo_rng *r, int rep)
{
    (void)rep;
    const rep_ctx *c = ctx;
    double sums[NSTAT] = {0};
    double phi = c->phi;
    for (int i = 0; i < c->samples; i += MC_CHUNK) {
        unsigned k = (unsigned)(c->samples - i < (int)MC_CHUNK ? c->samples - i : (int)MC_CHUNK);
        stats_block(&phi, r, k, sums);
    }
    return sums[c->which] / c->samples;
}

static void rep_variance(const elbo_cli *cli, uint64_t stream, double phi, int samples, int reps, double *est_r,
                         double *est_s, double *var_r, double *var_s)
{
    rep_ctx c = {phi, samples, S_R};
    double m;
    mc_reps(cli->seed, stream, reps, rep_estimate, &c, est_r);
    c.which = S_S;
    mc_reps(cli->seed, stream, reps, rep_estimate, &c, est_s);
    mc_mean_var(est_r, reps, &m, var_r);
    mc_mean_var(est_s, reps, &m, var_s);
}

static uint64_t cap(const elbo_cli *cli, double n, double quick)
{
    return (uint64_t)llround(cli->quick && n > quick ? quick : n);
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "reparam_vs_reinforce",
                  "Notebook 17.2 / problem 17.5: reparameterization vs REINFORCE gradient estimates.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    if (phi_max < phi_min)
        drv_usage_error(&cli, "--phi-max must be >= --phi-min");
    double counts[MAX_COUNTS];
    int ncounts = drv_list(&cli, "counts", counts_text, counts, MAX_COUNTS);
    for (int i = 0; i < ncounts; i++)
        if (counts[i] < 1 || counts[i] > 1e7 || counts[i] != floor(counts[i]))
            drv_usage_error(&cli, "--counts: expected whole numbers in 1..1e7");
    /* --quick: the same experiment with ~100x fewer samples. */
    uint64_t ne = cap(&cli, n_expect, 1e5), nr = cap(&cli, n_reparam, 1e5), ns = cap(&cli, n_reinforce, 1e6),
             nc = cap(&cli, n_curve, 1e4);
    int creps = cli.quick && count_reps > 200 ? 200 : count_reps;
    if (cli.quick && ncounts > 8)
        ncounts = 8; /* the small counts carry the story */

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    double s[NSTAT];

    /* E[f] at two phis (notebook: 10^7 samples each). */
    double phis[2] = {phi_a, phi_b};
    const char *keys[2] = {"expect_phi_a", "expect_phi_b"};
    for (int i = 0; i < 2; i++) {
        estimate(&cli, 1 + (uint64_t)i, phis[i], ne, s);
        est e = finish(s, S_F, ne);
        double c = e_closed(phis[i]);
        printf("E[f] at phi=%+.2f: MC %.6f +- %.6f (%llu samples), closed form %.6f\n", phis[i], e.mean, e.se,
               (unsigned long long)ne, c);
        elbo_json_begin_object(j, keys[i]);
        elbo_json_number(j, "phi", phis[i]);
        elbo_json_number(j, "mc", e.mean);
        elbo_json_number(j, "se", e.se);
        elbo_json_number(j, "closed", c);
        elbo_json_end_object(j);
    }

    /* The gradient at phi_grad: reparam with 10^7, REINFORCE with 10^8 samples. */
    double g_exact = de_closed(phi_grad);
    estimate(&cli, 3, phi_grad, nr, s);
    est gr = finish(s, S_R, nr);
    estimate(&cli, 4, phi_grad, ns, s);
    est gs = finish(s, S_S, ns);
    printf("dE/dphi at phi=%+.2f: closed form %.6f\n", phi_grad, g_exact);
    printf("  reparameterization %.6f +- %.6f (%llu samples, per-sample sd %.3f)\n", gr.mean, gr.se,
           (unsigned long long)nr, sqrt(gr.var1));
    printf("  REINFORCE          %.6f +- %.6f (%llu samples, per-sample sd %.3f)\n", gs.mean, gs.se,
           (unsigned long long)ns, sqrt(gs.var1));
    elbo_json_number(j, "grad_phi", phi_grad);
    elbo_json_number(j, "grad_closed", g_exact);
    elbo_json_number(j, "grad_reparam", gr.mean);
    elbo_json_number(j, "grad_reparam_se", gr.se);
    elbo_json_number(j, "grad_reinforce", gs.mean);
    elbo_json_number(j, "grad_reinforce_se", gs.se);
    elbo_json_number(j, "per_sample_var_reparam", gr.var1);
    elbo_json_number(j, "per_sample_var_reinforce", gs.var1);

    /* The curves over the phi grid, every estimator from the same samples per phi. */
    int nphi = (int)floor((phi_max - phi_min) / phi_step + 0.5) + 1;
    double *cv = drv_alloc(&cli, (size_t)nphi * 9, sizeof(double));
    double worst_z = 0; /* largest |estimate - closed| / se over the curves */
    for (int p = 0; p < nphi; p++) {
        double phi = phi_min + p * phi_step, *row = cv + (size_t)p * 9;
        estimate(&cli, 100 + (uint64_t)p, phi, nc, s);
        est e = finish(s, S_F, nc), a = finish(s, S_R, nc), b = finish(s, S_S, nc);
        double rowv[9] = {phi, e_closed(phi), e.mean, e.se, de_closed(phi), a.mean, a.se, b.mean, b.se};
        memcpy(row, rowv, sizeof rowv);
        worst_z = fmax(worst_z, fabs(e.mean - rowv[1]) / fmax(e.se, 1e-300));
        worst_z = fmax(worst_z, fabs(a.mean - rowv[4]) / fmax(a.se, 1e-300));
        worst_z = fmax(worst_z, fabs(b.mean - rowv[4]) / fmax(b.se, 1e-300));
    }
    static const char *const curve_hdr[9] = {"phi", "E_closed", "E_mc", "E_se", "dE_closed",
                                             "reparam", "reparam_se", "reinforce", "reinforce_se"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "curve.csv"), curve_hdr, cv, (size_t)nphi, 9), "curve.csv");
    elbo_json_number(j, "curve_max_abs_z", worst_z);
    printf("curves over phi in [%.2f, %.2f] (%d points, %llu samples each): worst |MC - closed| = %.2f SE\n",
           phi_min, phi_max, nphi, (unsigned long long)nc, worst_z);

    /* Notebook's variance comparison: var_reps estimates of var_samples samples each. */
    double *er = drv_alloc(&cli, (size_t)var_reps, sizeof(double));
    double *es = drv_alloc(&cli, (size_t)var_reps, sizeof(double));
    double vr, vs;
    rep_variance(&cli, 5, var_phi, var_samples, var_reps, er, es, &vr, &vs);
    printf("variance at phi=%.2f over %d estimates of %d samples: reparam %.4g, REINFORCE %.4g, ratio %.1f\n",
           var_phi, var_reps, var_samples, vr, vs, vs / vr);
    elbo_json_number(j, "var_phi", var_phi);
    elbo_json_number(j, "var_reparam", vr);
    elbo_json_number(j, "var_reinforce", vs);
    elbo_json_number(j, "var_ratio_reinforce_over_reparam", vs / vr);

    /* Beyond the notebook: variance against sample count, with the 1/n law
     * predicted from the per-sample variances at var_phi. */
    estimate(&cli, 6, var_phi, cap(&cli, 1e7, 1e5), s);
    est pr = finish(s, S_R, cap(&cli, 1e7, 1e5)), ps = finish(s, S_S, cap(&cli, 1e7, 1e5));
    double *tab = drv_alloc(&cli, (size_t)ncounts * 6, sizeof(double));
    double *tr = drv_alloc(&cli, (size_t)creps, sizeof(double)), *ts = drv_alloc(&cli, (size_t)creps, sizeof(double));
    printf("%8s %14s %14s %10s\n", "samples", "var reparam", "var REINFORCE", "ratio");
    double min_ratio = INFINITY;
    for (int c = 0; c < ncounts; c++) {
        double v1, v2;
        rep_variance(&cli, 1000 + (uint64_t)c, var_phi, (int)counts[c], creps, tr, ts, &v1, &v2);
        double row[6] = {counts[c], v1, v2, pr.var1 / counts[c], ps.var1 / counts[c], v2 / v1};
        memcpy(tab + (size_t)c * 6, row, sizeof row);
        min_ratio = fmin(min_ratio, row[5]);
        printf("%8.0f %14.6g %14.6g %10.1f\n", counts[c], v1, v2, v2 / v1);
    }
    static const char *const var_hdr[6] = {"samples", "var_reparam", "var_reinforce", "pred_reparam",
                                           "pred_reinforce", "ratio"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "variance.csv"), var_hdr, tab, (size_t)ncounts, 6),
              "variance.csv");
    elbo_json_number(j, "table_min_var_ratio", min_ratio);
    elbo_json_int(j, "table_reps", creps);

    /* Figures: E(phi); dE/dphi with both estimators (+-2 SE bands); the
     * repeated estimates at var_phi; variance against sample count. */
    elbo_svg *fig = elbo_svg_new(2, 2);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    double *x = drv_alloc(&cli, (size_t)nphi, sizeof(double)), *y = drv_alloc(&cli, (size_t)nphi * 6, sizeof(double));
    double *lo = y + nphi, *hi = y + 2 * nphi, *y2 = y + 3 * nphi, *lo2 = y + 4 * nphi, *hi2 = y + 5 * nphi;
    elbo_plot *p = elbo_svg_panel(fig, 0);
    elbo_plot_title(p, "E[f(x)], x ~ Norm(phi^3, exp(phi)^2)");
    elbo_plot_xlabel(p, "phi");
    for (int i = 0; i < nphi; i++)
        x[i] = cv[i * 9], y[i] = cv[i * 9 + 1], y2[i] = cv[i * 9 + 2];
    elbo_plot_line(p, x, y, (size_t)nphi, &(elbo_style){.label = "closed form", .color = 0, .color_set = true});
    elbo_plot_scatter(p, x, y2, (size_t)nphi, &(elbo_style){.label = "Monte Carlo"});
    elbo_plot_legend(p, ELBO_LEGEND_TOP_LEFT);

    p = elbo_svg_panel(fig, 1);
    elbo_plot_title(p, "dE/dphi: estimates +- 2 SE");
    elbo_plot_xlabel(p, "phi");
    for (int i = 0; i < nphi; i++) {
        const double *r = cv + i * 9;
        y[i] = r[4];
        lo[i] = r[5] - 2 * r[6], hi[i] = r[5] + 2 * r[6];
        lo2[i] = r[7] - 2 * r[8], hi2[i] = r[7] + 2 * r[8];
    }
    elbo_style sr = elbo_style_color(elbo_palette(0), "reparameterization"), ss = elbo_style_color(elbo_palette(1), "REINFORCE");
    elbo_style band_s = ss, band_r = sr;
    band_s.width = -1, band_r.width = -1, band_s.label = NULL, band_r.label = NULL;
    elbo_plot_fill(p, x, lo2, hi2, (size_t)nphi, 0, &band_s);
    elbo_plot_fill(p, x, lo, hi, (size_t)nphi, 0, &band_r);
    for (int i = 0; i < nphi; i++)
        y2[i] = cv[i * 9 + 7];
    elbo_plot_line(p, x, y2, (size_t)nphi, &ss);
    for (int i = 0; i < nphi; i++)
        y2[i] = cv[i * 9 + 5];
    elbo_plot_line(p, x, y2, (size_t)nphi, &sr);
    elbo_plot_line(p, x, y, (size_t)nphi,
                   &(elbo_style){.label = "closed form", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(p, ELBO_LEGEND_TOP_LEFT);

    p = elbo_svg_panel(fig, 2);
    char title[160];
    snprintf(title, sizeof title, "%d estimates of %d samples at phi=%.2f", var_reps, var_samples, var_phi);
    elbo_plot_title(p, title);
    elbo_plot_xlabel(p, "repetition");
    elbo_plot_ylabel(p, "dE/dphi estimate");
    double *idx = drv_alloc(&cli, (size_t)var_reps, sizeof(double));
    for (int i = 0; i < var_reps; i++)
        idx[i] = i;
    elbo_plot_scatter(p, idx, es, (size_t)var_reps, &ss);
    elbo_plot_scatter(p, idx, er, (size_t)var_reps, &sr);
    elbo_plot_hline(p, de_closed(var_phi),
                    &(elbo_style){.label = "closed form", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED});

    p = elbo_svg_panel(fig, 3);
    snprintf(title, sizeof title, "variance vs samples (phi=%.2f)", var_phi);
    elbo_plot_title(p, title);
    elbo_plot_xlabel(p, "samples per estimate");
    elbo_plot_ylabel(p, "log10 variance");
    elbo_plot_logx(p, true);
    double *cx = drv_alloc(&cli, (size_t)ncounts * 5, sizeof(double));
    double *c1 = cx + ncounts, *c2 = cx + 2 * ncounts, *c3 = cx + 3 * ncounts, *c4 = cx + 4 * ncounts;
    for (int c = 0; c < ncounts; c++) {
        const double *r = tab + c * 6;
        cx[c] = r[0], c1[c] = log10(r[1]), c2[c] = log10(r[2]), c3[c] = log10(r[3]), c4[c] = log10(r[4]);
    }
    elbo_style dr = sr, ds = ss;
    dr.dash = ds.dash = ELBO_DASH_DASHED;
    dr.label = "reparam sigma^2/n", ds.label = "REINFORCE sigma^2/n";
    elbo_plot_line(p, cx, c4, (size_t)ncounts, &ds);
    elbo_plot_line(p, cx, c3, (size_t)ncounts, &dr);
    elbo_plot_scatter(p, cx, c2, (size_t)ncounts, &ss);
    elbo_plot_scatter(p, cx, c1, (size_t)ncounts, &sr);
    elbo_plot_legend(p, ELBO_LEGEND_BOTTOM_LEFT);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "reparam_vs_reinforce.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{curve.csv,variance.csv,reparam_vs_reinforce.svg,summary.json}\n", cli.out);
    free(cv), free(er), free(es), free(tab), free(tr), free(ts), free(x), free(y), free(idx), free(cx);
    return 0;
}
