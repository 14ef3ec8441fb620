/* The diagonal Gaussian posterior q(z|x) = Norm[mu, diag(e^logvar)] (17.20):
 * the encoder head is (mu | log sigma^2), 2Z outputs; z = mu + sigma eps
 * (the reparameterization trick, 17.23); the KL against a standard normal
 * prior in closed form (17.24). */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>

static int head_size(int Z) { return 2 * Z; }

static elbo_status split(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q)
{
    const int Z = m->cfg.z_dim;
    /* logvar first: the order the graph has always been recorded in, which
     * fixes the order gradients are summed in backward (same bits). */
    q->logvar = elbo_ad_slice_cols(t, head, Z, Z);
    q->mu = elbo_ad_slice_cols(t, head, 0, Z);
    q->n_extra = 0;
    return elbo_tape_status(t);
}

static elbo_node *sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps)
{
    (void)m;
    return elbo_ad_reparam(t, q->mu, q->logvar, rng, eps);
}

/* log q(z|x) = -1/2 sum_j ((z_j - mu_j)^2 / sigma_j^2 + log sigma_j^2 + log 2pi) */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    const int Z = m->cfg.z_dim;
    elbo_node *d = elbo_ad_sub(t, z, q->mu);
    elbo_node *w = elbo_ad_mul(t, elbo_ad_mul(t, d, d), elbo_ad_exp(t, elbo_ad_scale(t, q->logvar, -1.0f)));
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, elbo_ad_add(t, w, q->logvar)), -0.5f);
    return s ? elbo_ad_add(t, s, vae_constant(t, s->rows, 1, (float)(-0.5 * Z * log(2.0 * M_PI)))) : NULL;
}

/* At its own draw z = mu + sigma eps, (z - mu) / sigma is eps exactly:
 *   log q = -1/2 sum_j (eps_j^2 + log sigma_j^2 + log 2pi)
 * with eps a constant of the graph (its gradient flows through log sigma^2). */
static elbo_node *log_q_sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    if (!z || z->op != ELBO_OP_REPARAM || z->in[0] != q->mu)
        return log_prob(t, m, q, z);
    const int B = z->rows, Z = m->cfg.z_dim;
    const float *e = z->args.reparam.eps;
    float *c = elbo_tape_alloc(t, (size_t)B);
    if (!c)
        return NULL;
    for (int b = 0; b < B; b++) {
        double a = 0.0;
        for (int j = 0; j < Z; j++)
            a += (double)e[(size_t)b * Z + j] * e[(size_t)b * Z + j];
        c[b] = (float)(-0.5 * (a + Z * log(2.0 * M_PI)));
    }
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, q->logvar), -0.5f);
    return elbo_ad_add(t, s, elbo_ad_input(t, B, 1, c));
}

static bool normal_prior(elbo_vae *m) { return elbo_vae_prior(m->cfg.prior)->standard_normal; }

/* KL(Norm[mu, sigma^2] || Norm[0, 1]) = 1/2 sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2)   (17.24) */
static elbo_node *kl(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q)
{
    return normal_prior(m) ? elbo_ad_kl_diag(t, q->mu, q->logvar) : NULL;
}

/* The same per dimension, (B,Z), from primitive ops. */
static elbo_node *kl_dims(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q)
{
    if (!normal_prior(m))
        return NULL;
    const int Z = m->cfg.z_dim;
    elbo_node *mu = q->mu, *lv = q->logvar;
    elbo_node *k = elbo_ad_sub(t, elbo_ad_add(t, elbo_ad_exp(t, lv), elbo_ad_mul(t, mu, mu)), lv);
    return elbo_ad_scale(t, elbo_ad_add(t, k, vae_constant(t, 1, Z, -1.0f)), 0.5f);
}

const elbo_vae_posterior_ops elbo_posterior_diag_gaussian = {
    .name = "diag-gaussian",
    .help = "Norm[mu, diag(sigma^2)] from the encoder (17.20)",
    .head_size = head_size,
    .split = split,
    .sample = sample,
    .log_q_sample = log_q_sample,
    .log_prob = log_prob,
    .kl = kl,
    .kl_dims = kl_dims,
};
