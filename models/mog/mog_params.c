/* Parameter storage, the derived precision factors, parameter counts,
 * sampling and names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog_internal.h"

static size_t cov_len(size_t k, size_t d, mog_cov cov)
{
    return cov == MOG_COV_FULL ? k * d * d : cov == MOG_COV_DIAG ? k * d : k;
}

elbo_status mog_params_alloc(mog_params *p, size_t k, size_t d, mog_cov cov)
{
    memset(p, 0, sizeof *p);
    if (k == 0 || d == 0 || (unsigned)cov > MOG_COV_SPHERICAL)
        return elbo_fail(ELBO_ERR_INVALID, "mog: params: expected k >= 1, d >= 1 and a covariance type, got k=%zu d=%zu",
                         k, d);
    p->k = k;
    p->d = d;
    p->cov = cov;
    size_t c = cov_len(k, d, cov);
    p->weights = calloc(k, sizeof(double));
    p->means = calloc(k * d, sizeof(double));
    p->covars = calloc(c, sizeof(double));
    p->prec_chol = calloc(c, sizeof(double));
    p->log_norm = calloc(k, sizeof(double));
    if (!p->weights || !p->means || !p->covars || !p->prec_chol || !p->log_norm) {
        mog_params_free(p);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: params: out of memory (k=%zu d=%zu)", k, d);
    }
    return ELBO_OK;
}

void mog_params_free(mog_params *p)
{
    free(p->weights);
    free(p->means);
    free(p->covars);
    free(p->prec_chol);
    free(p->log_norm);
    memset(p, 0, sizeof *p);
}

elbo_status mog_params_copy(mog_params *dst, const mog_params *src)
{
    elbo_status st = mog_params_alloc(dst, src->k, src->d, src->cov);
    if (st != ELBO_OK)
        return st;
    size_t k = src->k, d = src->d, c = cov_len(k, d, src->cov);
    memcpy(dst->weights, src->weights, k * sizeof(double));
    memcpy(dst->means, src->means, k * d * sizeof(double));
    memcpy(dst->covars, src->covars, c * sizeof(double));
    memcpy(dst->prec_chol, src->prec_chol, c * sizeof(double));
    memcpy(dst->log_norm, src->log_norm, k * sizeof(double));
    return ELBO_OK;
}

elbo_status mog_params_update(mog_params *p)
{
    size_t k = p->k, d = p->d;
    double *l = NULL;
    if (p->cov == MOG_COV_FULL && !(l = malloc(d * d * sizeof(double))))
        return elbo_fail(ELBO_ERR_NOMEM, "mog: params: out of memory");
    for (size_t c = 0; c < k; c++) {
        if (!(p->weights[c] > 0.0) || !isfinite(p->weights[c])) {
            free(l);
            return elbo_fail(ELBO_ERR_INVALID, "mog: component %zu: expected a positive weight, got %g", c,
                             p->weights[c]);
        }
        double logdet_u = 0.0;
        if (p->cov == MOG_COV_FULL) {
            memcpy(l, p->covars + c * d * d, d * d * sizeof(double));
            size_t bad = mog_cholesky(l, d);
            if (bad) {
                free(l);
                return elbo_fail(ELBO_ERR_INVALID,
                                 "mog: component %zu: covariance is not positive definite (pivot %zu); "
                                 "increase reg_covar",
                                 c, bad - 1);
            }
            double *u = p->prec_chol + c * d * d;
            mog_tri_inverse(l, u, d);
            for (size_t j = 0; j < d; j++)
                logdet_u += log(u[j * d + j]);
        } else {
            size_t m = p->cov == MOG_COV_DIAG ? d : 1;
            for (size_t j = 0; j < m; j++) {
                double v = p->covars[c * m + j];
                if (!(v > 0.0) || !isfinite(v)) {
                    free(l);
                    return elbo_fail(ELBO_ERR_INVALID,
                                     "mog: component %zu: expected a positive variance, got %g; increase reg_covar",
                                     c, v);
                }
                p->prec_chol[c * m + j] = 1.0 / sqrt(v);
                logdet_u += log(p->prec_chol[c * m + j]);
            }
            if (p->cov == MOG_COV_SPHERICAL)
                logdet_u *= (double)d;
        }
        p->log_norm[c] = log(p->weights[c]) + logdet_u - 0.5 * (double)d * MOG_LOG_2PI;
    }
    free(l);
    return ELBO_OK;
}

size_t mog_param_count(size_t k, size_t d, mog_cov cov)
{
    size_t per = cov == MOG_COV_FULL ? d * (d + 1) / 2 : cov == MOG_COV_DIAG ? d : 1;
    return (k - 1) + k * d + k * per;
}

elbo_status mog_sample(const mog_params *p, elbo_rng *rng, size_t n, double *x, size_t *labels)
{
    size_t k = p->k, d = p->d;
    double *l = malloc((p->cov == MOG_COV_FULL ? k * d * d : k * d) * sizeof(double));
    double *eps = malloc(d * sizeof(double));
    if (!l || !eps) {
        free(l);
        free(eps);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: sample: out of memory");
    }
    /* the Cholesky factor of each covariance: x = mu + L eps */
    for (size_t c = 0; c < k; c++) {
        if (p->cov == MOG_COV_FULL) {
            memcpy(l + c * d * d, p->covars + c * d * d, d * d * sizeof(double));
            if (mog_cholesky(l + c * d * d, d)) {
                free(l);
                free(eps);
                return elbo_fail(ELBO_ERR_INVALID, "mog: sample: covariance %zu is not positive definite", c);
            }
        } else {
            for (size_t j = 0; j < d; j++)
                l[c * d + j] = sqrt(p->covars[p->cov == MOG_COV_DIAG ? c * d + j : c]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        /* ancestral: z from the categorical prior, then x from its Gaussian */
        double u = elbo_rng_uniform(rng), acc = 0.0;
        size_t z = k - 1;
        for (size_t c = 0; c < k; c++) {
            acc += p->weights[c];
            if (u < acc) {
                z = c;
                break;
            }
        }
        for (size_t j = 0; j < d; j++)
            eps[j] = elbo_rng_normal(rng);
        for (size_t j = 0; j < d; j++) {
            double v = p->means[z * d + j];
            if (p->cov == MOG_COV_FULL)
                for (size_t m = 0; m <= j; m++)
                    v += l[z * d * d + j * d + m] * eps[m];
            else
                v += l[z * d + j] * eps[j];
            x[i * d + j] = v;
        }
        if (labels)
            labels[i] = z;
    }
    free(l);
    free(eps);
    return ELBO_OK;
}

const char *mog_warning_text(unsigned flag)
{
    switch (flag) {
    case MOG_WARN_EMPTY_COMPONENT:
        return "a component lost all its points; it kept its previous mean and covariance with weight ~0";
    case MOG_WARN_FEW_POINTS:
        return "a component has too few points for a nonsingular covariance; only reg_covar keeps it positive "
               "definite";
    case MOG_WARN_ZERO_VARIANCE:
        return "zero spread along a coordinate (duplicate points): the variance there is reg_covar alone";
    case MOG_WARN_DUPLICATE_SEEDS:
        return "fewer distinct points than components: k-means++ seeds repeat";
    case MOG_WARN_N_BELOW_D:
        return "fewer points than dimensions: covariances are singular without reg_covar";
    case MOG_WARN_NOT_CONVERGED:
        return "did not converge within max_iter iterations";
    default:
        return "";
    }
}

const char *mog_cov_name(mog_cov cov)
{
    static const char *const names[] = {"full", "diag", "spherical"};
    return (unsigned)cov <= MOG_COV_SPHERICAL ? names[cov] : "unknown";
}

const char *mog_init_name(mog_init init)
{
    static const char *const names[] = {"kmeans++", "random", "means"};
    return (unsigned)init <= MOG_INIT_MEANS ? names[init] : "unknown";
}
