/* Figures 17.4-17.5 (and problems 17.2-17.3): Jensen's inequality for the
 * concave logarithm, log E[y] >= E[log y], discrete and continuous.
 *
 * Discrete (fig 17.4): points y_i on the log curve with weights w_i (equal by
 * default); any convex combination lies in the hull under the curve, so the
 * weighted mean (E[y], E[log y]) sits below (E[y], log E[y]).
 * Continuous (fig 17.5): y ~ Beta(a, b) on [0, 1]. Closed forms:
 *   E[y] = a / (a + b),  E[log y] = psi(a) - psi(a + b)  (psi = digamma),
 * checked against quadrature and Monte Carlo. The density of log y,
 * Pr(u) = Pr_y(e^u) e^u, shows the log squashing large y against small y.
 * The convex case (problem 17.3, g(y) = y^2): E[y]^2 <= E[y^2]. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "summary.h"

#define MAX_POINTS 64

static const char *points_text, *weights_text;
static double beta_a, beta_b, n_mc;
static int grid;

static const elbo_opt opts[] = {
    {"points", ELBO_OPT_STRING, &points_text, "0.2,0.5,1.0,1.6,2.3,3.0", "discrete case: the points y_i > 0",
     .choices = NULL},
    {"weights", ELBO_OPT_STRING, &weights_text, "", "discrete case: weights (default equal; normalised)",
     .choices = NULL},
    {"a", ELBO_OPT_DOUBLE, &beta_a, "2", "continuous case: y ~ Beta(a, b)", .min = 0.05, .max = 1000},
    {"b", ELBO_OPT_DOUBLE, &beta_b, "3", "continuous case: y ~ Beta(a, b)", .min = 0.05, .max = 1000},
    {"n-mc", ELBO_OPT_DOUBLE, &n_mc, "1e6", "Monte Carlo samples of y", .min = 1, .max = 1e9},
    {"grid", ELBO_OPT_INT, &grid, "2000", "quadrature / plotting grid points", .min = 100, .max = 10000000},
};

/* Digamma: recurrence up to x >= 6, then the asymptotic series. */
static double digamma(double x)
{
    double r = 0;
    while (x < 6)
        r -= 1 / x, x += 1;
    double f = 1 / (x * x);
    return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

static double beta_logpdf(double y, double a, double b)
{
    return (a - 1) * log(y) + (b - 1) * log1p(-y) + lgamma(a + b) - lgamma(a) - lgamma(b);
}

/* Gamma(k, 1) by Marsaglia-Tsang (k < 1 boosted by U^{1/k}). */
static double gamma_draw(elbo_rng *r, double k)
{
    double boost = 1;
    if (k < 1) {
        boost = pow(elbo_rng_uniform(r), 1 / k);
        k += 1;
    }
    double d = k - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = elbo_rng_normal(r), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = elbo_rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return boost * d * v;
    }
}

/* Sums of y, log y, y^2 for Beta(a, b) draws. */
static void beta_block(void *ctx, elbo_rng *r, unsigned n, double *acc)
{
    (void)ctx;
    for (unsigned i = 0; i < n; i++) {
        double g1 = gamma_draw(r, beta_a), g2 = gamma_draw(r, beta_b), y = g1 / (g1 + g2);
        acc[0] += y, acc[1] += log(y), acc[2] += y * y;
    }
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "jensen", "Figures 17.4-17.5: Jensen's inequality, log E[y] >= E[log y].", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    double y[MAX_POINTS], w[MAX_POINTS];
    int n = drv_list(&cli, "points", points_text, y, MAX_POINTS);
    for (int i = 0; i < n; i++) {
        if (!(y[i] > 0))
            drv_usage_error(&cli, "--points: the logarithm needs y > 0");
        if (i && y[i] <= y[i - 1])
            drv_usage_error(&cli, "--points: expected increasing values");
    }
    if (weights_text && *weights_text) {
        if (drv_list(&cli, "weights", weights_text, w, MAX_POINTS) != n)
            drv_usage_error(&cli, "--weights: need one weight per point");
    } else {
        for (int i = 0; i < n; i++)
            w[i] = 1;
    }
    double wsum = 0;
    for (int i = 0; i < n; i++) {
        if (w[i] < 0)
            drv_usage_error(&cli, "--weights: expected non-negative weights");
        wsum += w[i];
    }
    if (!(wsum > 0))
        drv_usage_error(&cli, "--weights: need a positive total");
    uint64_t nmc = (uint64_t)llround(cli.quick && n_mc > 1e5 ? 1e5 : n_mc);

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;

    /* ---- discrete ---- */
    double ey = 0, elog = 0, ey2 = 0;
    for (int i = 0; i < n; i++) {
        w[i] /= wsum;
        ey += w[i] * y[i], elog += w[i] * log(y[i]), ey2 += w[i] * y[i] * y[i];
    }
    printf("discrete (%d points): log E[y] = %.6f >= E[log y] = %.6f (gap %.6f); E[y]^2 = %.4f <= E[y^2] = %.4f\n",
           n, log(ey), elog, log(ey) - elog, ey * ey, ey2);
    elbo_json_number(j, "discrete_log_mean", log(ey));
    elbo_json_number(j, "discrete_mean_log", elog);
    elbo_json_number(j, "discrete_gap", log(ey) - elog);
    elbo_json_number(j, "discrete_convex_gap", ey2 - ey * ey);

    /* ---- continuous: closed form, quadrature (midpoint rule), Monte Carlo ---- */
    double a = beta_a, b = beta_b;
    double c_ey = a / (a + b), c_elog = digamma(a) - digamma(a + b);
    double c_ey2 = a * (a + 1) / ((a + b) * (a + b + 1));
    double q_ey = 0, q_elog = 0, q_mass = 0, h = 1.0 / grid;
    for (int i = 0; i < grid; i++) { /* midpoints avoid the end-point singularities of the log */
        double t = (i + 0.5) * h, p = exp(beta_logpdf(t, a, b)) * h;
        q_mass += p, q_ey += p * t, q_elog += p * log(t);
    }
    double s[3];
    if (mc_sums(cli.seed, 1, nmc, 3, beta_block, NULL, s) != 0)
        drv_check(&cli, ELBO_ERR_NOMEM, "sampling");
    double m_ey = s[0] / (double)nmc, m_elog = s[1] / (double)nmc, m_ey2 = s[2] / (double)nmc;
    printf("continuous, y ~ Beta(%g, %g):\n", a, b);
    printf("  %-12s %12s %12s %12s\n", "", "closed form", "quadrature", "Monte Carlo");
    printf("  %-12s %12.6f %12.6f %12.6f\n", "log E[y]", log(c_ey), log(q_ey / q_mass), log(m_ey));
    printf("  %-12s %12.6f %12.6f %12.6f\n", "E[log y]", c_elog, q_elog / q_mass, m_elog);
    printf("  %-12s %12.6f %12.6f %12.6f\n", "gap", log(c_ey) - c_elog, log(q_ey / q_mass) - q_elog / q_mass,
           log(m_ey) - m_elog);
    printf("  convex case: E[y]^2 = %.6f <= E[y^2] = %.6f (MC %.6f <= %.6f)\n", c_ey * c_ey, c_ey2, m_ey * m_ey,
           m_ey2);
    elbo_json_number(j, "continuous_log_mean", log(c_ey));
    elbo_json_number(j, "continuous_mean_log", c_elog);
    elbo_json_number(j, "continuous_gap", log(c_ey) - c_elog);
    elbo_json_number(j, "continuous_gap_quadrature", log(q_ey / q_mass) - q_elog / q_mass);
    elbo_json_number(j, "continuous_gap_mc", log(m_ey) - m_elog);
    elbo_json_number(j, "continuous_convex_gap", c_ey2 - c_ey * c_ey);
    elbo_json_number(j, "mc_samples", (double)nmc);

    /* ---- CSV: the points, and the two densities ---- */
    double *pts = drv_alloc(&cli, (size_t)n * 3, sizeof(double));
    for (int i = 0; i < n; i++)
        pts[i * 3] = y[i], pts[i * 3 + 1] = log(y[i]), pts[i * 3 + 2] = w[i];
    static const char *const ph[3] = {"y", "log_y", "weight"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "discrete.csv"), ph, pts, (size_t)n, 3), "discrete.csv");
    /* The density of u = log y on [log(1e-3), 0]. */
    double *dens = drv_alloc(&cli, (size_t)grid * 4, sizeof(double));
    double u0 = log(1e-3);
    for (int i = 0; i < grid; i++) {
        double t = (i + 0.5) * h, u = u0 + (0 - u0) * (i + 0.5) / grid;
        dens[i * 4] = t, dens[i * 4 + 1] = exp(beta_logpdf(t, a, b));
        dens[i * 4 + 2] = u, dens[i * 4 + 3] = exp(beta_logpdf(exp(u), a, b) + u);
    }
    static const char *const dh[4] = {"y", "pdf_y", "u_log_y", "pdf_log_y"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "continuous.csv"), dh, dens, (size_t)grid, 4), "continuous.csv");

    /* ---- figure 17.4 ---- */
    elbo_svg *fig = elbo_svg_new(1, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *p = elbo_svg_panel(fig, 0);
    elbo_plot_title(p, "Jensen (discrete): log E[y] > E[log y]");
    elbo_plot_xlabel(p, "y");
    elbo_plot_ylabel(p, "log y");
    enum { NC = 400 };
    double cx[NC], cy[NC], ymax = y[n - 1] * 1.15, ymin = fmin(0.05, y[0] * 0.5);
    for (int i = 0; i < NC; i++)
        cx[i] = ymin + (ymax - ymin) * i / (NC - 1), cy[i] = log(cx[i]);
    /* The hull of points on a concave curve: between the chord from the first
     * to the last point and the polyline through all of them. */
    double lo[MAX_POINTS], ly[MAX_POINTS];
    for (int i = 0; i < n; i++)
        ly[i] = log(y[i]);
    for (int i = 0; i < n; i++)
        lo[i] = n > 1 ? ly[0] + (ly[n - 1] - ly[0]) * (y[i] - y[0]) / (y[n - 1] - y[0]) : ly[i];
    elbo_style hull = elbo_style_color(0x999999, "convex combinations");
    hull.alpha = 0.35;
    elbo_plot_fill(p, y, lo, ly, (size_t)n, 0, &hull);
    elbo_plot_line(p, cx, cy, NC, &(elbo_style){.label = "log y", .color = 0, .color_set = true});
    elbo_plot_scatter(p, y, ly, (size_t)n, &(elbo_style){.color = 0x333333, .color_set = true, .size = 4});
    double mx[1] = {ey}, my1[1] = {elog}, my2[1] = {log(ey)};
    elbo_plot_scatter(p, mx, my2, 1, &(elbo_style){.label = "(E[y], log E[y])", .color = 0x000000, .color_set = true,
                                                    .marker = ELBO_MARKER_SQUARE, .size = 5});
    elbo_plot_scatter(p, mx, my1, 1, &(elbo_style){.label = "(E[y], E[log y])", .color = 0x00B5D8, .color_set = true,
                                                    .size = 6});
    elbo_plot_legend(p, ELBO_LEGEND_BOTTOM_RIGHT);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "jensen_discrete.svg")), "svg");
    elbo_svg_free(fig);

    /* ---- figure 17.5: Pr(y), the log map, Pr(log y) ---- */
    fig = elbo_svg_new(3, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    double *gx = drv_alloc(&cli, (size_t)grid * 4, sizeof(double));
    double *gy = gx + grid, *gu = gx + 2 * grid, *gpu = gx + 3 * grid;
    for (int i = 0; i < grid; i++)
        gx[i] = dens[i * 4], gy[i] = dens[i * 4 + 1], gu[i] = dens[i * 4 + 2], gpu[i] = dens[i * 4 + 3];
    elbo_style orange = elbo_style_color(0xE69F00, NULL);
    p = elbo_svg_panel(fig, 0);
    char title[128];
    snprintf(title, sizeof title, "Pr(y) = Beta(%g, %g)", a, b);
    elbo_plot_title(p, title);
    elbo_plot_xlabel(p, "y");
    elbo_plot_fill(p, gx, NULL, gy, (size_t)grid, 0, &orange);
    elbo_plot_vline(p, c_ey, &(elbo_style){.label = "E[y]", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(p, ELBO_LEGEND_TOP_RIGHT);

    p = elbo_svg_panel(fig, 1);
    elbo_plot_title(p, "g(y) = log y");
    elbo_plot_xlabel(p, "y");
    elbo_plot_ylabel(p, "log y");
    for (int i = 0; i < NC; i++)
        cx[i] = 0.005 + 0.995 * i / (NC - 1), cy[i] = log(cx[i]);
    elbo_plot_line(p, cx, cy, NC, &(elbo_style){.color = 0, .color_set = true});
    elbo_plot_hline(p, log(c_ey), &(elbo_style){.label = "log E[y]", .color = 0x000000, .color_set = true,
                                               .dash = ELBO_DASH_DASHED});
    elbo_plot_hline(p, c_elog, &(elbo_style){.label = "E[log y]", .color = 0x00B5D8, .color_set = true,
                                            .dash = ELBO_DASH_DASHED});
    elbo_plot_vline(p, c_ey, &(elbo_style){.color = 0x888888, .color_set = true, .dash = ELBO_DASH_DOTTED});
    elbo_plot_legend(p, ELBO_LEGEND_BOTTOM_RIGHT);

    p = elbo_svg_panel(fig, 2);
    elbo_plot_title(p, "Pr(log y)");
    elbo_plot_xlabel(p, "log y");
    elbo_plot_fill(p, gu, NULL, gpu, (size_t)grid, 0, &orange);
    elbo_plot_vline(p, log(c_ey), &(elbo_style){.label = "log E[y]", .color = 0x000000, .color_set = true,
                                                .dash = ELBO_DASH_DASHED});
    elbo_plot_vline(p, c_elog, &(elbo_style){.label = "E[log y]", .color = 0x00B5D8, .color_set = true,
                                            .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(p, ELBO_LEGEND_TOP_LEFT);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "jensen_continuous.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{discrete.csv,continuous.csv,jensen_discrete.svg,jensen_continuous.svg,summary.json}\n",
           cli.out);
    free(pts), free(dens), free(gx);
    return 0;
}
