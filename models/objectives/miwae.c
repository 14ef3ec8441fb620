/* MIWAE(M,K) (Rainforth et al. 2018): M independent IWAE-K bounds per
 * example, averaged:
 *   loss = -sum_b (1/M) sum_g log (1/K) sum_k w_bgk,
 *   log w = log Pr(x|z) + log Pr(z) - log q(z|x)   (17.28)
 * from M K reparameterized draws. M = 1 is IWAE-K; K = 1 is the ELBO with M
 * draws (its KL estimated from them). For the same draws
 * ELBO <= MIWAE(M,K) <= IWAE(M K). M is elbo_vae_objective.variant (--iwae-m),
 * K is iw_k (--iwae-train). */
#include "models/objectives/iw_internal.h"
#include "models/vae/vae_internal.h"

static elbo_node *loss(elbo_vae_fwd *f)
{
    const int K = iw_k_of(f->obj), M = iw_m_of(f->obj);
    elbo_node *lw = iw_log_weights(f, M * K); /* (B, M K) */
    return elbo_ad_scale(f->t, iw_neg_group_bounds(f->t, lw, M, K), 1.0f / (float)M);
}

static elbo_status check(const elbo_vae_objective *o) { return iw_check_mk("miwae", o); }

const elbo_vae_objective_ops elbo_objective_miwae = {
    .name = "miwae",
    .help = "MIWAE(M,K): the mean of M IWAE-K bounds, M = --iwae-m, K = --iwae-train",
    .check = check,
    .loss = loss,
};
