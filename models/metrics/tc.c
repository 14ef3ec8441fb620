/* Total correlation of the aggregate posterior over a set of points, the
 * quantity beta-TCVAE penalises (Chen et al. 2018, eq. 2):
 *   TC = E_q(z)[ log q(z) - sum_j log q(z_j) ],  q(z) = 1/n sum_i q(z | x_i),
 * with one draw z_s ~ q(z | x_s) per sample s and both densities summed
 * over all n points exactly (no minibatch weighting: this is an evaluation
 * over a held-out set, not a training estimator). Cost: dim * n per sample,
 * two passes (maxima, then exps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"
#include "ops/pool.h"

#define SAMPLE_BLOCK 8 /* samples per task: fixed, so any thread count gives the same bits */
#define LOG_2PI 1.8378770664093454836

typedef struct tc_job {
    size_t n, s;
    int dim;
    const double *mu, *ivar, *cst; /* (n, dim) */
    const double *z;               /* (n, dim) one draw per point */
    const uint32_t *order;         /* samples: the first s points of order */
    double *value;                 /* (s) log q(z_s) - sum_j log q(z_sj) */
} tc_job;

/* a_ij = log N(z_sj; mu_ij, var_ij); joint: logsumexp_i sum_j a_ij; marginal j: logsumexp_i a_ij. */
static void tc_task(void *ctx, int task)
{
    const tc_job *g = ctx;
    int d = g->dim;
    double *top = malloc((size_t)(d + 1) * 2 * sizeof *top), *sum = top + d + 1;
    if (!top) { /* NaN marks the failure; the caller reports it */
        for (size_t s = (size_t)task * SAMPLE_BLOCK; s < g->s && s < (size_t)(task + 1) * SAMPLE_BLOCK; s++)
            g->value[s] = NAN;
        return;
    }
    size_t s0 = (size_t)task * SAMPLE_BLOCK, s1 = s0 + SAMPLE_BLOCK < g->s ? s0 + SAMPLE_BLOCK : g->s;
    for (size_t s = s0; s < s1; s++) {
        const double *z = g->z + (size_t)g->order[s] * (size_t)d;
        for (int j = 0; j <= d; j++)
            top[j] = -INFINITY, sum[j] = 0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < g->n; i++) {
                const double *mu = g->mu + i * (size_t)d, *iv = g->ivar + i * (size_t)d, *cs = g->cst + i * (size_t)d;
                double joint = 0;
                for (int j = 0; j < d; j++) {
                    double e = z[j] - mu[j], a = cs[j] - 0.5 * e * e * iv[j];
                    joint += a;
                    if (pass == 0)
                        top[j] = a > top[j] ? a : top[j];
                    else
                        sum[j] += exp(a - top[j]);
                }
                if (pass == 0)
                    top[d] = joint > top[d] ? joint : top[d];
                else
                    sum[d] += exp(joint - top[d]);
            }
        double log_n = log((double)g->n), v = top[d] + log(sum[d]) - log_n;
        for (int j = 0; j < d; j++)
            v -= top[j] + log(sum[j]) - log_n;
        g->value[s] = v;
    }
    free(top);
}

elbo_status elbo_total_correlation(const elbo_codes *codes, const elbo_chen_opts *opts, double *tc)
{
    const char *what = "total correlation";
    if (!codes || !codes->mean || !codes->logvar || codes->dim < 1 || codes->n < 1 || !opts || !tc)
        return elbo_fail(ELBO_ERR_INVALID, "%s: expected codes with means and log-variances, options and a result",
                         what);
    if (codes->n > UINT32_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "%s: %zu points: at most %u", what, codes->n, UINT32_MAX);
    size_t n = codes->n, d = (size_t)codes->dim, nd = n * d, cap = opts->samples && opts->samples < n ? opts->samples : n;
    for (size_t i = 0; i < nd; i++) {
        if (!isfinite(codes->mean[i]) || !(fabs(codes->logvar[i]) <= 700))
            return elbo_fail(ELBO_ERR_INVALID, "%s: point %zu, code %zu: mean %g, log-variance %g: expected finite, "
                             "|log-variance| <= 700", what, i / d, i % d, codes->mean[i], codes->logvar[i]);
        if (opts->noise && !isfinite(opts->noise[i]))
            return elbo_fail(ELBO_ERR_NONFINITE, "%s: noise[%zu] is %g", what, i, opts->noise[i]);
    }
    double *z = metric_alloc(what, nd, sizeof *z), *ivar = metric_alloc(what, nd, sizeof *ivar),
           *cst = metric_alloc(what, nd, sizeof *cst), *value = metric_alloc(what, cap, sizeof *value);
    uint32_t *order = metric_alloc(what, n, sizeof *order);
    elbo_status st = z && ivar && cst && value && order ? ELBO_OK : ELBO_ERR_NOMEM;
    if (st == ELBO_OK) {
        /* the draws of elbo_mig_chen: noise row-major from the seed, then the order */
        elbo_rng rng;
        elbo_rng_seed(&rng, opts->seed);
        for (size_t i = 0; i < nd; i++) {
            double e = opts->noise ? opts->noise[i] : elbo_rng_normal(&rng);
            z[i] = codes->mean[i] + exp(0.5 * codes->logvar[i]) * e;
            ivar[i] = exp(-codes->logvar[i]);
            cst[i] = -0.5 * (LOG_2PI + codes->logvar[i]);
        }
        if (opts->order) {
            memcpy(order, opts->order, n * sizeof *order);
        } else {
            for (size_t i = 0; i < n; i++)
                order[i] = (uint32_t)i;
            if (cap < n)
                elbo_rng_shuffle(&rng, order, n);
        }
        tc_job job = {.n = n, .s = cap, .dim = (int)d, .mu = codes->mean, .ivar = ivar, .cst = cst, .z = z,
                      .order = order, .value = value};
        elbo_parallel_for((int)((cap + SAMPLE_BLOCK - 1) / SAMPLE_BLOCK), tc_task, &job);
        double sum = 0;
        for (size_t s = 0; s < cap; s++)
            sum += value[s];
        if (isnan(sum))
            st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory in a task", what);
        *tc = sum / (double)cap;
    }
    free(z), free(ivar), free(cst), free(value), free(order);
    return st;
}
