/* A trained VAE's test scores split across data-parallel ranks
 * (data_parallel.h; NULL: this process does every chunk). The data set is
 * cut into chunks of `chunk` rows; chunk c draws its noise from a stream of
 * (seed, c), so a chunk gives the same numbers on any rank and the sums
 * (added in chunk order) are the same bits for any rank count. Collective. */
#ifndef ELBO_EXPERIMENTS_DP_EVAL_H
#define ELBO_EXPERIMENTS_DP_EVAL_H

#include "data_parallel.h"
#include "models/vae/vae.h"

/* The test -ELBO, reconstruction and KL per example. */
elbo_status elbo_dp_evaluate(elbo_dp *d, elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int chunk, uint64_t seed,
                             elbo_vae_eval *ev);
/* The IW-K estimate of -log p(x) per example (17.28). */
elbo_status elbo_dp_iw_nll(elbo_dp *d, elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int k, int chunk,
                           uint64_t seed, double *nll);

#endif
