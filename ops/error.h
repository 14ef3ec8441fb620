/* Status codes and the last-error message.
 *
 * Library code never prints and never exits: a failing call records one line
 * (file, what, expected vs got) with elbo_fail() and returns a status; the
 * caller decides how to report it. The message is thread-local. */
#ifndef ELBO_ERROR_H
#define ELBO_ERROR_H

typedef enum elbo_status {
    ELBO_OK = 0,
    ELBO_ERR_INVALID,     /* bad argument or configuration */
    ELBO_ERR_NOMEM,       /* allocation failed */
    ELBO_ERR_IO,          /* open, read, write, rename failed */
    ELBO_ERR_FORMAT,      /* malformed or truncated file */
    ELBO_ERR_NONFINITE,   /* NaN or Inf in data, loss or gradient */
    ELBO_ERR_MISMATCH,    /* e.g. a checkpoint from another configuration */
    ELBO_ERR_UNSUPPORTED, /* e.g. a SIMD level this CPU lacks */
    ELBO_ERR_INTERRUPTED, /* stopped by a signal; state was saved */
} elbo_status;

/* Short stable name of a status ("io", "format", ...). */
const char *elbo_status_name(elbo_status s);

/* Record a printf-style one-line message for the current thread; returns s,
 * so a failing path reads `return elbo_fail(ELBO_ERR_IO, "%s: %s", path, why);` */
elbo_status elbo_fail(elbo_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message of the last elbo_fail() on this thread ("" if none). */
const char *elbo_last_error(void);

#endif
