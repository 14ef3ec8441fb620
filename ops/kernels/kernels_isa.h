/* Prototypes of one build's kernels, generated from ops/kernels/list.h and
 * named through KERNEL() (elbo_add_avx2, ..., elbo_add_scalar for the
 * reference build); the family sources include this header, so a kernel whose
 * definition does not match its class's signature fails to compile.
 * ops/kernels/table.c collects them into the build's table. */
#ifndef ELBO_KERNELS_ISA_H
#define ELBO_KERNELS_ISA_H

#include <stddef.h>

#include "ops/kernels/list.h"
#include "ops/simd.h"

#define ELBO_KERNEL_PROTO_(name, cls) ELBO_KC_##cls##_RET KERNEL(elbo_##name) ELBO_KC_##cls##_PARAMS;
ELBO_KERNELS(ELBO_KERNEL_PROTO_)
#undef ELBO_KERNEL_PROTO_

#endif
