#include "models/io/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/crc.h"
#include "models/io/deflate.h"
#include "models/io/excerpt.h"

#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64_LOC 0x07064b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_LOCAL 0x04034b50u
#define EOCD_LEN 22
#define EOCD64_LOC_LEN 20
#define EOCD64_LEN 56
#define CENTRAL_LEN 46
#define LOCAL_LEN 30
#define MAX_COMMENT 65535
#define ZIP64_EXTRA_ID 0x0001
#define FLAG_ENCRYPTED 1
#define METHOD_STORED 0
#define METHOD_DEFLATED 8
#define U32_MAX_MARK 0xFFFFFFFFu
#define U16_MAX_MARK 0xFFFFu
/* Deflate expands at most 1032:1; a member claiming more is lying. */
#define DEFLATE_MAX_RATIO 1032
#define DEFLATE_SLACK 1024
#define CRC_CHUNK 65536

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* The end of central directory record: search back over a possible comment. */
static elbo_status find_eocd(const elbo_source *s, uint64_t *at, uint8_t *rec)
{
    const char *name = s->name;
    if (s->size < EOCD_LEN)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: expected a zip archive of at least %d bytes, got %llu", name,
                         EOCD_LEN, (unsigned long long)s->size);
    uint64_t span = s->size < EOCD_LEN + MAX_COMMENT ? s->size : EOCD_LEN + MAX_COMMENT;
    uint8_t *tail = malloc(span);
    if (!tail)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
    elbo_status st = elbo_source_read(s, s->size - span, tail, span, "the zip end record");
    if (st != ELBO_OK) {
        free(tail);
        return st;
    }
    for (uint64_t i = span - EOCD_LEN + 1; i-- > 0;) {
        if (le32(tail + i) == SIG_EOCD && i + EOCD_LEN + le16(tail + i + 20) == span) {
            memcpy(rec, tail + i, EOCD_LEN);
            *at = s->size - span + i;
            free(tail);
            return ELBO_OK;
        }
    }
    free(tail);
    return elbo_fail(ELBO_ERR_FORMAT, "%s: no zip end-of-central-directory record: not a zip (.npz) archive", name);
}

/* Zip64: the real entry count and directory position. */
static elbo_status read_eocd64(const elbo_source *s, uint64_t eocd_at, uint64_t *entries, uint64_t *cd_size,
                               uint64_t *cd_off)
{
    uint8_t loc[EOCD64_LOC_LEN], rec[EOCD64_LEN];
    if (eocd_at < EOCD64_LOC_LEN)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zip64 sizes marked but no zip64 locator", s->name);
    elbo_status st = elbo_source_read(s, eocd_at - EOCD64_LOC_LEN, loc, sizeof loc, "the zip64 locator");
    if (st != ELBO_OK)
        return st;
    if (le32(loc) != SIG_EOCD64_LOC)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zip64 sizes marked but no zip64 locator", s->name);
    uint64_t off = le64(loc + 8);
    if ((st = elbo_source_read(s, off, rec, sizeof rec, "the zip64 end record")) != ELBO_OK)
        return st;
    if (le32(rec) != SIG_EOCD64)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: zip64 end record: bad signature at byte %llu", s->name,
                         (unsigned long long)off);
    *entries = le64(rec + 32);
    *cd_size = le64(rec + 40);
    *cd_off = le64(rec + 48);
    return ELBO_OK;
}

/* Apply the zip64 extra field (id 1) of a central header: the 64-bit values
 * of the fields marked 0xFFFFFFFF, in their fixed order. */
static elbo_status zip64_extra(const char *name, const uint8_t *ex, size_t n, elbo_zip_member *m, int need_size,
                               int need_comp, int need_off)
{
    char shown[ELBO_EXCERPT_MAX + 1];
    elbo_excerpt(shown, sizeof shown, m->name, strlen(m->name));
    size_t p = 0;
    while (n - p >= 4) {
        unsigned id = le16(ex + p), len = le16(ex + p + 2);
        if (len > n - p - 4)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: member '%s': extra field overruns its header", name, shown);
        if (id == ZIP64_EXTRA_ID) {
            const uint8_t *f = ex + p + 4;
            unsigned need = 8u * (unsigned)(need_size + need_comp + need_off), k = 0;
            if (len < need)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: member '%s': zip64 extra field of %u bytes, expected %u", name,
                                 shown, len, need);
            if (need_size)
                m->size = le64(f + k), k += 8;
            if (need_comp)
                m->comp_size = le64(f + k), k += 8;
            if (need_off)
                m->local_offset = le64(f + k);
            return ELBO_OK;
        }
        p += 4 + len;
    }
    if (need_size || need_comp || need_off)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: member '%s': sizes marked zip64 but no zip64 extra field", name,
                         shown);
    return ELBO_OK;
}

static elbo_status parse_central(const elbo_source *s, const uint8_t *cd, uint64_t cd_size, uint64_t entries,
                                 elbo_zip *z)
{
    const char *name = s->name;
    uint64_t p = 0;
    for (uint64_t e = 0; e < entries; e++) {
        elbo_zip_member *m = &z->members[e];
        if (cd_size - p < CENTRAL_LEN || le32(cd + p) != SIG_CENTRAL)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: central directory entry %llu: bad signature or truncated", name,
                             (unsigned long long)e);
        const uint8_t *h = cd + p;
        unsigned flags = le16(h + 8), nlen = le16(h + 28), xlen = le16(h + 30), clen = le16(h + 32);
        if (cd_size - p - CENTRAL_LEN < (uint64_t)nlen + xlen + clen)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: central directory entry %llu overruns the directory", name,
                             (unsigned long long)e);
        if (nlen > ELBO_ZIP_NAME_MAX)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: member %llu: name of %u bytes: expected at most %d", name,
                             (unsigned long long)e, nlen, ELBO_ZIP_NAME_MAX);
        memcpy(m->name, h + CENTRAL_LEN, nlen);
        m->name[nlen] = '\0';
        if (memchr(m->name, '\0', nlen))
            return elbo_fail(ELBO_ERR_FORMAT, "%s: member %llu: name contains a NUL byte", name, (unsigned long long)e);
        m->method = (int)le16(h + 10);
        m->crc = le32(h + 16);
        m->comp_size = le32(h + 20);
        m->size = le32(h + 24);
        m->local_offset = le32(h + 42);
        elbo_status st = zip64_extra(name, h + CENTRAL_LEN + nlen, xlen, m, m->size == U32_MAX_MARK,
                                     m->comp_size == U32_MAX_MARK, m->local_offset == U32_MAX_MARK);
        if (st != ELBO_OK)
            return st;
        char shown[ELBO_EXCERPT_MAX + 1];
        if (flags & FLAG_ENCRYPTED)
            return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: member '%s' is encrypted", name,
                             elbo_excerpt(shown, sizeof shown, m->name, nlen));
        if (m->method != METHOD_STORED && m->method != METHOD_DEFLATED)
            return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: member '%s': compression method %d: expected stored (0) or "
                             "deflated (8)", name, elbo_excerpt(shown, sizeof shown, m->name, nlen), m->method);
        if (m->method == METHOD_STORED && m->comp_size != m->size)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: stored member '%s': compressed size %llu differs from size %llu",
                             name, elbo_excerpt(shown, sizeof shown, m->name, nlen), (unsigned long long)m->comp_size,
                             (unsigned long long)m->size);
        p += CENTRAL_LEN + (uint64_t)nlen + xlen + clen;
        z->n = e + 1;
    }
    return ELBO_OK;
}

elbo_status elbo_zip_open(elbo_zip *z, const elbo_source *src)
{
    memset(z, 0, sizeof *z);
    z->src = *src;
    const char *name = src->name;
    uint8_t eocd[EOCD_LEN] = {0};
    uint64_t eocd_at;
    elbo_status st = find_eocd(src, &eocd_at, eocd);
    if (st != ELBO_OK)
        return st;
    uint64_t entries = le16(eocd + 10), cd_size = le32(eocd + 12), cd_off = le32(eocd + 16);
    if (le16(eocd + 4) != 0 || le16(eocd + 6) != 0)
        return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", name);
    if (entries == U16_MAX_MARK || cd_size == U32_MAX_MARK || cd_off == U32_MAX_MARK)
        if ((st = read_eocd64(src, eocd_at, &entries, &cd_size, &cd_off)) != ELBO_OK)
            return st;
    if (entries > ELBO_ZIP_MAX_MEMBERS)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: %llu members: expected at most %d", name, (unsigned long long)entries,
                         ELBO_ZIP_MAX_MEMBERS);
    if (cd_off > src->size || cd_size > src->size - cd_off || cd_size < entries * CENTRAL_LEN)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: central directory (%llu bytes at %llu) does not fit the %llu-byte "
                         "archive", name, (unsigned long long)cd_size, (unsigned long long)cd_off,
                         (unsigned long long)src->size);
    uint8_t *cd = malloc(cd_size ? cd_size : 1);
    z->members = calloc(entries ? entries : 1, sizeof *z->members);
    if (!cd || !z->members) {
        free(cd);
        elbo_zip_free(z);
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", name);
    }
    st = elbo_source_read(src, cd_off, cd, cd_size, "the central directory");
    if (st == ELBO_OK)
        st = parse_central(src, cd, cd_size, entries, z);
    free(cd);
    if (st != ELBO_OK)
        elbo_zip_free(z);
    return st;
}

void elbo_zip_free(elbo_zip *z)
{
    free(z->members);
    z->members = NULL;
    z->n = 0;
}

int elbo_zip_find(const elbo_zip *z, const char *name)
{
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->members[i].name, name) == 0)
            return (int)i;
    return -1;
}

static elbo_status crc_of_window(const elbo_source *w, uint32_t *crc)
{
    uint8_t *buf = malloc(CRC_CHUNK);
    if (!buf)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", w->name);
    uint32_t c = 0;
    elbo_status st = ELBO_OK;
    for (uint64_t off = 0; off < w->size && st == ELBO_OK; off += CRC_CHUNK) {
        size_t n = w->size - off < CRC_CHUNK ? (size_t)(w->size - off) : CRC_CHUNK;
        st = elbo_source_read(w, off, buf, n, "the member data");
        c = elbo_crc32_update(c, buf, n);
    }
    free(buf);
    *crc = c;
    return st;
}

elbo_status elbo_zip_member_source(const elbo_zip *z, size_t i, elbo_source *out, uint8_t **owned, char *name_buf,
                                   size_t name_cap)
{
    *owned = NULL;
    const elbo_zip_member *m = &z->members[i];
    const elbo_source *s = &z->src;
    char shown[ELBO_EXCERPT_MAX + 1];
    snprintf(name_buf, name_cap, "%s/%s", s->name, elbo_excerpt(shown, sizeof shown, m->name, strlen(m->name)));
    uint8_t lh[LOCAL_LEN];
    elbo_status st = elbo_source_read(s, m->local_offset, lh, sizeof lh, "a local header");
    if (st != ELBO_OK)
        return st;
    if (le32(lh) != SIG_LOCAL)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad local header signature at byte %llu", name_buf,
                         (unsigned long long)m->local_offset);
    uint64_t data = m->local_offset + LOCAL_LEN + le16(lh + 26) + le16(lh + 28);
    elbo_source win;
    if ((st = elbo_source_window(&win, s, data, m->comp_size, name_buf)) != ELBO_OK)
        return st;
    uint32_t crc = 0;
    if (m->method == METHOD_STORED) {
        if ((st = crc_of_window(&win, &crc)) != ELBO_OK)
            return st;
        *out = win;
    } else {
        if (m->size / DEFLATE_MAX_RATIO > m->comp_size + DEFLATE_SLACK || m->size > SIZE_MAX - 1)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: claims %llu bytes from %llu compressed: more than deflate can "
                             "hold (a lying header)", name_buf, (unsigned long long)m->size,
                             (unsigned long long)m->comp_size);
        uint8_t *comp = malloc(m->comp_size ? (size_t)m->comp_size : 1);
        uint8_t *buf = malloc(m->size ? (size_t)m->size : 1);
        if (!comp || !buf) {
            free(comp), free(buf);
            return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate %llu bytes", name_buf, (unsigned long long)m->size);
        }
        size_t got;
        st = elbo_source_read(&win, 0, comp, (size_t)m->comp_size, "the compressed member");
        if (st == ELBO_OK)
            st = elbo_inflate(name_buf, comp, (size_t)m->comp_size, buf, (size_t)m->size, &got, NULL);
        free(comp);
        if (st == ELBO_OK && got != m->size)
            st = elbo_fail(ELBO_ERR_FORMAT, "%s: inflated to %zu bytes, the directory says %llu", name_buf, got,
                           (unsigned long long)m->size);
        if (st != ELBO_OK) {
            free(buf);
            return st;
        }
        crc = elbo_crc32(buf, got);
        elbo_source_memory(out, name_buf, buf, got);
        *owned = buf;
    }
    if (crc != m->crc) {
        free(*owned);
        *owned = NULL;
        return elbo_fail(ELBO_ERR_FORMAT, "%s: CRC-32: expected 0x%08x, got 0x%08x", name_buf, m->crc, crc);
    }
    return ELBO_OK;
}
