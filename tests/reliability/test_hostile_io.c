/* Hostile input files: every reader fails with the right status and one line
 * naming the file and the problem, never crashes, never leaks.
 * Cases (issue 8): truncated, wrong magic, overflowing dims, labels out of
 * range, empty file, directory instead of a file, unreadable file, NaN/Inf in
 * CSV, checkpoint from another configuration, bad CRC; plus a few neighbours
 * (FIFO, trailing data, wrong type/rank, ragged CSV). */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/io/checkpoint.h"
#include "models/io/crc.h"
#include "models/io/csv.h"
#include "models/io/dataset.h"
#include "models/io/file.h"
#include "models/io/idx.h"
#include "ops/error.h"
#include "test_util.h"

static char *dir;

static void setup(void)
{
    dir = tu_tempdir();
    cr_assert(dir, "mkdtemp failed");
    chmod(dir, 0755); /* traversable by an unprivileged child (unreadable-file case) */
}

static void teardown(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

static const char *path_of(const char *name)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static const char *write_bytes(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    cr_assert(f, "fopen %s: %s", p, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    return p;
}

static const char *write_text(const char *name, const char *text) { return write_bytes(name, text, strlen(text)); }

/* The error contract: status, one line, names the file, says what is wrong. */
#define EXPECT_ERROR(st, want, file, ...)                                                                  \
    do {                                                                                                   \
        elbo_status st_ = (st);                                                                            \
        const char *msg_ = elbo_last_error();                                                              \
        cr_expect_eq(st_, want, "status: expected %s, got %s (message: %s)", elbo_status_name(want),      \
                     elbo_status_name(st_), msg_);                                                         \
        cr_expect(strstr(msg_, file) != NULL, "message does not name the file %s: '%s'", file, msg_);      \
        cr_expect(strchr(msg_, '\n') == NULL, "message is not one line: '%s'", msg_);                      \
        const char *words_[] = {NULL, __VA_ARGS__};                                                        \
        for (size_t w_ = 1; w_ < sizeof words_ / sizeof words_[0]; w_++)                                   \
            cr_expect(strstr(msg_, words_[w_]) != NULL, "message does not say '%s': '%s'", words_[w_],    \
                      msg_);                                                                               \
    } while (0)

/* ---------------- IDX ---------------- */

static size_t idx_bytes(uint8_t *buf, int type, int rank, const uint32_t *dims, size_t payload, uint8_t fill)
{
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = (uint8_t)type;
    buf[n++] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        buf[n++] = (uint8_t)(dims[i] >> 24);
        buf[n++] = (uint8_t)(dims[i] >> 16);
        buf[n++] = (uint8_t)(dims[i] >> 8);
        buf[n++] = (uint8_t)dims[i];
    }
    memset(buf + n, fill, payload);
    return n + payload;
}

static uint8_t big[1 << 16];

Test(hostile_idx, valid_file_reads, .init = setup, .fini = teardown)
{
    const char *p = write_bytes("ok-images", big, idx_bytes(big, 8, 3, (uint32_t[]){2, 3, 4}, 24, 7));
    elbo_idx idx;
    cr_assert_eq(elbo_idx_read_images(p, &idx), ELBO_OK, "%s", elbo_last_error());
    cr_expect_eq(idx.count, 24);
    cr_expect_eq(idx.dims[0], 2);
    cr_expect_eq(idx.dims[2], 4);
    elbo_idx_free(&idx);
}

Test(hostile_idx, truncated_payload, .init = setup, .fini = teardown)
{
    size_t n = idx_bytes(big, 8, 3, (uint32_t[]){10, 28, 28}, 10 * 28 * 28, 1);
    const char *p = write_bytes("truncated-images", big, n - 100);
    elbo_idx idx;
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "truncated", "7840");
}

Test(hostile_idx, truncated_header, .init = setup, .fini = teardown)
{
    idx_bytes(big, 8, 3, (uint32_t[]){10, 28, 28}, 0, 0);
    const char *p = write_bytes("truncated-header", big, 9);
    elbo_idx idx;
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "truncated");
    p = write_bytes("three-bytes", big, 3);
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "truncated");
}

Test(hostile_idx, wrong_magic, .init = setup, .fini = teardown)
{
    const char *p = write_text("not-idx", "GIF89a this is not an IDX file");
    elbo_idx idx;
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "magic");
    /* gzip-compressed files are the common real-world mistake */
    p = write_bytes("images.gz", (uint8_t[]){0x1f, 0x8b, 0x08, 0x08, 0, 0, 0, 0, 0, 3}, 10);
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "magic");
}

Test(hostile_idx, wrong_type_and_rank, .init = setup, .fini = teardown)
{
    elbo_idx idx;
    const char *p = write_bytes("float-type", big, idx_bytes(big, 0x0D, 3, (uint32_t[]){1, 1, 1}, 4, 0));
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "type");
    /* labels file given where images are expected */
    p = write_bytes("labels-as-images", big, idx_bytes(big, 8, 1, (uint32_t[]){5}, 5, 0));
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "rank");
}

Test(hostile_idx, overflowing_dims, .init = setup, .fini = teardown)
{
    elbo_idx idx;
    /* 2^32-1 cubed overflows 64 bits; the file is tiny */
    const char *p =
        write_bytes("overflow", big, idx_bytes(big, 8, 3, (uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, 16, 0));
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "overflow");
    /* no overflow but absurdly large: a truncation, not an allocation of terabytes */
    p = write_bytes("huge", big, idx_bytes(big, 8, 3, (uint32_t[]){0x10000u, 0x10000u, 0x100u}, 16, 0));
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "truncated");
    p = write_bytes("zero-dim", big, idx_bytes(big, 8, 3, (uint32_t[]){0, 28, 28}, 0, 0));
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "dimension");
}

Test(hostile_idx, trailing_data, .init = setup, .fini = teardown)
{
    elbo_idx idx;
    const char *p = write_bytes("trailing", big, idx_bytes(big, 8, 1, (uint32_t[]){5}, 9, 0));
    EXPECT_ERROR(elbo_idx_read_labels(p, &idx), ELBO_ERR_FORMAT, p, "trailing");
}

Test(hostile_idx, empty_file, .init = setup, .fini = teardown)
{
    elbo_idx idx;
    const char *p = write_bytes("empty", "", 0);
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_FORMAT, p, "empty");
}

Test(hostile_idx, directory_instead_of_file, .init = setup, .fini = teardown)
{
    elbo_idx idx;
    const char *p = path_of("a-directory");
    cr_assert_eq(mkdir(p, 0755), 0);
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_IO, p, "directory");
}

Test(hostile_idx, missing_file, .init = setup, .fini = teardown)
{
    elbo_idx idx;
    const char *p = path_of("no-such-file");
    EXPECT_ERROR(elbo_idx_read_images(p, &idx), ELBO_ERR_IO, p, "No such file");
}

/* A FIFO must be refused, not waited on: run in a child with an alarm so a
 * blocking open() shows up as a failure instead of hanging the suite. */
Test(hostile_idx, fifo_is_refused_without_blocking, .init = setup, .fini = teardown)
{
    const char *p = path_of("fifo");
    cr_assert_eq(mkfifo(p, 0644), 0, "mkfifo: %s", strerror(errno));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        alarm(5);
        elbo_idx idx;
        elbo_status st = elbo_idx_read_images(p, &idx);
        const char *msg = elbo_last_error();
        _exit(st == ELBO_ERR_IO && strstr(msg, p) && strstr(msg, "special file") ? 0 : 1);
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_expect(!(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGALRM),
              "reading a FIFO blocked in open() (open without O_NONBLOCK, stat after open)");
    cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "a FIFO was not refused as a special file");
}

/* Unreadable: chmod 000. Root reads anything, so as root the read runs in a
 * child that has dropped to an unprivileged uid (nobody). */
static void expect_unreadable(const char *p, elbo_status (*reader)(const char *path))
{
    cr_assert_eq(chmod(p, 0), 0);
    if (geteuid() != 0) {
        EXPECT_ERROR(reader(p), ELBO_ERR_IO, p, "Permission denied");
        return;
    }
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(77);
        elbo_status st = reader(p);
        const char *msg = elbo_last_error();
        if (write(fds[1], msg, strlen(msg)) < 0)
            _exit(3);
        _exit(st == ELBO_ERR_IO ? 0 : 1);
    }
    close(fds[1]);
    char msg[1024] = {0};
    ssize_t got = read(fds[0], msg, sizeof msg - 1);
    (void)got;
    close(fds[0]);
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77)
        cr_skip_test("running as root and cannot drop privileges (setuid to nobody failed): no unreadable file");
    cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "unreadable file: expected ELBO_ERR_IO, message '%s'", msg);
    cr_expect(strstr(msg, p) != NULL, "message does not name the file: '%s'", msg);
    cr_expect(strstr(msg, "Permission denied") != NULL, "message does not say why: '%s'", msg);
    cr_expect(strchr(msg, '\n') == NULL, "message is not one line: '%s'", msg);
}

static elbo_status read_images(const char *p)
{
    elbo_idx idx;
    elbo_status st = elbo_idx_read_images(p, &idx);
    if (st == ELBO_OK)
        elbo_idx_free(&idx);
    return st;
}

Test(hostile_idx, unreadable_file, .init = setup, .fini = teardown)
{
    const char *p = write_bytes("unreadable", big, idx_bytes(big, 8, 3, (uint32_t[]){1, 2, 2}, 4, 0));
    expect_unreadable(p, read_images);
}

/* ---------------- datasets: labels and pixels ---------------- */

Test(hostile_dataset, labels_out_of_range, .init = setup, .fini = teardown)
{
    const char *im = write_bytes("im", big, idx_bytes(big, 8, 3, (uint32_t[]){4, 2, 2}, 16, 9));
    uint8_t lb[64];
    size_t n = idx_bytes(lb, 8, 1, (uint32_t[]){4}, 4, 3);
    lb[n - 2] = 10; /* label 2 is out of 0..9 */
    const char *lp = write_bytes("lb", lb, n);
    elbo_dataset ds;
    EXPECT_ERROR(elbo_dataset_load_files(im, lp, &ds), ELBO_ERR_FORMAT, lp, "label", "10");
    lb[n - 2] = 255;
    lp = write_bytes("lb255", lb, n);
    EXPECT_ERROR(elbo_dataset_load_files(im, lp, &ds), ELBO_ERR_FORMAT, lp, "label", "255");
}

Test(hostile_dataset, label_count_mismatch, .init = setup, .fini = teardown)
{
    const char *im = write_bytes("im", big, idx_bytes(big, 8, 3, (uint32_t[]){4, 2, 2}, 16, 9));
    uint8_t lb[64];
    const char *lp = write_bytes("lb", lb, idx_bytes(lb, 8, 1, (uint32_t[]){3}, 3, 1));
    elbo_dataset ds;
    EXPECT_ERROR(elbo_dataset_load_files(im, lp, &ds), ELBO_ERR_FORMAT, lp, "label count");
}

Test(hostile_dataset, directory_without_files, .init = setup, .fini = teardown)
{
    elbo_dataset ds;
    EXPECT_ERROR(elbo_dataset_load(dir, "train", &ds), ELBO_ERR_IO, "train-images-idx3-ubyte");
    const char *f = write_text("a-file", "x");
    EXPECT_ERROR(elbo_dataset_load(f, "train", &ds), ELBO_ERR_IO, f, "directory");
}

Test(hostile_dataset, nonfinite_pixels)
{
    float x[8] = {0, 0.5f, 1, NAN, 0, 0, 0, 0};
    elbo_dataset ds;
    cr_expect_eq(elbo_dataset_from_arrays(x, NULL, 2, 2, 2, 0, &ds), ELBO_ERR_NONFINITE, "%s", elbo_last_error());
    cr_expect(strstr(elbo_last_error(), "example 0") && strstr(elbo_last_error(), "pixel 3"), "%s",
              elbo_last_error());
    x[3] = 1.5f;
    cr_expect_eq(elbo_dataset_from_arrays(x, NULL, 2, 2, 2, 0, &ds), ELBO_ERR_FORMAT, "%s", elbo_last_error());
}

/* ---------------- CSV ---------------- */

static elbo_status csv_read(const char *p)
{
    double *v = NULL;
    size_t r, c;
    elbo_status st = elbo_csv_read(p, &v, &r, &c);
    if (st == ELBO_OK)
        free(v);
    return st;
}

Test(hostile_csv, valid_file_reads, .init = setup, .fini = teardown)
{
    const char *p = write_text("ok.csv", "a,b\r\n1, 2.5\r\n\r\n-3e2 ,4\n");
    double *v;
    size_t r, c;
    cr_assert_eq(elbo_csv_read(p, &v, &r, &c), ELBO_OK, "%s", elbo_last_error());
    cr_expect_eq(r, 2);
    cr_expect_eq(c, 2);
    cr_expect(v[1] == 2.5 && v[2] == -300.0);
    free(v);
}

Test(hostile_csv, nan_and_inf, .init = setup, .fini = teardown)
{
    static const char *const bad[] = {"x,y\n1,nan\n", "x,y\n1,NaN\n", "1,2\n3,inf\n", "1,-Infinity\n",
                                      "1,1e999\n", "-1e400,0\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "nonfinite-%zu.csv", i);
        const char *p = write_text(name, bad[i]);
        EXPECT_ERROR(csv_read(p), ELBO_ERR_NONFINITE, p, "finite");
    }
    /* the position is given as path:line:column */
    const char *p = write_text("where.csv", "a,b,c\n1,2,3\n4,5,nan\n");
    csv_read(p);
    char want[4200];
    snprintf(want, sizeof want, "%s:3:", p);
    cr_expect(strstr(elbo_last_error(), want), "expected '%s...' in '%s'", want, elbo_last_error());
}

Test(hostile_csv, empty_file, .init = setup, .fini = teardown)
{
    const char *p = write_text("empty.csv", "");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p, "empty");
    p = write_text("header-only.csv", "a,b,c\n");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p, "header");
    p = write_text("blank.csv", "\n\r\n\n");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p);
}

Test(hostile_csv, malformed, .init = setup, .fini = teardown)
{
    const char *p = write_text("ragged.csv", "1,2,3\n4,5\n");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p, "ragged");
    p = write_text("junk.csv", "1,2\n3,4x\n");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p, "4x");
    p = write_text("emptyfield.csv", "1,,3\n");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p, "empty field");
    p = write_bytes("nul.csv", "1,2\n3\0,4\n", 9);
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p);
}

Test(hostile_csv, truncated_mid_number, .init = setup, .fini = teardown)
{
    /* a truncated file reads as a ragged last row or a bad number, never as data */
    const char *p = write_text("cut.csv", "a,b\n1,2\n3,4\n5,");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p);
    p = write_text("cut2.csv", "1,2\n3,4\n5");
    EXPECT_ERROR(csv_read(p), ELBO_ERR_FORMAT, p, "ragged");
}

Test(hostile_csv, directory_and_unreadable, .init = setup, .fini = teardown)
{
    const char *d = path_of("csvdir");
    cr_assert_eq(mkdir(d, 0755), 0);
    EXPECT_ERROR(csv_read(d), ELBO_ERR_IO, d, "directory");
    const char *p = write_text("locked.csv", "1,2\n");
    expect_unreadable(p, csv_read);
}

/* ---------------- checkpoints ---------------- */

static float w_a[6] = {1, 2, 3, 4, 5, 6}, m_a[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
#define CONFIG_A "{\"model\":\"vae\",\"latent\":20,\"hidden\":[400]}"

static const char *save_a(const char *name)
{
    const char *p = path_of(name);
    elbo_ckpt_section s[] = {{"w", w_a, 6}, {"adam.m", m_a, 6}};
    uint8_t blob[5] = {9, 8, 7, 6, 5};
    elbo_ckpt_meta meta = {.config = CONFIG_A, .step = 42, .epoch = 3, .blob = blob, .blob_len = 5};
    cr_assert_eq(elbo_ckpt_save(p, &meta, s, 2), ELBO_OK, "%s", elbo_last_error());
    return p;
}

static elbo_status load_as(const char *p, const char *config, size_t count_w, const char *name_w, size_t blob_len)
{
    float w[16] = {0}, m[16] = {0};
    uint8_t blob[16];
    elbo_ckpt_section s[] = {{name_w, w, count_w}, {"adam.m", m, 6}};
    elbo_ckpt_meta meta = {.config = config, .blob = blob, .blob_len = blob_len};
    return elbo_ckpt_load(p, 0, &meta, s, 2);
}

static uint8_t *slurp(const char *p, size_t *n)
{
    uint8_t *buf;
    cr_assert_eq(elbo_read_file(p, 0, &buf, n), ELBO_OK, "%s", elbo_last_error());
    return buf;
}

Test(hostile_checkpoint, round_trip, .init = setup, .fini = teardown)
{
    const char *p = save_a("ok.ckpt");
    float w[6], m[6];
    uint8_t blob[5];
    elbo_ckpt_section s[] = {{"w", w, 6}, {"adam.m", m, 6}};
    elbo_ckpt_meta meta = {.config = CONFIG_A, .blob = blob, .blob_len = 5};
    cr_assert_eq(elbo_ckpt_load(p, 0, &meta, s, 2), ELBO_OK, "%s", elbo_last_error());
    cr_expect(memcmp(w, w_a, sizeof w) == 0 && memcmp(m, m_a, sizeof m) == 0);
    cr_expect_eq(meta.step, 42);
    cr_expect_eq(meta.epoch, 3);
    cr_expect(blob[0] == 9 && blob[4] == 5);
}

Test(hostile_checkpoint, other_configuration, .init = setup, .fini = teardown)
{
    const char *p = save_a("a.ckpt");
    EXPECT_ERROR(load_as(p, "{\"model\":\"vae\",\"latent\":2,\"hidden\":[400]}", 6, "w", 5), ELBO_ERR_MISMATCH, p,
                 "config");
    /* same config string, different shapes or sections: still a mismatch */
    EXPECT_ERROR(load_as(p, CONFIG_A, 7, "w", 5), ELBO_ERR_MISMATCH, p, "w");
    EXPECT_ERROR(load_as(p, CONFIG_A, 6, "encoder.w", 5), ELBO_ERR_MISMATCH, p, "encoder.w");
    EXPECT_ERROR(load_as(p, CONFIG_A, 6, "w", 4), ELBO_ERR_MISMATCH, p);
}

Test(hostile_checkpoint, bad_crc, .init = setup, .fini = teardown)
{
    const char *p = save_a("a.ckpt");
    size_t n;
    uint8_t *buf = slurp(p, &n);
    /* a flipped bit in the middle of the file */
    size_t where = n / 2;
    buf[where] ^= 0x10;
    const char *q = write_bytes("flipped.ckpt", buf, n);
    EXPECT_ERROR(load_as(q, CONFIG_A, 6, "w", 5), ELBO_ERR_FORMAT, q, "CRC");
    buf[where] ^= 0x10;
    buf[n - 1] ^= 0xFF; /* the stored CRC itself */
    q = write_bytes("badcrc.ckpt", buf, n);
    EXPECT_ERROR(load_as(q, CONFIG_A, 6, "w", 5), ELBO_ERR_FORMAT, q, "CRC");
    free(buf);
}

Test(hostile_checkpoint, truncated_every_length, .init = setup, .fini = teardown)
{
    const char *p = save_a("a.ckpt");
    size_t n;
    uint8_t *buf = slurp(p, &n);
    for (size_t len = 0; len < n; len++) {
        elbo_ckpt ck;
        elbo_status st = elbo_ckpt_parse("cut.ckpt", buf, len, &ck);
        cr_expect_eq(st, ELBO_ERR_FORMAT, "truncated to %zu of %zu bytes: got %s", len, n, elbo_status_name(st));
        cr_expect(strstr(elbo_last_error(), "cut.ckpt"), "%s", elbo_last_error());
    }
    const char *q = write_bytes("truncated.ckpt", buf, n / 2);
    EXPECT_ERROR(load_as(q, CONFIG_A, 6, "w", 5), ELBO_ERR_FORMAT, q);
    free(buf);
}

Test(hostile_checkpoint, wrong_magic_and_version, .init = setup, .fini = teardown)
{
    const char *p = save_a("a.ckpt");
    size_t n;
    uint8_t *buf = slurp(p, &n);
    const char *q = write_text("png.ckpt", "\x89PNG\r\n\x1a\n and then some more bytes to be long enough....");
    EXPECT_ERROR(load_as(q, CONFIG_A, 6, "w", 5), ELBO_ERR_FORMAT, q, "magic");
    buf[8] = 2; /* version 2, CRC left stale: the version is reported first or the CRC, either names the file */
    q = write_bytes("v2.ckpt", buf, n);
    EXPECT_ERROR(load_as(q, CONFIG_A, 6, "w", 5), ELBO_ERR_FORMAT, q);
    free(buf);
}

Test(hostile_checkpoint, empty_directory_unreadable, .init = setup, .fini = teardown)
{
    const char *p = write_bytes("empty.ckpt", "", 0);
    EXPECT_ERROR(load_as(p, CONFIG_A, 6, "w", 5), ELBO_ERR_FORMAT, p);
    const char *d = path_of("ckdir");
    cr_assert_eq(mkdir(d, 0755), 0);
    EXPECT_ERROR(load_as(d, CONFIG_A, 6, "w", 5), ELBO_ERR_IO, d, "directory");
    EXPECT_ERROR(load_as(path_of("missing.ckpt"), CONFIG_A, 6, "w", 5), ELBO_ERR_IO, "missing.ckpt");
}

static elbo_status ckpt_read(const char *p)
{
    elbo_ckpt ck;
    elbo_status st = elbo_ckpt_read(p, &ck);
    if (st == ELBO_OK)
        elbo_ckpt_free(&ck);
    return st;
}

Test(hostile_checkpoint, unreadable, .init = setup, .fini = teardown)
{
    const char *p = save_a("locked.ckpt");
    expect_unreadable(p, ckpt_read);
}

/* Lengths inside a CRC-valid file are checked, not trusted: a forged file
 * with a huge section count and a recomputed CRC must fail cleanly. */
Test(hostile_checkpoint, forged_lengths_with_valid_crc, .init = setup, .fini = teardown)
{
    const char *p = save_a("a.ckpt");
    size_t n;
    uint8_t *buf = slurp(p, &n);
    /* offset of config_len: magic 8 + version 4 + reserved 4 + step 8 + epoch 8 */
    size_t off = 32;
    static const uint64_t evil[] = {UINT64_MAX, UINT64_MAX / 2, (uint64_t)1 << 40, 1000000};
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        uint8_t *f = malloc(n);
        memcpy(f, buf, n);
        for (int b = 0; b < 8; b++)
            f[off + b] = (uint8_t)(evil[i] >> (8 * b));
        uint32_t crc = elbo_crc32(f, n - 4);
        for (int b = 0; b < 4; b++)
            f[n - 4 + b] = (uint8_t)(crc >> (8 * b));
        elbo_ckpt ck;
        elbo_status st = elbo_ckpt_parse("forged.ckpt", f, n, &ck);
        cr_expect_eq(st, ELBO_ERR_FORMAT, "config_len %llu: got %s", (unsigned long long)evil[i],
                     elbo_status_name(st));
        free(f);
    }
    free(buf);
}

/* Bytes of the file quoted in a message (a section name, a CSV field) must
 * not break the one-line contract: no newline or carriage return. */
static void expect_one_line(const char *what)
{
    const char *msg = elbo_last_error();
    cr_expect(strpbrk(msg, "\n\r") == NULL, "%s: message is not one line: '%s'", what, msg);
}

Test(hostile_messages, checkpoint_section_name_with_newline, .init = setup, .fini = teardown)
{
    const char *p = save_a("a.ckpt");
    size_t n;
    uint8_t *buf = slurp(p, &n);
    uint8_t *name = memmem(buf, n, "adam.m", 6);
    cr_assert(name);
    name[4] = '\n';
    name[5] = '\r';
    /* CRC-valid: rejected (as a format error or an unexpected section), in one line */
    uint32_t crc = elbo_crc32(buf, n - 4);
    for (int b = 0; b < 4; b++)
        buf[n - 4 + b] = (uint8_t)(crc >> (8 * b));
    const char *q = write_bytes("newline-name.ckpt", buf, n);
    elbo_status st = load_as(q, CONFIG_A, 6, "w", 5);
    cr_expect(st == ELBO_ERR_FORMAT || st == ELBO_ERR_MISMATCH, "got %s: %s", elbo_status_name(st),
              elbo_last_error());
    cr_expect(strstr(elbo_last_error(), q), "message does not name the file: %s", elbo_last_error());
    expect_one_line("CRC-valid checkpoint with a newline in a section name");
    /* structurally broken before the CRC is checked: a huge count after that name */
    size_t count_at = (size_t)(name - buf) + 6;
    for (int b = 0; b < 8; b++)
        buf[count_at + b] = 0x7f;
    elbo_ckpt ck;
    st = elbo_ckpt_parse("broken.ckpt", buf, n, &ck);
    cr_expect_eq(st, ELBO_ERR_FORMAT);
    expect_one_line("corrupt checkpoint with a newline in a section name");
    free(buf);
}

Test(hostile_messages, csv_field_with_control_characters, .init = setup, .fini = teardown)
{
    const char *p = write_text("cr.csv", "1,2\n3,4\r5\n");
    cr_expect_neq(csv_read(p), ELBO_OK);
    expect_one_line("CSV field with a carriage return");
    p = write_text("esc.csv", "1,2\n3,\x1b[31mred\n");
    cr_expect_eq(csv_read(p), ELBO_ERR_FORMAT);
    expect_one_line("CSV field with an escape sequence");
}
