#include "models/io/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/crc.h"
#include "models/io/file.h"

#define MAGIC_LEN 8
#define CRC_LEN 4
/* magic, version, reserved, step, epoch */
#define FIXED_HEADER (MAGIC_LEN + 4 + 4 + 8 + 8)
/* Bytes converted per chunk when writing floats little-endian. */
#define FLOAT_CHUNK 1024
/* Characters of context shown on each side of a configuration difference. */
#define SNIPPET 32

/* Section names are identifiers: printable ASCII only, so they can be quoted in one-line messages. */
static int printable(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return 0;
    return 1;
}

/* ---- writing ---- */

typedef struct writer {
    elbo_afile file;
    uint32_t crc;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    w->crc = elbo_crc32_update(w->crc, p, n);
    elbo_afile_write(&w->file, p, n);
}

static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, sizeof b);
}

static void put_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, sizeof b);
}

static void put_floats(writer *w, const float *x, size_t n)
{
    uint8_t b[FLOAT_CHUNK * 4];
    for (size_t i = 0; i < n; i += FLOAT_CHUNK) {
        size_t m = n - i < FLOAT_CHUNK ? n - i : FLOAT_CHUNK;
        for (size_t k = 0; k < m; k++) {
            uint32_t u;
            memcpy(&u, &x[i + k], 4);
            for (int j = 0; j < 4; j++)
                b[4 * k + (size_t)j] = (uint8_t)(u >> (8 * j));
        }
        put(w, b, 4 * m);
    }
}

/* Reject what could not be read back, before touching the disk. */
static elbo_status check_save_args(const char *path, const elbo_ckpt_meta *meta, const elbo_ckpt_section *sec,
                                   size_t nsec)
{
    size_t clen = meta->config ? strlen(meta->config) : 0;
    if (clen > ELBO_CKPT_MAX_CONFIG)
        return elbo_fail(ELBO_ERR_INVALID, "%s: checkpoint config: expected at most %u bytes, got %zu", path,
                         ELBO_CKPT_MAX_CONFIG, clen);
    if (meta->blob_len > ELBO_CKPT_MAX_BLOB || (meta->blob_len && !meta->blob))
        return elbo_fail(ELBO_ERR_INVALID, "%s: checkpoint blob: expected at most %u bytes, got %zu", path,
                         ELBO_CKPT_MAX_BLOB, meta->blob_len);
    if (nsec > ELBO_CKPT_MAX_SECTIONS)
        return elbo_fail(ELBO_ERR_INVALID, "%s: checkpoint sections: expected at most %d, got %zu", path,
                         ELBO_CKPT_MAX_SECTIONS, nsec);
    for (size_t i = 0; i < nsec; i++) {
        size_t nl = sec[i].name ? strlen(sec[i].name) : 0;
        if (nl == 0 || nl > ELBO_CKPT_NAME_MAX || !printable(sec[i].name, nl))
            return elbo_fail(ELBO_ERR_INVALID, "%s: section %zu name: expected 1..%d printable characters, got %zu bytes",
                             path, i, ELBO_CKPT_NAME_MAX, nl);
        if (sec[i].count && !sec[i].data)
            return elbo_fail(ELBO_ERR_INVALID, "%s: section '%s': no data", path, sec[i].name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(sec[i].name, sec[j].name) == 0)
                return elbo_fail(ELBO_ERR_INVALID, "%s: section '%s' listed twice", path, sec[i].name);
        /* A checkpoint must be a good state to return to. */
        for (size_t k = 0; k < sec[i].count; k++)
            if (!isfinite(sec[i].data[k]))
                return elbo_fail(ELBO_ERR_NONFINITE, "%s: section '%s'[%zu]: expected a finite value, got %g", path,
                                 sec[i].name, k, (double)sec[i].data[k]);
    }
    return ELBO_OK;
}

elbo_status elbo_ckpt_save(const char *path, const elbo_ckpt_meta *meta, const elbo_ckpt_section *sections,
                           size_t nsections)
{
    elbo_status st = check_save_args(path, meta, sections, nsections);
    if (st != ELBO_OK)
        return st;
    writer w = {.crc = 0};
    if ((st = elbo_afile_open(&w.file, path)) != ELBO_OK)
        return st;
    size_t clen = meta->config ? strlen(meta->config) : 0;
    put(&w, ELBO_CKPT_MAGIC, MAGIC_LEN);
    put_u32(&w, ELBO_CKPT_VERSION);
    put_u32(&w, 0);
    put_u64(&w, meta->step);
    put_u64(&w, meta->epoch);
    put_u64(&w, clen);
    put(&w, meta->config ? meta->config : "", clen);
    put_u64(&w, meta->blob_len);
    put(&w, meta->blob, meta->blob_len);
    put_u32(&w, (uint32_t)nsections);
    for (size_t i = 0; i < nsections; i++) {
        size_t nl = strlen(sections[i].name);
        put_u32(&w, (uint32_t)nl);
        put(&w, sections[i].name, nl);
        put_u64(&w, sections[i].count);
        put_floats(&w, sections[i].data, sections[i].count);
    }
    uint32_t crc = w.crc;
    put_u32(&w, crc);
    return elbo_afile_commit(&w.file);
}

/* ---- reading ---- */

typedef struct reader {
    const char *name;
    const uint8_t *p;
    size_t len, pos; /* len excludes the trailing CRC */
} reader;

/* Claim n bytes for `what`; a one-line "truncated" error otherwise. */
static elbo_status take(reader *r, size_t n, const char *what, const uint8_t **out)
{
    if (n > r->len - r->pos)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated or corrupt at byte %zu: expected %zu bytes of %s, got %zu",
                         r->name, r->pos, n, what, r->len - r->pos);
    *out = r->p + r->pos;
    r->pos += n;
    return ELBO_OK;
}

static uint64_t le(const uint8_t *b, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static elbo_status take_u32(reader *r, const char *what, uint32_t *v)
{
    const uint8_t *b = NULL;
    elbo_status st = take(r, 4, what, &b);
    if (st == ELBO_OK)
        *v = (uint32_t)le(b, 4);
    return st;
}

static elbo_status take_u64(reader *r, const char *what, uint64_t *v)
{
    const uint8_t *b = NULL;
    elbo_status st = take(r, 8, what, &b);
    if (st == ELBO_OK)
        *v = le(b, 8);
    return st;
}

/* Walk the body; with out == NULL only validate (no allocation sized by the file). */
static elbo_status walk(reader *r, elbo_ckpt *out)
{
    const uint8_t *b = NULL;
    uint32_t u32;
    uint64_t u64, step, epoch;
    elbo_status st;
    r->pos = MAGIC_LEN + 8; /* magic, version and reserved were checked by the caller */
    if ((st = take_u64(r, "step", &step)) || (st = take_u64(r, "epoch", &epoch)))
        return st;
    if ((st = take_u64(r, "config length", &u64)))
        return st;
    if (u64 > ELBO_CKPT_MAX_CONFIG)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: config length: expected at most %u, got %llu", r->name,
                         ELBO_CKPT_MAX_CONFIG, (unsigned long long)u64);
    if ((st = take(r, (size_t)u64, "config", &b)))
        return st;
    if (memchr(b, 0, (size_t)u64))
        return elbo_fail(ELBO_ERR_FORMAT, "%s: config: expected text, got a NUL byte", r->name);
    if (out) {
        out->step = step;
        out->epoch = epoch;
        out->config_len = (size_t)u64;
        if (!(out->config = malloc((size_t)u64 + 1)))
            return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", r->name);
        memcpy(out->config, b, (size_t)u64);
        out->config[u64] = '\0';
    }
    if ((st = take_u64(r, "blob length", &u64)))
        return st;
    if (u64 > ELBO_CKPT_MAX_BLOB)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: blob length: expected at most %u, got %llu", r->name,
                         ELBO_CKPT_MAX_BLOB, (unsigned long long)u64);
    if ((st = take(r, (size_t)u64, "blob", &b)))
        return st;
    if (out) {
        out->blob_len = (size_t)u64;
        if (!(out->blob = malloc(u64 ? (size_t)u64 : 1)))
            return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", r->name);
        memcpy(out->blob, b, (size_t)u64);
    }
    if ((st = take_u32(r, "section count", &u32)))
        return st;
    if (u32 > ELBO_CKPT_MAX_SECTIONS)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: section count: expected at most %d, got %u", r->name,
                         ELBO_CKPT_MAX_SECTIONS, u32);
    if (out) {
        out->nsections = u32;
        if (!(out->sections = calloc(u32 ? u32 : 1, sizeof *out->sections)))
            return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", r->name);
    }
    size_t nsec = u32;
    for (size_t i = 0; i < nsec; i++) {
        uint32_t nl;
        const uint8_t *name = NULL;
        if ((st = take_u32(r, "section name length", &nl)))
            return st;
        if (nl == 0 || nl > ELBO_CKPT_NAME_MAX)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: section %zu name length: expected 1..%d, got %u", r->name, i,
                             ELBO_CKPT_NAME_MAX, nl);
        if ((st = take(r, nl, "section name", &name)))
            return st;
        if (!printable(name, nl))
            return elbo_fail(ELBO_ERR_FORMAT, "%s: section %zu name: expected printable text, got control bytes",
                             r->name, i);
        if ((st = take_u64(r, "section length", &u64)))
            return st;
        if (u64 > (r->len - r->pos) / 4)
            return elbo_fail(ELBO_ERR_FORMAT,
                             "%s: truncated or corrupt: section %zu expects %llu floats, %zu bytes remain", r->name, i,
                             (unsigned long long)u64, r->len - r->pos);
        size_t count = (size_t)u64;
        if ((st = take(r, count * 4, "section data", &b)))
            return st;
        if (out) {
            struct elbo_ckpt_entry *e = &out->sections[i];
            memcpy(e->name, name, nl);
            e->name[nl] = '\0';
            e->count = count;
            if (!(e->data = malloc(count ? count * 4 : 1)))
                return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", r->name);
            for (size_t k = 0; k < count; k++) {
                uint32_t u = (uint32_t)le(b + 4 * k, 4);
                memcpy(&e->data[k], &u, 4);
            }
        }
    }
    if (r->pos != r->len)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: trailing data: expected %zu bytes, got %zu", r->name,
                         r->pos + CRC_LEN, r->len + CRC_LEN);
    return ELBO_OK;
}

elbo_status elbo_ckpt_parse(const char *name, const uint8_t *buf, size_t len, elbo_ckpt *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: empty file: expected a checkpoint", name);
    if (len < MAGIC_LEN || memcmp(buf, ELBO_CKPT_MAGIC, MAGIC_LEN) != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad magic: expected \"%s\", not a checkpoint", name, ELBO_CKPT_MAGIC);
    if (len < FIXED_HEADER + CRC_LEN)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: expected at least %d bytes, got %zu", name,
                         FIXED_HEADER + CRC_LEN, len);
    uint32_t version = (uint32_t)le(buf + MAGIC_LEN, 4);
    if (version != ELBO_CKPT_VERSION)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: format version: expected %u, got %u", name, ELBO_CKPT_VERSION,
                         version);
    reader r = {name, buf, len - CRC_LEN, 0};
    elbo_status st = walk(&r, NULL);
    if (st != ELBO_OK)
        return st;
    uint32_t want = (uint32_t)le(buf + len - CRC_LEN, 4), got = elbo_crc32(buf, len - CRC_LEN);
    if (want != got)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: CRC mismatch: expected 0x%08x (stored), got 0x%08x: corrupt file",
                         name, want, got);
    out->version = version;
    if ((st = walk(&r, out)) != ELBO_OK)
        elbo_ckpt_free(out);
    return st;
}

elbo_status elbo_ckpt_read(const char *path, elbo_ckpt *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    elbo_status st = elbo_read_file(path, 0, &buf, &len);
    if (st != ELBO_OK)
        return st;
    st = elbo_ckpt_parse(path, buf, len, out);
    free(buf);
    return st;
}

const struct elbo_ckpt_entry *elbo_ckpt_find(const elbo_ckpt *ck, const char *name)
{
    for (size_t i = 0; i < ck->nsections; i++)
        if (strcmp(ck->sections[i].name, name) == 0)
            return &ck->sections[i];
    return NULL;
}

void elbo_ckpt_free(elbo_ckpt *ck)
{
    free(ck->config);
    free(ck->blob);
    if (ck->sections)
        for (size_t i = 0; i < ck->nsections; i++)
            free(ck->sections[i].data);
    free(ck->sections);
    memset(ck, 0, sizeof *ck);
}

/* Copy up to SNIPPET characters of s from `from`, line breaks flattened and control bytes shown as '?'. */
static void snippet(char *dst, const char *s, size_t len, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < len && n < SNIPPET; i++)
        dst[n++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' '
                   : ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?'
                                                                   : s[i];
    dst[n] = '\0';
}

static elbo_status config_mismatch(const char *path, const char *mine, const char *theirs, size_t theirs_len)
{
    size_t ml = strlen(mine), k = 0;
    while (k < ml && k < theirs_len && mine[k] == theirs[k])
        k++;
    size_t from = k > SNIPPET / 2 ? k - SNIPPET / 2 : 0;
    char a[SNIPPET + 1], b[SNIPPET + 1];
    snippet(a, mine, ml, from);
    snippet(b, theirs, theirs_len, from);
    return elbo_fail(ELBO_ERR_MISMATCH,
                     "%s: configuration differs at byte %zu: expected \"...%s...\" (this run), got \"...%s...\" "
                     "(checkpoint); resume with the same flags",
                     path, k, a, b);
}

elbo_status elbo_ckpt_load(const char *path, unsigned flags, elbo_ckpt_meta *meta, const elbo_ckpt_section *sections,
                           size_t nsections)
{
    elbo_ckpt ck;
    elbo_status st = elbo_ckpt_read(path, &ck);
    if (st != ELBO_OK)
        return st;
    /* Every check comes before any copy, so on error the caller's state is untouched. */
    const char *mine = meta->config ? meta->config : "";
    if (!(flags & ELBO_CKPT_NO_CONFIG_CHECK) &&
        (strlen(mine) != ck.config_len || memcmp(mine, ck.config, ck.config_len) != 0)) {
        st = config_mismatch(path, mine, ck.config, ck.config_len);
        goto done;
    }
    if (ck.blob_len != meta->blob_len) {
        st = elbo_fail(ELBO_ERR_MISMATCH, "%s: state blob: expected %zu bytes, got %zu", path, meta->blob_len,
                       ck.blob_len);
        goto done;
    }
    for (size_t i = 0; i < nsections; i++) {
        const struct elbo_ckpt_entry *e = elbo_ckpt_find(&ck, sections[i].name);
        if (!e) {
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: section '%s': expected %zu floats, got none (not in checkpoint)",
                           path, sections[i].name, sections[i].count);
            goto done;
        }
        if (e->count != sections[i].count) {
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: section '%s': expected %zu floats, got %zu", path,
                           sections[i].name, sections[i].count, e->count);
            goto done;
        }
    }
    for (size_t i = 0; i < ck.nsections; i++) {
        int wanted = 0;
        for (size_t j = 0; j < nsections && !wanted; j++)
            wanted = strcmp(ck.sections[i].name, sections[j].name) == 0;
        if (!wanted) {
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: section '%s': not expected by this run", path, ck.sections[i].name);
            goto done;
        }
    }
    if (ck.nsections != nsections) { /* only possible with duplicated names */
        st = elbo_fail(ELBO_ERR_MISMATCH, "%s: sections: expected %zu, got %zu", path, nsections, ck.nsections);
        goto done;
    }
    for (size_t i = 0; i < nsections; i++) {
        const struct elbo_ckpt_entry *e = elbo_ckpt_find(&ck, sections[i].name);
        if (e->count)
            memcpy(sections[i].data, e->data, e->count * sizeof(float));
    }
    if (ck.blob_len)
        memcpy(meta->blob, ck.blob, ck.blob_len);
    meta->step = ck.step;
    meta->epoch = ck.epoch;
done:
    elbo_ckpt_free(&ck);
    return st;
}
