/* Writes the cases of the independent check (metrics_ref.py): noisy
 * synthetic codes on a full grid (perfect, rotated, dead unit) and a linear
 * "encoder" on a random subset of dSprites; for each, the inputs, every
 * metric's result, and the rows every classifier-based score drew.
 *
 *   metrics_cases DIR     writes DIR/CASE/{codes,logvar,noise,classes,sizes,
 *                         order,draws_betavae,draws_factorvae}.csv,
 *                         params.json and results.json
 *
 * The draws are recorded by a source that wraps the table source (the same
 * rng consumption, via elbo_table_source_rows); each score is also computed
 * with the plain table source and must agree bit for bit. Exit 0 on
 * success, 1 with a message on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/data/dsprites.h"
#include "models/io/csv.h"
#include "models/io/file.h"
#include "models/io/json.h"
#include "models/metrics/metrics.h"

#define MAX_DIM 8
#define MAX_FACTORS 5
#define BINS 20
#define DCI_ALPHA 1e-3
#define DCI_TEST_EVERY 3 /* point i is a test point iff i % 3 == 2 */

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "metrics_cases: %s: %s\n", what, elbo_last_error());
    exit(1);
}

static void check(elbo_status st, const char *what)
{
    if (st != ELBO_OK)
        die(what);
}

typedef struct kase {
    const char *name;
    size_t n;
    int dim, count;
    double *mean, *logvar, *noise;
    int32_t *classes;
    int32_t sizes[MAX_FACTORS];
    uint32_t *order;
    size_t chen_samples;
    uint64_t chen_mask;
} kase;

static const char *path(const kase *k, const char *file)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s/%s", root, k->name, file);
    return p;
}

static void write_matrix(const kase *k, const char *file, const double *x, size_t rows, size_t cols)
{
    char names[MAX_DIM * 2][16];
    const char *hdr[MAX_DIM * 2];
    for (size_t c = 0; c < cols; c++)
        snprintf(names[c], sizeof names[c], "c%zu", c), hdr[c] = names[c];
    check(elbo_csv_write(path(k, file), hdr, x, rows, cols), file);
}

static void write_ints(const kase *k, const char *file, const int32_t *v, size_t rows, size_t cols)
{
    double *x = malloc(rows * cols * sizeof *x);
    for (size_t i = 0; i < rows * cols; i++)
        x[i] = v[i];
    write_matrix(k, file, x, rows, cols);
    free(x);
}

/* ---- a recording source ---- */

typedef struct recorder {
    elbo_code_source source;
    elbo_table_source *table;
    elbo_csv_writer log;
    long call;
} recorder;

static elbo_status record_draw(void *ctx, elbo_rng *rng, int factor, const int32_t *classes, size_t n, double *codes)
{
    recorder *r = ctx;
    uint32_t *rows = malloc(n * sizeof *rows);
    elbo_status st = elbo_table_source_rows(r->table, rng, factor, classes, n, rows);
    int d = r->table->codes->dim;
    for (size_t i = 0; i < n && st == ELBO_OK; i++) {
        double row[4] = {(double)r->call, factor, factor >= 0 ? classes[i] : -1, rows[i]};
        st = elbo_csv_row(&r->log, row);
        memcpy(codes + i * (size_t)d, r->table->codes->mean + (size_t)rows[i] * (size_t)d, (size_t)d * sizeof(double));
    }
    r->call++;
    free(rows);
    return st;
}

static void recorder_open(recorder *r, elbo_table_source *t, const char *file)
{
    static const char *const hdr[] = {"call", "factor", "class", "row"};
    r->table = t;
    r->call = 0;
    r->source = t->source;
    r->source.ctx = r;
    r->source.draw = record_draw;
    check(elbo_csv_open(&r->log, file, 4, hdr), file);
}

/* ---- the cases ---- */

static void run_case(kase *k)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, k->name);
    check(elbo_mkdir_p(dir), dir);
    write_matrix(k, "codes.csv", k->mean, k->n, (size_t)k->dim);
    write_matrix(k, "logvar.csv", k->logvar, k->n, (size_t)k->dim);
    write_matrix(k, "noise.csv", k->noise, k->n, (size_t)k->dim);
    write_ints(k, "classes.csv", k->classes, k->n, (size_t)k->count);
    write_ints(k, "sizes.csv", k->sizes, 1, (size_t)k->count);
    int32_t *ord = malloc(k->n * sizeof *ord);
    for (size_t i = 0; i < k->n; i++)
        ord[i] = (int32_t)k->order[i];
    write_ints(k, "order.csv", ord, k->n, 1);
    free(ord);

    elbo_codes codes = {.n = k->n, .dim = k->dim, .mean = k->mean, .logvar = k->logvar};
    elbo_factors f = {.n = k->n, .count = k->count, .classes = k->classes, .sizes = k->sizes};
    int d = k->dim, nf = k->count;
    double mi_hist[MAX_DIM * MAX_FACTORS], mi_chen[MAX_DIM * MAX_FACTORS], sap_m[MAX_DIM * MAX_FACTORS],
        imp[MAX_DIM * MAX_FACTORS], per_hist[MAX_FACTORS], per_chen[MAX_FACTORS];
    double mig_hist, mig_chen, sap;
    check(elbo_mi_matrix_hist(&codes, &f, BINS, mi_hist), "mi hist");
    check(elbo_mig_hist(&codes, &f, BINS, &mig_hist, per_hist, NULL), "mig hist");
    elbo_chen_opts co = {.noise = k->noise, .order = k->order, .samples = k->chen_samples, .factor_mask = k->chen_mask};
    check(elbo_mi_matrix_chen(&codes, &f, &co, mi_chen), "mi chen");
    check(elbo_mig_chen(&codes, &f, &co, &mig_chen, per_chen, NULL), "mig chen");
    check(elbo_sap(&codes, &f, &sap, sap_m), "sap");

    /* DCI: every third point is a test point */
    size_t ntest = 0;
    double *tr_mean = malloc(k->n * (size_t)d * sizeof(double)), *te_mean = malloc(k->n * (size_t)d * sizeof(double));
    int32_t *tr_cls = malloc(k->n * (size_t)nf * sizeof(int32_t)), *te_cls = malloc(k->n * (size_t)nf * sizeof(int32_t));
    size_t ntrain = 0;
    for (size_t i = 0; i < k->n; i++) {
        bool test = i % DCI_TEST_EVERY == DCI_TEST_EVERY - 1;
        size_t at = test ? ntest++ : ntrain++;
        memcpy((test ? te_mean : tr_mean) + at * (size_t)d, k->mean + i * (size_t)d, (size_t)d * sizeof(double));
        memcpy((test ? te_cls : tr_cls) + at * (size_t)nf, k->classes + i * (size_t)nf, (size_t)nf * sizeof(int32_t));
    }
    elbo_codes ctr = {.n = ntrain, .dim = d, .mean = tr_mean}, cte = {.n = ntest, .dim = d, .mean = te_mean};
    elbo_factors ftr = {.n = ntrain, .count = nf, .classes = tr_cls, .sizes = k->sizes},
                 fte = {.n = ntest, .count = nf, .classes = te_cls, .sizes = k->sizes};
    elbo_dci_result dci;
    check(elbo_dci(&ctr, &ftr, &cte, &fte, DCI_ALPHA, &dci, imp), "dci");
    free(tr_mean), free(te_mean), free(tr_cls), free(te_cls);

    /* classifier-based scores: recorded, then plain; the two must agree */
    elbo_table_source table;
    check(elbo_table_source_init(&table, &codes, &f), "table source");
    elbo_betavae_opts bo = {.batch = 16, .train = 600, .eval = 300, .l2 = 1};
    elbo_factorvae_opts fo = {.batch = 32, .train = 600, .eval = 300, .variance_points = 1000, .prune = 0.05};
    const uint64_t seed = 2024;
    recorder rec;
    elbo_score_result bv, bv_plain, fv, fv_plain;
    recorder_open(&rec, &table, path(k, "draws_betavae.csv"));
    check(elbo_betavae_score(&rec.source, &bo, seed, &bv), "beta-VAE score (recorded)");
    check(elbo_csv_close(&rec.log), "draws_betavae.csv");
    recorder_open(&rec, &table, path(k, "draws_factorvae.csv"));
    check(elbo_factorvae_score(&rec.source, &fo, seed, &fv), "FactorVAE score (recorded)");
    check(elbo_csv_close(&rec.log), "draws_factorvae.csv");
    check(elbo_betavae_score(&table.source, &bo, seed, &bv_plain), "beta-VAE score");
    check(elbo_factorvae_score(&table.source, &fo, seed, &fv_plain), "FactorVAE score");
    elbo_table_source_free(&table);
    if (bv.train_accuracy != bv_plain.train_accuracy || bv.eval_accuracy != bv_plain.eval_accuracy ||
        fv.train_accuracy != fv_plain.train_accuracy || fv.eval_accuracy != fv_plain.eval_accuracy ||
        fv.active_dims != fv_plain.active_dims) {
        fprintf(stderr, "metrics_cases: %s: recorded and plain sources give different scores\n", k->name);
        exit(1);
    }

    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_int(&j, "bins", BINS);
    elbo_json_uint(&j, "chen_samples", k->chen_samples);
    elbo_json_uint(&j, "chen_mask", k->chen_mask);
    elbo_json_number(&j, "dci_alpha", DCI_ALPHA);
    elbo_json_int(&j, "dci_test_every", DCI_TEST_EVERY);
    elbo_json_numbers(&j, "betavae_opts", (double[]){bo.batch, bo.train, bo.eval, bo.l2}, 4);
    elbo_json_numbers(&j, "factorvae_opts", (double[]){fo.batch, fo.train, fo.eval, fo.variance_points, fo.prune}, 5);
    elbo_json_number(&j, "mig_hist", mig_hist);
    elbo_json_numbers(&j, "mig_hist_per_factor", per_hist, (size_t)nf);
    elbo_json_numbers(&j, "mi_hist", mi_hist, (size_t)(d * nf));
    elbo_json_number(&j, "mig_chen", mig_chen);
    elbo_json_numbers(&j, "mi_chen", mi_chen, (size_t)(d * nf));
    elbo_json_number(&j, "sap", sap);
    elbo_json_numbers(&j, "sap_matrix", sap_m, (size_t)(d * nf));
    elbo_json_numbers(&j, "dci", (double[]){dci.disentanglement, dci.completeness, dci.informativeness,
                                            dci.informativeness_train}, 4);
    elbo_json_numbers(&j, "dci_importance", imp, (size_t)(d * nf));
    elbo_json_numbers(&j, "betavae", (double[]){bv.train_accuracy, bv.eval_accuracy}, 2);
    elbo_json_numbers(&j, "factorvae", (double[]){fv.train_accuracy, fv.eval_accuracy, fv.active_dims}, 3);
    elbo_json_end_object(&j);
    check(elbo_json_save(&j, path(k, "results.json")), "results.json");
    elbo_json_free(&j);
    printf("%-16s MIG(hist) %.4f  MIG(Chen) %.4f  SAP %.4f  DCI %.4f/%.4f/%.4f  beta-VAE %.4f  FactorVAE %.4f\n",
           k->name, mig_hist, mig_chen, sap, dci.disentanglement, dci.completeness, dci.informativeness,
           bv.eval_accuracy, fv.eval_accuracy);
}

static void alloc_case(kase *k, size_t n, int dim, int count)
{
    k->n = n, k->dim = dim, k->count = count;
    k->mean = calloc(n * (size_t)dim, sizeof(double));
    k->logvar = calloc(n * (size_t)dim, sizeof(double));
    k->noise = calloc(n * (size_t)dim, sizeof(double));
    k->classes = calloc(n * (size_t)count, sizeof(int32_t));
    k->order = calloc(n, sizeof(uint32_t));
}

static void free_case(kase *k)
{
    free(k->mean), free(k->logvar), free(k->noise), free(k->classes), free(k->order);
}

/* Shared randomness of a case: log-variances in [-4, -1], Chen's noise, a shuffled order. */
static void fill_random(kase *k, elbo_rng *rng)
{
    for (size_t i = 0; i < k->n * (size_t)k->dim; i++) {
        k->logvar[i] = -4 + 3 * elbo_rng_uniform(rng);
        k->noise[i] = elbo_rng_normal(rng);
    }
    for (size_t i = 0; i < k->n; i++)
        k->order[i] = (uint32_t)i;
    elbo_rng_shuffle(rng, k->order, k->n);
}

/* A random rotation of R^4 (Gram-Schmidt of normal draws). */
static void random_rotation(elbo_rng *rng, double q[4][4])
{
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 4; b++)
            q[a][b] = elbo_rng_normal(rng);
        for (int c = 0; c < a; c++) {
            double dot = 0;
            for (int b = 0; b < 4; b++)
                dot += q[a][b] * q[c][b];
            for (int b = 0; b < 4; b++)
                q[a][b] -= dot * q[c][b];
        }
        double norm = 0;
        for (int b = 0; b < 4; b++)
            norm += q[a][b] * q[a][b];
        for (int b = 0; b < 4; b++)
            q[a][b] /= sqrt(norm);
    }
}

/* The 5 x 5 x 4 x 6 grid, codes from the classes plus noise, and a fifth, pure-noise code. */
static void grid_case(const char *name, int kind, uint64_t seed)
{
    static const int32_t sizes[4] = {5, 5, 4, 6};
    kase k = {.name = name, .chen_samples = 150};
    alloc_case(&k, 600, 5, 4);
    memcpy(k.sizes, sizes, sizeof sizes);
    elbo_rng rng;
    elbo_rng_seed(&rng, seed);
    double q[4][4];
    random_rotation(&rng, q);
    for (size_t i = 0; i < k.n; i++) {
        int32_t *v = k.classes + i * 4;
        size_t rest = i;
        for (int f = 3; f >= 0; f--)
            v[f] = (int32_t)(rest % (size_t)sizes[f]), rest /= (size_t)sizes[f];
        double base[4];
        for (int f = 0; f < 4; f++)
            base[f] = v[f] + 0.1 * elbo_rng_normal(&rng);
        double *z = k.mean + i * 5;
        for (int a = 0; a < 4; a++) {
            z[a] = base[a];
            if (kind == 1) { /* rotated */
                z[a] = 0;
                for (int b = 0; b < 4; b++)
                    z[a] += q[a][b] * base[b];
            }
        }
        if (kind == 2) /* dead unit */
            z[0] = 0.25;
        z[4] = elbo_rng_normal(&rng);
    }
    fill_random(&k, &rng);
    run_case(&k);
    free_case(&k);
}

/* 3000 random dSprites points; codes: a random linear map of the factor
 * values, cos(orientation), plus noise. Chen's MIG without shape. */
static void dsprites_case(void)
{
    kase k = {.name = "dsprites_linear", .chen_samples = 400, .chen_mask = 0x1E};
    alloc_case(&k, 3000, 6, 5);
    memcpy(k.sizes, elbo_dsprites_sizes, sizeof k.sizes);
    elbo_rng rng;
    elbo_rng_seed(&rng, 77);
    double w[5][5];
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            w[a][b] = (a == b ? 1.5 : 0.3) * elbo_rng_normal(&rng);
    uint32_t *idx = malloc(k.n * sizeof *idx);
    check(elbo_dsprites_draw(&rng, -1, NULL, k.n, idx), "draw");
    for (size_t i = 0; i < k.n; i++) {
        int32_t *v = k.classes + i * 5;
        elbo_dsprites_classes(idx[i], v);
        double val[5];
        for (int f = 0; f < 5; f++)
            val[f] = (double)v[f] / (k.sizes[f] - 1);
        double *z = k.mean + i * 6;
        for (int a = 0; a < 5; a++) {
            z[a] = 0.2 * elbo_rng_normal(&rng);
            for (int b = 0; b < 5; b++)
                z[a] += w[a][b] * val[b];
        }
        z[5] = cos(elbo_dsprites_value(ELBO_DSPRITES_ORIENTATION, v[ELBO_DSPRITES_ORIENTATION]));
    }
    free(idx);
    fill_random(&k, &rng);
    run_case(&k);
    free_case(&k);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: metrics_cases DIR\n");
        return 2;
    }
    root = argv[1];
    check(elbo_mkdir_p(root), root);
    grid_case("grid_perfect", 0, 101);
    grid_case("grid_rotated", 1, 102);
    grid_case("grid_dead", 2, 103);
    dsprites_case();
    return 0;
}
