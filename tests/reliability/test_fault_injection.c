/* Fault injection: a write that fails part-way (the write-limit hook of
 * models/io/file.h, or RLIMIT_FSIZE in a child process) and a process killed
 * in the middle of saving never leave a torn checkpoint: the previous one
 * stays intact and loadable, and no temp file is left behind by a failure
 * the process survives. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/io/checkpoint.h"
#include "models/io/csv.h"
#include "models/io/file.h"
#include "ops/error.h"
#include "test_util.h"

static char *dir;
static char ckpt[4096];

static void setup(void)
{
    dir = tu_tempdir();
    cr_assert(dir);
    snprintf(ckpt, sizeof ckpt, "%s/model.ckpt", dir);
}

static void teardown(void)
{
    elbo_io_set_write_limit(-1);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

/* Files in dir other than the expected ones (temp files left behind). */
static int stray_files(const char *keep1, const char *keep2)
{
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((keep1 && !strcmp(e->d_name, keep1)) || (keep2 && !strcmp(e->d_name, keep2)))
            continue;
        fprintf(stderr, "stray file: %s/%s\n", dir, e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

#define NW 4096 /* floats per section: the file is ~32 KiB */
static float sec_w[NW], sec_m[NW];

/* A checkpoint whose every float and counter is `gen`. */
static elbo_status save_gen(const char *path, uint64_t gen)
{
    for (size_t i = 0; i < NW; i++)
        sec_w[i] = sec_m[i] = (float)gen;
    elbo_ckpt_section s[] = {{"w", sec_w, NW}, {"m", sec_m, NW}};
    elbo_ckpt_meta meta = {.config = "fault-injection", .step = gen, .epoch = gen, .blob = &gen, .blob_len = sizeof gen};
    return elbo_ckpt_save(path, &meta, s, 2);
}

/* Load and check self-consistency: returns the generation, or -1 (message in why). */
static long long load_gen(const char *path, char *why, size_t cap)
{
    static float w[NW], m[NW];
    uint64_t blob = 0;
    elbo_ckpt_section s[] = {{"w", w, NW}, {"m", m, NW}};
    elbo_ckpt_meta meta = {.config = "fault-injection", .blob = &blob, .blob_len = sizeof blob};
    elbo_status st = elbo_ckpt_load(path, 0, &meta, s, 2);
    if (st != ELBO_OK) {
        snprintf(why, cap, "%s", elbo_last_error());
        return -1;
    }
    for (size_t i = 0; i < NW; i++)
        if (w[i] != (float)meta.step || m[i] != (float)meta.step) {
            snprintf(why, cap, "torn: step %llu but w[%zu] = %g", (unsigned long long)meta.step, i, (double)w[i]);
            return -1;
        }
    if (blob != meta.step || meta.epoch != meta.step) {
        snprintf(why, cap, "torn: step %llu, epoch %llu, blob %llu", (unsigned long long)meta.step,
                 (unsigned long long)meta.epoch, (unsigned long long)blob);
        return -1;
    }
    return (long long)meta.step;
}

static long long expect_gen(const char *path, long long want)
{
    char why[512] = "";
    long long g = load_gen(path, why, sizeof why);
    cr_expect_eq(g, want, "checkpoint %s: expected generation %lld, got %lld (%s)", path, want, g, why);
    return g;
}

Test(fault, write_limit_keeps_previous_checkpoint, .init = setup, .fini = teardown)
{
    cr_assert_eq(save_gen(ckpt, 1), ELBO_OK, "%s", elbo_last_error());
    struct stat sb;
    cr_assert_eq(stat(ckpt, &sb), 0);
    long long size = (long long)sb.st_size;
    const long long limits[] = {0, 1, 8, 100, size / 2, size - 4, size - 1};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        elbo_io_set_write_limit(limits[i]);
        elbo_status st = save_gen(ckpt, 2 + i);
        elbo_io_set_write_limit(-1);
        cr_expect_eq(st, ELBO_ERR_IO, "write limit %lld of %lld bytes: save returned %s", limits[i], size,
                     elbo_status_name(st));
        cr_expect(strstr(elbo_last_error(), ckpt), "message does not name the file: %s", elbo_last_error());
        cr_expect(strchr(elbo_last_error(), '\n') == NULL, "message is not one line: %s", elbo_last_error());
        expect_gen(ckpt, 1);
        cr_expect_eq(stray_files("model.ckpt", NULL), 0, "temp file left after a failed save (limit %lld)",
                     limits[i]);
    }
    /* exactly enough room: the save goes through */
    elbo_io_set_write_limit(size);
    cr_expect_eq(save_gen(ckpt, 99), ELBO_OK, "limit = file size: %s", elbo_last_error());
    elbo_io_set_write_limit(-1);
    expect_gen(ckpt, 99);
}

Test(fault, write_limit_first_save_leaves_nothing, .init = setup, .fini = teardown)
{
    elbo_io_set_write_limit(1000);
    cr_expect_eq(save_gen(ckpt, 1), ELBO_ERR_IO);
    elbo_io_set_write_limit(-1);
    cr_expect(access(ckpt, F_OK) != 0, "a failed first save created %s", ckpt);
    cr_expect_eq(stray_files(NULL, NULL), 0);
}

Test(fault, write_limit_csv_and_plain_files, .init = setup, .fini = teardown)
{
    char csv[4200], raw[4200];
    snprintf(csv, sizeof csv, "%s/table.csv", dir);
    snprintf(raw, sizeof raw, "%s/blob.bin", dir);
    const char *hdr[] = {"a", "b"};
    double v1[] = {1, 2, 3, 4};
    cr_assert_eq(elbo_csv_write(csv, hdr, v1, 2, 2), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_write_file_atomic(raw, "first", 5), ELBO_OK, "%s", elbo_last_error());

    double big[2000];
    for (int i = 0; i < 2000; i++)
        big[i] = i * 0.125;
    elbo_io_set_write_limit(64);
    cr_expect_eq(elbo_csv_write(csv, hdr, big, 1000, 2), ELBO_ERR_IO);
    cr_expect(strstr(elbo_last_error(), csv), "%s", elbo_last_error());
    elbo_io_set_write_limit(3);
    cr_expect_eq(elbo_write_file_atomic(raw, "second", 6), ELBO_ERR_IO);
    elbo_io_set_write_limit(-1);

    double *back;
    size_t r, c;
    cr_assert_eq(elbo_csv_read(csv, &back, &r, &c), ELBO_OK, "%s", elbo_last_error());
    cr_expect(r == 2 && c == 2 && back[3] == 4.0, "the previous CSV was not kept");
    free(back);
    uint8_t *b;
    size_t n;
    cr_assert_eq(elbo_read_file(raw, 0, &b, &n), ELBO_OK);
    cr_expect(n == 5 && memcmp(b, "first", 5) == 0, "the previous file was not kept");
    free(b);
    cr_expect_eq(stray_files("table.csv", "blob.bin"), 0);
}

/* A real short write: RLIMIT_FSIZE in a child, SIGXFSZ ignored so write()
 * fails with EFBIG and the library sees the error. */
Test(fault, rlimit_fsize_keeps_previous_checkpoint, .init = setup, .fini = teardown)
{
    cr_assert_eq(save_gen(ckpt, 1), ELBO_OK, "%s", elbo_last_error());
    const rlim_t limits[] = {0, 512, 20000};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {limits[i], limits[i]};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(77);
            elbo_status st = save_gen(ckpt, 2);
            _exit(st == ELBO_ERR_IO && strstr(elbo_last_error(), ckpt) ? 0 : 10 + (int)st);
        }
        int ws;
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
        cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
                  "RLIMIT_FSIZE %llu: save in the child did not fail with ELBO_ERR_IO naming the file (wait status 0x%x)",
                  (unsigned long long)limits[i], ws);
        expect_gen(ckpt, 1);
        cr_expect_eq(stray_files("model.ckpt", NULL), 0, "temp file left after EFBIG (limit %llu)",
                     (unsigned long long)limits[i]);
    }
}

/* SIGXFSZ at its default kills the writer mid-file: the checkpoint must be
 * the previous one. (A killed process cannot remove its temp file.) */
Test(fault, killed_by_sigxfsz_mid_write, .init = setup, .fini = teardown)
{
    cr_assert_eq(save_gen(ckpt, 1), ELBO_OK, "%s", elbo_last_error());
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_DFL);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        save_gen(ckpt, 2);
        _exit(0);
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGXFSZ, "the child was expected to die of SIGXFSZ (status 0x%x)",
              ws);
    expect_gen(ckpt, 1);
}

/* A process SIGKILLed at random moments while it saves checkpoint after
 * checkpoint: whatever is on disk is always one whole generation. */
Test(fault, sigkill_during_saves_never_tears, .init = setup, .fini = teardown)
{
    /* time one save (fsync makes it disk-bound) to spread the kills over a few saves */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(save_gen(ckpt, 1), ELBO_OK, "%s", elbo_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long save_ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
    if (save_ns < 100000)
        save_ns = 100000;
    if (save_ns > 200000000)
        save_ns = 200000000;
    long long last = 1;
    unsigned r = (unsigned)t1.tv_nsec;
    for (int round = 0; round < 25; round++) {
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            for (uint64_t g = (uint64_t)last + 1;; g++)
                if (save_gen(ckpt, g) != ELBO_OK)
                    _exit(1);
        }
        r = r * 1103515245u + 12345u;
        long ns = save_ns / 2 + (long)(r % (unsigned)(4 * save_ns)); /* 0.5 - 4.5 saves */
        struct timespec d = {ns / 1000000000L, ns % 1000000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int ws;
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
        cr_assert(WIFSIGNALED(ws), "the saving child exited by itself (a save failed)");
        char why[512] = "";
        long long g = load_gen(ckpt, why, sizeof why);
        cr_assert(g >= last, "round %d: after SIGKILL the checkpoint is unreadable or went back (%lld < %lld): %s",
                  round, g, last, why);
        last = g;
    }
    cr_expect(last > 1, "no save ever completed: the test did not exercise anything");
}
