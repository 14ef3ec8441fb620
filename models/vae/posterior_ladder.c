/* The ladder VAE's top-down inference (Sonderby et al. 2016) over two
 * stochastic layers. Bottom-up, deterministic: the encoder's last hidden
 * activation d1 gives the head (mu_hat1 | log var_hat1), and the MLP bu
 * maps d1 to (mu_hat2 | log var_hat2). Top-down:
 *   q(z2|x)     = Norm[mu_hat2, var_hat2]
 *   q(z1|z2, x) = Norm[mu_q, sigma_q^2], the precision-weighted merge of
 *                 (mu_hat1, var_hat1) with Pr(z1|z2) = Norm[pnet(z2)]:
 *                 sigma_q^2 = 1/(1/var_hat1 + 1/var_p), mu_q = (mu_hat1/var_hat1 + mu_p/var_p) sigma_q^2
 * so q shares the generative network of the prior hier2 (its parameters).
 * Variances are parameterized by their logarithm, as everywhere in elbo
 * (Sonderby et al. use softplus), and there is no batch normalisation.
 * extra[] = (mu_hat1, lv_hat1, mu_hat2, lv_hat2); q's mu and logvar (B, Z)
 * are the mean path: z1's merge at z2 = mu_hat2, then z2's. */
#include "models/vae/component.h"
#include "models/vae/hier.h"
#include "models/vae/vae_internal.h"

static int head_size(int Z1) { return 2 * Z1; }

/* d1: the input of the head (the encoder's last hidden activation, with the
 * class when it joins at the head). */
static int d1_width(const elbo_vae *m)
{
    const elbo_vae_net *n = &m->net;
    const elbo_vae_act_shape s = n->in[n->n];
    return (s.h ? s.h * s.w * s.c : s.c) + (n->y_at == n->n ? m->cfg.n_classes : 0);
}

static elbo_status add_params(elbo_vae *m)
{
    return elbo_vae_hier_add_mlp(m, "bu2", d1_width(m), m->cfg.z2_dim, m->post_ids);
}

static elbo_status split(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q)
{
    /* The head is linear(d1, W, b): the second bottom-up level starts from
     * the same d1 (net.c builds the head as one dense layer, always). */
    if (!head || head->op != ELBO_OP_LINEAR)
        return elbo_fail(ELBO_ERR_INVALID, "vae ladder: the encoder head is not a dense layer");
    const int Z1 = elbo_vae_z1_dim(&m->cfg);
    elbo_vae_gauss h1 = {.logvar = elbo_ad_slice_cols(t, head, Z1, Z1)};
    h1.mu = elbo_ad_slice_cols(t, head, 0, Z1);
    elbo_vae_gauss h2 = elbo_vae_hier_mlp(t, m, m->post_ids, head->in[0]);
    elbo_vae_gauss g1 = elbo_vae_ladder_merge(t, h1, elbo_vae_hier_pnet(t, m, h2.mu));
    q->extra[0] = h1.mu, q->extra[1] = h1.logvar, q->extra[2] = h2.mu, q->extra[3] = h2.logvar;
    q->n_extra = 4;
    q->mu = elbo_ad_concat_cols(t, g1.mu, h2.mu);
    q->logvar = elbo_ad_concat_cols(t, g1.logvar, h2.logvar);
    return elbo_tape_status(t);
}

static elbo_vae_gauss hat(const elbo_vae_qparams *q, int layer)
{
    return (elbo_vae_gauss){q->extra[2 * layer - 2], q->extra[2 * layer - 1]};
}

static elbo_node *sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps)
{
    const elbo_node *mu1 = q->extra[0];
    float *e1, *e2;
    if (!mu1 || elbo_vae_hier_noise(t, mu1->rows, m->cfg.z_dim, mu1->cols, rng, eps, &e1, &e2) != ELBO_OK)
        return NULL;
    elbo_node *z2 = elbo_ad_reparam(t, q->extra[2], q->extra[3], rng, e2);
    elbo_vae_gauss g1 = elbo_vae_ladder_merge(t, hat(q, 1), elbo_vae_hier_pnet(t, m, z2));
    elbo_node *z1 = elbo_ad_reparam(t, g1.mu, g1.logvar, rng, e1);
    return elbo_ad_concat_cols(t, z1, z2);
}

/* log q = log Norm[z2; mu_hat2, var_hat2] + log Norm[z1; merge(hat1, pnet(z2))] */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    const int Z1 = elbo_vae_z1_dim(&m->cfg);
    elbo_node *z1 = elbo_ad_slice_cols(t, z, 0, Z1), *z2 = elbo_ad_slice_cols(t, z, Z1, m->cfg.z2_dim);
    elbo_vae_gauss g1 = elbo_vae_ladder_merge(t, hat(q, 1), elbo_vae_hier_pnet(t, m, z2));
    return elbo_ad_add(t, elbo_vae_gauss_logpdf(t, z1, g1), elbo_vae_gauss_logpdf(t, z2, hat(q, 2)));
}

static elbo_node *log_q_sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    if (!z || z->op != ELBO_OP_CONCAT || z->in[1]->op != ELBO_OP_REPARAM || z->in[1]->in[0] != q->extra[2] ||
        z->in[0]->op != ELBO_OP_REPARAM)
        return log_prob(t, m, q, z);
    return elbo_ad_add(t, elbo_vae_gauss_logpdf_at_draw(t, z->in[0]), elbo_vae_gauss_logpdf_at_draw(t, z->in[1]));
}

const elbo_vae_posterior_ops elbo_posterior_ladder = {
    .name = "ladder",
    .help = "ladder VAE top-down inference over two layers (Sonderby et al. 2016; --ladder)",
    .head_size = head_size,
    .add_params = add_params,
    .split = split,
    .sample = sample,
    .log_q_sample = log_q_sample,
    .log_prob = log_prob,
};
