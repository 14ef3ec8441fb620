/* PIWAE(M,K) (Rainforth et al. 2018): the generative network and the
 * inference network follow different bounds of the same M K draws:
 *   decoder, likelihood and prior parameters (theta): the IWAE-(M K) bound
 *   encoder and posterior parameters (phi):           the MIWAE(M,K) bound
 * since a tighter bound helps theta but starves phi's gradient of signal.
 *
 * One graph and one backward carry both, by building each draw's log-weight
 * twice:
 *   A  log Pr(x|z') + log Pr(z') - [log q(z|x)]   z' = z as a constant,
 *      with the live theta: only theta gets A's gradient
 *   B  log Pr(x|z) + log Pr(z) - log q(z|x)       with theta frozen (a copy
 *      of the model whose parameter set has its own scratch gradients, so
 *      backward through it reaches z and phi, and its theta gradients are
 *      dropped): only phi gets B's gradient
 *   loss = -IWAE_{MK}(A) + M^-1 [-MIWAE_{M,K}(B)] - [its value]
 * ([.] a constant of the graph): its value is the negative IWAE-(M K) bound,
 * its gradient theta's IWAE and phi's MIWAE gradients. The decoder runs
 * twice per draw. M = variant (--iwae-m), K = iw_k (--iwae-train). */
#include "models/objectives/iw_internal.h"
#include "models/vae/vae_internal.h"

#include <string.h>

/* A copy of m in the tape's arena whose parameters are the same values with
 * a scratch gradient slab (every gradient marked stale, so backward
 * overwrites it and never reads it): theta frozen. */
static elbo_vae *frozen_copy(elbo_tape *t, elbo_vae *m)
{
    size_t model_floats = (sizeof(elbo_vae) + sizeof(float) - 1) / sizeof(float);
    size_t stale_floats = ((size_t)m->params.count + sizeof(float)) / sizeof(float);
    elbo_vae *c = (elbo_vae *)(void *)elbo_tape_alloc(t, model_floats);
    float *g = elbo_tape_alloc(t, m->params.n);
    bool *stale = (bool *)(void *)elbo_tape_alloc(t, stale_floats);
    if (!c || !g || !stale)
        return NULL;
    *c = *m;
    c->params.g = g;
    c->params.g_stale = stale;
    memset(stale, 1, (size_t)m->params.count * sizeof *stale);
    return c;
}

/* A constant (rows, cols) copy of a node's value (alive until the reset). */
static elbo_node *constant_of(elbo_tape *t, elbo_node *a)
{
    return a ? elbo_ad_input(t, a->rows, a->cols, a->x) : NULL;
}

static elbo_node *concat(elbo_tape *t, elbo_node *acc, elbo_node *c) { return acc ? elbo_ad_concat_cols(t, acc, c) : c; }

static elbo_node *loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    elbo_vae *m = f->m, *frozen = frozen_copy(t, m);
    const int K = iw_k_of(f->obj), M = iw_m_of(f->obj), S = M * K;
    const elbo_vae_prior_ops *prior = elbo_vae_prior(m->cfg.prior);
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(m->cfg.posterior);
    if (!frozen)
        return NULL;
    elbo_node *lwa = NULL, *lwb = NULL; /* (B,S) */
    for (int s = 0; s < S; s++) {
        elbo_node *z = elbo_vae_fwd_sample(f);
        elbo_node *log_q = post->log_q_sample(t, m, &f->q, z);
        elbo_node *zc = constant_of(t, z);
        /* A: theta's path (elbo_vae_fwd_nll also sums the reconstruction term for the statistics) */
        elbo_node *a = elbo_ad_sub(t, elbo_ad_sub(t, prior->log_prob(t, m, zc), elbo_vae_fwd_nll(f, zc)),
                                   constant_of(t, log_q));
        /* B: phi's path through the frozen decoder and prior */
        elbo_node *nll_b = vae_nll(frozen, t, vae_decoder(frozen, t, z, f->y), f->x);
        elbo_node *b = elbo_ad_sub(t, elbo_ad_sub(t, prior->log_prob(t, frozen, z), nll_b), log_q);
        if (elbo_tape_status(t) != ELBO_OK)
            return NULL;
        lwa = concat(t, lwa, a);
        lwb = concat(t, lwb, b);
    }
    elbo_node *la = iw_neg_group_bounds(t, lwa, 1, S);
    elbo_node *lb = elbo_ad_scale(t, iw_neg_group_bounds(t, lwb, M, K), 1.0f / (float)M);
    if (!la || !lb)
        return NULL;
    return elbo_ad_add(t, la, elbo_ad_sub(t, lb, constant_of(t, lb)));
}

static elbo_status check(const elbo_vae_objective *o) { return iw_check_mk("piwae", o); }

const elbo_vae_objective_ops elbo_objective_piwae = {
    .name = "piwae",
    .help = "PIWAE(M,K): decoder and prior on the IWAE-(M K) bound, encoder on MIWAE(M,K); M = --iwae-m, "
            "K = --iwae-train",
    .check = check,
    .loss = loss,
};
