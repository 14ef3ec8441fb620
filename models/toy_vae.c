/* The toy VAE; see toy_vae.h. */
#include "models/toy_vae.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Arena for one step: activations are ~40 KB at batch 64; the arena grows
 * (once) if a caller uses bigger batches. */
#define TOY_TAPE_BYTES (256u * 1024u)
#define TOY_ARC_NOISE 0.05

static const double pi = 3.14159265358979323846;

/* Register a (in, out) weight and (1, out) bias, PyTorch-initialised. */
static elbo_status add_linear(elbo_params *p, const char *name, int in, int out, int *w, int *b)
{
    char wn[ELBO_PARAM_NAME_MAX], bn[ELBO_PARAM_NAME_MAX];
    snprintf(wn, sizeof wn, "%s.w", name);
    snprintf(bn, sizeof bn, "%s.b", name);
    *w = elbo_params_add(p, wn, in, out);
    *b = elbo_params_add(p, bn, 1, out);
    return (*w < 0 || *b < 0) ? ELBO_ERR_INVALID : ELBO_OK;
}

elbo_status elbo_toy_vae_create(elbo_toy_vae *m, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    elbo_params *p = &m->params;
    elbo_params_init(p);
    const int H = ELBO_TOY_HIDDEN;
    elbo_status st = ELBO_OK;
    if ((st = add_linear(p, "enc1", ELBO_TOY_X_DIM, H, &m->enc_w1, &m->enc_b1)) ||
        (st = add_linear(p, "enc2", H, H, &m->enc_w2, &m->enc_b2)) ||
        (st = add_linear(p, "enc_head", H, 2 * ELBO_TOY_Z_DIM, &m->enc_head_w, &m->enc_head_b)) ||
        (st = add_linear(p, "dec1", ELBO_TOY_Z_DIM, H, &m->dec_w1, &m->dec_b1)) ||
        (st = add_linear(p, "dec2", H, H, &m->dec_w2, &m->dec_b2)) ||
        (st = add_linear(p, "dec_out", H, ELBO_TOY_X_DIM, &m->dec_out_w, &m->dec_out_b)) ||
        (st = elbo_params_finalize(p)) || (st = elbo_tape_create(&m->tape, TOY_TAPE_BYTES))) {
        elbo_toy_vae_free(m);
        return st;
    }
    elbo_rng init;
    elbo_rng_seed(&init, seed);
    /* ids come in (weight, bias) pairs from add_linear; both use the weight's fan_in */
    for (int w = 0; w + 1 < p->count; w += 2) {
        elbo_params_init_uniform_fan_in(p, w, p->info[w].rows, &init);
        elbo_params_init_uniform_fan_in(p, w + 1, p->info[w].rows, &init);
    }
    m->noise = init;
    elbo_rng_jump(&m->noise);
    m->adam = ELBO_ADAM_DEFAULT;
    return ELBO_OK;
}

void elbo_toy_vae_free(elbo_toy_vae *m)
{
    elbo_tape_destroy(m->tape);
    elbo_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

static elbo_node *dense(elbo_toy_vae *m, elbo_node *x, int w, int b)
{
    elbo_tape *t = m->tape;
    return elbo_ad_linear(t, x, elbo_ad_param(t, &m->params, w), elbo_ad_param(t, &m->params, b));
}

elbo_node *elbo_toy_vae_loss(elbo_toy_vae *m, const float *x, int batch)
{
    elbo_tape *t = m->tape;
    const int Z = ELBO_TOY_Z_DIM;
    elbo_node *xin = elbo_ad_input(t, batch, ELBO_TOY_X_DIM, x);
    // encoder: x (B,2) -> h (B,32) -> h (B,32) -> [mu | logvar] (B,2Z)
    elbo_node *h = elbo_ad_tanh(t, dense(m, xin, m->enc_w1, m->enc_b1));
    h = elbo_ad_tanh(t, dense(m, h, m->enc_w2, m->enc_b2));
    elbo_node *head = dense(m, h, m->enc_head_w, m->enc_head_b);
    elbo_node *mu = elbo_ad_slice_cols(t, head, 0, Z);
    elbo_node *logvar = elbo_ad_slice_cols(t, head, Z, Z);
    elbo_node *z = elbo_ad_reparam(t, mu, logvar, &m->noise, NULL); // (B,Z)
    // decoder: z (B,Z) -> g (B,32) -> g (B,32) -> mean (B,2)
    elbo_node *g = elbo_ad_tanh(t, dense(m, z, m->dec_w1, m->dec_b1));
    g = elbo_ad_tanh(t, dense(m, g, m->dec_w2, m->dec_b2));
    elbo_node *mean = dense(m, g, m->dec_out_w, m->dec_out_b);
    // per-example -log p(x|z) + KL, each (B,1); their batch mean (1,1)
    float fixed_logvar = 2.0f * logf(ELBO_TOY_SIGMA);
    elbo_node *nll = elbo_ad_gauss_nll(t, mean, xin, NULL, fixed_logvar);
    elbo_node *kl = elbo_ad_kl_diag(t, mu, logvar);
    return elbo_ad_mean(t, elbo_ad_add(t, nll, kl));
}

elbo_status elbo_toy_vae_step(elbo_toy_vae *m, const float *x, int batch, float *loss)
{
    elbo_tape_reset(m->tape);
    elbo_params_clear_grad(&m->params);
    elbo_node *l = elbo_toy_vae_loss(m, x, batch);
    elbo_status st = elbo_backward(m->tape, l);
    if (st != ELBO_OK)
        return st;
    if (loss)
        *loss = l->x[0];
    elbo_adam_step(&m->params, &m->adam);
    return ELBO_OK;
}

void elbo_toy_arc_sample(elbo_rng *rng, float *x, int n)
{
    for (int i = 0; i < n; i++) {
        double a = pi * elbo_rng_uniform(rng);
        x[2 * i] = (float)(cos(a) + TOY_ARC_NOISE * elbo_rng_normal(rng));
        x[2 * i + 1] = (float)(sin(a) + TOY_ARC_NOISE * elbo_rng_normal(rng));
    }
}
