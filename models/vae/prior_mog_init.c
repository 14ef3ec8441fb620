/* Where the mixture prior's fit can start: the chapter's EM (models/mog,
 * diagonal covariances) on the encoder means, or a params.csv of
 * experiments/mog_em --cov diag. Both set
 *   logits a_k = log w_k,  means m_k = mu_k,  log-variances s_kj = log Sigma_kjj
 * so that softmax(a) = w and the prior's density is the fitted mixture's. */
#include "models/io/csv.h"
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdlib.h>

enum { P_LOGITS, P_MEANS, P_LOGVARS };

static elbo_status need_mog(const elbo_vae *m, const char *what)
{
    if (elbo_vae_prior(m->cfg.prior) == &elbo_prior_mog)
        return ELBO_OK;
    return elbo_fail(ELBO_ERR_INVALID, "%s: needs the mog prior, this model has the %s prior", what,
                     elbo_vae_prior(m->cfg.prior)->name);
}

elbo_status elbo_vae_prior_mog_table(const elbo_vae *m, double *tab)
{
    elbo_status st = need_mog(m, "mixture prior table");
    if (st != ELBO_OK)
        return st;
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    const size_t cols = 2 + 2 * (size_t)Z;
    const float *a = elbo_param_w(&m->params, m->prior_ids[P_LOGITS]);
    const float *mu = elbo_param_w(&m->params, m->prior_ids[P_MEANS]);
    const float *lv = elbo_param_w(&m->params, m->prior_ids[P_LOGVARS]);
    double amax = a[0], tot = 0.0;
    for (int k = 1; k < K; k++)
        amax = a[k] > amax ? a[k] : amax;
    for (int k = 0; k < K; k++)
        tot += exp(a[k] - amax);
    for (int k = 0; k < K; k++) {
        double *row = tab + (size_t)k * cols;
        row[0] = k;
        row[1] = exp(a[k] - amax) / tot;
        for (int j = 0; j < Z; j++) {
            row[2 + j] = mu[(size_t)k * Z + j];
            row[2 + Z + j] = exp((double)lv[(size_t)k * Z + j]);
        }
    }
    return ELBO_OK;
}

elbo_status elbo_vae_prior_mog_set_table(elbo_vae *m, const char *name, const double *tab, size_t rows, size_t cols)
{
    elbo_status st = need_mog(m, name);
    if (st != ELBO_OK)
        return st;
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    const size_t want = 2 + 2 * (size_t)Z;
    if (rows != (size_t)K || cols != want)
        return elbo_fail(ELBO_ERR_MISMATCH, "%s: a mixture of %zu components by %zu columns: expected %d "
                         "components (--prior-k) by %zu columns (component, weight, %d means, %d variances)",
                         name, rows, cols, K, want, Z, Z);
    double wsum = 0.0;
    for (size_t k = 0; k < rows; k++)
        for (size_t c = 1; c < cols; c++) {
            double v = tab[k * cols + c];
            bool positive = c == 1 || c >= 2 + (size_t)Z;
            /* stored as float: a mean beyond 1e30 would become inf */
            if (!isfinite(v) || (positive && !(v > 0.0)) || fabs(v) > 1e30)
                return elbo_fail(ELBO_ERR_FORMAT, "%s: component %zu, column %zu is %g: expected a finite%s number "
                                 "of magnitude at most 1e30", name, k, c + 1, v, positive ? " positive" : "");
            if (c == 1)
                wsum += v;
        }
    float *a = elbo_param_w(&m->params, m->prior_ids[P_LOGITS]);
    float *mu = elbo_param_w(&m->params, m->prior_ids[P_MEANS]);
    float *lv = elbo_param_w(&m->params, m->prior_ids[P_LOGVARS]);
    for (int k = 0; k < K; k++) {
        const double *row = tab + (size_t)k * cols;
        a[k] = (float)log(row[1] / wsum);
        for (int j = 0; j < Z; j++) {
            mu[(size_t)k * Z + j] = (float)row[2 + j];
            lv[(size_t)k * Z + j] = (float)log(row[2 + Z + j]);
        }
    }
    return ELBO_OK;
}

elbo_status elbo_vae_prior_mog_load(elbo_vae *m, const char *path)
{
    elbo_status st = need_mog(m, path);
    if (st != ELBO_OK)
        return st;
    double *tab = NULL;
    size_t rows = 0, cols = 0;
    if ((st = elbo_csv_read(path, &tab, &rows, &cols)) != ELBO_OK)
        return st;
    st = elbo_vae_prior_mog_set_table(m, path, tab, rows, cols);
    free(tab);
    return st;
}

/* Each component's variances plus the posterior variance of its points,
 *   Sigma_kj += sum_i r_ik sigma^2_ij / sum_i r_ik,
 * the variance of component k of the aggregated posterior sum_i q(z|x_i)
 * (its means' spread and the posteriors' own), in chunks of points. */
static elbo_status add_posterior_variance(mog_params *p, const double *x, const float *logvar, size_t n)
{
    enum { CHUNK = 2048 };
    const size_t K = p->k, Z = p->d;
    double *resp = malloc(CHUNK * K * sizeof(double)), *sum = calloc(K * (Z + 1), sizeof(double));
    elbo_status st = resp && sum ? ELBO_OK : elbo_fail(ELBO_ERR_NOMEM, "EM initialisation of the prior: out of memory");
    for (size_t i0 = 0; st == ELBO_OK && i0 < n; i0 += CHUNK) {
        size_t b = n - i0 < CHUNK ? n - i0 : CHUNK;
        if ((st = mog_score_samples(p, x + i0 * Z, b, NULL, resp, NULL)) != ELBO_OK)
            break;
        for (size_t i = 0; i < b; i++)
            for (size_t k = 0; k < K; k++) {
                double r = resp[i * K + k];
                sum[k * (Z + 1) + Z] += r;
                for (size_t j = 0; j < Z; j++)
                    sum[k * (Z + 1) + j] += r * exp((double)logvar[(i0 + i) * Z + j]);
            }
    }
    for (size_t k = 0; st == ELBO_OK && k < K; k++)
        for (size_t j = 0; j < Z && sum[k * (Z + 1) + Z] > 0.0; j++)
            p->covars[k * Z + j] += sum[k * (Z + 1) + j] / sum[k * (Z + 1) + Z];
    free(resp), free(sum);
    return st == ELBO_OK ? mog_params_update(p) : st;
}

elbo_status elbo_vae_prior_mog_fit(elbo_vae *m, const float *mu, const float *logvar, size_t n, uint64_t seed,
                                   int max_iter, mog_result *res)
{
    elbo_status st = need_mog(m, "EM initialisation of the prior");
    if (st != ELBO_OK)
        return st;
    const size_t K = (size_t)m->cfg.prior_k, Z = (size_t)m->cfg.z_dim;
    if (n < K)
        return elbo_fail(ELBO_ERR_INVALID, "EM initialisation of the prior: %zu points for %zu components", n, K);
    double *x = malloc(n * Z * sizeof(double));
    double *tab = malloc(K * (2 + 2 * Z) * sizeof(double));
    if (!x || !tab) {
        free(x), free(tab);
        return elbo_fail(ELBO_ERR_NOMEM, "EM initialisation of the prior: out of memory");
    }
    for (size_t i = 0; i < n * Z; i++)
        x[i] = mu[i];
    mog_config cfg;
    mog_config_default(&cfg, K);
    cfg.cov = MOG_COV_DIAG;
    cfg.seed = seed;
    cfg.max_iter = max_iter > 0 ? max_iter : MOG_MAX_ITER_DEFAULT;
    mog_result r;
    st = mog_fit(x, n, Z, &cfg, &r);
    if (st == ELBO_OK && logvar && (st = add_posterior_variance(&r.params, x, logvar, n)) != ELBO_OK)
        mog_result_free(&r);
    free(x);
    if (st != ELBO_OK) {
        free(tab);
        return st;
    }
    for (size_t k = 0; k < K; k++) { /* the mog_em params.csv layout */
        double *row = tab + k * (2 + 2 * Z);
        row[0] = (double)k;
        row[1] = r.params.weights[k];
        for (size_t j = 0; j < Z; j++) {
            row[2 + j] = r.params.means[k * Z + j];
            row[2 + Z + j] = r.params.covars[k * Z + j];
        }
    }
    st = elbo_vae_prior_mog_set_table(m, "EM initialisation of the prior", tab, K, 2 + 2 * Z);
    free(tab);
    if (res && st == ELBO_OK)
        *res = r;
    else
        mog_result_free(&r);
    return st;
}

elbo_status elbo_vae_prior_mog_fit_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int eval_batch,
                                        uint64_t seed, int max_iter, mog_result *res)
{
    elbo_status st = need_mog(m, "EM initialisation of the prior");
    if (st != ELBO_OK)
        return st;
    float *mu = malloc(ds->n * (size_t)m->cfg.z_dim * sizeof(float));
    float *lv = malloc(ds->n * (size_t)m->cfg.z_dim * sizeof(float));
    if (!mu || !lv) {
        free(mu), free(lv);
        return elbo_fail(ELBO_ERR_NOMEM, "EM initialisation of the prior: out of memory");
    }
    st = elbo_vae_encode_data(m, t, ds, 0, ds->n, eval_batch, mu, lv);
    if (st == ELBO_OK)
        st = elbo_vae_prior_mog_fit(m, mu, lv, ds->n, seed, max_iter, res);
    free(mu), free(lv);
    return st;
}
