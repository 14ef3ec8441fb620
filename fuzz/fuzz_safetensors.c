/* libFuzzer harness: the safetensors reader (models/io/safetensors.h, with
 * the JSON reader under it) on arbitrary bytes. Contract: the tensors of a
 * file that opens tile its data buffer exactly, each read as float32 when
 * its dtype is a float one; every failure leaves one line naming the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/io/safetensors.h"

#define NAME "fuzz-input.safetensors"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elbo_safetensors f;
    if (elbo_safetensors_parse(NAME, data, size, &f) != ELBO_OK) {
        if (!fuzz_message_ok(elbo_last_error(), NAME))
            abort();
        return 0;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < f.n; i++) {
        const elbo_st_tensor *t = &f.t[i];
        if (t->end < t->begin || t->end > size - f.data_start || elbo_safetensors_find(&f, t->name) == NULL)
            abort();
        bytes += t->end - t->begin;
        float *v = malloc(t->count ? t->count * sizeof(float) : 1);
        elbo_status st = elbo_safetensors_read_f32(&f, t, v);
        int is_float = t->dtype == ELBO_ST_F32 || t->dtype == ELBO_ST_F16 || t->dtype == ELBO_ST_BF16 ||
                       t->dtype == ELBO_ST_F64;
        if ((st == ELBO_OK) != is_float)
            abort();
        free(v);
    }
    if (bytes != size - f.data_start)
        abort();
    elbo_safetensors_close(&f);
    return 0;
}
