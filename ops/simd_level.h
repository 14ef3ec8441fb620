/* The one run-time dispatcher: the choice of the SIMD level, and the pick of
 * a component's variant for it.
 *
 * The default level is the best one this CPU supports (cpuid on x86), unless
 * the environment sets ELBO_SIMD=scalar|avx2|avx512|neon. elbo_simd_set()
 * forces a level for tests, benchmarks and ablations.
 *
 * Every component with one variant per level keeps its variants in an array
 * indexed by elbo_simd, filled by ELBO_SIMD_VARIANTS, and picks with
 * ELBO_SIMD_PICK or ELBO_SIMD_CURRENT: the kernel table (ops/dispatch.c), the
 * GEMM micro-kernels (ops/gemm/gemm.c) and the EM pass (models/mog). */
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

/* Designated initializers of a per-level array of variants named by KERNEL()
 * (ops/simd.h): sym_scalar, sym_avx2, ..., one per level this architecture
 * builds. ELBO_SIMD_ISA_VARIANTS leaves the scalar slot NULL, for a component
 * whose scalar level is a reference outside the per-ISA sources (GEMM). */
#define ELBO_SIMD_VARIANT_(sym, isa) &sym##_##isa
#if defined(__x86_64__) || defined(_M_X64)
#define ELBO_SIMD_ISA_VARIANTS(sym) \
    [ELBO_SIMD_AVX2] = ELBO_SIMD_VARIANT_(sym, avx2), [ELBO_SIMD_AVX512] = ELBO_SIMD_VARIANT_(sym, avx512),
#elif defined(__aarch64__)
#define ELBO_SIMD_ISA_VARIANTS(sym) [ELBO_SIMD_NEON] = ELBO_SIMD_VARIANT_(sym, neon),
#else
#define ELBO_SIMD_ISA_VARIANTS(sym)
#endif
#define ELBO_SIMD_VARIANTS(sym) [ELBO_SIMD_SCALAR] = ELBO_SIMD_VARIANT_(sym, scalar), ELBO_SIMD_ISA_VARIANTS(sym)

/* The variant for `level` (NULL when this CPU or build lacks the level), and
 * the variant for the current level (always supported). */
#define ELBO_SIMD_PICK(variants, level) (elbo_simd_supported(level) ? (variants)[level] : NULL)
#define ELBO_SIMD_CURRENT(variants) ((variants)[elbo_simd_current()])

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

/* Validate ELBO_SIMD, ELBO_PRECISION (ops/precision.h) and ELBO_THREADS from
 * the environment and apply them.
 * Drivers call this first so a bad value is reported, not silently ignored. */
elbo_status elbo_runtime_init(void);

#endif
