/* Helpers shared by the Criterion tests. */
#ifndef ELBO_TEST_UTIL_H
#define ELBO_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Deterministic test data: uniform in [lo, hi) from a seed (splitmix64). */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* Largest |a-b| / (atol + rtol*|b|) over n; <= 1 means within tolerance.
 * Any NaN mismatch gives +inf. Index of the worst element in *worst if not NULL. */
double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol, size_t *worst);

/* A fresh temporary directory for a test (mkdtemp under TMPDIR or /tmp); caller frees. */
char *tu_tempdir(void);

#endif
