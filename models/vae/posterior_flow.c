/* The parts the flow posteriors share (posterior_flow.h): the Gaussian
 * base, and the draw that carries its log density. */
#include "models/vae/posterior_flow.h"

#include <math.h>

#define LOG2PI 1.8378770664093453

int vae_flow_head_size(int Z) { return 2 * Z; }

elbo_status vae_flow_split(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q)
{
    const int Z = m->cfg.z_dim;
    q->mu = elbo_ad_slice_cols(t, head, 0, Z);
    q->logvar = elbo_ad_slice_cols(t, head, Z, Z);
    q->n_extra = 0;
    return elbo_tape_status(t);
}

elbo_node *vae_flow_base(elbo_tape *t, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps,
                         elbo_node **log_q)
{
    *log_q = NULL;
    elbo_node *z = elbo_ad_reparam(t, q->mu, q->logvar, rng, eps);
    if (!z)
        return NULL;
    const int B = z->rows, Z = z->cols;
    const float *e = z->args.reparam.eps;
    float *c = elbo_tape_alloc(t, (size_t)B);
    if (!c)
        return NULL;
    for (int b = 0; b < B; b++) {
        double a = 0.0;
        for (int j = 0; j < Z; j++)
            a += (double)e[(size_t)b * Z + j] * e[(size_t)b * Z + j];
        c[b] = (float)(-0.5 * (a + Z * LOG2PI));
    }
    *log_q = elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum_rows(t, q->logvar), -0.5f), elbo_ad_input(t, B, 1, c));
    return *log_q ? z : NULL;
}

elbo_node *vae_flow_pack(elbo_tape *t, elbo_node *z, elbo_node *log_q)
{
    elbo_node *both = elbo_ad_concat_cols(t, z, log_q);
    return both ? elbo_ad_slice_cols(t, both, 0, z->cols) : NULL;
}

elbo_node *vae_flow_log_q(elbo_node *z)
{
    if (!z || z->op != ELBO_OP_SLICE_COLS || z->args.slice.start != 0)
        return NULL;
    const elbo_node *both = z->in[0];
    if (both->op != ELBO_OP_CONCAT || both->cols != z->cols + 1 || both->in[1]->cols != 1 ||
        both->in[1]->rows != z->rows)
        return NULL;
    return both->in[1];
}

elbo_node *vae_flow_log_prob(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    (void)q, (void)z;
    return elbo_tape_fail(t, ELBO_ERR_INVALID, "the %s posterior has log q(z|x) only at its own draws (a flow "
                          "without a closed-form inverse)", elbo_vae_posterior(m->cfg.posterior)->name);
}

elbo_node *vae_flow_log_q_sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z)
{
    elbo_node *lq = vae_flow_log_q(z);
    return lq ? lq : vae_flow_log_prob(t, m, q, z);
}

elbo_status vae_flow_check_steps(const elbo_vae *m, const char *family)
{
    int K = m->cfg.flow_steps;
    if (K < 1 || K > ELBO_VAE_MAX_FLOW_STEPS)
        return elbo_fail(ELBO_ERR_INVALID, "%s posterior: expected 1..%d flow steps, got %d", family,
                         ELBO_VAE_MAX_FLOW_STEPS, K);
    return ELBO_OK;
}
