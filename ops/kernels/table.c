/* The kernel table of one build: elbo_kernels_avx2, _avx512, _neon, or
 * _scalar (the references), generated from ops/kernels/list.h. Compiled once
 * per ISA and once as the reference build, like the family sources. */
#include "ops/kernels.h"
#include "ops/kernels/kernels_isa.h"

#define ELBO_TABLE_NAME_(s) #s
#define ELBO_TABLE_NAME(s) ELBO_TABLE_NAME_(s)

#define ELBO_TABLE_ENTRY_(name, cls) .name = KERNEL(elbo_##name),

const struct elbo_kernels ELBO_CAT(elbo_kernels, ELBO_ISA_SUFFIX) = {
    .name = ELBO_TABLE_NAME(ELBO_ISA_SUFFIX),
    ELBO_KERNELS(ELBO_TABLE_ENTRY_)
};
