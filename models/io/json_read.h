/* A small JSON reader (RFC 8259) into a tree: for safetensors headers and
 * for reading summary.json back (the HTML report). Strict: one value and
 * whitespace only, no duplicate object keys, no control characters or
 * \u0000 in strings, nesting at most ELBO_JV_MAX_DEPTH. Failures are
 * ELBO_ERR_FORMAT with one line naming the input and the byte offset. */
#ifndef ELBO_IO_JSON_READ_H
#define ELBO_IO_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

#define ELBO_JV_MAX_DEPTH 64

typedef enum elbo_jv_type {
    ELBO_JV_NULL,
    ELBO_JV_BOOL,
    ELBO_JV_NUMBER,
    ELBO_JV_STRING,
    ELBO_JV_ARRAY,
    ELBO_JV_OBJECT,
} elbo_jv_type;

typedef struct elbo_jv {
    elbo_jv_type type;
    bool b;
    double num;
    bool is_uint;     /* a number written as a plain non-negative integer that fits uint64 */
    uint64_t u;       /* its exact value (offsets beyond 2^53 stay exact) */
    char *str;        /* NUL-terminated UTF-8 */
    size_t len;       /* string bytes */
    struct elbo_jv *items; /* array items or object values (n) */
    char **keys;           /* object keys (n) */
    size_t n;
} elbo_jv;

/* Parse text[0..len) into *out (free with elbo_jv_free). */
elbo_status elbo_jv_parse(const char *name, const char *text, size_t len, elbo_jv **out);
void elbo_jv_free(elbo_jv *v);
/* The value of key in an object, or NULL (also when v is not an object). */
const elbo_jv *elbo_jv_get(const elbo_jv *v, const char *key);

#endif
