/* Picks the GEMM engine's per-chunk loops of the current SIMD level. */
#include "models/mog/mog_gemm.h"
#include "ops/simd_level.h"

static const mog_gemm_fns *const levels[ELBO_SIMD_COUNT] = {ELBO_SIMD_VARIANTS(mog_gemm_fns)};

const mog_gemm_fns *mog_gemm_kernels(void) { return ELBO_SIMD_CURRENT(levels); }
