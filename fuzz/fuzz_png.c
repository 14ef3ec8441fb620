/* libFuzzer harness: the PNG decoder (models/io/png.h) and the inflate under
 * it, on arbitrary bytes: as a PNG, as a raw deflate stream and as a zlib
 * stream, each into a bounded buffer. Contract: a decoded image has the
 * sizes its header allows and every sample is readable; an inflate never
 * reports more output than its cap or more input than it was given; every
 * failure leaves one line naming the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/io/deflate.h"
#include "models/io/png.h"

#define NAME "fuzz-input.png"
#define CAP 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *px;
    int w, h, c;
    if (elbo_png_decode(NAME, data, size, &px, &w, &h, &c) == ELBO_OK) {
        if (w < 1 || h < 1 || w > ELBO_PNG_MAX_SIDE || h > ELBO_PNG_MAX_SIDE || c < 1 || c > 4)
            abort();
        volatile unsigned sum = 0;
        for (size_t i = 0; i < (size_t)w * h * c; i++)
            sum += px[i];
        (void)sum;
        free(px);
    } else if (!fuzz_message_ok(elbo_last_error(), NAME)) {
        abort();
    }
    static uint8_t out[CAP];
    size_t n, used;
    if (elbo_inflate(NAME, data, size, out, CAP, &n, &used) == ELBO_OK) {
        if (n > CAP || used > size)
            abort();
    } else if (!fuzz_message_ok(elbo_last_error(), NAME)) {
        abort();
    }
    if (elbo_zlib_decompress(NAME, data, size, out, CAP, &n) == ELBO_OK) {
        if (n > CAP)
            abort();
    } else if (!fuzz_message_ok(elbo_last_error(), NAME)) {
        abort();
    }
    return 0;
}
