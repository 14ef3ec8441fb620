/* The kernel front-end: one elbo_<kernel> per kernel of ops/kernels/list.h,
 * same signature and semantics as its table slot (the list gives both), run
 * on the table of the current SIMD level (elbo_k()).
 *
 * Large inputs are split into fixed-size tasks (boundaries depend only on the
 * sizes, never on the thread count) and run through elbo_parallel_for
 * (ops/pool.h); small inputs run inline. How a kernel is split follows from
 * its signature class (see the list): elementwise kernels by chunks of
 * floats, row kernels by rows, axis kernels by outer slices, normalization
 * and window kernels by images; kernels whose output sums over rows (col_sum,
 * gauss_nll_bwd with dlv) and the im2col pair run as one call. Every result is
 * the same bits as one call of the kernel on the whole array; elbo_sum
 * combines per-chunk double sums in chunk order, so it is bit-identical for
 * any thread count too.
 *
 * Conventions as in ops/kernels/list.h: row-major float32, (R,C) shapes,
 * `d` arrays are accumulated (+=). */
#ifndef ELBO_OPS_H
#define ELBO_OPS_H

#include <stddef.h>

#include "ops/kernels.h"

/* Inputs with fewer floats than this run inline on the caller. */
#define ELBO_OPS_PARALLEL_MIN 32768
/* Floats per task of a split loop (64 KiB per array). */
#define ELBO_OPS_CHUNK 16384

#define ELBO_OPS_PROTO_(name, cls) ELBO_KC_##cls##_RET elbo_##name ELBO_KC_##cls##_PARAMS;
ELBO_KERNELS(ELBO_OPS_PROTO_)
#undef ELBO_OPS_PROTO_

#endif
