/* Shared by the metric sources (not installed). */
#ifndef ELBO_METRICS_INTERNAL_H
#define ELBO_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "models/metrics/metrics.h"

/* Largest minus second largest of x[0], x[stride], ... (n >= 2 values);
 * clamp: both first raised to 0 (Chen's clamp(min=0) after the sort). */
double metric_top_two_gap(const double *x, size_t stride, int n, bool clamp);

/* Every factor has at least two classes present (else nothing can be
 * normalised by its entropy or variance): ELBO_ERR_INVALID naming it. */
elbo_status metric_require_varied_factors(const char *metric, const elbo_factors *f);

/* What a gap score (MIG, SAP) needs: valid inputs, two code dimensions to
 * take the gap between, every factor varied. */
elbo_status metric_check_gap_inputs(const char *metric, const elbo_codes *codes, const elbo_factors *factors);

/* MIG from a latent-by-factor MI matrix mi (dim, count): over the factors
 * in mask (bit k), the gap of the two largest MIs (each first raised to 0
 * when clamp) over the factor's entropy, averaged; per_factor (count, may
 * be NULL) gets NaN outside the mask. */
elbo_status metric_mig_of(const char *metric, const elbo_factors *f, const double *mi, int dim, uint64_t mask,
                          bool clamp, double *score, double *per_factor);

/* Solve A x = b in place for a symmetric positive definite A (p, p),
 * row-major, overwritten by its Cholesky factor; b (p) becomes x. */
elbo_status metric_cholesky_solve(const char *metric, double *a, int p, double *b);

/* calloc that records ELBO_ERR_NOMEM on failure (n * size checked). */
void *metric_alloc(const char *metric, size_t n, size_t size);

#endif
