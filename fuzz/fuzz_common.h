/* Shared by the harnesses: the error-message contract of the readers.
 * A failure leaves one message that names the input and is one line: no
 * newline or carriage return, even when the file's own bytes (a section
 * name, a CSV field) are quoted in it.
 * ELBO_FUZZ_LAX_MESSAGES=1 skips the one-line check, to keep fuzzing for
 * memory errors while a known message bug is open. */
#ifndef ELBO_FUZZ_COMMON_H
#define ELBO_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool fuzz_message_ok(const char *msg, const char *name)
{
    static int lax = -1;
    if (lax < 0) {
        const char *e = getenv("ELBO_FUZZ_LAX_MESSAGES");
        lax = e && *e == '1';
    }
    if (!msg || !strstr(msg, name))
        return false;
    return lax || strpbrk(msg, "\n\r") == NULL;
}

#endif
