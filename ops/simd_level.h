/* Run-time choice of the SIMD level.
 *
 * The default is the best level this CPU supports (cpuid on x86), unless the
 * environment sets ELBO_SIMD=scalar|avx2|avx512|neon. elbo_simd_set() forces
 * a level for tests, benchmarks and ablations. */
#ifndef ELBO_SIMD_LEVEL_H
#define ELBO_SIMD_LEVEL_H

#include <stdbool.h>

#include "error.h"
#include "kernels.h"

typedef enum elbo_simd {
    ELBO_SIMD_SCALAR,
    ELBO_SIMD_AVX2,
    ELBO_SIMD_AVX512,
    ELBO_SIMD_NEON,
    ELBO_SIMD_COUNT
} elbo_simd;

const char *elbo_simd_name(elbo_simd level);
/* "scalar" -> ELBO_SIMD_SCALAR, ...; ELBO_ERR_INVALID for an unknown name. */
elbo_status elbo_simd_parse(const char *name, elbo_simd *out);
/* Built into this library and supported by this CPU. */
bool elbo_simd_supported(elbo_simd level);
elbo_simd elbo_simd_best(void);
elbo_simd elbo_simd_current(void);
/* ELBO_ERR_UNSUPPORTED if the CPU or the build lacks the level. */
elbo_status elbo_simd_set(elbo_simd level);

/* The kernel table of a level (NULL if unsupported) and of the current one. */
const struct elbo_kernels *elbo_kernels_for(elbo_simd level);
const struct elbo_kernels *elbo_k(void);

/* Validate ELBO_SIMD and ELBO_THREADS from the environment and apply them.
 * Drivers call this first so a bad value is reported, not silently ignored. */
elbo_status elbo_runtime_init(void);

#endif
