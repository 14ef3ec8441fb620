/* The convolution checks shared by the Criterion suite (tests/ops/test_conv.c)
 * and the dependency-free SIMD check of the cross builds
 * (tests/reliability/neon_check.c): the fast path of ops/conv.h (im2col +
 * GEMM) against its direct-loop references over geometries with stride,
 * padding, dilation, odd sizes and 1x1 kernels, and its results for 1 and 2
 * threads. No Criterion here. */
#ifndef ELBO_TEST_CONV_CASES_H
#define ELBO_TEST_CONV_CASES_H

#include <stddef.h>

/* At the current SIMD level: the number of failures, the first one in msg. */
int cc_check_refs(char *msg, size_t len);
int cc_check_threads(char *msg, size_t len);

#endif
