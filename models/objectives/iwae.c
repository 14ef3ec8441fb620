/* The IWAE-K bound (Burda et al. 2016) as the training objective:
 *   loss = -sum_b log (1/K) sum_k w_bk,  log w = log Pr(x|z_k) + log Pr(z_k) - log q(z_k|x)
 * with K reparameterized draws per example; its gradient weights each
 * draw's by its normalised importance weight. */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>

static elbo_node *loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    const int K = f->obj->iw_k > 1 ? f->obj->iw_k : 1;
    elbo_node *lw = NULL; /* (B,K) */
    for (int k = 0; k < K; k++) {
        elbo_node *z = elbo_vae_fwd_sample(f);
        elbo_node *lw_k = elbo_vae_log_weight(t, f->m, &f->q, z, elbo_vae_fwd_nll(f, z));
        if (elbo_tape_status(t) != ELBO_OK)
            return NULL;
        lw = lw ? elbo_ad_concat_cols(t, lw, lw_k) : lw_k;
    }
    /* -sum_b log (1/K) sum_k w_bk */
    return elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum(t, elbo_ad_logsumexp_rows(t, lw)), -1.0f),
                       vae_constant(t, 1, 1, (float)f->B * logf((float)K)));
}

static elbo_status check(const elbo_vae_objective *o)
{
    if (o->iw_k < 1 || o->iw_k > 100000)
        return elbo_fail(ELBO_ERR_INVALID, "objective iwae: expected K in 1..100000, got %d", o->iw_k);
    return ELBO_OK;
}

const elbo_vae_objective_ops elbo_objective_iwae = {
    .name = "iwae",
    .help = "the IWAE-K bound, K = --iwae-train",
    .check = check,
    .loss = loss,
};
