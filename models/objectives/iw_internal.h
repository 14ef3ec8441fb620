/* Private to models/objectives/: what the importance-weighted objectives
 * (IWAE's variants MIWAE, CIWAE and PIWAE) share.
 *
 * Their numbers are K (the draws of one IWAE bound: elbo_vae_objective.iw_k)
 * and, for MIWAE and PIWAE, M (groups of K draws: elbo_vae_objective.variant;
 * 0 means 1), for CIWAE beta (the ELBO's weight: elbo_vae_objective.alpha). */
#ifndef ELBO_OBJECTIVES_IW_INTERNAL_H
#define ELBO_OBJECTIVES_IW_INTERNAL_H

#include "models/vae/component.h"

#define IW_INTERNAL __attribute__((visibility("hidden")))

#define IW_MAX_K 100000 /* draws of one bound */
#define IW_MAX_M 10000  /* groups */
#define IW_MAX_DRAWS 100000 /* M K draws per example in one step */

/* K and M of an objective (K >= 1, M >= 1). */
IW_INTERNAL int iw_k_of(const elbo_vae_objective *o);
IW_INTERNAL int iw_m_of(const elbo_vae_objective *o);
/* ELBO_ERR_INVALID with one line "objective NAME: expected K in 1..., got k"
 * unless K, M and M K are in range. */
IW_INTERNAL elbo_status iw_check_mk(const char *name, const elbo_vae_objective *o);
/* S draws of z per example and their log-weights (17.28) as one (B,S) node:
 * column s is draw s (so columns g K .. g K + K - 1 are group g). */
IW_INTERNAL elbo_node *iw_log_weights(elbo_vae_fwd *f, int S);
/* -sum_b sum_g [log (1/K) sum_{k in group g} w_bgk] over lw (B, M K): a
 * (1,1) node, M times the negative MIWAE(M,K) bound of the batch. */
IW_INTERNAL elbo_node *iw_neg_group_bounds(elbo_tape *t, elbo_node *lw, int M, int K);

#endif
