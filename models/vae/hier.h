/* Two stochastic layers (Burda et al. 2016) and the ladder VAE's top-down
 * inference (Sonderby et al. 2016): the pieces the posteriors hier2 and
 * ladder and the prior hier2 share (models/vae/hier.c; formulas in
 * docs/HIERARCHIES.md).
 *
 * The latent is z = [z1 | z2] (B, z_dim), z1 the first z_dim - z2_dim
 * columns; the decoder reads z1 only. Each stochastic layer's Gaussian has
 * its parameters as (mu | log sigma^2) from a small MLP (cfg.hier_hidden
 * widths, cfg.act between layers, the last layer linear):
 *   inference   q(z2|z1)  = Norm[qnet(z1)]      (hier2; post_ids)
 *               q(z2|x)   = Norm[bu(d1)]        (ladder's bottom-up, d1 the
 *                                                encoder's last hidden; post_ids)
 *   generative  Pr(z1|z2) = Norm[pnet(z2)]      (prior hier2; prior_ids)
 *               Pr(z2)    = Norm[0, I]
 * Library code: functions return NULL with the tape's error set. */
#ifndef ELBO_VAE_HIER_H
#define ELBO_VAE_HIER_H

#include "autodiff/tape.h"
#include "models/vae/vae.h"

/* Columns of z1, the part the decoder reads (z_dim with one layer). */
static inline int elbo_vae_z1_dim(const elbo_vae_config *c)
{
    return c->stochastic_layers == 2 ? c->z_dim - c->z2_dim : c->z_dim;
}

/* A Gaussian layer's parameters, (B, Zk) each. */
typedef struct elbo_vae_gauss {
    elbo_node *mu, *logvar;
} elbo_vae_gauss;

/* Register an MLP in -> hier_hidden... -> 2*out (names "<name>.l<i>.W/.b")
 * with its ids into ids[0..]: W and b of each layer in order. */
elbo_status elbo_vae_hier_add_mlp(elbo_vae *m, const char *name, int in, int out, int *ids);
/* Run such an MLP on h (B, in) and split its output into (mu | log sigma^2). */
elbo_vae_gauss elbo_vae_hier_mlp(elbo_tape *t, elbo_vae *m, const int *ids, elbo_node *h);
/* The generative Pr(z1|z2) of the prior hier2 (its parameters). */
elbo_vae_gauss elbo_vae_hier_pnet(elbo_tape *t, elbo_vae *m, elbo_node *z2);

/* The ladder's precision-weighted merge of the bottom-up estimate (mu_hat,
 * var_hat) with the generative (mu_p, var_p):
 *   sigma_q^2 = 1 / (1/var_hat + 1/var_p),  mu_q = (mu_hat/var_hat + mu_p/var_p) sigma_q^2
 * computed as lv_q = lv_hat - softplus(lv_hat - lv_p) and
 * mu_q = mu_p + (mu_hat - mu_p) sigmoid(lv_p - lv_hat), which is the same
 * and stays finite for any log-variances. */
elbo_vae_gauss elbo_vae_ladder_merge(elbo_tape *t, elbo_vae_gauss hat, elbo_vae_gauss p);

/* log Norm[z; mu, diag(e^logvar)] summed over columns: (B,1). */
elbo_node *elbo_vae_gauss_logpdf(elbo_tape *t, elbo_node *z, elbo_vae_gauss g);
/* The same at a reparameterized draw z = mu + sigma eps (a reparam node):
 * -1/2 sum_j (eps_j^2 + log sigma_j^2 + log 2pi), eps a constant. */
elbo_node *elbo_vae_gauss_logpdf_at_draw(elbo_tape *t, elbo_node *z);
/* The noise of one draw of [z1 | z2] split by columns: eps (B, Z) rows as
 * given, or B*Z normals drawn from rng in that row order; e1 (B, Z1), e2
 * (B, Z - Z1) in the tape's arena. */
elbo_status elbo_vae_hier_noise(elbo_tape *t, int B, int Z, int Z1, elbo_rng *rng, const float *eps, float **e1,
                                float **e2);

#endif
