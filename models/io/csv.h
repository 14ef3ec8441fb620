/* CSV: a strict numeric reader and an atomic table writer.
 *
 * Reader: comma-separated float64 fields; an optional first line that is not
 * numeric is a header and skipped; blank lines, CRLF and spaces around fields
 * are accepted; empty files, ragged rows, empty fields, junk and NaN/Inf are
 * ELBO_ERR_FORMAT / ELBO_ERR_NONFINITE with "path:line:column: what". */
#ifndef ELBO_IO_CSV_H
#define ELBO_IO_CSV_H

#include <stddef.h>

#include "models/io/file.h"
#include "ops/error.h"

/* Read path into *out (rows, cols) row-major, malloc'd (caller frees). */
elbo_status elbo_csv_read(const char *path, double **out, size_t *rows, size_t *cols);
/* The same over text[0..len) in memory; name is used in messages (fuzzing). */
elbo_status elbo_csv_parse(const char *name, const char *text, size_t len, double **out, size_t *rows,
                           size_t *cols);

/* Writer: a header line then rows of numbers (shortest text that reads back
 * to the same double; non-finite values are written as nan/inf/-inf). */
typedef struct elbo_csv_writer {
    elbo_afile file;
    size_t cols;
} elbo_csv_writer;

/* Open path (atomically replaced at close) and write the header of cols names. */
elbo_status elbo_csv_open(elbo_csv_writer *w, const char *path, size_t cols, const char *const *header);
/* One row of w->cols values. */
elbo_status elbo_csv_row(elbo_csv_writer *w, const double *values);
/* Commit the file; on error nothing is left behind. Always releases w. */
elbo_status elbo_csv_close(elbo_csv_writer *w);
/* Give up: remove the temp file. */
void elbo_csv_abort(elbo_csv_writer *w);

/* Whole table in one call: data (rows, cols) row-major. */
elbo_status elbo_csv_write(const char *path, const char *const *header, const double *data, size_t rows,
                           size_t cols);

#endif
