/* Pr(x|z) = prod_d Bern[x_d; sigmoid(l_d)] from decoder logits l; x in [0,1]
 * (the cross-entropy form also serves grey levels, as the PyTorch reference). */
#include "models/vae/component.h"

/* -log Pr(x|z) = sum_d softplus(l_d) - x_d l_d */
static elbo_node *nll(elbo_tape *t, elbo_vae *m, elbo_node *out, elbo_node *x)
{
    (void)m;
    return elbo_ad_bernoulli_nll(t, out, x);
}

static elbo_node *mean(elbo_tape *t, elbo_vae *m, elbo_node *out)
{
    (void)m;
    return elbo_ad_sigmoid(t, out);
}

const elbo_vae_likelihood_ops elbo_likelihood_bernoulli = {
    .name = "bernoulli",
    .help = "Bernoulli logits",
    .nll = nll,
    .mean = mean,
};
