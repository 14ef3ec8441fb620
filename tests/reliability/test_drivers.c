/* The drivers on hostile input, run as the user would: fork/exec of the built
 * binaries (ELBO_BUILD_ROOT/experiments/NAME for each NAME in ELBO_DRIVERS,
 * both set by meson). Every failure must be exit code 2 or 3 with exactly one
 * line on stderr naming the file and the problem.
 *   - every driver: a bad flag, a bad ELBO_SIMD, a bad --threads;
 *   - drivers that read an MNIST-layout --data: missing directory, a file
 *     instead of a directory, truncated / wrong-magic / empty / overflowing /
 *     directory / unreadable image files, labels out of range;
 *   - drivers that read a CSV --data: missing, directory, empty, NaN, Inf,
 *     ragged, junk, header only, unreadable;
 *   - drivers with --resume: a checkpoint with a bad CRC, garbage, a
 *     directory, one from another configuration;
 *   - the vae driver stopped (--max-steps, SIGTERM) and resumed ends with the
 *     bits of the run never interrupted. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/io/checkpoint.h"
#include "test_util.h"

#define MAX_DRIVERS 64
static char driver_names[MAX_DRIVERS][64];
static int n_drivers;

static void load_drivers(void)
{
    n_drivers = 0;
    const char *list = getenv("ELBO_DRIVERS");
    if (!list)
        return;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok(buf, " "); tok && n_drivers < MAX_DRIVERS; tok = strtok(NULL, " "))
        snprintf(driver_names[n_drivers++], sizeof driver_names[0], "%s", tok);
}

static const char *driver_path(const char *name)
{
    static char buf[4096];
    const char *root = getenv("ELBO_BUILD_ROOT");
    if (snprintf(buf, sizeof buf, "%s/experiments/%s", root ? root : ".", name) >= (int)sizeof buf)
        cr_assert_fail("build path too long");
    return buf;
}

/* What the driver's --data names, from its source: an MNIST-layout
 * directory or any other data set (elbo_dataset_load, elbo_data_load_cli of
 * experiments/common/data.h, or the shared experiments/vae_setup.h), a CSV
 * file (elbo_csv_read of cli.data), or nothing it reads. */
enum { DATA_NONE, DATA_MNIST, DATA_CSV };
static int data_kind(const char *name)
{
    char path[4096];
    const char *src = getenv("ELBO_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/experiments/%s.c", src ? src : ".", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return DATA_NONE;
    char line[1024];
    int kind = DATA_NONE;
    while (kind == DATA_NONE && fgets(line, sizeof line, f)) {
        if (strstr(line, "elbo_dataset_load(cli") || strstr(line, "elbo_data_load_cli(") ||
            strstr(line, "\"vae_setup.h\""))
            kind = DATA_MNIST;
        else if (strstr(line, "elbo_csv_read(cli"))
            kind = DATA_CSV;
    }
    fclose(f);
    return kind;
}

typedef struct run_out {
    int code;         /* exit status, 128 + signal, or -1 on timeout */
    char err[16384];  /* stderr */
    int lines;        /* newline-terminated lines on stderr */
} run_out;

/* Root reads files whatever their mode. To see a driver meet an unreadable
 * file, a root child gives up the two capabilities that override file
 * permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) in every set an exec
 * could restore them from, and stays uid 0: unlike a switch to nobody, the
 * driver and its libraries stay reachable wherever the build directory is
 * (a fresh clone under `mktemp -d` is mode 0700). Returns 0 on success. */
static int drop_permission_override(void)
{
    if (prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0 ||
        prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) != 0)
        return -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct c[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &h, c) != 0)
        return -1;
    const uint32_t off = ~(CAP_TO_MASK(CAP_DAC_OVERRIDE) | CAP_TO_MASK(CAP_DAC_READ_SEARCH)); /* both in word 0 */
    c[0].effective &= off;
    c[0].permitted &= off;
    c[0].inheritable &= off;
    if (syscall(SYS_capset, &h, c) != 0)
        return -1;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); /* none on kernels without ambient sets */
    return 0;
}

/* Run path with args (NULL-terminated), extra environment entries (NAME=VALUE,
 * NULL-terminated, may be NULL), a timeout, optionally without root's
 * permission override (drop_permission_override; exit 125 if that fails). */
static void run(const char *path, const char *const *args, const char *const *env, int timeout_s, bool unprivileged,
                run_out *o)
{
    memset(o, 0, sizeof *o);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 1);
        dup2(devnull, 0);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        if (unprivileged && drop_permission_override() != 0)
            _exit(125);
        const char *argv[64];
        int n = 0;
        argv[n++] = path;
        for (const char *const *a = args; *a && n < 63; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(126);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    size_t len = 0;
    struct timespec t0, now, nap = {0, 5000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int ws = 0;
    bool done = false, timed_out = false;
    while (!done) {
        ssize_t r;
        while ((r = read(fds[0], o->err + len, sizeof o->err - 1 - len)) > 0)
            len += (size_t)r;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid) {
            done = true;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            timed_out = true;
            break;
        }
        nanosleep(&nap, NULL);
    }
    ssize_t r;
    fcntl(fds[0], F_SETFL, 0);
    while (len < sizeof o->err - 1 && (r = read(fds[0], o->err + len, sizeof o->err - 1 - len)) > 0)
        len += (size_t)r;
    close(fds[0]);
    o->err[len] = 0;
    for (size_t i = 0; i < len; i++)
        o->lines += o->err[i] == '\n';
    if (len && o->err[len - 1] != '\n')
        o->lines++;
    o->code = timed_out ? -1 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The driver failed like a hostile input should make it fail. */
#define EXPECT_CLEAN_FAILURE(o, drv, what, ...)                                                                  \
    do {                                                                                                         \
        cr_expect((o)->code == 2 || (o)->code == 3, "%s, %s: expected exit code 2 or 3, got %d; stderr:\n%s",    \
                  drv, what, (o)->code, (o)->err);                                                               \
        cr_expect_eq((o)->lines, 1, "%s, %s: expected one line on stderr, got %d:\n%s", drv, what, (o)->lines,  \
                     (o)->err);                                                                                  \
        const char *words_[] = {NULL, __VA_ARGS__};                                                              \
        for (size_t w_ = 1; w_ < sizeof words_ / sizeof words_[0]; w_++)                                         \
            cr_expect(strstr((o)->err, words_[w_]) != NULL, "%s, %s: stderr does not mention '%s':\n%s", drv,   \
                      what, words_[w_], (o)->err);                                                               \
    } while (0)

static char *tmp;

static void setup(void)
{
    load_drivers();
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

static const char *tpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *tpath(const char *fmt, ...)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ & 7];
    int n = snprintf(p, sizeof buf[0], "%s/", tmp);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p + n, sizeof buf[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return p;
}

static void put(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* An IDX u8 file of the given dims with deterministic content. */
static void put_idx(const char *path, int rank, const uint32_t *dims, uint8_t label_mod)
{
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= dims[i];
    uint8_t *b = malloc(4 + 4 * (size_t)rank + count);
    size_t n = 0;
    b[n++] = 0, b[n++] = 0, b[n++] = 8, b[n++] = (uint8_t)rank;
    for (int i = 0; i < rank; i++)
        for (int s = 24; s >= 0; s -= 8)
            b[n++] = (uint8_t)(dims[i] >> s);
    for (size_t i = 0; i < count; i++)
        b[n++] = label_mod ? (uint8_t)(i % label_mod) : (uint8_t)((i * 2654435761u) >> 24);
    put(path, b, n);
    free(b);
}

/* A small valid MNIST-layout directory: 256 train and 64 test 28x28 images. */
static void make_dataset(const char *d)
{
    mkdir(d, 0777);
    char p[4200];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", d);
    put_idx(p, 3, (uint32_t[]){256, 28, 28}, 0);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", d);
    put_idx(p, 1, (uint32_t[]){256}, 10);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d);
    put_idx(p, 3, (uint32_t[]){64, 28, 28}, 0);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", d);
    put_idx(p, 1, (uint32_t[]){64}, 10);
    chmod(d, 0777);
}

Test(drivers, listed_and_built)
{
    load_drivers();
    if (n_drivers == 0)
        cr_skip_test("no drivers registered in experiments/meson.build yet");
    for (int i = 0; i < n_drivers; i++)
        cr_expect(access(driver_path(driver_names[i]), X_OK) == 0, "driver %s not built at %s", driver_names[i],
                  driver_path(driver_names[i]));
}

Test(drivers, bad_flags_and_environment, .init = setup, .fini = teardown)
{
    if (n_drivers == 0)
        cr_skip_test("no drivers yet");
    for (int i = 0; i < n_drivers; i++) {
        const char *d = driver_names[i], *exe = driver_path(d);
        run_out o;
        run(exe, (const char *[]){"--no-such-flag", NULL}, NULL, 30, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "--no-such-flag", "no-such-flag");
        run(exe, (const char *[]){"--threads", "0", "--out", tpath("o-%s", d), NULL}, NULL, 30, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "--threads 0", "threads");
        run(exe, (const char *[]){"--seed", "banana", "--out", tpath("o-%s", d), NULL}, NULL, 30, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "--seed banana", "seed", "banana");
        run(exe, (const char *[]){"--quick", "--out", tpath("o-%s", d), NULL}, (const char *[]){"ELBO_SIMD=avx9000", NULL},
            30, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "ELBO_SIMD=avx9000", "ELBO_SIMD", "avx9000");
        run(exe, (const char *[]){"--quick", "--out", tpath("o-%s", d), NULL}, (const char *[]){"ELBO_THREADS=-3", NULL},
            30, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "ELBO_THREADS=-3", "ELBO_THREADS");
    }
}

/* Each case: set up the data directory, then run the driver on it. */
typedef struct data_case {
    const char *name;
    const char *bad_file; /* which file is made hostile (relative to the data dir) */
    const char *says;     /* a word the message must contain */
    void (*make)(const char *path);
} data_case;

static void mk_truncated(const char *p)
{
    put_idx(p, 3, (uint32_t[]){256, 28, 28}, 0);
    cr_assert_eq(truncate(p, 5000), 0);
}
static void mk_magic(const char *p)
{
    static const char gz[] = "\x1f\x8b\x08\x00 gzip, not idx";
    put(p, gz, sizeof gz - 1);
}
static void mk_empty(const char *p) { put(p, "", 0); }
static void mk_overflow(const char *p)
{
    put(p, "\0\0\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16);
}
static void mk_dir(const char *p) { cr_assert_eq(mkdir(p, 0777), 0); }
static void mk_labels(const char *p)
{
    put_idx(p, 1, (uint32_t[]){256}, 0); /* pseudo-random bytes: labels up to 255 */
}

static const data_case data_cases[] = {
    {"truncated images", "train-images-idx3-ubyte", "truncated", mk_truncated},
    {"wrong magic", "train-images-idx3-ubyte", "magic", mk_magic},
    {"empty images", "train-images-idx3-ubyte", "empty", mk_empty},
    {"overflowing dims", "train-images-idx3-ubyte", "overflow", mk_overflow},
    {"directory instead of file", "train-images-idx3-ubyte", "directory", mk_dir},
    {"labels out of range", "train-labels-idx1-ubyte", "label", mk_labels},
    {"truncated test images", "t10k-images-idx3-ubyte", "truncated", mk_truncated},
};

Test(drivers, hostile_data, .init = setup, .fini = teardown)
{
    int tested = 0;
    for (int i = 0; i < n_drivers; i++) {
        const char *d = driver_names[i], *exe = driver_path(d);
        if (data_kind(d) != DATA_MNIST)
            continue;
        tested++;
        run_out o;
        /* no such directory; a file where the directory should be */
        const char *missing = tpath("no-such-data-%s", d);
        run(exe, (const char *[]){"--quick", "--data", missing, "--out", tpath("o-%s", d), NULL}, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "missing data directory", missing);
        const char *file = tpath("a-file-%s", d);
        put(file, "x", 1);
        run(exe, (const char *[]){"--quick", "--data", file, "--out", tpath("o-%s", d), NULL}, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "data is a file", file, "directory");

        for (size_t c = 0; c < sizeof data_cases / sizeof data_cases[0]; c++) {
            const char *data = tpath("data-%s-%zu", d, c);
            make_dataset(data);
            char bad[4200];
            snprintf(bad, sizeof bad, "%s/%s", data, data_cases[c].bad_file);
            unlink(bad);
            data_cases[c].make(bad);
            run(exe, (const char *[]){"--quick", "--data", data, "--out", tpath("o-%s-%zu", d, c), NULL}, NULL, 60,
                false, &o);
            EXPECT_CLEAN_FAILURE(&o, d, data_cases[c].name, bad, data_cases[c].says);
        }

        /* unreadable: as root, run the driver without the permission override */
        const char *data = tpath("data-%s-locked", d);
        make_dataset(data);
        char bad[4200];
        snprintf(bad, sizeof bad, "%s/train-images-idx3-ubyte", data);
        cr_assert_eq(chmod(bad, 0), 0);
        run(exe, (const char *[]){"--quick", "--data", data, "--out", tpath("o-%s-locked", d), NULL}, NULL, 60,
            geteuid() == 0, &o);
        if (o.code == 125)
            cr_log_warn("%s: root cannot give up its permission override here: unreadable-file case not run", d);
        else
            EXPECT_CLEAN_FAILURE(&o, d, "unreadable images", bad, "Permission denied");
    }
    if (!tested)
        cr_skip_test("no driver reads an MNIST-layout --data yet");
}

/* Drivers whose --data is a CSV file. */
static const struct {
    const char *name, *text, *says;
} csv_cases[] = {
    {"empty.csv", "", "empty"},
    {"nan.csv", "x,y\n1,2\n3,nan\n", "finite"},
    {"inf.csv", "1,2\n-inf,4\n", "finite"},
    {"ragged.csv", "1,2,3\n4,5\n", "ragged"},
    {"junk.csv", "1,2\n3,4x\n", "4x"},
    {"header-only.csv", "a,b\n", "header"},
};

Test(drivers, hostile_csv_data, .init = setup, .fini = teardown)
{
    int tested = 0;
    for (int i = 0; i < n_drivers; i++) {
        const char *d = driver_names[i], *exe = driver_path(d);
        if (data_kind(d) != DATA_CSV)
            continue;
        tested++;
        run_out o;
        const char *missing = tpath("no-such-%s.csv", d);
        run(exe, (const char *[]){"--quick", "--data", missing, "--out", tpath("o-%s", d), NULL}, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "missing CSV file", missing, "No such file");
        const char *dir = tpath("csvdir-%s", d);
        cr_assert_eq(mkdir(dir, 0777), 0);
        run(exe, (const char *[]){"--quick", "--data", dir, "--out", tpath("o-%s", d), NULL}, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "directory instead of a CSV file", dir, "directory");
        for (size_t c = 0; c < sizeof csv_cases / sizeof csv_cases[0]; c++) {
            const char *f = tpath("%s-%s", d, csv_cases[c].name);
            put(f, csv_cases[c].text, strlen(csv_cases[c].text));
            run(exe, (const char *[]){"--quick", "--data", f, "--out", tpath("o-%s-%zu", d, c), NULL}, NULL, 60,
                false, &o);
            EXPECT_CLEAN_FAILURE(&o, d, csv_cases[c].name, f, csv_cases[c].says);
        }
        const char *locked = tpath("%s-locked.csv", d);
        put(locked, "1,2\n3,4\n", 8);
        cr_assert_eq(chmod(locked, 0), 0);
        run(exe, (const char *[]){"--quick", "--data", locked, "--out", tpath("o-%s-locked", d), NULL}, NULL, 60,
            geteuid() == 0, &o);
        if (o.code == 125)
            cr_log_warn("%s: root cannot give up its permission override here: unreadable-file case not run", d);
        else
            EXPECT_CLEAN_FAILURE(&o, d, "unreadable CSV file", locked, "Permission denied");
    }
    if (!tested)
        cr_skip_test("no driver reads a CSV --data yet");
}

static bool has_flag(const char *exe, const char *flag)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "'%s' --help 2>&1 | grep -q -- '%s'", exe, flag);
    return system(cmd) == 0;
}

Test(drivers, hostile_checkpoint_on_resume, .init = setup, .fini = teardown)
{
    int tested = 0;
    for (int i = 0; i < n_drivers; i++) {
        const char *d = driver_names[i], *exe = driver_path(d);
        if (data_kind(d) != DATA_MNIST || !has_flag(exe, "--resume"))
            continue;
        tested++;
        const char *data = tpath("data-%s", d), *out = tpath("run-%s", d);
        make_dataset(data);
        /* a good run leaves a checkpoint */
        run_out o;
        const char *base[] = {"--quick", "--epochs", "1", "--data", data, "--out", out, NULL};
        run(exe, base, NULL, 240, false, &o);
        cr_assert_eq(o.code, 0, "%s --quick on a small valid data set failed (%d):\n%s", d, o.code, o.err);
        char ck[4200];
        snprintf(ck, sizeof ck, "%s/checkpoint.ckpt", out);
        FILE *f = fopen(ck, "rb");
        cr_assert(f, "%s: no checkpoint at %s", d, ck);
        static uint8_t good[1 << 24];
        size_t n = fread(good, 1, sizeof good, f);
        fclose(f);
        cr_assert(n > 64 && n < sizeof good);
        const char *resume[] = {"--quick", "--epochs", "2", "--resume", "--data", data, "--out", out, NULL};

        /* bad CRC: one flipped bit in the middle */
        good[n / 2] ^= 0x04;
        put(ck, good, n);
        run(exe, resume, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "checkpoint with a bad CRC", ck, "CRC");
        good[n / 2] ^= 0x04;

        /* truncated */
        put(ck, good, n - 7);
        run(exe, resume, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "truncated checkpoint", ck);

        /* garbage */
        {
            static const char junk[] = "this is not a checkpoint at all, just some text\n";
            put(ck, junk, sizeof junk - 1);
        }
        run(exe, resume, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "garbage checkpoint", ck, "magic");

        /* empty */
        put(ck, "", 0);
        run(exe, resume, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "empty checkpoint", ck);

        /* a directory */
        unlink(ck);
        cr_assert_eq(mkdir(ck, 0777), 0);
        run(exe, resume, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "checkpoint is a directory", ck, "directory");
        rmdir(ck);

        /* another configuration (a different seed changes the run's config) */
        put(ck, good, n);
        const char *other[] = {"--quick", "--epochs", "2", "--resume", "--seed", "12345",
                               "--data", data, "--out", out, NULL};
        run(exe, other, NULL, 60, false, &o);
        EXPECT_CLEAN_FAILURE(&o, d, "checkpoint from another configuration", ck, "config");

        /* and the good one still resumes */
        put(ck, good, n);
        run(exe, resume, NULL, 240, false, &o);
        cr_expect_eq(o.code, 0, "%s --resume from the good checkpoint failed (%d):\n%s", d, o.code, o.err);
    }
    if (!tested)
        cr_skip_test("no driver with --resume yet");
}

/* ---------------- interruption and resume, end to end ---------------- */

/* Sections, step and epoch of two checkpoints are the same bits (the
 * caller's blob is not compared: it holds wall-clock seconds). */
static void expect_same_checkpoint(const char *a, const char *b, const char *what)
{
    elbo_ckpt x, y;
    cr_assert_eq(elbo_ckpt_read(a, &x), ELBO_OK, "%s: %s", what, elbo_last_error());
    cr_assert_eq(elbo_ckpt_read(b, &y), ELBO_OK, "%s: %s", what, elbo_last_error());
    cr_expect(x.step == y.step && x.epoch == y.epoch, "%s: step/epoch %llu/%llu vs %llu/%llu", what,
              (unsigned long long)x.step, (unsigned long long)x.epoch, (unsigned long long)y.step,
              (unsigned long long)y.epoch);
    cr_expect_eq(x.nsections, y.nsections, "%s: section counts differ", what);
    for (size_t i = 0; i < x.nsections; i++) {
        const struct elbo_ckpt_entry *e = elbo_ckpt_find(&y, x.sections[i].name);
        cr_expect(e && e->count == x.sections[i].count &&
                      memcmp(e->data, x.sections[i].data, e->count * sizeof(float)) == 0,
                  "%s: section '%s' differs from the uninterrupted run", what, x.sections[i].name);
    }
    elbo_ckpt_free(&x);
    elbo_ckpt_free(&y);
}

Test(drivers, interrupted_runs_resume_exactly, .init = setup, .fini = teardown)
{
    int tested = 0;
    for (int i = 0; i < n_drivers; i++) {
        const char *d = driver_names[i], *exe = driver_path(d);
        if (strcmp(d, "vae") != 0 || !has_flag(exe, "--max-steps"))
            continue;
        tested++;
        const char *data = tpath("data-%s", d);
        make_dataset(data);
        const char *straight = tpath("straight"), *stepped = tpath("stepped"), *termed = tpath("termed");
        char ck_straight[4200], ck_stepped[4200], ck_termed[4200];
        snprintf(ck_straight, sizeof ck_straight, "%s/checkpoint.ckpt", straight);
        snprintf(ck_stepped, sizeof ck_stepped, "%s/checkpoint.ckpt", stepped);
        snprintf(ck_termed, sizeof ck_termed, "%s/checkpoint.ckpt", termed);
#define VAE_ARGS(out, ...) (const char *[]){"--epochs", "3", "--batch", "32", "--hidden", "64", "--latent", "4", \
                                            "--data", data, "--out", out, __VA_ARGS__ NULL}
        run_out o;
        run(exe, VAE_ARGS(straight, ), NULL, 240, false, &o);
        cr_assert_eq(o.code, 0, "%s straight run failed (%d):\n%s", d, o.code, o.err);

        /* stopped every 5 steps by --max-steps, resumed until done */
        run(exe, VAE_ARGS(stepped, "--max-steps", "5", ), NULL, 240, false, &o);
        cr_assert_eq(o.code, 0, "%s --max-steps 5 failed (%d):\n%s", d, o.code, o.err);
        int rounds = 0;
        do {
            run(exe, VAE_ARGS(stepped, "--max-steps", "5", "--resume", ), NULL, 240, false, &o);
            cr_assert_eq(o.code, 0, "%s --resume --max-steps 5 failed (%d):\n%s", d, o.code, o.err);
        } while (strstr(o.err, "stopped at step") && ++rounds < 40);
        expect_same_checkpoint(ck_straight, ck_stepped, "stopped every 5 steps and resumed");

        /* SIGTERM once training has begun (the first checkpoint exists): the
         * step finishes, a checkpoint is written, exit 128 + SIGTERM */
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_RDWR);
            dup2(devnull, 1);
            dup2(devnull, 2);
            const char *const *argv = VAE_ARGS(termed, );
            const char *full[32] = {exe};
            for (int k = 0; argv[k]; k++)
                full[k + 1] = argv[k];
            execv(exe, (char *const *)full);
            _exit(126);
        }
        struct timespec nap = {0, 2000000};
        int ws, waited = 0;
        bool exited = false;
        while (access(ck_termed, F_OK) != 0 && waited < 60000) {
            if (waitpid(pid, &ws, WNOHANG) == pid) {
                exited = true;
                break;
            }
            nanosleep(&nap, NULL);
            waited += 2;
        }
        if (!exited) {
            kill(pid, SIGTERM);
            cr_assert_eq(waitpid(pid, &ws, 0), pid);
        }
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
            cr_log_warn("%s finished before SIGTERM arrived: the signal path was not exercised", d);
        } else {
            cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 128 + SIGTERM,
                      "%s on SIGTERM: expected exit code %d, got wait status 0x%x", d, 128 + SIGTERM, ws);
            run(exe, VAE_ARGS(termed, "--resume", ), NULL, 240, false, &o);
            cr_assert_eq(o.code, 0, "%s --resume after SIGTERM failed (%d):\n%s", d, o.code, o.err);
        }
        expect_same_checkpoint(ck_straight, ck_termed, "SIGTERM and resumed");
#undef VAE_ARGS
    }
    if (!tested)
        cr_skip_test("the vae driver (with --max-steps) is not built");
}
