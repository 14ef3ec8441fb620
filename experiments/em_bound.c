/* Figure 17.15 and problem 17.7: EM on a 1-D mixture of Gaussians as
 * coordinate ascent on the ELBO.
 *
 * E-step: q(z_i) = Pr(z_i | x_i, phi), the bound touches the log-likelihood;
 * M-step: phi maximizes the bound for that q (problem 17.7's answer:
 *   lambda_n = sum_i r_in / I,  mu_n = sum_i r_in x_i / sum_i r_in,
 *   sigma_n^2 = sum_i r_in (x_i - mu_n)^2 / sum_i r_in, r_in = Pr(z_i = n | x_i),
 * the lambda update from a Lagrange multiplier for sum_n lambda_n = 1).
 *
 * (a) The picture of fig 17.15 needs a 1-D phi: EM on mu_1 alone (the other
 *     parameters held at their true values) gives the log-likelihood curve,
 *     the bound ELBO(q_t, mu_1) after each E-step (touching at mu_1^t) and
 *     the staircase of E- and M-steps. Here ELBO(q, mu_1) =
 *     mean_i sum_n r_in [log lambda_n + log Norm(x_i; mu_n, sigma_n^2) - log r_in].
 * (b) The full EM of models/mog (all weights, means, variances) with its
 *     per-iteration trace: the bound before and after each E-step and after
 *     each M-step, and the log-likelihood, which never decreases. */
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
#define LOG_2PI 1.8378770664093453

static const char *w_text, *mu_text, *sd_text, *init_text;
static int n_data, iters, picture_iters, fit_k, grid;
static double mu1_init, reg_covar;

static const elbo_opt opts[] = {
    {"weights", ELBO_OPT_STRING, &w_text, "0.3,0.5,0.2", "true component weights", .choices = NULL},
    {"means", ELBO_OPT_STRING, &mu_text, "-1.5,0.6,2.6", "true component means", .choices = NULL},
    {"sds", ELBO_OPT_STRING, &sd_text, "0.5,0.7,0.4", "true component standard deviations", .choices = NULL},
    {"n", ELBO_OPT_INT, &n_data, "1000", "data points drawn from the true mixture", .min = 2, .max = 100000000},
    {"mu1-init", ELBO_OPT_DOUBLE, &mu1_init, "-4", "(a) initial mu_1 of the one-parameter EM", .min = -1e6, .max = 1e6},
    {"picture-iters", ELBO_OPT_INT, &picture_iters, "6", "(a) EM iterations drawn", .min = 1, .max = 1000},
    {"grid", ELBO_OPT_INT, &grid, "400", "(a) points per curve", .min = 10, .max = 1000000},
    {"k", ELBO_OPT_INT, &fit_k, "3", "(b) components fitted by the full EM", .min = 1, .max = 1000},
    {"init-means", ELBO_OPT_STRING, &init_text, "-3,0,3",
     "(b) initial means (one per component; empty: k-means++)", .choices = NULL},
    {"iters", ELBO_OPT_INT, &iters, "150", "(b) EM iterations (no early stop)", .min = 1, .max = 100000},
    {"reg-covar", ELBO_OPT_DOUBLE, &reg_covar, "0",
     "(b) variance floor added in the M-step (0 keeps the bound exact)", .min = 0, .max = 1},
};

typedef struct pic {
    const double *x;
    int n, k;
    mog_params *p;
} pic;

/* Mean log-likelihood and responsibilities (n, k) at mu_1 = m. */
static double loglik_at(const elbo_cli *cli, pic *s, double m, double *resp)
{
    double ll;
    s->p->means[0] = m;
    drv_check(cli, mog_params_update(s->p), "mixture");
    drv_check(cli, mog_score_samples(s->p, s->x, (size_t)s->n, NULL, resp, &ll), "score");
    return ll;
}

/* ELBO(q = resp, mu_1 = m), the other parameters fixed. */
static double bound_at(const pic *s, const double *resp, double m)
{
    double e = 0;
    for (int i = 0; i < s->n; i++)
        for (int c = 0; c < s->k; c++) {
            double r = resp[(size_t)i * s->k + c];
            if (r <= 0)
                continue;
            double mu = c == 0 ? m : s->p->means[c], v = s->p->covars[c], d = s->x[i] - mu;
            e += r * (log(s->p->weights[c]) - 0.5 * (LOG_2PI + log(v) + d * d / v) - log(r));
        }
    return e / s->n;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "em_bound", "Figure 17.15 / problem 17.7: EM as alternating ascent on the ELBO.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    double w[MAX_K], mu[MAX_K], sd[MAX_K];
    mog_params p;
    int k = drv_mixture_1d(&cli, w_text, mu_text, sd_text, w, mu, sd, MAX_K, &p);
    if (fit_k > n_data)
        drv_usage_error(&cli, "--k must not exceed --n");
    if (cli.quick && n_data > 300)
        n_data = 300;

    double *x = drv_alloc(&cli, (size_t)n_data, sizeof(double));
    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    drv_check(&cli, mog_sample(&p, &rng, (size_t)n_data, x, NULL), "sampling");

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;

    /* ---- (a) one-parameter EM on mu_1 ---- */
    pic s = {x, n_data, k, &p};
    double *resp = drv_alloc(&cli, (size_t)n_data * k, sizeof(double));
    double lo = fmin(mu1_init, mu[0]) - 1.5, hi = fmax(mu1_init, mu[0]) + 2.5;
    double *gx = drv_alloc(&cli, (size_t)grid, sizeof(double)), *gl = drv_alloc(&cli, (size_t)grid, sizeof(double));
    for (int g = 0; g < grid; g++) {
        gx[g] = lo + (hi - lo) * g / (grid - 1);
        gl[g] = loglik_at(&cli, &s, gx[g], resp);
    }
    int T = picture_iters;
    double *curves = drv_alloc(&cli, (size_t)T * grid, sizeof(double));
    double *steps = drv_alloc(&cli, (size_t)(T + 1) * 4, sizeof(double)); /* mu1, loglik, bound after M, touch err */
    double m = mu1_init, touch = 0, worst_above = -INFINITY;
    for (int t = 0; t < T; t++) {
        double ll = loglik_at(&cli, &s, m, resp); /* E-step: resp = posterior at mu_1^t */
        touch = fmax(touch, fabs(bound_at(&s, resp, m) - ll));
        for (int g = 0; g < grid; g++) {
            curves[(size_t)t * grid + g] = bound_at(&s, resp, gx[g]);
            worst_above = fmax(worst_above, curves[(size_t)t * grid + g] - gl[g]);
        }
        double num = 0, den = 0; /* M-step for mu_1 */
        for (int i = 0; i < n_data; i++)
            num += resp[(size_t)i * k] * x[i], den += resp[(size_t)i * k];
        double next = num / den;
        double row[4] = {m, ll, bound_at(&s, resp, next), 0};
        memcpy(steps + (size_t)t * 4, row, sizeof row);
        m = next;
    }
    steps[(size_t)T * 4] = m, steps[(size_t)T * 4 + 1] = loglik_at(&cli, &s, m, resp);
    printf("(a) EM on mu_1 alone: %.3f -> %.3f in %d iterations (true %.3f); bound touches to %.2g, "
           "never above (max ELBO - loglik %.2g)\n",
           mu1_init, m, T, mu[0], touch, worst_above);
    elbo_json_number(j, "picture_touch_error", touch);
    elbo_json_number(j, "picture_max_elbo_minus_loglik", worst_above);
    elbo_json_number(j, "picture_mu1_final", m);
    {
        int cols = 2 + T;
        double *tab = drv_alloc(&cli, (size_t)grid * cols, sizeof(double));
        const char **hdr = drv_alloc(&cli, (size_t)cols, sizeof(char *));
        char (*names)[32] = drv_alloc(&cli, (size_t)T, 32);
        hdr[0] = "mu1", hdr[1] = "loglik";
        for (int t = 0; t < T; t++) {
            snprintf(names[t], 32, "elbo_after_e_step_%d", t + 1);
            hdr[2 + t] = names[t];
        }
        for (int g = 0; g < grid; g++) {
            tab[(size_t)g * cols] = gx[g], tab[(size_t)g * cols + 1] = gl[g];
            for (int t = 0; t < T; t++)
                tab[(size_t)g * cols + 2 + t] = curves[(size_t)t * grid + g];
        }
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "picture.csv"), hdr, tab, (size_t)grid, (size_t)cols),
                  "picture.csv");
        free(tab), free(hdr), free(names);
    }

    /* ---- (b) full EM with its trace ---- */
    mog_config cfg;
    mog_config_default(&cfg, (size_t)fit_k);
    cfg.cov = MOG_COV_SPHERICAL;
    double init_means[1000];
    if (init_text && *init_text) { /* a poor start makes the climb visible */
        if (drv_list(&cli, "init-means", init_text, init_means, 1000) != fit_k)
            drv_usage_error(&cli, "--init-means: need one mean per component (--k)");
        cfg.init = MOG_INIT_MEANS;
        cfg.init_means = init_means;
    }
    cfg.max_iter = iters;
    cfg.tol = 0;
    cfg.reg_covar = reg_covar;
    cfg.seed = cli.seed;
    mog_result fit;
    drv_check(&cli, mog_fit(x, (size_t)n_data, 1, &cfg, &fit), "EM");
    int it = fit.iterations;
    double *tr = drv_alloc(&cli, (size_t)it * 5, sizeof(double));
    bool monotone = true, bound_ok = true;
    double touch_b = 0, min_kl = INFINITY;
    printf("(b) full EM, %d components, %d iterations:\n  %4s %12s %14s %14s %14s\n", fit_k, it, "iter", "loglik",
           "ELBO before E", "ELBO after E", "ELBO after M");
    for (int t = 0; t < it; t++) {
        const mog_trace_row *r = &fit.trace[t];
        double row[5] = {t + 1, r->loglik, r->elbo_before_e, r->elbo_after_e, r->elbo_after_m};
        memcpy(tr + (size_t)t * 5, row, sizeof row);
        const double eps = 1e-9 * fmax(1, fabs(r->loglik));
        if (t > 0 && r->loglik < fit.trace[t - 1].loglik - eps)
            monotone = false;
        if (r->elbo_before_e > r->loglik + eps || r->elbo_after_m < r->elbo_after_e - eps)
            bound_ok = false;
        touch_b = fmax(touch_b, fabs(r->elbo_after_e - r->loglik));
        min_kl = fmin(min_kl, r->loglik - r->elbo_before_e);
        if (t < 8 || t == it - 1)
            printf("  %4d %12.6f %14.6f %14.6f %14.6f\n", t + 1, r->loglik, r->elbo_before_e, r->elbo_after_e,
                   r->elbo_after_m);
        else if (t == 8)
            printf("  %4s\n", "...");
    }
    static const char *const th[5] = {"iteration", "loglik", "elbo_before_e", "elbo_after_e", "elbo_after_m"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "trace.csv"), th, tr, (size_t)it, 5), "trace.csv");
    printf("  log-likelihood monotone: %s; bound below it before each E-step and raised by each M-step: %s; "
           "touch error after E-steps %.2g\n",
           monotone ? "yes" : "NO", bound_ok ? "yes" : "NO", touch_b);
    printf("  fitted (weight, mean, sd):");
    for (size_t c = 0; c < fit.params.k; c++)
        printf(" (%.3f, %.3f, %.3f)", fit.params.weights[c], fit.params.means[c], sqrt(fit.params.covars[c]));
    printf("\n");
    elbo_json_bool(j, "em_loglik_monotone", monotone);
    elbo_json_bool(j, "em_bound_ordering", bound_ok);
    elbo_json_number(j, "em_touch_error", touch_b);
    elbo_json_number(j, "em_min_gap_before_e", min_kl);
    elbo_json_number(j, "em_loglik_first", fit.trace[0].loglik);
    elbo_json_number(j, "em_loglik_final", fit.mean_loglik);
    elbo_json_int(j, "em_iterations", it);

    /* ---- figure ---- */
    elbo_svg *fig = elbo_svg_new(3, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    elbo_plot_title(pl, "a) fig 17.15: EM on mu_1");
    elbo_plot_xlabel(pl, "mu_1 (phi)");
    elbo_plot_ylabel(pl, "nats per point");
    double gmax = -INFINITY, gmin = INFINITY;
    for (int g = 0; g < grid; g++)
        gmax = fmax(gmax, gl[g]), gmin = fmin(gmin, gl[g]);
    elbo_plot_ylim(pl, gmin - 0.3 * (gmax - gmin), gmax + 0.1 * (gmax - gmin));
    for (int t = 0; t < T; t++) {
        char lab[32];
        snprintf(lab, sizeof lab, "ELBO after E-step %d", t + 1);
        elbo_plot_line(pl, gx, curves + (size_t)t * grid, (size_t)grid, &(elbo_style){.label = t < 4 ? lab : NULL});
    }
    elbo_plot_line(pl, gx, gl, (size_t)grid,
                   &(elbo_style){.label = "log Pr(x|phi)", .color = 0, .color_set = true, .width = 2.6});
    /* Staircase: touch at (mu_t, loglik_t), climb along the bound to (mu_t+1, bound), jump up to loglik_t+1. */
    double px[3 * 64 + 1], py[3 * 64 + 1];
    int np = 0;
    for (int t = 0; t < T && t < 64; t++) {
        px[np] = steps[t * 4], py[np++] = steps[t * 4 + 1];
        px[np] = steps[(t + 1) * 4], py[np++] = steps[t * 4 + 2];
    }
    px[np] = steps[(size_t)T * 4], py[np++] = steps[(size_t)T * 4 + 1];
    elbo_plot_line(pl, px, py, (size_t)np, &(elbo_style){.label = "E/M steps", .color = 0xD55E00, .color_set = true});
    elbo_plot_scatter(pl, px, py, (size_t)np, &(elbo_style){.color = 0xD55E00, .color_set = true});
    elbo_plot_legend(pl, ELBO_LEGEND_BOTTOM_RIGHT);

    /* (b) the sawtooth: the bound jumps to the likelihood at each E-step, climbs at each M-step. */
    pl = elbo_svg_panel(fig, 1);
    elbo_plot_title(pl, "b) full EM: bound and log-likelihood");
    elbo_plot_xlabel(pl, "iteration");
    elbo_plot_ylabel(pl, "nats per point");
    int show = it < 15 ? it : 15;
    double *sx = drv_alloc(&cli, (size_t)show * 2 + 1, sizeof(double)), *sy = drv_alloc(&cli, (size_t)show * 2 + 1, sizeof(double));
    double lx[64], ly[64];
    int ns = 0;
    for (int t = 0; t < show; t++) {
        sx[ns] = t + 1, sy[ns++] = fit.trace[t].elbo_before_e;
        sx[ns] = t + 1, sy[ns++] = fit.trace[t].elbo_after_e;
        lx[t] = t + 1, ly[t] = fit.trace[t].loglik;
    }
    sx[ns] = show + 1, sy[ns++] = fit.trace[show - 1].elbo_after_m;
    elbo_plot_line(pl, sx, sy, (size_t)ns, &(elbo_style){.label = "ELBO (E-step: up to touch; M-step: along)"});
    elbo_plot_scatter(pl, lx, ly, (size_t)show,
                      &(elbo_style){.label = "log Pr(x|phi_t)", .color = 0, .color_set = true, .size = 3.5});
    elbo_plot_legend(pl, ELBO_LEGEND_BOTTOM_RIGHT);

    pl = elbo_svg_panel(fig, 2);
    elbo_plot_title(pl, "c) gap before E-step = KL(q||post.)");
    elbo_plot_xlabel(pl, "iteration");
    elbo_plot_ylabel(pl, "log10 (loglik - ELBO)");
    double *kx = drv_alloc(&cli, (size_t)it, sizeof(double)), *ky = drv_alloc(&cli, (size_t)it, sizeof(double));
    int nk = 0;
    for (int t = 0; t < it; t++) {
        double gap = fit.trace[t].loglik - fit.trace[t].elbo_before_e;
        if (gap > 0)
            kx[nk] = t + 1, ky[nk++] = log10(gap);
    }
    elbo_plot_line(pl, kx, ky, (size_t)nk, &(elbo_style){.color = 0xD55E00, .color_set = true});
    elbo_plot_scatter(pl, kx, ky, (size_t)nk, &(elbo_style){.color = 0xD55E00, .color_set = true});
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "em_bound.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{picture.csv,trace.csv,em_bound.svg,summary.json}\n", cli.out);
    mog_result_free(&fit);
    mog_params_free(&p);
    free(x), free(resp), free(gx), free(gl), free(curves), free(steps), free(tr), free(sx), free(sy), free(kx), free(ky);
    return 0;
}
