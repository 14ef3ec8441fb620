/* libFuzzer harness: the CSV reader (models/io/csv.h) on arbitrary text.
 * The input is passed with its exact length and no terminator, so reading
 * one byte past the end is an ASan error. Contract checks: success gives a
 * non-empty table of finite values; failure leaves one line naming the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/csv.h"
#include "ops/error.h"
#include "fuzz_common.h"

#define NAME "fuzz-input.csv"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    double *out = NULL;
    size_t rows = 0, cols = 0;
    elbo_status st = elbo_csv_parse(NAME, (const char *)data, size, &out, &rows, &cols);
    if (st == ELBO_OK) {
        if (!out || rows == 0 || cols == 0 || rows > size || cols > size)
            abort();
        for (size_t i = 0; i < rows * cols; i++)
            if (!isfinite(out[i]))
                abort();
        free(out);
    } else {
        const char *msg = elbo_last_error();
        if (!fuzz_message_ok(msg, NAME))
            abort();
    }
    return 0;
}
