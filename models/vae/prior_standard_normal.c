/* The standard normal prior Pr(z) = Norm[0, I] (17.1). */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>

/* log Pr(z) = -1/2 sum_j (z_j^2 + log 2pi) */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, elbo_node *z)
{
    const int Z = m->cfg.z_dim;
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, elbo_ad_mul(t, z, z)), -0.5f);
    return s ? elbo_ad_add(t, s, vae_constant(t, s->rows, 1, (float)(-0.5 * Z * log(2.0 * M_PI)))) : NULL;
}

static elbo_status sample(elbo_vae *m, elbo_rng *rng, float *z, size_t n)
{
    elbo_rng_normal_f32(rng, z, n * (size_t)m->cfg.z_dim);
    return ELBO_OK;
}

const elbo_vae_prior_ops elbo_prior_standard_normal = {
    .name = "normal",
    .help = "Norm[0, I]",
    .standard_normal = true,
    .log_prob = log_prob,
    .sample = sample,
};
