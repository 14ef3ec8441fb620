/* Checksums shared by PNG and checkpoints (zlib-compatible definitions). */
#ifndef ELBO_IO_CRC_H
#define ELBO_IO_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), as in PNG, gzip and zlib.
 * Start with crc = 0: elbo_crc32_update(0, p, n) == elbo_crc32(p, n). */
uint32_t elbo_crc32_update(uint32_t crc, const void *data, size_t n);
uint32_t elbo_crc32(const void *data, size_t n);

/* Adler-32 as in zlib streams; start with adler = 1. */
uint32_t elbo_adler32_update(uint32_t adler, const void *data, size_t n);

#endif
