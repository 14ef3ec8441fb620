/* dSprites (Matthey et al. 2017), generated: 737,280 binary 64x64 images,
 * one per combination of five factors, in the published set's order.
 *
 *   factor       classes  value of class c (the published latents_values)
 *   shape        3        1 square, 2 ellipse, 3 heart
 *   scale        6        linspace(0.5, 1, 6)[c]
 *   orientation  40       linspace(0, 2*pi, 40)[c]  (radians; c = 0 and 39 give the same image)
 *   pos_x        32       linspace(0, 1, 32)[c]
 *   pos_y        32       linspace(0, 1, 32)[c]
 *
 * index = dot(classes, bases) with bases 245760, 40960, 1024, 32, 1: pos_y
 * is fastest. (The published set also lists colour, one value, base 737280;
 * it is left out here: it carries nothing.)
 *
 * The outlines (the published images were rendered by another engine, whose
 * exact outlines are not published; these are this project's):
 *   - pixel (r, c) is the square [c, c+1] x [r, r+1] of the 64x64 frame
 *     (x right, y down); it is set iff its centre (c+0.5, r+0.5) lies in the
 *     shape, edges included: binary, no anti-aliasing;
 *   - the shape's centre is the frame point (16 + pos_x_class, 16 + pos_y_class):
 *     pos_x = 0 is the left, pos_y = 0 the top, one class is exactly one pixel,
 *     so the centre spans [16, 47] px on both axes and every image of a
 *     (shape, scale, orientation) is a translate of one mask;
 *   - size unit h = 5 + scale_class px (10 * scale: 5, 6, ..., 10);
 *     square: side 2h (10 to 20 px at orientation 0);
 *     ellipse: semi-axes 1.2h along x and 0.6h along y at orientation 0;
 *     heart: a square of side s = 1.2h turned 45 degrees (tip down) with two
 *     discs of diameter s on its two upper edges, centred on its bounding box
 *     (width 1.71s, height 1.56s);
 *   - orientation turns the shape counter-clockwise on screen about its
 *     centre; cos and sin of 2*pi*c/39 come from an exact integer reduction
 *     and a fixed polynomial (basic IEEE operations only), so the images are
 *     the same bits on every platform, and c = 39 reduces to c = 0;
 *   - the farthest point of any shape is 10*sqrt(2) = 14.1 px from its
 *     centre (the square's corner at scale 1), so no image is clipped.
 *
 * Images are streamed: a renderer holds the 720 masks (shape x scale x
 * orientation, 64 rows of 64 bits each, 360 KB) and writes any list of
 * indices into a caller buffer as bits, bytes or floats, laid out
 * (n, 64, 64, 1) (NHWC, one channel), row-major. */
#ifndef ELBO_DATA_DSPRITES_H
#define ELBO_DATA_DSPRITES_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"
#include "ops/rng.h"

#define ELBO_DSPRITES_SIDE 64
#define ELBO_DSPRITES_PIXELS (ELBO_DSPRITES_SIDE * ELBO_DSPRITES_SIDE)
#define ELBO_DSPRITES_COUNT 737280u
#define ELBO_DSPRITES_FACTORS 5
/* Masks held by a renderer: shape x scale x orientation. */
#define ELBO_DSPRITES_MASKS (3 * 6 * 40)
/* Columns of the factor table: index, five classes, five values. */
#define ELBO_DSPRITES_TABLE_COLS (1 + 2 * ELBO_DSPRITES_FACTORS)

enum elbo_dsprites_factor {
    ELBO_DSPRITES_SHAPE,
    ELBO_DSPRITES_SCALE,
    ELBO_DSPRITES_ORIENTATION,
    ELBO_DSPRITES_POS_X,
    ELBO_DSPRITES_POS_Y,
};

/* Classes per factor: 3, 6, 40, 32, 32. */
extern const int32_t elbo_dsprites_sizes[ELBO_DSPRITES_FACTORS];
/* Index weight per factor: 245760, 40960, 1024, 32, 1. */
extern const uint32_t elbo_dsprites_bases[ELBO_DSPRITES_FACTORS];

/* "shape", "scale", "orientation", "pos_x", "pos_y" (NULL out of range). */
const char *elbo_dsprites_factor_name(int factor);
/* The factor table's header: index, the five names, then NAME_value each. */
extern const char *const elbo_dsprites_table_header[ELBO_DSPRITES_TABLE_COLS];

/* Factor classes of an index (< ELBO_DSPRITES_COUNT), and back. */
void elbo_dsprites_classes(uint32_t index, int32_t classes[ELBO_DSPRITES_FACTORS]);
uint32_t elbo_dsprites_index(const int32_t classes[ELBO_DSPRITES_FACTORS]);
/* The published value of class cls of factor (numpy's linspace arithmetic,
 * bit for bit); NaN when either is out of range. */
double elbo_dsprites_value(int factor, int32_t cls);

typedef struct elbo_dsprites elbo_dsprites;

/* Build a renderer (the 720 masks, ~1 ms). */
elbo_status elbo_dsprites_new(elbo_dsprites **out);
void elbo_dsprites_free(elbo_dsprites *d);

/* Render the images of index (n) into out. Every index is checked
 * (< ELBO_DSPRITES_COUNT) before anything is written.
 *   bits: (n, 64) words; bit c of word r is pixel (r, c);
 *   u8:   (n, 64, 64, 1) bytes, 0 or 1;
 *   f32:  (n, 64, 64, 1) floats, 0 or 1. */
elbo_status elbo_dsprites_render_bits(const elbo_dsprites *d, const uint32_t *index, size_t n, uint64_t *out);
elbo_status elbo_dsprites_render_u8(const elbo_dsprites *d, const uint32_t *index, size_t n, uint8_t *out);
elbo_status elbo_dsprites_render_f32(const elbo_dsprites *d, const uint32_t *index, size_t n, float *out);

/* The naive reference (test oracle): evaluates the outline at each pixel
 * centre of one image, placed at its own centre; out (64, 64) bytes, 0 or 1. */
elbo_status elbo_dsprites_render_reference(uint32_t index, uint8_t *out);

/* Draw n indices uniformly over the set, except that factor (>= 0) takes
 * class classes[i] at point i; factor < 0 fixes nothing (classes unused).
 * Every point draws its five classes in factor order with elbo_rng_below,
 * the fixed one included (then overwritten), so the stream advances the
 * same way whatever is fixed. */
elbo_status elbo_dsprites_draw(elbo_rng *rng, int factor, const int32_t *classes, size_t n, uint32_t *index);

/* The factor table as CSV, atomically: header elbo_dsprites_table_header,
 * then per index: index, the five classes, the five values. index NULL
 * writes the whole set in order (n ignored; ~60 MB). */
elbo_status elbo_dsprites_write_factors(const char *path, const uint32_t *index, size_t n);
/* Read a factor table back into *index (n, malloc'd): every row must be
 * consistent (integral classes in range, index = dot(classes, bases), values
 * equal to elbo_dsprites_value), else ELBO_ERR_FORMAT naming path and data row. */
elbo_status elbo_dsprites_read_factors(const char *path, uint32_t **index, size_t *n);
/* The same over text[0..len) in memory (name used in messages; fuzzing). */
elbo_status elbo_dsprites_parse_factors(const char *name, const char *text, size_t len, uint32_t **index, size_t *n);

#endif
