/* A folder of PNG images, one subfolder per class: the layout torchvision's
 * ImageFolder reads, read into a uint8 HWC data set.
 *
 *   DIR/CLASS/.../NAME.png  classes: the subfolders of DIR sorted by name (byte
 *                         order, as Python's sorted), labelled 0, 1, ...;
 *                         within a class, files in ImageFolder's order (the
 *                         directories of os.walk sorted by path, then the
 *                         files of each sorted by name), subfolders followed
 *
 * Files ending in .png (any case) are read; other image types ImageFolder
 * would read (.jpg, .jpeg, .bmp, .ppm, .pgm, .tif, .tiff, .webp) are refused
 * with the file named (convert them to PNG); anything else is ignored.
 *
 * Colour: alpha is dropped, not composited (what torchvision's loader does
 * with img.convert("RGB")); a palette is looked up. The data set has one
 * channel if every image is gray (or gray+alpha), else three, a gray image
 * among colour ones being replicated to RGB.
 *
 * Size: every image must have the size of the first, unless a size is given
 * (height, width > 0): then each image is resampled to it, per axis, by the
 * area average (each output pixel the mean of the input area it covers,
 * partial pixels weighted by their overlap) when shrinking and by nearest
 * neighbour (pixel centres, floor((x + 0.5) * in / out)) when enlarging, and
 * rounded to the nearest integer (halves up). */
#ifndef ELBO_IO_IMAGEFOLDER_H
#define ELBO_IO_IMAGEFOLDER_H

#include <stddef.h>

#include "models/io/dataset.h"
#include "ops/error.h"

typedef struct elbo_imagefolder_info {
    int classes;
    char first_class[64], last_class[64]; /* names (truncated) for a one-line summary */
    size_t resized;                       /* images whose size differed from the target */
} elbo_imagefolder_info;

/* Load DIR into ds (uint8, labelled). height = width = 0: the images' own size. */
elbo_status elbo_imagefolder_load(const char *dir, int height, int width, elbo_dataset *ds,
                                  elbo_imagefolder_info *info);

/* Resample one image src (sh, sw, c) to dst (dh, dw, c) by the rule above. */
void elbo_image_resize(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int dh, int dw);

#endif
