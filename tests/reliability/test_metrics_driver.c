/* experiments/disentangle_metrics on good and bad input, run as the user
 * would (fork/exec of ELBO_BUILD_ROOT/experiments/disentangle_metrics):
 * a good run writes its files; every bad input (unknown metric, mig without
 * --logvar, row counts that differ, a factor column with one value, NaN
 * codes, a log-variance file of another shape, a missing file, a truncated
 * or 3-D .npy, an --out that cannot be made) is exit 2 or 3 (1 for the output) with exactly
 * one line on stderr naming the problem, and leaves nothing in --out. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/io/csv.h"
#include "models/io/npy.h"
#include "test_util.h"

static char *tmp;

static void setup(void) { cr_assert(tmp = tu_tempdir()); }
static void teardown(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
    free(tmp);
}
TestSuite(metrics_driver, .init = setup, .fini = teardown);

static const char *tpath(const char *name)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

static const char *put(const char *name, const char *text)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return p;
}

typedef struct outcome {
    int code;
    char err[8192];
    int lines;
} outcome;

/* Run the driver with args (NULL-terminated); stdout is dropped. */
static void run(outcome *o, ...)
{
    const char *args[32];
    int n = 0;
    static char exe[4096];
    const char *root = getenv("ELBO_BUILD_ROOT");
    snprintf(exe, sizeof exe, "%s/experiments/disentangle_metrics", root ? root : ".");
    args[n++] = exe;
    va_list ap;
    va_start(ap, o);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        close(fds[0]);
        execv(exe, (char *const *)args);
        _exit(126);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], o->err + len, sizeof o->err - 1 - len)) > 0)
        len += (size_t)got;
    close(fds[0]);
    o->err[len] = '\0';
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    o->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    o->lines = 0;
    for (size_t i = 0; i < len; i++)
        o->lines += o->err[i] == '\n';
}

static void expect_failure(const outcome *o, int code, const char *what, const char *says)
{
    cr_expect_eq(o->code, code, "%s: exit %d, expected %d (stderr: %s)", what, o->code, code, o->err);
    cr_expect_eq(o->lines, 1, "%s: %d lines on stderr, expected one: %s", what, o->lines, o->err);
    cr_expect(strstr(o->err, says), "%s: stderr should name '%s': %s", what, says, o->err);
    struct stat st;
    cr_expect_neq(stat(tpath("out"), &st), 0, "%s: --out was created", what);
}

/* 60 points of a 3 x 4 x 5 grid; codes: the factors plus a tilt. */
static void good_inputs(void)
{
    char codes[8192] = "z0,z1,z2\n", factors[8192] = "shape,size,pos\n", logvar[8192] = "l0,l1,l2\n";
    for (int i = 0; i < 60; i++) {
        int a = i / 20, b = i / 5 % 4, c = i % 5;
        char row[128];
        snprintf(row, sizeof row, "%g,%g,%g\n", a + 0.1 * c, b - 0.05 * a, c + 0.01 * i);
        strcat(codes, row);
        snprintf(row, sizeof row, "%d,%d,%d\n", a, b, c);
        strcat(factors, row);
        strcat(logvar, "-3,-2.5,-3\n");
    }
    put("codes.csv", codes);
    put("factors.csv", factors);
    put("logvar.csv", logvar);
}

Test(metrics_driver, good_run_writes_every_output)
{
    good_inputs();
    outcome o;
    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--logvar", tpath("logvar.csv"),
        "--quick", "--out", tpath("out"), NULL);
    cr_assert_eq(o.code, 0, "exit %d: %s", o.code, o.err);
    double *v;
    size_t rows, cols;
    cr_assert_eq(elbo_csv_read(tpath("out/metrics.csv"), &v, &rows, &cols), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(rows, 1);
    cr_assert_eq(cols, 8, "mig, mig_dl, betavae, factorvae, sap, dci_d, dci_c, dci_i");
    for (size_t c = 0; c < cols; c++)
        cr_assert(v[c] >= -1e-12 && v[c] <= 1 + 1e-12, "score %zu = %g", c, v[c]);
    free(v);
    static const char *files[] = {"metrics.json", "summary.json", "mi_dl.csv", "mi_chen.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "out/%s", files[i]);
        struct stat st;
        cr_expect(stat(tpath(name), &st) == 0 && st.st_size > 0, "%s missing", files[i]);
    }
}

Test(metrics_driver, bad_flags_are_usage_errors)
{
    good_inputs();
    outcome o;
    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--metrics", "mig_dl,entropy", "--out",
        tpath("out"), NULL);
    expect_failure(&o, 2, "unknown metric", "entropy");
    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--metrics", "mig", "--out",
        tpath("out"), NULL);
    expect_failure(&o, 2, "mig without --logvar", "--logvar");
    run(&o, "--factors", tpath("factors.csv"), "--out", tpath("out"), NULL);
    expect_failure(&o, 2, "no --codes", "--codes");
    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--factor-columns", "shape,colour",
        "--out", tpath("out"), NULL);
    expect_failure(&o, 2, "unknown factor column", "colour");
}

Test(metrics_driver, bad_inputs_are_input_errors)
{
    good_inputs();
    outcome o;
    const char *short_factors = put("short.csv", "shape,size\n0,1\n1,0\n");
    run(&o, "--codes", tpath("codes.csv"), "--factors", short_factors, "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "row counts differ", "short.csv");
    cr_expect(strstr(o.err, "60") && strstr(o.err, " 2"), "%s", o.err);

    char one[4096] = "a,b\n";
    for (int i = 0; i < 60; i++)
        strcat(one, i % 2 ? "7,1\n" : "7,0\n");
    run(&o, "--codes", tpath("codes.csv"), "--factors", put("one.csv", one), "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "factor with one value", "one value");

    char nan[4096] = "z0,z1,z2\n";
    for (int i = 0; i < 60; i++)
        strcat(nan, i == 41 ? "1,nan,2\n" : "1,2,3\n");
    run(&o, "--codes", put("nan.csv", nan), "--factors", tpath("factors.csv"), "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "NaN code", "nan");

    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--logvar", short_factors, "--out",
        tpath("out"), NULL);
    expect_failure(&o, 3, "log-variances of another shape", "--logvar");

    run(&o, "--codes", tpath("missing.csv"), "--factors", tpath("factors.csv"), "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "missing codes", "missing.csv");

    run(&o, "--codes", put("codes.npy", "\x93NUMPY"), "--factors", tpath("factors.csv"), "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "truncated .npy codes", "codes.npy");
    float cube[60 * 2 * 2] = {0};
    cr_assert_eq(elbo_npy_write_f32(tpath("cube.npy"), cube, (uint64_t[]){60, 2, 2}, 3), ELBO_OK);
    run(&o, "--codes", tpath("cube.npy"), "--factors", tpath("factors.csv"), "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "3-D .npy codes", "cube.npy");
    float nanv[60 * 3];
    for (int i = 0; i < 180; i++)
        nanv[i] = i == 100 ? NAN : (float)i;
    cr_assert_eq(elbo_npy_write_f32(tpath("nan.npy"), nanv, (uint64_t[]){60, 3}, 2), ELBO_OK);
    run(&o, "--codes", tpath("nan.npy"), "--factors", tpath("factors.csv"), "--out", tpath("out"), NULL);
    expect_failure(&o, 3, "NaN in .npy codes", "nan.npy");

    run(&o, "--codes", put("ragged.csv", "a,b\n1,2\n3\n"), "--factors", tpath("factors.csv"), "--out", tpath("out"),
        NULL);
    expect_failure(&o, 3, "ragged codes", "ragged.csv");
}

/* Every score from .npy codes (float32) and factors (uint8) equals the
 * score from the same numbers as CSV: the codes are dyadic, so float32,
 * the CSV text and float64 all hold them exactly. */
Test(metrics_driver, npy_inputs_score_as_csv)
{
    char codes[8192] = "z0,z1,z2\n", factors[8192] = "a,b,c\n", logvar[8192] = "l0,l1,l2\n";
    float zc[60 * 3], lv[60 * 3];
    uint8_t fc[60 * 3];
    for (int i = 0; i < 60; i++) {
        int a = i / 20, b = i / 5 % 4, c = i % 5;
        float z[3] = {a + 0.25f * c, b - 0.125f * a, c + 0.0625f * (float)(i % 7)}, l[3] = {-3, -2.5f, -3.25f};
        char row[160];
        snprintf(row, sizeof row, "%.9g,%.9g,%.9g\n", z[0], z[1], z[2]);
        strcat(codes, row);
        snprintf(row, sizeof row, "%d,%d,%d\n", a, b, c);
        strcat(factors, row);
        strcat(logvar, "-3,-2.5,-3.25\n");
        memcpy(zc + 3 * i, z, sizeof z), memcpy(lv + 3 * i, l, sizeof l);
        fc[3 * i] = (uint8_t)a, fc[3 * i + 1] = (uint8_t)b, fc[3 * i + 2] = (uint8_t)c;
    }
    put("codes.csv", codes), put("factors.csv", factors), put("logvar.csv", logvar);
    uint64_t shape[2] = {60, 3};
    cr_assert_eq(elbo_npy_write_f32(tpath("codes.npy"), zc, shape, 2), ELBO_OK);
    cr_assert_eq(elbo_npy_write_f32(tpath("logvar.npy"), lv, shape, 2), ELBO_OK);
    elbo_npy_writer w;
    cr_assert_eq(elbo_npy_writer_open(&w, tpath("factors.npy"), "|u1", shape, 2), ELBO_OK);
    cr_assert_eq(elbo_npy_writer_put(&w, fc, sizeof fc), ELBO_OK);
    cr_assert_eq(elbo_npy_writer_close(&w), ELBO_OK);
    outcome o;
    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--logvar", tpath("logvar.csv"),
        "--quick", "--out", tpath("csv"), NULL);
    cr_assert_eq(o.code, 0, "csv: exit %d: %s", o.code, o.err);
    run(&o, "--codes", tpath("codes.npy"), "--factors", tpath("factors.npy"), "--logvar", tpath("logvar.npy"),
        "--quick", "--out", tpath("npy"), NULL);
    cr_assert_eq(o.code, 0, "npy: exit %d: %s", o.code, o.err);
    double *a, *b;
    size_t ra, ca, rb, cb;
    cr_assert_eq(elbo_csv_read(tpath("csv/metrics.csv"), &a, &ra, &ca), ELBO_OK);
    cr_assert_eq(elbo_csv_read(tpath("npy/metrics.csv"), &b, &rb, &cb), ELBO_OK);
    cr_assert(ra == 1 && rb == 1 && ca == 8 && cb == 8, "%zu x %zu and %zu x %zu", ra, ca, rb, cb);
    for (size_t c = 0; c < ca; c++)
        cr_expect_eq(a[c], b[c], "score %zu: csv %.17g, npy %.17g", c, a[c], b[c]);
    cr_expect(a[1] > 0.1, "mig_dl %g: the codes carry the factors", a[1]);
    free(a), free(b);
    /* a 1-D .npy is one column: the third factor alone */
    uint8_t one[60];
    for (int i = 0; i < 60; i++)
        one[i] = fc[3 * i + 2];
    cr_assert_eq(elbo_npy_writer_open(&w, tpath("one.npy"), "|u1", (uint64_t[]){60}, 1), ELBO_OK);
    cr_assert_eq(elbo_npy_writer_put(&w, one, 60), ELBO_OK);
    cr_assert_eq(elbo_npy_writer_close(&w), ELBO_OK);
    run(&o, "--codes", tpath("codes.npy"), "--factors", tpath("one.npy"), "--metrics", "mig_dl,sap", "--out",
        tpath("one"), NULL);
    cr_assert_eq(o.code, 0, "1-D factors: exit %d: %s", o.code, o.err);
}

Test(metrics_driver, unwritable_out_is_a_runtime_error)
{
    good_inputs();
    const char *blocker = put("out-file", "a file where --out should go\n");
    char out[4200];
    snprintf(out, sizeof out, "%s/sub", blocker);
    outcome o;
    run(&o, "--codes", tpath("codes.csv"), "--factors", tpath("factors.csv"), "--metrics", "sap", "--out", out, NULL);
    cr_expect_eq(o.code, 1, "exit %d: %s", o.code, o.err);
    cr_expect_eq(o.lines, 1, "%s", o.err);
}
