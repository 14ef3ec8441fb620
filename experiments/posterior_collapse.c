/* Posterior collapse (the chapter's notes): when the KL term is heavily
 * weighted (a large beta) or the decoder can do without z, the encoder
 * learns q(z|x) = Pr(z) for most latent dimensions: their KL is ~0 and they
 * carry nothing ("inactive units"). Two remedies, side by side with the
 * plain run at the same beta:
 *   KL warm-up (Bowman et al. 2015): the KL weight rises from 0 to beta over
 *     the first epochs, so the encoder learns to use z before it is charged;
 *   free bits (Kingma et al. 2016): the first lambda nats of KL per dimension
 *     are free, so no dimension gains anything by collapsing below lambda.
 * Reported per run: test -ELBO, reconstruction, KL, active units
 * (Var_x E[z_j|x] > 0.01) and the KL of every latent dimension. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/io/svg.h"
#include "summary.h"
#include "vae_setup.h"

static double beta, warmup, free_bits;

static const elbo_opt opts[] = {
    VS_MODEL_OPTS("20", "bernoulli", "0.1"),
    VS_TRAIN_OPTS("4", "20000"),
    {"beta", ELBO_OPT_DOUBLE, &beta, "16", "KL weight of every run (large: collapse)", .min = 0, .max = 1000},
    {"warmup", ELBO_OPT_DOUBLE, &warmup, "2", "warm-up run: epochs of the KL ramp", .min = 0, .max = 1000},
    {"free-bits", ELBO_OPT_DOUBLE, &free_bits, "0.5", "free-bits run: nats per dimension", .min = 0, .max = 100},
};

enum { RUNS = 3 };

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "posterior_collapse", "Posterior collapse: KL and active units with warm-up and free bits.",
                  opts, sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    vs_begin(&cli, &argc, &argv);
    if (vs_checkpoint && *vs_checkpoint)
        drv_usage_error(&cli, "--checkpoint: this driver trains its own three models");
    elbo_vae_parts_check_posterior(&cli, free_bits, false); /* its third run uses free bits */
    vs_data d;
    vs_load_data(&cli, &d);
    elbo_tape *t = vs_tape(&cli);
    const char *names[RUNS] = {"plain", "warmup", "free_bits"};
    vs_objective obj[RUNS] = {{.beta = beta}, {.beta = beta, .warmup_epochs = warmup}, {.beta = beta, .free_bits = free_bits}};
    int E = vs_run_epochs(&cli), Z = vs_latent;
    double *trace = drv_alloc(&cli, (size_t)RUNS * E * 3, sizeof(double));
    double *dimkl = drv_alloc(&cli, (size_t)RUNS * Z, sizeof(double));
    double res[RUNS][5];
    size_t n = d.test.n;
    float *mu = drv_alloc(&cli, n * Z, sizeof(float)), *lv = drv_alloc(&cli, n * Z, sizeof(float));

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    for (int r = 0; r < RUNS; r++) {
        obj[r].trace = trace + (size_t)r * E * 3;
        elbo_vae m;
        char label[64];
        snprintf(label, sizeof label, "%s (beta %g)", names[r], beta);
        vs_model(&cli, &d, &obj[r], &m, label);
        elbo_rng rng;
        elbo_rng_seed(&rng, cli.seed ^ 0xC011A95Eull);
        elbo_vae_eval ev;
        drv_check(&cli, elbo_vae_evaluate_data(&m, t, &d.test, 0, &rng, &ev), "evaluate");
        int active;
        drv_check(&cli, elbo_vae_active_units_data(&m, t, &d.test, 0, 0.01, &active, NULL), "active units");
        drv_check(&cli, elbo_vae_encode_data(&m, t, &d.test, 0, n, 0, mu, lv), "encode");
        for (int k = 0; k < Z; k++) { /* KL(q || prior) of dimension k, averaged over the test split */
            double s = 0;
            for (size_t i = 0; i < n; i++) {
                double a = mu[i * Z + k], b = lv[i * Z + k];
                s += 0.5 * (exp(b) + a * a - 1 - b);
            }
            dimkl[(size_t)r * Z + k] = s / (double)n;
        }
        double row[5] = {r, ev.neg_elbo, ev.rec, ev.kl, active};
        memcpy(res[r], row, sizeof row);
        printf("%-10s beta %g: test -ELBO %.2f, rec %.2f, KL %.2f, active units %d/%d\n", names[r], beta, ev.neg_elbo,
               ev.rec, ev.kl, active, Z);
        char key[64];
        snprintf(key, sizeof key, "kl_%s", names[r]);
        elbo_json_number(j, key, ev.kl);
        snprintf(key, sizeof key, "active_%s", names[r]);
        elbo_json_int(j, key, active);
        snprintf(key, sizeof key, "neg_elbo_%s", names[r]);
        elbo_json_number(j, key, ev.neg_elbo);
        snprintf(key, sizeof key, "rec_%s", names[r]);
        elbo_json_number(j, key, ev.rec);
        elbo_vae_free(&m);
    }
    elbo_json_int(j, "latent", Z);
    static const char *const h[5] = {"run", "test_neg_elbo", "rec", "kl", "active_units"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "runs.csv"), h, &res[0][0], RUNS, 5), "runs.csv");
    {
        double *tab = drv_alloc(&cli, (size_t)Z * (RUNS + 1), sizeof(double));
        for (int k = 0; k < Z; k++) {
            tab[k * (RUNS + 1)] = k;
            for (int r = 0; r < RUNS; r++)
                tab[k * (RUNS + 1) + 1 + r] = dimkl[(size_t)r * Z + k];
        }
        static const char *const dh[RUNS + 1] = {"dim", "kl_plain", "kl_warmup", "kl_free_bits"};
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "kl_per_dim.csv"), dh, tab, (size_t)Z, RUNS + 1), "kl_per_dim.csv");
        double *et = drv_alloc(&cli, (size_t)E * (1 + 3 * RUNS), sizeof(double));
        for (int e = 0; e < E; e++) {
            et[e * (1 + 3 * RUNS)] = e + 1;
            for (int r = 0; r < RUNS; r++)
                for (int c = 0; c < 3; c++)
                    et[e * (1 + 3 * RUNS) + 1 + 3 * r + c] = trace[((size_t)r * E + e) * 3 + c];
        }
        static const char *const eh[1 + 3 * RUNS] = {"epoch", "plain_neg_elbo", "plain_rec", "plain_kl",
                                                     "warmup_neg_elbo", "warmup_rec", "warmup_kl",
                                                     "free_bits_neg_elbo", "free_bits_rec", "free_bits_kl"};
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "epochs.csv"), eh, et, (size_t)E, 1 + 3 * RUNS), "epochs.csv");
        free(tab), free(et);
    }

    /* Figure: the KL of each dimension, sorted, per run; and the KL per epoch. */
    elbo_svg *fig = elbo_svg_new(2, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    char title[96];
    snprintf(title, sizeof title, "KL per latent dimension (sorted), beta = %g", beta);
    elbo_plot_title(pl, title);
    elbo_plot_xlabel(pl, "dimension (by KL)");
    elbo_plot_ylabel(pl, "nats");
    double *x = drv_alloc(&cli, (size_t)Z, sizeof(double)), *y = drv_alloc(&cli, (size_t)Z, sizeof(double));
    for (int r = 0; r < RUNS; r++) {
        for (int k = 0; k < Z; k++)
            x[k] = k, y[k] = dimkl[(size_t)r * Z + k];
        for (int a = 1; a < Z; a++) /* insertion sort, descending */
            for (int b = a; b > 0 && y[b] > y[b - 1]; b--) {
                double tmp = y[b];
                y[b] = y[b - 1], y[b - 1] = tmp;
            }
        char lab[64];
        snprintf(lab, sizeof lab, "%s (%d active)", names[r], (int)res[r][4]);
        elbo_plot_line(pl, x, y, (size_t)Z, &(elbo_style){.label = lab});
        elbo_plot_scatter(pl, x, y, (size_t)Z, &(elbo_style){.color = elbo_palette(r), .color_set = true});
    }
    if (free_bits > 0)
        elbo_plot_hline(pl, free_bits, &(elbo_style){.label = "free-bits floor", .color = 0, .color_set = true,
                                                     .dash = ELBO_DASH_DASHED});
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_RIGHT);
    pl = elbo_svg_panel(fig, 1);
    elbo_plot_title(pl, "training KL per epoch");
    elbo_plot_xlabel(pl, "epoch");
    elbo_plot_ylabel(pl, "nats per example");
    double ex[1024], ey[1024];
    int ne = E < 1024 ? E : 1024;
    for (int r = 0; r < RUNS; r++) {
        for (int e = 0; e < ne; e++)
            ex[e] = e + 1, ey[e] = trace[((size_t)r * E + e) * 3 + 2];
        elbo_plot_line(pl, ex, ey, (size_t)ne, &(elbo_style){.label = names[r]});
        elbo_plot_scatter(pl, ex, ey, (size_t)ne, &(elbo_style){.color = elbo_palette(r), .color_set = true});
    }
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_RIGHT);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "posterior_collapse.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{runs.csv,kl_per_dim.csv,epochs.csv,posterior_collapse.svg,summary.json}\n", cli.out);
    vs_free_data(&d);
    vs_end();
    free(trace), free(dimkl), free(mu), free(lv), free(x), free(y);
    return 0;
}
