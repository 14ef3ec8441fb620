/* Zip archives as numpy writes them (.npz): the central directory (with
 * zip64 end records and zip64 extra fields, which numpy's savez writes for
 * every member), stored and deflated members, CRC-32 checked.
 *
 * Sizes and offsets come from the central directory; each member's local
 * header is checked (signature, name) and skipped. A member is handed out as
 * a byte source: a window of the archive when stored, an inflated buffer
 * when deflated (its claimed size is checked against deflate's best ratio
 * before anything is allocated, and the inflate is capped at that size). */
#ifndef ELBO_IO_ZIP_H
#define ELBO_IO_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "models/io/source.h"
#include "ops/error.h"

#define ELBO_ZIP_NAME_MAX 255
#define ELBO_ZIP_MAX_MEMBERS 65536

typedef struct elbo_zip_member {
    char name[ELBO_ZIP_NAME_MAX + 1];
    int method;            /* 0 stored, 8 deflated */
    uint32_t crc;
    uint64_t comp_size, size;
    uint64_t local_offset; /* of the local header */
} elbo_zip_member;

typedef struct elbo_zip {
    elbo_source src;
    elbo_zip_member *members;
    size_t n;
} elbo_zip;

/* Read the central directory of the archive in src (kept by reference). */
elbo_status elbo_zip_open(elbo_zip *z, const elbo_source *src);
void elbo_zip_free(elbo_zip *z);
/* Index of the member called name, or -1. */
int elbo_zip_find(const elbo_zip *z, const char *name);
/* Member i as a source named "ARCHIVE/MEMBER" (name_buf holds the name and
 * must outlive out). A deflated member is inflated into *owned (free it
 * after use); a stored one is a window of the archive (*owned NULL). The
 * CRC-32 is checked either way. */
elbo_status elbo_zip_member_source(const elbo_zip *z, size_t i, elbo_source *out, uint8_t **owned, char *name_buf,
                                   size_t name_cap);

#endif
