/* PNG without zlib: 8-bit grayscale or RGB, stored (uncompressed) deflate
 * blocks, with chunk CRC-32 and zlib Adler-32. Files are written atomically.
 *
 * Float inputs are clamped to [0,1] and rounded to 0..255; NaN becomes 0. */
#ifndef ELBO_IO_PNG_H
#define ELBO_IO_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

/* Largest side accepted by the encoder and decoder. */
#define ELBO_PNG_MAX_SIDE 16384

/* px (height, width) floats in [0,1]. */
elbo_status elbo_png_write_gray(const char *path, const float *px, int width, int height);
/* px (height, width, 3) floats in [0,1]. */
elbo_status elbo_png_write_rgb(const char *path, const float *px, int width, int height);

/* A grid_rows x grid_cols mosaic of n images, each (rows, cols) grayscale,
 * stored consecutively in images (n, rows*cols), row-major tile order; tiles
 * are separated and framed by pad pixels of value pad_value; missing tiles
 * (n < grid_rows*grid_cols) are pad_value. */
elbo_status elbo_png_write_grid(const char *path, const float *images, size_t n, int rows, int cols, int grid_rows,
                                int grid_cols, int pad, float pad_value);

/* Encode 8-bit pixels (height, width, channels), channels 1 or 3, into a
 * malloc'd PNG byte string. */
elbo_status elbo_png_encode(const uint8_t *px, int width, int height, int channels, uint8_t **out, size_t *len);

/* Decode a PNG made of stored deflate blocks (what the encoder writes):
 * verifies signature, chunk CRCs, IHDR, filter type 0 and the Adler-32.
 * px is malloc'd (height, width, channels). name appears in messages. */
elbo_status elbo_png_decode_stored(const char *name, const uint8_t *buf, size_t len, uint8_t **px, int *width,
                                   int *height, int *channels);

#endif
