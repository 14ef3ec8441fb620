/* A mixture of K Gaussians with learned weights, means and diagonal
 * variances as the prior (Jiang et al. 2016's clustering prior; the
 * chapter's MoG, 17.4, placed in latent space):
 *   Pr(z) = sum_k pi_k Norm_z[m_k, diag(e^{s_k})],   pi = softmax(a)
 *   log Pr(z) = logsumexp_k (log pi_k + sum_j log Norm[z_j; m_kj, e^{s_kj}])
 * Parameters: logits a (1,K), means m (K,Z), log-variances s (K,Z), learned
 * with the networks. KL(q || Pr) has no closed form: the objectives
 * estimate it from the posterior's draws (elbo_vae_fwd_kl_mc). The fit can
 * start from EM on the encoder means (prior_mog_init.c). */
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdlib.h>

enum { P_LOGITS, P_MEANS, P_LOGVARS };

static elbo_status add_params(elbo_vae *m)
{
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    const int d1[2] = {1, K}, d2[2] = {K, Z};
    m->prior_ids[P_LOGITS] = elbo_vae_add_param(m, "prior.logits", 2, d1, 0, 0.0f);
    m->prior_ids[P_MEANS] = elbo_vae_add_param(m, "prior.means", 2, d2, 0, 0.0f);
    m->prior_ids[P_LOGVARS] = elbo_vae_add_param(m, "prior.logvars", 2, d2, 0, 0.0f);
    if (m->prior_ids[P_LOGITS] < 0 || m->prior_ids[P_MEANS] < 0 || m->prior_ids[P_LOGVARS] < 0)
        return elbo_fail(ELBO_ERR_INVALID, "mog prior: more than %d parameter tensors", ELBO_VAE_MAX_PARAMS);
    return ELBO_OK;
}

/* Equal weights, unit variances, means ~ Norm[0, I]: distinct components so
 * that their gradients differ from the first step. */
static elbo_status init_params(elbo_vae *m, elbo_rng *rng)
{
    const size_t n = (size_t)m->cfg.prior_k * (size_t)m->cfg.z_dim;
    elbo_rng_normal_f32(rng, elbo_param_w(&m->params, m->prior_ids[P_MEANS]), n);
    return ELBO_OK;
}

elbo_node *vae_prior_mog_log_joint(elbo_tape *t, elbo_node *z, elbo_node *log_w, elbo_node *means,
                                   elbo_node *logvars)
{
    if (!z || !means)
        return NULL;
    /* (B,K): log Norm[z_i; m_k, diag e^{s_k}] */
    elbo_node *lp = elbo_ad_diag_gauss_logpdf_pairs(t, z, means, logvars);
    return log_w ? elbo_ad_add(t, lp, log_w) : lp;
}

/* log Pr(z) = logsumexp_k (log softmax(a)_k + log Norm[z; m_k, e^{s_k}])   (B,Z) -> (B,1) */
static elbo_node *log_prob(elbo_tape *t, elbo_vae *m, elbo_node *z)
{
    elbo_params *p = &m->params;
    elbo_node *log_w = elbo_ad_log_softmax(t, elbo_ad_param(t, p, m->prior_ids[P_LOGITS]), -1);
    elbo_node *j = vae_prior_mog_log_joint(t, z, log_w, elbo_ad_param(t, p, m->prior_ids[P_MEANS]),
                                           elbo_ad_param(t, p, m->prior_ids[P_LOGVARS]));
    return elbo_ad_logsumexp_rows(t, j);
}

/* Ancestral sampling: k ~ Cat(pi), z = m_k + e^{s_k/2} eps. */
static elbo_status sample(elbo_vae *m, elbo_rng *rng, float *z, size_t n)
{
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    const float *a = elbo_param_w(&m->params, m->prior_ids[P_LOGITS]);
    const float *mu = elbo_param_w(&m->params, m->prior_ids[P_MEANS]);
    const float *lv = elbo_param_w(&m->params, m->prior_ids[P_LOGVARS]);
    double amax = a[0], tot = 0.0;
    for (int k = 1; k < K; k++)
        amax = a[k] > amax ? a[k] : amax;
    for (int k = 0; k < K; k++)
        tot += exp(a[k] - amax);
    for (size_t i = 0; i < n; i++) {
        double u = elbo_rng_uniform(rng) * tot, c = 0.0;
        int k = 0;
        for (; k < K - 1; k++) {
            c += exp(a[k] - amax);
            if (u < c)
                break;
        }
        for (int j = 0; j < Z; j++) {
            size_t o = (size_t)k * Z + j;
            z[i * Z + j] = (float)(mu[o] + exp(0.5 * lv[o]) * elbo_rng_normal(rng));
        }
    }
    return ELBO_OK;
}

const elbo_vae_prior_ops elbo_prior_mog = {
    .name = "mog",
    .help = "mixture of --prior-k Gaussians, learned weights, means, diagonal variances",
    .standard_normal = false,
    .default_k = 10,
    .add_params = add_params,
    .init_params = init_params,
    .log_prob = log_prob,
    .sample = sample,
};

/* ---- cluster assignments (double, from the parameters) ---- */

elbo_status elbo_vae_prior_mog_responsibilities(const elbo_vae *m, const float *z, size_t n, double *resp,
                                                int *cluster)
{
    if (elbo_vae_prior(m->cfg.prior) != &elbo_prior_mog)
        return elbo_fail(ELBO_ERR_INVALID, "cluster assignments need the mog prior, this model has the %s prior",
                         elbo_vae_prior(m->cfg.prior)->name);
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    const float *a = elbo_param_w(&m->params, m->prior_ids[P_LOGITS]);
    const float *mu = elbo_param_w(&m->params, m->prior_ids[P_MEANS]);
    const float *lv = elbo_param_w(&m->params, m->prior_ids[P_LOGVARS]);
    double amax = a[0], lse = 0.0;
    for (int k = 1; k < K; k++)
        amax = a[k] > amax ? a[k] : amax;
    for (int k = 0; k < K; k++)
        lse += exp(a[k] - amax);
    lse = amax + log(lse);
    double *lj = malloc((size_t)K * sizeof(double));
    if (!lj)
        return elbo_fail(ELBO_ERR_NOMEM, "cluster assignments: out of memory");
    for (size_t i = 0; i < n; i++) {
        /* log pi_k + log Norm[z_i; m_k, e^{s_k}], then normalised by logsumexp */
        double best = -INFINITY;
        int arg = 0;
        for (int k = 0; k < K; k++) {
            double s = a[k] - lse;
            for (int j = 0; j < Z; j++) {
                double d = z[i * Z + j] - mu[(size_t)k * Z + j], v = lv[(size_t)k * Z + j];
                s -= 0.5 * (d * d * exp(-v) + v + log(2.0 * M_PI));
            }
            lj[k] = s;
            if (s > best)
                best = s, arg = k;
        }
        if (cluster)
            cluster[i] = arg;
        if (resp) {
            double tot = 0.0;
            for (int k = 0; k < K; k++)
                tot += exp(lj[k] - best);
            for (int k = 0; k < K; k++)
                resp[i * K + k] = exp(lj[k] - best) / tot;
        }
    }
    free(lj);
    return ELBO_OK;
}
