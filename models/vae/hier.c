/* The shared pieces of two stochastic layers (models/vae/hier.h): the small
 * MLPs between layers, the generative Pr(z1|z2), the ladder's merge, and
 * Gaussian log densities at any z and at a reparameterized draw. */
#include "models/vae/hier.h"
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdio.h>

elbo_status elbo_vae_hier_add_mlp(elbo_vae *m, const char *name, int in, int out, int *ids)
{
    const elbo_vae_config *c = &m->cfg;
    char nm[ELBO_PARAM_NAME_MAX];
    for (int i = 0; i <= c->n_hier_hidden; i++) {
        int o = i < c->n_hier_hidden ? c->hier_hidden[i] : 2 * out;
        int wd[2] = {in, o}, bd[2] = {1, o};
        snprintf(nm, sizeof nm, "%s.l%d.W", name, i);
        ids[2 * i] = elbo_vae_add_param(m, nm, 2, wd, in, 0.0f);
        snprintf(nm, sizeof nm, "%s.l%d.b", name, i);
        ids[2 * i + 1] = elbo_vae_add_param(m, nm, 2, bd, in, 0.0f);
        if (ids[2 * i] < 0 || ids[2 * i + 1] < 0)
            return elbo_fail(ELBO_ERR_INVALID, "vae create: could not register %s layer %d (%d -> %d)", name, i, in, o);
        in = o;
    }
    return ELBO_OK;
}

elbo_vae_gauss elbo_vae_hier_mlp(elbo_tape *t, elbo_vae *m, const int *ids, elbo_node *h)
{
    const int L = m->cfg.n_hier_hidden;
    for (int i = 0; i <= L; i++) {
        h = elbo_ad_linear(t, h, elbo_ad_param(t, &m->params, ids[2 * i]), elbo_ad_param(t, &m->params, ids[2 * i + 1]));
        if (i < L)
            h = vae_activation(t, &m->cfg, h);
    }
    if (!h)
        return (elbo_vae_gauss){NULL, NULL};
    const int Z = h->cols / 2;
    /* logvar first, as the diagonal Gaussian's split records it */
    elbo_node *lv = elbo_ad_slice_cols(t, h, Z, Z);
    return (elbo_vae_gauss){elbo_ad_slice_cols(t, h, 0, Z), lv};
}

elbo_vae_gauss elbo_vae_hier_pnet(elbo_tape *t, elbo_vae *m, elbo_node *z2)
{
    return elbo_vae_hier_mlp(t, m, m->prior_ids, z2);
}

/* lv_q = lv_hat - softplus(lv_hat - lv_p) = -log(e^-lv_hat + e^-lv_p);
 * mu_q = mu_p + (mu_hat - mu_p) w, w = sigma_q^2 / var_hat = sigmoid(lv_p - lv_hat) */
elbo_vae_gauss elbo_vae_ladder_merge(elbo_tape *t, elbo_vae_gauss hat, elbo_vae_gauss p)
{
    elbo_node *lv = elbo_ad_sub(t, hat.logvar, elbo_ad_softplus(t, elbo_ad_sub(t, hat.logvar, p.logvar)));
    elbo_node *w = elbo_ad_sigmoid(t, elbo_ad_sub(t, p.logvar, hat.logvar));
    elbo_node *mu = elbo_ad_add(t, p.mu, elbo_ad_mul(t, elbo_ad_sub(t, hat.mu, p.mu), w));
    return (elbo_vae_gauss){mu, lv};
}

/* log N = -1/2 sum_j ((z_j - mu_j)^2 e^{-lv_j} + lv_j + log 2pi) */
elbo_node *elbo_vae_gauss_logpdf(elbo_tape *t, elbo_node *z, elbo_vae_gauss g)
{
    elbo_node *d = elbo_ad_sub(t, z, g.mu);
    elbo_node *w = elbo_ad_mul(t, elbo_ad_mul(t, d, d), elbo_ad_exp(t, elbo_ad_scale(t, g.logvar, -1.0f)));
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, elbo_ad_add(t, w, g.logvar)), -0.5f);
    return s ? elbo_ad_add(t, s, vae_constant(t, s->rows, 1, (float)(-0.5 * z->cols * log(2.0 * M_PI)))) : NULL;
}

/* (z - mu) / sigma is eps exactly at the draw, so log N depends on the
 * parameters through log sigma^2 alone (and through whatever made mu and
 * sigma: the gradient of the whole path flows through lv). */
elbo_node *elbo_vae_gauss_logpdf_at_draw(elbo_tape *t, elbo_node *z)
{
    if (!z || z->op != ELBO_OP_REPARAM)
        return NULL;
    const int B = z->rows, Z = z->cols;
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
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, z->in[1]), -0.5f);
    return elbo_ad_add(t, s, elbo_ad_input(t, B, 1, c));
}

elbo_status elbo_vae_hier_noise(elbo_tape *t, int B, int Z, int Z1, elbo_rng *rng, const float *eps, float **e1,
                                float **e2)
{
    const int Z2 = Z - Z1;
    float *all = eps ? NULL : elbo_tape_alloc(t, (size_t)B * Z);
    *e1 = elbo_tape_alloc(t, (size_t)B * Z1);
    *e2 = elbo_tape_alloc(t, (size_t)B * Z2);
    elbo_status st = elbo_tape_status(t);
    if (st != ELBO_OK)
        return st;
    if (!eps && !rng) { /* elbo_ad_reparam records the error on the tape */
        *e1 = *e2 = NULL;
        return ELBO_OK;
    }
    if (!eps) {
        elbo_rng_normal_f32(rng, all, (size_t)B * Z);
        eps = all;
    }
    for (int b = 0; b < B; b++) {
        memcpy(*e1 + (size_t)b * Z1, eps + (size_t)b * Z, (size_t)Z1 * sizeof(float));
        memcpy(*e2 + (size_t)b * Z2, eps + (size_t)b * Z + Z1, (size_t)Z2 * sizeof(float));
    }
    return ELBO_OK;
}
