/* Private to models/vae/: what the flow posteriors (posterior_planar.c,
 * posterior_iaf.c) share. A flow's draw carries its own log density: the
 * node returned as z is the first Z columns of [z_K | log q(z_K|x)], so
 * log_q_sample finds log q beside it (the exact value the flow computed,
 * log q(z_0) - sum_k log |det dz_k/dz_{k-1}|), and the gradient of each
 * half flows back through its own graph. */
#ifndef ELBO_VAE_POSTERIOR_FLOW_H
#define ELBO_VAE_POSTERIOR_FLOW_H

#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

/* The Gaussian base: head (mu | logvar), 2Z outputs, as the diagonal family. */
VAE_INTERNAL int vae_flow_head_size(int Z);
VAE_INTERNAL elbo_status vae_flow_split(elbo_tape *t, elbo_vae *m, elbo_node *head, elbo_vae_qparams *q);
/* z_0 = mu + sigma eps and its log q (B,1) = -1/2 sum_j (eps_j^2 + lv_j + log 2pi). */
VAE_INTERNAL elbo_node *vae_flow_base(elbo_tape *t, const elbo_vae_qparams *q, elbo_rng *rng, const float *eps,
                                      elbo_node **log_q);
/* z (B,Z) as a view of [z | log_q]: what sample returns. */
VAE_INTERNAL elbo_node *vae_flow_pack(elbo_tape *t, elbo_node *z, elbo_node *log_q);
/* The log q packed beside a z from vae_flow_pack, or NULL. */
VAE_INTERNAL elbo_node *vae_flow_log_q(elbo_node *z);
/* log_q_sample of a flow: the packed value; any other z is an error on the tape. */
VAE_INTERNAL elbo_node *vae_flow_log_q_sample(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z);
/* Flows have no log q at an arbitrary z here (planar flows have no closed-form inverse). */
VAE_INTERNAL elbo_node *vae_flow_log_prob(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z);
/* cfg.flow_steps in 1..ELBO_VAE_MAX_FLOW_STEPS, else ELBO_ERR_INVALID naming the family. */
VAE_INTERNAL elbo_status vae_flow_check_steps(const elbo_vae *m, const char *family);

#endif
