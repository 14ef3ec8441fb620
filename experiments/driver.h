/* Small helpers the chapter-17 drivers share on top of experiments/common
 * (header-only): output paths, comma lists on the command line, and turning
 * a failed library call into the driver's exit code (elbo_exit_code, cli.h). */
#ifndef ELBO_EXPERIMENTS_DRIVER_H
#define ELBO_EXPERIMENTS_DRIVER_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "models/mog/mog.h"
#include "ops/error.h"

/* DIR/NAME in one of a few rotating buffers (several may be live in one call). */
static inline const char *drv_path(const elbo_cli *cli, const char *name)
{
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", cli->out, name);
    return p;
}

/* A failed library call ends the run: one line "PROG: WHAT: message (status)"
 * and the exit code of elbo_exit_code (cli.h). drv_check is for calls that
 * compute or write; drv_check_input for calls that read one of the run's
 * inputs (--data, a checkpoint), whose failures are the input's fault (3). */
static inline void drv_fail(const elbo_cli *cli, elbo_status st, const char *what, bool input)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", cli->prog, what, elbo_last_error(), elbo_status_name(st));
    exit(elbo_exit_code(st, input));
}

static inline void drv_check(const elbo_cli *cli, elbo_status st, const char *what)
{
    if (st != ELBO_OK)
        drv_fail(cli, st, what, false);
}

static inline void drv_check_input(const elbo_cli *cli, elbo_status st, const char *what)
{
    if (st != ELBO_OK)
        drv_fail(cli, st, what, true);
}

static inline void *drv_alloc(const elbo_cli *cli, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%zu x %zu bytes)\n", cli->prog, n, size);
        exit(ELBO_EXIT_RUNTIME);
    }
    return p;
}

/* Parse "1,2,5" (commas or spaces) into out (at most max values); a bad list
 * is a usage error (exit 2), like any other bad flag. Returns the count. */
static inline int drv_list(const elbo_cli *cli, const char *flag, const char *text, double *out, int max)
{
    int n = 0;
    const char *s = text ? text : "";
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || n == max || (*end && *end != ',' && *end != ' ')) {
            fprintf(stderr, "%s: --%s: expected up to %d comma-separated numbers, got '%s'\n", cli->prog, flag,
                    max, text);
            exit(ELBO_EXIT_USAGE);
        }
        out[n++] = v;
        s = end;
    }
    if (n == 0) {
        fprintf(stderr, "%s: --%s: expected at least one number\n", cli->prog, flag);
        exit(ELBO_EXIT_USAGE);
    }
    return n;
}

/* A usage error found after parsing (e.g. inconsistent flags): exit 2. */
static inline void drv_usage_error(const elbo_cli *cli, const char *msg)
{
    fprintf(stderr, "%s: %s\n", cli->prog, msg);
    exit(ELBO_EXIT_USAGE);
}

/* A bad input found by the driver itself (e.g. a checkpoint that does not fit
 * the data): one line "PROG: message" (name the file in it), exit 3. */
static inline void drv_input_error(const elbo_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void drv_input_error(const elbo_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(ELBO_EXIT_INPUT);
}

/* The 1-D mixture given by --weights, --means and --sds (comma lists of the
 * same length, weights and sds positive): fills w (normalised to sum to one),
 * mu and sd, each of at most max entries, builds it as spherical mog_params
 * in *p (free with mog_params_free), and returns the component count.
 * Any inconsistency is a usage error. */
static inline int drv_mixture_1d(const elbo_cli *cli, const char *w_text, const char *mu_text, const char *sd_text,
                                 double *w, double *mu, double *sd, int max, mog_params *p)
{
    int k = drv_list(cli, "weights", w_text, w, max);
    if (drv_list(cli, "means", mu_text, mu, max) != k || drv_list(cli, "sds", sd_text, sd, max) != k)
        drv_usage_error(cli, "--weights, --means and --sds need the same number of components");
    double wsum = 0;
    for (int i = 0; i < k; i++) {
        if (!(w[i] > 0) || !(sd[i] > 0))
            drv_usage_error(cli, "weights and standard deviations must be positive");
        wsum += w[i];
    }
    for (int i = 0; i < k; i++)
        w[i] /= wsum;
    drv_check(cli, mog_params_alloc(p, (size_t)k, 1, MOG_COV_SPHERICAL), "mixture");
    for (int i = 0; i < k; i++)
        p->weights[i] = w[i], p->means[i] = mu[i], p->covars[i] = sd[i] * sd[i];
    drv_check(cli, mog_params_update(p), "mixture");
    return k;
}

#endif
