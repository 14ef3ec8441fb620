/* Gradient bookkeeping and optimizers over the flat slabs: each is one pass
 * over n floats (the alignment padding is zero in g, so it stays zero in w). */
#include "autodiff/params.h"

#include <math.h>
#include <string.h>

#include "ops/ops.h"

void elbo_params_zero_grad(elbo_params *p)
{
    if (!p->g)
        return;
    memset(p->g, 0, p->n * sizeof(float));
    memset(p->g_stale, 0, (size_t)p->count * sizeof *p->g_stale);
}

void elbo_params_clear_grad(elbo_params *p)
{
    if (p->g)
        for (int id = 0; id < p->count; id++)
            p->g_stale[id] = true;
}

double elbo_params_grad_norm(const elbo_params *p)
{
    /* Double accumulation in slab order: the same bits for any thread count. */
    double ss = 0.0;
    for (size_t i = 0; i < p->n; i++)
        ss += (double)p->g[i] * (double)p->g[i];
    return sqrt(ss);
}

double elbo_params_clip_grad(elbo_params *p, double max_norm)
{
    double norm = elbo_params_grad_norm(p);
    /* A non-finite norm is left for elbo_params_check_finite to report:
     * scaling by 0 or NaN would hide which parameter went bad. */
    if (isfinite(norm) && norm > max_norm && max_norm > 0.0)
        elbo_scale(p->n, (float)(max_norm / norm), p->g, p->g);
    return norm;
}

elbo_status elbo_params_check_finite(const elbo_params *p)
{
    for (int id = 0; id < p->count; id++) {
        const elbo_param_info *pi = &p->info[id];
        const float *g = elbo_param_g(p, id);
        for (size_t i = 0, n = (size_t)pi->rows * (size_t)pi->cols; i < n; i++)
            if (!isfinite(g[i]))
                return elbo_fail(ELBO_ERR_NONFINITE, "gradient of '%s' (%d,%d) is %s at [%zu,%zu]",
                                 pi->name, pi->rows, pi->cols, isnan(g[i]) ? "NaN" : "Inf", i / (size_t)pi->cols,
                                 i % (size_t)pi->cols);
    }
    return ELBO_OK;
}

void elbo_adam_step(elbo_params *p, const elbo_adam_config *cfg)
{
    p->step++;
    /* Bias correction folded into the step size and epsilon, so the kernel
     * does one pass: m̂/(sqrt(v̂)+eps) = (m/c1) / (sqrt(v/c2) + eps)
     *   = (sqrt(c2)/c1) m / (sqrt(v) + eps sqrt(c2)), with c_i = 1 - beta_i^t. */
    double t = (double)p->step;
    double c1 = 1.0 - pow((double)cfg->beta1, t);
    double c2 = 1.0 - pow((double)cfg->beta2, t);
    float lr_t = (float)((double)cfg->lr * sqrt(c2) / c1);
    float eps_t = (float)((double)cfg->eps * sqrt(c2));
    if (cfg->weight_decay != 0.0f) /* L2 as PyTorch's Adam: g += wd w (g is rebuilt each step) */
        elbo_axpy(p->n, cfg->weight_decay, p->w, p->g);
    elbo_adam(p->n, lr_t, cfg->beta1, cfg->beta2, eps_t, p->g, p->m, p->v, p->w);
}

void elbo_sgd_step(elbo_params *p, float lr, float momentum)
{
    elbo_sgd_momentum(p->n, lr, momentum, p->g, p->m, p->w);
}
