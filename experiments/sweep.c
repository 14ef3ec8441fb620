/* Ablation sweeps over another driver's flags.
 *
 *   sweep --driver vae --grid 'beta=1,2,4,8 latent=2,10,20 seed=1,2,3' --jobs 4 --out runs/sweep
 *
 *   mpirun -np 4 sweep --mpi --driver vae --grid '...' --out runs/sweep    (docs/MPI.md)
 *
 * Runs every configuration of the grid (the Cartesian product) as its own
 * process, `DRIVER --out OUT/runs/<config> --flag value ... [--args ...]
 * --threads T`, on a local pool of --jobs workers, or with --mpi on every MPI
 * rank, --jobs at a time each, handed out by rank 0 (common/sweep_runs.h,
 * common/sweep_mpi.h). T is the rank's CPUs divided by --jobs unless
 * --run-threads, the grid or --args say otherwise. A failed run is retried up
 * to --retries times (elsewhere when there is another rank); every result is
 * recorded as it arrives in OUT/sweep_runs.json. A configuration whose
 * summary.json exists is skipped, so an interrupted sweep resumes where it
 * stopped. Afterwards every summary.json
 * is read back and flattened ("results" numbers only) into
 *   OUT/sweep.csv        one row per configuration
 *   OUT/sweep_mean.csv   mean and sd over seeds per configuration
 *   OUT/sweep_FLAG.svg   per swept flag: each metric against the flag, one
 *                        line (mean) and band (+-1 sd over seeds) per setting
 *                        of the other flags.
 * Each child's stdout and stderr go to OUT/runs/<config>/log.txt (an earlier
 * attempt's to log.N.txt). */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/io/file.h"
#include "models/io/svg.h"
#include "progress.h"
#include "report.h"
#include "summary.h"
#include "sweep_mpi.h"
#include "sweep_runs.h"

#define MAX_FLAGS 8
#define MAX_VALUES 32
#define MAX_ARGS 64
#define MAX_METRICS 256

static const char *driver, *grid_text, *extra_args, *metrics_text, *bin_dir;
static int jobs, max_panels, retries, root_jobs, run_threads;
static double rank_timeout;
static bool dry_run, use_mpi;

static const elbo_opt opts[] = {
    {"driver", ELBO_OPT_STRING, &driver, "", "driver to run (a name next to sweep, or a path)", .choices = NULL},
    {"grid", ELBO_OPT_STRING, &grid_text, "", "grid: 'flag=v1,v2 flag2=w1,w2 seed=1,2,3'", .choices = NULL},
    {"jobs", ELBO_OPT_INT, &jobs, "1", "configurations run at once", .min = 1, .max = 256},
    {"args", ELBO_OPT_STRING, &extra_args, "", "extra flags passed to every run, e.g. '--quick --epochs 2'",
     .choices = NULL},
    {"metrics", ELBO_OPT_STRING, &metrics_text, "",
     "results keys to plot, comma-separated (default: every numeric result)", .choices = NULL},
    {"max-panels", ELBO_OPT_INT, &max_panels, "12", "at most this many metrics per SVG", .min = 1, .max = 100},
    {"bin-dir", ELBO_OPT_STRING, &bin_dir, "", "where the drivers are (default: sweep's own folder)",
     .choices = NULL},
    {"dry-run", ELBO_OPT_BOOL, &dry_run, "false", "print the commands, run nothing", .choices = NULL},
    {"retries", ELBO_OPT_INT, &retries, "1", "run a failed configuration again up to this many times", .min = 0,
     .max = 100},
    {"run-threads", ELBO_OPT_INT, &run_threads, "0", "--threads of each run (0: this rank's CPUs / --jobs)",
     .min = 0, .max = 1024},
    {"mpi", ELBO_OPT_BOOL, &use_mpi, "false", "spread the runs over MPI ranks (under mpirun or srun)", .choices = NULL},
    {"root-jobs", ELBO_OPT_INT, &root_jobs, "-1", "--mpi: runs at once on rank 0 (0: it only schedules; -1: --jobs)",
     .min = -1, .max = 256},
    {"rank-timeout", ELBO_OPT_DOUBLE, &rank_timeout, "30",
     "--mpi: seconds of silence after which a rank is presumed dead", .min = 1, .max = 86400},
};

/* ---- the grid ---- */

typedef struct grid {
    int nflags;
    char name[MAX_FLAGS][64];
    int nvals[MAX_FLAGS];
    char val[MAX_FLAGS][MAX_VALUES][64];
    int seed_flag; /* index of "seed", -1 if not swept */
} grid;

static void parse_grid(const elbo_cli *cli, const char *text, grid *g)
{
    memset(g, 0, sizeof *g);
    g->seed_flag = -1;
    const char *s = text;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : 0;
        if (!eq || len == 0 || len >= 64 || g->nflags == MAX_FLAGS || memchr(s, ' ', len))
            drv_usage_error(cli, "--grid: expected 'flag=v1,v2 ...' with at most 8 flags");
        int f = g->nflags++;
        memcpy(g->name[f], s, len);
        if (!strcmp(g->name[f], "out"))
            drv_usage_error(cli, "--grid: 'out' is set by the sweep");
        for (int k = 0; k < f; k++)
            if (!strcmp(g->name[k], g->name[f]))
                drv_usage_error(cli, "--grid: a flag appears twice");
        if (!strcmp(g->name[f], "seed"))
            g->seed_flag = f;
        s = eq + 1;
        while (*s && !isspace((unsigned char)*s)) {
            const char *e = s;
            while (*e && *e != ',' && !isspace((unsigned char)*e))
                e++;
            if (e == s || e - s >= 64 || g->nvals[f] == MAX_VALUES)
                drv_usage_error(cli, "--grid: empty, too long or too many values (max 32)");
            memcpy(g->val[f][g->nvals[f]++], s, (size_t)(e - s));
            s = *e == ',' ? e + 1 : e;
        }
        if (g->nvals[f] == 0)
            drv_usage_error(cli, "--grid: a flag without values");
    }
    if (g->nflags == 0)
        drv_usage_error(cli, "--grid: expected at least one 'flag=values'");
}

/* Configuration c as per-flag value indices (mixed radix, last flag fastest). */
static void config_index(const grid *g, long c, int *idx)
{
    for (int f = g->nflags - 1; f >= 0; f--) {
        idx[f] = (int)(c % g->nvals[f]);
        c /= g->nvals[f];
    }
}

/* Folder name of a configuration: flag=value joined by '_' (unsafe bytes -> '-'). */
static void config_name(const grid *g, const int *idx, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int f = 0; f < g->nflags; f++)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s=%s", f ? "_" : "", g->name[f], g->val[f][idx[f]]);
    for (char *p = out; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '=' || *p == '.' || *p == '-' || *p == '_' || *p == '+'))
            *p = '-';
}

/* ---- running ---- */

/* Split extra_args on spaces into argv[*n...] (strings stay in buf). */
static void split_args(const elbo_cli *cli, char *buf, char **argv, int *n)
{
    for (char *t = strtok(buf, " \t"); t; t = strtok(NULL, " \t")) {
        if (*n >= MAX_ARGS - 2 * MAX_FLAGS - 4)
            drv_usage_error(cli, "--args: too many words");
        argv[(*n)++] = t;
    }
}

/* ---- reading summary.json back: a small flattening JSON reader ---- */

typedef struct metrics {
    int n;
    char key[MAX_METRICS][128];
    double val[MAX_METRICS];
} metrics;

typedef struct jp {
    const char *s;
    bool ok;
} jp;

static void jp_ws(jp *p)
{
    while (isspace((unsigned char)*p->s))
        p->s++;
}

/* A string into buf (escapes kept simple: \" and \\ and \uXXXX -> '?'). */
static void jp_string(jp *p, char *buf, size_t cap)
{
    size_t n = 0;
    if (*p->s != '"') {
        p->ok = false;
        return;
    }
    p->s++;
    while (*p->s && *p->s != '"') {
        char c = *p->s++;
        if (c == '\\' && *p->s) {
            c = *p->s++;
            if (c == 'u') {
                for (int k = 0; k < 4 && *p->s; k++)
                    p->s++;
                c = '?';
            }
        }
        if (n + 1 < cap)
            buf[n++] = c;
    }
    if (*p->s != '"')
        p->ok = false;
    else
        p->s++;
    if (cap)
        buf[n] = 0;
}

/* Parse one value; numbers (and booleans as 0/1) under path go into m when
 * collect is set. Arrays are parsed and skipped (they are per-step traces). */
static void jp_value(jp *p, const char *path, bool collect, metrics *m)
{
    jp_ws(p);
    if (!p->ok)
        return;
    char c = *p->s;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        p->s++;
        jp_ws(p);
        if (*p->s == (obj ? '}' : ']')) {
            p->s++;
            return;
        }
        for (;;) {
            char key[128] = "", sub[256];
            if (obj) {
                jp_ws(p);
                jp_string(p, key, sizeof key);
                jp_ws(p);
                if (*p->s != ':') {
                    p->ok = false;
                    return;
                }
                p->s++;
                snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
            }
            jp_value(p, obj ? sub : path, collect && obj, m);
            if (!p->ok)
                return;
            jp_ws(p);
            if (*p->s == ',') {
                p->s++;
                continue;
            }
            if (*p->s == (obj ? '}' : ']')) {
                p->s++;
                return;
            }
            p->ok = false;
            return;
        }
    }
    if (c == '"') {
        char tmp[256];
        jp_string(p, tmp, sizeof tmp);
        return;
    }
    double v = NAN;
    if (!strncmp(p->s, "true", 4))
        v = 1, p->s += 4;
    else if (!strncmp(p->s, "false", 5))
        v = 0, p->s += 5;
    else if (!strncmp(p->s, "null", 4))
        p->s += 4;
    else {
        char *end;
        v = strtod(p->s, &end);
        if (end == p->s) {
            p->ok = false;
            return;
        }
        p->s = end;
    }
    if (collect && m->n < MAX_METRICS && strlen(path) < sizeof m->key[0]) {
        snprintf(m->key[m->n], sizeof m->key[0], "%s", path);
        m->val[m->n++] = v;
    }
}

/* The numeric leaves of "results" in DIR/summary.json (keys without the prefix). */
static bool read_results(const char *dir, metrics *m)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "rb");
    m->n = 0;
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    bool ok = buf && fread(buf, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    if (!ok) {
        free(buf);
        return false;
    }
    buf[len] = 0;
    /* Parse the top object; collect only below "results". */
    metrics all = {0};
    jp p = {buf, true};
    jp_value(&p, "", true, &all);
    free(buf);
    for (int i = 0; i < all.n; i++)
        if (!strncmp(all.key[i], "results.", 8)) {
            snprintf(m->key[m->n], sizeof m->key[0], "%s", all.key[i] + 8);
            m->val[m->n++] = all.val[i];
        }
    return p.ok;
}

static int key_index(char (*keys)[128], int *n, const char *k, bool add)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(keys[i], k))
            return i;
    if (!add || *n == MAX_METRICS)
        return -1;
    snprintf(keys[*n], 128, "%s", k);
    return (*n)++;
}

static bool numeric(const char *s)
{
    char *end;
    strtod(s, &end);
    return end != s && *end == 0;
}

/* What every MPI rank must agree on: the flags that shape the runs. */
static const char *sweep_spec(const elbo_cli *cli)
{
    static char spec[16384];
    snprintf(spec, sizeof spec,
             "--driver %s\n--grid %s\n--args %s\n--out %s\n--jobs %d\n--root-jobs %d\n--retries %d\n"
             "--run-threads %d\n--rank-timeout %g\n--dry-run %d\n--bin-dir %s\n",
             driver ? driver : "", grid_text ? grid_text : "", extra_args ? extra_args : "", cli->out, jobs, root_jobs,
             retries, run_threads, rank_timeout, dry_run, bin_dir ? bin_dir : "");
    return spec;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "sweep", "Run a grid of another driver's flags and collect the summaries.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    elbo_comm *comm = use_mpi ? sweep_mpi_begin(&argc, &argv, "sweep", sweep_spec(&cli)) : NULL;
    if (comm && dry_run && !sweep_mpi_is_root(comm)) {
        sweep_mpi_end(comm);
        return 0;
    }
    if (!driver || !*driver)
        drv_usage_error(&cli, "--driver: which driver to sweep (e.g. --driver jensen)");
    grid g;
    parse_grid(&cli, grid_text ? grid_text : "", &g);

    /* The driver binary: a path, or a name in --bin-dir / next to this executable. */
    char exe[PATH_MAX];
    if (strchr(driver, '/')) {
        snprintf(exe, sizeof exe, "%s", driver);
    } else {
        char self[PATH_MAX] = ".";
        if (bin_dir && *bin_dir) {
            snprintf(self, sizeof self, "%s", bin_dir);
        } else {
            ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
            if (k > 0) {
                self[k] = 0;
                char *slash = strrchr(self, '/');
                if (slash)
                    *slash = 0;
            } else {
                snprintf(self, sizeof self, ".");
            }
        }
        snprintf(exe, sizeof exe, "%s/%s", self, driver);
    }
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "sweep: --driver: no executable %s\n", exe);
        return ELBO_EXIT_USAGE;
    }

    long nconf = 1;
    for (int f = 0; f < g.nflags; f++)
        nconf *= g.nvals[f];
    if (nconf > 100000)
        drv_usage_error(&cli, "--grid: more than 100000 configurations");
    char runs_dir[PATH_MAX];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", cli.out);
    drv_check(&cli, elbo_mkdir_p(runs_dir), "runs folder");

    /* Every configuration's folder and command line. */
    sweep_plan plan;
    if (!sweep_plan_init(&plan, "sweep", exe, cli.out, nconf, jobs, retries))
        drv_check(&cli, ELBO_ERR_NOMEM, "runs");
    bool threads_set = strstr(extra_args ? extra_args : "", "--threads") != NULL;
    for (int f = 0; f < g.nflags; f++)
        threads_set = threads_set || !strcmp(g.name[f], "threads");
    char threads[16];
    snprintf(threads, sizeof threads, "%d", run_threads > 0 ? run_threads : sweep_cpus() / jobs > 1 ? sweep_cpus() / jobs : 1);
    for (long c = 0; c < nconf; c++) {
        int idx[MAX_FLAGS];
        char name[1024], dir[PATH_MAX];
        config_index(&g, c, idx);
        config_name(&g, idx, name, sizeof name);
        snprintf(dir, sizeof dir, "%.3000s/%.1000s", runs_dir, name);
        char *av[MAX_ARGS], abuf[4096];
        int n = 0;
        av[n++] = (char *)driver;
        av[n++] = "--out";
        av[n++] = dir;
        for (int f = 0; f < g.nflags; f++) {
            static char flagbuf[MAX_FLAGS][72];
            snprintf(flagbuf[f], sizeof flagbuf[f], "--%s", g.name[f]);
            av[n++] = flagbuf[f];
            av[n++] = g.val[f][idx[f]];
        }
        snprintf(abuf, sizeof abuf, "%s", extra_args ? extra_args : "");
        split_args(&cli, abuf, av, &n);
        if (!threads_set)
            av[n++] = "--threads", av[n++] = threads;
        av[n] = NULL;
        if (dry_run) {
            for (int k = 0; k < n; k++)
                printf("%s%s", k ? " " : "", k ? av[k] : exe);
            printf("\n");
            continue;
        }
        if (!sweep_run_set(&plan.runs[c], dir, av))
            drv_check(&cli, ELBO_ERR_NOMEM, "runs");
    }
    if (dry_run) {
        sweep_mpi_end(comm);
        return 0;
    }

    /* Run what is not finished yet: here, or on every MPI rank (the others exit inside). */
    sweep_mark_finished(&plan);
    if (comm) {
        sweep_mpi(&plan, comm, root_jobs < 0 ? jobs : root_jobs, rank_timeout);
    } else {
        sweep_write_ledger(&plan);
        sweep_local(&plan);
    }
    sweep_report(&plan);
    const sweep_run *runs = plan.runs;
    int done = plan.ran, skipped = plan.skipped, failed = plan.failed;
    bool stopped = sweep_unsettled(&plan);

    /* ---- collect ---- */
    static char keys[MAX_METRICS][128];
    int nkeys = 0;
    metrics *res = drv_alloc(&cli, (size_t)nconf, sizeof(metrics));
    bool *have = drv_alloc(&cli, (size_t)nconf, sizeof(bool));
    for (long c = 0; c < nconf; c++) {
        have[c] = (runs[c].state == SWEEP_DONE || runs[c].state == SWEEP_SKIPPED) && read_results(runs[c].dir, &res[c]);
        for (int i = 0; have[c] && i < res[c].n; i++)
            key_index(keys, &nkeys, res[c].key[i], true);
    }
    /* Flag values as numbers where they are numbers, else their index. */
    bool num[MAX_FLAGS];
    for (int f = 0; f < g.nflags; f++) {
        num[f] = true;
        for (int v = 0; v < g.nvals[f]; v++)
            num[f] = num[f] && numeric(g.val[f][v]);
    }
    int cols = g.nflags + nkeys;
    const char **hdr = drv_alloc(&cli, (size_t)cols, sizeof(char *));
    double *table = drv_alloc(&cli, (size_t)nconf * (size_t)cols, sizeof(double));
    for (int f = 0; f < g.nflags; f++)
        hdr[f] = g.name[f];
    for (int k = 0; k < nkeys; k++)
        hdr[g.nflags + k] = keys[k];
    for (long c = 0; c < nconf; c++) {
        int idx[MAX_FLAGS];
        config_index(&g, c, idx);
        double *row = table + (size_t)c * cols;
        for (int f = 0; f < g.nflags; f++)
            row[f] = num[f] ? strtod(g.val[f][idx[f]], NULL) : idx[f];
        for (int k = 0; k < nkeys; k++)
            row[g.nflags + k] = NAN;
        for (int i = 0; have[c] && i < res[c].n; i++)
            row[g.nflags + key_index(keys, &nkeys, res[c].key[i], false)] = res[c].val[i];
    }
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "sweep.csv"), hdr, table, (size_t)nconf, (size_t)cols),
              "sweep.csv");

    /* Mean and sd over seeds: a group is a configuration with the seed index dropped. */
    int nseed = g.seed_flag >= 0 ? g.nvals[g.seed_flag] : 1;
    long ngroups = nconf / nseed;
    int mcols = g.nflags - (g.seed_flag >= 0) + 2 * nkeys;
    double *gm = drv_alloc(&cli, (size_t)ngroups * (size_t)mcols, sizeof(double));
    long *gconf = drv_alloc(&cli, (size_t)ngroups, sizeof(long)); /* first configuration of each group */
    long ng = 0;
    for (long c = 0; c < nconf; c++) {
        int idx[MAX_FLAGS];
        config_index(&g, c, idx);
        if (g.seed_flag >= 0 && idx[g.seed_flag] != 0)
            continue;
        gconf[ng] = c;
        double *row = gm + (size_t)ng * mcols;
        int col = 0;
        for (int f = 0; f < g.nflags; f++)
            if (f != g.seed_flag)
                row[col++] = table[(size_t)c * cols + f];
        for (int k = 0; k < nkeys; k++) {
            double s = 0, s2 = 0;
            int cnt = 0;
            for (int sd = 0; sd < nseed; sd++) {
                int id2[MAX_FLAGS];
                memcpy(id2, idx, sizeof id2);
                if (g.seed_flag >= 0)
                    id2[g.seed_flag] = sd;
                long c2 = 0;
                for (int f = 0; f < g.nflags; f++)
                    c2 = c2 * g.nvals[f] + id2[f];
                double v = table[(size_t)c2 * cols + g.nflags + k];
                if (isfinite(v))
                    s += v, s2 += v * v, cnt++;
            }
            double m = cnt ? s / cnt : NAN;
            row[col + 2 * k] = m;
            row[col + 2 * k + 1] = cnt > 1 ? sqrt(fmax(s2 - cnt * m * m, 0) / (cnt - 1)) : (cnt ? 0 : NAN);
        }
        ng++;
    }
    {
        const char **mh = drv_alloc(&cli, (size_t)mcols, sizeof(char *));
        char (*names)[140] = drv_alloc(&cli, (size_t)(2 * nkeys + 1), 140);
        int col = 0;
        for (int f = 0; f < g.nflags; f++)
            if (f != g.seed_flag)
                mh[col++] = g.name[f];
        for (int k = 0; k < nkeys; k++) {
            snprintf(names[2 * k], 140, "%.127s_mean", keys[k]);
            snprintf(names[2 * k + 1], 140, "%.127s_sd", keys[k]);
            mh[col + 2 * k] = names[2 * k], mh[col + 2 * k + 1] = names[2 * k + 1];
        }
        drv_check(&cli, elbo_csv_write(drv_path(&cli, "sweep_mean.csv"), mh, gm, (size_t)ng, (size_t)mcols),
                  "sweep_mean.csv");
        free(mh), free(names);
    }

    /* Which metrics to plot. */
    int plot_keys[MAX_METRICS], np = 0;
    if (metrics_text && *metrics_text) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", metrics_text);
        for (char *t = strtok(buf, ", "); t; t = strtok(NULL, ", ")) {
            int k = key_index(keys, &nkeys, t, false);
            if (k < 0)
                fprintf(stderr, "sweep: --metrics: no result '%s' in the summaries (skipped)\n", t);
            else if (np < max_panels)
                plot_keys[np++] = k;
        }
    } else {
        for (int k = 0; k < nkeys && np < max_panels; k++)
            plot_keys[np++] = k;
    }

    /* One SVG per swept flag (not seed): x = the flag, one series per setting
     * of the remaining non-seed flags, mean +- sd over seeds. */
    int ncol = g.nflags - (g.seed_flag >= 0); /* flag columns in gm */
    for (int f = 0; f < g.nflags && np > 0; f++) {
        if (f == g.seed_flag)
            continue;
        int pc = np < 3 ? np : 3, pr = (np + pc - 1) / pc;
        elbo_svg *fig = elbo_svg_new(pc, pr);
        if (!fig)
            drv_check(&cli, ELBO_ERR_NOMEM, "figure");
        char title[256];
        snprintf(title, sizeof title, "%s: metrics against --%s (mean +- sd over %d seed%s)", driver, g.name[f],
                 nseed, nseed == 1 ? "" : "s");
        elbo_svg_title(fig, title);
        for (int pi = 0; pi < np; pi++) {
            int k = plot_keys[pi];
            elbo_plot *p = elbo_svg_panel(fig, pi);
            elbo_plot_title(p, keys[k]);
            elbo_plot_xlabel(p, g.name[f]);
            bool logx = num[f];
            for (int v = 0; v < g.nvals[f]; v++)
                logx = logx && strtod(g.val[f][v], NULL) > 0;
            /* Log x when the values span more than a decade (beta=1..100, lr). */
            double vmin = INFINITY, vmax = -INFINITY;
            for (int v = 0; logx && v < g.nvals[f]; v++) {
                double t = strtod(g.val[f][v], NULL);
                vmin = fmin(vmin, t), vmax = fmax(vmax, t);
            }
            elbo_plot_logx(p, logx && vmax / vmin > 20);
            /* Series: groups whose own value of f is the first one. */
            int series = 0;
            for (long gi = 0; gi < ng; gi++) {
                int idx[MAX_FLAGS];
                config_index(&g, gconf[gi], idx);
                if (idx[f] != 0)
                    continue;
                double xs[MAX_VALUES], ms[MAX_VALUES], lo[MAX_VALUES], hi[MAX_VALUES];
                int n = 0;
                for (int v = 0; v < g.nvals[f]; v++) {
                    int id2[MAX_FLAGS];
                    memcpy(id2, idx, sizeof id2);
                    id2[f] = v;
                    if (g.seed_flag >= 0)
                        id2[g.seed_flag] = 0;
                    for (long gj = 0; gj < ng; gj++) {
                        int id3[MAX_FLAGS];
                        config_index(&g, gconf[gj], id3);
                        if (memcmp(id3, id2, sizeof(int) * (size_t)g.nflags))
                            continue;
                        const double *row = gm + (size_t)gj * mcols;
                        double m = row[ncol + 2 * k], sd = row[ncol + 2 * k + 1];
                        if (isfinite(m)) {
                            xs[n] = num[f] ? strtod(g.val[f][v], NULL) : v;
                            ms[n] = m, lo[n] = m - (isfinite(sd) ? sd : 0), hi[n] = m + (isfinite(sd) ? sd : 0);
                            n++;
                        }
                        break;
                    }
                }
                char lab[256] = "";
                size_t L = 0;
                for (int h = 0; h < g.nflags; h++)
                    if (h != f && h != g.seed_flag)
                        L += (size_t)snprintf(lab + L, L < sizeof lab ? sizeof lab - L : 0, "%s%s=%s", L ? " " : "",
                                              g.name[h], g.val[h][idx[h]]);
                elbo_style band = elbo_style_color(elbo_palette(series), NULL);
                band.width = -1;
                elbo_style line = elbo_style_color(elbo_palette(series), L ? lab : NULL);
                if (n > 0) {
                    if (nseed > 1)
                        elbo_plot_fill(p, xs, lo, hi, (size_t)n, 0, &band);
                    elbo_plot_line(p, xs, ms, (size_t)n, &line);
                    elbo_plot_scatter(p, xs, ms, (size_t)n, &(elbo_style){.color = line.color, .color_set = true});
                }
                series++;
            }
            if (series > 8)
                elbo_plot_legend(p, ELBO_LEGEND_HIDDEN);
        }
        char fname[128];
        snprintf(fname, sizeof fname, "sweep_%s.svg", g.name[f]);
        drv_check(&cli, elbo_svg_save(fig, drv_path(&cli, fname)), fname);
        elbo_svg_free(fig);
    }

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json_int(&sum.json, "configurations", nconf);
    elbo_json_int(&sum.json, "ran", done);
    elbo_json_int(&sum.json, "skipped", skipped);
    elbo_json_int(&sum.json, "failed", failed);
    elbo_json_int(&sum.json, "unfinished", stopped ? (long long)(nconf - done - skipped - failed) : 0);
    elbo_json_int(&sum.json, "ranks", plan.ranks);
    elbo_json_int(&sum.json, "metrics", nkeys);
    drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    const char **run_dirs = drv_alloc(&cli, (size_t)nconf, sizeof *run_dirs);
    for (long c = 0; c < nconf; c++)
        run_dirs[c] = runs[c].dir;
    drv_check(&cli, elbo_report_sweep(cli.out, g.nflags, run_dirs, (size_t)nconf), "index.html");
    printf("wrote %s/{sweep.csv,sweep_mean.csv,sweep_<flag>.svg,summary.json,index.html}\n", cli.out);
    sweep_plan_free(&plan);
    free(run_dirs), free(res), free(have), free(hdr), free(table), free(gm), free(gconf);
    return failed || stopped ? ELBO_EXIT_RUNTIME : 0;
}
