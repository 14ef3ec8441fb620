/* Picks the EM pass kernel of the current SIMD level. */
#include "models/mog/mog_pass.h"
#include "ops/simd_level.h"

static const mog_pass_fn levels[ELBO_SIMD_COUNT] = {ELBO_SIMD_VARIANTS(mog_pass)};

mog_pass_fn mog_pass_kernel(void) { return ELBO_SIMD_CURRENT(levels); }
