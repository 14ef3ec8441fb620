/* beta-TCVAE (Chen et al. 2018): the KL term of the ELBO, averaged over the
 * data, split into index-code mutual information, total correlation and
 * dimension-wise KL,
 *     MI   = E[log q(z|x) - log q(z)]
 *     TC   = E[log q(z) - Σ_d log q(z_d)]
 *     dwKL = E[Σ_d log q(z_d) - log p(z)]
 * with the aggregate posterior q(z) and its marginals estimated over the
 * minibatch from the pairwise densities q(z_i | x_j):
 *     log q(z_i)   ~ logsumexp_j (log w[i,j] + Σ_d log q(z_i,d | x_j))
 *     log q(z_i,d) ~ logsumexp_j (log w[i,j] + log q(z_i,d | x_j))
 * w the estimator's weights (elbo_tcvae_log_weights), L[i,j,d] = log q(z_i,d |
 * x_j) one op (gauss_logpdf_pairs). All on the tape, so
 * the penalty's gradient reaches mu, logvar and z. At the end: the registry's
 * entry, --objective tcvae. */
#include "models/objectives/objectives_internal.h"
#include "models/vae/component.h"

#include <math.h>

elbo_status elbo_tcvae_validate(const elbo_tcvae_config *c)
{
    if (!c)
        return elbo_fail(ELBO_ERR_INVALID, "tcvae: expected a configuration, got NULL");
    elbo_status s;
    if ((s = obj_check_weight("tcvae: alpha (MI weight)", c->alpha)) != ELBO_OK ||
        (s = obj_check_weight("tcvae: beta (TC weight)", c->beta)) != ELBO_OK ||
        (s = obj_check_weight("tcvae: gamma (dimension-wise KL weight)", c->gamma)) != ELBO_OK)
        return s;
    if (c->estimator != ELBO_TC_MWS && c->estimator != ELBO_TC_MSS)
        return elbo_fail(ELBO_ERR_INVALID, "tcvae: expected the estimator mws or mss, got %d", (int)c->estimator);
    if (c->dataset_size < 1)
        return elbo_fail(ELBO_ERR_INVALID, "tcvae: expected a dataset size >= 1, got %ld", c->dataset_size);
    return ELBO_OK;
}

elbo_status elbo_tcvae_log_weights(elbo_tc_estimator e, int B, long N, float *logw)
{
    if (B < 1 || N < B)
        return elbo_fail(ELBO_ERR_INVALID, "tcvae: expected 1 <= batch <= dataset size, got batch %d, size %ld", B, N);
    if (e == ELBO_TC_MSS && B < 2)
        return elbo_fail(ELBO_ERR_INVALID, "tcvae: mss: expected a batch of at least 2, got %d", B);
    double n = (double)N, m = (double)(B - 1);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double w = 1.0 / (n * (double)B); /* MWS: q(z) ~ 1/(N B) Σ_j q(z|x_j) */
            if (e == ELBO_TC_MSS) // the sample's own 1/N, one stratum (N-M)/(N M), the other M-1 1/M
                w = j == i ? 1.0 / n : j == (i + 1) % B ? (n - m) / (n * m) : 1.0 / m;
            logw[(size_t)i * (size_t)B + (size_t)j] = (float)log(w);
        }
    return ELBO_OK;
}

/* log N(z; mu, e^lv) per element, with the broadcasts of the caller:
 * -0.5 (sq e^{-lv} + lv + log 2pi) from the squared differences sq. */
static elbo_node *log_normal(elbo_tape *t, elbo_node *sq, elbo_node *prec, elbo_node *lv, elbo_node *log2pi)
{
    elbo_node *e = sq;
    if (prec)
        e = elbo_ad_add(t, elbo_ad_mul(t, e, prec), lv);
    return elbo_ad_scale(t, elbo_ad_add(t, e, log2pi), -0.5f);
}

static double batch_mean(const elbo_node *n)
{
    double s = 0.0;
    for (int i = 0; i < n->rows; i++)
        s += (double)n->x[i];
    return s / (double)n->rows;
}

elbo_status elbo_tcvae_penalty(elbo_tape *t, elbo_node *mu, elbo_node *logvar, elbo_node *z,
                               const elbo_tcvae_config *c, elbo_node **penalty, elbo_tcvae_terms *terms)
{
    elbo_status s;
    if ((s = elbo_tcvae_validate(c)) != ELBO_OK || (s = obj_check_batch(t, "tcvae", mu, logvar, z)) != ELBO_OK)
        return s;
    if (!logvar || !z || !penalty)
        return elbo_fail(ELBO_ERR_INVALID, "tcvae: expected mu, logvar, z and a result, got NULL");
    int B = mu->rows, D = mu->cols;
    float *logw = elbo_tape_alloc(t, (size_t)B * (size_t)B);
    if (!logw)
        return elbo_tape_status(t);
    if ((s = elbo_tcvae_log_weights(c->estimator, B, c->dataset_size, logw)) != ELBO_OK)
        return s;
    /* the weights again per (i,j,d), for the marginals: logw3[i,j,d] = logw[i,j] */
    float *logw3 = elbo_tape_alloc(t, (size_t)B * (size_t)B * (size_t)D);
    if (!logw3)
        return elbo_tape_status(t);
    for (size_t ij = 0; ij < (size_t)B * (size_t)B; ij++)
        for (int d = 0; d < D; d++)
            logw3[ij * (size_t)D + (size_t)d] = logw[ij];

    elbo_node *log2pi = obj_const(t, 1, (const int[]){D}, (float)log(2.0 * M_PI));
    elbo_node *prec = elbo_ad_exp(t, elbo_ad_scale(t, logvar, -1.0f)); /* e^{-lv} (B,D) */
    /* L[i,j,d] = log q(z_i,d | x_j): (B,B,D) */
    elbo_node *L = elbo_ad_gauss_logpdf_pairs(t, z, mu, logvar);
    elbo_node *joint = elbo_ad_reshape(t, elbo_ad_sum_rows(t, elbo_ad_reshape(t, L, 2, (const int[]){B * B, D})), 2,
                                       (const int[]){B, B});
    elbo_node *log_qz = elbo_ad_logsumexp_rows(t, elbo_ad_add(t, joint, elbo_ad_input(t, B, B, logw)));
    elbo_node *Lw = elbo_ad_add(t, L, elbo_ad_input_nd(t, 3, (const int[]){B, B, D}, logw3));
    elbo_node *log_qz_prod = elbo_ad_sum_rows(t, elbo_ad_logsumexp_axis(t, Lw, 1));
    /* exact: log q(z_i | x_i) and log p(z_i) = log N(z_i; 0, I) */
    elbo_node *diff = elbo_ad_sub(t, z, mu);
    elbo_node *log_qz_x = elbo_ad_sum_rows(t, log_normal(t, elbo_ad_mul(t, diff, diff), prec, logvar, log2pi));
    elbo_node *log_pz = elbo_ad_sum_rows(t, log_normal(t, elbo_ad_mul(t, z, z), NULL, NULL, log2pi));

    elbo_node *mi = elbo_ad_sub(t, log_qz_x, log_qz), *tc = elbo_ad_sub(t, log_qz, log_qz_prod),
              *dw = elbo_ad_sub(t, log_qz_prod, log_pz);
    elbo_node *sum = elbo_ad_add(t, elbo_ad_add(t, elbo_ad_scale(t, mi, (float)c->alpha),
                                                elbo_ad_scale(t, tc, (float)c->beta)),
                                 elbo_ad_scale(t, dw, (float)c->gamma));
    elbo_node *pen = elbo_ad_mean(t, sum);
    if ((s = obj_built(t, "tcvae", pen)) != ELBO_OK)
        return s;
    *penalty = pen;
    if (terms)
        *terms = (elbo_tcvae_terms){.log_qz = log_qz, .log_qz_prod = log_qz_prod, .log_qz_x = log_qz_x,
                                    .log_pz = log_pz, .mi = batch_mean(mi), .tc = batch_mean(tc),
                                    .dwkl = batch_mean(dw)};
    return ELBO_OK;
}

/* ---- the registry's entry: --objective tcvae ----
 * loss = Σ_b -log Pr(x_b|z_b) + B penalty (the decomposition replaces the KL) */

static elbo_tcvae_config from_objective(const elbo_vae_objective *o)
{
    return (elbo_tcvae_config){.alpha = o->alpha, .beta = o->lambda, .gamma = o->gamma,
                               .estimator = (elbo_tc_estimator)o->variant, .dataset_size = (long)o->n_data};
}

static elbo_status tc_check(const elbo_vae_objective *o)
{
    elbo_status s = elbo_objective_check_weights(o);
    elbo_tcvae_config c = from_objective(o);
    return s != ELBO_OK ? s : elbo_tcvae_validate(&c);
}

static elbo_node *tc_loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    elbo_node *z = elbo_vae_fwd_sample(f);
    elbo_node *nll = elbo_vae_fwd_nll(f, z);
    if (elbo_tape_status(t) != ELBO_OK)
        return NULL;
    elbo_vae_latents l = elbo_vae_fwd_latents(f);
    elbo_tcvae_config c = from_objective(f->obj);
    elbo_node *pen;
    if (elbo_tcvae_penalty(t, l.mu, l.logvar, l.z, &c, &pen, NULL) != ELBO_OK)
        return NULL;
    pen = elbo_ad_scale(t, pen, (float)f->B);
    f->penalty = pen ? pen->x[0] : NAN;
    return elbo_ad_add(t, elbo_ad_sum(t, nll), pen);
}

const elbo_vae_objective_ops elbo_objective_tcvae = {
    .name = "tcvae",
    .help = "beta-TCVAE: rec + --tc-alpha MI + --tc-beta TC + --tc-gamma dimension-wise KL, q(z) by --tc-estimator",
    .check = tc_check,
    .loss = tc_loss,
};
