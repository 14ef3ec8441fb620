/* The VAE model: its configuration (and the encoder spec), the parameters
 * of every part and their initialisation. The networks' graphs are in
 * net.c, the forward pass an objective drives in forward.c, evaluation and
 * sampling in vae_eval.c, the training loop in vae_train.c. */
#include "models/vae/vae.h"
#include "models/vae/component.h"
#include "models/vae/vae_internal.h"

#include <errno.h>
#include <stdlib.h>

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
    c.posterior = ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN;
    c.prior = ELBO_VAE_PRIOR_STANDARD_NORMAL;
    c.arch = ELBO_VAE_ARCH_MLP;
    return c;
}

static bool layer_equal(const elbo_vae_layer *a, const elbo_vae_layer *b)
{
    return a->kind == b->kind && a->width == b->width &&
           (a->kind == ELBO_VAE_LAYER_DENSE || (a->k == b->k && a->stride == b->stride && a->pad == b->pad));
}

static int layers_of(const elbo_vae_config *c) { return c->stochastic_layers == 2 ? 2 : 1; }

static bool hier_equal(const elbo_vae_config *a, const elbo_vae_config *b)
{
    if (layers_of(a) != layers_of(b))
        return false;
    if (layers_of(a) == 1)
        return true;
    if (a->z2_dim != b->z2_dim || a->n_hier_hidden != b->n_hier_hidden)
        return false;
    for (int i = 0; i < a->n_hier_hidden; i++)
        if (a->hier_hidden[i] != b->hier_hidden[i])
            return false;
    return true;
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
    if (a->posterior != b->posterior || a->prior != b->prior || a->arch != b->arch || a->prior_k != b->prior_k ||
        a->prior_squash != b->prior_squash)
        return false;
    if (!hier_equal(a, b) || a->flow_steps != b->flow_steps || a->flow_hidden != b->flow_hidden)
        return false;
    if (a->arch == ELBO_VAE_ARCH_CONV) {
        if (a->image_h != b->image_h || a->image_w != b->image_w || a->image_c != b->image_c ||
            a->n_layers != b->n_layers)
            return false;
        for (int i = 0; i < a->n_layers; i++)
            if (!layer_equal(&a->layers[i], &b->layers[i]))
                return false;
    }
    return true;
}

const char *elbo_vae_prior_squash_name(int squash)
{
    return squash == ELBO_VAE_SQUASH_SIGMOID ? "sigmoid" : squash == ELBO_VAE_SQUASH_HARDTANH ? "hardtanh" : "none";
}

static const char *act_name(elbo_vae_act a)
{
    return a == ELBO_VAE_TANH ? "tanh" : a == ELBO_VAE_LEAKY ? "leaky" : "relu";
}

static const char *lik_name(elbo_vae_lik l)
{
    return l == ELBO_VAE_GAUSSIAN ? "gaussian" : l == ELBO_VAE_GAUSSIAN_LEARNED ? "gaussian-learned" : "bernoulli";
}

int elbo_vae_config_spec(const elbo_vae_config *c, char *buf, size_t cap)
{
    size_t k = 0;
    if (cap)
        buf[0] = '\0';
    int n = c->arch == ELBO_VAE_ARCH_CONV ? c->n_layers : c->n_hidden;
    for (int i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        int w;
        if (c->arch != ELBO_VAE_ARCH_CONV)
            w = snprintf(buf + (k < cap ? k : cap), k < cap ? cap - k : 0, "%sdense:%d", sep, c->hidden[i]);
        else if (c->layers[i].kind == ELBO_VAE_LAYER_DENSE)
            w = snprintf(buf + (k < cap ? k : cap), k < cap ? cap - k : 0, "%sdense:%d", sep, c->layers[i].width);
        else
            w = snprintf(buf + (k < cap ? k : cap), k < cap ? cap - k : 0, "%sconv:%d:%d:%d:%d", sep,
                         c->layers[i].width, c->layers[i].k, c->layers[i].stride, c->layers[i].pad);
        k += (size_t)w;
    }
    return (int)k;
}

int elbo_vae_config_json(const elbo_vae_config *c, char *buf, size_t cap)
{
    char hidden[ELBO_VAE_MAX_HIDDEN * 12 + 2] = "";
    size_t k = 0;
    for (int i = 0; i < c->n_hidden; i++)
        k += (size_t)snprintf(hidden + k, sizeof hidden - k, "%s%d", i ? "," : "", c->hidden[i]);
    /* The default parts and the MLP keep the record they always had, so the
     * configuration strings of earlier runs still match on --resume. */
    char more[ELBO_VAE_MAX_HIDDEN * 24 + 320] = "";
    if (c->posterior != 0 || c->prior != 0 || c->arch == ELBO_VAE_ARCH_CONV) {
        const elbo_vae_posterior_ops *q = elbo_vae_posterior(c->posterior);
        const elbo_vae_prior_ops *p = elbo_vae_prior(c->prior);
        int w = snprintf(more, sizeof more, ",\"posterior\":\"%s\",\"prior\":\"%s\"", q ? q->name : "?",
                         p ? p->name : "?");
        if (c->prior_k > 0 && w > 0 && (size_t)w < sizeof more)
            w += snprintf(more + w, sizeof more - (size_t)w, ",\"prior_k\":%d,\"prior_squash\":\"%s\"", c->prior_k,
                          elbo_vae_prior_squash_name(c->prior_squash));
        if (c->arch == ELBO_VAE_ARCH_CONV && w > 0 && (size_t)w < sizeof more) {
            char spec[ELBO_VAE_MAX_HIDDEN * 24];
            elbo_vae_config_spec(c, spec, sizeof spec);
            w += snprintf(more + w, sizeof more - (size_t)w, ",\"arch\":\"conv\",\"image\":[%d,%d,%d],\"encoder\":\"%s\"",
                          c->image_h, c->image_w, c->image_c, spec);
        }
        if (layers_of(c) == 2 && w > 0 && (size_t)w < sizeof more) {
            w += snprintf(more + w, sizeof more - (size_t)w, ",\"stochastic_layers\":2,\"z2_dim\":%d,\"hier_hidden\":[",
                          c->z2_dim);
            for (int i = 0; i < c->n_hier_hidden && w > 0 && (size_t)w < sizeof more; i++)
                w += snprintf(more + w, sizeof more - (size_t)w, "%s%d", i ? "," : "", c->hier_hidden[i]);
            if (w > 0 && (size_t)w < sizeof more)
                snprintf(more + w, sizeof more - (size_t)w, "]");
        }
    }
    /* a flow posterior's steps and hidden width (absent otherwise, as above) */
    char flow[64] = "";
    if (c->flow_steps > 0 || c->flow_hidden > 0)
        snprintf(flow, sizeof flow, ",\"flow_steps\":%d,\"flow_hidden\":%d", c->flow_steps, c->flow_hidden);
    return snprintf(buf, cap,
                    "{\"x_dim\":%d,\"z_dim\":%d,\"n_classes\":%d,\"hidden\":[%s],\"activation\":\"%s\","
                    "\"leaky_slope\":%.9g,\"likelihood\":\"%s\",\"gauss_logvar\":%.9g%s%s}",
                    c->x_dim, c->z_dim, c->n_classes, hidden, act_name(c->act), (double)c->leaky_slope,
                    lik_name(c->lik), (double)c->gauss_logvar, more, flow);
}

/* One integer field of a spec at *p, followed by ':' ',' or the end. */
static bool spec_int(const char **p, int lo, int hi, int *out)
{
    errno = 0;
    char *end;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno || v < lo || v > hi || (*end && *end != ':' && *end != ','))
        return false;
    *out = (int)v;
    *p = end;
    return true;
}

elbo_status elbo_vae_config_parse_encoder(elbo_vae_config *c, const char *spec)
{
    const char *p = spec ? spec : "";
    int n = 0;
    while (*p) {
        if (n == ELBO_VAE_MAX_HIDDEN)
            return elbo_fail(ELBO_ERR_INVALID, "encoder spec \"%.60s\": more than %d layers", spec,
                             ELBO_VAE_MAX_HIDDEN);
        elbo_vae_layer *l = &c->layers[n];
        const char *at = p;
        bool ok;
        if (strncmp(p, "dense:", 6) == 0) {
            p += 6;
            *l = (elbo_vae_layer){ELBO_VAE_LAYER_DENSE, 0, 0, 0, 0};
            ok = spec_int(&p, 1, 1 << 20, &l->width) && (*p == ',' || !*p);
        } else if (strncmp(p, "conv:", 5) == 0) {
            p += 5;
            *l = (elbo_vae_layer){ELBO_VAE_LAYER_CONV, 0, 0, 0, 0};
            ok = spec_int(&p, 1, 1 << 16, &l->width) && *p == ':' && (p++, spec_int(&p, 1, 64, &l->k)) &&
                 *p == ':' && (p++, spec_int(&p, 1, 64, &l->stride));
            l->pad = ok ? (l->k - l->stride + 1) / 2 : 0;
            if (l->pad < 0)
                l->pad = 0;
            if (ok && *p == ':')
                p++, ok = spec_int(&p, 0, 64, &l->pad);
            ok = ok && (*p == ',' || !*p);
        } else {
            ok = false;
        }
        if (!ok) {
            size_t len = strcspn(at, ",");
            return elbo_fail(ELBO_ERR_INVALID, "encoder spec: layer %d \"%.*s\": expected conv:C:K:S[:P] or "
                             "dense:W with positive integers", n + 1, (int)(len > 40 ? 40 : len), at);
        }
        n++;
        if (*p == ',' && !*++p)
            return elbo_fail(ELBO_ERR_INVALID, "encoder spec \"%.60s\": ends with a comma", spec);
    }
    c->arch = ELBO_VAE_ARCH_CONV;
    c->n_layers = n;
    return ELBO_OK;
}

elbo_status elbo_vae_config_conv_default(elbo_vae_config *c)
{
    bool big = c->image_h >= 64 && c->image_w >= 64;
    return elbo_vae_config_parse_encoder(c, big ? "conv:32:4:2,conv:32:4:2,conv:64:4:2,conv:64:4:2,dense:256"
                                                : "conv:32:4:2,conv:64:4:2,dense:256");
}

/* Two stochastic layers go with the posteriors hier2 / ladder and the prior
 * hier2, and one layer with the others. */
static elbo_status check_hier(const elbo_vae_config *c)
{
    const bool two = c->stochastic_layers == 2;
    const bool post2 = c->posterior == ELBO_VAE_POSTERIOR_HIER2 || c->posterior == ELBO_VAE_POSTERIOR_LADDER;
    if (c->stochastic_layers < 0 || c->stochastic_layers > 2)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: expected 1 or 2 stochastic layers, got %d",
                         c->stochastic_layers);
    if (two != post2 || two != (c->prior == ELBO_VAE_PRIOR_HIER2))
        return elbo_fail(ELBO_ERR_INVALID, "vae config: posterior %s and prior %s do not fit %d stochastic layer%s "
                         "(two layers take the posterior hier2 or ladder and the prior hier2)",
                         elbo_vae_posterior(c->posterior)->name, elbo_vae_prior(c->prior)->name, two ? 2 : 1,
                         two ? "s" : "");
    if (!two)
        return ELBO_OK;
    if (c->z2_dim < 1 || c->z2_dim >= c->z_dim)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: two stochastic layers: expected 1 <= z2_dim < z_dim, got "
                         "z2_dim %d of z_dim %d", c->z2_dim, c->z_dim);
    if (c->n_hier_hidden < 0 || c->n_hier_hidden > ELBO_VAE_MAX_HIER)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: expected 0..%d hidden layers between stochastic layers, got %d",
                         ELBO_VAE_MAX_HIER, c->n_hier_hidden);
    for (int i = 0; i < c->n_hier_hidden; i++)
        if (c->hier_hidden[i] < 1)
            return elbo_fail(ELBO_ERR_INVALID, "vae config: hidden layer %d between stochastic layers: expected "
                             "width >= 1, got %d", i, c->hier_hidden[i]);
    return ELBO_OK;
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
    if (!elbo_vae_posterior(c->posterior) || !elbo_vae_prior(c->prior))
        return elbo_fail(ELBO_ERR_INVALID, "vae config: unknown posterior %d or prior %d", c->posterior, c->prior);
    if (c->flow_steps < 0 || c->flow_steps > ELBO_VAE_MAX_FLOW_STEPS || c->flow_hidden < 0 ||
        c->flow_hidden > ELBO_VAE_MAX_FLOW_HIDDEN)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: expected 0..%d flow steps and 0..%d flow hidden units, got "
                         "%d and %d", ELBO_VAE_MAX_FLOW_STEPS, ELBO_VAE_MAX_FLOW_HIDDEN, c->flow_steps,
                         c->flow_hidden);
    const elbo_vae_prior_ops *prior = elbo_vae_prior(c->prior);
    if (prior->default_k > 0 && (c->prior_k < 1 || c->prior_k > ELBO_VAE_PRIOR_K_MAX))
        return elbo_fail(ELBO_ERR_INVALID, "vae config: the %s prior needs 1..%d components, got %d", prior->name,
                         ELBO_VAE_PRIOR_K_MAX, c->prior_k);
    if (prior->default_k == 0 && c->prior_k != 0)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: the %s prior has no components, got %d", prior->name,
                         c->prior_k);
    if (c->prior_squash < ELBO_VAE_SQUASH_NONE || c->prior_squash > ELBO_VAE_SQUASH_HARDTANH)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: unknown pseudo-input squashing %d", c->prior_squash);
    if ((unsigned)c->arch > ELBO_VAE_ARCH_CONV || c->n_layers < 0 || c->n_layers > ELBO_VAE_MAX_HIDDEN)
        return elbo_fail(ELBO_ERR_INVALID, "vae config: unknown architecture %d or %d layers", (int)c->arch,
                         c->n_layers);
    return check_hier(c);
}

int elbo_vae_add_param(elbo_vae *m, const char *name, int ndim, const int *dims, int fan_in, float fill)
{
    if (m->params.count >= ELBO_VAE_MAX_PARAMS)
        return -1;
    int id = elbo_params_add_nd(&m->params, name, ndim, dims);
    if (id >= 0) {
        m->init_fan_in[id] = fan_in;
        m->init_fill[id] = fill;
    }
    return id;
}

elbo_status elbo_vae_create(elbo_vae *m, const elbo_vae_config *cfg, elbo_rng *rng)
{
    memset(m, 0, sizeof *m);
    elbo_status st = check_config(cfg);
    if (st != ELBO_OK)
        return st;
    m->cfg = *cfg;
    m->lik_logvar = -1;
    for (int i = 0; i < ELBO_VAE_MAX_PART_PARAMS; i++)
        m->post_ids[i] = m->prior_ids[i] = m->lik_ids[i] = -1;
    if ((st = vae_net_plan(m)) != ELBO_OK)
        return st;
    elbo_params *p = &m->params;
    elbo_params_init(p);

    /* Registration order fixes the slab layout and the order of init draws,
     * which is part of what makes a seed reproducible: the networks, then
     * the likelihood's, the posterior's and the prior's own parameters. */
    const elbo_vae_likelihood_ops *lik = elbo_vae_likelihood(m->cfg.lik);
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(m->cfg.posterior);
    const elbo_vae_prior_ops *prior = elbo_vae_prior(m->cfg.prior);
    st = vae_net_register(m);
    if (st == ELBO_OK && lik->add_params)
        st = lik->add_params(m);
    if (st == ELBO_OK && post->add_params)
        st = post->add_params(m);
    if (st == ELBO_OK && prior->add_params)
        st = prior->add_params(m);
    if (st == ELBO_OK)
        st = elbo_params_finalize(p);
    if (st != ELBO_OK) {
        elbo_params_free(p);
        return st;
    }
    for (int i = 0; i < p->count; i++) {
        if (m->init_fan_in[i] > 0)
            elbo_params_init_uniform_fan_in(p, i, m->init_fan_in[i], rng);
        else
            elbo_params_fill(p, i, m->init_fill[i]);
    }
    if (prior->init_params && (st = prior->init_params(m, rng)) != ELBO_OK) {
        elbo_params_free(p);
        return st;
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

