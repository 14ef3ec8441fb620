/* The VQ-VAE model: its two convolutional networks, the loss with the
 * straight-through estimator and the commitment term, the training step
 * with the codebook's EMA update, and evaluation (vqvae.h has the
 * architecture and the formulas). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vqvae/vq_internal.h"
#include "models/vqvae/vqvae.h"

static elbo_status check_config(const elbo_vqvae_config *c)
{
    if (c->rows < 4 || c->cols < 4 || c->rows % 4 || c->cols % 4 || c->rows > 1024 || c->cols > 1024)
        return elbo_fail(ELBO_ERR_INVALID, "vqvae: expected an image of sides that are multiples of 4 in [4,1024], "
                         "got %dx%d", c->rows, c->cols);
    if (c->codes < 2 || c->codes > ELBO_VQ_MAX_CODES)
        return elbo_fail(ELBO_ERR_INVALID, "vqvae: expected codes (K) in [2,%d], got %d", ELBO_VQ_MAX_CODES, c->codes);
    if (c->dim < 1 || c->dim > ELBO_VQ_MAX_DIM)
        return elbo_fail(ELBO_ERR_INVALID, "vqvae: expected dim (D) in [1,%d], got %d", ELBO_VQ_MAX_DIM, c->dim);
    if (c->channels < 1 || c->channels > ELBO_VQ_MAX_CHANNELS)
        return elbo_fail(ELBO_ERR_INVALID, "vqvae: expected channels in [1,%d], got %d", ELBO_VQ_MAX_CHANNELS,
                         c->channels);
    if (!(c->beta >= 0.0f && c->beta <= 100.0f))
        return elbo_fail(ELBO_ERR_INVALID, "vqvae: expected beta in [0,100], got %g", (double)c->beta);
    return ELBO_OK;
}

/* A convolution weight (k,k,a,b) and its bias (cout), PyTorch's default init. */
static void add_conv(elbo_params *p, const char *name, int k, int a, int b, int cout, int *w, int *bias)
{
    char nm[32];
    snprintf(nm, sizeof nm, "%s.w", name);
    *w = elbo_params_add_nd(p, nm, 4, (const int[]){k, k, a, b});
    snprintf(nm, sizeof nm, "%s.b", name);
    *bias = elbo_params_add_nd(p, nm, 1, (const int[]){cout});
}

elbo_status elbo_vqvae_create(elbo_vqvae *m, const elbo_vqvae_config *cfg, elbo_rng *rng)
{
    memset(m, 0, sizeof *m);
    elbo_status st = check_config(cfg);
    if (st != ELBO_OK)
        return st;
    m->cfg = *cfg;
    m->gh = cfg->rows / 4, m->gw = cfg->cols / 4;
    int C = cfg->channels, D = cfg->dim;
    elbo_params *p = &m->p;
    elbo_params_init(p);
    /* encoder: conv weights (k,k,Cin,Cout); decoder's transposed ones (k,k,Cout,Cin) */
    add_conv(p, "enc0", 4, 1, C, C, &m->enc_w[0], &m->enc_b[0]);
    add_conv(p, "enc1", 4, C, C, C, &m->enc_w[1], &m->enc_b[1]);
    add_conv(p, "enc2", 1, C, D, D, &m->enc_w[2], &m->enc_b[2]);
    add_conv(p, "dec0", 3, D, C, C, &m->dec_w[0], &m->dec_b[0]);
    add_conv(p, "dec1", 4, C, C, C, &m->dec_w[1], &m->dec_b[1]);
    add_conv(p, "dec2", 4, 1, C, 1, &m->dec_w[2], &m->dec_b[2]);
    if ((st = elbo_params_finalize(p)) != ELBO_OK) {
        elbo_params_free(p);
        return st;
    }
    /* fan-in as PyTorch: k*k*Cin for a convolution, k*k*Cout of its
     * weight's dimension 1 for a transposed one (the C or 1 it produces) */
    const int fan[6] = {16 * 1, 16 * C, C, 9 * D, 16 * C, 16 * 1};
    const int *ws[6] = {&m->enc_w[0], &m->enc_w[1], &m->enc_w[2], &m->dec_w[0], &m->dec_w[1], &m->dec_w[2]};
    const int *bs[6] = {&m->enc_b[0], &m->enc_b[1], &m->enc_b[2], &m->dec_b[0], &m->dec_b[1], &m->dec_b[2]};
    for (int i = 0; i < 6; i++) {
        elbo_params_init_uniform_fan_in(p, *ws[i], fan[i], rng);
        elbo_params_init_uniform_fan_in(p, *bs[i], fan[i], rng);
    }
    if ((st = elbo_vq_codebook_alloc(&m->cb, cfg->codes, D, cfg->decay, cfg->eps)) != ELBO_OK) {
        elbo_params_free(p);
        return st;
    }
    return ELBO_OK;
}

void elbo_vqvae_free(elbo_vqvae *m)
{
    elbo_params_free(&m->p);
    elbo_vq_codebook_free(&m->cb);
}

static elbo_node *conv(elbo_vqvae *m, elbo_tape *t, elbo_node *x, int w, int b, int stride, int pad)
{
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(stride, pad);
    return elbo_ad_conv2d(t, x, elbo_ad_param(t, &m->p, w), elbo_ad_param(t, &m->p, b), &o);
}

static elbo_node *conv_t(elbo_vqvae *m, elbo_tape *t, elbo_node *x, int w, int b)
{
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(2, 1); // (h-1) 2 - 2 + 4 = 2h
    return elbo_ad_conv_transpose2d(t, x, elbo_ad_param(t, &m->p, w), elbo_ad_param(t, &m->p, b), &o);
}

elbo_node *elbo_vqvae_encoder(elbo_vqvae *m, elbo_tape *t, elbo_node *x)
{
    elbo_node *h = elbo_ad_relu(t, conv(m, t, x, m->enc_w[0], m->enc_b[0], 2, 1)); // (B,H/2,W/2,C)
    h = elbo_ad_relu(t, conv(m, t, h, m->enc_w[1], m->enc_b[1], 2, 1));            // (B,H/4,W/4,C)
    elbo_node *z = conv(m, t, h, m->enc_w[2], m->enc_b[2], 1, 0);                 // (B,H/4,W/4,D)
    if (!m->cfg.normalize || !z)
        return z;
    /* each vector to mean 0, variance 1: its scale cannot drift away from
     * codes placed earlier, which would leave them unused for good */
    elbo_node *v = elbo_ad_reshape(t, z, 2, (const int[]){-1, m->cfg.dim});
    return elbo_ad_reshape(t, elbo_ad_layer_norm(t, v, NULL, NULL, 1e-5f), 4, z->shape.d);
}

elbo_node *elbo_vqvae_decoder(elbo_vqvae *m, elbo_tape *t, elbo_node *z)
{
    elbo_node *h = elbo_ad_relu(t, conv(m, t, z, m->dec_w[0], m->dec_b[0], 1, 1)); // (B,H/4,W/4,C)
    h = elbo_ad_relu(t, conv_t(m, t, h, m->dec_w[1], m->dec_b[1]));                // (B,H/2,W/2,C)
    return conv_t(m, t, h, m->dec_w[2], m->dec_b[2]);                              // (B,H,W,1)
}

/* the vectors of D floats in n */
static size_t rows_of(const elbo_node *n, int D) { return (size_t)n->rows * (size_t)n->cols / (size_t)D; }

static elbo_node *image_input(elbo_vqvae *m, elbo_tape *t, const float *x, int B)
{
    return elbo_ad_input_nd(t, 4, (const int[]){B, m->cfg.rows, m->cfg.cols, 1}, x);
}

static elbo_node *codebook_input(elbo_vqvae *m, elbo_tape *t)
{
    return elbo_ad_input(t, m->cb.K, m->cb.D, m->cb.e);
}

/* z_q = z_e - sg(r): r's floats as a constant, so dz_e = dz_q (straight through) */
static elbo_node *straight_through(elbo_tape *t, elbo_node *ze, elbo_node *r)
{
    if (!r)
        return NULL;
    return elbo_ad_sub(t, ze, elbo_ad_input_nd(t, r->shape.ndim, r->shape.d, r->x));
}

/* The loss of the B rows x divided by batch (B, or the whole batch's size
 * when x is one process's shard of it). */
static elbo_node *loss_of(elbo_vqvae *m, elbo_tape *t, const float *x, int B, int batch, elbo_vqvae_stats *st,
                          elbo_node **res, elbo_node **z_e)
{
    elbo_node *xin = image_input(m, t, x, B);
    elbo_node *ze = elbo_vqvae_encoder(m, t, xin);
    elbo_node *r = elbo_ad_vq_residual(t, ze, codebook_input(m, t));
    elbo_node *logits = elbo_vqvae_decoder(m, t, straight_through(t, ze, r));
    elbo_node *bce = elbo_ad_sum(t, elbo_ad_bernoulli_nll(t, logits, xin));
    elbo_node *commit = elbo_ad_sum(t, elbo_ad_mul(t, r, r));
    elbo_node *loss = elbo_ad_scale(t, elbo_ad_add(t, bce, elbo_ad_scale(t, commit, m->cfg.beta)), 1.0f / (float)batch);
    if (!loss)
        return NULL;
    if (st)
        *st = (elbo_vqvae_stats){.bce = bce->x[0], .commit = commit->x[0], .loss = loss->x[0]};
    if (res)
        *res = r;
    if (z_e)
        *z_e = ze;
    return loss;
}

elbo_node *elbo_vqvae_loss(elbo_vqvae *m, elbo_tape *t, const float *x, int B, elbo_vqvae_stats *st,
                           elbo_node **res, elbo_node **z_e)
{
    return loss_of(m, t, x, B, B, st, res, z_e);
}

elbo_status elbo_vqvae_init_codebook(elbo_vqvae *m, elbo_tape *t, const float *x, int B, elbo_rng *rng)
{
    elbo_tape_reset(t);
    bool g = elbo_tape_grad_enabled(t);
    elbo_tape_set_grad(t, false);
    elbo_node *ze = elbo_vqvae_encoder(m, t, image_input(m, t, x, B));
    elbo_tape_set_grad(t, g);
    if (!ze)
        return elbo_tape_status(t);
    int K = m->cb.K, D = m->cb.D;
    size_t M = rows_of(ze, D);
    uint32_t *idx = malloc(M * sizeof *idx);
    float *init = malloc((size_t)K * (size_t)D * sizeof *init);
    if (!idx || !init) {
        free(idx), free(init);
        return elbo_fail(ELBO_ERR_NOMEM, "vqvae: out of memory for the codebook's start");
    }
    for (size_t i = 0; i < M; i++)
        idx[i] = (uint32_t)i;
    elbo_rng_shuffle(rng, idx, M);
    for (int k = 0; k < K; k++) {
        size_t i = (size_t)k < M ? idx[k] : (size_t)elbo_rng_below(rng, M);
        memcpy(init + (size_t)k * D, ze->x + i * D, (size_t)D * sizeof *init);
    }
    elbo_vq_codebook_set(&m->cb, init);
    free(idx), free(init);
    return ELBO_OK;
}

elbo_status elbo_vqvae_step(elbo_vqvae *m, elbo_tape *t, const float *x, int B, const elbo_adam_config *adam,
                            elbo_vqvae_stats *st, uint64_t *counts)
{
    return elbo_vqvae_step_shard(m, t, x, B, NULL, adam, st, counts);
}

elbo_status elbo_vq_nonfinite(elbo_params *p, const elbo_vq_shard *sh, const char *what)
{
    if (sh && sh->after_backward) {
        elbo_params_poison_grad(p, sh->grad_ready, sh->ctx);
        elbo_status st = sh->after_backward(sh->ctx, p);
        if (st != ELBO_OK)
            return st;
    }
    return elbo_fail(ELBO_ERR_NONFINITE, "%s: the loss is not finite at step %ld", what, p->step + 1);
}

elbo_status elbo_vq_shard_backward(elbo_tape *t, elbo_node *loss, elbo_params *p, const elbo_vq_shard *sh)
{
    if (sh)
        elbo_tape_set_grad_hook(t, sh->grad_ready, sh->ctx);
    elbo_status e = elbo_backward(t, loss);
    if (sh)
        elbo_tape_set_grad_hook(t, NULL, NULL);
    if (e == ELBO_OK && sh && sh->after_backward)
        e = sh->after_backward(sh->ctx, p);
    return e;
}

/* The EMA from the batch's vectors z (M,D) and codes; with a shard, its
 * statistics summed across the processes first. */
static elbo_status codebook_step(elbo_vq_codebook *cb, const float *z, const int32_t *codes, size_t M,
                                 const elbo_vq_shard *sh)
{
    if (!sh || !sh->sum)
        return elbo_vq_ema_update(cb, z, codes, M);
    size_t n = (size_t)cb->K * (1 + (size_t)cb->D);
    double *stats = malloc(n * sizeof *stats);
    if (!stats)
        return elbo_fail(ELBO_ERR_NOMEM, "vqvae codebook: out of memory for the EMA of K %d", cb->K);
    elbo_status e = elbo_vq_batch_stats(cb, z, codes, M, stats);
    elbo_status es = sh->sum(sh->ctx, stats, (int)n); /* every process calls it, whatever its own status */
    if (e == ELBO_OK && (e = es) == ELBO_OK)
        elbo_vq_ema_apply(cb, stats);
    free(stats);
    return e;
}

elbo_status elbo_vqvae_step_shard(elbo_vqvae *m, elbo_tape *t, const float *x, int rows, const elbo_vq_shard *sh,
                                  const elbo_adam_config *adam, elbo_vqvae_stats *st, uint64_t *counts)
{
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, true);
    elbo_params_clear_grad(&m->p);
    elbo_vqvae_stats s;
    elbo_node *r, *ze;
    elbo_node *loss = loss_of(m, t, x, rows, sh ? sh->batch : rows, &s, &r, &ze);
    if (!loss)
        return elbo_tape_status(t);
    if (!isfinite(s.loss))
        return elbo_vq_nonfinite(&m->p, sh, "vqvae");
    elbo_status e = elbo_vq_shard_backward(t, loss, &m->p, sh);
    if (e == ELBO_OK)
        e = elbo_adam_step_checked(&m->p, adam);
    if (e != ELBO_OK)
        return e;
    size_t M = rows_of(ze, m->cb.D);
    const int32_t *codes = elbo_ad_vq_codes(r);
    if ((e = codebook_step(&m->cb, ze->x, codes, M, sh)) != ELBO_OK)
        return e;
    if (counts)
        for (size_t i = 0; i < M; i++)
            counts[codes[i]]++;
    if (st)
        *st = s;
    return ELBO_OK;
}

elbo_status elbo_vqvae_eval_data(elbo_vqvae *m, elbo_tape *t, const elbo_dataset *ds, size_t first, size_t n, int B,
                                 int32_t *codes, double *bce, double *sq_err, uint64_t *counts)
{
    size_t d = (size_t)m->cfg.rows * (size_t)m->cfg.cols, P = (size_t)elbo_vqvae_positions(m);
    if (ds->d != d || first + n > ds->n || B < 1)
        return elbo_fail(ELBO_ERR_MISMATCH, "vqvae: expected %zu rows of %zu features from %zu, got a set of %zu "
                         "rows of %zu", n, d, first, ds->n, ds->d);
    double sb = 0, se = 0;
    bool g = elbo_tape_grad_enabled(t);
    elbo_status st = ELBO_OK;
    for (size_t i0 = 0; i0 < n && st == ELBO_OK; i0 += (size_t)B) {
        int b = (int)(n - i0 < (size_t)B ? n - i0 : (size_t)B);
        elbo_tape_reset(t);
        elbo_tape_set_grad(t, false);
        float *x = elbo_tape_alloc(t, (size_t)b * d);
        if (!x) {
            st = elbo_tape_status(t);
            break;
        }
        elbo_dataset_rows(ds, first + i0, (size_t)b, x, NULL);
        elbo_node *xin = image_input(m, t, x, b);
        elbo_node *r = elbo_ad_vq_residual(t, elbo_vqvae_encoder(m, t, xin), codebook_input(m, t));
        elbo_node *logits = elbo_vqvae_decoder(m, t, straight_through(t, r ? r->in[0] : NULL, r));
        elbo_node *nll = elbo_ad_sum(t, elbo_ad_bernoulli_nll(t, logits, xin));
        if (!nll) {
            st = elbo_tape_status(t);
            break;
        }
        sb += nll->x[0];
        if (sq_err)
            for (size_t j = 0; j < (size_t)b * d; j++) {
                double pr = 1.0 / (1.0 + exp(-(double)logits->x[j])), u = pr - x[j];
                se += u * u;
            }
        const int32_t *c = elbo_ad_vq_codes(r);
        for (size_t j = 0; j < (size_t)b * P; j++) {
            if (codes)
                codes[i0 * P + j] = c[j];
            if (counts)
                counts[c[j]]++;
        }
    }
    elbo_tape_set_grad(t, g);
    if (bce)
        *bce = sb;
    if (sq_err)
        *sq_err = se;
    return st;
}

/* probabilities sigmoid(logits) into out, in double */
static void probs(const elbo_node *logits, size_t n, float *out)
{
    for (size_t j = 0; j < n; j++)
        out[j] = (float)(1.0 / (1.0 + exp(-(double)logits->x[j])));
}

elbo_status elbo_vqvae_decode_codes(elbo_vqvae *m, elbo_tape *t, const int32_t *codes, int n, float *out)
{
    int D = m->cb.D, P = elbo_vqvae_positions(m);
    bool g = elbo_tape_grad_enabled(t);
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, false);
    float *z = elbo_tape_alloc(t, (size_t)n * P * D);
    elbo_status st = ELBO_OK;
    if (z) {
        for (size_t i = 0; i < (size_t)n * P; i++) {
            if (codes[i] < 0 || codes[i] >= m->cb.K) {
                st = elbo_fail(ELBO_ERR_INVALID, "vqvae: code %d at position %zu is outside [0,%d)", (int)codes[i],
                               i, m->cb.K);
                break;
            }
            memcpy(z + i * D, m->cb.e + (size_t)codes[i] * D, (size_t)D * sizeof *z);
        }
        if (st == ELBO_OK) {
            elbo_node *l = elbo_vqvae_decoder(m, t, elbo_ad_input_nd(t, 4, (const int[]){n, m->gh, m->gw, D}, z));
            if (l)
                probs(l, (size_t)n * m->cfg.rows * m->cfg.cols, out);
        }
    }
    if (st == ELBO_OK)
        st = elbo_tape_status(t);
    elbo_tape_set_grad(t, g);
    return st;
}

elbo_status elbo_vqvae_reconstruct(elbo_vqvae *m, elbo_tape *t, const float *x, int n, float *out)
{
    bool g = elbo_tape_grad_enabled(t);
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, false);
    elbo_node *r = elbo_ad_vq_residual(t, elbo_vqvae_encoder(m, t, image_input(m, t, x, n)), codebook_input(m, t));
    elbo_node *l = elbo_vqvae_decoder(m, t, straight_through(t, r ? r->in[0] : NULL, r));
    if (l)
        probs(l, (size_t)n * m->cfg.rows * m->cfg.cols, out);
    elbo_tape_set_grad(t, g);
    return elbo_tape_status(t);
}
