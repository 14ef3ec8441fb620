/* The learned priors' extras (models/vae/prior_mog.c, prior_vamp.c,
 * prior_mog_init.c): the mixture prior's parameters in and out (the
 * params.csv of experiments/mog_em --cov diag), its fit started from the
 * chapter's EM (models/mog) on the encoder means, and its cluster
 * assignments. */
#ifndef ELBO_VAE_PRIOR_MOG_H
#define ELBO_VAE_PRIOR_MOG_H

#include <stddef.h>
#include <stdint.h>

#include "autodiff/tape.h"
#include "models/io/dataset.h"
#include "models/mog/mog.h"
#include "models/vae/vae.h"

/* The mixture prior as a table of K rows of 2 + 2Z numbers, the layout of
 * experiments/mog_em's params.csv with --cov diag: component, weight,
 * mean_0..mean_{Z-1}, var_0..var_{Z-1}. */
elbo_status elbo_vae_prior_mog_table(const elbo_vae *m, double *tab);
/* Set the mixture from such a table (name labels errors): a table of
 * another shape is ELBO_ERR_MISMATCH naming both shapes; a weight <= 0, a
 * variance <= 0 or a non-finite entry is ELBO_ERR_FORMAT naming the row and
 * column. Weights are normalised; the model is untouched on error. */
elbo_status elbo_vae_prior_mog_set_table(elbo_vae *m, const char *name, const double *tab, size_t rows, size_t cols);
/* The same from a CSV file (a header row is skipped). */
elbo_status elbo_vae_prior_mog_load(elbo_vae *m, const char *path);
/* Set the mixture from EM (models/mog, diagonal covariances, k-means++
 * seeds, seed, at most max_iter iterations, tol 1e-3, reg_covar 1e-6) on
 * the points mu (n, Z), e.g. the encoder means of the training set. With
 * the posteriors' log-variances logvar (n, Z) (may be NULL) each
 * component's variances then gain the mean posterior variance of its
 * points (responsibility-weighted): the mixture matches the aggregated
 * posterior's moments, not only its means' (EM on the means alone gives
 * components far narrower than q and a KL in the hundreds of nats). res
 * (may be NULL) receives EM's fit, widened so when logvar is given
 * (caller frees with mog_result_free). */
elbo_status elbo_vae_prior_mog_fit(elbo_vae *m, const float *mu, const float *logvar, size_t n, uint64_t seed,
                                   int max_iter, mog_result *res);
/* The same on the encoder means and log-variances of a data set (elbo_vae_encode_data). */
elbo_status elbo_vae_prior_mog_fit_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int eval_batch,
                                        uint64_t seed, int max_iter, mog_result *res);
/* Responsibilities Pr(k | z_i) of the mixture prior for z (n, Z) into
 * resp (n, K) and their argmax into cluster (n); either may be NULL. */
elbo_status elbo_vae_prior_mog_responsibilities(const elbo_vae *m, const float *z, size_t n, double *resp,
                                                int *cluster);

/* (B,K) log pi_k + log Norm[z_b; means_k, diag(e^{logvars_k})] on the tape
 * (log_w (1,K) or NULL for none): the mixture's joint, shared by the MoG
 * prior and the VampPrior. Private to models/vae. */
__attribute__((visibility("hidden"))) elbo_node *vae_prior_mog_log_joint(elbo_tape *t, elbo_node *z, elbo_node *log_w,
                                                                         elbo_node *means, elbo_node *logvars);

#endif
