/* PNG, the project's own codec (no zlib): the deflate of models/io/deflate.h.
 *
 * Writer: 8-bit gray, gray+alpha, RGB or RGBA; each row takes the PNG filter
 * (None, Sub, Up, Average, Paeth) with the smallest sum of absolute
 * residuals, and the rows are deflated with dynamic Huffman codes. Files are
 * written atomically. Float inputs are clamped to [0,1] and rounded to
 * 0..255; NaN becomes 0.
 *
 * Reader: every colour type (gray, RGB, palette, gray+alpha, RGBA), every
 * legal bit depth, all five filters, Adam7 interlacing; chunk CRCs and the
 * zlib Adler-32 are checked. The output is 8 bits per sample with the file's
 * own channels: 1 gray, 2 gray+alpha, 3 RGB (palette images too: a palette
 * is looked up, its tRNS alpha ignored), 4 RGBA. Lower depths are scaled up
 * (gray 1-bit 0/1 -> 0/255), 16-bit samples are rounded to 8 bits
 * (v * 255 / 65535, to nearest). The decoded size is fixed by the header's
 * dimensions before inflating: a stream that would decode to more is refused
 * (decompression bomb), and an IDAT too small to hold that size even at
 * deflate's best ratio is refused before anything is allocated. */
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
/* The same for images of `channels` (1 gray or 3 RGB) stored HWC:
 * images (n, rows, cols, channels). Writes a gray or an RGB PNG. */
elbo_status elbo_png_write_grid_hwc(const char *path, const float *images, size_t n, int rows, int cols, int channels,
                                    int grid_rows, int grid_cols, int pad, float pad_value);

/* Encode 8-bit pixels (height, width, channels), channels 1 (gray), 2
 * (gray+alpha), 3 (RGB) or 4 (RGBA), into a malloc'd PNG byte string. */
elbo_status elbo_png_encode(const uint8_t *px, int width, int height, int channels, uint8_t **out, size_t *len);

/* Decode a PNG held in buf[0..len): px is malloc'd (height, width, channels)
 * 8-bit samples, channels as described above. name appears in messages. */
elbo_status elbo_png_decode(const char *name, const uint8_t *buf, size_t len, uint8_t **px, int *width, int *height,
                            int *channels);

/* The header alone: signature and IHDR of buf[0..len) (the first
 * ELBO_PNG_PROBE_BYTES of a file suffice): size and decoded channels. */
#define ELBO_PNG_PROBE_BYTES 33
elbo_status elbo_png_probe(const char *name, const uint8_t *buf, size_t len, int *width, int *height, int *channels);

/* Read and decode the file at path. */
elbo_status elbo_png_read(const char *path, uint8_t **px, int *width, int *height, int *channels);

#endif
