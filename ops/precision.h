/* Process-wide precision of the GEMMs of dense layers and convolutions.
 *
 *   fp32  every product in float32 (the default)
 *   bf16  those products take bf16 inputs (round-to-nearest-even, ops/bf16.h)
 *         and accumulate in float32 (vdpbf16ps on AVX512_BF16); everything
 *         else (weights and optimizer state, losses, KL, log-sum-exp,
 *         reductions, element-wise kernels) stays float32.
 *
 * Set from ELBO_PRECISION (elbo_runtime_init) or a driver's --precision.
 * bf16 asked for where the current SIMD level has no bf16 GEMM (a CPU without
 * AVX512_BF16, ELBO_SIMD=avx2, the scalar level) runs fp32; the library does
 * not print: elbo_precision_notice() gives the one line for the caller to
 * print once. Results are bit-identical for any thread count in either. */
#ifndef ELBO_PRECISION_H
#define ELBO_PRECISION_H

#include "error.h"

typedef enum elbo_precision { ELBO_PRECISION_FP32, ELBO_PRECISION_BF16, ELBO_PRECISION_COUNT } elbo_precision;

const char *elbo_precision_name(elbo_precision p);
/* "fp32" or "bf16"; ELBO_ERR_INVALID otherwise. */
elbo_status elbo_precision_parse(const char *name, elbo_precision *out);
/* Ask for a precision (always succeeds for a valid value; see the notice). */
elbo_status elbo_precision_set(elbo_precision p);
/* What was asked for, and what the GEMMs run: bf16 only where supported. */
elbo_precision elbo_precision_requested(void);
elbo_precision elbo_precision_current(void);
/* NULL, or one line saying bf16 was asked for and fp32 runs, and why. */
const char *elbo_precision_notice(void);

#endif
