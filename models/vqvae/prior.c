/* The learned prior over VQ-VAE code grids: a MADE (Germain et al. 2015)
 * over the one-hot codes of P positions in raster order, one hidden layer.
 *
 *   h      = relu(onehot(c) (W1 * M1) + b1)          onehot (B,P*K), W1 (P*K,H)
 *   logits = h (W2 * M2) + b2, as (B,P,K)             W2 (H,P*K)
 *   -log Pr(c) = Σ_q categorical_nll(logits_q, c_q)
 *
 * Degrees: input and output units of position q have degree q+1, hidden
 * unit h has 1 + h mod (P-1); M1 keeps input -> hidden where deg(h) >= q+1,
 * M2 keeps hidden -> output where q+1 > deg(h). So logits_q depends on
 * c_<q only, and the product of the P conditionals is a distribution over
 * the K^P grids (tests/vqvae checks it sums to 1). The masks are constant
 * inputs multiplied into the weights on the tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/vqvae/vq_internal.h"
#include "models/vqvae/vqvae.h"

elbo_status elbo_vq_prior_create(elbo_vq_prior *pr, int P, int K, int H, elbo_rng *rng)
{
    memset(pr, 0, sizeof *pr);
    if (P < 1 || K < 2 || K > ELBO_VQ_MAX_CODES || H < 1 || H > ELBO_VQ_PRIOR_MAX_HIDDEN ||
        (size_t)P * (size_t)K > (1u << 24))
        return elbo_fail(ELBO_ERR_INVALID, "vqvae prior: expected P >= 1 positions, K in [2,%d] codes and H in "
                         "[1,%d] hidden units, got P %d, K %d, H %d", ELBO_VQ_MAX_CODES, ELBO_VQ_PRIOR_MAX_HIDDEN, P,
                         K, H);
    int PK = P * K;
    elbo_params *p = &pr->p;
    elbo_params_init(p);
    pr->w1 = elbo_params_add(p, "made.w1", PK, H);
    pr->b1 = elbo_params_add(p, "made.b1", 1, H);
    pr->w2 = elbo_params_add(p, "made.w2", H, PK);
    pr->b2 = elbo_params_add(p, "made.b2", 1, PK);
    elbo_status st = elbo_params_finalize(p);
    pr->mask1 = malloc((size_t)PK * H * sizeof *pr->mask1);
    pr->mask2 = malloc((size_t)PK * H * sizeof *pr->mask2);
    if (st != ELBO_OK || !pr->mask1 || !pr->mask2) {
        elbo_vq_prior_free(pr);
        return st != ELBO_OK ? st : elbo_fail(ELBO_ERR_NOMEM, "vqvae prior: out of memory for P %d, K %d, H %d", P, K, H);
    }
    pr->P = P, pr->K = K, pr->H = H;
    for (int h = 0; h < H; h++) {
        int deg = P > 1 ? 1 + h % (P - 1) : 0; /* P = 1: no hidden unit may feed the one output */
        for (int i = 0; i < PK; i++) {
            int q = i / K + 1;
            pr->mask1[(size_t)i * H + h] = deg >= q ? 1.0f : 0.0f;
            pr->mask2[(size_t)h * PK + i] = deg >= 1 && q > deg ? 1.0f : 0.0f;
        }
    }
    elbo_params_init_uniform_fan_in(p, pr->w1, PK, rng);
    elbo_params_init_uniform_fan_in(p, pr->b1, PK, rng);
    elbo_params_init_uniform_fan_in(p, pr->w2, H, rng);
    elbo_params_init_uniform_fan_in(p, pr->b2, H, rng);
    return ELBO_OK;
}

void elbo_vq_prior_free(elbo_vq_prior *pr)
{
    elbo_params_free(&pr->p);
    free(pr->mask1), free(pr->mask2);
    memset(pr, 0, sizeof *pr);
}

/* logits (B,P,K) of the conditionals given the grids codes (B,P) */
static elbo_node *logits(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int B)
{
    int P = pr->P, K = pr->K, H = pr->H, PK = P * K;
    float *oh = elbo_tape_alloc(t, (size_t)B * PK);
    if (!oh)
        return NULL;
    memset(oh, 0, (size_t)B * PK * sizeof *oh);
    for (size_t b = 0; b < (size_t)B; b++)
        for (int q = 0; q < P; q++) {
            int32_t c = codes[b * P + q];
            if (c < 0 || c >= K) {
                elbo_fail(ELBO_ERR_INVALID, "vqvae prior: code %d at grid %zu, position %d is outside [0,%d)", (int)c,
                          b, q, K);
                return NULL;
            }
            oh[b * PK + (size_t)q * K + c] = 1.0f;
        }
    elbo_node *w1 = elbo_ad_mul(t, elbo_ad_param(t, &pr->p, pr->w1), elbo_ad_input(t, PK, H, pr->mask1));
    elbo_node *w2 = elbo_ad_mul(t, elbo_ad_param(t, &pr->p, pr->w2), elbo_ad_input(t, H, PK, pr->mask2));
    elbo_node *h = elbo_ad_relu(t, elbo_ad_linear(t, elbo_ad_input(t, B, PK, oh), w1, elbo_ad_param(t, &pr->p, pr->b1)));
    elbo_node *l = elbo_ad_linear(t, h, w2, elbo_ad_param(t, &pr->p, pr->b2));
    return elbo_ad_reshape(t, l, 3, (const int[]){B, P, K});
}

elbo_node *elbo_vq_prior_nll(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int B)
{
    elbo_node *l = logits(pr, t, codes, B);
    return l ? elbo_ad_categorical_nll(t, l, codes) : NULL;
}

static elbo_status tape_error(elbo_tape *t)
{
    elbo_status st = elbo_tape_status(t);
    return st != ELBO_OK ? st : ELBO_ERR_INVALID; /* a code out of range, recorded by elbo_fail */
}

elbo_status elbo_vq_prior_step(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int B,
                               const elbo_adam_config *adam, double *nll)
{
    return elbo_vq_prior_step_shard(pr, t, codes, B, NULL, adam, nll);
}

elbo_status elbo_vq_prior_step_shard(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, int rows,
                                     const elbo_vq_shard *sh, const elbo_adam_config *adam, double *nll)
{
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, true);
    elbo_params_clear_grad(&pr->p);
    const int batch = sh ? sh->batch : rows;
    elbo_node *n = elbo_vq_prior_nll(pr, t, codes, rows);
    elbo_node *loss = elbo_ad_scale(t, elbo_ad_sum(t, n), 1.0f / (float)batch);
    if (!loss)
        return tape_error(t);
    if (!isfinite(loss->x[0]))
        return elbo_vq_nonfinite(&pr->p, sh, "vqvae prior");
    elbo_status st = elbo_vq_shard_backward(t, loss, &pr->p, sh);
    if (st == ELBO_OK)
        st = elbo_adam_step_checked(&pr->p, adam);
    if (st == ELBO_OK && nll)
        *nll = (double)loss->x[0] * batch;
    return st;
}

elbo_status elbo_vq_prior_eval(elbo_vq_prior *pr, elbo_tape *t, const int32_t *codes, size_t n, int B, double *nll)
{
    double s = 0;
    bool g = elbo_tape_grad_enabled(t);
    elbo_status st = ELBO_OK;
    for (size_t i0 = 0; i0 < n; i0 += (size_t)B) {
        int b = (int)(n - i0 < (size_t)B ? n - i0 : (size_t)B);
        elbo_tape_reset(t);
        elbo_tape_set_grad(t, false);
        elbo_node *y = elbo_vq_prior_nll(pr, t, codes + i0 * (size_t)pr->P, b);
        if (!y) {
            st = tape_error(t);
            break;
        }
        for (int r = 0; r < b; r++)
            s += y->x[r];
    }
    elbo_tape_set_grad(t, g);
    *nll = s;
    return st;
}

elbo_status elbo_vq_prior_sample(elbo_vq_prior *pr, elbo_tape *t, int n, elbo_rng *rng, int32_t *codes)
{
    int P = pr->P, K = pr->K;
    bool g = elbo_tape_grad_enabled(t);
    elbo_status st = ELBO_OK;
    memset(codes, 0, (size_t)n * P * sizeof *codes);
    double *w = malloc((size_t)K * sizeof *w);
    if (!w)
        return elbo_fail(ELBO_ERR_NOMEM, "vqvae prior: out of memory");
    for (int q = 0; q < P && st == ELBO_OK; q++) { /* position q given the codes drawn before it */
        elbo_tape_reset(t);
        elbo_tape_set_grad(t, false);
        elbo_node *l = logits(pr, t, codes, n);
        if (!l) {
            st = tape_error(t);
            break;
        }
        for (size_t b = 0; b < (size_t)n; b++) {
            const float *lq = l->x + (b * P + q) * (size_t)K;
            float mxf = lq[0]; /* a plain compare: aarch64 gcc 12 -O3 fails on a vectorised fmax reduction here */
            for (int k = 1; k < K; k++)
                if (lq[k] > mxf)
                    mxf = lq[k];
            double mx = mxf, tot = 0;
            for (int k = 0; k < K; k++)
                tot += w[k] = exp(lq[k] - mx);
            double u = elbo_rng_uniform(rng) * tot, c = 0;
            int pick = K - 1;
            for (int k = 0; k < K; k++)
                if ((c += w[k]) > u) {
                    pick = k;
                    break;
                }
            codes[b * P + q] = pick;
        }
    }
    free(w);
    elbo_tape_set_grad(t, g);
    return st;
}
