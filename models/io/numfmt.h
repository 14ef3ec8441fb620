/* Internal: shortest decimal text of a double that reads back exactly. */
#ifndef ELBO_IO_NUMFMT_H
#define ELBO_IO_NUMFMT_H

#include <stdio.h>
#include <stdlib.h>

/* Enough for "-1.2345678901234567e-308" and a NUL. */
#define ELBO_NUMFMT_LEN 32
/* %.17g always round-trips an IEEE double; fewer digits are tried first. */
#define ELBO_NUMFMT_MIN_DIGITS 15
#define ELBO_NUMFMT_MAX_DIGITS 17

/* Finite v only; returns the length written into buf. */
static inline int elbo_fmt_double(char buf[ELBO_NUMFMT_LEN], double v)
{
    int len = 0;
    for (int digits = ELBO_NUMFMT_MIN_DIGITS; digits <= ELBO_NUMFMT_MAX_DIGITS; digits++) {
        len = snprintf(buf, ELBO_NUMFMT_LEN, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return len;
}

#endif
