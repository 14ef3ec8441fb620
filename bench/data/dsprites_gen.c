/* dSprites generation: time rendering all 737,280 images, checksum them,
 * and optionally write the factor table and a PNG grid of samples.
 *
 *   dsprites_gen [--format bits|u8|f32] [--batch N] [--threads N] [--repeat R]
 *                [--checksum] [--png FILE] [--factors FILE]
 *
 * --factors writes the whole factor table, reads it back and checks that it
 * lists every index in order (the round trip), timing both.
 *
 * Images are rendered in minibatches of --batch indices into one reused
 * buffer (nothing keeps the set). With --threads N the minibatches are
 * split over the pool in fixed chunks; the checksum is a CRC-32 over the
 * per-chunk CRC-32s in index order, so it does not depend on the thread
 * count. Prints one line per repeat: format, threads, wall seconds,
 * images/s, CPU seconds of the process (and the checksum). bench/dsprites_gen.sh runs the comparison. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "models/data/dsprites.h"
#include "models/io/crc.h"
#include "models/io/png.h"
#include "ops/pool.h"
#include "progress.h"

/* Images per chunk of the parallel loop (fixed: the checksum depends on it). */
#define CHUNK 4096
#define GRID_SIDE 12

static int format, batch, repeat;
static bool checksum;
static const char *png_path, *factors_path;

static const elbo_opt opts[] = {
    {"format", ELBO_OPT_CHOICE, &format, "bits", "output layout", .choices = "bits|u8|f32"},
    {"batch", ELBO_OPT_INT, &batch, "256", "images per render call", .min = 1, .max = CHUNK},
    {"repeat", ELBO_OPT_INT, &repeat, "1", "timed passes over the whole set", .min = 1, .max = 100},
    {"checksum", ELBO_OPT_BOOL, &checksum, "false", "CRC-32 of the set (outside the timing)", .choices = NULL},
    {"png", ELBO_OPT_STRING, &png_path, "", "write a grid of sample images here", .choices = NULL},
    {"factors", ELBO_OPT_STRING, &factors_path, "", "write the whole factor table (CSV) here", .choices = NULL},
};

static const size_t format_bytes[] = {ELBO_DSPRITES_SIDE * sizeof(uint64_t), ELBO_DSPRITES_PIXELS,
                                      ELBO_DSPRITES_PIXELS * sizeof(float)};

typedef struct job {
    const elbo_dsprites *ds;
    uint8_t **buf;      /* one buffer of --batch images per thread */
    atomic_bool *busy;  /* per buffer: taken by a running task */
    uint32_t *crc;      /* per chunk, or NULL */
    elbo_status *st;    /* per chunk */
} job;

static elbo_status render(const elbo_dsprites *ds, const uint32_t *idx, size_t n, void *out)
{
    switch (format) {
    case 0: return elbo_dsprites_render_bits(ds, idx, n, out);
    case 1: return elbo_dsprites_render_u8(ds, idx, n, out);
    default: return elbo_dsprites_render_f32(ds, idx, n, out);
    }
}

/* One chunk of CHUNK consecutive indices, in minibatches of --batch. */
static void chunk_task(void *ctx, int task)
{
    job *j = ctx;
    uint32_t first = (uint32_t)task * CHUNK, idx[CHUNK];
    uint32_t n = ELBO_DSPRITES_COUNT - first < CHUNK ? ELBO_DSPRITES_COUNT - first : CHUNK;
    /* At most elbo_threads() tasks run at once, so a free buffer exists. */
    int slot = 0;
    while (atomic_exchange(&j->busy[slot], true))
        slot = (slot + 1) % elbo_threads();
    uint8_t *buf = j->buf[slot];
    uint32_t crc = 0;
    elbo_status st = ELBO_OK;
    for (uint32_t i = 0; i < n; i++)
        idx[i] = first + i;
    for (uint32_t at = 0; at < n && st == ELBO_OK; at += (uint32_t)batch) {
        size_t m = n - at < (uint32_t)batch ? n - at : (size_t)batch;
        st = render(j->ds, idx + at, m, buf);
        if (j->crc)
            crc = elbo_crc32_update(crc, buf, m * format_bytes[format]);
    }
    atomic_store(&j->busy[slot], false);
    if (j->crc)
        j->crc[task] = crc;
    j->st[task] = st;
}

/* CPU seconds of the whole process (every thread): on a shared machine
 * less disturbed by other work than the wall clock. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One pass over the set: wall seconds (CPU seconds into *cpu); the set's
 * checksum into *crc if asked. */
static double pass(const elbo_dsprites *ds, uint8_t **buf, bool with_crc, uint32_t *crc, double *cpu)
{
    enum { CHUNKS = (ELBO_DSPRITES_COUNT + CHUNK - 1) / CHUNK };
    static uint32_t crcs[CHUNKS];
    static elbo_status st[CHUNKS];
    static atomic_bool busy[64];
    job j = {.ds = ds, .buf = buf, .busy = busy, .crc = with_crc ? crcs : NULL, .st = st};
    double t0 = elbo_now(), c0 = cpu_now();
    elbo_parallel_for(CHUNKS, chunk_task, &j);
    double sec = elbo_now() - t0;
    *cpu = cpu_now() - c0;
    for (int c = 0; c < CHUNKS; c++)
        if (st[c] != ELBO_OK) {
            fprintf(stderr, "dsprites_gen: %s\n", elbo_last_error());
            exit(ELBO_EXIT_RUNTIME);
        }
    if (with_crc)
        *crc = elbo_crc32(crcs, sizeof crcs);
    return sec;
}

/* GRID_SIDE x GRID_SIDE images: each row one (shape, scale) pair walking
 * orientation and position, so outlines, sizes and turns are all on view. */
static void write_png(const elbo_dsprites *ds, const char *path)
{
    enum { N = GRID_SIDE * GRID_SIDE };
    uint32_t idx[N];
    for (int r = 0; r < GRID_SIDE; r++)
        for (int c = 0; c < GRID_SIDE; c++) {
            int32_t k[ELBO_DSPRITES_FACTORS] = {r % 3, (r / 3) * 2 % 6 + (r >= 9), c * 39 / (GRID_SIDE - 1),
                                                 c * 31 / (GRID_SIDE - 1), (r * 5 + c * 2) % 32};
            idx[r * GRID_SIDE + c] = elbo_dsprites_index(k);
        }
    float *img = malloc((size_t)N * ELBO_DSPRITES_PIXELS * sizeof(float));
    elbo_status st = img ? elbo_dsprites_render_f32(ds, idx, N, img) : ELBO_ERR_NOMEM;
    if (st == ELBO_OK)
        st = elbo_png_write_grid(path, img, N, ELBO_DSPRITES_SIDE, ELBO_DSPRITES_SIDE, GRID_SIDE, GRID_SIDE, 2, 0.5f);
    free(img);
    if (st != ELBO_OK) {
        fprintf(stderr, "dsprites_gen: --png %s: %s\n", path, elbo_last_error());
        exit(ELBO_EXIT_RUNTIME);
    }
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "dsprites_gen", "Render all of dSprites: time, checksum, factor table, sample grid.", opts,
                  sizeof opts / sizeof opts[0]);
    int rc = elbo_cli_parse(&cli, argc, argv, stdout);
    if (rc == -1)
        return 0;
    if (rc == ELBO_EXIT_OK)
        rc = elbo_cli_apply(&cli);
    if (rc != ELBO_EXIT_OK) {
        fprintf(stderr, "dsprites_gen: %s\n", cli.err);
        return rc;
    }
    elbo_dsprites *ds;
    double t0 = elbo_now();
    if (elbo_dsprites_new(&ds) != ELBO_OK) {
        fprintf(stderr, "dsprites_gen: %s\n", elbo_last_error());
        return ELBO_EXIT_RUNTIME;
    }
    double t_masks = elbo_now() - t0;
    int threads = elbo_threads();
    uint8_t **buf = calloc((size_t)threads, sizeof *buf);
    for (int t = 0; buf && t < threads; t++)
        if (!(buf[t] = malloc((size_t)batch * format_bytes[format])))
            buf = NULL;
    if (!buf) {
        fprintf(stderr, "dsprites_gen: out of memory\n");
        return ELBO_EXIT_RUNTIME;
    }
    static const char *names[] = {"bits", "u8", "f32"};
    printf("masks built in %.2f ms\n", t_masks * 1e3);
    for (int r = 0; r < repeat; r++) {
        double cpu, sec = pass(ds, buf, false, NULL, &cpu);
        printf("format %-4s threads %d batch %d: %.3f s, %.1f M images/s, cpu %.3f s\n", names[format], threads,
               batch, sec, ELBO_DSPRITES_COUNT / sec / 1e6, cpu);
    }
    if (checksum) {
        uint32_t crc;
        double cpu;
        pass(ds, buf, true, &crc, &cpu);
        printf("format %-4s threads %d checksum %08x\n", names[format], threads, crc);
    }
    if (png_path && *png_path)
        write_png(ds, png_path);
    if (factors_path && *factors_path) {
        t0 = elbo_now();
        if (elbo_dsprites_write_factors(factors_path, NULL, 0) != ELBO_OK) {
            fprintf(stderr, "dsprites_gen: --factors %s: %s\n", factors_path, elbo_last_error());
            return ELBO_EXIT_RUNTIME;
        }
        double t_write = elbo_now() - t0;
        t0 = elbo_now();
        uint32_t *back;
        size_t n;
        if (elbo_dsprites_read_factors(factors_path, &back, &n) != ELBO_OK) {
            fprintf(stderr, "dsprites_gen: --factors %s: %s\n", factors_path, elbo_last_error());
            return ELBO_EXIT_RUNTIME;
        }
        size_t same = 0;
        for (size_t i = 0; i < n; i++)
            same += back[i] == i;
        free(back);
        bool ok = n == ELBO_DSPRITES_COUNT && same == n;
        printf("factor table: written in %.2f s, read back in %.2f s: %zu rows, %s\n", t_write, elbo_now() - t0, n,
               ok ? "round trip exact" : "ROUND TRIP FAILED");
        if (!ok)
            return ELBO_EXIT_RUNTIME;
    }
    for (int t = 0; t < threads; t++)
        free(buf[t]);
    free(buf);
    elbo_dsprites_free(ds);
    return 0;
}
