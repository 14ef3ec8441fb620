/* Figure 17.13 and problem 17.6: resynthesis on Fashion-MNIST.
 *
 * Images are projected into the latent space with the encoder mean. An
 * attribute vector is the difference of two class means in latent space
 * (the book: "smiling" minus "neutral"); here by default
 *   horizontal: Pullover - T-shirt (long sleeves),  vertical: Dress - T-shirt.
 * A test image of the source class is projected, moved by a grid of
 * multiples of both vectors and decoded (center = its reconstruction).
 *
 * Problem 17.6: lerp vs slerp. Under the prior Norm(0, I) in d dimensions
 * almost all mass lies near the sphere of radius sqrt(d) (the typical set);
 * the straight line between two typical points cuts through the inside
 * (its midpoint has norm ~ sqrt(d/2)), where the prior puts almost no mass,
 * while slerp moves along the sphere. The norms along both paths are plotted
 * against sqrt(d), for prior endpoints (averaged over pairs) and for two
 * projected images; both paths are decoded. */
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

static const char *attr1_text, *attr2_text;
static int source_class, steps, pairs, grid_half, image_a, image_b;
static double max_edit;

static const elbo_opt opts[] = {
    VS_MODEL_OPTS("20", "bernoulli", "0.1"),
    VS_TRAIN_OPTS("5", "60000"),
    {"attr1", ELBO_OPT_STRING, &attr1_text, "0,2", "horizontal attribute: classes FROM,TO (2 Pullover - 0 T-shirt)",
     .choices = NULL},
    {"attr2", ELBO_OPT_STRING, &attr2_text, "0,3", "vertical attribute: classes FROM,TO (3 Dress - 0 T-shirt)",
     .choices = NULL},
    {"source-class", ELBO_OPT_INT, &source_class, "0", "class of the edited test image", .min = 0, .max = 9},
    {"edit-half", ELBO_OPT_INT, &grid_half, "2", "edit grid is (2h+1) x (2h+1)", .min = 1, .max = 10},
    {"max-edit", ELBO_OPT_DOUBLE, &max_edit, "1", "largest multiple of an attribute vector", .min = 0, .max = 100},
    {"steps", ELBO_OPT_INT, &steps, "11", "interpolation points (ends included)", .min = 2, .max = 1000},
    {"pairs", ELBO_OPT_INT, &pairs, "500", "prior endpoint pairs averaged in the norm plot", .min = 1,
     .max = 1000000},
    {"image-a", ELBO_OPT_INT, &image_a, "0", "first test image of the interpolation", .min = 0, .max = 9999},
    {"image-b", ELBO_OPT_INT, &image_b, "1", "second test image of the interpolation", .min = 0, .max = 9999},
};

static const char *const class_names[10] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static double norm(const float *z, int Z)
{
    double s = 0;
    for (int k = 0; k < Z; k++)
        s += (double)z[k] * z[k];
    return sqrt(s);
}

/* out = lerp or slerp between a and b at t (slerp: White 2016, on the raw vectors). */
static void interp(const float *a, const float *b, int Z, double t, bool sph, float *out)
{
    double wa = 1 - t, wb = t;
    if (sph) {
        double na = norm(a, Z), nb = norm(b, Z), dot = 0;
        for (int k = 0; k < Z; k++)
            dot += (double)a[k] * b[k];
        double c = dot / (na * nb), om = acos(c < -1 ? -1 : c > 1 ? 1 : c);
        if (om > 1e-6)
            wa = sin((1 - t) * om) / sin(om), wb = sin(t * om) / sin(om);
    }
    for (int k = 0; k < Z; k++)
        out[k] = (float)(wa * a[k] + wb * b[k]);
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "resynthesis", "Figure 17.13 / problem 17.6: latent attribute edits, slerp vs lerp.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    vs_begin(&cli, &argc, &argv);
    double a1[2], a2[2];
    if (drv_list(&cli, "attr1", attr1_text, a1, 2) != 2 || drv_list(&cli, "attr2", attr2_text, a2, 2) != 2)
        drv_usage_error(&cli, "--attr1/--attr2: expected two classes FROM,TO");
    for (int i = 0; i < 2; i++)
        if (a1[i] < 0 || a1[i] > 9 || a2[i] < 0 || a2[i] > 9)
            drv_usage_error(&cli, "--attr1/--attr2: classes are 0..9");
    if (cli.quick && pairs > 100)
        pairs = 100;
    vs_data d;
    vs_load_data(&cli, &d);
    if (!d.test.y || d.test.classes > 10)
        drv_usage_error(&cli, "the test split needs labels of at most 10 classes (the Fashion-MNIST classes)");
    if ((size_t)image_a >= d.test.n || (size_t)image_b >= d.test.n)
        drv_usage_error(&cli, "--image-a/--image-b: beyond the test split");
    elbo_vae m;
    double test_nelbo = vs_model(&cli, &d, &(vs_objective){.beta = 1}, &m, "vae");
    elbo_tape *t = vs_tape(&cli);
    const int D = (int)d.test.d, Z = m.cfg.z_dim, R = d.test.rows, C = d.test.cols, CH = d.test.channels;
    const size_t N = d.test.n;
    const double radius = sqrt((double)Z);

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json *j = &sum.json;
    elbo_json_number(j, "test_neg_elbo", test_nelbo);
    elbo_json_int(j, "latent", Z);
    elbo_json_number(j, "typical_radius", radius);

    /* ---- projections: encoder means of the test split, class means ---- */
    float *mu = drv_alloc(&cli, N * Z, sizeof(float));
    drv_check(&cli, elbo_vae_encode_data(&m, t, &d.test, 0, N, 0, mu, NULL), "encode");
    static double cm[10][4096];
    int cnt[10] = {0};
    if (Z > 4096)
        drv_usage_error(&cli, "--latent: at most 4096 here");
    double mean_norm = 0;
    for (size_t i = 0; i < N; i++) {
        int c = d.test.y[i];
        cnt[c]++;
        for (int k = 0; k < Z; k++)
            cm[c][k] += mu[i * Z + k];
        mean_norm += norm(mu + i * Z, Z) / (double)N;
    }
    for (int c = 0; c < 10; c++)
        for (int k = 0; k < Z; k++)
            cm[c][k] /= cnt[c] ? cnt[c] : 1;
    printf("encoder means: average norm %.2f vs typical radius sqrt(%d) = %.2f\n", mean_norm, Z, radius);
    elbo_json_number(j, "encoder_mean_norm", mean_norm);
    float *u1 = drv_alloc(&cli, (size_t)Z, sizeof(float)), *u2 = drv_alloc(&cli, (size_t)Z, sizeof(float));
    int f1 = (int)a1[0], t1 = (int)a1[1], f2 = (int)a2[0], t2 = (int)a2[1];
    if (!cnt[f1] || !cnt[t1] || !cnt[f2] || !cnt[t2] || !cnt[source_class])
        drv_usage_error(&cli, "a class used by --attr1/--attr2/--source-class has no test images (raise --test-size)");
    for (int k = 0; k < Z; k++)
        u1[k] = (float)(cm[t1][k] - cm[f1][k]), u2[k] = (float)(cm[t2][k] - cm[f2][k]);
    printf("attribute vectors: |%s - %s| = %.2f, |%s - %s| = %.2f\n", class_names[t1], class_names[f1],
           norm(u1, Z), class_names[t2], class_names[f2], norm(u2, Z));
    elbo_json_number(j, "attr1_norm", norm(u1, Z));
    elbo_json_number(j, "attr2_norm", norm(u2, Z));

    /* ---- the edit grid (fig 17.13): first column the original, then decoded edits ---- */
    size_t src = 0;
    while (d.test.y[src] != source_class)
        src++;
    int G = 2 * grid_half + 1, cols = G + 1;
    float *zz = drv_alloc(&cli, (size_t)G * G * Z, sizeof(float));
    float *dec = drv_alloc(&cli, (size_t)G * G * D, sizeof(float));
    for (int r = 0; r < G; r++)
        for (int c = 0; c < G; c++) {
            double al = max_edit * (c - grid_half) / grid_half, be = max_edit * (grid_half - r) / grid_half;
            for (int k = 0; k < Z; k++)
                zz[((size_t)r * G + c) * Z + k] = (float)(mu[src * Z + k] + al * u1[k] + be * u2[k]);
        }
    drv_check(&cli, elbo_vae_decode(&m, t, zz, NULL, (size_t)G * G, 0, dec), "decode");
    float *tiles = drv_alloc(&cli, (size_t)G * cols * D, sizeof(float));
    for (int r = 0; r < G; r++) {
        float *first = tiles + (size_t)r * cols * D;
        if (r == grid_half)
            elbo_dataset_rows(&d.test, src, 1, first, NULL);
        else
            for (int p = 0; p < D; p++)
                first[p] = 1.0f; /* blank (white) tile */
        memcpy(first + D, dec + (size_t)r * G * D, (size_t)G * D * sizeof(float));
    }
    drv_check(&cli, elbo_write_image_grid(cli.out, "edits", tiles, (size_t)G * cols, R, C, CH, G, cols), "edits.png");

    /* ---- problem 17.6: norms along lerp and slerp ---- */
    elbo_rng rng;
    mc_rng(&rng, cli.seed, 1, 0);
    float *za = drv_alloc(&cli, (size_t)Z, sizeof(float)), *zb = drv_alloc(&cli, (size_t)Z, sizeof(float));
    float *zi = drv_alloc(&cli, (size_t)Z, sizeof(float));
    double *ln = drv_alloc(&cli, (size_t)steps * 4, sizeof(double)), *sn = ln + steps, *ln2 = ln + 2 * steps,
           *sn2 = ln + 3 * steps;
    for (int p = 0; p < pairs; p++) {
        elbo_rng_normal_f32(&rng, za, (size_t)Z);
        elbo_rng_normal_f32(&rng, zb, (size_t)Z);
        for (int s = 0; s < steps; s++) {
            double tt = (double)s / (steps - 1), nl, ns;
            interp(za, zb, Z, tt, false, zi);
            nl = norm(zi, Z);
            interp(za, zb, Z, tt, true, zi);
            ns = norm(zi, Z);
            ln[s] += nl / pairs, sn[s] += ns / pairs, ln2[s] += nl * nl / pairs, sn2[s] += ns * ns / pairs;
        }
    }
    double lerp_min = INFINITY, slerp_min = INFINITY, slerp_max = 0;
    for (int s = 0; s < steps; s++) {
        lerp_min = fmin(lerp_min, ln[s]);
        slerp_min = fmin(slerp_min, sn[s]), slerp_max = fmax(slerp_max, sn[s]);
    }
    printf("prior endpoints (%d pairs, d = %d): mean norm along slerp %.2f..%.2f, along lerp down to %.2f; "
           "sqrt(d) = %.2f, sqrt(d/2) = %.2f\n",
           pairs, Z, slerp_min, slerp_max, lerp_min, radius, sqrt(Z / 2.0));
    elbo_json_number(j, "slerp_norm_min_over_radius", slerp_min / radius);
    elbo_json_number(j, "slerp_norm_max_over_radius", slerp_max / radius);
    elbo_json_number(j, "lerp_norm_min_over_radius", lerp_min / radius);

    /* Two projected test images: norms along both paths, and both paths decoded. */
    const float *ma = mu + (size_t)image_a * Z, *mb = mu + (size_t)image_b * Z;
    float *path = drv_alloc(&cli, (size_t)2 * steps * Z, sizeof(float));
    double *pn = drv_alloc(&cli, (size_t)steps * 5, sizeof(double));
    for (int s = 0; s < steps; s++) {
        double tt = (double)s / (steps - 1);
        interp(ma, mb, Z, tt, false, path + (size_t)s * Z);
        interp(ma, mb, Z, tt, true, path + (size_t)(steps + s) * Z);
        double row[5] = {tt, ln[s], sn[s], norm(path + (size_t)s * Z, Z), norm(path + (size_t)(steps + s) * Z, Z)};
        memcpy(pn + (size_t)s * 5, row, sizeof row);
    }
    static const char *const nh[5] = {"t", "prior_lerp_norm", "prior_slerp_norm", "images_lerp_norm",
                                      "images_slerp_norm"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "interp_norms.csv"), nh, pn, (size_t)steps, 5), "interp_norms.csv");
    float *pd = drv_alloc(&cli, (size_t)2 * steps * D, sizeof(float));
    drv_check(&cli, elbo_vae_decode(&m, t, path, NULL, (size_t)2 * steps, 0, pd), "decode");
    drv_check(&cli, elbo_write_image_grid(cli.out, "interp", pd, (size_t)2 * steps, R, C, CH, 2, steps), "interp.png");
    /* And between two prior draws (typical points), where the difference shows most. */
    elbo_rng_normal_f32(&rng, za, (size_t)Z);
    elbo_rng_normal_f32(&rng, zb, (size_t)Z);
    for (int s = 0; s < steps; s++) {
        double tt = (double)s / (steps - 1);
        interp(za, zb, Z, tt, false, path + (size_t)s * Z);
        interp(za, zb, Z, tt, true, path + (size_t)(steps + s) * Z);
    }
    drv_check(&cli, elbo_vae_decode(&m, t, path, NULL, (size_t)2 * steps, 0, pd), "decode");
    drv_check(&cli, elbo_write_image_grid(cli.out, "interp_prior", pd, (size_t)2 * steps, R, C, CH, 2, steps),
              "interp_prior.png");

    /* ---- SVG: norms vs t; the projections onto the two attribute directions ---- */
    elbo_svg *fig = elbo_svg_new(3, 1);
    if (!fig)
        drv_check(&cli, ELBO_ERR_NOMEM, "figure");
    double *tx = drv_alloc(&cli, (size_t)steps * 7, sizeof(double));
    double *y1 = tx + steps, *y2 = tx + 2 * steps, *lo1 = tx + 3 * steps, *hi1 = tx + 4 * steps,
           *lo2 = tx + 5 * steps, *hi2 = tx + 6 * steps;
    for (int s = 0; s < steps; s++) {
        tx[s] = (double)s / (steps - 1), y1[s] = ln[s], y2[s] = sn[s];
        double v1 = sqrt(fmax(ln2[s] - ln[s] * ln[s], 0)), v2 = sqrt(fmax(sn2[s] - sn[s] * sn[s], 0));
        lo1[s] = ln[s] - v1, hi1[s] = ln[s] + v1, lo2[s] = sn[s] - v2, hi2[s] = sn[s] + v2;
    }
    elbo_style sl = elbo_style_color(elbo_palette(0), "lerp"), ss = elbo_style_color(elbo_palette(1), "slerp");
    elbo_style bl = sl, bs = ss;
    bl.label = bs.label = NULL, bl.width = bs.width = -1;
    elbo_style rad = {.label = "sqrt(d): typical radius", .color = 0, .color_set = true, .dash = ELBO_DASH_DASHED};
    elbo_plot *pl = elbo_svg_panel(fig, 0);
    char title[128];
    snprintf(title, sizeof title, "prior endpoints: |z| (mean +- sd, %d pairs)", pairs);
    elbo_plot_title(pl, title);
    elbo_plot_xlabel(pl, "t");
    elbo_plot_ylabel(pl, "|z|");
    elbo_plot_fill(pl, tx, lo1, hi1, (size_t)steps, 0, &bl);
    elbo_plot_fill(pl, tx, lo2, hi2, (size_t)steps, 0, &bs);
    elbo_plot_line(pl, tx, y1, (size_t)steps, &sl);
    elbo_plot_line(pl, tx, y2, (size_t)steps, &ss);
    elbo_plot_hline(pl, radius, &rad);
    elbo_plot_ylim(pl, 0, radius * 1.4);
    elbo_plot_legend(pl, ELBO_LEGEND_BOTTOM_LEFT);

    pl = elbo_svg_panel(fig, 1);
    elbo_plot_title(pl, "two projected test images: |z|");
    elbo_plot_xlabel(pl, "t");
    elbo_plot_ylabel(pl, "|z|");
    for (int s = 0; s < steps; s++)
        y1[s] = pn[s * 5 + 3], y2[s] = pn[s * 5 + 4];
    elbo_plot_line(pl, tx, y1, (size_t)steps, &sl);
    elbo_plot_line(pl, tx, y2, (size_t)steps, &ss);
    elbo_plot_hline(pl, radius, &rad);
    elbo_plot_ylim(pl, 0, fmax(radius, fmax(y1[0], y1[steps - 1])) * 1.4);
    elbo_plot_legend(pl, ELBO_LEGEND_BOTTOM_LEFT);

    pl = elbo_svg_panel(fig, 2);
    elbo_plot_title(pl, "encoder means along the two attributes");
    char xl[64], yl[64];
    snprintf(xl, sizeof xl, "<z, %s - %s>", class_names[t1], class_names[f1]);
    snprintf(yl, sizeof yl, "<z, %s - %s>", class_names[t2], class_names[f2]);
    elbo_plot_xlabel(pl, xl);
    elbo_plot_ylabel(pl, yl);
    double n1 = norm(u1, Z), n2 = norm(u2, Z);
    size_t show = N < 2000 ? N : 2000;
    double *px = drv_alloc(&cli, show, sizeof(double)), *py = drv_alloc(&cli, show, sizeof(double));
    int classes_shown[5] = {f1, t1, t2, f2, source_class};
    for (int ci = 0; ci < 5; ci++) {
        int c = classes_shown[ci], dup = 0;
        for (int cj = 0; cj < ci; cj++)
            dup |= classes_shown[cj] == c;
        if (dup)
            continue;
        size_t n = 0;
        for (size_t i = 0; i < show; i++)
            if (d.test.y[i] == c) {
                double s1 = 0, s2 = 0;
                for (int k = 0; k < Z; k++)
                    s1 += mu[i * Z + k] * u1[k], s2 += mu[i * Z + k] * u2[k];
                px[n] = s1 / n1, py[n++] = s2 / n2;
            }
        elbo_plot_scatter(pl, px, py, n, &(elbo_style){.label = class_names[c], .size = 1.8, .alpha = 0.6});
    }
    elbo_plot_legend(pl, ELBO_LEGEND_TOP_LEFT);
    drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, "resynthesis.svg")), "svg");
    elbo_svg_free(fig);

    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    printf("wrote %s/{edits.png (col 1: original; grid: %s->%s horizontally, %s->%s vertically), interp.png and "
           "interp_prior.png (row 1 lerp, row 2 slerp), interp_norms.csv, resynthesis.svg, summary.json}\n",
           cli.out, class_names[f1], class_names[t1], class_names[f2], class_names[t2]);
    elbo_vae_free(&m);
    vs_free_data(&d);
    vs_end();
    free(mu), free(u1), free(u2), free(zz), free(dec), free(tiles), free(za), free(zb), free(zi), free(ln), free(path),
        free(pn), free(pd), free(tx), free(px), free(py);
    return 0;
}
