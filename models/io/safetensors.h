/* safetensors files (the format of Hugging Face's safetensors library):
 *
 *   u64 little-endian N | N bytes of JSON header | the data buffer
 *   header: {"__metadata__": {"key": "value", ...},
 *            "NAME": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...}
 *
 * Offsets are relative to the data buffer. The reader checks everything
 * the reference implementation does: the header fits the file (and 100 MB),
 * parses (models/io/json_read.h), every tensor has a known dtype, a shape
 * whose element count times the dtype size is end - begin, and the tensors
 * tile the buffer exactly (no gap, no overlap, nothing after). Tensors are
 * read into float32: F32 as is, F16, BF16 and F64 converted (F64 rounded to
 * nearest); other dtypes are listed but not read. The writer writes F32
 * tensors in the order given, the header padded with spaces to a multiple of
 * 8 bytes, atomically (models/io/file.h). */
#ifndef ELBO_IO_SAFETENSORS_H
#define ELBO_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "models/io/source.h"
#include "ops/error.h"

#define ELBO_ST_MAX_HEADER (100u << 20)
#define ELBO_ST_MAX_DIMS 8
#define ELBO_ST_NAME_MAX 255

typedef enum elbo_st_dtype {
    ELBO_ST_F32, ELBO_ST_F16, ELBO_ST_BF16, ELBO_ST_F64,
    ELBO_ST_BOOL, ELBO_ST_U8, ELBO_ST_I8, ELBO_ST_I16, ELBO_ST_U16, ELBO_ST_I32, ELBO_ST_U32, ELBO_ST_I64, ELBO_ST_U64,
    ELBO_ST_F8_E4M3, ELBO_ST_F8_E5M2,
} elbo_st_dtype;

typedef struct elbo_st_tensor {
    char name[ELBO_ST_NAME_MAX + 1];
    elbo_st_dtype dtype;
    int ndim;
    uint64_t shape[ELBO_ST_MAX_DIMS];
    uint64_t count;      /* elements */
    uint64_t begin, end; /* in the data buffer */
} elbo_st_tensor;

typedef struct elbo_safetensors {
    elbo_source src;
    uint64_t data_start; /* 8 + N */
    elbo_st_tensor *t;
    size_t n;
    char **meta_keys, **meta_values;
    size_t n_meta;
} elbo_safetensors;

/* Open and validate the file at path (closed by elbo_safetensors_close). */
elbo_status elbo_safetensors_open(const char *path, elbo_safetensors *f);
/* The same over memory buf[0..len) (kept by reference; fuzzing, tests). */
elbo_status elbo_safetensors_parse(const char *name, const uint8_t *buf, size_t len, elbo_safetensors *f);
void elbo_safetensors_close(elbo_safetensors *f);

const elbo_st_tensor *elbo_safetensors_find(const elbo_safetensors *f, const char *name);
/* A metadata value, or NULL. */
const char *elbo_safetensors_meta(const elbo_safetensors *f, const char *key);
const char *elbo_st_dtype_name(elbo_st_dtype d);
/* Tensor t as count floats into dst (F32, F16, BF16 or F64; others: ELBO_ERR_UNSUPPORTED). */
elbo_status elbo_safetensors_read_f32(const elbo_safetensors *f, const elbo_st_tensor *t, float *dst);

/* One float32 tensor to write. */
typedef struct elbo_st_out {
    const char *name;
    const float *data;
    int ndim;
    uint64_t shape[ELBO_ST_MAX_DIMS];
} elbo_st_out;

/* Write tensors t[0..n) and metadata pairs (keys[i], values[i]) atomically. */
elbo_status elbo_safetensors_write(const char *path, const elbo_st_out *t, size_t n, const char *const *meta_keys,
                                   const char *const *meta_values, size_t n_meta);

/* Round float32 to bfloat16 (round to nearest, ties to even; NaN stays NaN)
 * and back: for tests of the BF16 reader and writers of bf16 peers. */
uint16_t elbo_f32_to_bf16(float v);
float elbo_bf16_to_f32(uint16_t h);

#endif
