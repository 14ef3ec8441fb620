/* The pieces the importance-weighted objectives share (iw_internal.h). */
#include "models/objectives/iw_internal.h"
#include "models/vae/vae_internal.h"

#include <math.h>

int iw_k_of(const elbo_vae_objective *o) { return o->iw_k > 1 ? o->iw_k : 1; }
int iw_m_of(const elbo_vae_objective *o) { return o->variant > 1 ? o->variant : 1; }

elbo_status iw_check_mk(const char *name, const elbo_vae_objective *o)
{
    if (o->iw_k < 0 || o->iw_k > IW_MAX_K)
        return elbo_fail(ELBO_ERR_INVALID, "objective %s: expected K in 1..%d, got %d", name, IW_MAX_K, o->iw_k);
    if (o->variant < 0 || o->variant > IW_MAX_M)
        return elbo_fail(ELBO_ERR_INVALID, "objective %s: expected M in 1..%d, got %d", name, IW_MAX_M, o->variant);
    if ((long)iw_k_of(o) * iw_m_of(o) > IW_MAX_DRAWS)
        return elbo_fail(ELBO_ERR_INVALID, "objective %s: expected M K <= %d draws per example, got %d x %d", name,
                         IW_MAX_DRAWS, iw_m_of(o), iw_k_of(o));
    return ELBO_OK;
}

elbo_node *iw_log_weights(elbo_vae_fwd *f, int S)
{
    elbo_tape *t = f->t;
    elbo_node *lw = NULL; /* (B,S) */
    for (int s = 0; s < S; s++) {
        elbo_node *z = elbo_vae_fwd_sample(f);
        elbo_node *lw_s = elbo_vae_log_weight(t, f->m, &f->q, z, elbo_vae_fwd_nll(f, z));
        if (elbo_tape_status(t) != ELBO_OK)
            return NULL;
        lw = lw ? elbo_ad_concat_cols(t, lw, lw_s) : lw_s;
    }
    return lw;
}

/* lw (B, M K) viewed as (B M, K): row b M + g is group g of example b; each
 * row's log-mean-exp by the stable logsumexp, whose gradient is the
 * normalised importance weights of the group (Burda et al. 2016). */
elbo_node *iw_neg_group_bounds(elbo_tape *t, elbo_node *lw, int M, int K)
{
    if (!lw)
        return NULL;
    const int B = lw->rows;
    elbo_node *g = M > 1 ? elbo_ad_reshape(t, lw, 2, (int[]){B * M, K}) : lw;
    /* -sum_{b,g} lse_bg + B M log K */
    return elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum(t, elbo_ad_logsumexp_rows(t, g)), -1.0f),
                       vae_constant(t, 1, 1, (float)((double)B * M * log((double)K))));
}
