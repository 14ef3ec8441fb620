/* libFuzzer harness: the zip reader (models/io/zip.h) and, inside it, the
 * .npy reader, on arbitrary bytes: every member is opened (inflated when
 * deflated, CRC-checked) and, if it parses as .npy, read whole. Contract:
 * members lie inside the archive, an opened member has the directory's
 * size; every failure leaves one line naming the archive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/io/npy.h"
#include "models/io/zip.h"

#define NAME "fuzz-input.npz"
#define MAX_MEMBERS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elbo_source s;
    elbo_source_memory(&s, NAME, data, size);
    elbo_zip z;
    if (elbo_zip_open(&z, &s) != ELBO_OK) {
        if (!fuzz_message_ok(elbo_last_error(), NAME))
            abort();
        return 0;
    }
    for (size_t i = 0; i < z.n && i < MAX_MEMBERS; i++) {
        elbo_source m;
        uint8_t *owned;
        char name[512];
        if (elbo_zip_member_source(&z, i, &m, &owned, name, sizeof name) != ELBO_OK) {
            if (!fuzz_message_ok(elbo_last_error(), NAME))
                abort();
            continue;
        }
        if (m.size != z.members[i].size)
            abort();
        elbo_npy_info h;
        if (elbo_npy_info_read(&m, &h) == ELBO_OK) {
            size_t n = (size_t)h.count;
            if (h.kind == ELBO_NPY_FLOAT) {
                float *f = malloc(n ? n * sizeof(float) : 1);
                if (elbo_npy_read_f32(&m, &h, 0, n, f) != ELBO_OK)
                    abort();
                free(f);
            } else {
                uint8_t *u = malloc(n ? n : 1);
                (void)elbo_npy_read_u8(&m, &h, 0, n, u);
                free(u);
            }
        } else if (!fuzz_message_ok(elbo_last_error(), NAME)) {
            abort();
        }
        free(owned);
    }
    elbo_zip_free(&z);
    return 0;
}
