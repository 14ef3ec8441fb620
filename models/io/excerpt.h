/* Internal: quote file bytes in one-line error messages. */
#ifndef ELBO_IO_EXCERPT_H
#define ELBO_IO_EXCERPT_H

#include <stddef.h>

/* Longest excerpt of file content quoted in a message. */
#define ELBO_EXCERPT_MAX 40

/* Copy up to cap-1 bytes of src[0..n) into dst with control bytes (line
 * breaks included) shown as '?', so a message stays on one line. */
static inline const char *elbo_excerpt(char *dst, size_t cap, const char *src, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[k] = '\0';
    return dst;
}

#endif
