/* The VampPrior (Tomczak & Welling 2018): the prior is the posterior
 * averaged over K learned pseudo-inputs u_k in input space,
 *   Pr(z) = 1/K sum_k q(z | u_k),
 *   log Pr(z) = logsumexp_k log Norm[z; mu(u_k), diag(sigma^2(u_k))] - log K
 * with mu, sigma^2 the encoder's (the diagonal Gaussian posterior; for other
 * families the Gaussian their head gives). u_k = squash(a_k) with a (K, D)
 * the learned parameter and squash the identity, a sigmoid or the paper's
 * hard-tanh to [0,1]. Every log Pr runs the encoder over the K
 * pseudo-inputs, so their gradient flows through the encoder too. KL(q ||
 * Pr) has no closed form: it is estimated from the posterior's draws. */
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "models/vae/vae_internal.h"

#include <math.h>

static elbo_status add_params(elbo_vae *m)
{
    if (m->cfg.n_classes > 0)
        return elbo_fail(ELBO_ERR_INVALID, "vamp prior: pseudo-inputs go through the encoder without a class; "
                         "it needs an unconditional model");
    const int dims[2] = {m->cfg.prior_k, m->cfg.x_dim};
    m->prior_ids[0] = elbo_vae_add_param(m, "prior.pseudo_inputs", 2, dims, 0, 0.0f);
    if (m->prior_ids[0] < 0)
        return elbo_fail(ELBO_ERR_INVALID, "vamp prior: more than %d parameter tensors", ELBO_VAE_MAX_PARAMS);
    return ELBO_OK;
}

/* u_k ~ Norm[0.05, 0.01^2] per pixel (the paper's initialisation), stored
 * as the value the squashing maps to it. */
static elbo_status init_params(elbo_vae *m, elbo_rng *rng)
{
    const size_t n = (size_t)m->cfg.prior_k * (size_t)m->cfg.x_dim;
    float *a = elbo_param_w(&m->params, m->prior_ids[0]);
    elbo_rng_normal_f32(rng, a, n);
    for (size_t i = 0; i < n; i++) {
        double u = 0.05 + 0.01 * a[i];
        u = u < 1e-3 ? 1e-3 : u > 1 - 1e-3 ? 1 - 1e-3 : u;
        a[i] = (float)(m->cfg.prior_squash == ELBO_VAE_SQUASH_SIGMOID ? log(u / (1.0 - u)) : u);
    }
    return ELBO_OK;
}

/* The pseudo-inputs u (K, D): a, sigmoid(a), or hardtanh(a) = relu(a) - relu(a - 1). */
static elbo_node *pseudo_inputs(elbo_tape *t, elbo_vae *m)
{
    elbo_node *a = elbo_ad_param(t, &m->params, m->prior_ids[0]);
    switch (m->cfg.prior_squash) {
    case ELBO_VAE_SQUASH_SIGMOID:
        return elbo_ad_sigmoid(t, a);
    case ELBO_VAE_SQUASH_HARDTANH:
        return elbo_ad_sub(t, elbo_ad_relu(t, a),
                           elbo_ad_relu(t, elbo_ad_add(t, a, vae_constant(t, 1, m->cfg.x_dim, -1.0f))));
    default:
        return a;
    }
}

/* The components: the encoder's Gaussian at each pseudo-input. */
static elbo_status components(elbo_tape *t, elbo_vae *m, elbo_vae_qparams *q)
{
    elbo_node *u = pseudo_inputs(t, m);
    if (!u)
        return elbo_tape_status(t);
    return vae_encode_q(m, t, u, NULL, q);
}

/* log Pr(z) = logsumexp_k log q(z | u_k) - log K   (B,Z) -> (B,1) */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, elbo_node *z)
{
    elbo_vae_qparams q;
    if (components(t, m, &q) != ELBO_OK)
        return NULL;
    elbo_node *l = elbo_ad_logsumexp_rows(t, vae_prior_mog_log_joint(t, z, NULL, q.mu, q.logvar));
    return l ? elbo_ad_add(t, l, vae_constant(t, l->rows, 1, (float)-log((double)m->cfg.prior_k))) : NULL;
}

/* k uniform, z ~ Norm[mu(u_k), diag(sigma^2(u_k))], on a tape of its own. */
static elbo_status sample(elbo_vae *m, elbo_rng *rng, float *z, size_t n)
{
    elbo_tape *t;
    elbo_status st = elbo_tape_create(&t, 1u << 20);
    if (st != ELBO_OK)
        return st;
    elbo_tape_set_grad(t, false);
    elbo_vae_qparams q;
    if ((st = components(t, m, &q)) == ELBO_OK) {
        const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
        for (size_t i = 0; i < n; i++) {
            size_t k = (size_t)elbo_rng_below(rng, (uint64_t)K);
            for (int j = 0; j < Z; j++) {
                size_t o = k * (size_t)Z + (size_t)j;
                z[i * Z + j] = (float)(q.mu->x[o] + exp(0.5 * q.logvar->x[o]) * elbo_rng_normal(rng));
            }
        }
    }
    elbo_tape_destroy(t);
    return st;
}

const elbo_vae_prior_ops elbo_prior_vamp = {
    .name = "vamp",
    .help = "VampPrior: 1/K sum_k q(z|u_k) over --prior-k learned pseudo-inputs",
    .standard_normal = false,
    .default_k = 500,
    .add_params = add_params,
    .init_params = init_params,
    .log_prob = log_prob,
    .sample = sample,
};
