/* Files: whole-file reads with hostile-input checks, atomic writes, mkdir -p.
 *
 * Every file the project writes goes through elbo_afile: bytes go to a temp
 * file in the destination's directory, then fflush + fsync + rename, so a
 * reader sees the old file or the new one, never a torn one. Errors are
 * sticky: write freely, check once at commit. */
#ifndef ELBO_IO_FILE_H
#define ELBO_IO_FILE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ops/error.h"

/* Largest file the readers will load into memory (hostile-size guard). */
#define ELBO_IO_MAX_FILE_BYTES ((size_t)1 << 32)

typedef struct elbo_afile {
    FILE *f;
    char *path; /* destination */
    char *tmp;  /* temp file next to it, unlinked on abort */
    elbo_status status; /* first error, ELBO_OK while healthy */
} elbo_afile;

/* Create the temp file "PATH.tmp.XXXXXX" next to path. */
elbo_status elbo_afile_open(elbo_afile *a, const char *path);
elbo_status elbo_afile_write(elbo_afile *a, const void *data, size_t n);
elbo_status elbo_afile_printf(elbo_afile *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
elbo_status elbo_afile_vprintf(elbo_afile *a, const char *fmt, va_list ap);
/* fflush + fsync + close + rename over path (+ fsync of the directory).
 * On any error (including an earlier sticky one) the temp file is removed
 * and path is untouched. Always releases a. */
elbo_status elbo_afile_commit(elbo_afile *a);
/* Drop the temp file; path is untouched. Safe on a zeroed or released a. */
void elbo_afile_abort(elbo_afile *a);

/* Write n bytes to path atomically. */
elbo_status elbo_write_file_atomic(const char *path, const void *data, size_t n);

/* Read a whole regular file (malloc'd, plus a NUL terminator not counted in
 * *n). Rejects directories, non-regular files and files above max_bytes
 * (0 means ELBO_IO_MAX_FILE_BYTES) with a message naming path. */
elbo_status elbo_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *n);

/* Open a regular file for reading: *fd (close it) and its *size. Refuses
 * directories, FIFOs and devices (without blocking on a FIFO). */
elbo_status elbo_open_regular(const char *path, int *fd, uint64_t *size);

/* mkdir -p with mode 0777 & ~umask; ELBO_ERR_IO names the component that failed. */
elbo_status elbo_mkdir_p(const char *path);

/* Test hook (fault injection): after `bytes` more bytes written through
 * elbo_afile, writes fail as if the disk were full (ENOSPC). Negative
 * disables (the default). Process-wide. */
void elbo_io_set_write_limit(long long bytes);

#endif
