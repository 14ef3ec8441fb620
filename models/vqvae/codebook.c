/* The VQ-VAE codebook: its exponential-moving-average update (van den Oord
 * et al. 2017, appendix A.1; Laplace-smoothed counts as in Sonnet's
 * VectorQuantizerEMA) and the usage
 * statistics (perplexity, dead codes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/vqvae/vqvae.h"

elbo_status elbo_vq_codebook_alloc(elbo_vq_codebook *cb, int K, int D, float decay, float eps)
{
    memset(cb, 0, sizeof *cb);
    if (K < 2 || K > ELBO_VQ_MAX_CODES || D < 1 || D > ELBO_VQ_MAX_DIM)
        return elbo_fail(ELBO_ERR_INVALID, "vqvae codebook: expected K in [2,%d] and D in [1,%d], got K %d, D %d",
                         ELBO_VQ_MAX_CODES, ELBO_VQ_MAX_DIM, K, D);
    if (!(decay >= 0.0f && decay < 1.0f) || !(eps > 0.0f && eps < 1.0f))
        return elbo_fail(ELBO_ERR_INVALID, "vqvae codebook: expected decay in [0,1) and eps in (0,1), got %g and %g",
                         (double)decay, (double)eps);
    size_t kd = (size_t)K * (size_t)D;
    cb->e = calloc(kd, sizeof *cb->e);
    cb->count = calloc((size_t)K, sizeof *cb->count);
    cb->sum = calloc(kd, sizeof *cb->sum);
    if (!cb->e || !cb->count || !cb->sum) {
        elbo_vq_codebook_free(cb);
        return elbo_fail(ELBO_ERR_NOMEM, "vqvae codebook: out of memory for K %d, D %d", K, D);
    }
    cb->K = K, cb->D = D, cb->decay = decay, cb->eps = eps;
    return ELBO_OK;
}

void elbo_vq_codebook_free(elbo_vq_codebook *cb)
{
    free(cb->e), free(cb->count), free(cb->sum);
    memset(cb, 0, sizeof *cb);
}

/* Code k at vector v: N_k = 1, m_k = e_k = v (a fixed point of the average
 * while the code is unused, so an unused code stays where it was put). */
static void set_code(elbo_vq_codebook *cb, int k, const float *v)
{
    size_t D = (size_t)cb->D;
    cb->count[k] = 1.0;
    for (size_t d = 0; d < D; d++)
        cb->e[k * D + d] = v[d], cb->sum[k * D + d] = v[d];
}

void elbo_vq_codebook_set(elbo_vq_codebook *cb, const float *init)
{
    for (int k = 0; k < cb->K; k++)
        set_code(cb, k, init + (size_t)k * (size_t)cb->D);
}

elbo_status elbo_vq_batch_stats(const elbo_vq_codebook *cb, const float *z, const int32_t *codes, size_t M, double *n)
{
    int K = cb->K;
    size_t D = (size_t)cb->D;
    double *s = n + K;
    memset(n, 0, (size_t)K * (1 + D) * sizeof *n);
    for (size_t i = 0; i < M; i++) { // z (M,D), codes (M) -> n (K), s (K,D), vectors in order
        int32_t k = codes[i];
        if (k < 0 || k >= K)
            return elbo_fail(ELBO_ERR_INVALID, "vqvae codebook: code %d of vector %zu is outside [0,%d)", (int)k, i,
                             K);
        n[k] += 1.0;
        for (size_t d = 0; d < D; d++)
            s[(size_t)k * D + d] += z[i * D + d];
    }
    return ELBO_OK;
}

elbo_status elbo_vq_ema_update(elbo_vq_codebook *cb, const float *z, const int32_t *codes, size_t M)
{
    double *n = malloc((size_t)cb->K * (1 + (size_t)cb->D) * sizeof *n);
    if (!n)
        return elbo_fail(ELBO_ERR_NOMEM, "vqvae codebook: out of memory for the EMA of K %d", cb->K);
    elbo_status st = elbo_vq_batch_stats(cb, z, codes, M, n);
    if (st == ELBO_OK)
        elbo_vq_ema_apply(cb, n);
    free(n);
    return st;
}

/* N_k <- g N_k + (1-g) n_k, m_k <- g m_k + (1-g) s_k; Ñ_k = (N_k + eps) / (n + K eps) n; e_k = m_k / Ñ_k */
void elbo_vq_ema_apply(elbo_vq_codebook *cb, const double *n)
{
    int K = cb->K;
    size_t D = (size_t)cb->D;
    const double *s = n + K;
    double g = cb->decay, total = 0;
    for (int k = 0; k < K; k++) {
        cb->count[k] = g * cb->count[k] + (1.0 - g) * n[k];
        for (size_t d = 0; d < D; d++)
            cb->sum[k * D + d] = g * cb->sum[k * D + d] + (1.0 - g) * s[k * D + d];
        total += cb->count[k];
    }
    for (int k = 0; k < K; k++) {
        double nk = (cb->count[k] + cb->eps) / (total + K * (double)cb->eps) * total;
        for (size_t d = 0; d < D; d++)
            cb->e[k * D + d] = (float)(cb->sum[k * D + d] / nk);
    }
}

double elbo_vq_perplexity(const uint64_t *counts, int K)
{
    double total = 0, h = 0;
    for (int k = 0; k < K; k++)
        total += (double)counts[k];
    if (total <= 0)
        return 0;
    for (int k = 0; k < K; k++)
        if (counts[k]) {
            double p = (double)counts[k] / total;
            h -= p * log(p);
        }
    return exp(h);
}

int elbo_vq_dead_codes(const uint64_t *counts, int K)
{
    int dead = 0;
    for (int k = 0; k < K; k++)
        dead += counts[k] == 0;
    return dead;
}
