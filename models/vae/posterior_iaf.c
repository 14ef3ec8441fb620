/* Inverse autoregressive flow (Kingma et al. 2016): K steps after the
 * diagonal Gaussian base z_0 = mu + sigma eps, each a MADE network
 * (Germain et al. 2015) of one hidden layer of H units (--iaf-hidden),
 *   h   = elu(z (W1 . M1) + b1)                  (B,H)  (smooth, as Kingma et al.)
 *   m_k = h (Wm . M2) + bm,  s_k = h (Ws . M2) + bs       (B,Z)
 *   sigma_k = sigmoid(s_k)
 *   z_k = sigma_k z_{k-1} + (1 - sigma_k) m_k    (the numerically stable update)
 *   log |det dz_k/dz_{k-1}| = sum_j log sigma_kj = -sum_j softplus(-s_kj)
 * The masks give latent i a degree d(i) (1..Z, reversed every other step so
 * each variable is conditioned on both sides over the flow) and hidden unit
 * u a degree d(u) in 1..Z-1; M1[i,u] = [d(u) >= d(i)], M2[u,j] = [d(j) > d(u)],
 * so m_kj and s_kj depend only on latents of lower degree: the Jacobian is
 * triangular (in degree order) with diagonal sigma_k. bs starts at 1 (sigma
 * near 0.73, the step close to the identity). The MADE weights are the
 * model's own parameters, shared by all x; the base is amortized.
 *   log q(z_K|x) = log q(z_0|x) + sum_k sum_j softplus(-s_kj) */
#include "models/vae/posterior_flow.h"

enum { P_W1, P_B1, P_WM, P_BM, P_WS, P_BS };

static elbo_status add_params(elbo_vae *m)
{
    elbo_status st = vae_flow_check_steps(m, "iaf");
    if (st != ELBO_OK)
        return st;
    const int K = m->cfg.flow_steps, Z = m->cfg.z_dim, H = m->cfg.flow_hidden;
    if (H < 1 || H > ELBO_VAE_MAX_FLOW_HIDDEN)
        return elbo_fail(ELBO_ERR_INVALID, "iaf posterior: expected 1..%d hidden units, got %d",
                         ELBO_VAE_MAX_FLOW_HIDDEN, H);
    /* step k is columns k*H.. (W1, b1) and k*Z.. (the output weights) */
    int *id = m->post_ids;
    id[P_W1] = elbo_vae_add_param(m, "iaf.W1", 2, (const int[]){Z, K * H}, Z, 0.0f);
    id[P_B1] = elbo_vae_add_param(m, "iaf.b1", 2, (const int[]){1, K * H}, Z, 0.0f);
    id[P_WM] = elbo_vae_add_param(m, "iaf.Wm", 2, (const int[]){H, K * Z}, H, 0.0f);
    id[P_BM] = elbo_vae_add_param(m, "iaf.bm", 2, (const int[]){1, K * Z}, H, 0.0f);
    id[P_WS] = elbo_vae_add_param(m, "iaf.Ws", 2, (const int[]){H, K * Z}, H, 0.0f);
    id[P_BS] = elbo_vae_add_param(m, "iaf.bs", 2, (const int[]){1, K * Z}, 0, 1.0f);
    for (int i = P_W1; i <= P_BS; i++)
        if (id[i] < 0)
            return elbo_fail(ELBO_ERR_NOMEM, "iaf posterior: cannot register its parameters");
    return ELBO_OK;
}

/* Degree of latent i at step k: 1..Z, reversed on odd steps. */
static int deg_in(int i, int k, int Z) { return k % 2 ? Z - i : i + 1; }
/* Degree of hidden unit u: 1..Z-1 in turn (1 when Z = 1: then nothing
 * feeds an output and m, s are the biases). */
static int deg_hidden(int u, int Z) { return Z > 1 ? u % (Z - 1) + 1 : 1; }

/* M1 (Z,H) and M2 (H,Z) of step k as constants. */
static void masks(elbo_tape *t, int k, int Z, int H, elbo_node **m1, elbo_node **m2)
{
    float *a = elbo_tape_alloc(t, (size_t)Z * (size_t)H), *b = elbo_tape_alloc(t, (size_t)H * (size_t)Z);
    *m1 = *m2 = NULL;
    if (!a || !b)
        return;
    for (int i = 0; i < Z; i++)
        for (int u = 0; u < H; u++) {
            a[(size_t)i * H + u] = deg_hidden(u, Z) >= deg_in(i, k, Z) ? 1.0f : 0.0f;
            b[(size_t)u * Z + i] = deg_in(i, k, Z) > deg_hidden(u, Z) ? 1.0f : 0.0f;
        }
    *m1 = elbo_ad_input(t, Z, H, a);
    *m2 = elbo_ad_input(t, H, Z, b);
}

static elbo_node *param_cols(elbo_tape *t, elbo_vae *m, int which, int start, int len)
{
    return elbo_ad_slice_cols(t, elbo_ad_param(t, &m->params, m->post_ids[which]), start, len);
}

/* One step: z (B,Z) -> sigma z + (1 - sigma) m; *neg_log_det = sum_j softplus(-s_j) (B,1). */
static elbo_node *step(elbo_tape *t, elbo_vae *m, int k, elbo_node *z, elbo_node **neg_log_det)
{
    const int Z = m->cfg.z_dim, H = m->cfg.flow_hidden;
    elbo_node *m1, *m2;
    masks(t, k, Z, H, &m1, &m2);
    elbo_node *w1 = elbo_ad_mul(t, param_cols(t, m, P_W1, k * H, H), m1);
    elbo_node *h = elbo_ad_elu(t, elbo_ad_add(t, elbo_ad_matmul(t, z, w1), param_cols(t, m, P_B1, k * H, H)), 1.0f);
    elbo_node *wm = elbo_ad_mul(t, param_cols(t, m, P_WM, k * Z, Z), m2);
    elbo_node *ws = elbo_ad_mul(t, param_cols(t, m, P_WS, k * Z, Z), m2);
    elbo_node *mk = elbo_ad_add(t, elbo_ad_matmul(t, h, wm), param_cols(t, m, P_BM, k * Z, Z));
    elbo_node *sk = elbo_ad_add(t, elbo_ad_matmul(t, h, ws), param_cols(t, m, P_BS, k * Z, Z));
    *neg_log_det = elbo_ad_sum_rows(t, elbo_ad_softplus(t, elbo_ad_scale(t, sk, -1.0f)));
    /* sigma z + (1 - sigma) m = m + sigma (z - m) */
    return elbo_ad_add(t, mk, elbo_ad_mul(t, elbo_ad_sigmoid(t, sk), elbo_ad_sub(t, z, mk)));
}

static elbo_node *sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps)
{
    elbo_node *log_q = NULL;
    elbo_node *z = vae_flow_base(t, q, rng, eps, &log_q);
    for (int k = 0; z && k < m->cfg.flow_steps; k++) {
        elbo_node *nld = NULL;
        z = step(t, m, k, z, &nld);
        log_q = elbo_ad_add(t, log_q, nld);
    }
    return z && log_q ? vae_flow_pack(t, z, log_q) : NULL;
}

const elbo_vae_posterior_ops elbo_posterior_iaf = {
    .name = "iaf",
    .help = "a diagonal Gaussian through K MADE inverse autoregressive steps (--flow-steps, --iaf-hidden; "
            "Kingma et al. 2016)",
    .head_size = vae_flow_head_size,
    .add_params = add_params,
    .split = vae_flow_split,
    .sample = sample,
    .log_q_sample = vae_flow_log_q_sample,
    .log_prob = vae_flow_log_prob,
};
