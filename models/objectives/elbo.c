/* The ELBO objective (17.25-17.27) with what the chapter's notes add:
 *   loss = 1/L sum_l -log Pr(x|z_l) + w KL(q(z|x) || Pr(z)) [+ penalty]
 * summed over the batch; w = beta times the warm-up factor (beta-VAE, 17.30),
 * L reparameterized draws; with free bits (Kingma et al. 2016) the KL of
 * each latent dimension, averaged over the batch, is not pushed below
 * lambda. Penalty objectives (component.h) are this loss plus their term. */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>

/* Free bits: B * sum_j max(lambda, mean_b KL_bj), with max(lambda, k) =
 * relu(k - lambda) + lambda, so the gradient is zero for dimensions under
 * the floor; the batch mean is a (1,B)x(B,Z) product. k: (B,Z). */
static elbo_node *free_bits_kl(elbo_tape *t, elbo_node *k, float lambda)
{
    int B = k->rows, Z = k->cols;
    elbo_node *kbar = elbo_ad_matmul(t, vae_constant(t, 1, B, 1.0f / (float)B), k);  /* (1,Z) */
    elbo_node *over = elbo_ad_relu(t, elbo_ad_add(t, kbar, vae_constant(t, 1, Z, -lambda)));
    /* B * (sum_j over_j + Z lambda) */
    return elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum(t, over), (float)B),
                       vae_constant(t, 1, 1, (float)B * (float)Z * lambda));
}

elbo_node *elbo_objective_elbo_loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    const elbo_vae_objective *o = f->obj;
    const int S = o->mc_samples > 0 ? o->mc_samples : 1;
    elbo_node *rec = NULL, *kl_mc = NULL; /* sums over the draws, (B,1) */
    for (int s = 0; s < S; s++) {
        elbo_node *z = elbo_vae_fwd_sample(f);
        elbo_node *nll = elbo_vae_fwd_nll(f, z);
        if (elbo_tape_status(t) != ELBO_OK)
            return NULL;
        rec = rec ? elbo_ad_add(t, rec, nll) : nll;
        if (!f->kl) { /* no closed form for this posterior and prior: estimate it from the draws */
            elbo_node *k = elbo_vae_fwd_kl_mc(f, z);
            kl_mc = kl_mc ? elbo_ad_add(t, kl_mc, k) : k;
        }
    }
    elbo_node *rec_term = elbo_ad_sum(t, rec);
    if (S > 1)
        rec_term = elbo_ad_scale(t, rec_term, 1.0f / (float)S);
    elbo_node *kl_term;
    if (o->free_bits > 0.0f) {
        const elbo_vae_posterior_ops *post = elbo_vae_posterior(f->m->cfg.posterior);
        elbo_node *dims = post->kl_dims ? post->kl_dims(t, f->m, &f->q) : NULL;
        if (!dims) {
            return elbo_tape_fail(t, ELBO_ERR_INVALID, "free bits need the KL per latent dimension in closed form: "
                                  "the %s posterior with the %s prior has none", post->name,
                                  elbo_vae_prior(f->m->cfg.prior)->name);
        }
        kl_term = free_bits_kl(t, dims, o->free_bits);
    } else if (f->kl) {
        kl_term = elbo_ad_sum(t, f->kl);
    } else {
        kl_term = elbo_ad_scale(t, elbo_ad_sum(t, kl_mc), 1.0f / (float)S);
    }
    elbo_node *L = o->kl_weight == 1.0f ? elbo_ad_add(t, rec_term, kl_term)
                                        : elbo_ad_add(t, rec_term, elbo_ad_scale(t, kl_term, o->kl_weight));
    const elbo_vae_objective_ops *ops = elbo_vae_objective_of(o);
    if (ops->penalty && L) {
        elbo_vae_latents lat = elbo_vae_fwd_latents(f);
        elbo_node *p = ops->penalty(t, &lat, o);
        if (!p) {
            if (elbo_tape_status(t) == ELBO_OK)
                elbo_fail(ELBO_ERR_INVALID, "objective %s: its penalty gave no node", ops->name);
            return NULL;
        }
        if (p->rows != 1 || p->cols != 1) {
            elbo_fail(ELBO_ERR_INVALID, "objective %s: its penalty is (%d,%d), expected (1,1)", ops->name, p->rows,
                      p->cols);
            return NULL;
        }
        f->penalty = p->x[0];
        L = elbo_ad_add(t, L, p);
    }
    return L;
}

static bool weight_ok(float w) { return isfinite(w) && w >= 0.0f; }

elbo_status elbo_objective_check_weights(const elbo_vae_objective *o)
{
    if (!weight_ok(o->kl_weight) || !weight_ok(o->free_bits) || !weight_ok(o->gamma) || !weight_ok(o->alpha) ||
        !weight_ok(o->lambda) || !weight_ok(o->capacity))
        return elbo_fail(ELBO_ERR_INVALID, "objective: weights must be finite and >= 0: KL weight %g, free bits %g, "
                         "gamma %g, capacity %g, alpha %g, lambda %g", (double)o->kl_weight, (double)o->free_bits,
                         (double)o->gamma, (double)o->capacity, (double)o->alpha, (double)o->lambda);
    if (o->mc_samples < 0 || o->iw_k < 0)
        return elbo_fail(ELBO_ERR_INVALID, "objective: expected mc_samples >= 1 and iw_k >= 0, got %d and %d",
                         o->mc_samples, o->iw_k);
    return ELBO_OK;
}

const elbo_vae_objective_ops elbo_objective_elbo = {
    .name = "elbo",
    .help = "the ELBO with --beta, --kl-warmup, --free-bits, --mc-samples",
    .check = elbo_objective_check_weights,
    .loss = elbo_objective_elbo_loss,
};
