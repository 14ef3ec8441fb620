/* libFuzzer harness: the .npy reader (models/io/npy.h) on arbitrary bytes.
 * Contract: a header that parses describes exactly the bytes after it
 * (count * itemsize), every element then reads as uint8 or float32 as its
 * kind allows, and every element reads as float64 unless it is an integer
 * beyond 2^53; any failure leaves one line naming the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/io/npy.h"

#define NAME "fuzz-input.npy"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elbo_npy_info h;
    elbo_status st = elbo_npy_info_parse(NAME, data, size, &h);
    if (st != ELBO_OK) {
        if (!fuzz_message_ok(elbo_last_error(), NAME))
            abort();
        return 0;
    }
    if (h.ndim < 0 || h.ndim > ELBO_NPY_MAX_DIMS || h.data_offset > size ||
        h.count * (uint64_t)h.itemsize != size - h.data_offset)
        abort();
    elbo_source s;
    elbo_source_memory(&s, NAME, data, size);
    size_t n = (size_t)h.count;
    double *d = malloc(n ? n * sizeof(double) : 1);
    st = elbo_npy_read_f64(&s, &h, 0, n, d);
    if (st != ELBO_OK && (h.kind == ELBO_NPY_FLOAT || h.itemsize < 8 || !fuzz_message_ok(elbo_last_error(), NAME)))
        abort(); /* only a 64-bit integer beyond 2^53 is refused */
    free(d);
    if (h.kind == ELBO_NPY_FLOAT) {
        float *f = malloc(n ? n * sizeof(float) : 1);
        if (elbo_npy_read_f32(&s, &h, 0, n, f) != ELBO_OK)
            abort(); /* a valid float array always reads */
        free(f);
    } else {
        uint8_t *u = malloc(n ? n : 1);
        st = elbo_npy_read_u8(&s, &h, 0, n, u);
        if (st != ELBO_OK && !fuzz_message_ok(elbo_last_error(), NAME)) /* values beyond 0..255 are refused */
            abort();
        free(u);
    }
    return 0;
}
