/* beta-VAE with capacity annealing (Burgess et al. 2018):
 *   loss = -log Pr(x|z) + gamma |KL(q(z|x) || Pr(z)) - C|
 * per example (here summed over the batch: gamma |sum_b KL_b - B C|), the
 * capacity C rising linearly from 0 to C_max (elbo_vae_capacity), so the KL
 * is let grow a little at a time. */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>

static elbo_node *loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    const elbo_vae_objective *o = f->obj;
    elbo_node *z = elbo_vae_fwd_sample(f);
    elbo_node *nll = elbo_vae_fwd_nll(f, z);
    elbo_node *kl = f->kl ? f->kl : elbo_vae_fwd_kl_mc(f, z);
    if (elbo_tape_status(t) != ELBO_OK)
        return NULL;
    elbo_node *gap = elbo_ad_add(t, elbo_ad_sum(t, kl), vae_constant(t, 1, 1, -(float)f->B * o->capacity));
    /* |a| as a leaky ReLU of slope -1: a above zero, -a below */
    elbo_node *abs_gap = elbo_ad_leaky_relu(t, gap, -1.0f);
    return elbo_ad_add(t, elbo_ad_sum(t, nll), elbo_ad_scale(t, abs_gap, o->gamma));
}

const elbo_vae_objective_ops elbo_objective_beta_capacity = {
    .name = "beta-capacity",
    .help = "beta-VAE with capacity annealing: rec + --gamma |KL - C|, C rising to --capacity over --capacity-epochs",
    .check = elbo_objective_check_weights,
    .loss = loss,
};
