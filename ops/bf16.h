/* bfloat16: the top 16 bits of a float32 (sign, 8 exponent bits, 7 mantissa
 * bits), the input type of the mixed-precision GEMM (ops/gemm.h).
 *
 * Rounding float32 -> bf16 is round-to-nearest-even on the dropped 16 bits,
 * with the rules of the x86 VCVTNE2PS2BF16 instruction so that the scalar
 * reference and every vector conversion give the same bits:
 *   zero and subnormal inputs -> zero of the same sign (the dot-product
 *     instruction treats subnormal bf16 inputs as zero anyway);
 *   Inf -> Inf; NaN -> a quiet NaN with the sign and top payload bits kept;
 *   a finite value past the largest bf16 (about 3.39e38) -> Inf (caught by
 *     the finite checks of the training loop, like any overflow).
 * No normal float32 rounds to a bf16 subnormal (rounding never lowers the
 * exponent), so outputs are never subnormal. */
#ifndef ELBO_BF16_H
#define ELBO_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The scalar reference: bf16 bits of x (test oracle of every vector conversion). */
static inline uint16_t elbo_bf16_round_ref(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t exp = u & 0x7f800000u, man = u & 0x007fffffu;
    if (exp == 0x7f800000u) /* Inf, or NaN made quiet */
        return (uint16_t)((u >> 16) | (man ? 0x0040u : 0u));
    if (exp == 0) /* zero or subnormal: signed zero */
        return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7fffu + ((u >> 16) & 1u); /* ties go to the even bf16 */
    return (uint16_t)(u >> 16);
}

/* The float32 a bf16 stands for (exact). */
static inline float elbo_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* x rounded to bf16 and back, as the mixed-precision GEMM sees it. */
static inline float elbo_bf16_quantize(float x) { return elbo_bf16_to_f32(elbo_bf16_round_ref(x)); }

/* y[i] = bf16(x[i]) for i < n with the fastest conversion this CPU has (the
 * vector instruction where the bf16 GEMM runs, else the reference). */
void elbo_bf16_round_n(size_t n, const float *x, uint16_t *y);

#endif
