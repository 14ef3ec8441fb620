/* DIP-VAE (Kumar et al. 2018): moment matching of the aggregate posterior
 * to the prior N(0, I) through a covariance, pushed to the identity:
 *     DIP-I:  C = Cov_batch[mu]                      (of the encoder means)
 *     DIP-II: C = E_batch[diag e^logvar] + Cov_batch[mu]   (of z's aggregate)
 *     penalty = lambda_od Σ_{k != l} C[k,l]² + lambda_d Σ_k (C[k,k] - 1)²
 * Cov with 1/B (E[mu muᵀ] - E[mu] E[mu]ᵀ), as disentanglement_lib computes it.
 * At the end: the registry's entries, --objective dip1 and dip2. */
#include "models/objectives/objectives_internal.h"
#include "models/vae/component.h"

#include <math.h>

elbo_status elbo_dip_validate(const elbo_dip_config *c)
{
    if (!c)
        return elbo_fail(ELBO_ERR_INVALID, "dip: expected a configuration, got NULL");
    if (c->kind != ELBO_DIP_I && c->kind != ELBO_DIP_II)
        return elbo_fail(ELBO_ERR_INVALID, "dip: expected kind 1 (DIP-I) or 2 (DIP-II), got %d", (int)c->kind);
    elbo_status s;
    if ((s = obj_check_weight("dip: lambda_od (off-diagonal weight)", c->lambda_od)) != ELBO_OK ||
        (s = obj_check_weight("dip: lambda_d (diagonal weight)", c->lambda_d)) != ELBO_OK)
        return s;
    return ELBO_OK;
}

/* (1,D) mean over the rows of a (B,D): (1/B)·1ᵀ a */
static elbo_node *col_mean(elbo_tape *t, elbo_node *a)
{
    return elbo_ad_matmul(t, obj_const(t, 2, (const int[]){1, a->rows}, 1.0f / (float)a->rows), a);
}

/* The identity (D,D) (eye = 1) or its complement (eye = 0) as a constant. */
static elbo_node *eye(elbo_tape *t, int D, bool on_diag)
{
    elbo_node *m = obj_const(t, 2, (const int[]){D, D}, on_diag ? 0.0f : 1.0f);
    if (m)
        for (int k = 0; k < D; k++)
            m->x[(size_t)k * (size_t)D + (size_t)k] = on_diag ? 1.0f : 0.0f;
    return m;
}

elbo_status elbo_dip_penalty(elbo_tape *t, elbo_node *mu, elbo_node *logvar, const elbo_dip_config *c,
                             elbo_node **penalty, elbo_dip_terms *terms)
{
    elbo_status s;
    if ((s = elbo_dip_validate(c)) != ELBO_OK || (s = obj_check_batch(t, "dip", mu, logvar, NULL)) != ELBO_OK)
        return s;
    if (!penalty || (c->kind == ELBO_DIP_II && !logvar))
        return elbo_fail(ELBO_ERR_INVALID, "dip: expected mu%s and a result, got NULL",
                         c->kind == ELBO_DIP_II ? ", logvar (DIP-II)" : "");
    int B = mu->rows, D = mu->cols;
    elbo_node *mc = elbo_ad_sub(t, mu, col_mean(t, mu)); /* centred (B,D) */
    elbo_node *cov = elbo_ad_scale(t, elbo_ad_matmul(t, elbo_ad_transpose(t, mc), mc), 1.0f / (float)B);
    elbo_node *I = eye(t, D, true);
    if (c->kind == ELBO_DIP_II) // + diag(mean_b e^{lv[b,:]}): the posterior covariances' mean
        cov = elbo_ad_add(t, cov, elbo_ad_mul(t, I, col_mean(t, elbo_ad_exp(t, logvar))));
    elbo_node *off = elbo_ad_mul(t, cov, eye(t, D, false));
    elbo_node *od = elbo_ad_sum(t, elbo_ad_mul(t, off, off));
    elbo_node *dm1 = elbo_ad_sub(t, elbo_ad_sum_rows(t, elbo_ad_mul(t, cov, I)), obj_const(t, 2, (const int[]){D, 1}, 1.0f));
    elbo_node *dd = elbo_ad_sum(t, elbo_ad_mul(t, dm1, dm1));
    elbo_node *pen = elbo_ad_add(t, elbo_ad_scale(t, od, (float)c->lambda_od), elbo_ad_scale(t, dd, (float)c->lambda_d));
    if ((s = obj_built(t, "dip", pen)) != ELBO_OK)
        return s;
    *penalty = pen;
    if (terms)
        *terms = (elbo_dip_terms){.cov = cov, .off_diag_sq = od->x[0], .diag_sq = dd->x[0]};
    return ELBO_OK;
}

/* ---- the registry's entries: --objective dip1 | dip2 (the ELBO + B penalty) ---- */

static elbo_dip_config dip_config(const elbo_vae_objective *o, elbo_dip_kind kind)
{
    return (elbo_dip_config){.kind = kind, .lambda_od = o->lambda, .lambda_d = o->alpha};
}

static elbo_node *dip_penalty(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o,
                              elbo_dip_kind kind)
{
    elbo_dip_config c = dip_config(o, kind);
    elbo_node *pen;
    if (elbo_dip_penalty(t, l->mu, l->logvar, &c, &pen, NULL) != ELBO_OK)
        return NULL;
    return elbo_ad_scale(t, pen, (float)l->B);
}

static elbo_node *dip1(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o)
{
    return dip_penalty(t, l, o, ELBO_DIP_I);
}

static elbo_node *dip2(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o)
{
    return dip_penalty(t, l, o, ELBO_DIP_II);
}

static elbo_status dip_check(const elbo_vae_objective *o)
{
    elbo_status s = elbo_objective_check_weights(o);
    elbo_dip_config c = dip_config(o, ELBO_DIP_I);
    return s != ELBO_OK ? s : elbo_dip_validate(&c);
}

const elbo_vae_objective_ops elbo_objective_dip1 = {
    .name = "dip1",
    .help = "DIP-VAE I: the ELBO + --dip-lambda-od off-diagonal and --dip-lambda-d diagonal penalties on Cov[mu]",
    .check = dip_check,
    .loss = elbo_objective_elbo_loss,
    .penalty = dip1,
};

const elbo_vae_objective_ops elbo_objective_dip2 = {
    .name = "dip2",
    .help = "DIP-VAE II: the same on E[Sigma] + Cov[mu]",
    .check = dip_check,
    .loss = elbo_objective_elbo_loss,
    .penalty = dip2,
};
