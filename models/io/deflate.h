/* Deflate (RFC 1951) and the zlib wrapper (RFC 1950): the project's own
 * decoder and encoder, for PNG and npz.
 *
 * Decoding writes into a buffer the caller sizes from what the container
 * says the data is (a PNG's dimensions, a zip member's size): a stream that
 * would produce more is refused as a decompression bomb before it writes a
 * byte past the buffer, and one that produces less is truncated. Every
 * failure is ELBO_ERR_FORMAT with one line naming the input and the first
 * thing wrong (bad block type, over-subscribed code, distance too far back,
 * ...); nothing is read outside in[0..in_len).
 *
 * Encoding: LZ77 over a 32 KiB window (hash chains, one-step lazy matching)
 * and, per block, the cheapest of dynamic Huffman, fixed Huffman and stored,
 * with length-limited canonical codes. */
#ifndef ELBO_IO_DEFLATE_H
#define ELBO_IO_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

/* Raw deflate in[0..in_len) into out[0..cap). *out_len gets the bytes
 * produced, *in_used (may be NULL) the input bytes up to the end of the
 * final block. ELBO_ERR_FORMAT if the stream needs more than cap bytes. */
elbo_status elbo_inflate(const char *name, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len, size_t *in_used);

/* A zlib stream: header (deflate, window <= 32 KiB, no preset dictionary),
 * raw deflate, Adler-32 of the output. Bytes after the checksum are ignored
 * (as by zlib-based readers). */
elbo_status elbo_zlib_decompress(const char *name, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                                 size_t *out_len);

/* What the encoder is told about its input. FILTERED: residuals of a
 * predictor (PNG rows), where a match of 5 bytes or less codes worse than
 * its literals under a skewed literal code (zlib's Z_FILTERED). */
typedef enum elbo_deflate_mode { ELBO_DEFLATE_DEFAULT, ELBO_DEFLATE_FILTERED } elbo_deflate_mode;

/* Raw deflate of in[0..n) into *out (malloc'd). */
elbo_status elbo_deflate(const uint8_t *in, size_t n, elbo_deflate_mode mode, uint8_t **out, size_t *out_len);
/* zlib stream of in[0..n) into *out (malloc'd). */
elbo_status elbo_zlib_compress(const uint8_t *in, size_t n, elbo_deflate_mode mode, uint8_t **out, size_t *out_len);

#endif
