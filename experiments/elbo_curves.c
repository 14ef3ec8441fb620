/* Figures 17.6 and 17.10: the ELBO as a function of the model parameter phi
 * for several encoder parameters theta, always under the log-likelihood, and
 * a VAE-style joint update that moves between the curves (theta) and along
 * them (phi) at once; EM's alternating path for contrast (fig 17.15's idea).
 *
 * The model is linear-Gaussian so every curve is exact:
 *   Pr(z) = Norm(0, 1),  Pr(x|z, phi) = Norm(phi z, sigma^2)
 *   => Pr(x|phi) = Norm(0, phi^2 + sigma^2),
 *      Pr(z|x, phi) = Norm(phi x / (phi^2 + sigma^2), sigma^2 / (phi^2 + sigma^2)).
 * Encoder q(z|x, theta) = Norm(a x, s^2), theta = (a, log s). Per data point
 *   ELBO = log Norm(x; phi a x, sigma^2) - phi^2 s^2 / (2 sigma^2)
 *          - (s^2 + a^2 x^2 - 1 - log s^2) / 2,
 * and ELBO = log Pr(x|phi) exactly when theta = theta*(phi) (the posterior),
 * so the curve for theta*(phi0) touches the likelihood at phi0.
 * Everything is averaged over the data set (nats per point). */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "mc.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "summary.h"

#define LOG_2PI 1.8378770664093453
#define MAX_THETAS 16

static double sigma, phi_true, phi_lo, phi_hi, phi0, a0, log_s0, lr;
static int n_data, steps, grid, em_iters;
static const char *touch_text;

static const elbo_opt opts[] = {
    {"sigma", ELBO_OPT_DOUBLE, &sigma, "0.5", "likelihood noise sd", .min = 1e-3, .max = 100},
    {"phi-true", ELBO_OPT_DOUBLE, &phi_true, "1.5", "phi that generates the data", .min = 0, .max = 100},
    {"n-data", ELBO_OPT_INT, &n_data, "50", "data points", .min = 1, .max = 10000000},
    {"phi-min", ELBO_OPT_DOUBLE, &phi_lo, "0.05", "plot range of phi", .min = -100, .max = 100},
    {"phi-max", ELBO_OPT_DOUBLE, &phi_hi, "3", "plot range of phi", .min = -100, .max = 100},
    {"grid", ELBO_OPT_INT, &grid, "300", "points per curve", .min = 10, .max = 1000000},
    {"touch-at", ELBO_OPT_STRING, &touch_text, "0.5,1.0,2.5",
     "fig 17.6: curves for theta = theta*(phi0), touching at each phi0", .choices = NULL},
    {"phi-init", ELBO_OPT_DOUBLE, &phi0, "0.3", "joint update: initial phi", .min = -100, .max = 100},
    {"a-init", ELBO_OPT_DOUBLE, &a0, "0", "joint update: initial encoder slope a", .min = -100, .max = 100},
    {"log-s-init", ELBO_OPT_DOUBLE, &log_s0, "0", "joint update: initial encoder log sd", .min = -20, .max = 20},
    {"lr", ELBO_OPT_DOUBLE, &lr, "0.02", "joint update: gradient-ascent step", .min = 1e-6, .max = 10},
    {"steps", ELBO_OPT_INT, &steps, "400", "joint update: steps", .min = 1, .max = 10000000},
    {"em-iters", ELBO_OPT_INT, &em_iters, "12", "EM path: iterations", .min = 1, .max = 100000},
};

typedef struct data {
    const double *x;
    int n;
    double sxx; /* sum of x^2 */
} data;

static double loglik(const data *d, double phi)
{
    double v = phi * phi + sigma * sigma;
    return -0.5 * (LOG_2PI + log(v)) - 0.5 * d->sxx / d->n / v;
}

/* Exact average ELBO: every term is a function of sum x^2 only. */
static double elbo(const data *d, double phi, double a, double log_s)
{
    double s2 = exp(2 * log_s), mxx = d->sxx / d->n, r = 1 - phi * a, s2n = sigma * sigma;
    double rec = -0.5 * (LOG_2PI + log(s2n)) - (r * r * mxx + phi * phi * s2) / (2 * s2n);
    double kl = 0.5 * (s2 + a * a * mxx - 1 - 2 * log_s);
    return rec - kl;
}

static void theta_star(double phi, double *a, double *log_s)
{
    double v = phi * phi + sigma * sigma;
    *a = phi / v;
    *log_s = 0.5 * log(sigma * sigma / v);
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "elbo_curves", "Figures 17.6 and 17.10: ELBO curves under the log-likelihood.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    if (!(phi_hi > phi_lo))
        drv_usage_error(&cli, "--phi-max must exceed --phi-min");
    double touch[MAX_THETAS];
    int nt = drv_list(&cli, "touch-at", touch_text, touch, MAX_THETAS);
    if (cli.quick && steps > 200)
        steps = 200;

    /* Data from the model at phi_true. */
    double *x = drv_alloc(&cli, (size_t)n_data, sizeof(double));
    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    data d = {x, n_data, 0};
    for (int i = 0; i < n_data; i++) {
        x[i] = phi_true * elbo_rng_normal(&rng) + sigma * elbo_rng_normal(&rng);
        d.sxx += x[i] * x[i];
    }
    double mle = sqrt(fmax(d.sxx / n_data - sigma * sigma, 0));

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;

    /* ---- fig 17.6: curves ---- */
    int cols = 2 + nt;
    double *cv = drv_alloc(&cli, (size_t)grid * (size_t)cols, sizeof(double));
    double worst_gap = -INFINITY; /* max over everything of ELBO - loglik: must be <= 0 */
    for (int g = 0; g < grid; g++) {
        double phi = phi_lo + (phi_hi - phi_lo) * g / (grid - 1), *row = cv + (size_t)g * cols;
        row[0] = phi, row[1] = loglik(&d, phi);
        for (int t = 0; t < nt; t++) {
            double a, ls;
            theta_star(touch[t], &a, &ls);
            row[2 + t] = elbo(&d, phi, a, ls);
            worst_gap = fmax(worst_gap, row[2 + t] - row[1]);
        }
    }
    double touch_err = 0; /* |ELBO - loglik| where each curve should touch */
    for (int t = 0; t < nt; t++) {
        double a, ls;
        theta_star(touch[t], &a, &ls);
        touch_err = fmax(touch_err, fabs(elbo(&d, touch[t], a, ls) - loglik(&d, touch[t])));
    }
    const char **hdr = drv_alloc(&cli, (size_t)cols, sizeof(char *));
    char (*names)[32] = drv_alloc(&cli, (size_t)nt, 32);
    hdr[0] = "phi", hdr[1] = "loglik";
    for (int t = 0; t < nt; t++) {
        snprintf(names[t], 32, "elbo_theta_at_%g", touch[t]);
        hdr[2 + t] = names[t];
    }
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "curves.csv"), hdr, cv, (size_t)grid, (size_t)cols), "curves.csv");
    printf("data: %d points from phi=%g, sigma=%g; maximum-likelihood phi = %.4f (loglik %.4f per point)\n", n_data,
           phi_true, sigma, mle, loglik(&d, mle));
    printf("fig 17.6: max over grid of ELBO - loglik = %.3g (<= 0); touching error %.3g\n", worst_gap, touch_err);
    elbo_json_number(j, "phi_mle", mle);
    elbo_json_number(j, "loglik_max", loglik(&d, mle));
    elbo_json_number(j, "curves_max_elbo_minus_loglik", worst_gap);
    elbo_json_number(j, "curves_touch_error", touch_err);

    /* ---- fig 17.10: the VAE-style joint update, reparameterized gradients
     * (one z per data point per step) on phi and theta together ---- */
    double *path = drv_alloc(&cli, (size_t)(steps + 1) * 6, sizeof(double));
    double phi = phi0, a = a0, ls = log_s0, path_worst = -INFINITY;
    elbo_rng gr;
    mc_rng(&gr, cli.seed, 2, 0);
    for (int t = 0;; t++) {
        double *row = path + (size_t)t * 6, e = elbo(&d, phi, a, ls), l = loglik(&d, phi);
        row[0] = t, row[1] = phi, row[2] = a, row[3] = ls, row[4] = e, row[5] = l;
        path_worst = fmax(path_worst, e - l);
        if (t == steps)
            break;
        double s = exp(ls), s2n = sigma * sigma, gp = 0, ga = 0, gs = 0;
        for (int i = 0; i < n_data; i++) {
            double eps = elbo_rng_normal(&gr), z = a * x[i] + s * eps, res = x[i] - phi * z;
            gp += res * z / s2n;
            ga += res * phi * x[i] / s2n - a * x[i] * x[i];
            gs += res * phi * s * eps / s2n - (s * s - 1);
        }
        phi += lr * gp / n_data, a += lr * ga / n_data, ls += lr * gs / n_data;
    }
    static const char *const path_hdr[6] = {"step", "phi", "a", "log_s", "elbo", "loglik"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "joint_path.csv"), path_hdr, path, (size_t)steps + 1, 6),
              "joint_path.csv");
    const double *last = path + (size_t)steps * 6;
    printf("fig 17.10: joint update, %d steps: phi %.3f -> %.3f, ELBO %.4f -> %.4f, loglik %.4f -> %.4f "
           "(max ELBO - loglik on the path %.3g)\n",
           steps, phi0, last[1], path[4], last[4], path[5], last[5], path_worst);
    elbo_json_number(j, "joint_phi_final", last[1]);
    elbo_json_number(j, "joint_elbo_initial", path[4]);
    elbo_json_number(j, "joint_elbo_final", last[4]);
    elbo_json_number(j, "joint_loglik_final", last[5]);
    elbo_json_number(j, "joint_max_elbo_minus_loglik", path_worst);
    elbo_json_number(j, "joint_final_gap", last[5] - last[4]);

    /* ---- EM for the same model: E-step theta = theta*(phi) (touch), M-step
     * the phi maximizing the now-fixed quadratic bound ---- */
    double *em = drv_alloc(&cli, (size_t)(2 * em_iters + 1) * 4, sizeof(double));
    double ephi = phi0, ea = a0, els = log_s0;
    int ne = 0;
    bool em_monotone = true;
    double prev = -INFINITY;
    for (int it = 0; it <= em_iters; it++) {
        double row[4] = {ephi, elbo(&d, ephi, ea, els), loglik(&d, ephi), 0};
        memcpy(em + (size_t)ne++ * 4, row, sizeof row);
        if (row[2] < prev - 1e-12)
            em_monotone = false;
        prev = row[2];
        if (it == em_iters)
            break;
        theta_star(ephi, &ea, &els); /* E-step */
        double erow[4] = {ephi, elbo(&d, ephi, ea, els), loglik(&d, ephi), 1};
        memcpy(em + (size_t)ne++ * 4, erow, sizeof erow);
        double mxx = d.sxx / n_data, s2 = exp(2 * els); /* M-step: d ELBO / d phi = 0 */
        ephi = ea * mxx / (ea * ea * mxx + s2);
    }
    static const char *const em_hdr[4] = {"phi", "elbo", "loglik", "after_e_step"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "em_path.csv"), em_hdr, em, (size_t)ne, 4), "em_path.csv");
    printf("EM path: phi %.3f -> %.3f in %d iterations, loglik monotone: %s\n", phi0, ephi, em_iters,
           em_monotone ? "yes" : "NO");
    elbo_json_bool(j, "em_monotone", em_monotone);
    elbo_json_number(j, "em_phi_final", ephi);

    /* ---- figure: (a) fig 17.6, (b) fig 17.10, (c) EM ---- */
    elbo_svg *fig = elbo_svg_new(3, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    double *gx = drv_alloc(&cli, (size_t)grid * 2, sizeof(double)), *gy = gx + grid;
    for (int g = 0; g < grid; g++)
        gx[g] = cv[(size_t)g * cols], gy[g] = cv[(size_t)g * cols + 1];
    /* Keep the y range on the interesting part (the bounds dive far below). */
    double ymax = loglik(&d, mle), ymin = fmin(loglik(&d, phi_lo), loglik(&d, phi_hi));
    for (int pn = 0; pn < 3; pn++) {
        elbo_plot *p = elbo_svg_panel(fig, pn);
        elbo_plot_xlabel(p, "phi");
        elbo_plot_ylabel(p, "nats per point");
        elbo_plot_ylim(p, ymin - 0.6 * (ymax - ymin), ymax + 0.15 * (ymax - ymin));
        elbo_plot_line(p, gx, gy, (size_t)grid,
                       &(elbo_style){.label = "log Pr(x|phi)", .color = 0, .color_set = true, .width = 2.5});
        elbo_plot_legend(p, ELBO_LEGEND_BOTTOM_RIGHT);
    }
    elbo_plot *p = elbo_svg_panel(fig, 0);
    elbo_plot_title(p, "ELBO[theta, phi] for fixed theta");
    for (int t = 0; t < nt; t++) {
        char lab[64];
        snprintf(lab, sizeof lab, "theta = theta*(%g)", touch[t]);
        for (int g = 0; g < grid; g++)
            gy[g] = cv[(size_t)g * cols + 2 + t];
        elbo_plot_line(p, gx, gy, (size_t)grid, &(elbo_style){.label = lab});
    }
    /* (b): the bound at a few snapshots of theta_t, and the path itself. */
    p = elbo_svg_panel(fig, 1);
    elbo_plot_title(p, "joint update (VAE): between and along");
    int snaps[4] = {0, steps / 16, steps / 4, steps};
    for (int k = 0; k < 4; k++) {
        const double *r = path + (size_t)snaps[k] * 6;
        char lab[64];
        snprintf(lab, sizeof lab, "theta at step %d", snaps[k]);
        for (int g = 0; g < grid; g++)
            gy[g] = elbo(&d, gx[g], r[2], r[3]);
        elbo_plot_line(p, gx, gy, (size_t)grid, &(elbo_style){.label = lab, .dash = ELBO_DASH_DASHED, .width = 1.2});
    }
    double *px = drv_alloc(&cli, (size_t)(steps + 1) * 2, sizeof(double)), *py = px + steps + 1;
    for (int t = 0; t <= steps; t++)
        px[t] = path[(size_t)t * 6 + 1], py[t] = path[(size_t)t * 6 + 4];
    elbo_plot_line(p, px, py, (size_t)steps + 1,
                   &(elbo_style){.label = "path (phi, ELBO)", .color = 0xD55E00, .color_set = true, .width = 2.2});
    /* (c): EM touches after each E-step, then climbs along the fixed bound. */
    p = elbo_svg_panel(fig, 2);
    elbo_plot_title(p, "EM: touch (E-step), climb (M-step)");
    for (int k = 0; k < ne; k++)
        if (em[(size_t)k * 4 + 3] == 1 && k < 10) {
            double ta, tls;
            theta_star(em[(size_t)k * 4], &ta, &tls);
            for (int g = 0; g < grid; g++)
                gy[g] = elbo(&d, gx[g], ta, tls);
            elbo_plot_line(p, gx, gy, (size_t)grid, &(elbo_style){.dash = ELBO_DASH_DASHED, .width = 1.2});
        }
    double ex[512], ey[512];
    int nem = ne < 512 ? ne : 512;
    for (int k = 0; k < nem; k++)
        ex[k] = em[(size_t)k * 4], ey[k] = em[(size_t)k * 4 + 1];
    elbo_style es = elbo_style_color(0xD55E00, "EM path (phi, ELBO)");
    elbo_plot_line(p, ex, ey, (size_t)nem, &es);
    elbo_plot_scatter(p, ex, ey, (size_t)nem, &(elbo_style){.color = 0xD55E00, .color_set = true});
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "elbo_curves.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{curves.csv,joint_path.csv,em_path.csv,elbo_curves.svg,summary.json}\n", cli.out);
    free(x), free(cv), free(hdr), free(names), free(path), free(em), free(gx), free(px);
    return 0;
}
