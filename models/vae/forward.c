/* The forward pass of a batch: elbo_vae_loss runs the encoder, splits the
 * posterior's parameters and takes the closed-form KL, then hands the pass
 * to the objective, which draws z, decodes and combines the terms through
 * the elbo_vae_fwd_* functions here. The IWAE log-weight is here, once. */
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdio.h>

elbo_node *vae_constant(elbo_tape *t, int rows, int cols, float v)
{
    float *d = elbo_tape_alloc(t, (size_t)rows * (size_t)cols);
    if (!d)
        return NULL;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
        d[i] = v;
    return elbo_ad_input(t, rows, cols, d);
}

double vae_sum_col(const elbo_node *n)
{
    double s = 0.0;
    for (int r = 0; r < n->rows; r++)
        s += n->x[r];
    return s;
}

/* Name the first non-finite value of x (B, D) in buf, or leave it empty. */
static void find_nonfinite(const float *x, int B, int D, const char *what, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!x)
        return;
    for (size_t i = 0; i < (size_t)B * (size_t)D; i++)
        if (!isfinite(x[i])) {
            snprintf(buf, cap, " (%s example %zu, feature %zu is %g)", what, i / (size_t)D, i % (size_t)D,
                     (double)x[i]);
            return;
        }
}

elbo_status vae_check_finite(const char *term, double value, const float *x, const float *y, int B, int D, int C)
{
    if (isfinite(value))
        return ELBO_OK;
    char where[128];
    find_nonfinite(x, B, D, "input", where, sizeof where);
    if (!where[0])
        find_nonfinite(y, B, C, "label", where, sizeof where);
    return elbo_fail(ELBO_ERR_NONFINITE, "vae: %s is %g%s", term, value, where);
}

elbo_status vae_encode_q(elbo_vae *m, elbo_tape *t, elbo_node *x, elbo_node *y, elbo_vae_qparams *q)
{
    memset(q, 0, sizeof *q);
    elbo_node *head = vae_encoder_head(m, t, x, y);
    if (!head)
        return elbo_tape_status(t);
    return elbo_vae_posterior(m->cfg.posterior)->split(t, m, head, q);
}

elbo_node *vae_nll(elbo_vae *m, elbo_tape *t, elbo_node *out, elbo_node *x)
{
    return elbo_vae_likelihood(m->cfg.lik)->nll(t, m, out, x);
}

elbo_node *elbo_vae_fwd_sample(elbo_vae_fwd *f)
{
    const size_t n = (size_t)f->B * (size_t)f->m->cfg.z_dim;
    const float *eps = f->eps ? f->eps + (size_t)f->draws * n : NULL;
    elbo_node *z = elbo_vae_posterior(f->m->cfg.posterior)->sample(f->t, f->m, &f->q, f->rng, eps);
    if (f->draws++ == 0)
        f->z0 = z;
    return z;
}

elbo_node *elbo_vae_fwd_nll(elbo_vae_fwd *f, elbo_node *z)
{
    elbo_node *nll = vae_nll(f->m, f->t, vae_decoder(f->m, f->t, z, f->y), f->x);
    if (nll) {
        f->rec_sum += vae_sum_col(nll);
        f->rec_count++;
    }
    return nll;
}

/* log w = log Pr(x|z) + log Pr(z) - log q(z|x)   (17.28) */
elbo_node *elbo_vae_log_weight(elbo_tape *t, elbo_vae *m, const elbo_vae_qparams *q, elbo_node *z, elbo_node *nll)
{
    elbo_node *log_pz = elbo_vae_prior(m->cfg.prior)->log_prob(t, m, z);
    elbo_node *log_q = elbo_vae_posterior(m->cfg.posterior)->log_q_sample(t, m, q, z);
    return elbo_ad_sub(t, elbo_ad_sub(t, log_pz, nll), log_q);
}

/* KL ~ log q(z|x) - log Pr(z) at a draw z of q */
elbo_node *elbo_vae_fwd_kl_mc(elbo_vae_fwd *f, elbo_node *z)
{
    elbo_node *log_q = elbo_vae_posterior(f->m->cfg.posterior)->log_q_sample(f->t, f->m, &f->q, z);
    elbo_node *k = elbo_ad_sub(f->t, log_q, elbo_vae_prior(f->m->cfg.prior)->log_prob(f->t, f->m, z));
    if (k) {
        f->kl_mc_sum += vae_sum_col(k);
        f->kl_mc_count++;
    }
    return k;
}

elbo_vae_latents elbo_vae_fwd_latents(const elbo_vae_fwd *f)
{
    return (elbo_vae_latents){.mu = f->q.mu, .logvar = f->q.logvar, .z = f->z0, .B = f->B,
                              .Z = f->m->cfg.z_dim, .q = &f->q};
}

elbo_status elbo_vae_loss(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                          const elbo_vae_objective *obj, elbo_rng *rng, const float *eps, elbo_node **loss,
                          elbo_vae_batch_stats *stats)
{
    *loss = NULL;
    const elbo_vae_config *c = &m->cfg;
    if (!x || B < 1 || (c->n_classes > 0 && !y) || (!eps && !rng))
        return elbo_fail(ELBO_ERR_INVALID, "vae loss: expected x, B >= 1, labels for a conditional model and "
                         "eps or rng; got B = %d", B);
    const elbo_vae_objective_ops *ops = elbo_vae_objective_of(obj);
    elbo_status st = ops->check ? ops->check(obj) : ELBO_OK;
    if (st != ELBO_OK)
        return st;

    elbo_vae_fwd f = {.m = m, .t = t, .obj = obj, .B = B, .rng = rng, .eps = eps};
    f.x = elbo_ad_input(t, B, c->x_dim, x);
    f.y = c->n_classes > 0 ? elbo_ad_input(t, B, c->n_classes, y) : NULL;
    if ((st = vae_encode_q(m, t, f.x, f.y, &f.q)) != ELBO_OK)
        return st;
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(c->posterior);
    f.kl = post->kl ? post->kl(t, m, &f.q) : NULL; /* (B,1), closed form (17.24) */
    if (obj->free_bits > 0.0f && !f.kl && ops->loss == elbo_objective_elbo_loss) /* said here, before any draw */
        return elbo_fail(ELBO_ERR_INVALID, "free bits need the KL per latent dimension in closed form: the %s "
                         "posterior with the %s prior has none", post->name, elbo_vae_prior(c->prior)->name);
    elbo_node *L = ops->loss(&f);
    if ((st = elbo_tape_status(t)) != ELBO_OK)
        return st;
    if (!L)
        return elbo_fail(ELBO_ERR_INVALID, "vae loss: objective %s gave no loss", ops->name);

    double rec_sum = f.rec_count ? f.rec_sum / f.rec_count : 0.0;
    double kl_sum = f.kl ? vae_sum_col(f.kl) : f.kl_mc_count ? f.kl_mc_sum / f.kl_mc_count : NAN;
    if (!f.kl && !f.kl_mc_count) { /* an objective that needed neither: estimate it from the first draw */
        elbo_node *k = f.z0 ? elbo_vae_fwd_kl_mc(&f, f.z0) : NULL;
        if ((st = elbo_tape_status(t)) != ELBO_OK)
            return st;
        kl_sum = k ? f.kl_mc_sum : 0.0;
    }
    if ((st = vae_check_finite("loss: reconstruction term", rec_sum, x, y, B, c->x_dim, c->n_classes)) != ELBO_OK ||
        (st = vae_check_finite("loss: KL term", kl_sum, x, y, B, c->x_dim, c->n_classes)) != ELBO_OK ||
        (st = vae_check_finite("loss", L->x[0], x, y, B, c->x_dim, c->n_classes)) != ELBO_OK)
        return st;
    if (stats) {
        stats->rec = rec_sum;
        stats->kl = kl_sum;
        stats->neg_elbo = rec_sum + kl_sum;
        stats->loss = L->x[0];
        stats->penalty = f.penalty;
    }
    *loss = L;
    return ELBO_OK;
}
