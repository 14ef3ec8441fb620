#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_message[512];

const char *elbo_status_name(elbo_status s)
{
    switch (s) {
    case ELBO_OK: return "ok";
    case ELBO_ERR_INVALID: return "invalid";
    case ELBO_ERR_NOMEM: return "nomem";
    case ELBO_ERR_IO: return "io";
    case ELBO_ERR_FORMAT: return "format";
    case ELBO_ERR_NONFINITE: return "nonfinite";
    case ELBO_ERR_MISMATCH: return "mismatch";
    case ELBO_ERR_UNSUPPORTED: return "unsupported";
    case ELBO_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}

elbo_status elbo_fail(elbo_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return s;
}

const char *elbo_last_error(void) { return last_message; }
