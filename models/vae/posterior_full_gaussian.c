/* The full-covariance Gaussian posterior q(z|x) = Norm[mu, L L^T] with L
 * lower triangular, its diagonal positive through exp:
 *   head (B, 2Z + Z(Z-1)/2) = mu | lv | off,  L_jj = e^{lv_j / 2},
 *   L_ij = off_p for i > j, p = i(i-1)/2 + j (the strict lower triangle by rows).
 * qparams: mu, logvar = lv (the log of L_jj^2, not the marginal variance
 * Sigma_jj = sum_k L_jk^2), extra[0] = off.
 *   z = mu + L eps                 eps ~ Norm[0, I] (reparameterized)
 *   log q(z) = -1/2 |L^-1 (z - mu)|^2 - 1/2 sum_j lv_j - Z/2 log 2pi
 *   KL(q || Norm[0, I]) = 1/2 (tr(L L^T) + |mu|^2 - Z - sum_j lv_j)
 * Everything on the tape from existing ops: L eps = sigma * eps (the
 * reparam op) plus (off * eps_gathered) S with S (P,Z) the 0/1 matrix that
 * sends entry p to its row i(p). */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>

#define LOG2PI 1.8378770664093453

static int n_off(int Z) { return Z * (Z - 1) / 2; }

static int head_size(int Z) { return 2 * Z + n_off(Z); }

static elbo_status split(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q)
{
    const int Z = m->cfg.z_dim;
    q->mu = elbo_ad_slice_cols(t, head, 0, Z);
    q->logvar = elbo_ad_slice_cols(t, head, Z, Z);
    q->n_extra = 0;
    if (Z > 1) {
        q->extra[0] = elbo_ad_slice_cols(t, head, 2 * Z, n_off(Z));
        q->n_extra = 1;
    }
    return elbo_tape_status(t);
}

/* S (P,Z): S[p, i(p)] = 1, so (B,P) S sums each row's entries into z_i. */
static elbo_node *row_scatter(elbo_tape *t, int Z)
{
    const int P = n_off(Z);
    float *s = elbo_tape_alloc(t, (size_t)P * (size_t)Z);
    if (!s)
        return NULL;
    memset(s, 0, (size_t)P * (size_t)Z * sizeof(float));
    for (int i = 1, p = 0; i < Z; i++)
        for (int j = 0; j < i; j++, p++)
            s[(size_t)p * Z + i] = 1.0f;
    return elbo_ad_input(t, P, Z, s);
}

/* E (B,P): E[b,p] = eps[b, j(p)], the noise each off-diagonal entry multiplies. */
static elbo_node *gather_eps(elbo_tape *t, const float *eps, int B, int Z)
{
    const int P = n_off(Z);
    float *e = elbo_tape_alloc(t, (size_t)B * (size_t)P);
    if (!e)
        return NULL;
    for (int b = 0; b < B; b++)
        for (int i = 1, p = 0; i < Z; i++)
            for (int j = 0; j < i; j++, p++)
                e[(size_t)b * P + p] = eps[(size_t)b * Z + j];
    return elbo_ad_input(t, B, P, e);
}

/* z = mu + sigma * eps + (off * E) S: the reparam node draws (or copies) eps
 * and keeps it, so log_q_sample finds it there. */
static elbo_node *sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps)
{
    const int Z = m->cfg.z_dim;
    elbo_node *zd = elbo_ad_reparam(t, q->mu, q->logvar, rng, eps);
    if (!zd || Z == 1)
        return zd;
    elbo_node *E = gather_eps(t, zd->args.reparam.eps, zd->rows, Z);
    elbo_node *lo = elbo_ad_matmul(t, elbo_ad_mul(t, q->extra[0], E), row_scatter(t, Z));
    return elbo_ad_add(t, zd, lo);
}

/* log q = -1/2 |eps|^2 - 1/2 sum_j lv_j - Z/2 log 2pi, eps a constant (B,Z) of the graph. */
static elbo_node *log_q_eps(elbo_tape *t, const elbo_vae_qparams *q, const float *e, int B, int Z)
{
    float *c = elbo_tape_alloc(t, (size_t)B);
    if (!c)
        return NULL;
    for (int b = 0; b < B; b++) {
        double a = 0.0;
        for (int j = 0; j < Z; j++)
            a += (double)e[(size_t)b * Z + j] * e[(size_t)b * Z + j];
        c[b] = (float)(-0.5 * (a + Z * LOG2PI));
    }
    elbo_node *s = elbo_ad_scale(t, elbo_ad_sum_rows(t, q->logvar), -0.5f);
    return elbo_ad_add(t, s, elbo_ad_input(t, B, 1, c));
}

/* eps = L^-1 (z - mu) by forward substitution, one column at a time:
 *   eps_i = (d_i - sum_{j<i} L_ij eps_j) e^{-lv_i/2}
 * Z(Z+1)/2 small (B,1) products: the general form, for a z that sample did not draw. */
#define MAX_SOLVE 256

static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    const int Z = m->cfg.z_dim;
    elbo_node *d = elbo_ad_sub(t, z, q->mu);
    elbo_node *inv_sd = elbo_ad_exp(t, elbo_ad_scale(t, q->logvar, -0.5f));
    elbo_node *eps[MAX_SOLVE];
    if (Z > MAX_SOLVE)
        return elbo_tape_fail(t, ELBO_ERR_INVALID, "full-gaussian log q of a given z: at most %d latents, got %d",
                              MAX_SOLVE, Z);
    elbo_node *sq = NULL;
    for (int i = 0, p = 0; i < Z; i++) {
        elbo_node *r = elbo_ad_slice_cols(t, d, i, 1);
        for (int j = 0; j < i; j++, p++)
            r = elbo_ad_sub(t, r, elbo_ad_mul(t, elbo_ad_slice_cols(t, q->extra[0], p, 1), eps[j]));
        eps[i] = elbo_ad_mul(t, r, elbo_ad_slice_cols(t, inv_sd, i, 1));
        elbo_node *e2 = elbo_ad_mul(t, eps[i], eps[i]);
        sq = sq ? elbo_ad_add(t, sq, e2) : e2;
        if (elbo_tape_status(t) != ELBO_OK)
            return NULL;
    }
    elbo_node *s = elbo_ad_scale(t, elbo_ad_add(t, sq, elbo_ad_sum_rows(t, q->logvar)), -0.5f);
    return s ? elbo_ad_add(t, s, vae_constant(t, s->rows, 1, (float)(-0.5 * Z * LOG2PI))) : NULL;
}

/* The draw sample made: add(reparam(mu, lv), lower part), or the bare
 * reparam node when Z = 1. */
static elbo_node *own_reparam(const elbo_vae_qparams *q, elbo_node *z)
{
    if (z && z->op == ELBO_OP_ADD && z->n_in == 2)
        z = z->in[0];
    return z && z->op == ELBO_OP_REPARAM && z->in[0] == q->mu ? z : NULL;
}

static elbo_node *log_q_sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    elbo_node *r = own_reparam(q, z);
    if (!r)
        return log_prob(t, m, q, z);
    return log_q_eps(t, q, r->args.reparam.eps, z->rows, m->cfg.z_dim);
}

static bool normal_prior(elbo_vae *m) { return elbo_vae_prior(m->cfg.prior)->standard_normal; }

/* KL per latent row j of L (they sum to the KL):
 *   k_j = 1/2 (Sigma_jj + mu_j^2 - 1 - lv_j),  Sigma_jj = e^{lv_j} + sum_{k<j} L_jk^2 */
static elbo_node *kl_dims(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q)
{
    if (!normal_prior(m))
        return NULL;
    const int Z = m->cfg.z_dim;
    elbo_node *mu = q->mu, *lv = q->logvar;
    elbo_node *var = elbo_ad_exp(t, lv);
    if (Z > 1)
        var = elbo_ad_add(t, var, elbo_ad_matmul(t, elbo_ad_mul(t, q->extra[0], q->extra[0]), row_scatter(t, Z)));
    elbo_node *k = elbo_ad_sub(t, elbo_ad_add(t, var, elbo_ad_mul(t, mu, mu)), lv);
    return elbo_ad_scale(t, elbo_ad_add(t, k, vae_constant(t, 1, Z, -1.0f)), 0.5f);
}

static elbo_node *kl(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q)
{
    elbo_node *k = kl_dims(t, m, q);
    return k ? elbo_ad_sum_rows(t, k) : NULL;
}

const elbo_vae_posterior_ops elbo_posterior_full_gaussian = {
    .name = "full-gaussian",
    .help = "Norm[mu, L L^T], L lower triangular from the encoder, diagonal e^{lv/2}",
    .head_size = head_size,
    .split = split,
    .sample = sample,
    .log_q_sample = log_q_sample,
    .log_prob = log_prob,
    .kl = kl,
    .kl_dims = kl_dims,
};
