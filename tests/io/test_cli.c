/* Driver CLI: parsing good and bad flags (the function, not the exit), config JSON, summary.json. */
#include <stdbool.h>

#include "cli.h"
#include "io_util.h"
#include "progress.h"
#include "summary.h"

static int epochs;
static double lr;
static const char *name;
static int arch;
static bool verbose;
static const elbo_opt OPTS[] = {
    {"epochs", ELBO_OPT_INT, &epochs, "50", "training epochs", .min = 1, .max = 1000},
    {"lr", ELBO_OPT_DOUBLE, &lr, "1e-3", "learning rate", .min = 0, .max = 1},
    {"name", ELBO_OPT_STRING, &name, "run", "run name", .choices = NULL},
    {"arch", ELBO_OPT_CHOICE, &arch, "mlp", "encoder", .choices = "mlp|conv|resnet"},
    {"verbose-log", ELBO_OPT_BOOL, &verbose, "false", "log more", .choices = NULL},
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

static int parse(elbo_cli *cli, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"drv";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    elbo_cli_init(cli, "drv", "A test driver.", OPTS, NOPTS);
    FILE *devnull = fopen("/dev/null", "w");
    int rc = elbo_cli_parse(cli, argc, argv, devnull);
    fclose(devnull);
    return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(cli, defaults)
{
    elbo_cli cli;
    cr_assert_eq(parse(&cli, (const char *const[]){NULL}), ELBO_EXIT_OK, "%s", cli.err);
    cr_assert_eq(epochs, 50);
    cr_assert_float_eq(lr, 1e-3, 0);
    cr_assert_str_eq(name, "run");
    cr_assert_eq(arch, 0);
    cr_assert_eq(verbose, false);
    cr_assert_eq(cli.seed, 1);
    cr_assert_eq(cli.threads, 0);
    cr_assert_str_eq(cli.out, "runs/drv");
    cr_assert_str_eq(cli.data, "data/fashion-mnist");
    cr_assert_null(cli.simd);
    cr_assert_eq(cli.quick, false);
}

Test(cli, good_flags)
{
    elbo_cli cli;
    int rc = parse(&cli, ARGS("--epochs", "7", "--lr=0.5", "--name", "x y", "--arch", "resnet", "--verbose-log",
                              "--seed", "18446744073709551615", "--threads", "4", "--out", "/tmp/o", "--data", "d",
                              "--simd", "scalar", "--quick"));
    cr_assert_eq(rc, ELBO_EXIT_OK, "%s", cli.err);
    cr_assert_eq(epochs, 7);
    cr_assert_float_eq(lr, 0.5, 0);
    cr_assert_str_eq(name, "x y");
    cr_assert_eq(arch, 2);
    cr_assert(verbose);
    cr_assert_eq(cli.seed, UINT64_MAX);
    cr_assert_eq(cli.threads, 4);
    cr_assert_str_eq(cli.out, "/tmp/o");
    cr_assert_str_eq(cli.data, "d");
    cr_assert_str_eq(cli.simd, "scalar");
    cr_assert(cli.quick);
    cr_assert_eq(parse(&cli, ARGS("--verbose-log=false", "--quick=0")), ELBO_EXIT_OK, "%s", cli.err);
    cr_assert_eq(verbose, false);
    cr_assert_eq(cli.quick, false);
}

static void bad(const char *const *args, const char *needle)
{
    elbo_cli cli;
    cr_assert_eq(parse(&cli, args), ELBO_EXIT_USAGE, "accepted, expected an error with '%s'", needle);
    cr_assert(strstr(cli.err, needle), "'%s' lacks '%s'", cli.err, needle);
    cr_assert_null(strchr(cli.err, '\n'), "one line");
}

Test(cli, bad_flags)
{
    bad(ARGS("--nope"), "unknown option '--nope'");
    bad(ARGS("--nope=3"), "unknown option '--nope'");
    bad(ARGS("-x"), "unknown option '-x'");
    bad(ARGS("--epochs"), "--epochs: expected a value");
    bad(ARGS("--epochs", "abc"), "--epochs: expected an integer, got 'abc'");
    bad(ARGS("--epochs", "5x"), "expected an integer");
    bad(ARGS("--epochs", "0"), "--epochs: expected an integer in 1..1000, got 0");
    bad(ARGS("--epochs", "99999999999"), "expected an integer");
    bad(ARGS("--lr", "nan"), "--lr: expected a finite number");
    bad(ARGS("--lr", "2"), "--lr: expected a number in [0, 1], got 2");
    bad(ARGS("--lr", ""), "expected a finite number");
    bad(ARGS("--arch", "vgg"), "--arch: expected one of mlp|conv|resnet, got 'vgg'");
    bad(ARGS("--verbose-log=maybe"), "--verbose-log: expected true or false");
    bad(ARGS("--seed", "-1"), "--seed: expected a non-negative integer");
    bad(ARGS("--seed", "1.5"), "--seed");
    bad(ARGS("--threads", "0"), "--threads: expected an integer in 1..64");
    bad(ARGS("--threads", "65"), "--threads");
    bad(ARGS("--simd", "sse9"), "--simd: expected scalar, avx2, avx512 or neon, got 'sse9'");
    bad(ARGS("--out", ""), "--out: expected a directory");
    bad(ARGS("--help=1"), "--help: takes no value");
    bad(ARGS("stray"), "unexpected argument 'stray'");
}

Test(cli, help_returns_minus_one_and_prints_defaults)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "drv", "A test driver.", OPTS, NOPTS);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char *argv[] = {(char *)"drv", (char *)"--help", NULL};
    cr_assert_eq(elbo_cli_parse(&cli, 2, argv, f), -1);
    fclose(f);
    cr_assert(strstr(buf, "Usage: drv [options]"));
    cr_assert(strstr(buf, "--epochs N"));
    cr_assert(strstr(buf, "(default: 1e-3)"));
    cr_assert(strstr(buf, "{mlp|conv|resnet}"));
    cr_assert(strstr(buf, "--seed N"));
    cr_assert(strstr(buf, "(default: runs/drv)"));
    free(buf);
}

Test(cli, bad_option_table)
{
    static int v;
    static const elbo_opt dup[] = {{"seed", ELBO_OPT_INT, &v, "1", "clash", .choices = NULL}};
    elbo_cli cli;
    elbo_cli_init(&cli, "drv", NULL, dup, 1);
    char *argv[] = {(char *)"drv", NULL};
    cr_assert_eq(elbo_cli_parse(&cli, 1, argv, NULL), ELBO_EXIT_USAGE);
    cr_assert(strstr(cli.err, "defined twice"));
    static const elbo_opt baddef[] = {{"k", ELBO_OPT_INT, &v, "x", "bad default", .choices = NULL}};
    elbo_cli_init(&cli, "drv", NULL, baddef, 1);
    cr_assert_eq(elbo_cli_parse(&cli, 1, argv, NULL), ELBO_EXIT_USAGE);
    cr_assert(strstr(cli.err, "default of --k"));
}

Test(cli, apply_and_config_json)
{
    elbo_cli cli;
    cr_assert_eq(parse(&cli, ARGS("--threads", "2", "--simd", "scalar", "--arch", "conv", "--lr", "0.25")),
                 ELBO_EXIT_OK);
    cr_assert_eq(elbo_cli_apply(&cli), ELBO_EXIT_OK, "%s", cli.err);
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_cli_config_json(&cli, &j);
    elbo_json_end_object(&j);
    cr_assert_eq(elbo_json_status(&j), ELBO_OK);
    const char *t = elbo_json_text(&j);
    cr_assert(strstr(t, "\"arch\": \"conv\""), "%s", t);
    cr_assert(strstr(t, "\"lr\": 0.25"));
    cr_assert(strstr(t, "\"verbose_log\": false"), "dashes become underscores");
    cr_assert(strstr(t, "\"threads\": 2"));
    cr_assert(strstr(t, "\"simd\": \"scalar\""));
    cr_assert(strstr(t, "\"seed\": 1"));
    cr_assert(strstr(t, "\"git_revision\": \""));
    elbo_json_free(&j);
}

Test(cli, summary_json_written)
{
    char *dir = iu_tempdir();
    elbo_cli cli;
    cr_assert_eq(parse(&cli, (const char *const[]){NULL}), ELBO_EXIT_OK);
    elbo_summary s;
    elbo_summary_begin(&s, &cli);
    elbo_json_number(&s.json, "test_elbo", -242.5);
    const char *out = iu_path(dir, "run/a");
    cr_assert_eq(elbo_summary_write(&s, out), ELBO_OK, "%s", elbo_last_error());
    size_t n;
    char *text = (char *)iu_read(iu_path(out, "summary.json"), &n);
    cr_assert(text);
    text[n] = '\0';
    cr_assert(strstr(text, "\"driver\": \"drv\""));
    cr_assert(strstr(text, "\"config\": {"));
    cr_assert(strstr(text, "\"results\": {\n    \"test_elbo\": -242.5\n  }\n}\n"), "%s", text);
    free(text);
    remove(iu_path(out, "summary.json"));
    rmdir(out);
    rmdir(iu_path(dir, "run"));
    iu_rmdir(dir);
}

Test(cli, progress_is_silent_off_a_terminal)
{
    elbo_progress p;
    elbo_progress_begin(&p, "train", 10); /* stderr is a pipe or file under the test runner */
    if (isatty(2))
        cr_skip("stderr is a terminal");
    cr_assert_eq(p.enabled, false);
    elbo_progress_update(&p, 5, 1.0);
    elbo_progress_end(&p);
    cr_assert(elbo_now() > 0);
}
