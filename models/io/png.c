#include "models/io/png.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/crc.h"
#include "models/io/deflate.h"
#include "models/io/excerpt.h"
#include "models/io/file.h"

static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
#define IHDR_LEN 13
#define COLOR_GRAY 0
#define COLOR_RGB 2
#define COLOR_PALETTE 3
#define COLOR_GRAY_ALPHA 4
#define COLOR_RGBA 6
#define N_FILTERS 5
/* Chunk lengths are limited to 2^31-1 by the PNG spec. */
#define CHUNK_MAX 0x7FFFFFFFu
#define CHUNK_OVERHEAD 12 /* length, type, CRC */
/* Deflate never expands by more than 1032:1 (a 258-byte match in about two
 * bits), plus a little for headers: an IDAT smaller than raw / this cannot
 * hold the image. */
#define DEFLATE_MAX_RATIO 1032
#define DEFLATE_SLACK 1024
#define MAX_PALETTE 256

static void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Write one chunk at p (length, type, data, CRC over type+data); returns bytes written. */
static size_t put_chunk(uint8_t *p, const char type[4], const uint8_t *data, size_t n)
{
    be32_put(p, (uint32_t)n);
    memcpy(p + 4, type, 4);
    if (n && data != p + 8)
        memcpy(p + 8, data, n);
    be32_put(p + 8 + n, elbo_crc32(p + 4, n + 4));
    return n + CHUNK_OVERHEAD;
}

static elbo_status check_shape(const char *what, int width, int height, int channels)
{
    if (width < 1 || height < 1 || width > ELBO_PNG_MAX_SIDE || height > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_INVALID, "%s: image size: expected 1..%d per side, got %d x %d", what,
                         ELBO_PNG_MAX_SIDE, width, height);
    if (channels < 1 || channels > 4)
        return elbo_fail(ELBO_ERR_INVALID, "%s: channels: expected 1 to 4, got %d", what, channels);
    return ELBO_OK;
}

/* ---- filters (PNG spec 9.2), on bytes with bpp bytes per pixel ---- */

static uint8_t paeth(uint8_t a, uint8_t b, uint8_t c)
{
    int p = (int)a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* The predictor of byte x of a row: left a, above b, above-left c. */
static uint8_t predict(int type, uint8_t a, uint8_t b, uint8_t c)
{
    switch (type) {
    case 1:
        return a;
    case 2:
        return b;
    case 3:
        return (uint8_t)(((unsigned)a + b) >> 1);
    case 4:
        return paeth(a, b, c);
    default:
        return 0;
    }
}

/* out[x] = row[x] - predictor; prev is the previous (unfiltered) row or NULL. */
static void filter_row(int type, const uint8_t *row, const uint8_t *prev, size_t n, size_t bpp, uint8_t *out)
{
    for (size_t x = 0; x < n; x++) {
        uint8_t a = x >= bpp ? row[x - bpp] : 0, b = prev ? prev[x] : 0, c = prev && x >= bpp ? prev[x - bpp] : 0;
        out[x] = (uint8_t)(row[x] - predict(type, a, b, c));
    }
}

/* In place: row[x] += predictor (row holds the filtered bytes on entry). */
static void unfilter_row(int type, uint8_t *row, const uint8_t *prev, size_t n, size_t bpp)
{
    switch (type) {
    case 0:
        return;
    case 1:
        for (size_t x = bpp; x < n; x++)
            row[x] = (uint8_t)(row[x] + row[x - bpp]);
        return;
    case 2:
        if (prev)
            for (size_t x = 0; x < n; x++)
                row[x] = (uint8_t)(row[x] + prev[x]);
        return;
    default:
        for (size_t x = 0; x < n; x++) {
            uint8_t a = x >= bpp ? row[x - bpp] : 0, b = prev ? prev[x] : 0, c = prev && x >= bpp ? prev[x - bpp] : 0;
            row[x] = (uint8_t)(row[x] + predict(type, a, b, c));
        }
    }
}

/* Sum of |residual| with residuals read as signed bytes (libpng's heuristic). */
static uint64_t row_cost(const uint8_t *r, size_t n)
{
    uint64_t s = 0;
    for (size_t x = 0; x < n; x++)
        s += (uint64_t)abs((int)(int8_t)r[x]);
    return s;
}

elbo_status elbo_png_encode(const uint8_t *px, int width, int height, int channels, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    elbo_status st = check_shape("png", width, height, channels);
    if (st != ELBO_OK)
        return st;
    size_t bpp = (size_t)channels, rowlen = (size_t)width * bpp, raw_len = (rowlen + 1) * (size_t)height;
    uint8_t *raw = malloc(raw_len), *trial = malloc(N_FILTERS * rowlen);
    if (!raw || !trial) {
        free(raw), free(trial);
        return elbo_fail(ELBO_ERR_NOMEM, "png: cannot allocate %zu bytes", raw_len);
    }
    for (size_t y = 0; y < (size_t)height; y++) {
        const uint8_t *row = px + y * rowlen, *prev = y ? row - rowlen : NULL;
        int best = 0;
        uint64_t best_cost = UINT64_MAX;
        for (int f = 0; f < N_FILTERS; f++) {
            filter_row(f, row, prev, rowlen, bpp, trial + (size_t)f * rowlen);
            uint64_t c = row_cost(trial + (size_t)f * rowlen, rowlen);
            if (c < best_cost)
                best_cost = c, best = f;
        }
        raw[y * (rowlen + 1)] = (uint8_t)best;
        memcpy(raw + y * (rowlen + 1) + 1, trial + (size_t)best * rowlen, rowlen);
    }
    free(trial);
    uint8_t *z;
    size_t zlen;
    st = elbo_zlib_compress(raw, raw_len, ELBO_DEFLATE_FILTERED, &z, &zlen);
    free(raw);
    if (st != ELBO_OK)
        return st;
    if (zlen > CHUNK_MAX) {
        free(z);
        return elbo_fail(ELBO_ERR_INVALID, "png: image too large for one IDAT chunk (%zu bytes)", zlen);
    }
    static const uint8_t color_of[5] = {0, COLOR_GRAY, COLOR_GRAY_ALPHA, COLOR_RGB, COLOR_RGBA};
    size_t total = sizeof PNG_SIG + (CHUNK_OVERHEAD + IHDR_LEN) + (CHUNK_OVERHEAD + zlen) + CHUNK_OVERHEAD;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(z);
        return elbo_fail(ELBO_ERR_NOMEM, "png: cannot allocate %zu bytes", total);
    }
    uint8_t *p = buf;
    memcpy(p, PNG_SIG, sizeof PNG_SIG);
    p += sizeof PNG_SIG;
    uint8_t ihdr[IHDR_LEN];
    be32_put(ihdr, (uint32_t)width);
    be32_put(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;
    ihdr[9] = color_of[channels];
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    p += put_chunk(p, "IHDR", ihdr, IHDR_LEN);
    p += put_chunk(p, "IDAT", z, zlen);
    p += put_chunk(p, "IEND", NULL, 0);
    free(z);
    *out = buf;
    *len = (size_t)(p - buf);
    return ELBO_OK;
}

static uint8_t to_u8(float v)
{
    if (!(v > 0.0f)) /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

static elbo_status write_floats(const char *path, const float *px, int width, int height, int channels)
{
    elbo_status st = check_shape(path, width, height, channels);
    if (st != ELBO_OK)
        return st;
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    uint8_t *b = malloc(n);
    if (!b)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    for (size_t i = 0; i < n; i++)
        b[i] = to_u8(px[i]);
    uint8_t *png;
    size_t len;
    st = elbo_png_encode(b, width, height, channels, &png, &len);
    free(b);
    if (st != ELBO_OK)
        return st;
    st = elbo_write_file_atomic(path, png, len);
    free(png);
    return st;
}

elbo_status elbo_png_write_gray(const char *path, const float *px, int width, int height)
{
    return write_floats(path, px, width, height, 1);
}

elbo_status elbo_png_write_rgb(const char *path, const float *px, int width, int height)
{
    return write_floats(path, px, width, height, 3);
}

elbo_status elbo_png_write_grid_hwc(const char *path, const float *images, size_t n, int rows, int cols, int channels,
                                    int grid_rows, int grid_cols, int pad, float pad_value)
{
    if (rows < 1 || cols < 1 || grid_rows < 1 || grid_cols < 1 || pad < 0 || pad > ELBO_PNG_MAX_SIDE ||
        rows > ELBO_PNG_MAX_SIDE || cols > ELBO_PNG_MAX_SIDE || grid_rows > ELBO_PNG_MAX_SIDE ||
        grid_cols > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_INVALID, "%s: grid: expected positive tile and grid sizes, got %dx%d tiles in %dx%d",
                         path, rows, cols, grid_rows, grid_cols);
    if (channels != 1 && channels != 3)
        return elbo_fail(ELBO_ERR_INVALID, "%s: grid: expected 1 or 3 channels, got %d", path, channels);
    long long w = (long long)grid_cols * cols + (long long)(grid_cols + 1) * pad;
    long long h = (long long)grid_rows * rows + (long long)(grid_rows + 1) * pad;
    if (w > ELBO_PNG_MAX_SIDE || h > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_INVALID, "%s: grid: expected at most %d px per side, got %lld x %lld", path,
                         ELBO_PNG_MAX_SIDE, w, h);
    size_t C = (size_t)channels, cells = (size_t)w * (size_t)h * C;
    float *canvas = malloc(cells * sizeof(float));
    if (!canvas)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate the grid", path);
    for (size_t i = 0; i < cells; i++)
        canvas[i] = pad_value;
    size_t tile = (size_t)rows * (size_t)cols * C, line = (size_t)cols * C;
    for (size_t t = 0; t < n && t < (size_t)grid_rows * (size_t)grid_cols; t++) {
        size_t gr = t / (size_t)grid_cols, gc = t % (size_t)grid_cols;
        size_t y0 = (size_t)pad + gr * (size_t)(rows + pad), x0 = (size_t)pad + gc * (size_t)(cols + pad);
        for (int r = 0; r < rows; r++)
            memcpy(canvas + ((y0 + (size_t)r) * (size_t)w + x0) * C, images + t * tile + (size_t)r * line,
                   line * sizeof(float));
    }
    elbo_status st = write_floats(path, canvas, (int)w, (int)h, channels);
    free(canvas);
    return st;
}

elbo_status elbo_png_write_grid(const char *path, const float *images, size_t n, int rows, int cols, int grid_rows,
                                int grid_cols, int pad, float pad_value)
{
    return elbo_png_write_grid_hwc(path, images, n, rows, cols, 1, grid_rows, grid_cols, pad, pad_value);
}

/* ---- decoder ---- */

typedef struct header {
    uint32_t w, h;
    int depth, color, interlace;
    int samples;   /* samples per pixel in the file: 1, 2, 3 or 4 */
    int channels;  /* samples per pixel decoded: palette -> 3 */
    uint8_t palette[MAX_PALETTE * 3];
    int npalette;
} header;

static const char *color_name(int c)
{
    switch (c) {
    case COLOR_GRAY:
        return "gray";
    case COLOR_RGB:
        return "RGB";
    case COLOR_PALETTE:
        return "palette";
    case COLOR_GRAY_ALPHA:
        return "gray+alpha";
    case COLOR_RGBA:
        return "RGBA";
    default:
        return "unknown";
    }
}

static elbo_status parse_ihdr(const char *name, const uint8_t *d, header *hd)
{
    hd->w = be32_get(d);
    hd->h = be32_get(d + 4);
    hd->depth = d[8];
    hd->color = d[9];
    hd->interlace = d[12];
    int ok_depth;
    switch (hd->color) {
    case COLOR_GRAY:
        hd->samples = 1;
        ok_depth = hd->depth == 1 || hd->depth == 2 || hd->depth == 4 || hd->depth == 8 || hd->depth == 16;
        break;
    case COLOR_PALETTE:
        hd->samples = 1;
        ok_depth = hd->depth == 1 || hd->depth == 2 || hd->depth == 4 || hd->depth == 8;
        break;
    case COLOR_RGB:
    case COLOR_GRAY_ALPHA:
    case COLOR_RGBA:
        hd->samples = hd->color == COLOR_RGB ? 3 : hd->color == COLOR_GRAY_ALPHA ? 2 : 4;
        ok_depth = hd->depth == 8 || hd->depth == 16;
        break;
    default:
        return elbo_fail(ELBO_ERR_FORMAT, "%s: IHDR: colour type %d: expected 0, 2, 3, 4 or 6", name, hd->color);
    }
    if (!ok_depth)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: IHDR: bit depth %d is not allowed for %s images", name, hd->depth,
                         color_name(hd->color));
    if (d[10] != 0 || d[11] != 0 || hd->interlace > 1)
        return elbo_fail(ELBO_ERR_FORMAT,
                         "%s: IHDR: compression %d, filter method %d, interlace %d: expected 0, 0 and 0 or 1", name,
                         d[10], d[11], d[12]);
    if (hd->w < 1 || hd->h < 1 || hd->w > ELBO_PNG_MAX_SIDE || hd->h > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: IHDR: expected 1..%d px per side, got %u x %u", name, ELBO_PNG_MAX_SIDE,
                         hd->w, hd->h);
    hd->channels = hd->color == COLOR_PALETTE ? 3 : hd->samples;
    return ELBO_OK;
}

/* Adam7 passes: first row, first column, row step, column step; pass 0 is
 * the whole image when not interlaced. */
static const uint8_t ADAM7[7][4] = {{0, 0, 8, 8}, {0, 4, 8, 8}, {4, 0, 8, 4}, {0, 2, 4, 4},
                                    {2, 0, 4, 2}, {0, 1, 2, 2}, {1, 0, 2, 1}};

typedef struct pass {
    uint32_t y0, x0, dy, dx, w, h;
} pass;

static int passes(const header *hd, pass *ps)
{
    if (!hd->interlace) {
        ps[0] = (pass){0, 0, 1, 1, hd->w, hd->h};
        return 1;
    }
    for (int i = 0; i < 7; i++) {
        pass *p = &ps[i];
        p->y0 = ADAM7[i][0], p->x0 = ADAM7[i][1], p->dy = ADAM7[i][2], p->dx = ADAM7[i][3];
        p->w = hd->w > p->x0 ? (hd->w - p->x0 + p->dx - 1) / p->dx : 0;
        p->h = hd->h > p->y0 ? (hd->h - p->y0 + p->dy - 1) / p->dy : 0;
    }
    return 7;
}

/* Bytes of one filtered scanline of w pixels (without the filter byte). */
static size_t line_bytes(const header *hd, uint32_t w) { return ((size_t)w * (size_t)hd->samples * (size_t)hd->depth + 7) / 8; }

/* Sample i of an unfiltered scanline, as 8 bits. */
static uint8_t sample8(const header *hd, const uint8_t *line, size_t i)
{
    switch (hd->depth) {
    case 16: {
        unsigned v = (unsigned)line[2 * i] << 8 | line[2 * i + 1];
        return (uint8_t)((v * 255u + 32767u) / 65535u);
    }
    case 8:
        return line[i];
    default: {
        size_t bit = i * (size_t)hd->depth;
        unsigned v = (line[bit / 8] >> (8 - hd->depth - (bit % 8))) & ((1u << hd->depth) - 1);
        if (hd->color == COLOR_PALETTE)
            return (uint8_t)v;
        return (uint8_t)(v * 255u / ((1u << hd->depth) - 1));
    }
    }
}

/* Unfilter one pass in raw (filter byte + line per row) and scatter its
 * pixels into out (h, w, channels). */
static elbo_status decode_pass(const char *name, const header *hd, const pass *p, uint8_t *raw, uint8_t *out)
{
    size_t lb = line_bytes(hd, p->w), bpp = ((size_t)hd->samples * (size_t)hd->depth + 7) / 8;
    const uint8_t *prev = NULL;
    for (uint32_t r = 0; r < p->h; r++) {
        uint8_t *row = raw + (size_t)r * (lb + 1);
        if (row[0] >= N_FILTERS)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: row %u: filter type %d: expected 0..4", name, r, row[0]);
        unfilter_row(row[0], row + 1, prev, lb, bpp);
        prev = row + 1;
        size_t y = p->y0 + (size_t)r * p->dy;
        for (uint32_t c = 0; c < p->w; c++) {
            size_t x = p->x0 + (size_t)c * p->dx;
            uint8_t *o = out + (y * hd->w + x) * (size_t)hd->channels;
            if (hd->color == COLOR_PALETTE) {
                unsigned k = sample8(hd, row + 1, c);
                if ((int)k >= hd->npalette)
                    return elbo_fail(ELBO_ERR_FORMAT, "%s: pixel (%zu, %zu): palette index %u beyond the %d entries",
                                     name, x, y, k, hd->npalette);
                memcpy(o, hd->palette + 3 * k, 3);
            } else {
                for (int s = 0; s < hd->samples; s++)
                    o[s] = sample8(hd, row + 1, (size_t)c * (size_t)hd->samples + (size_t)s);
            }
        }
    }
    return ELBO_OK;
}

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static int bytes_add(bytes *b, const uint8_t *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q)
            return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 1;
}

/* Walk the chunks: IHDR into hd, PLTE, the IDAT stream into z. */
static elbo_status read_chunks(const char *name, const uint8_t *buf, size_t len, header *hd, bytes *z)
{
    if (len < sizeof PNG_SIG || memcmp(buf, PNG_SIG, sizeof PNG_SIG) != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad signature: expected a PNG file", name);
    size_t pos = sizeof PNG_SIG;
    int seen_ihdr = 0, seen_idat = 0, idat_ended = 0;
    for (;;) {
        if (len - pos < CHUNK_OVERHEAD)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated at byte %zu: expected a chunk, got %zu bytes", name, pos,
                             len - pos);
        uint32_t n = be32_get(buf + pos);
        const uint8_t *type = buf + pos + 4, *data = buf + pos + 8;
        char tname[5];
        elbo_excerpt(tname, sizeof tname, (const char *)type, 4);
        if (n > CHUNK_MAX || n > len - pos - CHUNK_OVERHEAD)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: chunk '%s' at byte %zu: expected at most %zu data bytes, got %u",
                             name, tname, pos, len - pos - CHUNK_OVERHEAD, n);
        uint32_t want = be32_get(data + n), got = elbo_crc32(type, (size_t)n + 4);
        if (want != got)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: chunk '%s' at byte %zu: bad CRC: expected 0x%08x, got 0x%08x", name,
                             tname, pos, want, got);
        int is_idat = memcmp(type, "IDAT", 4) == 0;
        if (seen_idat && !is_idat)
            idat_ended = 1;
        if (!seen_ihdr && memcmp(type, "IHDR", 4) != 0)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: first chunk: expected IHDR, got '%s'", name, tname);
        if (memcmp(type, "IHDR", 4) == 0) {
            if (seen_ihdr || n != IHDR_LEN)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: IHDR: expected one chunk of %d bytes, got %u", name, IHDR_LEN,
                                 n);
            seen_ihdr = 1;
            elbo_status st = parse_ihdr(name, data, hd);
            if (st != ELBO_OK)
                return st;
        } else if (memcmp(type, "PLTE", 4) == 0) {
            if (n % 3 || n == 0 || n > 3 * MAX_PALETTE || seen_idat || hd->npalette)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: PLTE: expected one chunk of 1..256 RGB entries before IDAT, "
                                 "got %u bytes", name, n);
            memcpy(hd->palette, data, n);
            hd->npalette = (int)(n / 3);
        } else if (is_idat) {
            if (idat_ended)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: IDAT chunks are not consecutive", name);
            seen_idat = 1;
            if (!bytes_add(z, data, n))
                return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        } else if (!(type[0] & 0x20)) { /* upper-case first letter: critical */
            return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: critical chunk '%s' not supported", name, tname);
        }
        pos += (size_t)n + CHUNK_OVERHEAD;
    }
    if (!seen_idat)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: no IDAT chunk: expected image data", name);
    if (hd->color == COLOR_PALETTE && !hd->npalette)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: palette image without a PLTE chunk", name);
    return ELBO_OK;
}

elbo_status elbo_png_decode(const char *name, const uint8_t *buf, size_t len, uint8_t **px, int *width, int *height,
                            int *channels)
{
    *px = NULL;
    *width = *height = *channels = 0;
    header hd;
    memset(&hd, 0, sizeof hd);
    bytes z = {0};
    uint8_t *raw = NULL, *out = NULL;
    elbo_status st = read_chunks(name, buf, len, &hd, &z);
    if (st != ELBO_OK)
        goto done;
    pass ps[7];
    int np = passes(&hd, ps);
    size_t raw_len = 0;
    for (int i = 0; i < np; i++)
        if (ps[i].w && ps[i].h)
            raw_len += (line_bytes(&hd, ps[i].w) + 1) * ps[i].h;
    if (raw_len / DEFLATE_MAX_RATIO > z.n + DEFLATE_SLACK) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: IDAT: %zu compressed bytes cannot hold the %zu bytes of a %u x %u image",
                       name, z.n, raw_len, hd.w, hd.h);
        goto done;
    }
    size_t out_len = (size_t)hd.w * hd.h * (size_t)hd.channels;
    raw = malloc(raw_len);
    out = malloc(out_len);
    if (!raw || !out) {
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate %zu bytes for a %u x %u image", name, raw_len + out_len,
                       hd.w, hd.h);
        goto done;
    }
    size_t got;
    if ((st = elbo_zlib_decompress(name, z.p, z.n, raw, raw_len, &got)) != ELBO_OK)
        goto done;
    if (got != raw_len) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: pixel data: expected %zu bytes for %u x %u, got %zu", name, raw_len, hd.w,
                       hd.h, got);
        goto done;
    }
    size_t off = 0;
    for (int i = 0; i < np && st == ELBO_OK; i++) {
        if (!ps[i].w || !ps[i].h)
            continue;
        st = decode_pass(name, &hd, &ps[i], raw + off, out);
        off += (line_bytes(&hd, ps[i].w) + 1) * ps[i].h;
    }
    if (st != ELBO_OK)
        goto done;
    *px = out;
    out = NULL;
    *width = (int)hd.w;
    *height = (int)hd.h;
    *channels = hd.channels;
done:
    free(z.p);
    free(raw);
    free(out);
    return st;
}

elbo_status elbo_png_probe(const char *name, const uint8_t *buf, size_t len, int *width, int *height, int *channels)
{
    *width = *height = *channels = 0;
    if (len < sizeof PNG_SIG || memcmp(buf, PNG_SIG, sizeof PNG_SIG) != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad signature: expected a PNG file", name);
    if (len < ELBO_PNG_PROBE_BYTES)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: expected an IHDR chunk", name);
    const uint8_t *c = buf + sizeof PNG_SIG;
    if (be32_get(c) != IHDR_LEN || memcmp(c + 4, "IHDR", 4) != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: first chunk: expected IHDR of %d bytes", name, IHDR_LEN);
    uint32_t want = be32_get(c + 8 + IHDR_LEN), got = elbo_crc32(c + 4, IHDR_LEN + 4);
    if (want != got)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: chunk 'IHDR' at byte 8: bad CRC: expected 0x%08x, got 0x%08x", name, want,
                         got);
    header hd;
    memset(&hd, 0, sizeof hd);
    elbo_status st = parse_ihdr(name, c + 8, &hd);
    if (st != ELBO_OK)
        return st;
    *width = (int)hd.w;
    *height = (int)hd.h;
    *channels = hd.channels;
    return ELBO_OK;
}

elbo_status elbo_png_read(const char *path, uint8_t **px, int *width, int *height, int *channels)
{
    uint8_t *buf;
    size_t len;
    *px = NULL;
    elbo_status st = elbo_read_file(path, 0, &buf, &len);
    if (st != ELBO_OK)
        return st;
    st = elbo_png_decode(path, buf, len, px, width, height, channels);
    free(buf);
    return st;
}
