/* libFuzzer harness: the dSprites factor table reader
 * (elbo_dsprites_parse_factors, models/data/dsprites.h) on arbitrary text.
 * Contract: success gives indices in range whose table rows would be
 * written back as read (checked by re-deriving every class); failure leaves
 * one line naming the input. */
#include <stdint.h>
#include <stdlib.h>

#include "models/data/dsprites.h"
#include "ops/error.h"
#include "fuzz_common.h"

#define NAME "fuzz-factors.csv"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t *index = NULL;
    size_t n = 0;
    elbo_status st = elbo_dsprites_parse_factors(NAME, (const char *)data, size, &index, &n);
    if (st == ELBO_OK) {
        if (!index || n == 0 || n > size)
            abort();
        for (size_t i = 0; i < n; i++) {
            int32_t c[ELBO_DSPRITES_FACTORS];
            if (index[i] >= ELBO_DSPRITES_COUNT)
                abort();
            elbo_dsprites_classes(index[i], c);
            if (elbo_dsprites_index(c) != index[i])
                abort();
        }
        free(index);
    } else if (!fuzz_message_ok(elbo_last_error(), NAME)) {
        abort();
    }
    return 0;
}
