/* Picks the EM pass kernel of the current SIMD level. */
#include "models/mog/mog_pass.h"
#include "ops/simd_level.h"

mog_pass_fn mog_pass_kernel(void)
{
    switch (elbo_simd_current()) {
#if defined(__x86_64__)
    case ELBO_SIMD_AVX512:
        return mog_pass_avx512;
    case ELBO_SIMD_AVX2:
        return mog_pass_avx2;
#endif
#if defined(__aarch64__)
    case ELBO_SIMD_NEON:
        return mog_pass_neon;
#endif
    default:
        return mog_pass_scalar;
    }
}
