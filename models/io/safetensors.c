#include "models/io/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/excerpt.h"
#include "models/io/file.h"
#include "models/io/halfs.h"
#include "models/io/json_read.h"

#define LEN_BYTES 8
#define HEADER_ALIGN 8
#define METADATA_KEY "__metadata__"
/* Elements converted per read. */
#define CHUNK_ELEMS 16384

static const struct {
    const char *name;
    elbo_st_dtype d;
    int size;
} DTYPES[] = {
    {"F32", ELBO_ST_F32, 4},   {"F16", ELBO_ST_F16, 2},   {"BF16", ELBO_ST_BF16, 2}, {"F64", ELBO_ST_F64, 8},
    {"BOOL", ELBO_ST_BOOL, 1}, {"U8", ELBO_ST_U8, 1},     {"I8", ELBO_ST_I8, 1},     {"I16", ELBO_ST_I16, 2},
    {"U16", ELBO_ST_U16, 2},   {"I32", ELBO_ST_I32, 4},   {"U32", ELBO_ST_U32, 4},   {"I64", ELBO_ST_I64, 8},
    {"U64", ELBO_ST_U64, 8},   {"F8_E4M3", ELBO_ST_F8_E4M3, 1}, {"F8_E5M2", ELBO_ST_F8_E5M2, 1},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

const char *elbo_st_dtype_name(elbo_st_dtype d)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].d == d)
            return DTYPES[i].name;
    return "?";
}

static int dtype_size(elbo_st_dtype d)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].d == d)
            return DTYPES[i].size;
    return 0;
}

void elbo_safetensors_close(elbo_safetensors *f)
{
    elbo_source_close(&f->src);
    free(f->t);
    for (size_t i = 0; i < f->n_meta; i++)
        free(f->meta_keys[i]), free(f->meta_values[i]);
    free(f->meta_keys);
    free(f->meta_values);
    memset(f, 0, sizeof *f);
    f->src.fd = -1;
}

static elbo_status bad(const elbo_safetensors *f, const char *tensor, const char *what)
{
    char shown[ELBO_EXCERPT_MAX + 1];
    if (tensor)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: tensor '%s': %s", f->src.name,
                         elbo_excerpt(shown, sizeof shown, tensor, strlen(tensor)), what);
    return elbo_fail(ELBO_ERR_FORMAT, "%s: %s", f->src.name, what);
}

static elbo_status read_metadata(elbo_safetensors *f, const elbo_jv *m)
{
    if (m->type != ELBO_JV_OBJECT)
        return bad(f, NULL, "__metadata__: expected an object of strings");
    f->meta_keys = calloc(m->n ? m->n : 1, sizeof(char *));
    f->meta_values = calloc(m->n ? m->n : 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", f->src.name);
    for (size_t i = 0; i < m->n; i++) {
        if (m->items[i].type != ELBO_JV_STRING)
            return bad(f, NULL, "__metadata__: expected string values");
        f->meta_keys[i] = strdup(m->keys[i]);
        f->meta_values[i] = strdup(m->items[i].str);
        f->n_meta = i + 1;
        if (!f->meta_keys[i] || !f->meta_values[i])
            return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", f->src.name);
    }
    return ELBO_OK;
}

static elbo_status read_tensor(elbo_safetensors *f, const char *name, const elbo_jv *v, elbo_st_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (strlen(name) > ELBO_ST_NAME_MAX)
        return bad(f, name, "name longer than 255 bytes");
    snprintf(t->name, sizeof t->name, "%s", name);
    if (v->type != ELBO_JV_OBJECT || v->n != 3)
        return bad(f, name, "expected {\"dtype\", \"shape\", \"data_offsets\"}");
    const elbo_jv *dt = elbo_jv_get(v, "dtype"), *sh = elbo_jv_get(v, "shape"), *off = elbo_jv_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return bad(f, name, "expected {\"dtype\", \"shape\", \"data_offsets\"}");
    int size = 0;
    for (size_t i = 0; dt->type == ELBO_JV_STRING && i < N_DTYPES; i++)
        if (strcmp(dt->str, DTYPES[i].name) == 0)
            t->dtype = DTYPES[i].d, size = DTYPES[i].size;
    if (!size)
        return bad(f, name, "unknown dtype");
    if (sh->type != ELBO_JV_ARRAY || sh->n > ELBO_ST_MAX_DIMS)
        return bad(f, name, "shape: expected an array of at most 8 sizes");
    t->ndim = (int)sh->n;
    t->count = 1;
    for (size_t i = 0; i < sh->n; i++) {
        if (sh->items[i].type != ELBO_JV_NUMBER || !sh->items[i].is_uint)
            return bad(f, name, "shape: expected non-negative integers");
        t->shape[i] = sh->items[i].u;
        if (__builtin_mul_overflow(t->count, t->shape[i], &t->count))
            return bad(f, name, "shape: the element count overflows");
    }
    if (off->type != ELBO_JV_ARRAY || off->n != 2 || off->items[0].type != ELBO_JV_NUMBER || !off->items[0].is_uint ||
        off->items[1].type != ELBO_JV_NUMBER || !off->items[1].is_uint)
        return bad(f, name, "data_offsets: expected [begin, end]");
    t->begin = off->items[0].u;
    t->end = off->items[1].u;
    uint64_t bytes;
    if (t->end < t->begin || __builtin_mul_overflow(t->count, (uint64_t)size, &bytes) || bytes != t->end - t->begin) {
        char what[160];
        snprintf(what, sizeof what, "data_offsets [%llu, %llu] do not hold %llu elements of %s",
                 (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)t->count, dt->str);
        return bad(f, name, what);
    }
    return ELBO_OK;
}

static int by_begin(const void *a, const void *b)
{
    const elbo_st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static elbo_status read_header(elbo_safetensors *f)
{
    uint8_t lb[LEN_BYTES];
    const char *name = f->src.name;
    if (f->src.size < LEN_BYTES)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: expected an 8-byte header length, got %llu bytes", name,
                         (unsigned long long)f->src.size);
    elbo_status st = elbo_source_read(&f->src, 0, lb, LEN_BYTES, "the header length");
    if (st != ELBO_OK)
        return st;
    uint64_t n = 0;
    for (int i = 0; i < LEN_BYTES; i++)
        n |= (uint64_t)lb[i] << (8 * i);
    if (n > ELBO_ST_MAX_HEADER || n > f->src.size - LEN_BYTES)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: header of %llu bytes overruns the %llu-byte file (or the %u-byte limit)",
                         name, (unsigned long long)n, (unsigned long long)f->src.size, ELBO_ST_MAX_HEADER);
    char *h = malloc(n ? n : 1);
    if (!h)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory for a %llu-byte header", name, (unsigned long long)n);
    if ((st = elbo_source_read(&f->src, LEN_BYTES, h, n, "the header")) != ELBO_OK) {
        free(h);
        return st;
    }
    f->data_start = LEN_BYTES + n;
    elbo_jv *root = NULL;
    if (n == 0 || h[0] != '{')
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: header: expected a JSON object", name);
    else
        st = elbo_jv_parse(name, h, n, &root);
    free(h);
    if (st != ELBO_OK)
        return st;
    f->t = calloc(root->n ? root->n : 1, sizeof *f->t);
    if (!f->t)
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < root->n && st == ELBO_OK; i++) {
        if (strcmp(root->keys[i], METADATA_KEY) == 0)
            st = read_metadata(f, &root->items[i]);
        else if ((st = read_tensor(f, root->keys[i], &root->items[i], &f->t[f->n])) == ELBO_OK)
            f->n++;
    }
    elbo_jv_free(root);
    if (st != ELBO_OK)
        return st;
    /* The tensors tile the data buffer: sorted by offset, each starts where the last ended. */
    uint64_t buffer = f->src.size - f->data_start, at = 0;
    elbo_st_tensor *sorted = malloc((f->n ? f->n : 1) * sizeof *sorted);
    if (!sorted)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
    memcpy(sorted, f->t, f->n * sizeof *sorted);
    qsort(sorted, f->n, sizeof *sorted, by_begin);
    for (size_t i = 0; i < f->n && st == ELBO_OK; i++) {
        if (sorted[i].begin != at)
            st = bad(f, sorted[i].name, sorted[i].begin < at ? "overlaps the tensor before it"
                                                            : "leaves a gap after the tensor before it");
        at = sorted[i].end;
    }
    free(sorted);
    if (st == ELBO_OK && at != buffer)
        st = elbo_fail(ELBO_ERR_FORMAT, "%s: the tensors hold %llu data bytes, the file has %llu after the header",
                       name, (unsigned long long)at, (unsigned long long)buffer);
    return st;
}

elbo_status elbo_safetensors_open(const char *path, elbo_safetensors *f)
{
    memset(f, 0, sizeof *f);
    elbo_status st = elbo_source_open(&f->src, path);
    if (st == ELBO_OK && (st = read_header(f)) != ELBO_OK)
        elbo_safetensors_close(f);
    return st;
}

elbo_status elbo_safetensors_parse(const char *name, const uint8_t *buf, size_t len, elbo_safetensors *f)
{
    memset(f, 0, sizeof *f);
    elbo_source_memory(&f->src, name, buf, len);
    elbo_status st = read_header(f);
    if (st != ELBO_OK)
        elbo_safetensors_close(f);
    return st;
}

const elbo_st_tensor *elbo_safetensors_find(const elbo_safetensors *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

const char *elbo_safetensors_meta(const elbo_safetensors *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

/* ---- conversions ---- */

uint16_t elbo_f32_to_bf16(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float elbo_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static uint64_t le_bits(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

elbo_status elbo_safetensors_read_f32(const elbo_safetensors *f, const elbo_st_tensor *t, float *dst)
{
    int size = dtype_size(t->dtype);
    char shown[ELBO_EXCERPT_MAX + 1];
    if (t->dtype != ELBO_ST_F32 && t->dtype != ELBO_ST_F16 && t->dtype != ELBO_ST_BF16 && t->dtype != ELBO_ST_F64)
        return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s: expected F32, F16, BF16 or F64",
                         f->src.name, elbo_excerpt(shown, sizeof shown, t->name, strlen(t->name)),
                         elbo_st_dtype_name(t->dtype));
    uint8_t *buf = malloc((size_t)CHUNK_ELEMS * (size_t)size);
    if (!buf)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", f->src.name);
    elbo_status st = ELBO_OK;
    for (uint64_t i = 0; i < t->count && st == ELBO_OK; i += CHUNK_ELEMS) {
        size_t m = t->count - i < CHUNK_ELEMS ? (size_t)(t->count - i) : CHUNK_ELEMS;
        st = elbo_source_read(&f->src, f->data_start + t->begin + i * (uint64_t)size, buf, m * (size_t)size,
                              "a tensor's data");
        for (size_t k = 0; k < m && st == ELBO_OK; k++) {
            uint64_t b = le_bits(buf + k * (size_t)size, size);
            float v;
            if (t->dtype == ELBO_ST_F32) {
                uint32_t u = (uint32_t)b;
                memcpy(&v, &u, 4);
            } else if (t->dtype == ELBO_ST_F16) {
                v = elbo_f16_to_f32((uint32_t)b);
            } else if (t->dtype == ELBO_ST_BF16) {
                v = elbo_bf16_to_f32((uint16_t)b);
            } else {
                double d;
                memcpy(&d, &b, 8);
                v = (float)d;
            }
            dst[i + k] = v;
        }
    }
    free(buf);
    return st;
}

/* ---- writer ---- */

typedef struct text {
    char *p;
    size_t n, cap;
    int nomem;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = t->nomem ? 0 : vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if (t->nomem || (size_t)k < t->cap - t->n) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = t->cap ? 2 * t->cap : 1024;
        while (cap < t->n + (size_t)k + 1)
            cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q) {
            t->nomem = 1;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
}

static void put_string(text *t, const char *s)
{
    put(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(t, "\\%c", c);
        else if (c < 0x20)
            put(t, "\\u%04x", c);
        else
            put(t, "%c", c);
    }
    put(t, "\"");
}

elbo_status elbo_safetensors_write(const char *path, const elbo_st_out *t, size_t n, const char *const *meta_keys,
                                   const char *const *meta_values, size_t n_meta)
{
    text h = {0};
    put(&h, "{");
    if (n_meta) {
        put(&h, "\"" METADATA_KEY "\":{");
        for (size_t i = 0; i < n_meta; i++) {
            put(&h, i ? "," : "");
            put_string(&h, meta_keys[i]);
            put(&h, ":");
            put_string(&h, meta_values[i]);
        }
        put(&h, "}");
    }
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t count = 1;
        if (t[i].ndim < 0 || t[i].ndim > ELBO_ST_MAX_DIMS || strlen(t[i].name) > ELBO_ST_NAME_MAX ||
            !strcmp(t[i].name, METADATA_KEY)) {
            free(h.p);
            return elbo_fail(ELBO_ERR_INVALID, "%s: tensor '%s': bad name or rank", path, t[i].name);
        }
        put(&h, "%s", n_meta || i ? "," : "");
        put_string(&h, t[i].name);
        put(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            put(&h, "%s%llu", d ? "," : "", (unsigned long long)t[i].shape[d]);
            count *= t[i].shape[d];
        }
        put(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at, (unsigned long long)(at + 4 * count));
        at += 4 * count;
    }
    put(&h, "}");
    while (!h.nomem && h.n % HEADER_ALIGN)
        put(&h, " ");
    if (h.nomem) {
        free(h.p);
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", path);
    }
    elbo_afile a;
    elbo_status st = elbo_afile_open(&a, path);
    if (st != ELBO_OK) {
        free(h.p);
        return st;
    }
    uint8_t lb[LEN_BYTES];
    for (int i = 0; i < LEN_BYTES; i++)
        lb[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    elbo_afile_write(&a, lb, sizeof lb);
    elbo_afile_write(&a, h.p, h.n);
    free(h.p);
    for (size_t i = 0; i < n; i++) {
        uint64_t count = 1;
        for (int d = 0; d < t[i].ndim; d++)
            count *= t[i].shape[d];
        for (uint64_t k = 0; k < count; k++) { /* little-endian whatever the host */
            uint32_t u;
            memcpy(&u, &t[i].data[k], 4);
            uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
            elbo_afile_write(&a, b, 4);
        }
    }
    return elbo_afile_commit(&a);
}
