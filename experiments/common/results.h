/* Results a driver writes besides its figures, in forms other tools read:
 * image grids as PNG with the raw images as .npy beside them, and a VAE's
 * encoder means and log-variances over a data set as .npy (--dump-latents).
 * Every file is written atomically; a failure returns the status with the
 * message recorded (the driver reports it). */
#ifndef ELBO_EXPERIMENTS_RESULTS_H
#define ELBO_EXPERIMENTS_RESULTS_H

#include <stddef.h>

#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "ops/error.h"

/* Padding of the grids (pixels, value): white frames between tiles. */
#define ELBO_GRID_PAD 2
#define ELBO_GRID_PAD_VALUE 1.0f

/* images (n, rows, cols, channels) floats in [0,1] as DIR/NAME.png, a
 * grid_rows x grid_cols mosaic (gray for 1 or 2 channels, RGB for 3 or 4:
 * a last alpha-like channel is not drawn), and DIR/NAME.npy, float32
 * (n, rows, cols, channels). NAME has no extension. */
elbo_status elbo_write_image_grid(const char *dir, const char *name, const float *images, size_t n, int rows,
                                  int cols, int channels, int grid_rows, int grid_cols);

/* Encoder means and log-variances of every example of ds as
 * DIR/PREFIX_mu.npy and DIR/PREFIX_logvar.npy, float32 (n, z), and its
 * labels as DIR/PREFIX_labels.npy (uint8, n) when it has them; encoded in
 * chunks of eval_batch rows (0: the default), streamed to the files. */
elbo_status elbo_dump_latents(const char *dir, const char *prefix, elbo_vae *m, elbo_tape *t, const elbo_dataset *ds,
                              int eval_batch);

#endif
