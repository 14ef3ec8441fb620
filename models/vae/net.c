/* The encoder and decoder networks from the layer list of the config.
 *
 * The encoder runs the layers in order (a convolution on an NHWC image, a
 * dense layer on the flattened activation), each followed by the hidden
 * activation, then the posterior head: one dense layer to the posterior's
 * parameters (2Z for the diagonal Gaussian: mu and log sigma^2 share one
 * GEMM). The decoder mirrors it: a dense layer from z to the last hidden
 * activation's size, then each encoder layer's inverse from its output back
 * to its input (dense, or the transposed convolution of the same geometry,
 * with the output padding that restores the exact size: the remainder the
 * convolution's floor dropped), the last one (out)
 * without an activation: the likelihood's parameters in the input's shape.
 * A conditional model's one-hot class joins the encoder at its first dense
 * layer (or the head) and the decoder at its first layer. */
#include "models/vae/component.h"
#include "models/vae/hier.h"
#include "models/vae/vae_internal.h"

#include <stdio.h>

static int flat(elbo_vae_act_shape s) { return s.h ? s.h * s.w * s.c : s.c; }

elbo_status vae_net_plan(elbo_vae *m)
{
    const elbo_vae_config *c = &m->cfg;
    elbo_vae_net *n = &m->net;
    memset(n, 0, sizeof *n);
    if (c->arch == ELBO_VAE_ARCH_MLP) {
        n->n = c->n_hidden;
        for (int i = 0; i < n->n; i++)
            n->layer[i] = (elbo_vae_layer){ELBO_VAE_LAYER_DENSE, c->hidden[i], 0, 0, 0};
        n->in[0] = (elbo_vae_act_shape){0, 0, c->x_dim};
    } else {
        n->n = c->n_layers;
        memcpy(n->layer, c->layers, sizeof c->layers);
        if (c->image_h < 1 || c->image_w < 1 || c->image_c < 1 ||
            (long)c->image_h * c->image_w * c->image_c != c->x_dim)
            return elbo_fail(ELBO_ERR_INVALID, "vae config: a convolutional encoder needs the input as an image: "
                             "%d x %d x %d does not hold the %d features", c->image_h, c->image_w, c->image_c,
                             c->x_dim);
        n->in[0] = (elbo_vae_act_shape){c->image_h, c->image_w, c->image_c};
    }
    n->y_at = n->n;
    for (int i = 0; i < n->n; i++) {
        const elbo_vae_layer *l = &n->layer[i];
        elbo_vae_act_shape s = n->in[i];
        if (l->kind == ELBO_VAE_LAYER_DENSE) {
            if (l->width < 1)
                return elbo_fail(ELBO_ERR_INVALID, "vae config: hidden layer %d: expected width >= 1, got %d", i,
                                 l->width);
            if (n->y_at == n->n)
                n->y_at = i;
            n->in[i + 1] = (elbo_vae_act_shape){0, 0, l->width};
            continue;
        }
        if (!s.h)
            return elbo_fail(ELBO_ERR_INVALID, "encoder layer %d (conv:%d:%d:%d): a convolution needs an image, "
                             "but its input is %d features after a dense layer", i + 1, l->width, l->k, l->stride,
                             s.c);
        elbo_conv2d_geom g;
        elbo_conv2d_opts o = ELBO_CONV2D_OPTS(l->stride, l->pad);
        if (l->width < 1 || elbo_conv2d_geom_init(&g, 1, s.h, s.w, s.c, l->k, l->k, l->width, &o) != ELBO_OK)
            return elbo_fail(ELBO_ERR_INVALID, "encoder layer %d (conv:%d:%d:%d:%d) does not fit its input "
                             "%d x %d x %d", i + 1, l->width, l->k, l->stride, l->pad, s.h, s.w, s.c);
        n->in[i + 1] = (elbo_vae_act_shape){g.oh, g.ow, l->width};
        /* The transposed convolution back: (oh-1) s - 2p + k + out_pad = h; out_pad is
         * the remainder the convolution's floor dropped, so 0 <= out_pad < s always. */
        n->out_pad_h[i] = s.h - ((g.oh - 1) * l->stride - 2 * l->pad + l->k);
        n->out_pad_w[i] = s.w - ((g.ow - 1) * l->stride - 2 * l->pad + l->k);
    }
    return ELBO_OK;
}

/* Register a layer's weight and bias: dense (in, out), (1, out); conv
 * (K, K, Cin, Cout), (1, Cout); transposed conv (K, K, Cout, Cin), (1, Cout).
 * fan_in as PyTorch's default init: in, K K Cin, K K Cout respectively. */
static elbo_status add_layer(elbo_vae *m, const char *name, int kind, int in, int out, int k, int *w, int *b)
{
    char nm[ELBO_PARAM_NAME_MAX];
    int fan_in = kind == 0 ? in : kind == 1 ? k * k * in : k * k * out;
    int wd2[2] = {in, out}, wd4[4] = {k, k, kind == 2 ? out : in, kind == 2 ? in : out}, bd[2] = {1, out};
    snprintf(nm, sizeof nm, "%s.W", name);
    *w = kind == 0 ? elbo_vae_add_param(m, nm, 2, wd2, fan_in, 0.0f) : elbo_vae_add_param(m, nm, 4, wd4, fan_in, 0.0f);
    snprintf(nm, sizeof nm, "%s.b", name);
    *b = elbo_vae_add_param(m, nm, 2, bd, fan_in, 0.0f);
    if (*w < 0 || *b < 0)
        return elbo_fail(ELBO_ERR_INVALID, "vae create: could not register layer %s (%d -> %d)", name, in, out);
    return ELBO_OK;
}

enum { DENSE, CONV, CONVT };

elbo_status vae_net_register(elbo_vae *m)
{
    const elbo_vae_config *c = &m->cfg;
    const elbo_vae_net *n = &m->net;
    const int C = c->n_classes;
    elbo_status st = ELBO_OK;
    char name[32];
    for (int i = 0; i < n->n && st == ELBO_OK; i++) {
        snprintf(name, sizeof name, "enc%d", i);
        const elbo_vae_layer *l = &n->layer[i];
        if (l->kind == ELBO_VAE_LAYER_CONV)
            st = add_layer(m, name, CONV, n->in[i].c, l->width, l->k, &m->enc_w[i], &m->enc_b[i]);
        else
            st = add_layer(m, name, DENSE, flat(n->in[i]) + (n->y_at == i ? C : 0), l->width, 0, &m->enc_w[i],
                           &m->enc_b[i]);
    }
    if (st == ELBO_OK)
        st = add_layer(m, "head", DENSE, flat(n->in[n->n]) + (n->y_at == n->n ? C : 0),
                       elbo_vae_posterior(c->posterior)->head_size(elbo_vae_z1_dim(c)), 0, &m->head_w, &m->head_b);
    /* decoder layer j (and out, j = n) inverts encoder layer n - j, for j >= 1;
     * decoder layer 0 maps z (z1 of two stochastic layers) to the last hidden activation. */
    int in = elbo_vae_z1_dim(c) + C;
    for (int j = 0; j <= n->n && st == ELBO_OK; j++) {
        int *w = j < n->n ? &m->dec_w[j] : &m->out_w, *b = j < n->n ? &m->dec_b[j] : &m->out_b;
        if (j < n->n)
            snprintf(name, sizeof name, "dec%d", j);
        else
            snprintf(name, sizeof name, "out");
        if (j == 0) {
            st = add_layer(m, name, DENSE, in, flat(n->in[n->n]), 0, w, b);
            continue;
        }
        int i = n->n - j; /* the encoder layer mirrored */
        const elbo_vae_layer *l = &n->layer[i];
        if (l->kind == ELBO_VAE_LAYER_CONV)
            st = add_layer(m, name, CONVT, l->width, n->in[i].c, l->k, w, b);
        else
            st = add_layer(m, name, DENSE, l->width, flat(n->in[i]), 0, w, b);
    }
    return st;
}

elbo_node *vae_activation(elbo_tape *t, const elbo_vae_config *c, elbo_node *h)
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

/* h as (B, h, w, c) when s is an image, else as (B, features). */
static elbo_node *as_shape(elbo_tape *t, elbo_node *h, elbo_vae_act_shape s)
{
    if (!h)
        return NULL;
    if (s.h) {
        if (h->shape.ndim == 4)
            return h;
        int dims[4] = {h->rows, s.h, s.w, s.c};
        return elbo_ad_reshape(t, h, 4, dims);
    }
    return h->shape.ndim > 2 ? elbo_ad_flatten(t, h) : h;
}

static elbo_node *param(elbo_tape *t, elbo_vae *m, int id) { return elbo_ad_param(t, &m->params, id); }

elbo_node *vae_encoder_head(elbo_vae *m, elbo_tape *t, elbo_node *x, elbo_node *y)
{
    const elbo_vae_net *n = &m->net;
    elbo_node *h = as_shape(t, x, n->in[0]);
    for (int i = 0; i <= n->n; i++) {
        bool head = i == n->n;
        const elbo_vae_layer *l = &n->layer[i];
        int w = head ? m->head_w : m->enc_w[i], b = head ? m->head_b : m->enc_b[i];
        if (!head && l->kind == ELBO_VAE_LAYER_CONV) {
            elbo_conv2d_opts o = ELBO_CONV2D_OPTS(l->stride, l->pad);
            h = vae_activation(t, &m->cfg, elbo_ad_conv2d(t, h, param(t, m, w), param(t, m, b), &o));
            continue;
        }
        h = as_shape(t, h, (elbo_vae_act_shape){0, 0, 0});
        if (y && n->y_at == i)
            h = elbo_ad_concat_cols(t, h, y);
        h = elbo_ad_linear(t, h, param(t, m, w), param(t, m, b));
        if (!head)
            h = vae_activation(t, &m->cfg, h);
    }
    return h;
}

elbo_node *vae_decoder(elbo_vae *m, elbo_tape *t, elbo_node *z, elbo_node *y)
{
    const elbo_vae_net *n = &m->net;
    const int Z1 = elbo_vae_z1_dim(&m->cfg);
    if (z && z->cols > Z1) /* two stochastic layers: the decoder reads z1 */
        z = elbo_ad_slice_cols(t, z, 0, Z1);
    elbo_node *h = y ? elbo_ad_concat_cols(t, z, y) : z;
    for (int j = 0; j <= n->n; j++) {
        bool out = j == n->n;
        int w = out ? m->out_w : m->dec_w[j], b = out ? m->out_b : m->dec_b[j];
        int i = n->n - j; /* the encoder layer mirrored (j >= 1) */
        elbo_vae_act_shape target = n->in[i];
        if (j > 0 && n->layer[i].kind == ELBO_VAE_LAYER_CONV) {
            const elbo_vae_layer *l = &n->layer[i];
            elbo_conv2d_opts o = ELBO_CONV2D_OPTS(l->stride, l->pad);
            o.out_pad_h = n->out_pad_h[i];
            o.out_pad_w = n->out_pad_w[i];
            h = elbo_ad_conv_transpose2d(t, h, param(t, m, w), param(t, m, b), &o);
        } else {
            h = elbo_ad_linear(t, as_shape(t, h, (elbo_vae_act_shape){0, 0, 0}), param(t, m, w), param(t, m, b));
            h = as_shape(t, h, target);
        }
        if (!out)
            h = vae_activation(t, &m->cfg, h);
    }
    return h;
}
