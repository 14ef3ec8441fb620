#include "models/io/png.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/crc.h"
#include "models/io/excerpt.h"
#include "models/io/file.h"

static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
#define IHDR_LEN 13
#define COLOR_GRAY 0
#define COLOR_RGB 2
#define BIT_DEPTH 8
/* zlib header: deflate, 32K window, no dictionary, fastest level; (CMF*256+FLG) % 31 == 0. */
#define ZLIB_CMF 0x78
#define ZLIB_FLG 0x01
#define ZLIB_CHECK_MOD 31
#define ZLIB_CM_DEFLATE 8
#define ZLIB_FDICT 0x20
#define ZLIB_MAX_CINFO 7 /* window 2^(CINFO+8) <= 32K */
/* Longest stored deflate block. */
#define STORED_MAX 65535u
/* Chunk lengths are limited to 2^31-1 by the PNG spec. */
#define CHUNK_MAX 0x7FFFFFFFu
/* Stored block header (1 byte), LEN and NLEN (2 bytes each). */
#define STORED_HDR 5
#define CHUNK_OVERHEAD 12 /* length, type, CRC */

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
    if (channels != 1 && channels != 3)
        return elbo_fail(ELBO_ERR_INVALID, "%s: channels: expected 1 or 3, got %d", what, channels);
    return ELBO_OK;
}

elbo_status elbo_png_encode(const uint8_t *px, int width, int height, int channels, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    elbo_status st = check_shape("png", width, height, channels);
    if (st != ELBO_OK)
        return st;
    size_t row = 1 + (size_t)width * (size_t)channels; /* filter byte + pixels */
    size_t raw = row * (size_t)height;
    size_t blocks = (raw + STORED_MAX - 1) / STORED_MAX;
    size_t zlen = 2 + raw + blocks * STORED_HDR + 4; /* zlib header, blocks, Adler-32 */
    if (zlen > CHUNK_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "png: image too large for one IDAT chunk (%zu bytes)", zlen);
    size_t total = sizeof PNG_SIG + (CHUNK_OVERHEAD + IHDR_LEN) + (CHUNK_OVERHEAD + zlen) + CHUNK_OVERHEAD;
    uint8_t *buf = malloc(total);
    if (!buf)
        return elbo_fail(ELBO_ERR_NOMEM, "png: cannot allocate %zu bytes", total);
    uint8_t *p = buf;
    memcpy(p, PNG_SIG, sizeof PNG_SIG);
    p += sizeof PNG_SIG;

    uint8_t ihdr[IHDR_LEN];
    be32_put(ihdr, (uint32_t)width);
    be32_put(ihdr + 4, (uint32_t)height);
    ihdr[8] = BIT_DEPTH;
    ihdr[9] = channels == 1 ? COLOR_GRAY : COLOR_RGB;
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    p += put_chunk(p, "IHDR", ihdr, IHDR_LEN);

    /* IDAT payload built in place after the 8-byte chunk header. */
    uint8_t *z = p + 8, *q = z;
    *q++ = ZLIB_CMF;
    *q++ = ZLIB_FLG;
    uint32_t adler = 1;
    size_t done = 0, y = 0, x = 0; /* position in the filtered raw stream: row y, byte x of that row */
    while (done < raw) {
        size_t n = raw - done < STORED_MAX ? raw - done : STORED_MAX;
        *q++ = (done + n == raw) ? 1 : 0; /* BFINAL on the last block, BTYPE 00 = stored */
        q[0] = (uint8_t)n;
        q[1] = (uint8_t)(n >> 8);
        q[2] = (uint8_t)~n;
        q[3] = (uint8_t)(~n >> 8);
        q += 4;
        uint8_t *blk = q;
        for (size_t k = 0; k < n; k++) {
            *q++ = x == 0 ? 0 : px[y * (row - 1) + x - 1]; /* filter type 0 (None) at row start */
            if (++x == row) {
                x = 0;
                y++;
            }
        }
        adler = elbo_adler32_update(adler, blk, n);
        done += n;
    }
    be32_put(q, adler);
    q += 4;
    p += put_chunk(p, "IDAT", z, (size_t)(q - z));
    p += put_chunk(p, "IEND", NULL, 0);
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

elbo_status elbo_png_write_grid(const char *path, const float *images, size_t n, int rows, int cols, int grid_rows,
                                int grid_cols, int pad, float pad_value)
{
    if (rows < 1 || cols < 1 || grid_rows < 1 || grid_cols < 1 || pad < 0 || pad > ELBO_PNG_MAX_SIDE ||
        rows > ELBO_PNG_MAX_SIDE || cols > ELBO_PNG_MAX_SIDE || grid_rows > ELBO_PNG_MAX_SIDE ||
        grid_cols > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_INVALID, "%s: grid: expected positive tile and grid sizes, got %dx%d tiles in %dx%d",
                         path, rows, cols, grid_rows, grid_cols);
    long long w = (long long)grid_cols * cols + (long long)(grid_cols + 1) * pad;
    long long h = (long long)grid_rows * rows + (long long)(grid_rows + 1) * pad;
    if (w > ELBO_PNG_MAX_SIDE || h > ELBO_PNG_MAX_SIDE)
        return elbo_fail(ELBO_ERR_INVALID, "%s: grid: expected at most %d px per side, got %lld x %lld", path,
                         ELBO_PNG_MAX_SIDE, w, h);
    float *canvas = malloc((size_t)w * (size_t)h * sizeof(float));
    if (!canvas)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate the grid", path);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        canvas[i] = pad_value;
    size_t tile = (size_t)rows * (size_t)cols;
    for (size_t t = 0; t < n && t < (size_t)grid_rows * (size_t)grid_cols; t++) {
        size_t gr = t / (size_t)grid_cols, gc = t % (size_t)grid_cols;
        size_t y0 = (size_t)pad + gr * (size_t)(rows + pad), x0 = (size_t)pad + gc * (size_t)(cols + pad);
        for (int r = 0; r < rows; r++)
            memcpy(canvas + (y0 + (size_t)r) * (size_t)w + x0, images + t * tile + (size_t)r * (size_t)cols,
                   (size_t)cols * sizeof(float));
    }
    elbo_status st = elbo_png_write_gray(path, canvas, (int)w, (int)h);
    free(canvas);
    return st;
}

/* ---- decoder for stored-block PNGs ---- */

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

elbo_status elbo_png_decode_stored(const char *name, const uint8_t *buf, size_t len, uint8_t **px, int *width,
                                   int *height, int *channels)
{
    *px = NULL;
    *width = *height = *channels = 0;
    if (len < sizeof PNG_SIG || memcmp(buf, PNG_SIG, sizeof PNG_SIG) != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad signature: expected a PNG file", name);
    size_t pos = sizeof PNG_SIG;
    bytes z = {0}, raw = {0};
    elbo_status st = ELBO_OK;
    uint32_t w = 0, h = 0;
    int ch = 0, seen_ihdr = 0, seen_iend = 0;
    while (!seen_iend) {
        if (len - pos < CHUNK_OVERHEAD) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: truncated at byte %zu: expected a chunk, got %zu bytes", name, pos,
                           len - pos);
            goto fail;
        }
        uint32_t n = be32_get(buf + pos);
        const uint8_t *type = buf + pos + 4, *data = buf + pos + 8;
        char tname[5];
        elbo_excerpt(tname, sizeof tname, (const char *)type, 4);
        if (n > CHUNK_MAX || n > len - pos - CHUNK_OVERHEAD) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: chunk '%s' at byte %zu: expected at most %zu data bytes, got %u",
                           name, tname, pos, len - pos - CHUNK_OVERHEAD, n);
            goto fail;
        }
        uint32_t want = be32_get(data + n), got = elbo_crc32(type, (size_t)n + 4);
        if (want != got) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: chunk '%s' CRC: expected 0x%08x, got 0x%08x", name,
                           tname, want, got);
            goto fail;
        }
        if (!seen_ihdr && memcmp(type, "IHDR", 4) != 0) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: first chunk: expected IHDR, got '%s'", name, tname);
            goto fail;
        }
        if (memcmp(type, "IHDR", 4) == 0) {
            if (seen_ihdr || n != IHDR_LEN) {
                st = elbo_fail(ELBO_ERR_FORMAT, "%s: IHDR: expected one chunk of %d bytes, got %u", name, IHDR_LEN, n);
                goto fail;
            }
            seen_ihdr = 1;
            w = be32_get(data);
            h = be32_get(data + 4);
            ch = data[9] == COLOR_GRAY ? 1 : data[9] == COLOR_RGB ? 3 : 0;
            if (data[8] != BIT_DEPTH || !ch || data[10] || data[11] || data[12]) {
                st = elbo_fail(ELBO_ERR_UNSUPPORTED,
                               "%s: IHDR: expected 8-bit gray or RGB, no interlace; got depth %d, colour type %d", name,
                               data[8], data[9]);
                goto fail;
            }
            if (w < 1 || h < 1 || w > ELBO_PNG_MAX_SIDE || h > ELBO_PNG_MAX_SIDE) {
                st = elbo_fail(ELBO_ERR_FORMAT, "%s: IHDR: expected 1..%d px per side, got %u x %u", name,
                               ELBO_PNG_MAX_SIDE, w, h);
                goto fail;
            }
        } else if (memcmp(type, "IDAT", 4) == 0) {
            if (!bytes_add(&z, data, n)) {
                st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
                goto fail;
            }
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_iend = 1;
        } else if (!(type[0] & 0x20)) { /* lower-case first letter = ancillary, safe to skip */
            st = elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: critical chunk '%s' not supported", name, tname);
            goto fail;
        }
        pos += (size_t)n + CHUNK_OVERHEAD;
    }
    if (z.n < 2 + 4 || (z.p[0] >> 4) > ZLIB_MAX_CINFO || (z.p[0] & 0x0F) != ZLIB_CM_DEFLATE || (z.p[1] & ZLIB_FDICT) ||
        ((unsigned)z.p[0] * 256 + z.p[1]) % ZLIB_CHECK_MOD != 0) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: IDAT: expected a zlib stream, got %zu bytes", name, z.n);
        goto fail;
    }
    size_t zp = 2, zend = z.n - 4;
    for (int final = 0; !final;) {
        if (zend - zp < STORED_HDR) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: truncated block header at byte %zu", name, zp);
            goto fail;
        }
        uint8_t hdr = z.p[zp];
        final = hdr & 1;
        if ((hdr >> 1) & 3) {
            st = elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: deflate block type %d: only stored (0) blocks are decoded", name,
                           (hdr >> 1) & 3);
            goto fail;
        }
        size_t bl = z.p[zp + 1] | ((size_t)z.p[zp + 2] << 8), nl = z.p[zp + 3] | ((size_t)z.p[zp + 4] << 8);
        if ((bl ^ nl) != 0xFFFF) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: stored block LEN/NLEN: expected complements, got %04zx/%04zx", name,
                           bl, nl);
            goto fail;
        }
        zp += STORED_HDR;
        if (zend - zp < bl) {
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: stored block: expected %zu bytes, got %zu", name, bl, zend - zp);
            goto fail;
        }
        if (!bytes_add(&raw, z.p + zp, bl)) {
            st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        zp += bl;
    }
    if (zp != zend) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: zlib: %zu bytes after the final block", name, zend - zp);
        goto fail;
    }
    uint32_t want = be32_get(z.p + zend), got = elbo_adler32_update(1, raw.p, raw.n);
    if (want != got) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: Adler-32: expected 0x%08x, got 0x%08x", name, want, got);
        goto fail;
    }
    size_t row = 1 + (size_t)w * (size_t)ch;
    if (raw.n != row * h) {
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: pixel data: expected %zu bytes, got %zu", name, row * h, raw.n);
        goto fail;
    }
    uint8_t *out = malloc((size_t)w * h * (size_t)ch);
    if (!out) {
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    for (size_t y = 0; y < h; y++) {
        if (raw.p[y * row] != 0) {
            free(out);
            st = elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: row %zu filter: expected 0 (None), got %d", name, y,
                           raw.p[y * row]);
            goto fail;
        }
        memcpy(out + y * (row - 1), raw.p + y * row + 1, row - 1);
    }
    *px = out;
    *width = (int)w;
    *height = (int)h;
    *channels = ch;
fail:
    free(z.p);
    free(raw.p);
    return st;
}
