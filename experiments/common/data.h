/* The drivers' data: --data in any form models/io/datafile.h reads (an IDX
 * directory, .npy, .npz, a folder of PNG class folders) and the flags that
 * go with it. A driver that reads data puts ELBO_DATA_OPTS in its option
 * table and calls elbo_data_load_cli:
 *
 *     static const elbo_opt opts[] = { ..., ELBO_DATA_OPTS };
 *     elbo_dataset train, test;
 *     elbo_data_load_cli(&cli, &train, &test);   // exits 3 on bad data
 *
 * It prints one line per split saying what was read (shape, type, layout,
 * labels) on stdout; bad data ends the run with one line naming the file and
 * the problem (exit 3), before anything is written. */
#ifndef ELBO_EXPERIMENTS_DATA_H
#define ELBO_EXPERIMENTS_DATA_H

#include "cli.h"
#include "models/io/dataset.h"

typedef struct elbo_data_flags {
    const char *labels, *test_data, *test_labels, *labels_key, *image_size;
    int layout; /* 0 auto, 1 nhwc, 2 nchw (elbo_layout order) */
    double test_fraction;
} elbo_data_flags;

extern elbo_data_flags elbo_data_opt;

#define ELBO_DATA_OPTS                                                                                          \
    {"labels", ELBO_OPT_STRING, &elbo_data_opt.labels, "", "labels for a .npy --data (an integer .npy)",       \
     .choices = NULL},                                                                                          \
    {"test-data", ELBO_OPT_STRING, &elbo_data_opt.test_data, "",                                              \
     "test split when --data has none (.npy, .npz, PNG class folder)", .choices = NULL},                       \
    {"test-labels", ELBO_OPT_STRING, &elbo_data_opt.test_labels, "", "labels for a .npy --test-data",          \
     .choices = NULL},                                                                                          \
    {"labels-key", ELBO_OPT_STRING, &elbo_data_opt.labels_key, "",                                            \
     "npz array of the labels (default: y or labels if present)", .choices = NULL},                           \
    {"layout", ELBO_OPT_CHOICE, &elbo_data_opt.layout, "auto",                                                \
     "4-D image arrays: N x H x W x C or N x C x H x W (auto: the small axis is C)",                          \
     .choices = "auto|nhwc|nchw"},                                                                              \
    {"image-size", ELBO_OPT_STRING, &elbo_data_opt.image_size, "",                                            \
     "PNG folders: resize every image to HxW (area average down, nearest up)", .choices = NULL},              \
    {"test-fraction", ELBO_OPT_DOUBLE, &elbo_data_opt.test_fraction, "0.1",                                   \
     "held out as the test split when the data has none and no --test-data", .min = 0, .max = 0.9}

/* Load --data (and --test-data, labels, ...) into train and test. */
void elbo_data_load_cli(const elbo_cli *cli, elbo_dataset *train, elbo_dataset *test);

/* The same without exiting on bad data: the status, with the one line (and
 * the hint for missing data) in elbo_last_error(); quiet: print nothing on
 * success (a data-parallel rank other than 0). A bad --image-size still
 * exits 2. */
elbo_status elbo_data_try_load(const elbo_cli *cli, elbo_dataset *train, elbo_dataset *test, bool quiet);

#endif
