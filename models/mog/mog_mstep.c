/* The M-step from the shifted sums, and the expected complete-data
 * log-likelihood Q(theta; q) that turns the same sums into the ELBO. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog_internal.h"

elbo_status mog_stats_alloc(mog_stats *s, size_t k, size_t d, int full)
{
    memset(s, 0, sizeof *s);
    s->k = k;
    s->d = d;
    s->full = full;
    s->c = calloc(k * d, sizeof(double));
    s->nk = calloc(k, sizeof(double));
    s->s1 = calloc(k * d, sizeof(double));
    s->s2 = calloc(full ? k * d * d : k * d, sizeof(double));
    if (!s->c || !s->nk || !s->s1 || !s->s2) {
        mog_stats_free(s);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: statistics: out of memory (k=%zu d=%zu)", k, d);
    }
    return ELBO_OK;
}

void mog_stats_free(mog_stats *s)
{
    free(s->c);
    free(s->nk);
    free(s->s1);
    free(s->s2);
    memset(s, 0, sizeof *s);
}

void mog_stats_zero(mog_stats *s)
{
    size_t k = s->k, d = s->d;
    memset(s->nk, 0, k * sizeof(double));
    memset(s->s1, 0, k * d * sizeof(double));
    memset(s->s2, 0, (s->full ? k * d * d : k * d) * sizeof(double));
    s->entropy = 0.0;
}

/* m = sum_i r_i (x_i - mu)(x_i - mu)^T for delta = mu - c:
 *   s2 - s1 delta^T - delta s1^T + n delta delta^T  (diag: only the diagonal). */
static void scatter_about(const mog_stats *s, size_t c, const double *delta, double *m)
{
    size_t d = s->d;
    const double *s1 = s->s1 + c * d, n = s->nk[c];
    if (s->full) {
        const double *s2 = s->s2 + c * d * d;
        for (size_t j = 0; j < d; j++)
            for (size_t l = 0; l < d; l++)
                m[j * d + l] = s2[j * d + l] - s1[j] * delta[l] - delta[j] * s1[l] + n * delta[j] * delta[l];
    } else {
        const double *s2 = s->s2 + c * d;
        for (size_t j = 0; j < d; j++)
            m[j] = s2[j] - 2.0 * s1[j] * delta[j] + n * delta[j] * delta[j];
    }
}

elbo_status mog_mstep(const mog_stats *s, double reg_covar, const mog_params *prev, mog_params *out,
                      unsigned *warn, size_t *n_empty)
{
    size_t k = s->k, d = s->d;
    mog_cov cov = out->cov;
    double *m = malloc((s->full ? d * d : d) * sizeof(double)), *delta = malloc(d * sizeof(double));
    if (!m || !delta) {
        free(m);
        free(delta);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: M-step: out of memory");
    }
    double total = 0.0;
    for (size_t c = 0; c < k; c++)
        total += s->nk[c] + MOG_NK_EPS;
    size_t min_points = cov == MOG_COV_FULL ? d + 1 : 2;
    for (size_t c = 0; c < k; c++) {
        double n = s->nk[c], ne = n + MOG_NK_EPS;
        out->weights[c] = ne / total;
        if (n < MOG_EMPTY_MASS) {
            /* nothing to estimate from: keep the previous shape, weight ~0 */
            *warn |= MOG_WARN_EMPTY_COMPONENT;
            (*n_empty)++;
            memcpy(out->means + c * d, prev->means + c * d, d * sizeof(double));
            size_t len = cov == MOG_COV_FULL ? d * d : cov == MOG_COV_DIAG ? d : 1;
            memcpy(out->covars + c * len, prev->covars + c * len, len * sizeof(double));
            continue;
        }
        if (n < (double)min_points)
            *warn |= MOG_WARN_FEW_POINTS;
        for (size_t j = 0; j < d; j++) {
            delta[j] = s->s1[c * d + j] / ne;
            out->means[c * d + j] = s->c[c * d + j] + delta[j];
        }
        scatter_about(s, c, delta, m);
        if (cov == MOG_COV_FULL) {
            double *sig = out->covars + c * d * d;
            for (size_t j = 0; j < d; j++) {
                for (size_t l = 0; l < d; l++)
                    sig[j * d + l] = m[j * d + l] / ne;
                if (!(sig[j * d + j] > reg_covar))
                    *warn |= MOG_WARN_ZERO_VARIANCE;
                sig[j * d + j] += reg_covar;
            }
        } else {
            double sum = 0.0;
            for (size_t j = 0; j < d; j++) {
                double v = m[j] / ne;
                if (!(v > reg_covar))
                    *warn |= MOG_WARN_ZERO_VARIANCE;
                v += reg_covar;
                if (cov == MOG_COV_DIAG)
                    out->covars[c * d + j] = v;
                sum += v;
            }
            if (cov == MOG_COV_SPHERICAL)
                out->covars[c] = sum / (double)d; /* the mean of the diagonal variances */
        }
    }
    free(m);
    free(delta);
    return mog_params_update(out);
}

double mog_expected_loglik(const mog_params *p, const mog_stats *s)
{
    size_t k = s->k, d = s->d;
    double *m = malloc((s->full ? 2 * d * d : d) * sizeof(double)), *delta = malloc(d * sizeof(double));
    if (!m || !delta) {
        free(m);
        free(delta);
        return NAN;
    }
    double q = 0.0;
    for (size_t c = 0; c < k; c++) {
        if (s->nk[c] == 0.0)
            continue; /* 0 * log_norm, even when a weight underflowed */
        for (size_t j = 0; j < d; j++)
            delta[j] = p->means[c * d + j] - s->c[c * d + j];
        scatter_about(s, c, delta, m);
        /* sum_i r_ik (x_i - mu)^T P (x_i - mu) = tr(P M) = tr(U M U^T) */
        double tr = 0.0;
        if (p->cov == MOG_COV_FULL) {
            const double *u = p->prec_chol + c * d * d;
            double *um = m + d * d; /* U M */
            for (size_t j = 0; j < d; j++)
                for (size_t l = 0; l < d; l++) {
                    double t = 0.0;
                    for (size_t a = 0; a <= j; a++)
                        t += u[j * d + a] * m[a * d + l];
                    um[j * d + l] = t;
                }
            for (size_t j = 0; j < d; j++)
                for (size_t l = 0; l <= j; l++)
                    tr += um[j * d + l] * u[j * d + l];
        } else {
            for (size_t j = 0; j < d; j++) {
                double u = p->prec_chol[p->cov == MOG_COV_DIAG ? c * d + j : c];
                tr += u * u * m[j];
            }
        }
        q += s->nk[c] * p->log_norm[c] - 0.5 * tr;
    }
    free(m);
    free(delta);
    return q;
}
