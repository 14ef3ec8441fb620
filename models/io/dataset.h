/* Data sets in memory, kept in their stored type: uint8 pixels (read as
 * value / 255), float32 values in [0,1], or bits once binarized. Nothing
 * ever holds a float copy of a whole data set: every reader converts the
 * rows it asks for (elbo_dataset_rows for a range, elbo_dataset_gather for
 * an index list), so a training step converts its minibatch and an
 * evaluation its chunk. The conversion is exact and fixed: u8 v becomes
 * (float)v / 255.0f, a bit 0.0f or 1.0f, so a data set gives the same
 * floats whichever type holds it (uint8 from IDX, PNG or .npy, float32
 * from .npy of those same values).
 *
 * Images are stored HWC (channels innermost, the engine's NHWC layout):
 * d = rows * cols * channels features per example.
 *
 * elbo_dataset_load(dir, "train" | "t10k") reads DIR/SPLIT-images-idx3-ubyte
 * and DIR/SPLIT-labels-idx1-ubyte (decompressed: scripts/fetch-data.sh),
 * so any MNIST-layout directory works (MNIST, Fashion-MNIST). IDX labels are
 * checked against ELBO_DATASET_MAX_CLASSES and the image count; other
 * sources (models/io/npy.h, models/io/imagefolder.h) allow labels up to 255. */
#ifndef ELBO_IO_DATASET_H
#define ELBO_IO_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"
#include "ops/rng.h"

/* MNIST and Fashion-MNIST have 10; IDX labels must be below this. */
#define ELBO_DATASET_MAX_CLASSES 10
/* Labels are uint8: at most this many classes from any source. */
#define ELBO_DATASET_LABEL_LIMIT 256

typedef enum elbo_pixel_type {
    ELBO_PIXELS_U8,   /* uint8, value / 255 */
    ELBO_PIXELS_F32,  /* float32 in [0,1] */
    ELBO_PIXELS_BITS, /* one bit per feature (0 or 1), LSB first, each example padded to whole bytes */
} elbo_pixel_type;

typedef struct elbo_dataset {
    elbo_pixel_type type;
    uint8_t *pixels;  /* (n, row_bytes) storage of `type`, malloc'd */
    size_t row_bytes; /* bytes per example: d, 4 d or ceil(d / 8) */
    uint8_t *y;       /* (n) labels in [0, classes), malloc'd; NULL if unlabeled */
    size_t n, d;      /* examples, features per example (rows * cols * channels) */
    int classes;      /* label range; 0 if unlabeled */
    int rows, cols, channels; /* image shape, HWC */
} elbo_dataset;

/* Load DIR/SPLIT-{images-idx3,labels-idx1}-ubyte; split is "train" or "t10k". */
elbo_status elbo_dataset_load(const char *dir, const char *split, elbo_dataset *ds);
/* Load from explicit paths (labels_path may be NULL: unlabeled). */
elbo_status elbo_dataset_load_files(const char *images_path, const char *labels_path, elbo_dataset *ds);

/* Storage for n examples of shape (rows, cols, channels) in type, labels
 * (zeroed) if labeled; the caller fills ds->pixels (elbo_dataset_row) and
 * ds->y and sets ds->classes. */
elbo_status elbo_dataset_alloc(elbo_dataset *ds, elbo_pixel_type type, size_t n, int rows, int cols, int channels,
                               bool labeled);
/* Wrap caller data (copied) as float32: x (n, rows*cols), y (n) or NULL.
 * Validates range and finiteness. One channel. */
elbo_status elbo_dataset_from_arrays(const float *x, const uint8_t *y, size_t n, int rows, int cols, int classes,
                                     elbo_dataset *ds);
/* Wrap caller data (copied) as uint8: px (n, rows, cols, channels), y (n) or NULL. */
elbo_status elbo_dataset_from_u8(const uint8_t *px, const uint8_t *y, size_t n, int rows, int cols, int channels,
                                 int classes, elbo_dataset *ds);
void elbo_dataset_free(elbo_dataset *ds);

/* Storage of example i (row_bytes bytes). */
static inline uint8_t *elbo_dataset_row(const elbo_dataset *ds, size_t i) { return ds->pixels + i * ds->row_bytes; }

/* ELBO_ERR_NONFINITE / ELBO_ERR_FORMAT naming the first bad example and pixel
 * (NaN/Inf or outside [0,1] in float32 storage, label >= classes). */
elbo_status elbo_dataset_check(const elbo_dataset *ds, const char *name);

/* Keep the first n examples (e.g. for --quick); n >= ds->n leaves it as is. */
elbo_status elbo_dataset_truncate(elbo_dataset *ds, size_t n);
/* Copy the examples idx (n) into a new dataset (same storage type). */
elbo_status elbo_dataset_subset(const elbo_dataset *ds, const uint32_t *idx, size_t n, elbo_dataset *out);
/* Split into train (n - n_valid) and valid (n_valid): the last n_valid
 * examples, or a seeded random choice when shuffle is true (order within
 * each part is the original order). ds is left unchanged. */
elbo_status elbo_dataset_split(const elbo_dataset *ds, size_t n_valid, bool shuffle, uint64_t seed,
                               elbo_dataset *train, elbo_dataset *valid);

/* Static binarization: x <- (u < x) with u ~ U[0,1) from seed, drawn in
 * example-major order over the n*d features; the storage becomes bits. */
elbo_status elbo_dataset_binarize(elbo_dataset *ds, uint64_t seed);
/* Dynamic binarization of a minibatch: out = (u < x) with fresh u from r; out may equal x. */
void elbo_binarize(elbo_rng *r, const float *x, float *out, size_t n);

/* One-hot rows: out (n, classes), out[i][y[i]] = 1. */
void elbo_one_hot(const uint8_t *y, size_t n, int classes, float *out);
/* Examples first..first+n as floats into x (n, d); labels into y_out (n)
 * if y_out and ds->y. The range must lie inside the data set. */
void elbo_dataset_rows(const elbo_dataset *ds, size_t first, size_t n, float *x_out, uint8_t *y_out);
/* Gather examples idx (n) as floats into x (n, d) and, if y_out and ds->y, labels y_out (n). */
void elbo_dataset_gather(const elbo_dataset *ds, const uint32_t *idx, size_t n, float *x_out, uint8_t *y_out);
/* Ask the cache for the examples idx[0..n) ahead of their gather (a hint:
 * no effect on results); a training step issues it for the next batch. */
void elbo_dataset_prefetch(const elbo_dataset *ds, const uint32_t *idx, size_t n);

/* Minibatches over a dataset. Epoch e visits a permutation produced by
 * elbo_rng_shuffle from a stream seeded by (seed, e), so the position
 * (epoch, next) is the whole state: save it in a checkpoint, restore with
 * elbo_batcher_seek, and the batches continue bit-identically. */
typedef struct elbo_batcher {
    const elbo_dataset *ds;
    size_t batch;
    bool shuffle, drop_last;
    uint64_t seed;
    uint64_t epoch; /* current epoch, from 0 */
    size_t next;    /* position of the next batch in perm */
    uint32_t *perm; /* (ds->n) order of this epoch */
} elbo_batcher;

elbo_status elbo_batcher_init(elbo_batcher *b, const elbo_dataset *ds, size_t batch, bool shuffle, bool drop_last,
                              uint64_t seed);
void elbo_batcher_free(elbo_batcher *b);
/* Next batch of this epoch: *idx points at its indices, returns its size
 * (batch, or fewer for the last one unless drop_last). Returns 0 once at the
 * end of each epoch, after which the next call starts epoch + 1. */
size_t elbo_batcher_next(elbo_batcher *b, const uint32_t **idx);
/* Batches per epoch. */
size_t elbo_batcher_batches(const elbo_batcher *b);
/* Jump to (epoch, next); ELBO_ERR_INVALID if next is beyond the dataset. */
elbo_status elbo_batcher_seek(elbo_batcher *b, uint64_t epoch, size_t next);

#endif
