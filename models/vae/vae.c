/* The VAE model: parameters, encoder and decoder graphs, and the training
 * objectives (ELBO with L samples, beta / warm-up weight, free bits, IWAE-K).
 * Evaluation and sampling live in vae_eval.c, the training loop in vae_train.c. */
#include "models/vae/vae.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

elbo_vae_config elbo_vae_config_default(void)
{
    elbo_vae_config c;
    memset(&c, 0, sizeof c);
    c.x_dim = 784;
    c.z_dim = 20;
    c.n_classes = 0;
    c.n_hidden = 1;
    c.hidden[0] = 400;
    c.act = ELBO_VAE_RELU;
    c.leaky_slope = 0.01f;
    c.lik = ELBO_VAE_BERNOULLI;
    c.gauss_logvar = 0.0f;
    return c;
}

bool elbo_vae_config_equal(const elbo_vae_config *a, const elbo_vae_config *b)
{
    if (a->x_dim != b->x_dim || a->z_dim != b->z_dim || a->n_classes != b->n_classes ||
        a->n_hidden != b->n_hidden || a->act != b->act || a->lik != b->lik)
        return false;
    for (int i = 0; i < a->n_hidden; i++)
        if (a->hidden[i] != b->hidden[i])
            return false;
    if (a->act == ELBO_VAE_LEAKY && a->leaky_slope != b->leaky_slope)
        return false;
    if (a->lik != ELBO_VAE_BERNOULLI && a->gauss_logvar != b->gauss_logvar)
        return false;
    return true;
}

static const char *act_name(elbo_vae_act a)
{
    return a == ELBO_VAE_TANH ? "tanh" : a == ELBO_VAE_LEAKY ? "leaky" : "relu";
}

static const char *lik_name(elbo_vae_lik l)
{
    return l == ELBO_VAE_GAUSSIAN ? "gaussian" : l == ELBO_VAE_GAUSSIAN_LEARNED ? "gaussian-learned" : "bernoulli";
}

int elbo_vae_config_json(const elbo_vae_config *c, char *buf, size_t cap)
{
    char hidden[ELBO_VAE_MAX_HIDDEN * 12 + 2] = "";
    size_t k = 0;
    for (int i = 0; i < c->n_hidden; i++)
        k += (size_t)snprintf(hidden + k, sizeof hidden - k, "%s%d", i ? "," : "", c->hidden[i]);
    return snprintf(buf, cap,
                    "{\"x_dim\":%d,\"z_dim\":%d,\"n_classes\":%d,\"hidden\":[%s],\"activation\":\"%s\","
                    "\"leaky_slope\":%.9g,\"likelihood\":\"%s\",\"gauss_logvar\":%.9g}",
                    c->x_dim, c->z_dim, c->n_classes, hidden, act_name(c->act), (double)c->leaky_slope,
                    lik_name(c->lik), (double)c->gauss_logvar);
}

static elbo_status check_config(const elbo_vae_config *c)
{
    if (c->x_dim < 1 || c->z_dim < 1 || c->n_classes < 0)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: expected x_dim, z_dim >= 1 and n_classes >= 0, got %d, %d, %d",
                         c->x_dim, c->z_dim, c->n_classes);
    if (c->n_hidden < 0 || c->n_hidden > ELBO_VAE_MAX_HIDDEN)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: expected 0..%d hidden layers, got %d",
                         ELBO_VAE_MAX_HIDDEN, c->n_hidden);
    for (int i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] < 1)
            return elbo_fail(ELBO_ERR_INVALID, "vae config: hidden layer %d: expected width >= 1, got %d", i,
                             c->hidden[i]);
    if ((unsigned)c->act > ELBO_VAE_LEAKY || (unsigned)c->lik > ELBO_VAE_GAUSSIAN_LEARNED)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: unknown activation %d or likelihood %d", (int)c->act,
                         (int)c->lik);
    if (!isfinite(c->gauss_logvar) || !isfinite(c->leaky_slope))
        return elbo_fail(ELBO_ERR_INVALID, "vae config: gauss_logvar and leaky_slope must be finite");
    return ELBO_OK;
}

/* One dense layer (fan_in -> fan_out): weight (fan_in, fan_out) and bias (1, fan_out). */
static elbo_status add_layer(elbo_params *p, const char *name, int fan_in, int fan_out, int *w, int *b)
{
    char nm[ELBO_PARAM_NAME_MAX];
    snprintf(nm, sizeof nm, "%s.W", name);
    *w = elbo_params_add(p, nm, fan_in, fan_out);
    snprintf(nm, sizeof nm, "%s.b", name);
    *b = elbo_params_add(p, nm, 1, fan_out);
    if (*w < 0 || *b < 0)
        return elbo_fail(ELBO_ERR_INVALID, "vae create: could not register layer %s (%d -> %d)", name, fan_in,
                         fan_out);
    return ELBO_OK;
}

elbo_status elbo_vae_create(elbo_vae *m, const elbo_vae_config *cfg, elbo_rng *rng)
{
    memset(m, 0, sizeof *m);
    elbo_status st = check_config(cfg);
    if (st != ELBO_OK)
        return st;
    m->cfg = *cfg;
    m->lik_logvar = -1;
    const elbo_vae_config *c = &m->cfg;
    elbo_params *p = &m->params;
    elbo_params_init(p);

    /* Registration order fixes the slab layout and the order of init draws,
     * which is part of what makes a seed reproducible. */
    int in = c->x_dim + c->n_classes;
    char name[32];
    for (int i = 0; i < c->n_hidden && st == ELBO_OK; i++) {
        snprintf(name, sizeof name, "enc%d", i);
        st = add_layer(p, name, in, c->hidden[i], &m->enc_w[i], &m->enc_b[i]);
        in = c->hidden[i];
    }
    /* mu and log sigma^2 share one (in, 2Z) head: one GEMM instead of two,
     * and the same U(+-1/sqrt(in)) law as two separate nn.Linear heads. */
    if (st == ELBO_OK)
        st = add_layer(p, "head", in, 2 * c->z_dim, &m->head_w, &m->head_b);
    in = c->z_dim + c->n_classes;
    for (int i = 0; i < c->n_hidden && st == ELBO_OK; i++) {
        int width = c->hidden[c->n_hidden - 1 - i]; /* the decoder mirrors the encoder */
        snprintf(name, sizeof name, "dec%d", i);
        st = add_layer(p, name, in, width, &m->dec_w[i], &m->dec_b[i]);
        in = width;
    }
    if (st == ELBO_OK)
        st = add_layer(p, "out", in, c->x_dim, &m->out_w, &m->out_b);
    if (st == ELBO_OK && c->lik == ELBO_VAE_GAUSSIAN_LEARNED) {
        m->lik_logvar = elbo_params_add(p, "lik.logvar", 1, c->x_dim);
        if (m->lik_logvar < 0)
            st = elbo_fail(ELBO_ERR_INVALID, "vae create: could not register lik.logvar");
    }
    if (st == ELBO_OK)
        st = elbo_params_finalize(p);
    if (st != ELBO_OK) {
        elbo_params_free(p);
        return st;
    }

    for (int i = 0; i < p->count; i++) {
        if (i == m->lik_logvar) {
            elbo_params_fill(p, i, c->gauss_logvar);
            continue;
        }
        /* Weights are (fan_in, fan_out); a bias takes the fan_in of its weight,
         * which was registered just before it. */
        int fan_in = p->info[i].rows > 1 ? p->info[i].rows : p->info[i - 1].rows;
        elbo_params_init_uniform_fan_in(p, i, fan_in, rng);
    }
    return ELBO_OK;
}

void elbo_vae_free(elbo_vae *m)
{
    if (!m)
        return;
    elbo_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

/* ---- graph pieces shared with vae_eval.c ---- */

static elbo_node *activation(elbo_tape *t, const elbo_vae_config *c, elbo_node *h)
{
    switch (c->act) {
    case ELBO_VAE_TANH:
        return elbo_ad_tanh(t, h);
    case ELBO_VAE_LEAKY:
        return elbo_ad_leaky_relu(t, h, c->leaky_slope);
    case ELBO_VAE_RELU:
    default:
        return elbo_ad_relu(t, h);
    }
}

elbo_node *vae_encoder(elbo_vae *m, elbo_tape *t, elbo_node *x, elbo_node *y, elbo_node **logvar)
{
    const elbo_vae_config *c = &m->cfg;
    elbo_params *p = &m->params;
    elbo_node *h = y ? elbo_ad_concat_cols(t, x, y) : x;
    for (int i = 0; i < c->n_hidden; i++)
        h = activation(t, c, elbo_ad_linear(t, h, elbo_ad_param(t, p, m->enc_w[i]), elbo_ad_param(t, p, m->enc_b[i])));
    elbo_node *head = elbo_ad_linear(t, h, elbo_ad_param(t, p, m->head_w), elbo_ad_param(t, p, m->head_b));
    *logvar = elbo_ad_slice_cols(t, head, c->z_dim, c->z_dim);
    return elbo_ad_slice_cols(t, head, 0, c->z_dim);
}

elbo_node *vae_decoder(elbo_vae *m, elbo_tape *t, elbo_node *z, elbo_node *y)
{
    const elbo_vae_config *c = &m->cfg;
    elbo_params *p = &m->params;
    elbo_node *h = y ? elbo_ad_concat_cols(t, z, y) : z;
    for (int i = 0; i < c->n_hidden; i++)
        h = activation(t, c, elbo_ad_linear(t, h, elbo_ad_param(t, p, m->dec_w[i]), elbo_ad_param(t, p, m->dec_b[i])));
    return elbo_ad_linear(t, h, elbo_ad_param(t, p, m->out_w), elbo_ad_param(t, p, m->out_b));
}

elbo_node *vae_nll(elbo_vae *m, elbo_tape *t, elbo_node *out, elbo_node *x)
{
    switch (m->cfg.lik) {
    case ELBO_VAE_GAUSSIAN:
        return elbo_ad_gauss_nll(t, out, x, NULL, m->cfg.gauss_logvar);
    case ELBO_VAE_GAUSSIAN_LEARNED:
        return elbo_ad_gauss_nll(t, out, x, elbo_ad_param(t, &m->params, m->lik_logvar), 0.0f);
    case ELBO_VAE_BERNOULLI:
    default:
        return elbo_ad_bernoulli_nll(t, out, x);
    }
}

/* A constant (rows, cols) tensor filled with v, from the tape's arena. */
static elbo_node *constant(elbo_tape *t, int rows, int cols, float v)
{
    float *d = elbo_tape_alloc(t, (size_t)rows * (size_t)cols);
    if (!d)
        return NULL;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
        d[i] = v;
    return elbo_ad_input(t, rows, cols, d);
}

static double sum_col(const elbo_node *n)
{
    double s = 0.0;
    for (int r = 0; r < n->rows; r++)
        s += n->x[r];
    return s;
}

/* Free bits (Kingma et al. 2016): the KL of each latent dimension, averaged
 * over the minibatch, is not pushed below lambda:
 *   B * sum_j max(lambda, mean_b KL_bj)
 * max(lambda, k) = relu(k - lambda) + lambda, so the gradient is zero for
 * dimensions under the floor. Built from primitive ops: per-dimension KL is
 * 0.5 (e^lv + mu^2 - 1 - lv), the batch mean a (1,B)x(B,Z) product. */
static elbo_node *free_bits_kl(elbo_tape *t, elbo_node *mu, elbo_node *lv, float lambda)
{
    int B = mu->rows, Z = mu->cols;
    elbo_node *k = elbo_ad_sub(t, elbo_ad_add(t, elbo_ad_exp(t, lv), elbo_ad_mul(t, mu, mu)), lv);
    k = elbo_ad_scale(t, elbo_ad_add(t, k, constant(t, 1, Z, -1.0f)), 0.5f);    /* (B,Z) */
    elbo_node *kbar = elbo_ad_matmul(t, constant(t, 1, B, 1.0f / (float)B), k);  /* (1,Z) */
    elbo_node *over = elbo_ad_relu(t, elbo_ad_add(t, kbar, constant(t, 1, Z, -lambda)));
    /* B * (sum_j over_j + Z lambda) */
    return elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum(t, over), (float)B),
                       constant(t, 1, 1, (float)B * (float)Z * lambda));
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

elbo_status elbo_vae_loss(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B,
                          const elbo_vae_objective *obj, elbo_rng *rng, const float *eps, elbo_node **loss,
                          elbo_vae_batch_stats *stats)
{
    *loss = NULL;
    const elbo_vae_config *c = &m->cfg;
    const int Z = c->z_dim;
    if (!x || B < 1 || (c->n_classes > 0 && !y) || (!eps && !rng))
        return elbo_fail(ELBO_ERR_INVALID, "vae loss: expected x, B >= 1, labels for a conditional model and "
                         "eps or rng; got B = %d", B);
    const bool iw = obj->iw_k > 1;
    const int S = iw ? obj->iw_k : (obj->mc_samples > 0 ? obj->mc_samples : 1);

    elbo_node *xn = elbo_ad_input(t, B, c->x_dim, x);
    elbo_node *yn = c->n_classes > 0 ? elbo_ad_input(t, B, c->n_classes, y) : NULL;
    elbo_node *lv = NULL;
    elbo_node *mu = vae_encoder(m, t, xn, yn, &lv);
    elbo_node *kl = elbo_ad_kl_diag(t, mu, lv); /* (B,1), closed form (17.24) */

    elbo_node *rec = NULL;  /* sum over samples of per-row NLL, (B,1) */
    elbo_node *lw = NULL;   /* IWAE: log weights, (B,S) */
    double rec_sum = 0.0;
    for (int s = 0; s < S; s++) {
        elbo_node *z = elbo_ad_reparam(t, mu, lv, rng, eps ? eps + (size_t)s * (size_t)B * (size_t)Z : NULL);
        elbo_node *nll = vae_nll(m, t, vae_decoder(m, t, z, yn), xn);
        if (elbo_tape_status(t) != ELBO_OK)
            return elbo_tape_status(t);
        rec_sum += sum_col(nll);
        if (!iw) {
            rec = rec ? elbo_ad_add(t, rec, nll) : nll;
            continue;
        }
        /* log w = log Pr(x|z) + log Pr(z) - log q(z|x); with z = mu + sigma eps,
         * log q = -0.5 sum(eps^2 + lv) + const, and the 2pi constants of
         * Pr(z) and q cancel. eps is a constant of the graph. */
        const float *e = z->args.reparam.eps;
        float *half_e2 = elbo_tape_alloc(t, (size_t)B);
        if (!half_e2)
            return elbo_tape_status(t);
        for (int b = 0; b < B; b++) {
            double a = 0.0;
            for (int j = 0; j < Z; j++)
                a += (double)e[(size_t)b * Z + j] * e[(size_t)b * Z + j];
            half_e2[b] = (float)(0.5 * a);
        }
        elbo_node *log_pz = elbo_ad_scale(t, elbo_ad_sum_rows(t, elbo_ad_mul(t, z, z)), -0.5f);
        elbo_node *neg_log_q = elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum_rows(t, lv), 0.5f),
                                           elbo_ad_input(t, B, 1, half_e2));
        elbo_node *lw_s = elbo_ad_add(t, elbo_ad_sub(t, log_pz, nll), neg_log_q);
        lw = lw ? elbo_ad_concat_cols(t, lw, lw_s) : lw_s;
    }

    elbo_node *L;
    if (iw) {
        /* -sum_b log (1/K) sum_k w_bk */
        L = elbo_ad_add(t, elbo_ad_scale(t, elbo_ad_sum(t, elbo_ad_logsumexp_rows(t, lw)), -1.0f),
                        constant(t, 1, 1, (float)B * logf((float)S)));
    } else {
        elbo_node *rec_term = elbo_ad_sum(t, rec);
        if (S > 1)
            rec_term = elbo_ad_scale(t, rec_term, 1.0f / (float)S);
        elbo_node *kl_term = obj->free_bits > 0.0f ? free_bits_kl(t, mu, lv, obj->free_bits) : elbo_ad_sum(t, kl);
        L = obj->kl_weight == 1.0f ? elbo_ad_add(t, rec_term, kl_term)
                                   : elbo_ad_add(t, rec_term, elbo_ad_scale(t, kl_term, obj->kl_weight));
    }
    elbo_status st = elbo_tape_status(t);
    if (st != ELBO_OK)
        return st;

    double kl_sum = sum_col(kl);
    rec_sum /= S;
    if ((st = vae_check_finite("loss: reconstruction term", rec_sum, x, y, B, c->x_dim, c->n_classes)) != ELBO_OK ||
        (st = vae_check_finite("loss: KL term", kl_sum, x, y, B, c->x_dim, c->n_classes)) != ELBO_OK ||
        (st = vae_check_finite("loss", L->x[0], x, y, B, c->x_dim, c->n_classes)) != ELBO_OK)
        return st;
    if (stats) {
        stats->rec = rec_sum;
        stats->kl = kl_sum;
        stats->neg_elbo = rec_sum + kl_sum;
        stats->loss = L->x[0];
    }
    *loss = L;
    return ELBO_OK;
}
