/* InfoVAE / WAE-MMD (Zhao et al. 2019; Tolstikhin et al. 2018): the maximum
 * mean discrepancy between the batch's codes z (q(z) samples) and samples
 * p of the prior N(0, sigma² I), unbiased (the U-statistic of WAE's
 * algorithm 2):
 *     MMD² = Σ_{i!=j} k(p_i,p_j) / (M(M-1)) + Σ_{i!=j} k(z_i,z_j) / (B(B-1))
 *            - 2 Σ_{i,j} k(z_i,p_j) / (B M)
 * with k(x,y) = e^{-|x-y|²/C} (RBF) or C / (C + |x-y|²) (inverse
 * multiquadric), C = 2 D sigma² (WAE's choice). Squared distances are the
 * pairwise squared differences summed over D (no |x|² + |y|² - 2x·y
 * cancellation). At the end: the registry's entry, --objective mmd. */
#include "models/objectives/objectives_internal.h"
#include "models/vae/component.h"

#include <math.h>

elbo_status elbo_mmd_validate(const elbo_mmd_config *c)
{
    if (!c)
        return elbo_fail(ELBO_ERR_INVALID, "mmd: expected a configuration, got NULL");
    if (c->kernel != ELBO_MMD_RBF && c->kernel != ELBO_MMD_IMQ)
        return elbo_fail(ELBO_ERR_INVALID, "mmd: expected the kernel rbf or imq, got %d", (int)c->kernel);
    elbo_status s = obj_check_weight("mmd: lambda", c->lambda);
    if (s != ELBO_OK)
        return s;
    if (!isfinite(c->prior_var) || c->prior_var <= 0.0)
        return elbo_fail(ELBO_ERR_INVALID, "mmd: expected a finite prior variance > 0, got %g", c->prior_var);
    return ELBO_OK;
}

/* k(a_i, b_j) (A,Bn) */
static elbo_node *kernel(elbo_tape *t, elbo_node *a, elbo_node *b, elbo_mmd_kernel k, float C)
{
    int A = a->rows, Bn = b->rows, D = a->cols;
    elbo_node *d2 = elbo_ad_reshape(
        t, elbo_ad_sum_rows(t, elbo_ad_reshape(t, elbo_ad_sqdiff_pairs(t, a, b), 2, (const int[]){A * Bn, D})), 2,
        (const int[]){A, Bn});
    if (k == ELBO_MMD_RBF) // e^{-d²/C}
        return elbo_ad_exp(t, elbo_ad_scale(t, d2, -1.0f / C));
    // C / (C + d²) = C e^{-log(C + d²)}
    elbo_node *cpd = elbo_ad_add(t, d2, obj_const(t, 1, (const int[]){Bn}, C));
    return elbo_ad_scale(t, elbo_ad_exp(t, elbo_ad_scale(t, elbo_ad_log(t, cpd), -1.0f)), C);
}

/* Σ_{i != j} K[i,j] / (n(n-1)) of a square K (n,n): the diagonal masked out */
static elbo_node *off_diag_mean(elbo_tape *t, elbo_node *K)
{
    int n = K->rows;
    elbo_node *mask = obj_const(t, 2, (const int[]){n, n}, 1.0f);
    if (mask)
        for (int i = 0; i < n; i++)
            mask->x[(size_t)i * (size_t)n + (size_t)i] = 0.0f;
    return elbo_ad_scale(t, elbo_ad_sum(t, elbo_ad_mul(t, K, mask)), 1.0f / ((float)n * (float)(n - 1)));
}

elbo_status elbo_mmd_penalty(elbo_tape *t, elbo_node *z, const float *prior, int M, elbo_rng *rng,
                             const elbo_mmd_config *c, elbo_node **penalty, elbo_mmd_terms *terms)
{
    elbo_status s;
    if ((s = elbo_mmd_validate(c)) != ELBO_OK || (s = obj_check_batch(t, "mmd", z, NULL, NULL)) != ELBO_OK)
        return s;
    int B = z->rows, D = z->cols;
    if (!prior)
        M = B;
    if (!penalty || (!prior && !rng))
        return elbo_fail(ELBO_ERR_INVALID, "mmd: expected prior samples or an rng, and a result, got NULL");
    if (B < 2 || M < 2)
        return elbo_fail(ELBO_ERR_INVALID, "mmd: expected at least 2 codes and 2 prior samples, got %d and %d", B, M);
    float *p = elbo_tape_alloc(t, (size_t)M * (size_t)D);
    if (!p)
        return elbo_tape_status(t);
    if (prior) {
        for (size_t i = 0; i < (size_t)M * (size_t)D; i++)
            p[i] = prior[i];
    } else {
        elbo_rng_normal_f32(rng, p, (size_t)M * (size_t)D);
        for (size_t i = 0; i < (size_t)M * (size_t)D; i++)
            p[i] *= (float)sqrt(c->prior_var);
    }
    elbo_node *pn = elbo_ad_input(t, M, D, p);
    float C = (float)(2.0 * (double)D * c->prior_var);
    elbo_node *kpp = off_diag_mean(t, kernel(t, pn, pn, c->kernel, C));
    elbo_node *kzz = off_diag_mean(t, kernel(t, z, z, c->kernel, C));
    elbo_node *kzp = elbo_ad_scale(t, elbo_ad_sum(t, kernel(t, z, pn, c->kernel, C)), -2.0f / ((float)B * (float)M));
    elbo_node *mmd = elbo_ad_add(t, elbo_ad_add(t, kpp, kzz), kzp);
    elbo_node *pen = elbo_ad_scale(t, mmd, (float)c->lambda);
    if ((s = obj_built(t, "mmd", pen)) != ELBO_OK)
        return s;
    *penalty = pen;
    if (terms)
        terms->mmd = mmd->x[0];
    return ELBO_OK;
}

/* ---- the registry's entry: --objective mmd (the ELBO + B penalty) ---- */

static elbo_mmd_config mmd_config(const elbo_vae_objective *o)
{
    return (elbo_mmd_config){.kernel = (elbo_mmd_kernel)o->variant, .lambda = o->lambda, .prior_var = 1.0};
}

static elbo_node *mmd(elbo_tape *t, const elbo_vae_latents *l, const elbo_vae_objective *o)
{
    const elbo_objective_state *st = o->state;
    /* a stream per step: the same prior samples for the same (seed, step), resumed or not */
    elbo_rng r;
    elbo_rng_seed(&r, (st ? st->seed : 0) * 0x9E3779B97F4A7C15ull + (uint64_t)o->step + 0x4D4D44ull);
    elbo_mmd_config c = mmd_config(o);
    elbo_node *pen;
    if (elbo_mmd_penalty(t, l->z, NULL, 0, &r, &c, &pen, NULL) != ELBO_OK)
        return NULL;
    return elbo_ad_scale(t, pen, (float)l->B);
}

static elbo_status mmd_check(const elbo_vae_objective *o)
{
    elbo_status s = elbo_objective_check_weights(o);
    elbo_mmd_config c = mmd_config(o);
    return s != ELBO_OK ? s : elbo_mmd_validate(&c);
}

const elbo_vae_objective_ops elbo_objective_mmd = {
    .name = "mmd",
    .help = "InfoVAE / WAE: the ELBO (--beta 0: WAE) + --mmd-lambda MMD(q(z), N(0,I)), --mmd-kernel rbf|imq",
    .check = mmd_check,
    .loss = elbo_objective_elbo_loss,
    .penalty = mmd,
};
