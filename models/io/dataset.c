#include "models/io/dataset.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/io/idx.h"

/* u8 pixel to [0,1]. */
#define PIXEL_MAX 255.0f
/* Uniforms drawn per chunk when binarizing (bounded stack use, same stream as one big draw). */
#define BIN_CHUNK 4096
/* Odd constant decorrelating the per-epoch shuffle streams from the seed stream. */
#define EPOCH_MIX 0xD1B54A32D192ED03ull

static void dataset_zero(elbo_dataset *ds) { memset(ds, 0, sizeof *ds); }

void elbo_dataset_free(elbo_dataset *ds)
{
    free(ds->pixels);
    free(ds->y);
    dataset_zero(ds);
}

static size_t row_bytes_of(elbo_pixel_type type, size_t d)
{
    switch (type) {
    case ELBO_PIXELS_F32:
        return d * sizeof(float);
    case ELBO_PIXELS_BITS:
        return (d + 7) / 8;
    case ELBO_PIXELS_U8:
    default:
        return d;
    }
}

elbo_status elbo_dataset_alloc(elbo_dataset *ds, elbo_pixel_type type, size_t n, int rows, int cols, int channels,
                               bool labeled)
{
    dataset_zero(ds);
    if (rows <= 0 || cols <= 0 || channels <= 0)
        return elbo_fail(ELBO_ERR_INVALID, "dataset: image shape: expected positive sides and channels, got %d x %d x %d",
                         rows, cols, channels);
    size_t d, cells;
    if (__builtin_mul_overflow((size_t)rows, (size_t)cols, &d) || __builtin_mul_overflow(d, (size_t)channels, &d) ||
        d > SIZE_MAX / sizeof(float) || __builtin_mul_overflow(n, row_bytes_of(type, d), &cells))
        return elbo_fail(ELBO_ERR_INVALID, "dataset: %zu examples of %d x %d x %d overflow", n, rows, cols, channels);
    ds->pixels = malloc(cells ? cells : 1);
    ds->y = labeled ? calloc(n ? n : 1, 1) : NULL;
    if (!ds->pixels || (labeled && !ds->y)) {
        free(ds->pixels);
        free(ds->y);
        dataset_zero(ds);
        return elbo_fail(ELBO_ERR_NOMEM, "dataset: cannot allocate %zu examples of %zu bytes", n, row_bytes_of(type, d));
    }
    ds->type = type;
    ds->row_bytes = row_bytes_of(type, d);
    ds->n = n;
    ds->d = d;
    ds->rows = rows;
    ds->cols = cols;
    ds->channels = channels;
    return ELBO_OK;
}

elbo_status elbo_dataset_check(const elbo_dataset *ds, const char *name)
{
    for (size_t i = 0; ds->type == ELBO_PIXELS_F32 && i < ds->n; i++) {
        const float *row = (const float *)elbo_dataset_row(ds, i);
        for (size_t j = 0; j < ds->d; j++) {
            if (!isfinite(row[j]))
                return elbo_fail(ELBO_ERR_NONFINITE, "%s: example %zu, pixel %zu: expected a finite value, got %g",
                                 name, i, j, (double)row[j]);
            if (row[j] < 0.0f || row[j] > 1.0f)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: example %zu, pixel %zu: expected a value in [0,1], got %g",
                                 name, i, j, (double)row[j]);
        }
    }
    for (size_t i = 0; ds->y && i < ds->n; i++)
        if (ds->y[i] >= ds->classes)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: example %zu: expected a label in 0..%d, got %d", name, i,
                             ds->classes - 1, ds->y[i]);
    return ELBO_OK;
}

/* A missing file whose .gz sits next to it gets a hint to run the fetch script. */
static elbo_status explain_missing(const char *path, elbo_status st)
{
    char gz[PATH_MAX];
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT && snprintf(gz, sizeof gz, "%s.gz", path) < (int)sizeof gz &&
        stat(gz, &sb) == 0)
        return elbo_fail(st, "%s: not found, but %s is: run scripts/fetch-data.sh to decompress it", path, gz);
    return st;
}

elbo_status elbo_dataset_load_files(const char *images_path, const char *labels_path, elbo_dataset *ds)
{
    dataset_zero(ds);
    elbo_idx im, lb = {0};
    elbo_status st = elbo_idx_read_images(images_path, &im);
    if (st != ELBO_OK)
        return explain_missing(images_path, st);
    if (im.dims[1] > INT_MAX || im.dims[2] > INT_MAX) {
        elbo_idx_free(&im);
        return elbo_fail(ELBO_ERR_FORMAT, "%s: image shape: expected sides up to %d, got %zu x %zu", images_path,
                         INT_MAX, im.dims[1], im.dims[2]);
    }
    if (labels_path) {
        if ((st = elbo_idx_read_labels(labels_path, &lb)) != ELBO_OK) {
            elbo_idx_free(&im);
            return explain_missing(labels_path, st);
        }
        if (lb.dims[0] != im.dims[0]) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: label count: expected %zu (the images in %s), got %zu", labels_path,
                           im.dims[0], images_path, lb.dims[0]);
            goto fail;
        }
        for (size_t i = 0; i < lb.count; i++)
            if (lb.data[i] >= ELBO_DATASET_MAX_CLASSES) {
                st = elbo_fail(ELBO_ERR_FORMAT, "%s: label %zu: expected 0..%d, got %d", labels_path, i,
                               ELBO_DATASET_MAX_CLASSES - 1, lb.data[i]);
                goto fail;
            }
    }
    /* The IDX payload is already (n, rows, cols) uint8: it becomes the storage. */
    ds->type = ELBO_PIXELS_U8;
    ds->pixels = im.data;
    ds->n = im.dims[0];
    ds->rows = (int)im.dims[1];
    ds->cols = (int)im.dims[2];
    ds->channels = 1;
    ds->d = im.dims[1] * im.dims[2]; /* no overflow: the file's byte count is their product */
    ds->row_bytes = ds->d;
    if (labels_path) {
        ds->y = lb.data;
        ds->classes = ELBO_DATASET_MAX_CLASSES;
    }
    return ELBO_OK;
fail:
    elbo_idx_free(&im);
    elbo_idx_free(&lb);
    return st;
}

elbo_status elbo_dataset_load(const char *dir, const char *split, elbo_dataset *ds)
{
    dataset_zero(ds);
    if (!dir || !split || (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0))
        return elbo_fail(ELBO_ERR_INVALID, "dataset split: expected \"train\" or \"t10k\", got \"%s\"",
                         split ? split : "(null)");
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return elbo_fail(ELBO_ERR_IO, "%s: data directory: %s (run scripts/fetch-data.sh %s)", dir, strerror(errno),
                         dir);
    if (!S_ISDIR(sb.st_mode))
        return elbo_fail(ELBO_ERR_IO, "%s: data directory: expected a directory, got a file", dir);
    char images[PATH_MAX], labels[PATH_MAX];
    if (snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte", dir, split) >= (int)sizeof images ||
        snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte", dir, split) >= (int)sizeof labels)
        return elbo_fail(ELBO_ERR_INVALID, "%s: data directory path too long", dir);
    return elbo_dataset_load_files(images, labels, ds);
}

static elbo_status check_classes(const uint8_t *y, int classes)
{
    if (y && (classes <= 0 || classes > ELBO_DATASET_LABEL_LIMIT))
        return elbo_fail(ELBO_ERR_INVALID, "dataset: classes: expected 1..%d, got %d", ELBO_DATASET_LABEL_LIMIT,
                         classes);
    return ELBO_OK;
}

elbo_status elbo_dataset_from_arrays(const float *x, const uint8_t *y, size_t n, int rows, int cols, int classes,
                                     elbo_dataset *ds)
{
    dataset_zero(ds);
    elbo_status st = check_classes(y, classes);
    if (st != ELBO_OK || (st = elbo_dataset_alloc(ds, ELBO_PIXELS_F32, n, rows, cols, 1, y != NULL)) != ELBO_OK)
        return st;
    memcpy(ds->pixels, x, n * ds->row_bytes);
    if (y)
        memcpy(ds->y, y, n);
    ds->classes = y ? classes : 0;
    if ((st = elbo_dataset_check(ds, "dataset")) != ELBO_OK)
        elbo_dataset_free(ds);
    return st;
}

elbo_status elbo_dataset_from_u8(const uint8_t *px, const uint8_t *y, size_t n, int rows, int cols, int channels,
                                 int classes, elbo_dataset *ds)
{
    dataset_zero(ds);
    elbo_status st = check_classes(y, classes);
    if (st != ELBO_OK || (st = elbo_dataset_alloc(ds, ELBO_PIXELS_U8, n, rows, cols, channels, y != NULL)) != ELBO_OK)
        return st;
    memcpy(ds->pixels, px, n * ds->row_bytes);
    if (y)
        memcpy(ds->y, y, n);
    ds->classes = y ? classes : 0;
    if ((st = elbo_dataset_check(ds, "dataset")) != ELBO_OK)
        elbo_dataset_free(ds);
    return st;
}

elbo_status elbo_dataset_truncate(elbo_dataset *ds, size_t n)
{
    if (n < ds->n)
        ds->n = n; /* the tail stays allocated; freed with the dataset */
    return ELBO_OK;
}

/* Copy example storage rows idx (n) into out (allocated alike). */
static void gather_storage(const elbo_dataset *ds, const uint32_t *idx, size_t n, elbo_dataset *out)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(elbo_dataset_row(out, i), elbo_dataset_row(ds, idx[i]), ds->row_bytes);
        if (ds->y)
            out->y[i] = ds->y[idx[i]];
    }
}

elbo_status elbo_dataset_subset(const elbo_dataset *ds, const uint32_t *idx, size_t n, elbo_dataset *out)
{
    dataset_zero(out);
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= ds->n)
            return elbo_fail(ELBO_ERR_INVALID, "dataset subset: index %zu: expected < %zu, got %u", i, ds->n, idx[i]);
    elbo_status st = elbo_dataset_alloc(out, ds->type, n, ds->rows, ds->cols, ds->channels, ds->y != NULL);
    if (st != ELBO_OK)
        return st;
    out->classes = ds->classes;
    gather_storage(ds, idx, n, out);
    return ELBO_OK;
}

elbo_status elbo_dataset_split(const elbo_dataset *ds, size_t n_valid, bool shuffle, uint64_t seed,
                               elbo_dataset *train, elbo_dataset *valid)
{
    dataset_zero(train);
    dataset_zero(valid);
    if (n_valid > ds->n)
        return elbo_fail(ELBO_ERR_INVALID, "dataset split: validation size: expected at most %zu, got %zu", ds->n,
                         n_valid);
    if (ds->n > UINT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "dataset split: expected at most %u examples, got %zu", UINT32_MAX, ds->n);
    uint32_t *perm = malloc((ds->n ? ds->n : 1) * sizeof *perm);
    uint8_t *in_valid = calloc(ds->n ? ds->n : 1, 1);
    uint32_t *order = malloc((ds->n ? ds->n : 1) * sizeof *order);
    elbo_status st = ELBO_OK;
    if (!perm || !in_valid || !order) {
        st = elbo_fail(ELBO_ERR_NOMEM, "dataset split: out of memory");
        goto done;
    }
    for (size_t i = 0; i < ds->n; i++)
        perm[i] = (uint32_t)i;
    if (shuffle) {
        elbo_rng r;
        elbo_rng_seed(&r, seed);
        elbo_rng_shuffle(&r, perm, ds->n);
    }
    for (size_t i = ds->n - n_valid; i < ds->n; i++)
        in_valid[perm[i]] = 1;
    /* Both parts keep the original order: train indices first, then valid. */
    size_t nt = 0, nv = ds->n - n_valid;
    for (size_t i = 0; i < ds->n; i++) {
        if (in_valid[i])
            order[nv++] = (uint32_t)i;
        else
            order[nt++] = (uint32_t)i;
    }
    if ((st = elbo_dataset_subset(ds, order, nt, train)) != ELBO_OK)
        goto done;
    if ((st = elbo_dataset_subset(ds, order + nt, n_valid, valid)) != ELBO_OK)
        elbo_dataset_free(train);
done:
    free(perm);
    free(in_valid);
    free(order);
    return st;
}

void elbo_binarize(elbo_rng *r, const float *x, float *out, size_t n)
{
    float u[BIN_CHUNK];
    for (size_t i = 0; i < n; i += BIN_CHUNK) {
        size_t m = n - i < BIN_CHUNK ? n - i : BIN_CHUNK;
        elbo_rng_uniform_f32(r, u, m);
        for (size_t k = 0; k < m; k++)
            out[i + k] = u[k] < x[i + k] ? 1.0f : 0.0f;
    }
}

/* u8 v as a float: the one conversion every reader uses. */
static float u8_value(uint8_t v) { return (float)v / PIXEL_MAX; }

/* Feature j of example row (storage of ds->type) as a float. */
static float feature(const elbo_dataset *ds, const uint8_t *row, size_t j)
{
    switch (ds->type) {
    case ELBO_PIXELS_F32: {
        float v;
        memcpy(&v, row + j * sizeof(float), sizeof v);
        return v;
    }
    case ELBO_PIXELS_BITS:
        return (float)((row[j >> 3] >> (j & 7)) & 1);
    case ELBO_PIXELS_U8:
    default:
        return u8_value(row[j]);
    }
}

elbo_status elbo_dataset_binarize(elbo_dataset *ds, uint64_t seed)
{
    size_t rb = (ds->d + 7) / 8;
    uint8_t *bits = calloc(ds->n && rb ? ds->n * rb : 1, 1);
    if (!bits)
        return elbo_fail(ELBO_ERR_NOMEM, "dataset: cannot allocate %zu bytes of bits", ds->n * rb);
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    /* The stream is drawn over the n*d features in chunks of BIN_CHUNK,
     * exactly as elbo_binarize over a float copy would: same seed, same bits. */
    float u[BIN_CHUNK];
    size_t total = ds->n * ds->d, i = 0, j = 0;
    for (size_t k0 = 0; k0 < total; k0 += BIN_CHUNK) {
        size_t m = total - k0 < BIN_CHUNK ? total - k0 : BIN_CHUNK;
        elbo_rng_uniform_f32(&r, u, m);
        for (size_t k = 0; k < m; k++) {
            if (u[k] < feature(ds, elbo_dataset_row(ds, i), j))
                bits[i * rb + (j >> 3)] |= (uint8_t)(1u << (j & 7));
            if (++j == ds->d)
                j = 0, i++;
        }
    }
    free(ds->pixels);
    ds->pixels = bits;
    ds->type = ELBO_PIXELS_BITS;
    ds->row_bytes = rb;
    return ELBO_OK;
}

void elbo_one_hot(const uint8_t *y, size_t n, int classes, float *out)
{
    memset(out, 0, n * (size_t)classes * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (y[i] < classes)
            out[i * (size_t)classes + y[i]] = 1.0f;
}

/* Example row (storage) as d floats into x. */
static void convert_row(const elbo_dataset *ds, const uint8_t *row, float *x)
{
    size_t d = ds->d;
    switch (ds->type) {
    case ELBO_PIXELS_F32:
        memcpy(x, row, d * sizeof(float));
        return;
    case ELBO_PIXELS_BITS:
        for (size_t j = 0; j < d; j++)
            x[j] = (float)((row[j >> 3] >> (j & 7)) & 1);
        return;
    case ELBO_PIXELS_U8:
    default:
        for (size_t j = 0; j < d; j++) /* a division, as at load time before: the same floats */
            x[j] = u8_value(row[j]);
    }
}

void elbo_dataset_rows(const elbo_dataset *ds, size_t first, size_t n, float *x_out, uint8_t *y_out)
{
    for (size_t i = 0; i < n; i++) {
        if (x_out)
            convert_row(ds, elbo_dataset_row(ds, first + i), x_out + i * ds->d);
        if (y_out && ds->y)
            y_out[i] = ds->y[first + i];
    }
}

/* Rows of look-ahead in elbo_dataset_gather. */
#define GATHER_AHEAD 4

void elbo_dataset_prefetch(const elbo_dataset *ds, const uint32_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *row = (const char *)elbo_dataset_row(ds, idx[i]);
        for (size_t o = 0; o < ds->row_bytes; o += 64)
            __builtin_prefetch(row + o, 0, 3);
    }
}

void elbo_dataset_gather(const elbo_dataset *ds, const uint32_t *idx, size_t n, float *x_out, uint8_t *y_out)
{
    /* The rows are scattered over the data set, so each is a cold miss the
     * hardware prefetcher only starts to follow after its first lines: ask
     * for the whole row GATHER_AHEAD rows ahead, so that many rows' lines
     * are in flight at once instead of one row's. */
    if (x_out)
        elbo_dataset_prefetch(ds, idx, n < GATHER_AHEAD ? n : GATHER_AHEAD);
    for (size_t i = 0; i < n; i++) {
        if (x_out && i + GATHER_AHEAD < n)
            elbo_dataset_prefetch(ds, idx + i + GATHER_AHEAD, 1);
        if (x_out)
            convert_row(ds, elbo_dataset_row(ds, idx[i]), x_out + i * ds->d);
        if (y_out && ds->y)
            y_out[i] = ds->y[idx[i]];
    }
}

/* splitmix64 finalizer: spreads the epoch number over all bits. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void batcher_make_perm(elbo_batcher *b)
{
    for (size_t i = 0; i < b->ds->n; i++)
        b->perm[i] = (uint32_t)i;
    if (b->shuffle) {
        elbo_rng r;
        elbo_rng_seed(&r, b->seed ^ mix64((b->epoch + 1) * EPOCH_MIX));
        elbo_rng_shuffle(&r, b->perm, b->ds->n);
    }
}

elbo_status elbo_batcher_init(elbo_batcher *b, const elbo_dataset *ds, size_t batch, bool shuffle, bool drop_last,
                              uint64_t seed)
{
    memset(b, 0, sizeof *b);
    if (ds->n == 0 || ds->n > UINT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "batcher: dataset size: expected 1..%u examples, got %zu", UINT32_MAX,
                         ds->n);
    if (batch == 0 || (drop_last && batch > ds->n))
        return elbo_fail(ELBO_ERR_INVALID, "batcher: batch size: expected 1..%zu, got %zu", ds->n, batch);
    b->perm = malloc(ds->n * sizeof *b->perm);
    if (!b->perm)
        return elbo_fail(ELBO_ERR_NOMEM, "batcher: cannot allocate %zu indices", ds->n);
    b->ds = ds;
    b->batch = batch;
    b->shuffle = shuffle;
    b->drop_last = drop_last;
    b->seed = seed;
    batcher_make_perm(b);
    return ELBO_OK;
}

void elbo_batcher_free(elbo_batcher *b)
{
    free(b->perm);
    memset(b, 0, sizeof *b);
}

size_t elbo_batcher_batches(const elbo_batcher *b)
{
    return b->drop_last ? b->ds->n / b->batch : (b->ds->n + b->batch - 1) / b->batch;
}

size_t elbo_batcher_next(elbo_batcher *b, const uint32_t **idx)
{
    size_t left = b->ds->n - b->next;
    if (left == 0 || (b->drop_last && left < b->batch)) {
        b->epoch++;
        b->next = 0;
        batcher_make_perm(b);
        *idx = NULL;
        return 0;
    }
    size_t m = left < b->batch ? left : b->batch;
    *idx = b->perm + b->next;
    b->next += m;
    return m;
}

elbo_status elbo_batcher_seek(elbo_batcher *b, uint64_t epoch, size_t next)
{
    if (next > b->ds->n)
        return elbo_fail(ELBO_ERR_INVALID, "batcher: position: expected at most %zu, got %zu", b->ds->n, next);
    b->epoch = epoch;
    b->next = next;
    batcher_make_perm(b);
    return ELBO_OK;
}
