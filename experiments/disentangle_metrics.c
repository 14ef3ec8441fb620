/* Score codes from any model against ground-truth factors.
 *
 *   disentangle_metrics --codes codes.csv|.npy --factors factors.csv|.npy [--logvar logvar.csv|.npy]
 *                       [--metrics mig,mig_dl,betavae,factorvae,sap,dci] [--out DIR]
 *
 * --codes: one row per point, one column per code dimension (the encoder
 * means); --logvar: the encoder's log-variances, same shape (Chen's MIG
 * needs them); --factors: one row per point, in the same order. Each is a
 * CSV (a first line that is not numeric is a header) or a .npy of shape
 * (rows,) or (rows, columns), any numeric dtype, read exactly as float64
 * (its columns are named factor0, factor1, ...: --factor-columns takes
 * their numbers). Factor columns: with
 * --factor-columns auto (the default) every column but one named "index"
 * and those named "*_value" (so a dSprites factor table from
 * models/data/dsprites.h is read as its five class columns); each
 * column's distinct values, ascending, are its classes.
 *
 * Metrics (models/metrics/metrics.h): mig (Chen et al., without the factors
 * named by --chen-skip, default "shape"), mig_dl (disentanglement_lib's
 * histogram MIG, every factor), betavae, factorvae, sap, dci. The
 * classifier-based scores draw their batches from the rows present: a
 * point with factor k fixed to class c is a uniformly random row among those
 * with that class (with replacement), so the other factors follow the
 * file's own mix (the generator's, for a full grid or a uniform subsample).
 * DCI trains on a seeded random 2/3 of the rows and tests on the rest.
 * Without --logvar the default list leaves mig out (asking for it is an
 * error).
 *
 * Outputs in --out, written only once every metric is computed, each
 * atomically: metrics.csv (one row: a column per score), metrics.json and
 * summary.json (configuration with the seed, inputs, every score with its
 * details), mi_dl.csv (and mi_chen.csv): the latent-by-factor mutual
 * information in nats, one row per code dimension.
 * Exit 2 on a bad flag or metric name, 3 on a bad input file (unreadable,
 * ragged, NaN, row counts that differ, a factor column with one value). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/io/file.h"
#include "models/io/json.h"
#include "models/io/npy.h"
#include "models/metrics/metrics.h"
#include "progress.h"
#include "summary.h"

#define MAX_COLS 4096
#define NAME_LEN 64
#define QUICK_POINTS 1000

static const char *codes_path, *factors_path, *logvar_path, *metrics_text, *factor_cols_text, *chen_skip_text;
static int bins, mig_samples, batch, train_points, eval_points, variance_points;
static double prune, l2, dci_alpha;

static const elbo_opt opts[] = {
    {"codes", ELBO_OPT_STRING, &codes_path, "", "CSV of encoder means, one row per point (required)", .choices = NULL},
    {"factors", ELBO_OPT_STRING, &factors_path, "", "CSV of ground-truth factors, same rows (required)",
     .choices = NULL},
    {"logvar", ELBO_OPT_STRING, &logvar_path, "", "CSV of encoder log-variances, same shape as --codes (for mig)",
     .choices = NULL},
    {"metrics", ELBO_OPT_STRING, &metrics_text, "all", "comma list of mig,mig_dl,betavae,factorvae,sap,dci",
     .choices = NULL},
    {"factor-columns", ELBO_OPT_STRING, &factor_cols_text, "auto",
     "factor columns by name or number; auto: all but 'index' and '*_value'", .choices = NULL},
    {"chen-skip", ELBO_OPT_STRING, &chen_skip_text, "shape", "factors left out of Chen's MIG (absent names ignored)",
     .choices = NULL},
    {"bins", ELBO_OPT_INT, &bins, "20", "mig_dl: histogram bins per code", .min = 2, .max = 100000},
    {"mig-samples", ELBO_OPT_INT, &mig_samples, "10000", "mig: samples per entropy estimate (0: every point)",
     .min = 0, .max = 100000000},
    {"batch", ELBO_OPT_INT, &batch, "64", "betavae, factorvae: points per batch", .min = 2, .max = 1000000},
    {"train-points", ELBO_OPT_INT, &train_points, "10000", "betavae, factorvae: training points", .min = 1,
     .max = 100000000},
    {"eval-points", ELBO_OPT_INT, &eval_points, "5000", "betavae, factorvae: evaluation points", .min = 1,
     .max = 100000000},
    {"variance-points", ELBO_OPT_INT, &variance_points, "10000", "factorvae: points for the global variances",
     .min = 2, .max = 100000000},
    {"prune", ELBO_OPT_DOUBLE, &prune, "0.05", "factorvae: drop codes whose std is below this", .min = 0, .max = 1e300},
    {"l2", ELBO_OPT_DOUBLE, &l2, "1", "betavae: L2 weight of the logistic regression (1/C)", .min = 1e-12,
     .max = 1e12},
    {"dci-alpha", ELBO_OPT_DOUBLE, &dci_alpha, "1e-3", "dci: ridge penalty on standardised codes", .min = 1e-12,
     .max = 1e12},
};

enum { M_MIG, M_MIG_DL, M_BETAVAE, M_FACTORVAE, M_SAP, M_DCI, M_COUNT };
static const char *const metric_names[M_COUNT] = {"mig", "mig_dl", "betavae", "factorvae", "sap", "dci"};

/* ---- inputs ---- */

/* A numeric table and its column names ("" when the file has no header). */
typedef struct table {
    const char *path;
    double *x;
    size_t rows, cols;
    char (*names)[NAME_LEN];
} table;

/* Column names from a header line (a first line none of whose fields is a
 * number, the CSV reader's rule); names stay empty otherwise. */
static void read_header(table *t)
{
    FILE *f = fopen(t->path, "r");
    static char line[1 << 16];
    if (!f)
        return;
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got)
        return;
    char *fields[MAX_COLS];
    size_t n = 0;
    for (char *p = line; n < MAX_COLS;) {
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    if (n != t->cols)
        return;
    for (size_t c = 0; c < n; c++) { /* trim spaces, quotes, line ends */
        char *s = fields[c], *e = s + strlen(s);
        while (*s == ' ' || *s == '\t' || *s == '"')
            s++;
        while (e > s && strchr(" \t\r\n\"", e[-1]))
            e--;
        *e = '\0';
        char *end;
        strtod(s, &end);
        if (*s && end == s + strlen(s))
            return; /* a number: no header */
        fields[c] = s;
    }
    for (size_t c = 0; c < n; c++)
        snprintf(t->names[c], NAME_LEN, "%s", fields[c]);
}

/* A .npy table: (n,) is one column, (n, cols) a table; any numeric dtype
 * (models/io/npy.h reads each element as a double, exactly). No names. */
static elbo_status read_npy(const char *path, table *t)
{
    elbo_source src;
    elbo_npy_info h;
    elbo_status st = elbo_source_open(&src, path);
    if (st != ELBO_OK)
        return st;
    if ((st = elbo_npy_info_read(&src, &h)) != ELBO_OK)
        goto done;
    if (h.ndim < 1 || h.ndim > 2 || h.shape[0] == 0 || (h.ndim == 2 && h.shape[1] == 0)) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: shape of %d dimensions (%llu, ...): expected (rows,) or (rows, columns)",
                       path, h.ndim, (unsigned long long)(h.ndim ? h.shape[0] : 0));
        goto done;
    }
    t->rows = (size_t)h.shape[0];
    t->cols = h.ndim == 2 ? (size_t)h.shape[1] : 1;
    if (t->cols > MAX_COLS) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: %zu columns: at most %d", path, t->cols, MAX_COLS);
        goto done;
    }
    t->x = malloc((size_t)h.count * sizeof *t->x);
    if (!t->x) {
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory for %llu values", path, (unsigned long long)h.count);
        goto done;
    }
    st = elbo_npy_read_f64(&src, &h, 0, (size_t)h.count, t->x);
done:
    elbo_source_close(&src);
    return st;
}

/* Load one table by its extension: .npy, else CSV. */
static void load_table(const elbo_cli *cli, const char *flag, const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    size_t len = strlen(path);
    bool npy = len >= 4 && strcmp(path + len - 4, ".npy") == 0;
    elbo_status st = npy ? read_npy(path, t) : elbo_csv_read(path, &t->x, &t->rows, &t->cols);
    if (st != ELBO_OK) {
        fprintf(stderr, "%s: --%s: %s (%s)\n", cli->prog, flag, elbo_last_error(), elbo_status_name(st));
        exit(elbo_exit_code(st, true));
    }
    if (t->cols > MAX_COLS)
        drv_input_error(cli, "--%s %s: %zu columns: at most %d", flag, path, t->cols, MAX_COLS);
    t->names = drv_alloc(cli, t->cols, sizeof *t->names);
    if (!npy)
        read_header(t);
}

static void free_table(table *t)
{
    free(t->x);
    free(t->names);
}

/* Does the comma list text hold name (or, for a column, its number)? */
static bool list_has(const char *text, const char *name, long number)
{
    char buf[4096], *save;
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (strcmp(tok, name) == 0 && *name)
            return true;
        char *end;
        long v = strtol(tok, &end, 10);
        if (number >= 0 && !*end && end != tok && v == number)
            return true;
    }
    return false;
}

/* Every token of --factor-columns names a column of the table. */
static void check_columns(const elbo_cli *cli, const table *f)
{
    char buf[4096], *save;
    snprintf(buf, sizeof buf, "%s", factor_cols_text);
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool found = false;
        for (size_t c = 0; c < f->cols && !found; c++)
            found = list_has(tok, f->names[c], (long)c);
        if (!found) {
            char msg[256];
            snprintf(msg, sizeof msg, "--factor-columns: '%.60s' is not a column of %.120s", tok, f->path);
            drv_usage_error(cli, msg);
        }
    }
}

static bool auto_factor_column(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, "index") != 0 && !(n > 6 && strcmp(name + n - 6, "_value") == 0);
}

/* The chosen factor columns as classes; names of the factors. */
typedef struct factor_set {
    int count;
    int32_t *classes, *sizes;
    char (*names)[NAME_LEN];
    elbo_factors f;
} factor_set;

static void pick_factors(const elbo_cli *cli, const table *t, factor_set *fs)
{
    bool auto_pick = strcmp(factor_cols_text, "auto") == 0;
    if (!auto_pick)
        check_columns(cli, t);
    int *col = drv_alloc(cli, t->cols, sizeof *col);
    fs->count = 0;
    for (size_t c = 0; c < t->cols; c++)
        if (auto_pick ? auto_factor_column(t->names[c]) : list_has(factor_cols_text, t->names[c], (long)c))
            col[fs->count++] = (int)c;
    if (fs->count == 0)
        drv_input_error(cli, "--factors %s: no factor column left (see --factor-columns)", t->path);
    double *x = drv_alloc(cli, t->rows * (size_t)fs->count, sizeof *x);
    for (size_t i = 0; i < t->rows; i++)
        for (int k = 0; k < fs->count; k++)
            x[i * (size_t)fs->count + (size_t)k] = t->x[i * t->cols + (size_t)col[k]];
    fs->classes = drv_alloc(cli, t->rows * (size_t)fs->count, sizeof *fs->classes);
    fs->sizes = drv_alloc(cli, (size_t)fs->count, sizeof *fs->sizes);
    fs->names = drv_alloc(cli, (size_t)fs->count, sizeof *fs->names);
    drv_check_input(cli, elbo_factors_from_table(x, t->rows, (size_t)fs->count, fs->count, fs->classes, fs->sizes),
                    t->path);
    for (int k = 0; k < fs->count; k++) {
        if (t->names[col[k]][0])
            snprintf(fs->names[k], NAME_LEN, "%s", t->names[col[k]]);
        else
            snprintf(fs->names[k], NAME_LEN, "factor%d", col[k]);
        if (fs->sizes[k] < 2)
            drv_input_error(cli, "--factors %s: column %s has one value (%g) on all %zu rows: a factor needs two",
                            t->path, fs->names[k], x[k], t->rows);
    }
    fs->f = (elbo_factors){.n = t->rows, .count = fs->count, .classes = fs->classes, .sizes = fs->sizes};
    free(x);
    free(col);
}

/* ---- metrics ---- */

typedef struct results {
    bool want[M_COUNT];
    double mig, mig_dl, sap;
    double *mig_per, *mig_dl_per, *mi_dl, *mi_chen;
    elbo_score_result betavae, factorvae;
    elbo_dci_result dci;
    uint64_t chen_mask;
    size_t dci_train;
} results;

/* --metrics: names into want[]; "all" is every metric, mig only with --logvar. */
static void parse_metrics(const elbo_cli *cli, bool have_logvar, results *r)
{
    if (strcmp(metrics_text, "all") == 0) {
        for (int m = 0; m < M_COUNT; m++)
            r->want[m] = true;
        r->want[M_MIG] = have_logvar; /* the table says so */
        return;
    }
    char buf[4096], *save;
    snprintf(buf, sizeof buf, "%s", metrics_text);
    int n = 0;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save), n++) {
        int m = 0;
        while (m < M_COUNT && strcmp(tok, metric_names[m]) != 0)
            m++;
        if (m == M_COUNT) {
            char msg[256];
            snprintf(msg, sizeof msg, "--metrics: unknown metric '%.60s' (expected mig, mig_dl, betavae, factorvae, "
                     "sap, dci or all)", tok);
            drv_usage_error(cli, msg);
        }
        r->want[m] = true;
    }
    if (n == 0)
        drv_usage_error(cli, "--metrics: expected at least one metric");
    if (r->want[M_MIG] && !have_logvar)
        drv_usage_error(cli, "--metrics mig: Chen's MIG needs the encoder's log-variances (--logvar FILE)");
}

/* Rows split for DCI: a seeded shuffle, the first third tests. */
static void dci_split(const elbo_cli *cli, const elbo_codes *c, const factor_set *fs, results *r)
{
    size_t n = c->n, ntest = n / 3, ntrain = n - ntest;
    if (ntest < 2)
        drv_input_error(cli, "dci: %zu rows: expected at least 6 (a third are test points)", n);
    uint32_t *perm = drv_alloc(cli, n, sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    elbo_rng rng;
    elbo_rng_seed(&rng, cli->seed ^ 0xDC1ull);
    elbo_rng_shuffle(&rng, perm, n);
    int d = c->dim, nf = fs->count;
    double *mean = drv_alloc(cli, n * (size_t)d, sizeof *mean);
    int32_t *cls = drv_alloc(cli, n * (size_t)nf, sizeof *cls);
    for (size_t i = 0; i < n; i++) { /* test points first, then the training points */
        memcpy(mean + i * (size_t)d, c->mean + (size_t)perm[i] * (size_t)d, (size_t)d * sizeof *mean);
        memcpy(cls + i * (size_t)nf, fs->classes + (size_t)perm[i] * (size_t)nf, (size_t)nf * sizeof *cls);
    }
    elbo_codes test = {.n = ntest, .dim = d, .mean = mean}, train = {.n = ntrain, .dim = d, .mean = mean + ntest * d};
    elbo_factors ftest = {.n = ntest, .count = nf, .classes = cls, .sizes = fs->sizes},
                 ftrain = {.n = ntrain, .count = nf, .classes = cls + ntest * nf, .sizes = fs->sizes};
    drv_check_input(cli, elbo_dci(&train, &ftrain, &test, &ftest, dci_alpha, &r->dci, NULL), "dci");
    r->dci_train = ntrain;
    free(perm), free(mean), free(cls);
}

static void compute(const elbo_cli *cli, const elbo_codes *c, const factor_set *fs, results *r)
{
    int d = c->dim, nf = fs->count;
    r->mig_per = drv_alloc(cli, (size_t)nf, sizeof(double));
    r->mig_dl_per = drv_alloc(cli, (size_t)nf, sizeof(double));
    r->mi_dl = drv_alloc(cli, (size_t)d * (size_t)nf, sizeof(double));
    r->mi_chen = drv_alloc(cli, (size_t)d * (size_t)nf, sizeof(double));
    elbo_progress prog;
    int total = 0, done = 0;
    for (int m = 0; m < M_COUNT; m++)
        total += r->want[m];
    elbo_progress_begin(&prog, "metrics", (uint64_t)total);
    if (r->want[M_MIG_DL]) {
        drv_check_input(cli, elbo_mig_hist(c, &fs->f, bins, &r->mig_dl, r->mig_dl_per, r->mi_dl), "mig_dl");
        elbo_progress_update(&prog, (uint64_t)++done, NAN);
    }
    if (r->want[M_SAP]) {
        drv_check_input(cli, elbo_sap(c, &fs->f, &r->sap, NULL), "sap");
        elbo_progress_update(&prog, (uint64_t)++done, NAN);
    }
    if (r->want[M_DCI]) {
        dci_split(cli, c, fs, r);
        elbo_progress_update(&prog, (uint64_t)++done, NAN);
    }
    elbo_table_source src;
    if (r->want[M_BETAVAE] || r->want[M_FACTORVAE])
        drv_check_input(cli, elbo_table_source_init(&src, c, &fs->f), "codes and factors");
    if (r->want[M_BETAVAE]) {
        elbo_betavae_opts o = {.batch = (size_t)batch, .train = (size_t)train_points, .eval = (size_t)eval_points,
                               .l2 = l2};
        drv_check_input(cli, elbo_betavae_score(&src.source, &o, cli->seed, &r->betavae), "betavae");
        elbo_progress_update(&prog, (uint64_t)++done, NAN);
    }
    if (r->want[M_FACTORVAE]) {
        elbo_factorvae_opts o = {.batch = (size_t)batch, .train = (size_t)train_points, .eval = (size_t)eval_points,
                                 .variance_points = (size_t)variance_points, .prune = prune};
        drv_check_input(cli, elbo_factorvae_score(&src.source, &o, cli->seed, &r->factorvae), "factorvae");
        elbo_progress_update(&prog, (uint64_t)++done, NAN);
    }
    if (r->want[M_BETAVAE] || r->want[M_FACTORVAE])
        elbo_table_source_free(&src);
    if (r->want[M_MIG]) {
        r->chen_mask = 0;
        for (int k = 0; k < nf && k < 64; k++)
            if (!list_has(chen_skip_text, fs->names[k], -1))
                r->chen_mask |= (uint64_t)1 << k;
        if (!r->chen_mask)
            drv_usage_error(cli, "--chen-skip leaves no factor for mig");
        elbo_chen_opts o = {.samples = (size_t)mig_samples, .seed = cli->seed, .factor_mask = r->chen_mask};
        drv_check_input(cli, elbo_mig_chen(c, &fs->f, &o, &r->mig, r->mig_per, r->mi_chen), "mig");
        elbo_progress_update(&prog, (uint64_t)++done, NAN);
    }
    elbo_progress_end(&prog);
}

/* ---- outputs ---- */

static void print_table(const factor_set *fs, const results *r)
{
    printf("%-12s %8s  %s\n", "metric", "score", "details");
    if (!r->want[M_MIG] && strcmp(metrics_text, "all") == 0)
        printf("%-12s %8s  not computed: Chen's MIG needs --logvar\n", "mig", "-");
    if (r->want[M_MIG]) {
        printf("%-12s %8.4f  Chen et al.; per factor:", "mig", r->mig);
        for (int k = 0; k < fs->count; k++)
            if (r->chen_mask >> k & 1)
                printf(" %s %.3f", fs->names[k], r->mig_per[k]);
        printf("\n");
    }
    if (r->want[M_MIG_DL]) {
        printf("%-12s %8.4f  %d-bin histograms; per factor:", "mig_dl", r->mig_dl, bins);
        for (int k = 0; k < fs->count; k++)
            printf(" %s %.3f", fs->names[k], r->mig_dl_per[k]);
        printf("\n");
    }
    if (r->want[M_BETAVAE])
        printf("%-12s %8.4f  eval accuracy (train %.4f)\n", "betavae", r->betavae.eval_accuracy,
               r->betavae.train_accuracy);
    if (r->want[M_FACTORVAE])
        printf("%-12s %8.4f  eval accuracy (train %.4f), %d codes kept\n", "factorvae", r->factorvae.eval_accuracy,
               r->factorvae.train_accuracy, r->factorvae.active_dims);
    if (r->want[M_SAP])
        printf("%-12s %8.4f\n", "sap", r->sap);
    if (r->want[M_DCI]) {
        printf("%-12s %8.4f  disentanglement\n", "dci_d", r->dci.disentanglement);
        printf("%-12s %8.4f  completeness\n", "dci_c", r->dci.completeness);
        printf("%-12s %8.4f  informativeness: test R^2 of ridge (train %.4f)\n", "dci_i", r->dci.informativeness,
               r->dci.informativeness_train);
    }
}

/* metrics.csv: one row, a column per score computed. */
static void write_csv(const elbo_cli *cli, const results *r)
{
    const char *names[8];
    double v[8];
    int n = 0;
#define COL(name, value) (names[n] = (name), v[n++] = (value))
    if (r->want[M_MIG])
        COL("mig", r->mig);
    if (r->want[M_MIG_DL])
        COL("mig_dl", r->mig_dl);
    if (r->want[M_BETAVAE])
        COL("betavae", r->betavae.eval_accuracy);
    if (r->want[M_FACTORVAE])
        COL("factorvae", r->factorvae.eval_accuracy);
    if (r->want[M_SAP])
        COL("sap", r->sap);
    if (r->want[M_DCI])
        COL("dci_d", r->dci.disentanglement), COL("dci_c", r->dci.completeness), COL("dci_i", r->dci.informativeness);
#undef COL
    drv_check(cli, elbo_csv_write(drv_path(cli, "metrics.csv"), names, v, 1, (size_t)n), "metrics.csv");
}

/* A latent-by-factor matrix (dim, count) with a header of factor names. */
static void write_matrix(const elbo_cli *cli, const char *file, const double *m, int d, const factor_set *fs)
{
    const char **names = drv_alloc(cli, (size_t)fs->count + 1, sizeof *names);
    double *rows = drv_alloc(cli, (size_t)d * (size_t)(fs->count + 1), sizeof *rows);
    names[0] = "code";
    for (int k = 0; k < fs->count; k++)
        names[k + 1] = fs->names[k];
    for (int j = 0; j < d; j++) {
        rows[(size_t)j * (size_t)(fs->count + 1)] = j;
        memcpy(rows + (size_t)j * (size_t)(fs->count + 1) + 1, m + (size_t)j * (size_t)fs->count,
               (size_t)fs->count * sizeof *rows);
    }
    drv_check(cli, elbo_csv_write(drv_path(cli, file), names, rows, (size_t)d, (size_t)fs->count + 1), file);
    free(names);
    free(rows);
}

static void json_results(elbo_json *j, const elbo_codes *c, const factor_set *fs, const results *r)
{
    elbo_json_uint(j, "points", c->n);
    elbo_json_int(j, "code_dims", c->dim);
    elbo_json_begin_array(j, "factors");
    for (int k = 0; k < fs->count; k++)
        elbo_json_string(j, NULL, fs->names[k]);
    elbo_json_end_array(j);
    if (r->want[M_MIG]) {
        elbo_json_number(j, "mig", r->mig);
        elbo_json_numbers(j, "mig_per_factor", r->mig_per, (size_t)fs->count); /* skipped factors: null */
    }
    if (r->want[M_MIG_DL]) {
        elbo_json_number(j, "mig_dl", r->mig_dl);
        elbo_json_numbers(j, "mig_dl_per_factor", r->mig_dl_per, (size_t)fs->count);
    }
    if (r->want[M_BETAVAE]) {
        elbo_json_number(j, "betavae", r->betavae.eval_accuracy);
        elbo_json_number(j, "betavae_train", r->betavae.train_accuracy);
    }
    if (r->want[M_FACTORVAE]) {
        elbo_json_number(j, "factorvae", r->factorvae.eval_accuracy);
        elbo_json_number(j, "factorvae_train", r->factorvae.train_accuracy);
        elbo_json_int(j, "factorvae_active_dims", r->factorvae.active_dims);
    }
    if (r->want[M_SAP])
        elbo_json_number(j, "sap", r->sap);
    if (r->want[M_DCI]) {
        elbo_json_number(j, "dci_d", r->dci.disentanglement);
        elbo_json_number(j, "dci_c", r->dci.completeness);
        elbo_json_number(j, "dci_i", r->dci.informativeness);
        elbo_json_number(j, "dci_i_train", r->dci.informativeness_train);
        elbo_json_uint(j, "dci_train_points", r->dci_train);
    }
}

static void write_outputs(const elbo_cli *cli, const elbo_codes *c, const factor_set *fs, const results *r)
{
    if (elbo_mkdir_p(cli->out) != ELBO_OK) {
        fprintf(stderr, "%s: --out: %s\n", cli->prog, elbo_last_error());
        exit(ELBO_EXIT_RUNTIME);
    }
    write_csv(cli, r);
    if (r->want[M_MIG_DL])
        write_matrix(cli, "mi_dl.csv", r->mi_dl, c->dim, fs);
    if (r->want[M_MIG])
        write_matrix(cli, "mi_chen.csv", r->mi_chen, c->dim, fs);
    elbo_summary s;
    elbo_summary_begin(&s, cli);
    json_results(&s.json, c, fs, r);
    elbo_json_end_object(&s.json); /* results */
    elbo_json_end_object(&s.json);
    drv_check(cli, elbo_json_save(&s.json, drv_path(cli, "metrics.json")), "metrics.json");
    drv_check(cli, elbo_json_save(&s.json, drv_path(cli, "summary.json")), "summary.json");
    elbo_summary_free(&s);
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "disentangle_metrics",
                  "Disentanglement metrics (MIG two ways, beta-VAE, FactorVAE, SAP, DCI) of codes from any model.",
                  opts, sizeof opts / sizeof opts[0]);
    int rc = elbo_cli_parse(&cli, argc, argv, stdout); /* no --out folder until there is something to write */
    if (rc == -1)
        return ELBO_EXIT_OK;
    if (rc == ELBO_EXIT_OK)
        rc = elbo_cli_apply(&cli);
    if (rc != ELBO_EXIT_OK) {
        fprintf(stderr, "%s: %s\n", cli.prog, cli.err);
        return rc;
    }
    if (!*codes_path || !*factors_path)
        drv_usage_error(&cli, "--codes FILE and --factors FILE are required");
    results r = {0};
    parse_metrics(&cli, *logvar_path != '\0', &r);
    if (cli.quick) {
        train_points = train_points < QUICK_POINTS ? train_points : QUICK_POINTS;
        eval_points = eval_points < QUICK_POINTS / 2 ? eval_points : QUICK_POINTS / 2;
        variance_points = variance_points < QUICK_POINTS ? variance_points : QUICK_POINTS;
        mig_samples = mig_samples && mig_samples < QUICK_POINTS ? mig_samples : QUICK_POINTS;
    }

    table codes_t, factors_t, logvar_t = {0};
    load_table(&cli, "codes", codes_path, &codes_t);
    load_table(&cli, "factors", factors_path, &factors_t);
    if (*logvar_path)
        load_table(&cli, "logvar", logvar_path, &logvar_t);
    if (codes_t.rows != factors_t.rows)
        drv_input_error(&cli, "--codes %s has %zu rows but --factors %s has %zu: expected one factor row per code row",
                        codes_path, codes_t.rows, factors_path, factors_t.rows);
    if (*logvar_path && (logvar_t.rows != codes_t.rows || logvar_t.cols != codes_t.cols))
        drv_input_error(&cli, "--logvar %s is %zu x %zu but --codes %s is %zu x %zu: expected the same shape",
                        logvar_path, logvar_t.rows, logvar_t.cols, codes_path, codes_t.rows, codes_t.cols);
    factor_set fs;
    pick_factors(&cli, &factors_t, &fs);
    elbo_codes codes = {.n = codes_t.rows, .dim = (int)codes_t.cols, .mean = codes_t.x, .logvar = logvar_t.x};
    drv_check_input(&cli, elbo_metric_check(&codes, &fs.f), codes_path);

    compute(&cli, &codes, &fs, &r);
    print_table(&fs, &r);
    write_outputs(&cli, &codes, &fs, &r);
    printf("wrote %s/metrics.csv, metrics.json\n", cli.out);

    free_table(&codes_t), free_table(&factors_t), free_table(&logvar_t);
    free(fs.classes), free(fs.sizes), free(fs.names);
    free(r.mig_per), free(r.mig_dl_per), free(r.mi_dl), free(r.mi_chen);
    return ELBO_EXIT_OK;
}
