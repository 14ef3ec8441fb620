/* NumPy .npy arrays (format versions 1.0, 2.0 and 3.0): a reader for
 * C-order arrays of bool, integer and float elements, and a streaming writer
 * of float32 / uint8 arrays (the latents, samples and reconstructions the
 * drivers write next to their figures).
 *
 * The header is the Python dict literal numpy writes
 * ({'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }),
 * parsed strictly: the three keys once each, a simple descr (no structured
 * or object dtypes), at most ELBO_NPY_MAX_DIMS dimensions whose product
 * fits, and exactly count * itemsize data bytes after the header. Every
 * failure names the file and what was wrong (truncated header, a lying
 * shape, Fortran order, ...). Reading is by element range into a typed
 * buffer, so a data set is converted as it is read, never copied whole. */
#ifndef ELBO_IO_NPY_H
#define ELBO_IO_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/io/file.h"
#include "models/io/source.h"
#include "ops/error.h"

#define ELBO_NPY_MAX_DIMS 8
/* Longest header accepted (numpy's own reader stops at 10000 by default). */
#define ELBO_NPY_MAX_HEADER 65536

typedef enum elbo_npy_kind { ELBO_NPY_BOOL, ELBO_NPY_UINT, ELBO_NPY_INT, ELBO_NPY_FLOAT } elbo_npy_kind;

typedef struct elbo_npy_info {
    elbo_npy_kind kind;
    int itemsize;   /* bytes per element: 1, 2, 4 or 8 */
    bool big_endian;
    char descr[8];  /* as in the file, e.g. "<f4" */
    int ndim;
    uint64_t shape[ELBO_NPY_MAX_DIMS];
    uint64_t count;       /* product of shape (1 for a scalar) */
    uint64_t data_offset; /* where the elements start */
} elbo_npy_info;

/* Parse the header of the .npy held in src (the whole source is the file). */
elbo_status elbo_npy_info_read(const elbo_source *src, elbo_npy_info *info);
/* Parse the header from memory buf[0..len) holding a whole .npy. */
elbo_status elbo_npy_info_parse(const char *name, const uint8_t *buf, size_t len, elbo_npy_info *info);

/* "uint8", "float32", ... for messages. */
const char *elbo_npy_type_name(const elbo_npy_info *info);

/* Elements first..first+n as uint8: bool and integer arrays whose values
 * are 0..255 (anything else is ELBO_ERR_FORMAT naming the element). */
elbo_status elbo_npy_read_u8(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n,
                             uint8_t *dst);
/* Elements first..first+n as float32: float16/32/64 arrays (float64 is
 * rounded to nearest); integer and bool arrays are ELBO_ERR_FORMAT. */
elbo_status elbo_npy_read_f32(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n,
                              float *dst);

/* Elements first..first+n as float64, any kind: floats widened exactly
 * (float64 as stored), bool and integers exactly; an integer beyond 2^53 in
 * magnitude (not exact as a double) is ELBO_ERR_FORMAT naming the element.
 * For tables of numbers (codes, factor classes) rather than pixels. */
elbo_status elbo_npy_read_f64(const elbo_source *src, const elbo_npy_info *info, uint64_t first, size_t n,
                              double *dst);

/* A whole .npy written atomically, element by element in C order. */
typedef struct elbo_npy_writer {
    elbo_afile file;
    uint64_t want, done; /* elements */
    int itemsize;
} elbo_npy_writer;

/* descr is "<f4" (float32) or "|u1" (uint8). */
elbo_status elbo_npy_writer_open(elbo_npy_writer *w, const char *path, const char *descr, const uint64_t *shape,
                                 int ndim);
/* The next n elements (host float32 or uint8, by the writer's descr). */
elbo_status elbo_npy_writer_put(elbo_npy_writer *w, const void *data, size_t n);
/* Commit (ELBO_ERR_INVALID if the element count differs from the shape's). */
elbo_status elbo_npy_writer_close(elbo_npy_writer *w);
void elbo_npy_writer_abort(elbo_npy_writer *w);

/* One call: a float32 array of shape[0..ndim). */
elbo_status elbo_npy_write_f32(const char *path, const float *data, const uint64_t *shape, int ndim);

#endif
