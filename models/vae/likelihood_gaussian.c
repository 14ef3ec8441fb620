/* Pr(x|z) = Norm[x; f(z), sigma^2 I]: the decoder gives the mean, sigma^2 is
 * fixed (cfg.gauss_logvar) or one learned log sigma^2 per dimension. */
#include "models/vae/component.h"

#include <stdio.h>

/* -log Pr(x|z) = 1/2 sum_d ((x_d - f_d)^2 / sigma_d^2 + log sigma_d^2 + log 2pi) */
static elbo_node *nll_fixed(elbo_tape *t, elbo_vae *m, elbo_node *out, elbo_node *x)
{
    return elbo_ad_gauss_nll(t, out, x, NULL, m->cfg.gauss_logvar);
}

static elbo_node *nll_learned(elbo_tape *t, elbo_vae *m, elbo_node *out, elbo_node *x)
{
    return elbo_ad_gauss_nll(t, out, x, elbo_ad_param(t, &m->params, m->lik_logvar), 0.0f);
}

static elbo_node *mean(elbo_tape *t, elbo_vae *m, elbo_node *out)
{
    (void)t, (void)m;
    return out;
}

/* A (1, D) log sigma^2, starting at cfg.gauss_logvar. */
static elbo_status add_logvar(elbo_vae *m)
{
    int dims[2] = {1, m->cfg.x_dim};
    m->lik_logvar = m->lik_ids[0] = elbo_vae_add_param(m, "lik.logvar", 2, dims, 0, m->cfg.gauss_logvar);
    return m->lik_logvar < 0 ? elbo_fail(ELBO_ERR_INVALID, "vae create: could not register lik.logvar") : ELBO_OK;
}

const elbo_vae_likelihood_ops elbo_likelihood_gaussian = {
    .name = "gaussian",
    .help = "Gaussian mean, fixed sigma",
    .nll = nll_fixed,
    .mean = mean,
};

const elbo_vae_likelihood_ops elbo_likelihood_gaussian_learned = {
    .name = "gaussian-learned",
    .help = "Gaussian mean, a learned sigma per dimension",
    .add_params = add_logvar,
    .nll = nll_learned,
    .mean = mean,
};
