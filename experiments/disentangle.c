/* Figure 17.14 and section 17.8.4: disentanglement with the beta-VAE (17.30).
 *
 * One beta-VAE per beta. For each: latent traversals (one row per latent
 * dimension, most informative first: z_j swept over -3..3 with the others
 * at a test image's encoder mean, the centre column is its reconstruction);
 * active units; and a simple label-based disentanglement score: with the
 * class label as the one known factor, the mutual information I(z_j; y)
 * between each encoder-mean coordinate (binned) and the label, normalised by
 * H(y); score = (largest - second largest) / H(y), a one-factor "MIG". A
 * larger beta pushes q(z|x) towards the factorised prior: fewer active units,
 * lower KL, each surviving unit carrying more of one factor.
 *
 * --objective tcvae | factorvae | dip1 | dip2 | mmd (docs/OBJECTIVES.md)
 * trains those instead, one model per value of --betas taken as the
 * objective's main weight: the TC weight (--tc-beta, --factor-gamma), the
 * off-diagonal weight (--dip-lambda-od) or the MMD weight (--mmd-lambda);
 * the other weights come from their flags. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/io/png.h"
#include "models/io/svg.h"
#include "summary.h"
#include "vae_setup.h"

#define MAX_BETAS 16
#define BINS 20

static const char *betas_text;
static int rows_shown, steps, image;
static double span;

static const elbo_opt opts[] = {
    VS_MODEL_OPTS("10", "bernoulli", "0.1"),
    VS_TRAIN_OPTS("3", "20000"),
    {"betas", ELBO_OPT_STRING, &betas_text, "1,4,16", "one model per value of the objective's main weight: the "
     "KL weight beta (elbo), --tc-beta (tcvae), --factor-gamma, --dip-lambda-od, --mmd-lambda", .choices = NULL},
    {"rows", ELBO_OPT_INT, &rows_shown, "10", "latent dimensions traversed (by information)", .min = 1, .max = 4096},
    {"steps", ELBO_OPT_INT, &steps, "9", "traversal steps", .min = 2, .max = 100},
    {"span", ELBO_OPT_DOUBLE, &span, "3", "traversal from -span to +span", .min = 0.1, .max = 100},
    {"image", ELBO_OPT_INT, &image, "0", "test image the traversals start from", .min = 0, .max = 9999},
};

/* I(z_j; y) / H(y) from equal-width bins of the encoder means. */
static double mi_norm(const float *mu, int Z, int j, const uint8_t *y, size_t n, int classes, double hy)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        lo = fmin(lo, mu[i * Z + j]), hi = fmax(hi, mu[i * Z + j]);
    double joint[BINS][ELBO_DATASET_LABEL_LIMIT] = {{0}}, pb[BINS] = {0}, py[ELBO_DATASET_LABEL_LIMIT] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = hi > lo ? (int)((mu[i * Z + j] - lo) / (hi - lo) * BINS) : 0;
        b = b >= BINS ? BINS - 1 : b;
        joint[b][y[i]] += 1.0 / n, pb[b] += 1.0 / n, py[y[i]] += 1.0 / n;
    }
    double mi = 0;
    for (int b = 0; b < BINS; b++)
        for (int c = 0; c < classes; c++)
            if (joint[b][c] > 0)
                mi += joint[b][c] * log(joint[b][c] / (pb[b] * py[c]));
    return mi / hy;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "disentangle", "Figure 17.14: beta-VAE latent traversals, active units, a label-based score.",
                  opts, sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    vs_begin(&cli, &argc, &argv);
    if (vs_checkpoint && *vs_checkpoint)
        drv_usage_error(&cli, "--checkpoint: this driver trains one model per --betas value");
    double betas[MAX_BETAS];
    int nb = drv_list(&cli, "betas", betas_text, betas, MAX_BETAS);
    for (int b = 0; b < nb; b++)
        if (betas[b] < 0)
            drv_usage_error(&cli, "--betas: expected non-negative values");
    vs_data d;
    vs_load_data(&cli, &d);
    if (!d.test.y)
        drv_usage_error(&cli, "the test split needs labels");
    if ((size_t)image >= d.test.n)
        drv_usage_error(&cli, "--image: beyond the test split");
    elbo_tape *t = vs_tape(&cli);
    const char *wname = elbo_vae_parts_main_weight_name(); /* what --betas sets */
    const int D = (int)d.test.d, Z = vs_latent, R = d.test.rows, C = d.test.cols, K = d.test.classes,
              CH = d.test.channels;
    size_t n = d.test.n;
    double hy = 0, py[ELBO_DATASET_LABEL_LIMIT] = {0};
    for (size_t i = 0; i < n; i++)
        py[d.test.y[i]] += 1.0 / n;
    for (int c = 0; c < K; c++)
        if (py[c] > 0)
            hy -= py[c] * log(py[c]);

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    float *mu = drv_alloc(&cli, n * Z, sizeof(float));
    double *var = drv_alloc(&cli, (size_t)Z, sizeof(double)), *mi = drv_alloc(&cli, (size_t)Z, sizeof(double));
    double *tab = drv_alloc(&cli, (size_t)nb * 6, sizeof(double));
    double *mitab = drv_alloc(&cli, (size_t)Z * (nb + 1), sizeof(double));
    int show = rows_shown < Z ? rows_shown : Z;
    float *zz = drv_alloc(&cli, (size_t)show * steps * Z, sizeof(float));
    float *img = drv_alloc(&cli, (size_t)show * steps * D, sizeof(float));
    for (int b = 0; b < nb; b++) {
        elbo_vae m;
        char label[48];
        snprintf(label, sizeof label, "%s %g", wname, betas[b]);
        vs_model(&cli, &d, &(vs_objective){.beta = 1.0, .main_weight = true, .weight = betas[b]}, &m, label);
        elbo_rng rng;
        elbo_rng_seed(&rng, cli.seed ^ 0xD15Eull);
        elbo_vae_eval ev;
        drv_check(&cli, elbo_vae_evaluate_data(&m, t, &d.test, 0, &rng, &ev), "evaluate");
        int active;
        drv_check(&cli, elbo_vae_active_units_data(&m, t, &d.test, 0, 0.01, &active, var), "active units");
        drv_check(&cli, elbo_vae_encode_data(&m, t, &d.test, 0, n, 0, mu, NULL), "encode");
        double m1 = 0, m2 = 0;
        static int order[4096];
        if (Z > 4096)
            drv_usage_error(&cli, "--latent: at most 4096 here");
        for (int k = 0; k < Z; k++) {
            mi[k] = var[k] > 0.01 ? mi_norm(mu, Z, k, d.test.y, n, K, hy) : 0; /* inactive units carry nothing */
            mitab[k * (nb + 1)] = k, mitab[k * (nb + 1) + 1 + b] = mi[k];
            order[k] = k;
            if (mi[k] > m1)
                m2 = m1, m1 = mi[k];
            else if (mi[k] > m2)
                m2 = mi[k];
        }
        for (int a = 1; a < Z; a++) /* most informative (largest variance of the mean) first */
            for (int c = a; c > 0 && var[order[c]] > var[order[c - 1]]; c--) {
                int tmp = order[c];
                order[c] = order[c - 1], order[c - 1] = tmp;
            }
        double score = m1 - m2;
        double row[6] = {betas[b], ev.neg_elbo, ev.rec, ev.kl, active, score};
        memcpy(tab + (size_t)b * 6, row, sizeof row);
        printf("%s %-5g test -ELBO %.2f (rec %.2f, KL %.2f), active units %d/%d, I(z_j;y)/H(y) top %.3f, "
               "score %.3f\n",
               wname, betas[b], ev.neg_elbo, ev.rec, ev.kl, active, Z, m1, score);

        /* Traversals around the chosen image's encoder mean. */
        for (int r = 0; r < show; r++)
            for (int s = 0; s < steps; s++) {
                float *z = zz + ((size_t)r * steps + s) * Z;
                memcpy(z, mu + (size_t)image * Z, (size_t)Z * sizeof(float));
                z[order[r]] = (float)(-span + 2 * span * s / (steps - 1));
            }
        drv_check(&cli, elbo_vae_decode(&m, t, zz, NULL, (size_t)show * steps, 0, img), "decode");
        char fname[64];
        snprintf(fname, sizeof fname, "traversal_beta%g", betas[b]);
        drv_check(&cli, elbo_write_image_grid(cli.out, fname, img, (size_t)show * steps, R, C, CH, show, steps), fname);
        elbo_vae_free(&m);
    }
    static const char *const h[6] = {"beta", "test_neg_elbo", "rec", "kl", "active_units", "label_score"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "betas.csv"), h, tab, (size_t)nb, 6), "betas.csv");
    {
        const char **mh = drv_alloc(&cli, (size_t)nb + 1, sizeof(char *));
        char (*names)[32] = drv_alloc(&cli, (size_t)nb, 32);
        mh[0] = "dim";
        for (int b = 0; b < nb; b++)
            snprintf(names[b], 32, "mi_beta%g", betas[b]), mh[1 + b] = names[b];
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "mutual_information.csv"), mh, mitab, (size_t)Z, (size_t)nb + 1),
                  "mutual_information.csv");
        free(mh), free(names);
    }
    elbo_json_number(j, "kl_first_beta", tab[3]);
    elbo_json_number(j, "kl_last_beta", tab[(size_t)(nb - 1) * 6 + 3]);
    elbo_json_int(j, "active_first_beta", (long long)tab[4]);
    elbo_json_int(j, "active_last_beta", (long long)tab[(size_t)(nb - 1) * 6 + 4]);
    elbo_json_number(j, "score_first_beta", tab[5]);
    elbo_json_number(j, "score_last_beta", tab[(size_t)(nb - 1) * 6 + 5]);
    elbo_json_numbers(j, "betas", betas, (size_t)nb);
    elbo_json_string(j, "betas_weight", wname);

    elbo_svg *fig = elbo_svg_new(3, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    double bx[MAX_BETAS], by[MAX_BETAS];
    char titles[3][64];
    snprintf(titles[0], sizeof titles[0], "KL term (nats) vs %s", wname);
    snprintf(titles[1], sizeof titles[1], "active units vs %s", wname);
    snprintf(titles[2], sizeof titles[2], "label-based score vs %s", wname);
    const int col[3] = {3, 4, 5};
    for (int p = 0; p < 3; p++) {
        elbo_plot *pl = elbo_svg_panel(fig, p);
        elbo_plot_title(pl, titles[p]);
        elbo_plot_xlabel(pl, wname);
        bool logx = true;
        for (int b = 0; b < nb; b++)
            logx = logx && betas[b] > 0;
        elbo_plot_logx(pl, logx && nb > 1);
        for (int b = 0; b < nb; b++)
            bx[b] = betas[b], by[b] = tab[(size_t)b * 6 + col[p]];
        elbo_plot_line(pl, bx, by, (size_t)nb, NULL);
        elbo_plot_scatter(pl, bx, by, (size_t)nb, &(elbo_style){.size = 4});
    }
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "disentangle.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{traversal_beta*.png (rows: latent dims by variance; columns: -%g..%g), betas.csv, "
           "mutual_information.csv, disentangle.svg, summary.json}\n",
           cli.out, span, span);
    vs_free_data(&d);
    vs_end();
    free(mu), free(var), free(mi), free(tab), free(mitab), free(zz), free(img);
    return 0;
}
