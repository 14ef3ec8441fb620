/* Fit a mixture of Gaussians by EM (models/mog) to a CSV table or to
 * synthetic clusters, and write what the fit found.
 *
 *   mog_em --data points.csv --k 10 --cov full --iters 100 --tol 1e-3
 *   mog_em --synthetic 100000,16,10 --tol 0 --iters 20 --init-means means.csv
 *
 * Outputs in --out: params.csv (one row per component: weight, mean, then the
 * covariance: d x d row-major, d diagonal entries, or one variance), trace.csv
 * (per iteration: the log-likelihood and the ELBO before/after the E-step and
 * after the M-step, all per point, figure 17.15; and the iteration's wall
 * and process CPU time), summary.json (config and
 * results: iterations, converged, mean_loglik, sec_per_iter, ...).
 * sec_per_iter is EM iterations only: no initialisation, no final scoring. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/mog/mog.h"
#include "ops/rng.h"
#include "summary.h"

/* Synthetic clusters: centres ~ Norm(0, SYNTH_CENTRE_SD^2 I), points ~
 * Norm(centre, I), labels uniform. At d = 16 centres are ~57 apart: well
 * separated. */
#define SYNTH_CENTRE_SD 10.0
#define QUICK_MAX_ITERS 5

static const char *synthetic, *init_means_path;
static int k_opt, cov_opt, iters, init_opt, restarts, engine_opt;
static double tol, reg_covar, resp_floor;

static const elbo_opt opts[] = {
    {"synthetic", ELBO_OPT_STRING, &synthetic, "", "n,d,k: synthetic clusters instead of --data FILE.csv",
     .choices = NULL},
    {"k", ELBO_OPT_INT, &k_opt, "0", "components (0: the k of --synthetic, else 3)", .min = 0, .max = 100000},
    {"cov", ELBO_OPT_CHOICE, &cov_opt, "full", "covariance type", .choices = "full|diag|spherical"},
    {"iters", ELBO_OPT_INT, &iters, "100", "EM iterations at most", .min = 1, .max = 10000000},
    {"tol", ELBO_OPT_DOUBLE, &tol, "1e-3", "stop when the mean log-likelihood changes less (0: never)", .min = 0,
     .max = 1e300},
    {"init", ELBO_OPT_CHOICE, &init_opt, "kmeans++", "initialisation", .choices = "kmeans++|random"},
    {"init-means", ELBO_OPT_STRING, &init_means_path, "", "CSV of k x d initial means (overrides --init)",
     .choices = NULL},
    {"restarts", ELBO_OPT_INT, &restarts, "1", "initialisations; the best log-likelihood wins", .min = 1,
     .max = 100000},
    {"reg-covar", ELBO_OPT_DOUBLE, &reg_covar, "1e-6", "added to covariance diagonals", .min = 0, .max = 1e300},
    {"resp-floor", ELBO_OPT_DOUBLE, &resp_floor, "0",
     "M-step skips responsibilities <= this (-1: dense; 0: exact zeros, same result; >0: truncated EM)",
     .min = -1, .max = 0.5},
    {"engine", ELBO_OPT_CHOICE, &engine_opt, "auto",
     "fused: one pass of 8-point panels; gemm: float64 GEMMs (full only); auto: the faster by shape",
     .choices = "auto|fused|gemm"},
};

static double *synth(const elbo_cli *cli, size_t n, size_t d, size_t k)
{
    elbo_rng rng;
    elbo_rng_seed(&rng, cli->seed);
    double *c = drv_alloc(cli, k * d, sizeof(double)), *x = drv_alloc(cli, n * d, sizeof(double));
    for (size_t i = 0; i < k * d; i++)
        c[i] = SYNTH_CENTRE_SD * elbo_rng_normal(&rng);
    for (size_t i = 0; i < n; i++) {
        size_t z = (size_t)elbo_rng_below(&rng, k);
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = c[z * d + j] + elbo_rng_normal(&rng);
    }
    free(c);
    return x;
}

static void write_params(const elbo_cli *cli, const mog_params *p)
{
    size_t d = p->d, clen = p->cov == MOG_COV_FULL ? d * d : p->cov == MOG_COV_DIAG ? d : 1;
    size_t cols = 2 + d + clen;
    char **names = drv_alloc(cli, cols, sizeof(char *));
    char *store = drv_alloc(cli, cols, 32);
    for (size_t c = 0; c < cols; c++) {
        names[c] = store + 32 * c;
        if (c == 0)
            snprintf(names[c], 32, "component");
        else if (c == 1)
            snprintf(names[c], 32, "weight");
        else if (c < 2 + d)
            snprintf(names[c], 32, "mean_%zu", c - 2);
        else if (p->cov == MOG_COV_FULL)
            snprintf(names[c], 32, "cov_%zu_%zu", (c - 2 - d) / d, (c - 2 - d) % d);
        else if (p->cov == MOG_COV_DIAG)
            snprintf(names[c], 32, "var_%zu", c - 2 - d);
        else
            snprintf(names[c], 32, "var");
    }
    double *tab = drv_alloc(cli, p->k * cols, sizeof(double));
    for (size_t k = 0; k < p->k; k++) {
        double *row = tab + k * cols;
        row[0] = (double)k;
        row[1] = p->weights[k];
        memcpy(row + 2, p->means + k * d, d * sizeof(double));
        memcpy(row + 2 + d, p->covars + k * clen, clen * sizeof(double));
    }
    drv_check(cli, elbo_csv_write(drv_path(cli, "params.csv"), (const char *const *)names, tab, p->k, cols),
              "params.csv");
    free(tab);
    free(store);
    free(names);
}

static void write_trace(const elbo_cli *cli, const mog_result *r)
{
    enum { COLS = 7 };
    static const char *const hdr[COLS] = {"iter",         "loglik",  "elbo_before_e", "elbo_after_e",
                                          "elbo_after_m", "seconds", "cpu_seconds"};
    double *tab = drv_alloc(cli, (size_t)r->iterations * COLS, sizeof(double));
    for (int t = 0; t < r->iterations; t++) {
        const mog_trace_row *row = &r->trace[t];
        double v[COLS] = {t + 1, row->loglik, row->elbo_before_e, row->elbo_after_e, row->elbo_after_m,
                          row->seconds, row->cpu_seconds};
        memcpy(tab + (size_t)t * COLS, v, sizeof v);
    }
    drv_check(cli, elbo_csv_write(drv_path(cli, "trace.csv"), hdr, tab, (size_t)r->iterations, COLS),
              "trace.csv");
    free(tab);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median iteration time (wall or CPU) of the best restart: robust to a busy machine. */
static double median_iter_seconds(const mog_result *r, bool cpu)
{
    if (r->iterations == 0)
        return 0.0;
    double *t = malloc((size_t)r->iterations * sizeof(double));
    if (!t)
        return NAN;
    for (int i = 0; i < r->iterations; i++)
        t[i] = cpu ? r->trace[i].cpu_seconds : r->trace[i].seconds;
    qsort(t, (size_t)r->iterations, sizeof(double), cmp_double);
    int m = r->iterations / 2;
    double med = r->iterations % 2 ? t[m] : 0.5 * (t[m - 1] + t[m]);
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "mog_em", "Mixture of Gaussians by EM (chapter 17, figure 17.15).", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);

    double *x = NULL;
    size_t n, d, k = (size_t)k_opt;
    if (synthetic && *synthetic) {
        double v[3];
        if (drv_list(&cli, "synthetic", synthetic, v, 3) != 3 || !(v[0] >= 1) || !(v[1] >= 1) || !(v[2] >= 1) ||
            v[0] != floor(v[0]) || v[1] != floor(v[1]) || v[2] != floor(v[2]))
            drv_usage_error(&cli, "--synthetic: expected n,d,k (positive integers)");
        n = (size_t)v[0];
        d = (size_t)v[1];
        x = synth(&cli, n, d, (size_t)v[2]);
        if (k == 0)
            k = (size_t)v[2];
    } else {
        elbo_status st = elbo_csv_read(cli.data, &x, &n, &d);
        if (st != ELBO_OK) {
            fprintf(stderr, "mog_em: --data %s: %s (give --data FILE.csv or --synthetic n,d,k)\n", cli.data,
                    elbo_last_error());
            return elbo_exit_code(st, true);
        }
        if (k == 0)
            k = 3;
    }

    mog_config cfg;
    mog_config_default(&cfg, k);
    cfg.cov = (mog_cov)cov_opt;
    cfg.max_iter = cli.quick && iters > QUICK_MAX_ITERS ? QUICK_MAX_ITERS : iters;
    cfg.tol = tol;
    cfg.reg_covar = reg_covar;
    cfg.init = init_opt == 0 ? MOG_INIT_KMEANSPP : MOG_INIT_RANDOM;
    cfg.restarts = restarts;
    cfg.seed = cli.seed;
    cfg.resp_floor = resp_floor;
    cfg.engine = (mog_engine)engine_opt; /* choices in enum order */
    if (cfg.engine == MOG_ENGINE_GEMM && cfg.cov != MOG_COV_FULL)
        drv_usage_error(&cli, "--engine gemm needs --cov full");
    double *means0 = NULL;
    if (init_means_path && *init_means_path) {
        size_t mr, mc;
        elbo_status st = elbo_csv_read(init_means_path, &means0, &mr, &mc);
        if (st != ELBO_OK) {
            fprintf(stderr, "mog_em: --init-means: %s\n", elbo_last_error());
            free(x);
            return elbo_exit_code(st, true);
        }
        if (mr != k || mc != d) {
            fprintf(stderr, "mog_em: --init-means %s: expected %zu x %zu (k x d), got %zu x %zu\n", init_means_path,
                    k, d, mr, mc);
            free(x);
            free(means0);
            return ELBO_EXIT_INPUT;
        }
        cfg.init = MOG_INIT_MEANS;
        cfg.init_means = means0;
    }

    mog_result res;
    drv_check(&cli, mog_fit(x, n, d, &cfg, &res), "EM");
    double sec_per_iter = res.total_iterations > 0 ? res.seconds_em / res.total_iterations : 0.0;

    write_params(&cli, &res.params);
    write_trace(&cli, &res);

    elbo_summary s;
    elbo_summary_begin(&s, &cli);
    elbo_json *j = &s.json;
    elbo_json_int(j, "n", (long long)n);
    elbo_json_int(j, "d", (long long)d);
    elbo_json_int(j, "k", (long long)k);
    elbo_json_string(j, "cov", mog_cov_name(cfg.cov));
    elbo_json_string(j, "init", mog_init_name(cfg.init));
    elbo_json_string(j, "engine", mog_engine_name(cfg.engine));
    elbo_json_string(j, "engine_used", mog_engine_name(res.engine));
    elbo_json_number(j, "resp_floor", cfg.resp_floor);
    elbo_json_number(j, "tol", cfg.tol);
    elbo_json_number(j, "reg_covar", cfg.reg_covar);
    elbo_json_int(j, "max_iter", cfg.max_iter);
    elbo_json_int(j, "iterations", res.iterations);
    elbo_json_bool(j, "converged", res.converged);
    elbo_json_number(j, "mean_loglik", res.mean_loglik);
    elbo_json_number(j, "sec_per_iter", sec_per_iter);
    elbo_json_number(j, "sec_per_iter_median", median_iter_seconds(&res, false));
    elbo_json_number(j, "cpu_sec_per_iter_median", median_iter_seconds(&res, true));
    elbo_json_number(j, "seconds_em", res.seconds_em);
    elbo_json_int(j, "total_iterations", res.total_iterations);
    elbo_json_int(j, "best_restart", res.best_restart);
    elbo_json_numbers(j, "restart_loglik", res.restart_loglik, (size_t)cfg.restarts);
    elbo_json_uint(j, "param_count", mog_param_count(k, d, cfg.cov));
    elbo_json_uint(j, "empty_component_events", res.n_empty);
    elbo_json_begin_array(j, "warnings");
    for (int b = 0; b < MOG_WARN_COUNT; b++)
        if (res.warnings & (1u << b))
            elbo_json_string(j, NULL, mog_warning_text(1u << b));
    elbo_json_end_array(j);
    if (res.iterations > 0) {
        const mog_trace_row *last = &res.trace[res.iterations - 1];
        elbo_json_number(j, "final_elbo_after_m", last->elbo_after_m);
    }
    drv_check(&cli, elbo_summary_write(&s, cli.out), "summary.json");

    printf("mog_em: n=%zu d=%zu k=%zu cov=%s engine=%s: %d iterations%s, mean log-likelihood %.10g, %.3f ms/iter\n",
           n, d, k, mog_cov_name(cfg.cov), mog_engine_name(res.engine), res.iterations, res.converged ? " (converged)" : "", res.mean_loglik,
           1e3 * sec_per_iter);
    for (int b = 0; b < MOG_WARN_COUNT; b++)
        if (res.warnings & (1u << b))
            fprintf(stderr, "mog_em: warning: %s\n", mog_warning_text(1u << b));
    printf("wrote %s/{params.csv,trace.csv,summary.json}\n", cli.out);
    mog_result_free(&res);
    free(means0);
    free(x);
    return ELBO_EXIT_OK;
}
