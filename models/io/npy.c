#include "models/io/npy.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/excerpt.h"
#include "models/io/halfs.h"

static const uint8_t NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define PREAMBLE_V1 10 /* magic, version (2), header length (2) */
#define PREAMBLE_V2 12 /* header length (4) */
#define HEADER_ALIGN 64
/* Elements converted per read in the chunked readers. */
#define CHUNK_BYTES 65536

/* ---- the header dict ---- */

typedef struct lexer {
    const char *p, *end;
} lexer;

static void skip_ws(lexer *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

static int eat(lexer *l, char c)
{
    skip_ws(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes into out (cap bytes). */
static int lex_string(lexer *l, char *out, size_t cap)
{
    skip_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
        return 0;
    char q = *l->p++;
    size_t k = 0;
    while (l->p < l->end && *l->p != q) {
        if (*l->p == '\\' || k + 1 >= cap)
            return 0;
        out[k++] = *l->p++;
    }
    if (l->p >= l->end)
        return 0;
    l->p++;
    out[k] = '\0';
    return 1;
}

static int lex_word(lexer *l, const char *w)
{
    skip_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0)
        return 0;
    l->p += n;
    return 1;
}

static int lex_uint(lexer *l, uint64_t *v)
{
    skip_ws(l);
    if (l->p >= l->end || !isdigit((unsigned char)*l->p))
        return 0;
    uint64_t x = 0;
    while (l->p < l->end && isdigit((unsigned char)*l->p)) {
        if (__builtin_mul_overflow(x, 10u, &x) || __builtin_add_overflow(x, (uint64_t)(*l->p - '0'), &x))
            return 0;
        l->p++;
    }
    if (l->p < l->end && *l->p == 'L') /* Python 2 long */
        l->p++;
    *v = x;
    return 1;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static int lex_shape(lexer *l, elbo_npy_info *info)
{
    if (!eat(l, '('))
        return 0;
    info->ndim = 0;
    if (eat(l, ')'))
        return 1;
    for (;;) {
        if (info->ndim == ELBO_NPY_MAX_DIMS || !lex_uint(l, &info->shape[info->ndim]))
            return 0;
        info->ndim++;
        if (eat(l, ')'))
            return 1;
        if (!eat(l, ','))
            return 0;
        if (eat(l, ')'))
            return 1;
    }
}

static elbo_status parse_descr(const char *name, const char *d, elbo_npy_info *info)
{
    char shown[ELBO_EXCERPT_MAX + 1];
    size_t n = strlen(d), keep = n < sizeof info->descr - 1 ? n : sizeof info->descr - 1;
    memcpy(info->descr, d, keep);
    info->descr[keep] = '\0';
    const char *t = d;
    char order = '=';
    if (n && strchr("<>|=", d[0]))
        order = *t++;
    static const struct {
        char code;
        elbo_npy_kind kind;
    } kinds[] = {{'b', ELBO_NPY_BOOL}, {'u', ELBO_NPY_UINT}, {'i', ELBO_NPY_INT}, {'f', ELBO_NPY_FLOAT}};
    int k = -1;
    for (int i = 0; i < 4; i++)
        if (t[0] == kinds[i].code)
            k = i;
    int size = (t[0] && t[1] >= '1' && t[1] <= '8' && t[2] == '\0') ? t[1] - '0' : 0;
    int ok = k >= 0 && (size == 1 || size == 2 || size == 4 || size == 8);
    if (ok && kinds[k].kind == ELBO_NPY_BOOL)
        ok = size == 1;
    if (ok && kinds[k].kind == ELBO_NPY_FLOAT)
        ok = size >= 2;
    if (!ok)
        return elbo_fail(ELBO_ERR_UNSUPPORTED,
                         "%s: dtype '%s': expected bool, (u)int8..64 or float16/32/64 (structured and object "
                         "arrays are not supported)",
                         name, elbo_excerpt(shown, sizeof shown, d, n));
    info->kind = kinds[k].kind;
    info->itemsize = size;
    info->big_endian = order == '>' && size > 1;
    return ELBO_OK;
}

/* The dict text h[0..n) into info. */
static elbo_status parse_dict(const char *name, const char *h, size_t n, elbo_npy_info *info)
{
    lexer l = {h, h + n};
    int have_descr = 0, have_order = 0, have_shape = 0;
    bool fortran = false;
    char key[32], descr[64];
    if (!eat(&l, '{')) {
        char shown[ELBO_EXCERPT_MAX + 1];
        return elbo_fail(ELBO_ERR_FORMAT, "%s: header: expected a Python dict, got '%s'", name,
                         elbo_excerpt(shown, sizeof shown, h, n < 8 ? n : 8));
    }
    while (!eat(&l, '}')) {
        if (!lex_string(&l, key, sizeof key) || !eat(&l, ':'))
            return elbo_fail(ELBO_ERR_FORMAT, "%s: header: expected 'key': value at byte %zu", name,
                             (size_t)(l.p - h));
        int dup;
        if (strcmp(key, "descr") == 0) {
            dup = have_descr++;
            if (!lex_string(&l, descr, sizeof descr))
                return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: header: 'descr': expected a simple dtype string "
                                 "(structured arrays are not supported)", name);
        } else if (strcmp(key, "fortran_order") == 0) {
            dup = have_order++;
            if (lex_word(&l, "True"))
                fortran = true;
            else if (!lex_word(&l, "False"))
                return elbo_fail(ELBO_ERR_FORMAT, "%s: header: 'fortran_order': expected True or False", name);
        } else if (strcmp(key, "shape") == 0) {
            dup = have_shape++;
            if (!lex_shape(&l, info))
                return elbo_fail(ELBO_ERR_FORMAT, "%s: header: 'shape': expected a tuple of at most %d sizes", name,
                                 ELBO_NPY_MAX_DIMS);
        } else {
            char shown[ELBO_EXCERPT_MAX + 1];
            return elbo_fail(ELBO_ERR_FORMAT, "%s: header: unexpected key '%s'", name,
                             elbo_excerpt(shown, sizeof shown, key, strlen(key)));
        }
        if (dup)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: header: key '%s' appears twice", name, key);
        if (!eat(&l, ',')) {
            if (!eat(&l, '}'))
                return elbo_fail(ELBO_ERR_FORMAT, "%s: header: expected ',' or '}' at byte %zu", name,
                                 (size_t)(l.p - h));
            break;
        }
    }
    skip_ws(&l);
    if (l.p != l.end)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: header: unexpected text after the dict", name);
    if (!have_descr || !have_order || !have_shape)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: header: expected keys 'descr', 'fortran_order' and 'shape'", name);
    elbo_status st = parse_descr(name, descr, info);
    if (st != ELBO_OK)
        return st;
    info->count = 1;
    for (int i = 0; i < info->ndim; i++)
        if (__builtin_mul_overflow(info->count, info->shape[i], &info->count))
            return elbo_fail(ELBO_ERR_FORMAT, "%s: shape: the product of the dimensions overflows", name);
    if (fortran && info->ndim > 1) {
        int many = 0;
        for (int i = 0; i < info->ndim; i++)
            many += info->shape[i] > 1;
        if (many > 1) /* a 1-D (or effectively 1-D) array is the same in either order */
            return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: Fortran-order array: expected C order "
                             "(np.ascontiguousarray before np.save)", name);
    }
    return ELBO_OK;
}

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

elbo_status elbo_npy_info_read(const elbo_source *src, elbo_npy_info *info)
{
    memset(info, 0, sizeof *info);
    const char *name = src->name;
    uint8_t pre[PREAMBLE_V2];
    if (src->size < PREAMBLE_V1)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: expected a .npy header of at least %d bytes, got %llu", name,
                         PREAMBLE_V1, (unsigned long long)src->size);
    elbo_status st = elbo_source_read(src, 0, pre, PREAMBLE_V1, "the .npy preamble");
    if (st != ELBO_OK)
        return st;
    if (memcmp(pre, NPY_MAGIC, sizeof NPY_MAGIC) != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad magic: expected a .npy file (\\x93NUMPY)", name);
    int major = pre[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = le16(pre + 8);
        start = PREAMBLE_V1;
    } else if (major == 2 || major == 3) {
        if ((st = elbo_source_read(src, 0, pre, PREAMBLE_V2, "the .npy preamble")) != ELBO_OK)
            return st;
        hlen = le32(pre + 8);
        start = PREAMBLE_V2;
    } else {
        return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: .npy format version %d.%d: expected 1.0, 2.0 or 3.0", name, major,
                         pre[7]);
    }
    if (hlen > ELBO_NPY_MAX_HEADER)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: header length %zu: expected at most %d", name, hlen,
                         ELBO_NPY_MAX_HEADER);
    if (src->size - start < hlen)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated header: expected %zu bytes, got %llu", name, hlen,
                         (unsigned long long)(src->size - start));
    char *h = malloc(hlen + 1);
    if (!h)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
    st = elbo_source_read(src, start, h, hlen, "the .npy header");
    if (st == ELBO_OK)
        st = parse_dict(name, h, hlen, info);
    free(h);
    if (st != ELBO_OK)
        return st;
    info->data_offset = start + hlen;
    uint64_t bytes, have = src->size - info->data_offset;
    if (__builtin_mul_overflow(info->count, (uint64_t)info->itemsize, &bytes))
        return elbo_fail(ELBO_ERR_FORMAT, "%s: shape: %llu elements of %d bytes overflow", name,
                         (unsigned long long)info->count, info->itemsize);
    if (have != bytes)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: %s: expected %llu data bytes for the shape in the header, got %llu",
                         name, have < bytes ? "truncated" : "trailing data", (unsigned long long)bytes,
                         (unsigned long long)have);
    return ELBO_OK;
}

elbo_status elbo_npy_info_parse(const char *name, const uint8_t *buf, size_t len, elbo_npy_info *info)
{
    elbo_source s;
    elbo_source_memory(&s, name, buf, len);
    return elbo_npy_info_read(&s, info);
}

const char *elbo_npy_type_name(const elbo_npy_info *info)
{
    static const char *const names[4][4] = {{"bool", "?", "?", "?"},
                                            {"uint8", "uint16", "uint32", "uint64"},
                                            {"int8", "int16", "int32", "int64"},
                                            {"?", "float16", "float32", "float64"}};
    int s = info->itemsize == 1 ? 0 : info->itemsize == 2 ? 1 : info->itemsize == 4 ? 2 : 3;
    return names[info->kind][s];
}

/* ---- element conversion ---- */

/* Element bytes in little-endian order. */
static uint64_t raw_bits(const elbo_npy_info *info, const uint8_t *p)
{
    uint64_t v = 0;
    for (int b = 0; b < info->itemsize; b++) {
        int k = info->big_endian ? info->itemsize - 1 - b : b;
        v |= (uint64_t)p[k] << (8 * b);
    }
    return v;
}

static float element_f32(const elbo_npy_info *info, const uint8_t *p)
{
    uint64_t b = raw_bits(info, p);
    if (info->itemsize == 2)
        return elbo_f16_to_f32((uint32_t)b);
    if (info->itemsize == 4) {
        uint32_t u = (uint32_t)b;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    double d;
    memcpy(&d, &b, 8);
    return (float)d;
}

/* Integer or bool element; *neg set for a negative signed value. */
static uint64_t element_uint(const elbo_npy_info *info, const uint8_t *p, int *neg)
{
    uint64_t b = raw_bits(info, p);
    *neg = 0;
    if (info->kind == ELBO_NPY_INT && info->itemsize < 8 && (b >> (8 * info->itemsize - 1)) & 1)
        *neg = 1;
    if (info->kind == ELBO_NPY_INT && info->itemsize == 8 && (b >> 63))
        *neg = 1;
    return b;
}

/* Check first + n lies inside the array. */
static elbo_status check_range(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n)
{
    if (first > info->count || n > info->count - first)
        return elbo_fail(ELBO_ERR_INVALID, "%s: elements %llu..%llu beyond the %llu in the array", src->name,
                         (unsigned long long)first, (unsigned long long)(first + n),
                         (unsigned long long)info->count);
    return ELBO_OK;
}

elbo_status elbo_npy_read_u8(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n,
                             uint8_t *dst)
{
    elbo_status st = check_range(src, info, first, n);
    if (st != ELBO_OK)
        return st;
    if (info->kind == ELBO_NPY_FLOAT)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: expected an integer or bool array, got %s", src->name,
                         elbo_npy_type_name(info));
    uint64_t off = info->data_offset + first * (uint64_t)info->itemsize;
    if (info->itemsize == 1 && info->kind == ELBO_NPY_UINT) /* the common case: straight in */
        return elbo_source_read(src, off, dst, n, "the array data");
    uint8_t buf[CHUNK_BYTES];
    size_t per = CHUNK_BYTES / (size_t)info->itemsize;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        if ((st = elbo_source_read(src, off + i * (size_t)info->itemsize, buf, m * (size_t)info->itemsize,
                                   "the array data")) != ELBO_OK)
            return st;
        for (size_t k = 0; k < m; k++) {
            int neg;
            uint64_t v = element_uint(info, buf + k * (size_t)info->itemsize, &neg);
            if (neg || v > UINT8_MAX)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: element %llu: expected a value in 0..255, got %s%llu",
                                 src->name, (unsigned long long)(first + i + k), neg ? "a negative " : "",
                                 neg ? 0ull : (unsigned long long)v);
            dst[i + k] = (uint8_t)v;
        }
    }
    return ELBO_OK;
}

elbo_status elbo_npy_read_f32(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n,
                              float *dst)
{
    elbo_status st = check_range(src, info, first, n);
    if (st != ELBO_OK)
        return st;
    if (info->kind != ELBO_NPY_FLOAT)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: expected a float array, got %s", src->name, elbo_npy_type_name(info));
    uint64_t off = info->data_offset + first * (uint64_t)info->itemsize;
    uint8_t buf[CHUNK_BYTES];
    size_t per = CHUNK_BYTES / (size_t)info->itemsize;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        if ((st = elbo_source_read(src, off + i * (size_t)info->itemsize, buf, m * (size_t)info->itemsize,
                                   "the array data")) != ELBO_OK)
            return st;
        for (size_t k = 0; k < m; k++)
            dst[i + k] = element_f32(info, buf + k * (size_t)info->itemsize);
    }
    return ELBO_OK;
}

/* One element as a double: exact for every float and for integers up to 2^53. */
static bool element_f64(const elbo_npy_info *info, const uint8_t *p, double *out)
{
    if (info->kind == ELBO_NPY_FLOAT) {
        if (info->itemsize == 8) {
            uint64_t b = raw_bits(info, p);
            memcpy(out, &b, 8);
        } else {
            *out = element_f32(info, p);
        }
        return true;
    }
    int neg;
    uint64_t v = element_uint(info, p, &neg);
    if (neg) { /* two's complement of the item's width, widened */
        uint64_t mag = info->itemsize == 8 ? ~v + 1 : ((uint64_t)1 << (8 * info->itemsize)) - v;
        if (mag > ((uint64_t)1 << 53))
            return false;
        *out = -(double)mag;
        return true;
    }
    if (v > ((uint64_t)1 << 53))
        return false;
    *out = (double)v;
    return true;
}

elbo_status elbo_npy_read_f64(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n,
                              double *dst)
{
    elbo_status st = check_range(src, info, first, n);
    if (st != ELBO_OK)
        return st;
    uint64_t off = info->data_offset + first * (uint64_t)info->itemsize;
    uint8_t buf[CHUNK_BYTES];
    size_t per = CHUNK_BYTES / (size_t)info->itemsize;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        if ((st = elbo_source_read(src, off + i * (size_t)info->itemsize, buf, m * (size_t)info->itemsize,
                                   "the array data")) != ELBO_OK)
            return st;
        for (size_t k = 0; k < m; k++)
            if (!element_f64(info, buf + k * (size_t)info->itemsize, dst + i + k))
                return elbo_fail(ELBO_ERR_FORMAT, "%s: element %llu: an integer beyond 2^53 has no exact double",
                                 src->name, (unsigned long long)(first + i + k));
    }
    return ELBO_OK;
}

/* ---- writer ---- */

elbo_status elbo_npy_writer_open(elbo_npy_writer *w, const char *path, const char *descr, const uint64_t *shape,
                                 int ndim)
{
    memset(w, 0, sizeof *w);
    if (strcmp(descr, "<f4") != 0 && strcmp(descr, "|u1") != 0)
        return elbo_fail(ELBO_ERR_INVALID, "%s: npy writer: expected descr '<f4' or '|u1', got '%s'", path, descr);
    if (ndim < 0 || ndim > ELBO_NPY_MAX_DIMS)
        return elbo_fail(ELBO_ERR_INVALID, "%s: npy writer: expected 0..%d dimensions, got %d", path,
                         ELBO_NPY_MAX_DIMS, ndim);
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%llu,%s", (unsigned long long)shape[i],
                      i + 1 < ndim ? " " : "");
        if (__builtin_mul_overflow(count, shape[i], &count))
            return elbo_fail(ELBO_ERR_INVALID, "%s: npy writer: shape overflows", path);
    }
    if (ndim > 1)
        k--; /* numpy writes (a, b) but (a,) */
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    /* Pad with spaces so the data starts on a 64-byte boundary; end in '\n'. */
    size_t total = PREAMBLE_V1 + (size_t)k + 1, pad = (HEADER_ALIGN - total % HEADER_ALIGN) % HEADER_ALIGN;
    size_t hlen = (size_t)k + pad + 1;
    uint8_t pre[PREAMBLE_V1] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hlen, (uint8_t)(hlen >> 8)};
    elbo_status st = elbo_afile_open(&w->file, path);
    if (st != ELBO_OK)
        return st;
    elbo_afile_write(&w->file, pre, sizeof pre);
    elbo_afile_write(&w->file, dict, (size_t)k);
    for (size_t i = 0; i < pad; i++)
        elbo_afile_write(&w->file, " ", 1);
    elbo_afile_write(&w->file, "\n", 1);
    w->want = count;
    w->itemsize = descr[1] == 'f' ? 4 : 1;
    return w->file.status;
}

elbo_status elbo_npy_writer_put(elbo_npy_writer *w, const void *data, size_t n)
{
    if (n > w->want - w->done) {
        w->file.status = elbo_fail(ELBO_ERR_INVALID, "%s: npy writer: more elements than the shape holds",
                                   w->file.path);
        return w->file.status;
    }
    w->done += n;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (w->itemsize == 4) {
        const uint8_t *p = data;
        for (size_t i = 0; i < n; i++) {
            uint8_t b[4] = {p[4 * i + 3], p[4 * i + 2], p[4 * i + 1], p[4 * i]};
            elbo_afile_write(&w->file, b, 4);
        }
        return w->file.status;
    }
#endif
    return elbo_afile_write(&w->file, data, n * (size_t)w->itemsize);
}

elbo_status elbo_npy_writer_close(elbo_npy_writer *w)
{
    if (w->file.status == ELBO_OK && w->done != w->want)
        w->file.status = elbo_fail(ELBO_ERR_INVALID, "%s: npy writer: %llu of %llu elements written", w->file.path,
                                   (unsigned long long)w->done, (unsigned long long)w->want);
    return elbo_afile_commit(&w->file);
}

void elbo_npy_writer_abort(elbo_npy_writer *w) { elbo_afile_abort(&w->file); }

elbo_status elbo_npy_write_f32(const char *path, const float *data, const uint64_t *shape, int ndim)
{
    elbo_npy_writer w;
    elbo_status st = elbo_npy_writer_open(&w, path, "<f4", shape, ndim);
    if (st != ELBO_OK) {
        elbo_npy_writer_abort(&w);
        return st;
    }
    elbo_npy_writer_put(&w, data, (size_t)w.want);
    return elbo_npy_writer_close(&w);
}
