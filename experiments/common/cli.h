/* Shared command line of the drivers (getopt_long).
 *
 * Common flags: --help, --seed N, --threads N, --out DIR, --data DIR,
 * --simd LEVEL, --precision fp32|bf16, --quick. A driver adds its own options in a table:
 *
 *     static int epochs; static double lr; static const char *prior; static int arch;
 *     static const elbo_opt opts[] = {
 *         {"epochs", ELBO_OPT_INT, &epochs, "50", "training epochs", .min = 1, .max = 10000},
 *         {"lr", ELBO_OPT_DOUBLE, &lr, "1e-3", "Adam learning rate", .min = 0, .max = 1},
 *         {"arch", ELBO_OPT_CHOICE, &arch, "mlp", "encoder", .choices = "mlp|conv"},
 *     };
 *     elbo_cli cli;
 *     elbo_cli_init(&cli, "vae", "Train a VAE on Fashion-MNIST.", opts, 3);
 *     elbo_cli_main(&cli, argc, argv);   // exits 0 on --help, 2 on a bad flag
 *
 * Defaults are text parsed by the same code as the flags, and printed by --help. */
#ifndef ELBO_CLI_H
#define ELBO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "models/io/json.h"
#include "ops/error.h"

typedef enum elbo_opt_type {
    ELBO_OPT_INT,    /* int *        */
    ELBO_OPT_DOUBLE, /* double *     */
    ELBO_OPT_STRING, /* const char ** (points into argv or the default) */
    ELBO_OPT_CHOICE, /* int *: index into choices "a|b|c" */
    ELBO_OPT_BOOL,   /* bool *: --name, --name=true|false|1|0 */
} elbo_opt_type;

typedef struct elbo_opt {
    const char *name; /* long name, without "--" */
    elbo_opt_type type;
    void *value;
    const char *def;  /* default as text; NULL: leave *value as initialised */
    const char *help;
    const char *choices; /* ELBO_OPT_CHOICE: "a|b|c" */
    double min, max;     /* INT/DOUBLE: inclusive range, checked when min < max */
} elbo_opt;

/* Exit codes. */
#define ELBO_EXIT_OK 0
#define ELBO_EXIT_RUNTIME 1 /* the run failed: writing an output, non-finite loss, out of memory, ... */
#define ELBO_EXIT_USAGE 2   /* bad flag or value */
#define ELBO_EXIT_INPUT 3   /* bad input data or checkpoint: format, I/O on an input, mismatch, non-finite data */

/* The one mapping from a failed library call to a driver's exit code.
 * input: the call read one of the run's inputs (--data, a checkpoint), so
 * anything but running out of memory is the input's fault (3). Otherwise a
 * format or mismatch error still means a bad file (3), an unsupported SIMD
 * level is usage (2), and the rest (I/O on an output, a non-finite loss or
 * gradient, ...) is a failed run (1). */
static inline int elbo_exit_code(elbo_status st, bool input)
{
    switch (st) {
    case ELBO_OK:
        return ELBO_EXIT_OK;
    case ELBO_ERR_NOMEM:
        return ELBO_EXIT_RUNTIME;
    case ELBO_ERR_FORMAT:
    case ELBO_ERR_MISMATCH:
        return ELBO_EXIT_INPUT;
    case ELBO_ERR_UNSUPPORTED:
        return input ? ELBO_EXIT_INPUT : ELBO_EXIT_USAGE;
    default:
        return input ? ELBO_EXIT_INPUT : ELBO_EXIT_RUNTIME;
    }
}

#define ELBO_CLI_ERR_MAX 256

typedef struct elbo_cli {
    const char *prog;  /* driver name (also the default output folder) */
    const char *about; /* one-line description for --help */
    const elbo_opt *opts;
    size_t nopts;
    /* Common options (defaults set by elbo_cli_init). */
    uint64_t seed;     /* --seed, default 1 */
    int threads;       /* --threads, 0: ELBO_THREADS or 1 */
    const char *out;   /* --out, default "runs/PROG" */
    const char *data;  /* --data, default "data/fashion-mnist" */
    const char *simd;  /* --simd, NULL: ELBO_SIMD or the best level */
    const char *precision; /* --precision, NULL: ELBO_PRECISION or fp32 (ops/precision.h) */
    bool quick;        /* --quick: a small, fast run (smoke test) */
    int ranks;         /* processes of a data-parallel run (--mpi; recorded as mpi_ranks), 0: not one */
    char out_buf[256]; /* storage of the default --out */
    char err[ELBO_CLI_ERR_MAX]; /* one-line error of the last parse/apply */
} elbo_cli;

void elbo_cli_init(elbo_cli *cli, const char *prog, const char *about, const elbo_opt *opts, size_t nopts);

/* Parse argv. Returns ELBO_EXIT_OK to run, -1 if --help was printed to
 * help_out (exit 0), ELBO_EXIT_USAGE with cli->err set ("--lr: expected a
 * number, got 'x'"). Never exits, never prints errors. Re-entrant across
 * calls (resets getopt). */
int elbo_cli_parse(elbo_cli *cli, int argc, char **argv, FILE *help_out);

/* elbo_runtime_init, then --threads (elbo_set_threads), --simd
 * (elbo_simd_set) and --precision (elbo_precision_set). Returns ELBO_EXIT_OK or ELBO_EXIT_USAGE with cli->err. */
int elbo_cli_apply(elbo_cli *cli);

/* Print usage and defaults. */
void elbo_cli_usage(const elbo_cli *cli, FILE *f);

/* Parse, apply and create --out: on --help exit(0); on error print
 * "PROG: message" on stderr and exit(2); print the precision notice (bf16
 * asked for, fp32 run) once on stderr. For drivers only. */
void elbo_cli_main(elbo_cli *cli, int argc, char **argv);

/* Write every resolved option as keys of the current JSON object: the
 * driver's options, seed, threads (actual), simd (actual level name),
 * precision (actual) and precision_requested, out, data, quick, git revision. */
void elbo_cli_config_json(const elbo_cli *cli, elbo_json *j);

/* The same as text, "name=value" per line, without --threads (results do
 * not depend on it): what the ranks of a data-parallel run compare. Returns
 * the length it needs (like snprintf). */
int elbo_cli_config_text(const elbo_cli *cli, char *buf, size_t cap);

/* Git revision of the build ("unknown" if not built from a git tree). */
const char *elbo_git_revision(void);

#endif
