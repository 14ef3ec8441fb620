/* dSprites generator: geometry, the 720 masks, renderers, factor table.
 * The outlines and conventions are documented in dsprites.h. */
#include "models/data/dsprites.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/csv.h"

#define SIDE ELBO_DSPRITES_SIDE
#define SHAPES 3
#define SCALES 6
#define ORIENTATIONS 40
#define POSITIONS 32
/* Frame coordinate of the centre at position class 0 (px). */
#define CENTRE0 16
/* Orientation class c is the angle 2*pi*c/TURN_STEPS (class 39 is a full turn). */
#define TURN_STEPS (ORIENTATIONS - 1)

const int32_t elbo_dsprites_sizes[ELBO_DSPRITES_FACTORS] = {SHAPES, SCALES, ORIENTATIONS, POSITIONS, POSITIONS};
const uint32_t elbo_dsprites_bases[ELBO_DSPRITES_FACTORS] = {SCALES * ORIENTATIONS * POSITIONS * POSITIONS,
                                                              ORIENTATIONS * POSITIONS * POSITIONS,
                                                              POSITIONS * POSITIONS, POSITIONS, 1};

static const char *const factor_names[ELBO_DSPRITES_FACTORS] = {"shape", "scale", "orientation", "pos_x", "pos_y"};

const char *const elbo_dsprites_table_header[ELBO_DSPRITES_TABLE_COLS] = {
    "index",       "shape",       "scale",       "orientation",       "pos_x",       "pos_y",
    "shape_value", "scale_value", "orientation_value", "pos_x_value", "pos_y_value"};

const char *elbo_dsprites_factor_name(int factor)
{
    return factor >= 0 && factor < ELBO_DSPRITES_FACTORS ? factor_names[factor] : NULL;
}

void elbo_dsprites_classes(uint32_t index, int32_t classes[ELBO_DSPRITES_FACTORS])
{
    for (int k = 0; k < ELBO_DSPRITES_FACTORS; k++) {
        classes[k] = (int32_t)(index / elbo_dsprites_bases[k]);
        index %= elbo_dsprites_bases[k];
    }
}

uint32_t elbo_dsprites_index(const int32_t classes[ELBO_DSPRITES_FACTORS])
{
    uint32_t index = 0;
    for (int k = 0; k < ELBO_DSPRITES_FACTORS; k++)
        index += (uint32_t)classes[k] * elbo_dsprites_bases[k];
    return index;
}

/* numpy.linspace(start, stop, num)[i]: i * ((stop - start) / (num - 1)) + start, the last one stop. */
static double linspace_at(double start, double stop, int num, int i)
{
    if (i == num - 1)
        return stop;
    double step = (stop - start) / (num - 1);
    return (double)i * step + start;
}

double elbo_dsprites_value(int factor, int32_t cls)
{
    if (factor < 0 || factor >= ELBO_DSPRITES_FACTORS || cls < 0 || cls >= elbo_dsprites_sizes[factor])
        return NAN;
    switch (factor) {
    case ELBO_DSPRITES_SHAPE:
        return cls + 1.0;
    case ELBO_DSPRITES_SCALE:
        return linspace_at(0.5, 1.0, SCALES, cls);
    case ELBO_DSPRITES_ORIENTATION:
        return linspace_at(0.0, 2 * M_PI, ORIENTATIONS, cls);
    default:
        return linspace_at(0.0, 1.0, POSITIONS, cls);
    }
}

/* ---- geometry ---- */

/* sum_i (-x2)^i c[i] for the n coefficients c (Horner, from the last). */
static double alternating_series(const double *c, int n, double x2)
{
    double v = c[n - 1];
    for (int i = n - 2; i >= 0; i--)
        v = c[i] - x2 * v;
    return v;
}

/* cos and sin of 2*pi*k/TURN_STEPS from basic IEEE operations only (no libm),
 * so the outlines are the same bits everywhere. The angle is reduced exactly
 * in integers to x = 2*pi*r/(4*TURN_STEPS) plus q quarter turns, |x| <= pi/4,
 * where Taylor series to x^18 are exact to well below double rounding. */
static void turn_cos_sin(int k, double *cs, double *sn)
{
    /* 1/(2i+1)! and 1/(2i)! for i = 0..8 and 0..9 */
    static const double sin_c[] = {1.0, 1.0 / 6.0, 1.0 / 120.0, 1.0 / 5040.0, 1.0 / 362880.0, 1.0 / 39916800.0,
                                   1.0 / 6227020800.0, 1.0 / 1307674368000.0, 1.0 / 355687428096000.0};
    static const double cos_c[] = {1.0, 1.0 / 2.0, 1.0 / 24.0, 1.0 / 720.0, 1.0 / 40320.0, 1.0 / 3628800.0,
                                   1.0 / 479001600.0, 1.0 / 87178291200.0, 1.0 / 20922789888000.0,
                                   1.0 / 6402373705728000.0};
    int q = (8 * k + TURN_STEPS) / (2 * TURN_STEPS); /* nearest quarter turn: floor(4k/T + 1/2) */
    int r = 4 * k - TURN_STEPS * q;                  /* |r| <= T/2 */
    double x = (double)r * (M_PI / (2.0 * TURN_STEPS)), x2 = x * x;
    double s = x * alternating_series(sin_c, sizeof sin_c / sizeof *sin_c, x2);
    double c = alternating_series(cos_c, sizeof cos_c / sizeof *cos_c, x2);
    switch (q & 3) {
    case 0: *cs = c, *sn = s; break;
    case 1: *cs = -s, *sn = c; break;
    case 2: *cs = -c, *sn = -s; break;
    default: *cs = s, *sn = -c; break;
    }
}

/* One outline: shape class, half size h (px), the rotation's cos and sin. */
typedef struct outline {
    int shape;
    double h, cs, sn;
} outline;

static outline outline_of(int shape, int scale, int orientation)
{
    outline o = {.shape = shape, .h = 5.0 + scale};
    turn_cos_sin(orientation, &o.cs, &o.sn);
    return o;
}

static double sq(double x) { return x * x; }

/* Is (X, Y) (px from the centre, y up) inside? The point is turned back by
 * the orientation into the shape's own frame (u, v). */
static int outline_contains(const outline *o, double X, double Y)
{
    double u = X * o->cs + Y * o->sn, v = Y * o->cs - X * o->sn;
    double h = o->h;
    switch (o->shape) {
    case 0: /* square of side 2h */
        return fabs(u) <= h && fabs(v) <= h;
    case 1: { /* ellipse, semi-axes 1.2h (u) and 0.6h (v) */
        double a = 1.2 * h, b = 0.6 * h;
        return sq(u) / sq(a) + sq(v) / sq(b) <= 1.0;
    }
    default: { /* heart: square of side s turned 45 degrees, tip down, plus two discs of diameter s */
        double s = 1.2 * h;
        double half_diag = s * M_SQRT1_2;
        double shift = s * (1.0 - M_SQRT1_2) / 4.0; /* square centre below the bounding-box centre */
        double disc_x = half_diag / 2.0, disc_y = half_diag / 2.0 - shift;
        double au = fabs(u); /* |u|: the heart is exactly mirror-symmetric */
        return au + fabs(v + shift) <= half_diag || sq(au - disc_x) + sq(v - disc_y) <= sq(s / 2.0);
    }
    }
}

/* Pixel (r, c) of an image whose shape is centred at frame point (cx, cy). */
static int pixel_set(const outline *o, int r, int c, int cx, int cy)
{
    return outline_contains(o, (c + 0.5) - cx, cy - (r + 0.5));
}

/* ---- renderer ---- */

typedef struct mask {
    uint64_t rows[SIDE]; /* the image at position classes (0, 0): bit c of rows[r] is pixel (r, c) */
    int lo, hi;          /* rows [lo, hi) hold the shape */
} mask;

struct elbo_dsprites {
    mask masks[ELBO_DSPRITES_MASKS]; /* [shape][scale][orientation] */
    uint8_t spread[256][8];          /* byte b -> its 8 bits as bytes 0/1 */
};

static elbo_status build_mask(mask *m, int shape, int scale, int orientation)
{
    outline o = outline_of(shape, scale, orientation);
    uint64_t cols = 0;
    m->lo = SIDE, m->hi = 0;
    for (int r = 0; r < SIDE; r++) {
        uint64_t w = 0;
        for (int c = 0; c < SIDE; c++)
            if (pixel_set(&o, r, c, CENTRE0, CENTRE0))
                w |= (uint64_t)1 << c;
        m->rows[r] = w;
        cols |= w;
        if (w) {
            m->lo = m->lo < r ? m->lo : r;
            m->hi = r + 1;
        }
    }
    /* Translation by up to POSITIONS-1 pixels must stay inside the frame (the
     * shapes fit by construction; this guards the constants above). */
    if (!cols || m->hi + POSITIONS - 1 > SIDE || (cols >> (SIDE - POSITIONS + 1)) != 0)
        return elbo_fail(ELBO_ERR_INVALID, "dsprites: mask (%d, %d, %d) does not fit the frame at every position",
                         shape, scale, orientation);
    return ELBO_OK;
}

elbo_status elbo_dsprites_new(elbo_dsprites **out)
{
    *out = NULL;
    elbo_dsprites *d = malloc(sizeof *d);
    if (!d)
        return elbo_fail(ELBO_ERR_NOMEM, "dsprites: out of memory for the masks (%zu bytes)", sizeof *d);
    for (int shape = 0, i = 0; shape < SHAPES; shape++)
        for (int scale = 0; scale < SCALES; scale++)
            for (int orientation = 0; orientation < ORIENTATIONS; orientation++, i++) {
                elbo_status st = build_mask(&d->masks[i], shape, scale, orientation);
                if (st != ELBO_OK) {
                    free(d);
                    return st;
                }
            }
    for (int b = 0; b < 256; b++)
        for (int j = 0; j < 8; j++)
            d->spread[b][j] = (uint8_t)((b >> j) & 1);
    *out = d;
    return ELBO_OK;
}

void elbo_dsprites_free(elbo_dsprites *d) { free(d); }

static elbo_status check_indices(const char *what, const uint32_t *index, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (index[i] >= ELBO_DSPRITES_COUNT)
            return elbo_fail(ELBO_ERR_INVALID, "dsprites: %s: index %u at position %zu: expected < %u", what,
                             index[i], i, ELBO_DSPRITES_COUNT);
    return ELBO_OK;
}

/* The mask of an index and its translation (x, y) in pixels. */
static const mask *locate(const elbo_dsprites *d, uint32_t index, int *x, int *y)
{
    int32_t c[ELBO_DSPRITES_FACTORS];
    elbo_dsprites_classes(index, c);
    *x = c[ELBO_DSPRITES_POS_X];
    *y = c[ELBO_DSPRITES_POS_Y];
    return &d->masks[(c[ELBO_DSPRITES_SHAPE] * SCALES + c[ELBO_DSPRITES_SCALE]) * ORIENTATIONS +
                     c[ELBO_DSPRITES_ORIENTATION]];
}

/* Writes image row r (an array of 64 bits in w) in one layout. */
typedef void (*row_writer)(const elbo_dsprites *d, void *image, int r, uint64_t w);

static void put_bits(const elbo_dsprites *d, void *image, int r, uint64_t w)
{
    (void)d;
    ((uint64_t *)image)[r] = w;
}

static void put_u8(const elbo_dsprites *d, void *image, int r, uint64_t w)
{
    uint8_t *row = (uint8_t *)image + (size_t)r * SIDE;
    for (int b = 0; b < SIDE / 8; b++)
        memcpy(row + 8 * b, d->spread[(w >> (8 * b)) & 0xFF], 8);
}

static void put_f32(const elbo_dsprites *d, void *image, int r, uint64_t w)
{
    (void)d;
    float *row = (float *)image + (size_t)r * SIDE;
    for (; w; w &= w - 1)
        row[__builtin_ctzll(w)] = 1.0f;
}

/* Each image: cleared, then the rows of its mask shifted into place. */
static elbo_status render(const elbo_dsprites *d, const uint32_t *index, size_t n, void *out, size_t image_bytes,
                          row_writer put)
{
    elbo_status st = check_indices("render", index, n);
    if (st != ELBO_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        int x, y;
        const mask *m = locate(d, index[i], &x, &y);
        uint8_t *image = (uint8_t *)out + i * image_bytes;
        memset(image, 0, image_bytes);
        for (int r = m->lo; r < m->hi; r++)
            put(d, image, r + y, m->rows[r] << x);
    }
    return ELBO_OK;
}

/* out: (n, 64) words. */
elbo_status elbo_dsprites_render_bits(const elbo_dsprites *d, const uint32_t *index, size_t n, uint64_t *out)
{
    return render(d, index, n, out, SIDE * sizeof *out, put_bits);
}

/* out: (n, 64, 64, 1) bytes. */
elbo_status elbo_dsprites_render_u8(const elbo_dsprites *d, const uint32_t *index, size_t n, uint8_t *out)
{
    return render(d, index, n, out, ELBO_DSPRITES_PIXELS, put_u8);
}

/* out: (n, 64, 64, 1) floats. */
elbo_status elbo_dsprites_render_f32(const elbo_dsprites *d, const uint32_t *index, size_t n, float *out)
{
    return render(d, index, n, out, ELBO_DSPRITES_PIXELS * sizeof *out, put_f32);
}

elbo_status elbo_dsprites_render_reference(uint32_t index, uint8_t *out)
{
    elbo_status st = check_indices("reference", &index, 1);
    if (st != ELBO_OK)
        return st;
    int32_t c[ELBO_DSPRITES_FACTORS];
    elbo_dsprites_classes(index, c);
    outline o = outline_of(c[ELBO_DSPRITES_SHAPE], c[ELBO_DSPRITES_SCALE], c[ELBO_DSPRITES_ORIENTATION]);
    int cx = CENTRE0 + c[ELBO_DSPRITES_POS_X], cy = CENTRE0 + c[ELBO_DSPRITES_POS_Y];
    for (int r = 0; r < SIDE; r++)
        for (int col = 0; col < SIDE; col++)
            out[r * SIDE + col] = (uint8_t)pixel_set(&o, r, col, cx, cy);
    return ELBO_OK;
}

/* ---- sampling ---- */

elbo_status elbo_dsprites_draw(elbo_rng *rng, int factor, const int32_t *classes, size_t n, uint32_t *index)
{
    if (factor >= ELBO_DSPRITES_FACTORS)
        return elbo_fail(ELBO_ERR_INVALID, "dsprites: draw: factor %d: expected < %d", factor, ELBO_DSPRITES_FACTORS);
    if (factor >= 0)
        for (size_t i = 0; i < n; i++)
            if (classes[i] < 0 || classes[i] >= elbo_dsprites_sizes[factor])
                return elbo_fail(ELBO_ERR_INVALID, "dsprites: draw: class %d of %s at point %zu: expected 0..%d",
                                 classes[i], factor_names[factor], i, elbo_dsprites_sizes[factor] - 1);
    for (size_t i = 0; i < n; i++) {
        int32_t c[ELBO_DSPRITES_FACTORS];
        for (int k = 0; k < ELBO_DSPRITES_FACTORS; k++)
            c[k] = (int32_t)elbo_rng_below(rng, (uint64_t)elbo_dsprites_sizes[k]);
        if (factor >= 0)
            c[factor] = classes[i];
        index[i] = elbo_dsprites_index(c);
    }
    return ELBO_OK;
}

/* ---- factor table ---- */

static void table_row(uint32_t index, double row[ELBO_DSPRITES_TABLE_COLS])
{
    int32_t c[ELBO_DSPRITES_FACTORS];
    elbo_dsprites_classes(index, c);
    row[0] = index;
    for (int k = 0; k < ELBO_DSPRITES_FACTORS; k++) {
        row[1 + k] = c[k];
        row[1 + ELBO_DSPRITES_FACTORS + k] = elbo_dsprites_value(k, c[k]);
    }
}

elbo_status elbo_dsprites_write_factors(const char *path, const uint32_t *index, size_t n)
{
    if (index) {
        elbo_status st = check_indices("factor table", index, n);
        if (st != ELBO_OK)
            return st;
    } else {
        n = ELBO_DSPRITES_COUNT;
    }
    elbo_csv_writer w;
    elbo_status st = elbo_csv_open(&w, path, ELBO_DSPRITES_TABLE_COLS, elbo_dsprites_table_header);
    for (size_t i = 0; i < n && st == ELBO_OK; i++) {
        double row[ELBO_DSPRITES_TABLE_COLS];
        table_row(index ? index[i] : (uint32_t)i, row);
        st = elbo_csv_row(&w, row);
    }
    if (st != ELBO_OK) {
        elbo_csv_abort(&w);
        return st;
    }
    return elbo_csv_close(&w);
}

/* One row of a read table against what the index it names would write. */
static elbo_status check_row(const char *name, size_t row_no, const double *v, uint32_t *index)
{
    if (!(v[0] >= 0 && v[0] < ELBO_DSPRITES_COUNT && v[0] == floor(v[0])))
        return elbo_fail(ELBO_ERR_FORMAT, "%s: data row %zu: index %.17g: expected an integer in 0..%u", name, row_no,
                         v[0], ELBO_DSPRITES_COUNT - 1);
    double want[ELBO_DSPRITES_TABLE_COLS];
    table_row((uint32_t)v[0], want);
    for (int j = 1; j < ELBO_DSPRITES_TABLE_COLS; j++)
        if (v[j] != want[j])
            return elbo_fail(ELBO_ERR_FORMAT, "%s: data row %zu: column %s is %.17g, but index %u has %.17g", name,
                             row_no, elbo_dsprites_table_header[j], v[j], (uint32_t)v[0], want[j]);
    *index = (uint32_t)v[0];
    return ELBO_OK;
}

static elbo_status table_to_indices(const char *name, double *table, size_t rows, size_t cols, uint32_t **index,
                                    size_t *n)
{
    elbo_status st = ELBO_OK;
    uint32_t *idx = NULL;
    if (cols != ELBO_DSPRITES_TABLE_COLS)
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: expected %d columns (index, 5 classes, 5 values), got %zu", name,
                       ELBO_DSPRITES_TABLE_COLS, cols);
    else if (!(idx = malloc(rows * sizeof *idx)))
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory for %zu indices", name, rows);
    for (size_t i = 0; i < rows && st == ELBO_OK; i++)
        st = check_row(name, i + 1, table + i * cols, &idx[i]);
    free(table);
    if (st != ELBO_OK) {
        free(idx);
        return st;
    }
    *index = idx;
    *n = rows;
    return ELBO_OK;
}

elbo_status elbo_dsprites_read_factors(const char *path, uint32_t **index, size_t *n)
{
    double *table;
    size_t rows, cols;
    elbo_status st = elbo_csv_read(path, &table, &rows, &cols);
    if (st != ELBO_OK)
        return st;
    return table_to_indices(path, table, rows, cols, index, n);
}

elbo_status elbo_dsprites_parse_factors(const char *name, const char *text, size_t len, uint32_t **index, size_t *n)
{
    double *table;
    size_t rows, cols;
    elbo_status st = elbo_csv_parse(name, text, len, &table, &rows, &cols);
    if (st != ELBO_OK)
        return st;
    return table_to_indices(name, table, rows, cols, index, n);
}
