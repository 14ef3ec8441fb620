/* The prior of two stochastic layers (Burda et al. 2016):
 *   Pr(z1, z2) = Norm[z2; 0, I] Norm[z1; pnet(z2)]
 * pnet the generative MLP z2 -> (mu_p | log var_p) (models/vae/hier.h);
 * z = [z1 | z2]. Draws are ancestral: z2, then z1 given z2. */
#include "models/vae/component.h"
#include "models/vae/hier.h"
#include "models/vae/vae_internal.h"

#include <math.h>

static elbo_status add_params(elbo_vae *m)
{
    return elbo_vae_hier_add_mlp(m, "p1", m->cfg.z2_dim, elbo_vae_z1_dim(&m->cfg), m->prior_ids);
}

/* log Pr(z) = -1/2 sum_j (z2_j^2 + log 2pi) + log Norm[z1; pnet(z2)] */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, elbo_node *z)
{
    const int Z1 = elbo_vae_z1_dim(&m->cfg), Z2 = m->cfg.z2_dim;
    elbo_node *z1 = elbo_ad_slice_cols(t, z, 0, Z1), *z2 = elbo_ad_slice_cols(t, z, Z1, Z2);
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, elbo_ad_mul(t, z2, z2)), -0.5f);
    elbo_node *l2 = s ? elbo_ad_add(t, s, vae_constant(t, s->rows, 1, (float)(-0.5 * Z2 * log(2.0 * M_PI)))) : NULL;
    return elbo_ad_add(t, l2, elbo_vae_gauss_logpdf(t, z1, elbo_vae_hier_pnet(t, m, z2)));
}

/* z2 ~ Norm[0, I] (n*Z2 normals), then z1 = mu_p + sigma_p e (n*Z1 more),
 * on a tape of its own without gradients. */
static elbo_status sample(elbo_vae *m, elbo_rng *rng, float *z, size_t n)
{
    const int Z = m->cfg.z_dim, Z1 = elbo_vae_z1_dim(&m->cfg), Z2 = m->cfg.z2_dim;
    elbo_tape *t;
    elbo_status st = elbo_tape_create(&t, 1 << 20);
    if (st != ELBO_OK)
        return st;
    elbo_tape_set_grad(t, false);
    float *z2 = elbo_tape_alloc(t, n * (size_t)Z2), *e1 = elbo_tape_alloc(t, n * (size_t)Z1);
    if ((st = elbo_tape_status(t)) == ELBO_OK) {
        elbo_rng_normal_f32(rng, z2, n * (size_t)Z2);
        elbo_rng_normal_f32(rng, e1, n * (size_t)Z1);
        elbo_vae_gauss p = elbo_vae_hier_pnet(t, m, elbo_ad_input(t, (int)n, Z2, z2));
        elbo_node *z1 = p.mu ? elbo_ad_reparam(t, p.mu, p.logvar, NULL, e1) : NULL;
        if ((st = elbo_tape_status(t)) == ELBO_OK)
            for (size_t r = 0; r < n; r++) {
                memcpy(z + r * (size_t)Z, z1->x + r * (size_t)Z1, (size_t)Z1 * sizeof(float));
                memcpy(z + r * (size_t)Z + Z1, z2 + r * (size_t)Z2, (size_t)Z2 * sizeof(float));
            }
    }
    elbo_tape_destroy(t);
    return st;
}

const elbo_vae_prior_ops elbo_prior_hier2 = {
    .name = "hier2",
    .help = "two stochastic layers: Norm[z2; 0, I] Pr(z1|z2) (Burda et al. 2016; --stochastic-layers 2)",
    .standard_normal = false,
    .add_params = add_params,
    .log_prob = log_prob,
    .sample = sample,
};
