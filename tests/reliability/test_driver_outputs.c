/* What the drivers write besides their figures, from a small .npy data set:
 * --dump-latents (experiments/vae and a driver on experiments/vae_setup.h),
 * the grids' .npy beside their PNGs, the report, and --export / --init
 * giving back the same test -ELBO under the same fixed noise. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../io/npz_util.h"
#include "models/io/npy.h"
#include "models/io/png.h"
#include "test_util.h"

#define NTR 96
#define NTE 40

static char *tmp;
static void setup(void) { tmp = tu_tempdir(); }
static void teardown(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    free(tmp);
}
TestSuite(driver_outputs, .init = setup, .fini = teardown);

static const char *tp(const char *name)
{
    static char buf[32][8192]; /* one args array holds up to a dozen */
    static int k;
    char *p = buf[k++ & 31];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

static void put_buf(const char *path, nz_buf b)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(b.p, 1, b.n, f), b.n);
    fclose(f);
    free(b.p);
}

static void data(void)
{
    static uint8_t px[NTR * 784];
    int64_t y[NTR];
    for (int i = 0; i < NTR * 784; i++)
        px[i] = (uint8_t)((i % 784) < 392 ? (i * 7919u) >> 5 : 0);
    for (int i = 0; i < NTR; i++)
        y[i] = i % 3;
    char shape[32];
    snprintf(shape, sizeof shape, "(%d, 28, 28)", NTR);
    put_buf(tp("x.npy"), nz_npy("|u1", shape, px, sizeof px));
    snprintf(shape, sizeof shape, "(%d,)", NTR);
    put_buf(tp("y.npy"), nz_npy("<i8", shape, y, sizeof y));
    snprintf(shape, sizeof shape, "(%d, 28, 28)", NTE);
    put_buf(tp("xt.npy"), nz_npy("|u1", shape, px, NTE * 784));
    snprintf(shape, sizeof shape, "(%d,)", NTE);
    put_buf(tp("yt.npy"), nz_npy("<i8", shape, y, NTE * 8));
    float eps[NTE * 4];
    tu_fill_uniform(eps, NTE * 4, -2, 2, 9);
    put_buf(tp("eps.npy"), nz_npy("<f4", "(40, 4)", eps, sizeof eps));
}

static int run(const char *driver, const char *const *args)
{
    char exe[4096];
    const char *root = getenv("ELBO_BUILD_ROOT");
    snprintf(exe, sizeof exe, "%s/experiments/%s", root ? root : ".", driver);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen(tp("stderr.txt"), "w", stderr);
        const char *argv[48] = {exe};
        int n = 1;
        for (const char *const *a = args; *a && n < 47; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(exe, (char *const *)argv);
        _exit(126);
    }
    int ws;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
}

/* The .npy at path: its shape, and the kind it holds. */
static void expect_npy(const char *path, int ndim, const uint64_t *shape, elbo_npy_kind kind)
{
    elbo_source s;
    elbo_npy_info h;
    cr_assert_eq(elbo_source_open(&s, path), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_npy_info_read(&s, &h), ELBO_OK, "%s", elbo_last_error());
    elbo_source_close(&s);
    cr_expect_eq(h.ndim, ndim, "%s: %d dimensions", path, h.ndim);
    for (int i = 0; i < ndim && i < h.ndim; i++)
        cr_expect_eq(h.shape[i], shape[i], "%s: dimension %d is %llu", path, i, (unsigned long long)h.shape[i]);
    cr_expect_eq(h.kind, kind, "%s", path);
}

static double summary_number(const char *dir, const char *key)
{
    char p[8400], buf[65536], pat[128];
    snprintf(p, sizeof p, "%s/summary.json", dir);
    FILE *f = fopen(p, "r");
    cr_assert(f, "%s", p);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(buf, pat);
    cr_assert(at, "%s: no %s", p, key);
    return strtod(at + strlen(pat), NULL);
}

Test(driver_outputs, vae_latents_grids_report_export)
{
    data();
    const char *out = tp("run");
    const char *args[] = {"--quick", "--epochs", "1", "--latent", "4", "--data", tp("x.npy"), "--labels", tp("y.npy"),
                          "--test-data", tp("xt.npy"), "--test-labels", tp("yt.npy"), "--dump-latents", "--export",
                          tp("w.safetensors"), "--eval-noise", tp("eps.npy"), "--out", out, NULL};
    cr_assert_eq(run("vae", args), 0, "vae failed: see %s", tp("stderr.txt"));
    char p[8400];
    const uint64_t tr[2] = {NTR, 4}, te[2] = {NTE, 4}, ntr[1] = {NTR}, grid[4] = {100, 28, 28, 1};
    snprintf(p, sizeof p, "%s/latents_train_mu.npy", out); expect_npy(p, 2, tr, ELBO_NPY_FLOAT);
    snprintf(p, sizeof p, "%s/latents_train_logvar.npy", out); expect_npy(p, 2, tr, ELBO_NPY_FLOAT);
    snprintf(p, sizeof p, "%s/latents_test_mu.npy", out); expect_npy(p, 2, te, ELBO_NPY_FLOAT);
    snprintf(p, sizeof p, "%s/latents_train_labels.npy", out); expect_npy(p, 1, ntr, ELBO_NPY_UINT);
    snprintf(p, sizeof p, "%s/samples.npy", out); expect_npy(p, 4, grid, ELBO_NPY_FLOAT);
    snprintf(p, sizeof p, "%s/index.html", out);
    cr_expect_eq(access(p, R_OK), 0, "no report");
    /* the exported weights evaluate to the same number with the same noise */
    const char *out2 = tp("run2");
    const char *a2[] = {"--quick", "--epochs", "0", "--latent", "4", "--data", tp("x.npy"), "--labels", tp("y.npy"),
                        "--test-data", tp("xt.npy"), "--test-labels", tp("yt.npy"), "--init", tp("w.safetensors"),
                        "--eval-noise", tp("eps.npy"), "--out", out2, NULL};
    cr_assert_eq(run("vae", a2), 0, "vae --init failed: see %s", tp("stderr.txt"));
    double a = summary_number(out, "test_neg_elbo_fixed_noise"), b = summary_number(out2, "test_neg_elbo_fixed_noise");
    cr_expect_eq(a, b, "export then import: %.17g vs %.17g", a, b);
}

Test(driver_outputs, vae_setup_driver_dumps_latents)
{
    data();
    const char *out = tp("fig");
    const char *args[] = {"--quick", "--epochs", "1", "--latent", "3", "--data", tp("x.npy"), "--labels", tp("y.npy"),
                          "--test-data", tp("xt.npy"), "--test-labels", tp("yt.npy"), "--dump-latents", "--show", "5",
                          "--out", out, NULL};
    cr_assert_eq(run("vae_figures", args), 0, "vae_figures failed: see %s", tp("stderr.txt"));
    char p[8400];
    const uint64_t tr[2] = {NTR, 3}, te[2] = {NTE, 3}, rec[4] = {15, 28, 28, 1};
    snprintf(p, sizeof p, "%s/latents_train_mu.npy", out); expect_npy(p, 2, tr, ELBO_NPY_FLOAT);
    snprintf(p, sizeof p, "%s/latents_test_logvar.npy", out); expect_npy(p, 2, te, ELBO_NPY_FLOAT);
    snprintf(p, sizeof p, "%s/reconstructions.npy", out); expect_npy(p, 4, rec, ELBO_NPY_FLOAT);
    /* the PNG beside it decodes */
    snprintf(p, sizeof p, "%s/reconstructions.png", out);
    uint8_t *px;
    int w, h, c;
    cr_assert_eq(elbo_png_read(p, &px, &w, &h, &c), ELBO_OK, "%s", elbo_last_error());
    cr_expect_eq(w, 5 * 28 + 6 * 2);
    cr_expect_eq(h, 3 * 28 + 4 * 2);
    free(px);
}
