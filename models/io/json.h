/* A tiny JSON writer into memory, saved atomically (summary.json, configs).
 *
 * Output is indented two spaces per level. Strings are escaped (quotes,
 * backslash, control characters as \uXXXX); numbers use the shortest %.Ng
 * (N <= 17) that reads back to the same double; NaN and Inf become null.
 * Misuse (a key inside an array, a missing key in an object, unbalanced
 * ends) and allocation failure are sticky and reported by elbo_json_status. */
#ifndef ELBO_IO_JSON_H
#define ELBO_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

#define ELBO_JSON_MAX_DEPTH 32

typedef struct elbo_json {
    char *buf;
    size_t len, cap;
    int depth;
    bool in_array[ELBO_JSON_MAX_DEPTH]; /* per level: array (true) or object */
    bool has_items[ELBO_JSON_MAX_DEPTH];
    bool done; /* a complete top-level value was written */
    elbo_status status;
} elbo_json;

void elbo_json_init(elbo_json *j);
void elbo_json_free(elbo_json *j);

/* key is required inside an object and must be NULL inside an array or at top level. */
void elbo_json_begin_object(elbo_json *j, const char *key);
void elbo_json_end_object(elbo_json *j);
void elbo_json_begin_array(elbo_json *j, const char *key);
void elbo_json_end_array(elbo_json *j);
void elbo_json_string(elbo_json *j, const char *key, const char *value); /* NULL value -> null */
void elbo_json_number(elbo_json *j, const char *key, double value);
void elbo_json_int(elbo_json *j, const char *key, long long value);
void elbo_json_uint(elbo_json *j, const char *key, uint64_t value);
void elbo_json_bool(elbo_json *j, const char *key, bool value);
void elbo_json_null(elbo_json *j, const char *key);
/* An array of n numbers under key. */
void elbo_json_numbers(elbo_json *j, const char *key, const double *values, size_t n);

/* ELBO_OK, or the first error (ELBO_ERR_INVALID for misuse, ELBO_ERR_NOMEM). */
elbo_status elbo_json_status(const elbo_json *j);
/* The text so far (NUL-terminated; "" when empty). */
const char *elbo_json_text(const elbo_json *j);
/* Write the finished document (plus a newline) to path atomically;
 * ELBO_ERR_INVALID if it is incomplete. */
elbo_status elbo_json_save(const elbo_json *j, const char *path);

#endif
