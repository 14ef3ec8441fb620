/* One entry point for a run's data, whatever holds it: an IDX directory,
 * a .npy, a .npz or a folder of PNG class folders. Each split lands in an
 * elbo_dataset of its stored type (uint8, float32 or bits), images HWC.
 *
 * What a path can be, and where the test split comes from:
 *   IDX directory       DIR/train-* and DIR/t10k-* (MNIST layout)
 *   folder of folders   DIR/train/CLASS/... and DIR/test/CLASS/... (or val/),
 *                       else DIR/CLASS/... is the training set
 *   .npz                x_train/y_train and x_test/y_test (the Keras
 *                       layout), else one image array ("x", "images",
 *                       "arr_0" or the only array) with its labels
 *   .npy                one image array; labels from a second .npy
 * A split not found in the data comes from the test path; failing that,
 * test_fraction of the training set is held out (a seeded random choice,
 * the same for every run of that seed).
 *
 * Arrays: uint8 (and other integer types holding 0..255) are kept as
 * uint8, float16/32/64 as float32 (values must lie in [0,1]), bool as bits.
 * Shapes: (N, D) vectors (shown as sqrt(D) x sqrt(D) images when D is a
 * square, else 1 x D), (N, H, W) gray images, and (N, H, W, C) or
 * (N, C, H, W) images (C <= 4) by the layout given or inferred from which
 * axis is small; NCHW is transposed to HWC as it is read. Labels: a 1-D (or
 * (N, 1)) integer or bool array of values 0..255; classes = largest + 1. */
#ifndef ELBO_IO_DATAFILE_H
#define ELBO_IO_DATAFILE_H

#include <stddef.h>
#include <stdint.h>

#include "models/io/dataset.h"
#include "ops/error.h"

typedef enum elbo_layout { ELBO_LAYOUT_AUTO, ELBO_LAYOUT_NHWC, ELBO_LAYOUT_NCHW } elbo_layout;

typedef struct elbo_data_request {
    const char *path;        /* the training data (and the test split where it has one) */
    const char *labels;      /* .npy of training labels, or NULL */
    const char *test_path;   /* the test data when path has none, or NULL */
    const char *test_labels; /* .npy of test labels, or NULL */
    const char *labels_key;  /* npz: the labels array; NULL: "y" or "labels" */
    elbo_layout layout;
    int height, width;       /* PNG folders: resize to this (0: keep) */
    double test_fraction;    /* held out when no test split is found (0: that is an error) */
    uint64_t split_seed;
} elbo_data_request;

/* Load both splits. info receives one line per split (what was read: path,
 * shape, type, layout, labels), newline-separated. On error nothing is
 * left allocated. */
elbo_status elbo_data_load(const elbo_data_request *rq, elbo_dataset *train, elbo_dataset *test, char *info,
                           size_t info_cap);

/* Parse "nhwc" | "nchw" | "auto". */
elbo_status elbo_layout_parse(const char *text, elbo_layout *out);

#endif
