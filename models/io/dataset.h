/* Image datasets in memory: pixels as floats in [0,1], labels, splits,
 * binarization and shuffled minibatches.
 *
 * elbo_dataset_load(dir, "train" | "t10k") reads DIR/SPLIT-images-idx3-ubyte
 * and DIR/SPLIT-labels-idx1-ubyte (decompressed: scripts/fetch-data.sh),
 * so any MNIST-layout directory works (MNIST, Fashion-MNIST). Labels are
 * checked against ELBO_DATASET_MAX_CLASSES and the image count. */
#ifndef ELBO_IO_DATASET_H
#define ELBO_IO_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"
#include "ops/rng.h"

/* MNIST and Fashion-MNIST have 10; labels must be below this. */
#define ELBO_DATASET_MAX_CLASSES 10

typedef struct elbo_dataset {
    float *x;    /* (n, d) pixels in [0,1], malloc'd */
    uint8_t *y;  /* (n) labels in [0, classes), malloc'd; NULL if unlabeled */
    size_t n, d; /* examples, features per example (rows * cols) */
    int classes; /* label range (ELBO_DATASET_MAX_CLASSES for IDX data); 0 if unlabeled */
    int rows, cols; /* image shape */
} elbo_dataset;

/* Load DIR/SPLIT-{images-idx3,labels-idx1}-ubyte; split is "train" or "t10k". */
elbo_status elbo_dataset_load(const char *dir, const char *split, elbo_dataset *ds);
/* Load from explicit paths (labels_path may be NULL: unlabeled). */
elbo_status elbo_dataset_load_files(const char *images_path, const char *labels_path, elbo_dataset *ds);
/* Wrap caller data (copied): x (n, rows*cols), y (n) or NULL. Validates range and finiteness. */
elbo_status elbo_dataset_from_arrays(const float *x, const uint8_t *y, size_t n, int rows, int cols, int classes,
                                     elbo_dataset *ds);
void elbo_dataset_free(elbo_dataset *ds);

/* ELBO_ERR_NONFINITE / ELBO_ERR_FORMAT naming the first bad example and pixel
 * (NaN/Inf, outside [0,1], label >= classes). */
elbo_status elbo_dataset_check(const elbo_dataset *ds, const char *name);

/* Keep the first n examples (e.g. for --quick); n >= ds->n leaves it as is. */
elbo_status elbo_dataset_truncate(elbo_dataset *ds, size_t n);
/* Copy the examples idx (n) into a new dataset. */
elbo_status elbo_dataset_subset(const elbo_dataset *ds, const uint32_t *idx, size_t n, elbo_dataset *out);
/* Split into train (n - n_valid) and valid (n_valid): the last n_valid
 * examples, or a seeded random choice when shuffle is true (order within
 * each part is the original order). ds is left unchanged. */
elbo_status elbo_dataset_split(const elbo_dataset *ds, size_t n_valid, bool shuffle, uint64_t seed,
                               elbo_dataset *train, elbo_dataset *valid);

/* Static binarization: x <- (u < x) with u ~ U[0,1) from seed, once. */
void elbo_dataset_binarize(elbo_dataset *ds, uint64_t seed);
/* Dynamic binarization of a minibatch: out = (u < x) with fresh u from r; out may equal x. */
void elbo_binarize(elbo_rng *r, const float *x, float *out, size_t n);

/* One-hot rows: out (n, classes), out[i][y[i]] = 1. */
void elbo_one_hot(const uint8_t *y, size_t n, int classes, float *out);
/* Gather rows idx (n) into x (n, d) and, if y_out and ds->y, labels y_out (n). */
void elbo_dataset_gather(const elbo_dataset *ds, const uint32_t *idx, size_t n, float *x_out, uint8_t *y_out);
/* Ask the cache for the rows idx[0..n) of x ahead of their gather (a hint:
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
