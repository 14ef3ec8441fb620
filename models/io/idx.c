#include "models/io/idx.h"

#include <stdlib.h>
#include <string.h>

#include "models/io/file.h"

/* Bytes of the magic number and of each big-endian dimension. */
#define IDX_MAGIC_BYTES 4
#define IDX_DIM_BYTES 4

static const char *rank_what(int rank) { return rank == 3 ? "images" : rank == 1 ? "labels" : "array"; }

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Validate buf[0..len) as an IDX file of the rank; fills out's dims, rank
 * and count (not data) and *header, the payload's offset. */
static elbo_status idx_check(const char *name, const uint8_t *buf, size_t len, int rank, elbo_idx *out, size_t *header_len)
{
    memset(out, 0, sizeof *out);
    if (rank < 1 || rank > ELBO_IDX_MAX_RANK)
        return elbo_fail(ELBO_ERR_INVALID, "%s: idx: expected rank 1..%d, got %d", name, ELBO_IDX_MAX_RANK, rank);
    if (len == 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: empty file: expected an IDX header", name);
    if (len < IDX_MAGIC_BYTES)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated header: expected %d magic bytes, got %zu", name,
                         IDX_MAGIC_BYTES, len);
    uint32_t magic = be32(buf);
    uint32_t want = ((uint32_t)ELBO_IDX_TYPE_U8 << 8) | (uint32_t)rank;
    if (buf[0] != 0 || buf[1] != 0)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: bad magic: expected 0x%08x (IDX %s), got 0x%08x", name, want,
                         rank_what(rank), magic);
    if (buf[2] != ELBO_IDX_TYPE_U8)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: element type: expected 0x%02x (unsigned byte), got 0x%02x", name,
                         ELBO_IDX_TYPE_U8, buf[2]);
    if (buf[3] != rank)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: rank: expected %d (%s), got %d", name, rank, rank_what(rank), buf[3]);
    size_t header = IDX_MAGIC_BYTES + (size_t)rank * IDX_DIM_BYTES;
    if (len < header)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated header: expected %zu bytes, got %zu", name, header, len);
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t d = be32(buf + IDX_MAGIC_BYTES + (size_t)i * IDX_DIM_BYTES);
        if (d == 0)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: dimension %d: expected > 0, got 0", name, i);
        if (__builtin_mul_overflow(count, (size_t)d, &count))
            return elbo_fail(ELBO_ERR_FORMAT, "%s: dimensions overflow: product of dims 0..%d exceeds %zu", name, i,
                             (size_t)SIZE_MAX);
        out->dims[i] = d;
    }
    size_t payload = len - header;
    if (payload < count)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: expected %zu data bytes, got %zu", name, count, payload);
    if (payload > count)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: trailing data: expected %zu data bytes, got %zu", name, count,
                         payload);
    out->rank = rank;
    out->count = count;
    *header_len = header;
    return ELBO_OK;
}

elbo_status elbo_idx_parse(const char *name, const uint8_t *buf, size_t len, int rank, elbo_idx *out)
{
    size_t header = 0;
    elbo_status st = idx_check(name, buf, len, rank, out, &header);
    if (st != ELBO_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    out->data = malloc(out->count);
    if (!out->data) {
        size_t count = out->count;
        memset(out, 0, sizeof *out);
        return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate %zu bytes", name, count);
    }
    memcpy(out->data, buf + header, out->count);
    return ELBO_OK;
}

elbo_status elbo_idx_read(const char *path, int rank, elbo_idx *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    elbo_status st = elbo_read_file(path, 0, &buf, &len);
    if (st != ELBO_OK)
        return st;
    /* The payload moves to the front of the file's buffer, which becomes
     * out->data: no second copy of a data set while loading. */
    size_t header = 0;
    st = idx_check(path, buf, len, rank, out, &header);
    if (st != ELBO_OK) {
        memset(out, 0, sizeof *out);
        free(buf);
        return st;
    }
    memmove(buf, buf + header, out->count);
    uint8_t *shrunk = realloc(buf, out->count);
    out->data = shrunk ? shrunk : buf;
    return ELBO_OK;
}

void elbo_idx_free(elbo_idx *idx)
{
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

elbo_status elbo_idx_read_images(const char *path, elbo_idx *out) { return elbo_idx_read(path, 3, out); }

elbo_status elbo_idx_read_labels(const char *path, elbo_idx *out) { return elbo_idx_read(path, 1, out); }
