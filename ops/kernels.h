/* The kernel table: every vectorized kernel of the toolkit, once per SIMD level.
 *
 * The kernels, their signatures and their formulas are listed once, in
 * ops/kernels/list.h; the table's slots are generated from that list.
 * elbo_kernels_scalar holds the naive scalar references (the test oracle);
 * the other tables hold the SIMD kernels of the same family sources compiled
 * per ISA over ops/simd.h. Callers normally go through ops/ops.h, which picks
 * the table of the current level and splits large arrays across threads. */
#ifndef ELBO_KERNELS_H
#define ELBO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "ops/kernels/list.h"

struct elbo_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */
#define ELBO_KERNEL_SLOT_(name, cls) ELBO_KC_##cls##_RET(*name) ELBO_KC_##cls##_PARAMS;
    ELBO_KERNELS(ELBO_KERNEL_SLOT_)
#undef ELBO_KERNEL_SLOT_
};

extern const struct elbo_kernels elbo_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const struct elbo_kernels elbo_kernels_avx2;
extern const struct elbo_kernels elbo_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const struct elbo_kernels elbo_kernels_neon;
#endif

/* The names of the kernels ("add", ..., in list order) and a kernel's slot of
 * a table as a generic function pointer (cast back to its class's type
 * before calling): for tests and tools that walk the whole table. */
extern const char *const elbo_kernel_names[ELBO_KERNEL_COUNT];
typedef void (*elbo_kernel_fn)(void);
elbo_kernel_fn elbo_kernel_slot(const struct elbo_kernels *k, enum elbo_kernel_id id);

#endif
