/* The two-stochastic-layer posterior of Burda et al. (2016):
 *   q(z1, z2 | x) = Norm[z1; mu1(x), sigma1^2(x)] Norm[z2; qnet(z1)]
 * the encoder head gives (mu1 | log sigma1^2), the inference MLP qnet maps
 * z1 to (mu2 | log sigma2^2). A draw is ancestral: z1 = mu1 + sigma1 e1,
 * then z2 = mu2(z1) + sigma2(z1) e2; z = [z1 | z2]. No closed-form KL (the
 * objectives estimate it from the draws). q's mu and logvar (B, Z) are the
 * mean path: z1's, then z2's at z1 = mu1 (what encode and active units
 * report); the draws use extra[0..1] = (mu1, log sigma1^2). */
#include "models/vae/component.h"
#include "models/vae/hier.h"
#include "models/vae/vae_internal.h"

static int head_size(int Z1) { return 2 * Z1; }

static elbo_status add_params(elbo_vae *m)
{
    return elbo_vae_hier_add_mlp(m, "q2", elbo_vae_z1_dim(&m->cfg), m->cfg.z2_dim, m->post_ids);
}

static elbo_status split(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q)
{
    const int Z1 = elbo_vae_z1_dim(&m->cfg);
    elbo_node *lv1 = elbo_ad_slice_cols(t, head, Z1, Z1);
    elbo_node *mu1 = elbo_ad_slice_cols(t, head, 0, Z1);
    elbo_vae_gauss g2 = elbo_vae_hier_mlp(t, m, m->post_ids, mu1);
    q->extra[0] = mu1;
    q->extra[1] = lv1;
    q->n_extra = 2;
    q->mu = elbo_ad_concat_cols(t, mu1, g2.mu);
    q->logvar = elbo_ad_concat_cols(t, lv1, g2.logvar);
    return elbo_tape_status(t);
}

static elbo_node *sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps)
{
    const elbo_node *mu1 = q->extra[0];
    float *e1, *e2;
    if (!mu1 || elbo_vae_hier_noise(t, mu1->rows, m->cfg.z_dim, mu1->cols, rng, eps, &e1, &e2) != ELBO_OK)
        return NULL;
    elbo_node *z1 = elbo_ad_reparam(t, q->extra[0], q->extra[1], rng, e1);
    elbo_vae_gauss g2 = elbo_vae_hier_mlp(t, m, m->post_ids, z1);
    elbo_node *z2 = elbo_ad_reparam(t, g2.mu, g2.logvar, rng, e2);
    return elbo_ad_concat_cols(t, z1, z2);
}

/* log q = log Norm[z1; mu1, sigma1^2] + log Norm[z2; qnet(z1)] */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    const int Z1 = elbo_vae_z1_dim(&m->cfg);
    elbo_node *z1 = elbo_ad_slice_cols(t, z, 0, Z1), *z2 = elbo_ad_slice_cols(t, z, Z1, m->cfg.z2_dim);
    elbo_node *l1 = elbo_vae_gauss_logpdf(t, z1, (elbo_vae_gauss){q->extra[0], q->extra[1]});
    return elbo_ad_add(t, l1, elbo_vae_gauss_logpdf(t, z2, elbo_vae_hier_mlp(t, m, m->post_ids, z1)));
}

/* At its own draw both layers' (z - mu) / sigma are the saved noise. */
static elbo_node *log_q_sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    if (!z || z->op != ELBO_OP_CONCAT || z->in[0]->op != ELBO_OP_REPARAM || z->in[0]->in[0] != q->extra[0] ||
        z->in[1]->op != ELBO_OP_REPARAM)
        return log_prob(t, m, q, z);
    return elbo_ad_add(t, elbo_vae_gauss_logpdf_at_draw(t, z->in[0]), elbo_vae_gauss_logpdf_at_draw(t, z->in[1]));
}

const elbo_vae_posterior_ops elbo_posterior_hier2 = {
    .name = "hier2",
    .help = "two stochastic layers: q(z1|x) q(z2|z1) (Burda et al. 2016; --stochastic-layers 2)",
    .head_size = head_size,
    .add_params = add_params,
    .split = split,
    .sample = sample,
    .log_q_sample = log_q_sample,
    .log_prob = log_prob,
};
