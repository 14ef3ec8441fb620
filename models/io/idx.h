/* IDX files (the MNIST / Fashion-MNIST container), unsigned-byte payloads.
 *
 * Layout: 0x00 0x00 type rank, then rank big-endian u32 dims, then the
 * payload. Every check fails with ELBO_ERR_FORMAT naming the file, what was
 * wrong, what was expected and what was found: magic, type (0x08 = u8), rank,
 * zero dims, dims product overflow, truncated or over-long payload, empty
 * file; directories and unreadable files are ELBO_ERR_IO. */
#ifndef ELBO_IO_IDX_H
#define ELBO_IO_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

#define ELBO_IDX_TYPE_U8 0x08
#define ELBO_IDX_MAX_RANK 4

typedef struct elbo_idx {
    uint8_t *data; /* payload, malloc'd: dims[0] * ... * dims[rank-1] bytes */
    size_t dims[ELBO_IDX_MAX_RANK];
    int rank;
    size_t count; /* product of dims */
} elbo_idx;

/* Parse buf[0..len) expecting a u8 payload of the given rank; name appears in
 * messages. Copies the payload. */
elbo_status elbo_idx_parse(const char *name, const uint8_t *buf, size_t len, int rank, elbo_idx *out);
/* Read and parse path. */
elbo_status elbo_idx_read(const char *path, int rank, elbo_idx *out);
void elbo_idx_free(elbo_idx *idx);

/* Images: idx3 u8 (n, rows, cols). */
elbo_status elbo_idx_read_images(const char *path, elbo_idx *out);
/* Labels: idx1 u8 (n). */
elbo_status elbo_idx_read_labels(const char *path, elbo_idx *out);

#endif
