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
    free(ds->x);
    free(ds->y);
    dataset_zero(ds);
}

/* Allocate x (n, d) and, if labeled, y (n); n may be 0. */
static elbo_status dataset_alloc(elbo_dataset *ds, size_t n, size_t d, int labeled, const char *what)
{
    size_t cells;
    if (__builtin_mul_overflow(n, d, &cells) || cells > SIZE_MAX / sizeof(float))
        return elbo_fail(ELBO_ERR_INVALID, "%s: %zu x %zu floats overflow", what, n, d);
    ds->x = malloc(cells ? cells * sizeof(float) : 1);
    ds->y = labeled ? malloc(n ? n : 1) : NULL;
    if (!ds->x || (labeled && !ds->y)) {
        free(ds->x);
        free(ds->y);
        ds->x = NULL;
        ds->y = NULL;
        return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate %zu x %zu floats", what, n, d);
    }
    ds->n = n;
    ds->d = d;
    return ELBO_OK;
}

elbo_status elbo_dataset_check(const elbo_dataset *ds, const char *name)
{
    for (size_t i = 0; i < ds->n; i++) {
        const float *row = ds->x + i * ds->d;
        for (size_t j = 0; j < ds->d; j++) {
            if (!isfinite(row[j]))
                return elbo_fail(ELBO_ERR_NONFINITE, "%s: example %zu, pixel %zu: expected a finite value, got %g",
                                 name, i, j, (double)row[j]);
            if (row[j] < 0.0f || row[j] > 1.0f)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: example %zu, pixel %zu: expected a value in [0,1], got %g",
                                 name, i, j, (double)row[j]);
        }
        if (ds->y && ds->y[i] >= ds->classes)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: example %zu: expected a label in 0..%d, got %d", name, i,
                             ds->classes - 1, ds->y[i]);
    }
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
            goto done;
        }
        for (size_t i = 0; i < lb.count; i++)
            if (lb.data[i] >= ELBO_DATASET_MAX_CLASSES) {
                st = elbo_fail(ELBO_ERR_FORMAT, "%s: label %zu: expected 0..%d, got %d", labels_path, i,
                               ELBO_DATASET_MAX_CLASSES - 1, lb.data[i]);
                goto done;
            }
    }
    size_t n = im.dims[0], d = im.dims[1] * im.dims[2]; /* no overflow: the file's byte count is their product */
    if ((st = dataset_alloc(ds, n, d, labels_path != NULL, images_path)) != ELBO_OK)
        goto done;
    for (size_t i = 0; i < im.count; i++)
        ds->x[i] = (float)im.data[i] / PIXEL_MAX;
    if (labels_path) {
        memcpy(ds->y, lb.data, n);
        ds->classes = ELBO_DATASET_MAX_CLASSES;
    }
    ds->rows = (int)im.dims[1];
    ds->cols = (int)im.dims[2];
done:
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

elbo_status elbo_dataset_from_arrays(const float *x, const uint8_t *y, size_t n, int rows, int cols, int classes,
                                     elbo_dataset *ds)
{
    dataset_zero(ds);
    if (rows <= 0 || cols <= 0)
        return elbo_fail(ELBO_ERR_INVALID, "dataset: image shape: expected positive sides, got %d x %d", rows, cols);
    if (y && (classes <= 0 || classes > UINT8_MAX + 1))
        return elbo_fail(ELBO_ERR_INVALID, "dataset: classes: expected 1..%d, got %d", UINT8_MAX + 1, classes);
    elbo_dataset tmp = {0};
    tmp.x = (float *)x; /* checked in place before copying */
    tmp.y = (uint8_t *)y;
    tmp.n = n;
    tmp.d = (size_t)rows * (size_t)cols;
    tmp.classes = y ? classes : 0;
    elbo_status st = elbo_dataset_check(&tmp, "dataset");
    if (st != ELBO_OK)
        return st;
    if ((st = dataset_alloc(ds, n, tmp.d, y != NULL, "dataset")) != ELBO_OK)
        return st;
    memcpy(ds->x, x, n * tmp.d * sizeof(float));
    if (y)
        memcpy(ds->y, y, n);
    ds->classes = tmp.classes;
    ds->rows = rows;
    ds->cols = cols;
    return ELBO_OK;
}

elbo_status elbo_dataset_truncate(elbo_dataset *ds, size_t n)
{
    if (n < ds->n)
        ds->n = n; /* the tail stays allocated; freed with the dataset */
    return ELBO_OK;
}

elbo_status elbo_dataset_subset(const elbo_dataset *ds, const uint32_t *idx, size_t n, elbo_dataset *out)
{
    dataset_zero(out);
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= ds->n)
            return elbo_fail(ELBO_ERR_INVALID, "dataset subset: index %zu: expected < %zu, got %u", i, ds->n, idx[i]);
    elbo_status st = dataset_alloc(out, n, ds->d, ds->y != NULL, "dataset subset");
    if (st != ELBO_OK)
        return st;
    out->classes = ds->classes;
    out->rows = ds->rows;
    out->cols = ds->cols;
    elbo_dataset_gather(ds, idx, n, out->x, out->y);
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

void elbo_dataset_binarize(elbo_dataset *ds, uint64_t seed)
{
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    elbo_binarize(&r, ds->x, ds->x, ds->n * ds->d);
}

void elbo_one_hot(const uint8_t *y, size_t n, int classes, float *out)
{
    memset(out, 0, n * (size_t)classes * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (y[i] < classes)
            out[i * (size_t)classes + y[i]] = 1.0f;
}

/* Rows of look-ahead in elbo_dataset_gather. */
#define GATHER_AHEAD 4

void elbo_dataset_prefetch(const elbo_dataset *ds, const uint32_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *row = (const char *)(ds->x + (size_t)idx[i] * ds->d);
        for (size_t o = 0; o < ds->d * sizeof(float); o += 64)
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
            memcpy(x_out + i * ds->d, ds->x + (size_t)idx[i] * ds->d, ds->d * sizeof(float));
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
