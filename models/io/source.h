/* Random-access bytes for the readers of large containers (.npy, .npz):
 * a file read with pread, a memory buffer (tests, fuzzing, an inflated zip
 * member), or a window of another source. Readers ask for the ranges they
 * need, so loading a data set never holds the whole file in memory besides
 * the data set itself. A read past the end is ELBO_ERR_FORMAT ("truncated")
 * naming the source. */
#ifndef ELBO_IO_SOURCE_H
#define ELBO_IO_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

typedef struct elbo_source {
    const char *name;   /* for messages */
    const uint8_t *mem; /* memory source, or NULL */
    int fd;             /* file source (when mem is NULL); -1 if none */
    uint64_t base;      /* offset of byte 0 in mem or the file */
    uint64_t size;      /* bytes visible */
    int owns_fd;        /* opened by elbo_source_open (windows share it) */
} elbo_source;

/* A regular file (see elbo_open_regular); close with elbo_source_close. */
elbo_status elbo_source_open(elbo_source *s, const char *path);
/* Bytes p[0..n) (not copied; they must outlive s). */
void elbo_source_memory(elbo_source *s, const char *name, const uint8_t *p, size_t n);
/* Bytes [off, off + n) of parent (shares its file or memory; not closed separately). */
elbo_status elbo_source_window(elbo_source *s, const elbo_source *parent, uint64_t off, uint64_t n, const char *name);
/* Copy [off, off + n) into dst; what names the part being read in a truncation message. */
elbo_status elbo_source_read(const elbo_source *s, uint64_t off, void *dst, size_t n, const char *what);
/* Close a file source (no-op for memory and windows). */
void elbo_source_close(elbo_source *s);

#endif
