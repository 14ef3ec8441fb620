/* libFuzzer harness: the IDX parser (models/io/idx.h) on arbitrary bytes.
 * Each input is parsed as images (rank 3) and as labels (rank 1). Beyond the
 * sanitizers, it checks the reader's contract: success gives a payload of
 * exactly the product of the dims, every failure leaves one message naming
 * the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/idx.h"
#include "ops/error.h"
#include "fuzz_common.h"

#define NAME "fuzz-input.idx"

static void check_one(const uint8_t *data, size_t size, int rank)
{
    elbo_idx idx;
    memset(&idx, 0, sizeof idx);
    elbo_status st = elbo_idx_parse(NAME, data, size, rank, &idx);
    if (st == ELBO_OK) {
        size_t count = 1;
        if (idx.rank != rank)
            abort();
        for (int i = 0; i < idx.rank; i++) {
            if (idx.dims[i] == 0 || count > SIZE_MAX / idx.dims[i])
                abort();
            count *= idx.dims[i];
        }
        if (count != idx.count || 4 + 4 * (size_t)rank + count != size || !idx.data)
            abort();
        /* the payload is the input's tail, copied */
        if (memcmp(idx.data, data + 4 + 4 * (size_t)rank, count) != 0)
            abort();
        elbo_idx_free(&idx);
    } else {
        const char *msg = elbo_last_error();
        if (!fuzz_message_ok(msg, NAME))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(data, size, 3);
    check_one(data, size, 1);
    return 0;
}
