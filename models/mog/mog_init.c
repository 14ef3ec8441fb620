/* Initialisation: the responsibilities q_0 (as their sums) and a fallback
 * shape for components that start empty.
 *
 *  k-means++  seeds by D^2 sampling (Arthur & Vassilvitskii), then every point
 *             goes to its nearest seed (hard q_0), like scikit-learn's 'kmeans'
 *             initialisation without the Lloyd iterations;
 *  random     r_ik = u_ik / sum_k u_ik, u uniform (scikit-learn's 'random');
 *  means      every point to the nearest given mean; the weights and
 *             covariances come from that q_0 and the means are the given ones
 *             (what scikit-learn does with means_init). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog_internal.h"

static double sqdist(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* Data mean and covariance (+ reg_covar) as every component's fallback. */
static void data_shape(const double *x, size_t n, size_t d, double reg, mog_params *fb)
{
    double *mean = fb->means; /* row 0 as scratch, copied to all rows below */
    memset(mean, 0, d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++)
        mean[j] /= (double)n;
    double *cov = fb->covars; /* component 0, copied below */
    size_t len = fb->cov == MOG_COV_FULL ? d * d : fb->cov == MOG_COV_DIAG ? d : 1;
    memset(cov, 0, len * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double dj = x[i * d + j] - mean[j];
            if (fb->cov == MOG_COV_FULL)
                for (size_t l = 0; l <= j; l++)
                    cov[j * d + l] += dj * (x[i * d + l] - mean[l]);
            else if (fb->cov == MOG_COV_DIAG)
                cov[j] += dj * dj;
            else
                cov[0] += dj * dj;
        }
    if (fb->cov == MOG_COV_FULL) {
        for (size_t j = 0; j < d; j++)
            for (size_t l = 0; l <= j; l++) {
                cov[j * d + l] /= (double)n;
                cov[l * d + j] = cov[j * d + l];
            }
        for (size_t j = 0; j < d; j++)
            cov[j * d + j] += reg;
    } else if (fb->cov == MOG_COV_DIAG) {
        for (size_t j = 0; j < d; j++)
            cov[j] = cov[j] / (double)n + reg;
    } else {
        cov[0] = cov[0] / ((double)n * (double)d) + reg;
    }
    for (size_t c = 1; c < fb->k; c++) {
        memcpy(fb->means + c * d, mean, d * sizeof(double));
        memcpy(fb->covars + c * len, cov, len * sizeof(double));
    }
    for (size_t c = 0; c < fb->k; c++)
        fb->weights[c] = 1.0 / (double)fb->k;
}

/* k-means++ seeds into centres (k, d). */
static elbo_status kmeanspp(const double *x, size_t n, size_t d, size_t k, elbo_rng *rng, double *centres,
                            unsigned *warn)
{
    double *dist = malloc(n * sizeof(double));
    if (!dist)
        return elbo_fail(ELBO_ERR_NOMEM, "mog: k-means++: out of memory");
    size_t pick = (size_t)elbo_rng_below(rng, n);
    memcpy(centres, x + pick * d, d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        dist[i] = sqdist(x + i * d, centres, d);
    for (size_t c = 1; c < k; c++) {
        double total = 0.0;
        for (size_t i = 0; i < n; i++)
            total += dist[i];
        if (!(total > 0.0)) {
            /* every point sits on a seed already: fewer distinct points than k */
            *warn |= MOG_WARN_DUPLICATE_SEEDS;
            pick = (size_t)elbo_rng_below(rng, n);
        } else {
            double u = elbo_rng_uniform(rng) * total, acc = 0.0;
            pick = n - 1;
            for (size_t i = 0; i < n; i++) {
                acc += dist[i];
                if (acc > u) {
                    pick = i;
                    break;
                }
            }
        }
        double *ctr = centres + c * d;
        memcpy(ctr, x + pick * d, d * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            double t = sqdist(x + i * d, ctr, d);
            if (t < dist[i])
                dist[i] = t;
        }
    }
    free(dist);
    return ELBO_OK;
}

/* Hard q_0: each point to its nearest centre; sums shifted by the cluster means. */
static elbo_status stats_nearest(const double *x, size_t n, size_t d, const double *centres, mog_stats *s,
                                 size_t *lab)
{
    size_t k = s->k;
    mog_stats_zero(s);
    memset(s->c, 0, k * d * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        double bd = INFINITY;
        for (size_t c = 0; c < k; c++) {
            double t = sqdist(x + i * d, centres + c * d, d);
            if (t < bd) {
                bd = t;
                best = c;
            }
        }
        lab[i] = best;
        s->nk[best] += 1.0;
        for (size_t j = 0; j < d; j++)
            s->c[best * d + j] += x[i * d + j];
    }
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            s->c[c * d + j] = s->nk[c] > 0 ? s->c[c * d + j] / s->nk[c] : centres[c * d + j];
    for (size_t i = 0; i < n; i++) {
        size_t c = lab[i];
        const double *ctr = s->c + c * d;
        for (size_t j = 0; j < d; j++) {
            double dj = x[i * d + j] - ctr[j];
            s->s1[c * d + j] += dj;
            if (s->full)
                for (size_t l = 0; l < d; l++)
                    s->s2[(c * d + j) * d + l] += dj * (x[i * d + l] - ctr[l]);
            else
                s->s2[c * d + j] += dj * dj;
        }
    }
    return ELBO_OK;
}

/* Random soft q_0, regenerated from a saved generator on the second pass so
 * no (n, k) array is needed. */
static elbo_status stats_random(const double *x, size_t n, size_t d, elbo_rng *rng, mog_stats *s)
{
    size_t k = s->k;
    double *r = malloc(k * sizeof(double)), *dj = malloc(d * sizeof(double));
    if (!r || !dj) {
        free(r);
        free(dj);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: init: out of memory");
    }
    mog_stats_zero(s);
    memset(s->c, 0, k * d * sizeof(double));
    elbo_rng start = *rng;
    for (int pass = 0; pass < 2; pass++) {
        *rng = start;
        for (size_t i = 0; i < n; i++) {
            double sum = 0.0;
            for (size_t c = 0; c < k; c++)
                sum += (r[c] = elbo_rng_uniform(rng));
            for (size_t c = 0; c < k; c++) {
                double w = r[c] / sum;
                if (pass == 0) {
                    s->nk[c] += w;
                    if (w > 0)
                        s->entropy -= w * log(w);
                    for (size_t j = 0; j < d; j++)
                        s->c[c * d + j] += w * x[i * d + j];
                    continue;
                }
                for (size_t j = 0; j < d; j++)
                    dj[j] = x[i * d + j] - s->c[c * d + j];
                for (size_t j = 0; j < d; j++) {
                    double wd = w * dj[j];
                    s->s1[c * d + j] += wd;
                    if (s->full)
                        for (size_t l = 0; l < d; l++)
                            s->s2[(c * d + j) * d + l] += wd * dj[l];
                    else
                        s->s2[c * d + j] += wd * dj[j];
                }
            }
        }
        if (pass == 0)
            for (size_t c = 0; c < k; c++)
                for (size_t j = 0; j < d; j++)
                    s->c[c * d + j] /= s->nk[c] > 0 ? s->nk[c] : 1.0;
    }
    free(r);
    free(dj);
    return ELBO_OK;
}

elbo_status mog_init_stats(const double *x, size_t n, size_t d, const mog_config *cfg, elbo_rng *rng,
                           mog_stats *s, mog_params *fallback, size_t *labels, unsigned *warn)
{
    data_shape(x, n, d, cfg->reg_covar, fallback);
    switch (cfg->init) {
    case MOG_INIT_KMEANSPP: {
        elbo_status st = kmeanspp(x, n, d, cfg->k, rng, fallback->means, warn);
        return st != ELBO_OK ? st : stats_nearest(x, n, d, fallback->means, s, labels);
    }
    case MOG_INIT_MEANS:
        if (!cfg->init_means)
            return elbo_fail(ELBO_ERR_INVALID, "mog: init 'means' needs init_means (k, d), got NULL");
        memcpy(fallback->means, cfg->init_means, cfg->k * d * sizeof(double));
        return stats_nearest(x, n, d, cfg->init_means, s, labels);
    case MOG_INIT_RANDOM:
        memset(labels, 0, n * sizeof(size_t));
        return stats_random(x, n, d, rng, s);
    }
    return elbo_fail(ELBO_ERR_INVALID, "mog: unknown init %d", (int)cfg->init);
}
