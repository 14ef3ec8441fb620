/* getopt_long front end shared by the drivers. */
#define _GNU_SOURCE /* getopt_long */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/file.h"
#include "ops/pool.h"
#include "ops/precision.h"
#include "ops/simd_level.h"

/* getopt_long codes of the common flags; driver options use OPT_BASE + index. */
enum { OPT_SEED = 1000, OPT_THREADS, OPT_OUT, OPT_DATA, OPT_SIMD, OPT_PRECISION, OPT_QUICK, OPT_HELP, OPT_BASE = 2000 };
#define MAX_THREADS 64
#define DEFAULT_SEED 1
#define DEFAULT_DATA "data/fashion-mnist"
#define CHOICE_MAX 64 /* longest choice name */

static int usage_error(elbo_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(elbo_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cli->err, sizeof cli->err, fmt, ap);
    va_end(ap);
    return ELBO_EXIT_USAGE;
}

void elbo_cli_init(elbo_cli *cli, const char *prog, const char *about, const elbo_opt *opts, size_t nopts)
{
    memset(cli, 0, sizeof *cli);
    cli->prog = prog;
    cli->about = about;
    cli->opts = opts;
    cli->nopts = nopts;
    cli->seed = DEFAULT_SEED;
    cli->threads = 0;
    snprintf(cli->out_buf, sizeof cli->out_buf, "runs/%s", prog);
    cli->out = cli->out_buf;
    cli->data = DEFAULT_DATA;
    cli->simd = NULL;
    cli->precision = NULL;
    cli->quick = false;
}

/* ---- values ---- */

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1))
        return 0;
    *out = v;
    return 1;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcmp(s, yes[i]) == 0)
            return *out = true, 1;
        if (strcmp(s, no[i]) == 0)
            return *out = false, 1;
    }
    return 0;
}

/* Index of s in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *s)
{
    int i = 0;
    size_t n = strlen(s);
    for (const char *p = choices; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return i;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* The i-th name of "a|b|c" into buf. */
static const char *choice_name(const char *choices, int i, char *buf, size_t cap)
{
    const char *p = choices ? choices : "";
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p)
        return "?";
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return buf;
}

static int in_range(const elbo_opt *o, double v) { return !(o->min < o->max) || (v >= o->min && v <= o->max); }

/* Set a driver option from text; the prefix names the source in messages ("--lr" or "default of --lr"). */
static int set_opt(elbo_cli *cli, const elbo_opt *o, const char *text, const char *src)
{
    switch (o->type) {
    case ELBO_OPT_INT: {
        long long v;
        if (!text || !parse_int(text, INT32_MIN, INT32_MAX, &v))
            return usage_error(cli, "%s: expected an integer, got '%s'", src, text ? text : "");
        if (!in_range(o, (double)v))
            return usage_error(cli, "%s: expected an integer in %g..%g, got %lld", src, o->min, o->max, v);
        *(int *)o->value = (int)v;
        return ELBO_EXIT_OK;
    }
    case ELBO_OPT_DOUBLE: {
        double v;
        if (!text || !parse_double(text, &v))
            return usage_error(cli, "%s: expected a finite number, got '%s'", src, text ? text : "");
        if (!in_range(o, v))
            return usage_error(cli, "%s: expected a number in [%g, %g], got %g", src, o->min, o->max, v);
        *(double *)o->value = v;
        return ELBO_EXIT_OK;
    }
    case ELBO_OPT_STRING:
        if (!text)
            return usage_error(cli, "%s: expected a value", src);
        *(const char **)o->value = text;
        return ELBO_EXIT_OK;
    case ELBO_OPT_CHOICE: {
        int i = text ? choice_index(o->choices, text) : -1;
        if (i < 0)
            return usage_error(cli, "%s: expected one of %s, got '%s'", src, o->choices ? o->choices : "(none)",
                               text ? text : "");
        *(int *)o->value = i;
        return ELBO_EXIT_OK;
    }
    case ELBO_OPT_BOOL: {
        bool v = true;
        if (text && !parse_bool(text, &v))
            return usage_error(cli, "%s: expected true or false, got '%s'", src, text);
        *(bool *)o->value = v;
        return ELBO_EXIT_OK;
    }
    }
    return usage_error(cli, "%s: unknown option type", src);
}

/* ---- help ---- */

static const char *metavar(const elbo_opt *o)
{
    switch (o->type) {
    case ELBO_OPT_INT: return " N";
    case ELBO_OPT_DOUBLE: return " X";
    case ELBO_OPT_STRING: return " TEXT";
    case ELBO_OPT_CHOICE: return o->choices ? " {choice}" : " NAME";
    default: return "";
    }
}

static void usage_line(FILE *f, const char *name, const char *meta, const char *help, const char *def)
{
    char left[ELBO_CLI_ERR_MAX + 8];
    snprintf(left, sizeof left, "  --%.60s%.180s", name, meta);
    fprintf(f, "%-26s %s", left, help ? help : "");
    if (def)
        fprintf(f, " (default: %s)", *def ? def : "empty");
    fprintf(f, "\n");
}

void elbo_cli_usage(const elbo_cli *cli, FILE *f)
{
    fprintf(f, "Usage: %s [options]\n", cli->prog);
    if (cli->about)
        fprintf(f, "%s\n", cli->about);
    if (cli->nopts) {
        fprintf(f, "\nOptions:\n");
        for (size_t i = 0; i < cli->nopts; i++) {
            const elbo_opt *o = &cli->opts[i];
            char meta[CHOICE_MAX * 4];
            const char *m = metavar(o);
            if (o->type == ELBO_OPT_CHOICE && o->choices) {
                snprintf(meta, sizeof meta, " {%s}", o->choices);
                m = meta;
            }
            usage_line(f, o->name, m, o->help, o->def);
        }
    }
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)DEFAULT_SEED);
    fprintf(f, "\nCommon options:\n");
    usage_line(f, "seed", " N", "random seed (same seed, same bits)", seed);
    usage_line(f, "threads", " N", "worker threads 1..64", "ELBO_THREADS or 1");
    usage_line(f, "out", " DIR", "output directory", cli->out);
    usage_line(f, "data", " PATH", "data: an IDX directory, .npy, .npz or PNG class folders", cli->data);
    usage_line(f, "simd", " LEVEL", "scalar, avx2, avx512 or neon", "ELBO_SIMD or the best supported");
    usage_line(f, "precision", " P", "GEMMs of dense layers and convolutions: fp32, or bf16 inputs with fp32 sums",
               "ELBO_PRECISION or fp32");
    usage_line(f, "quick", "", "small, fast run (smoke test)", NULL);
    usage_line(f, "help", "", "show this help and exit", NULL);
}

/* ---- parsing ---- */

static const struct option COMMON[] = {
    {"seed", required_argument, NULL, OPT_SEED},   {"threads", required_argument, NULL, OPT_THREADS},
    {"out", required_argument, NULL, OPT_OUT},     {"data", required_argument, NULL, OPT_DATA},
    {"simd", required_argument, NULL, OPT_SIMD},   {"quick", optional_argument, NULL, OPT_QUICK},
    {"help", no_argument, NULL, OPT_HELP},         {"precision", required_argument, NULL, OPT_PRECISION},
};
#define NCOMMON (sizeof COMMON / sizeof COMMON[0])

/* "--name" of the argument getopt stopped at, for messages. */
static void flag_of(const char *arg, char *buf, size_t cap)
{
    size_t n = strcspn(arg ? arg : "", "=");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, arg ? arg : "", n);
    buf[n] = '\0';
}

int elbo_cli_parse(elbo_cli *cli, int argc, char **argv, FILE *help_out)
{
    cli->err[0] = '\0';
    for (size_t i = 0; i < cli->nopts; i++) {
        const elbo_opt *o = &cli->opts[i];
        if (!o->name || !o->value)
            return usage_error(cli, "option %zu: missing name or value pointer", i);
        for (size_t k = 0; k < NCOMMON; k++)
            if (strcmp(o->name, COMMON[k].name) == 0)
                return usage_error(cli, "--%s: defined twice (a common option)", o->name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(o->name, cli->opts[k].name) == 0)
                return usage_error(cli, "--%s: defined twice", o->name);
        if (o->def) {
            char src[96];
            snprintf(src, sizeof src, "default of --%s", o->name);
            int rc = set_opt(cli, o, o->def, src);
            if (rc != ELBO_EXIT_OK)
                return rc;
        }
    }
    struct option *lo = calloc(NCOMMON + cli->nopts + 1, sizeof *lo);
    if (!lo)
        return usage_error(cli, "out of memory");
    memcpy(lo, COMMON, sizeof COMMON);
    for (size_t i = 0; i < cli->nopts; i++) {
        lo[NCOMMON + i].name = cli->opts[i].name;
        lo[NCOMMON + i].has_arg = cli->opts[i].type == ELBO_OPT_BOOL ? optional_argument : required_argument;
        lo[NCOMMON + i].val = OPT_BASE + (int)i;
    }
    int rc = ELBO_EXIT_OK;
    optind = 0; /* glibc: full re-initialisation, so parse can run more than once */
    opterr = 0; /* we word the errors */
    for (;;) {
        int c = getopt_long(argc, argv, ":h", lo, NULL);
        if (c == -1)
            break;
        char flag[64];
        const char *arg = optarg;
        switch (c) {
        case 'h':
        case OPT_HELP:
            elbo_cli_usage(cli, help_out ? help_out : stdout);
            rc = -1;
            goto out;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(arg, &end, 10);
            if (!*arg || *end || errno || arg[strspn(arg, " ")] == '-') {
                rc = usage_error(cli, "--seed: expected a non-negative integer, got '%s'", arg);
                goto out;
            }
            cli->seed = v;
            break;
        }
        case OPT_THREADS: {
            long long v;
            if (!parse_int(arg, 1, MAX_THREADS, &v)) {
                rc = usage_error(cli, "--threads: expected an integer in 1..%d, got '%s'", MAX_THREADS, arg);
                goto out;
            }
            cli->threads = (int)v;
            break;
        }
        case OPT_OUT:
        case OPT_DATA:
            if (!*arg) {
                rc = usage_error(cli, "--%s: expected a directory, got ''", c == OPT_OUT ? "out" : "data");
                goto out;
            }
            *(c == OPT_OUT ? &cli->out : &cli->data) = arg;
            break;
        case OPT_SIMD: {
            elbo_simd level;
            if (elbo_simd_parse(arg, &level) != ELBO_OK) {
                rc = usage_error(cli, "--simd: expected scalar, avx2, avx512 or neon, got '%s'", arg);
                goto out;
            }
            cli->simd = arg;
            break;
        }
        case OPT_PRECISION: {
            elbo_precision p;
            if (elbo_precision_parse(arg, &p) != ELBO_OK) {
                rc = usage_error(cli, "--precision: expected fp32 or bf16, got '%s'", arg);
                goto out;
            }
            cli->precision = arg;
            break;
        }
        case OPT_QUICK:
            if (arg && !parse_bool(arg, &cli->quick)) {
                rc = usage_error(cli, "--quick: expected true or false, got '%s'", arg);
                goto out;
            }
            if (!arg)
                cli->quick = true;
            break;
        case ':':
            flag_of(argv[optind - 1], flag, sizeof flag);
            rc = usage_error(cli, "%s: expected a value (see --help)", flag);
            goto out;
        case '?':
            if (optopt && optopt < OPT_SEED)
                snprintf(flag, sizeof flag, "-%c", optopt);
            else if (optopt >= OPT_SEED) /* a no-argument option given a value */
                flag_of(argv[optind - 1], flag, sizeof flag);
            else
                flag_of(argv[optind - 1], flag, sizeof flag);
            rc = optopt >= OPT_SEED ? usage_error(cli, "%s: takes no value (see --help)", flag)
                                    : usage_error(cli, "unknown option '%s' (see --help)", flag);
            goto out;
        default: {
            if (c < OPT_BASE || c >= OPT_BASE + (int)cli->nopts) {
                rc = usage_error(cli, "internal: unexpected getopt code %d", c);
                goto out;
            }
            const elbo_opt *o = &cli->opts[c - OPT_BASE];
            char src[80];
            snprintf(src, sizeof src, "--%s", o->name);
            if ((rc = set_opt(cli, o, arg, src)) != ELBO_EXIT_OK)
                goto out;
        }
        }
    }
    if (optind < argc)
        rc = usage_error(cli, "unexpected argument '%s' (see --help)", argv[optind]);
out:
    free(lo);
    return rc;
}

int elbo_cli_apply(elbo_cli *cli)
{
    if (elbo_runtime_init() != ELBO_OK)
        return usage_error(cli, "%s", elbo_last_error());
    if (cli->threads > 0 && elbo_set_threads(cli->threads) != ELBO_OK)
        return usage_error(cli, "--threads %d: %s", cli->threads, elbo_last_error());
    if (cli->simd) {
        elbo_simd level;
        if (elbo_simd_parse(cli->simd, &level) != ELBO_OK)
            return usage_error(cli, "--simd: expected scalar, avx2, avx512 or neon, got '%s'", cli->simd);
        if (elbo_simd_set(level) != ELBO_OK)
            return usage_error(cli, "--simd %s: not supported by this CPU or build", cli->simd);
    }
    if (cli->precision) { /* bf16 without a bf16 kernel runs fp32: elbo_precision_notice */
        elbo_precision p;
        if (elbo_precision_parse(cli->precision, &p) != ELBO_OK)
            return usage_error(cli, "--precision: expected fp32 or bf16, got '%s'", cli->precision);
        elbo_precision_set(p);
    }
    return ELBO_EXIT_OK;
}

void elbo_cli_main(elbo_cli *cli, int argc, char **argv)
{
    int rc = elbo_cli_parse(cli, argc, argv, stdout);
    if (rc == -1)
        exit(ELBO_EXIT_OK);
    if (rc == ELBO_EXIT_OK)
        rc = elbo_cli_apply(cli);
    if (rc != ELBO_EXIT_OK) {
        fprintf(stderr, "%s: %s\n", cli->prog, cli->err);
        exit(rc);
    }
    const char *notice = elbo_precision_notice();
    if (notice) /* once per run, on stderr */
        fprintf(stderr, "%s: %s\n", cli->prog, notice);
    if (elbo_mkdir_p(cli->out) != ELBO_OK) {
        fprintf(stderr, "%s: --out: %s\n", cli->prog, elbo_last_error());
        exit(ELBO_EXIT_RUNTIME);
    }
}

/* JSON key of an option: dashes become underscores ("n-data" -> "n_data"). */
static const char *json_key(const char *name, char *buf, size_t cap)
{
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++)
        buf[i] = name[i] == '-' ? '_' : name[i];
    buf[i] = '\0';
    return buf;
}

void elbo_cli_config_json(const elbo_cli *cli, elbo_json *j)
{
    char key[96], buf[CHOICE_MAX];
    for (size_t i = 0; i < cli->nopts; i++) {
        const elbo_opt *o = &cli->opts[i];
        json_key(o->name, key, sizeof key);
        switch (o->type) {
        case ELBO_OPT_INT: elbo_json_int(j, key, *(const int *)o->value); break;
        case ELBO_OPT_DOUBLE: elbo_json_number(j, key, *(const double *)o->value); break;
        case ELBO_OPT_STRING: elbo_json_string(j, key, *(const char *const *)o->value); break;
        case ELBO_OPT_CHOICE:
            elbo_json_string(j, key, choice_name(o->choices, *(const int *)o->value, buf, sizeof buf));
            break;
        case ELBO_OPT_BOOL: elbo_json_bool(j, key, *(const bool *)o->value); break;
        }
    }
    elbo_json_uint(j, "seed", cli->seed);
    elbo_json_int(j, "threads", elbo_threads());
    elbo_json_string(j, "simd", elbo_simd_name(elbo_simd_current()));
    /* what the GEMMs ran (bf16 asked for without a kernel runs fp32), and what was asked */
    elbo_json_string(j, "precision", elbo_precision_name(elbo_precision_current()));
    elbo_json_string(j, "precision_requested", elbo_precision_name(elbo_precision_requested()));
    elbo_json_string(j, "out", cli->out);
    elbo_json_string(j, "data", cli->data);
    elbo_json_bool(j, "quick", cli->quick);
    if (cli->ranks > 0)
        elbo_json_int(j, "mpi_ranks", cli->ranks);
    elbo_json_string(j, "git_revision", elbo_git_revision());
}

/* "name=value" per line, as elbo_cli_config_json (doubles as %.17g) but
 * without threads, which never change results. */
int elbo_cli_config_text(const elbo_cli *cli, char *buf, size_t cap)
{
    char tmp[CHOICE_MAX];
    size_t len = 0;
#define APPEND(...)                                                                                                \
    do {                                                                                                           \
        int n_ = snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, __VA_ARGS__);                  \
        len += n_ > 0 ? (size_t)n_ : 0;                                                                            \
    } while (0)
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < cli->nopts; i++) {
        const elbo_opt *o = &cli->opts[i];
        switch (o->type) {
        case ELBO_OPT_INT: APPEND("%s=%d\n", o->name, *(const int *)o->value); break;
        case ELBO_OPT_DOUBLE: APPEND("%s=%.17g\n", o->name, *(const double *)o->value); break;
        case ELBO_OPT_STRING: APPEND("%s=%s\n", o->name, *(const char *const *)o->value); break;
        case ELBO_OPT_CHOICE:
            APPEND("%s=%s\n", o->name, choice_name(o->choices, *(const int *)o->value, tmp, sizeof tmp));
            break;
        case ELBO_OPT_BOOL: APPEND("%s=%s\n", o->name, *(const bool *)o->value ? "true" : "false"); break;
        }
    }
    APPEND("seed=%llu\nsimd=%s\nout=%s\ndata=%s\nquick=%d\ngit_revision=%s\n", (unsigned long long)cli->seed,
           elbo_simd_name(elbo_simd_current()), cli->out, cli->data, (int)cli->quick, elbo_git_revision());
#undef APPEND
    return (int)len;
}
