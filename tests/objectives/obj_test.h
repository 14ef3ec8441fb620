/* Helpers of the objective tests: a batch of a diagonal Gaussian posterior
 * (mu, logvar, z) as parameters, and the finite-difference check of a
 * penalty's gradient with respect to them at every SIMD level. */
#ifndef ELBO_TEST_OBJ_H
#define ELBO_TEST_OBJ_H

#include <stdbool.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"

/* mu, logvar, z (B,D): ids 0, 1, 2 of p (initialized here, free with
 * elbo_params_free); mu in [-1,1), logvar in [-1,0.5), z = mu + e^{lv/2} eps
 * with eps in [-2,2), all from seed. */
void ot_batch(elbo_params *p, int B, int D, uint64_t seed);

/* The penalty as a function of the batch's nodes (lv and z may be unused). */
typedef elbo_node *(*ot_build_fn)(elbo_tape *t, elbo_node *mu, elbo_node *lv, elbo_node *z, void *ctx);

/* Central differences (h = 1e-2 in float, the penalty in double) against
 * the tape's gradient for every element of the parameters marked in which
 * (bit 0 mu, 1 logvar, 2 z), at every SIMD level this CPU supports. Returns
 * the count of elements off |fd - ad| <= atol + rtol |fd| (atol widened by
 * 8 float ulps of the penalty over the step: fd's resolution), the first in
 * msg; OT_DEBUG=1 prints every one. */
int ot_grad_check(elbo_params *p, ot_build_fn build, void *ctx, unsigned which, double atol, double rtol,
                  char *msg, size_t msg_len);

/* |a - b| <= tol max(1, |b|) */
bool ot_close(double a, double b, double tol);

#endif
