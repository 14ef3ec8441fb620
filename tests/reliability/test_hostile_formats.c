/* Hostile files in the formats of --data, --init and --eval-noise: each is
 * refused by its reader with one line naming the file, and the driver given
 * it exits 3 with that one line and writes nothing into its --out folder.
 * Cases (issue 18): a truncated or lying .npy header, an npz member that is
 * not an array, a PNG with a bad CRC, PNG decompression bombs (a stream that
 * decodes past the header's size, a header whose size the stream cannot
 * hold), a safetensors header that overruns its file, safetensors shapes
 * that do not fit the model. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../io/npz_util.h"
#include "models/io/crc.h"
#include "models/io/deflate.h"
#include "models/io/png.h"
#include "models/io/safetensors.h"
#include "test_util.h"

static char *tmp;

static void setup(void)
{
    tmp = tu_tempdir();
    cr_assert(tmp);
}

static void teardown(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    free(tmp);
}
TestSuite(hostile_formats, .init = setup, .fini = teardown);

static const char *tp(const char *name)
{
    static char buf[8][8192];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", tmp, name);
    return p;
}

static void put(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(d, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void put_buf(const char *path, nz_buf b)
{
    put(path, b.p, b.n);
    free(b.p);
}

/* Run the vae driver with args; stderr into err. Returns the exit code. */
static int run_vae(const char *const *args, char *err, size_t cap)
{
    char exe[4096];
    const char *root = getenv("ELBO_BUILD_ROOT");
    snprintf(exe, sizeof exe, "%s/experiments/vae", root ? root : ".");
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        freopen("/dev/null", "w", stdout);
        const char *argv[40] = {exe};
        int n = 1;
        for (const char *const *a = args; *a && n < 39; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(exe, (char *const *)argv);
        _exit(126);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], err + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    err[len] = '\0';
    close(fds[0]);
    int ws;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* The driver's contract on a bad input file: exit 3, one line naming the
 * file and saying what is wrong, nothing in --out. */
static void expect_refused(const char *const *args, const char *out, const char *file, const char *says)
{
    char err[8192];
    int code = run_vae(args, err, sizeof err);
    int lines = 0;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    cr_expect_eq(code, 3, "%s: expected exit 3, got %d: %s", file, code, err);
    cr_expect_eq(lines, 1, "%s: expected one line, got %d: %s", file, lines, err);
    cr_expect(strstr(err, file) != NULL, "the line does not name %s: %s", file, err);
    cr_expect(strstr(err, says) != NULL, "the line does not say '%s': %s", says, err);
    cr_expect_eq(entries(out), 0, "%s: something was written into %s", file, out);
}

/* A valid small data set as .npy: 64 / 32 images of 28x28 with labels. */
static void good_npy(void)
{
    uint8_t *px = malloc(64 * 784);
    for (int i = 0; i < 64 * 784; i++)
        px[i] = (uint8_t)(i * 2654435761u >> 24);
    put_buf(tp("train.npy"), nz_npy("|u1", "(64, 28, 28)", px, 64 * 784));
    put_buf(tp("test.npy"), nz_npy("|u1", "(32, 28, 28)", px, 32 * 784));
    free(px);
}

Test(hostile_formats, npy_truncated_and_lying_headers)
{
    good_npy();
    uint8_t px[784] = {0};
    nz_buf b = nz_npy("|u1", "(1, 28, 28)", px, 784);
    put(tp("trunc.npy"), b.p, 40); /* the header cut short */
    put_buf(tp("lying.npy"), nz_npy("|u1", "(6000, 28, 28)", px, 784)); /* shape claims more data than there is */
    free(b.p);
    const char *cases[][2] = {{"trunc.npy", "truncated"}, {"lying.npy", "truncated"}};
    for (int c = 0; c < 2; c++) {
        const char *out = tp(cases[c][0][0] == 't' ? "out-trunc" : "out-lying");
        const char *args[] = {"--quick", "--data", tp(cases[c][0]), "--test-data", tp("test.npy"), "--out", out, NULL};
        expect_refused(args, out, cases[c][0], cases[c][1]);
    }
}

Test(hostile_formats, npz_member_not_an_array)
{
    const char *txt = "these are not pixels";
    nz_member m[1] = {{"x_train.txt", (const uint8_t *)txt, strlen(txt), 0}};
    put_buf(tp("bad.npz"), nz_zip(m, 1, 1));
    const char *out = tp("out-npz");
    const char *args[] = {"--quick", "--data", tp("bad.npz"), "--out", out, NULL};
    expect_refused(args, out, "bad.npz", "not an array");
}

/* A class folder holding one good PNG and the file made by make. */
static void folder_with(const char *name, const uint8_t *png, size_t len)
{
    mkdir(tp("pngs"), 0777);
    mkdir(tp("pngs/a"), 0777);
    uint8_t px[28 * 28] = {0}, *good;
    size_t glen;
    cr_assert_eq(elbo_png_encode(px, 28, 28, 1, &good, &glen), ELBO_OK);
    put(tp("pngs/a/0.png"), good, glen);
    free(good);
    char p[512];
    snprintf(p, sizeof p, "pngs/a/%s", name);
    put(tp(p), png, len);
}

/* A PNG of the given header and zlib payload (one IDAT). */
static nz_buf png_of(uint32_t w, uint32_t h, const uint8_t *z, size_t zn)
{
    nz_buf b = {0};
    nz_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[17] = {'I', 'H', 'D', 'R', (uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h, 8, 0, 0, 0, 0};
    uint8_t be[4];
    be[0] = 0, be[1] = 0, be[2] = 0, be[3] = 13;
    nz_put(&b, be, 4);
    nz_put(&b, ihdr, 17);
    uint32_t c = elbo_crc32(ihdr, 17);
    uint8_t cb[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    nz_put(&b, cb, 4);
    uint8_t len[4] = {(uint8_t)(zn >> 24), (uint8_t)(zn >> 16), (uint8_t)(zn >> 8), (uint8_t)zn};
    nz_put(&b, len, 4);
    size_t at = b.n;
    nz_put(&b, "IDAT", 4);
    nz_put(&b, z, zn);
    c = elbo_crc32(b.p + at, zn + 4);
    uint8_t cd[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    nz_put(&b, cd, 4);
    nz_put(&b, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    return b;
}

Test(hostile_formats, png_bad_crc_and_bombs)
{
    /* bad CRC: one flipped pixel byte inside IDAT */
    uint8_t px[28 * 28];
    for (int i = 0; i < 784; i++)
        px[i] = (uint8_t)i;
    uint8_t *png, *dec;
    size_t len;
    int w, h, c;
    cr_assert_eq(elbo_png_encode(px, 28, 28, 1, &png, &len), ELBO_OK);
    png[len - 20] ^= 0x10;
    cr_assert_eq(elbo_png_decode("crc.png", png, len, &dec, &w, &h, &c), ELBO_ERR_FORMAT);
    cr_assert(strstr(elbo_last_error(), "bad CRC") && strstr(elbo_last_error(), "crc.png"), "%s", elbo_last_error());
    folder_with("crc.png", png, len);
    free(png);
    const char *out = tp("out-crc");
    const char *a1[] = {"--quick", "--data", tp("pngs"), "--out", out, NULL};
    expect_refused(a1, out, "crc.png", "bad CRC");

    /* bomb 1: a 28x28 header over a stream of 64 MiB of zeros (64 KiB compressed) */
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(big, 1), *z;
    size_t zn;
    cr_assert_eq(elbo_zlib_compress(zeros, big, ELBO_DEFLATE_DEFAULT, &z, &zn), ELBO_OK);
    free(zeros);
    nz_buf b = png_of(28, 28, z, zn);
    free(z);
    cr_assert_eq(elbo_png_decode("bomb.png", b.p, b.n, &dec, &w, &h, &c), ELBO_ERR_FORMAT);
    cr_assert(strstr(elbo_last_error(), "expands beyond"), "%s", elbo_last_error());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tp("pngs"));
    cr_assert_eq(system(cmd), 0);
    folder_with("bomb.png", b.p, b.n);
    free(b.p);
    out = tp("out-bomb");
    const char *a2[] = {"--quick", "--data", tp("pngs"), "--out", out, NULL};
    expect_refused(a2, out, "bomb.png", "decompression bomb");

    /* bomb 2: a 16384 x 16384 header over a few bytes: refused before allocating 256 MiB */
    uint8_t tiny[] = "\x78\xda\x63\x00\x00\x00\x01\x00\x01";
    b = png_of(16384, 16384, tiny, sizeof tiny - 1);
    cr_assert_eq(elbo_png_decode("huge.png", b.p, b.n, &dec, &w, &h, &c), ELBO_ERR_FORMAT);
    cr_assert(strstr(elbo_last_error(), "cannot hold"), "%s", elbo_last_error());
    free(b.p);
}

Test(hostile_formats, safetensors_overrun_and_wrong_shapes)
{
    good_npy();
    /* a header length running past the end of the file */
    nz_buf b = {0};
    nz_u64(&b, 1u << 20);
    nz_put(&b, "{\"a\":1}", 7);
    put_buf(tp("overrun.safetensors"), b);
    const char *out = tp("out-overrun");
    const char *a1[] = {"--quick", "--data", tp("train.npy"), "--test-data", tp("test.npy"), "--init",
                        tp("overrun.safetensors"), "--out", out, NULL};
    expect_refused(a1, out, "overrun.safetensors", "overruns");
    /* a well-formed file of another model: 784-300-20 weights for a 784-400-20 model */
    static float w1[300 * 784];
    elbo_st_out t[1] = {{"encoder.0.weight", w1, 2, {300, 784}}};
    cr_assert_eq(elbo_safetensors_write(tp("other.safetensors"), t, 1, NULL, NULL, 0), ELBO_OK);
    out = tp("out-other");
    const char *a2[] = {"--quick", "--data", tp("train.npy"), "--test-data", tp("test.npy"), "--init",
                        tp("other.safetensors"), "--out", out, NULL};
    expect_refused(a2, out, "other.safetensors", "the model expects (400, 784)");
    /* noise of the wrong shape for --eval-noise */
    put_buf(tp("eps.npy"), nz_npy("<f4", "(3, 20)", w1, 3 * 20 * 4));
    out = tp("out-eps");
    const char *a3[] = {"--quick", "--data", tp("train.npy"), "--test-data", tp("test.npy"), "--epochs", "1",
                        "--eval-noise", tp("eps.npy"), "--out", out, NULL};
    expect_refused(a3, out, "eps.npy", "expected (32, 20)");
}
