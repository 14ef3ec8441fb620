/* Planar flows (Rezende & Mohamed 2015): K steps after the diagonal Gaussian
 * base z_0 = mu + sigma eps, each
 *   z_k = z_{k-1} + u^ tanh(w^T z_{k-1} + b)
 *   log |det dz_k/dz_{k-1}| = log (1 + (1 - tanh^2(w^T z_{k-1} + b)) w^T u^)
 * with u^ = u + (m(w^T u) - w^T u) w / |w|^2, m(a) = -1 + softplus(a), so
 * w^T u^ = m(w^T u) > -1: the map is invertible and the determinant positive.
 *   log q(z_K|x) = log q(z_0|x) - sum_k log |det dz_k/dz_{k-1}|
 * u, w (Z) and b of every step are the model's own parameters, shared by all
 * x (as pythae's VAE_LinNF); the base is amortized by the encoder. No
 * closed-form KL: the objective estimates it from the draws. */
#include "models/vae/posterior_flow.h"

enum { P_U, P_W, P_B };

static elbo_status add_params(elbo_vae *m)
{
    elbo_status st = vae_flow_check_steps(m, "planar");
    if (st != ELBO_OK)
        return st;
    const int K = m->cfg.flow_steps, Z = m->cfg.z_dim;
    /* all K steps in one row each: step k is columns k*Z..k*Z+Z-1 (b: column k) */
    m->post_ids[P_U] = elbo_vae_add_param(m, "planar.u", 2, (const int[]){1, K * Z}, Z, 0.0f);
    m->post_ids[P_W] = elbo_vae_add_param(m, "planar.w", 2, (const int[]){1, K * Z}, Z, 0.0f);
    m->post_ids[P_B] = elbo_vae_add_param(m, "planar.b", 2, (const int[]){1, K}, 0, 0.0f);
    for (int i = P_U; i <= P_B; i++)
        if (m->post_ids[i] < 0)
            return elbo_fail(ELBO_ERR_NOMEM, "planar posterior: cannot register its parameters");
    return ELBO_OK;
}

/* u^ = u + (m(w^T u) - w^T u) w / |w|^2  (1,Z); wu^ = w^T u^ (1,1) */
static elbo_node *u_hat(elbo_tape *t, elbo_node *u, elbo_node *w, elbo_node **wuh)
{
    elbo_node *wu = elbo_ad_sum_rows(t, elbo_ad_mul(t, w, u));
    elbo_node *ww = elbo_ad_sum_rows(t, elbo_ad_mul(t, w, w));
    elbo_node *mwu = elbo_ad_add(t, elbo_ad_softplus(t, wu), vae_constant(t, 1, 1, -1.0f));
    elbo_node *coef = elbo_ad_mul(t, elbo_ad_sub(t, mwu, wu), elbo_ad_exp(t, elbo_ad_scale(t, elbo_ad_log(t, ww), -1.0f)));
    elbo_node *uh = elbo_ad_add(t, u, elbo_ad_matmul(t, coef, w));
    *wuh = elbo_ad_sum_rows(t, elbo_ad_mul(t, w, uh));
    return uh;
}

/* One step: z (B,Z) -> z + tanh(z w + b) u^; *log_det (B,1). */
static elbo_node *step(elbo_tape *t, elbo_vae *m, int k, elbo_node *z, elbo_node **log_det)
{
    const int Z = m->cfg.z_dim, B = z->rows;
    elbo_node *u = elbo_ad_slice_cols(t, elbo_ad_param(t, &m->params, m->post_ids[P_U]), k * Z, Z);
    elbo_node *w = elbo_ad_slice_cols(t, elbo_ad_param(t, &m->params, m->post_ids[P_W]), k * Z, Z);
    elbo_node *b = elbo_ad_slice_cols(t, elbo_ad_param(t, &m->params, m->post_ids[P_B]), k, 1);
    elbo_node *wuh = NULL;
    elbo_node *uh = u_hat(t, u, w, &wuh);
    elbo_node *h = elbo_ad_tanh(t, elbo_ad_add(t, elbo_ad_matmul(t, z, elbo_ad_transpose(t, w)), b)); /* (B,1) */
    elbo_node *one = vae_constant(t, B, 1, 1.0f);
    elbo_node *dh = elbo_ad_sub(t, one, elbo_ad_mul(t, h, h)); /* tanh' = 1 - tanh^2 */
    *log_det = elbo_ad_log(t, elbo_ad_add(t, one, elbo_ad_mul(t, dh, wuh)));
    return elbo_ad_add(t, z, elbo_ad_matmul(t, h, uh));
}

static elbo_node *sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps)
{
    elbo_node *log_q = NULL;
    elbo_node *z = vae_flow_base(t, q, rng, eps, &log_q);
    for (int k = 0; z && k < m->cfg.flow_steps; k++) {
        elbo_node *ld = NULL;
        z = step(t, m, k, z, &ld);
        log_q = elbo_ad_sub(t, log_q, ld);
    }
    return z && log_q ? vae_flow_pack(t, z, log_q) : NULL;
}

const elbo_vae_posterior_ops elbo_posterior_planar = {
    .name = "planar",
    .help = "a diagonal Gaussian through K planar flows (--flow-steps; Rezende & Mohamed 2015)",
    .head_size = vae_flow_head_size,
    .add_params = add_params,
    .split = vae_flow_split,
    .sample = sample,
    .log_q_sample = vae_flow_log_q_sample,
    .log_prob = vae_flow_log_prob,
};
