/* Versioned, checksummed, atomically written checkpoints.
 *
 * A checkpoint holds: a configuration string (JSON text built by the caller),
 * the step and epoch counters, an opaque blob (RNG and batcher state, ...),
 * and named float32 sections (parameters, Adam m and v, ...). Layout, all
 * integers little-endian:
 *
 *   "ELBOCKPT" | u32 version | u32 reserved (0) | u64 step | u64 epoch
 *   | u64 config_len | config | u64 blob_len | blob | u32 nsections
 *   | nsections x (u32 name_len | name | u64 count | count x f32)
 *   | u32 CRC-32 of everything before
 *
 * Save writes a temp file next to the target, fsyncs and renames it, so a
 * crash leaves the previous checkpoint intact. Load checks magic, version,
 * CRC and every length before trusting it. */
#ifndef ELBO_IO_CHECKPOINT_H
#define ELBO_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

#define ELBO_CKPT_MAGIC "ELBOCKPT"
#define ELBO_CKPT_VERSION 1u
#define ELBO_CKPT_NAME_MAX 64        /* section name bytes, excluding NUL */
#define ELBO_CKPT_MAX_SECTIONS 1024
#define ELBO_CKPT_MAX_CONFIG (1u << 20)
#define ELBO_CKPT_MAX_BLOB (1u << 24)

/* Load flags. */
#define ELBO_CKPT_NO_CONFIG_CHECK 1u /* accept a different configuration string */

/* One named float32 array: written from data on save, filled into data on load. */
typedef struct elbo_ckpt_section {
    const char *name;
    float *data;
    size_t count;
} elbo_ckpt_section;

/* What a checkpoint carries besides its sections. On save, blob/blob_len are
 * written. On load, config is compared with the file's (unless
 * ELBO_CKPT_NO_CONFIG_CHECK) and blob must have exactly blob_len bytes
 * in the file; step and epoch are filled in. */
typedef struct elbo_ckpt_meta {
    const char *config;
    uint64_t step, epoch;
    void *blob;
    size_t blob_len;
} elbo_ckpt_meta;

elbo_status elbo_ckpt_save(const char *path, const elbo_ckpt_meta *meta, const elbo_ckpt_section *sections,
                           size_t nsections);

/* Load into the caller's buffers. Every listed section must be in the file
 * with the same count and the file must hold no others (ELBO_ERR_MISMATCH);
 * a different config is ELBO_ERR_MISMATCH naming the first differing byte;
 * corrupt, truncated or foreign files are ELBO_ERR_FORMAT. On error the
 * caller's buffers, blob and counters are untouched. */
elbo_status elbo_ckpt_load(const char *path, unsigned flags, elbo_ckpt_meta *meta, const elbo_ckpt_section *sections,
                           size_t nsections);

/* A whole checkpoint in memory (inspection, tools, fuzzing). */
typedef struct elbo_ckpt {
    uint32_t version;
    uint64_t step, epoch;
    char *config; /* NUL-terminated copy */
    size_t config_len;
    uint8_t *blob;
    size_t blob_len;
    size_t nsections;
    struct elbo_ckpt_entry {
        char name[ELBO_CKPT_NAME_MAX + 1];
        float *data;
        size_t count;
    } *sections;
} elbo_ckpt;

/* Parse buf[0..len); name appears in messages. */
elbo_status elbo_ckpt_parse(const char *name, const uint8_t *buf, size_t len, elbo_ckpt *out);
elbo_status elbo_ckpt_read(const char *path, elbo_ckpt *out);
/* The section called name, or NULL. */
const struct elbo_ckpt_entry *elbo_ckpt_find(const elbo_ckpt *ck, const char *name);
void elbo_ckpt_free(elbo_ckpt *ck);

#endif
