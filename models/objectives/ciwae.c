/* CIWAE (Rainforth et al. 2018): a convex combination of the ELBO and the
 * IWAE-K bound over the same K draws,
 *   loss = -sum_b [beta (1/K) sum_k log w_bk + (1 - beta) log (1/K) sum_k w_bk]
 * with log w the IWAE log-weight (17.28), beta in [0,1]
 * (elbo_vae_objective.alpha, --ciwae-beta): 1 is the ELBO with K draws
 * (KL estimated from them), 0 is IWAE-K. */
#include "models/objectives/iw_internal.h"
#include "models/vae/vae_internal.h"

#include <math.h>

static elbo_node *loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    const int K = iw_k_of(f->obj);
    const float beta = f->obj->alpha;
    elbo_node *lw = iw_log_weights(f, K); /* (B,K) */
    if (!lw)
        return NULL;
    elbo_node *elbo = elbo_ad_scale(t, elbo_ad_sum(t, lw), -beta / (float)K); /* -beta sum_b mean_k log w */
    elbo_node *iwae = elbo_ad_scale(t, iw_neg_group_bounds(t, lw, 1, K), 1.0f - beta);
    return elbo_ad_add(t, elbo, iwae);
}

static elbo_status check(const elbo_vae_objective *o)
{
    if (!(o->alpha >= 0.0f && o->alpha <= 1.0f))
        return elbo_fail(ELBO_ERR_INVALID, "objective ciwae: expected beta in [0,1], got %g", (double)o->alpha);
    return iw_check_mk("ciwae", o);
}

const elbo_vae_objective_ops elbo_objective_ciwae = {
    .name = "ciwae",
    .help = "CIWAE: beta ELBO + (1 - beta) IWAE-K on the same draws, beta = --ciwae-beta, K = --iwae-train",
    .check = check,
    .loss = loss,
};
