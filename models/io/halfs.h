/* Internal to models/io: 16-bit floats (IEEE binary16) read as float32, for
 * the .npy and safetensors readers. Not installed. */
#ifndef ELBO_IO_HALFS_H
#define ELBO_IO_HALFS_H

#include <math.h>
#include <stdint.h>

static inline float elbo_f16_to_f32(uint32_t h)
{
    uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    float v;
    if (exp == 0)
        v = ldexpf((float)man, -24); /* subnormal (or zero) */
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexpf((float)(man | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

#endif
