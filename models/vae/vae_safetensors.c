/* The model-specific half of safetensors I/O: which slice of which
 * parameter each PyTorch tensor is (the table in vae_safetensors.h). */
#include "models/vae/vae_safetensors.h"
#include "models/vae/component.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/excerpt.h"
#include "models/io/safetensors.h"

#define MAX_PIECES (4 * ELBO_VAE_MAX_HIDDEN + 8 + ELBO_VAE_MAX_PART_PARAMS)
#define PIECE_NAME 48

enum { VEC, DENSE, CONV, CONVT, MAT };

/* One tensor of the state_dict: columns c0..c1 of parameter id. kind VEC
 * (a bias or vector), DENSE (a weight, transposed to (out, in)), CONV (ours
 * (K,K,Cin,Cout) as Conv2d's (Cout,Cin,K,K)), CONVT (ours (K,K,Cout,Cin) as
 * ConvTranspose2d's (Cin,Cout,K,K)), MAT (a learned prior's (rows, cols)
 * as it is, columns in CHW order when in_img is an image). A dense layer whose input (or output)
 * is an image flattens it in our HWC order; PyTorch flattens CHW: in_img
 * (out_img) is that image, h = 0 when the side is a plain vector. */
typedef struct piece {
    char name[PIECE_NAME];
    int id, c0, c1;
    int kind;
    elbo_vae_act_shape in_img, out_img;
} piece;

static const elbo_vae_act_shape plain = {0, 0, 0};

static elbo_vae_act_shape image_or_plain(elbo_vae_act_shape s) { return s.h ? s : plain; }

static int pieces(const elbo_vae *m, piece *p)
{
    const elbo_vae_config *c = &m->cfg;
    const elbo_vae_net *net = &m->net;
    int n = 0, Z = c->z_dim, H = net->n;
#define ADD(ID, C0, C1, KIND, IN, OUT, ...)                                                                           \
    do {                                                                                                              \
        snprintf(p[n].name, PIECE_NAME, __VA_ARGS__);                                                                 \
        p[n].id = (ID), p[n].c0 = (C0), p[n].c1 = (C1), p[n].kind = (KIND), p[n].in_img = (IN), p[n].out_img = (OUT); \
        n++;                                                                                                          \
    } while (0)
    for (int i = 0; i < H; i++) {
        int w = net->layer[i].width;
        bool conv = net->layer[i].kind == ELBO_VAE_LAYER_CONV;
        ADD(m->enc_w[i], 0, w, conv ? CONV : DENSE, conv ? plain : image_or_plain(net->in[i]), plain,
            "encoder.%d.weight", 2 * i);
        ADD(m->enc_b[i], 0, w, VEC, plain, plain, "encoder.%d.bias", 2 * i);
    }
    elbo_vae_act_shape last = image_or_plain(net->in[H]);
    ADD(m->head_w, 0, Z, DENSE, last, plain, "fc_mu.weight");
    ADD(m->head_b, 0, Z, VEC, plain, plain, "fc_mu.bias");
    ADD(m->head_w, Z, 2 * Z, DENSE, last, plain, "fc_logvar.weight");
    ADD(m->head_b, Z, 2 * Z, VEC, plain, plain, "fc_logvar.bias");
    for (int j = 0; j <= H; j++) {
        int id_w = j < H ? m->dec_w[j] : m->out_w, id_b = j < H ? m->dec_b[j] : m->out_b;
        int i = H - j; /* the encoder layer mirrored, j >= 1 */
        bool convt = j > 0 && net->layer[i].kind == ELBO_VAE_LAYER_CONV;
        elbo_vae_act_shape target = j == 0 ? net->in[H] : net->in[i];
        elbo_vae_act_shape from = j == 0 ? plain : net->in[i + 1];
        int width = target.h ? (convt ? target.c : target.h * target.w * target.c) : target.c;
        ADD(id_w, 0, width, convt ? CONVT : DENSE, convt ? plain : image_or_plain(from),
            convt ? plain : image_or_plain(target), "decoder.%d.weight", 2 * j);
        ADD(id_b, 0, width, VEC, plain, convt ? plain : image_or_plain(target), "decoder.%d.bias", 2 * j);
    }
    if (m->lik_logvar >= 0)
        ADD(m->lik_logvar, 0, c->x_dim, VEC, plain, image_or_plain(net->in[0]), "lik_logvar");
    /* A learned prior's parameters under their own names (prior.logits,
     * prior.means, prior.logvars; prior.pseudo_inputs before squashing). */
    for (int k = 0; k < ELBO_VAE_MAX_PART_PARAMS && m->prior_ids[k] >= 0; k++) {
        const elbo_param_info *in = &m->params.info[m->prior_ids[k]];
        bool pixels = in->cols == c->x_dim && in->rows == c->prior_k && c->prior_k > 0 && strstr(in->name, "pseudo");
        ADD(m->prior_ids[k], 0, in->cols, MAT, pixels ? image_or_plain(net->in[0]) : plain, plain, "%s", in->name);
    }
#undef ADD
    return n;
}

/* PyTorch shape of a piece. */
static int piece_shape(const elbo_vae *m, const piece *p, uint64_t *shape)
{
    const elbo_param_info *in = &m->params.info[p->id];
    switch (p->kind) {
    case DENSE:
        shape[0] = (uint64_t)(p->c1 - p->c0);
        shape[1] = (uint64_t)in->rows;
        return 2;
    case CONV: /* ours (K,K,Cin,Cout) -> (Cout,Cin,K,K) */
        shape[0] = (uint64_t)in->dims[3], shape[1] = (uint64_t)in->dims[2];
        shape[2] = (uint64_t)in->dims[0], shape[3] = (uint64_t)in->dims[1];
        return 4;
    case CONVT: /* ours (K,K,Cout,Cin) -> (Cin,Cout,K,K) */
        shape[0] = (uint64_t)in->dims[3], shape[1] = (uint64_t)in->dims[2];
        shape[2] = (uint64_t)in->dims[0], shape[3] = (uint64_t)in->dims[1];
        return 4;
    case MAT:
        shape[0] = (uint64_t)in->rows;
        shape[1] = (uint64_t)in->cols;
        return 2;
    default:
        shape[0] = (uint64_t)(p->c1 - p->c0);
        return 1;
    }
}

static size_t piece_count(const elbo_vae *m, const piece *p)
{
    uint64_t s[4];
    int nd = piece_shape(m, p, s);
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= (size_t)s[d];
    return n;
}

/* Index k of an HWC-flattened image s in PyTorch's CHW flattening (a plain vector: k). */
static size_t chw(elbo_vae_act_shape s, size_t k)
{
    if (!s.h || k >= (size_t)s.h * (size_t)s.w * (size_t)s.c) /* a plain vector, or the class after the image */
        return k;
    size_t c = k % (size_t)s.c, px = k / (size_t)s.c;
    return c * (size_t)s.h * (size_t)s.w + px;
}

/* Visit every element of a piece: ours (index into the parameter w) and
 * the PyTorch index into the piece's tensor; copy one way or the other. */
static void map_piece(const elbo_vae *m, const piece *p, float *w, float *pt, bool to_pt)
{
    const elbo_param_info *in = &m->params.info[p->id];
    size_t rows = (size_t)in->rows, cols = (size_t)in->cols;
#define COPY(OURS, PT) (to_pt ? (void)(pt[(PT)] = w[(OURS)]) : (void)(w[(OURS)] = pt[(PT)]))
    if (p->kind == VEC) {
        for (int o = p->c0; o < p->c1; o++)
            COPY((size_t)o, chw(p->out_img, (size_t)(o - p->c0)));
    } else if (p->kind == MAT) {
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++)
                COPY(i * cols + j, i * cols + chw(p->in_img, j));
    } else if (p->kind == DENSE) {
        for (size_t i = 0; i < rows; i++)
            for (int o = p->c0; o < p->c1; o++)
                COPY(i * cols + (size_t)o, chw(p->out_img, (size_t)(o - p->c0)) * rows + chw(p->in_img, i));
    } else {
        /* CONV: ours [ky][kx][a][b] with a = Cin, b = Cout -> [b][a][ky][kx];
         * CONVT: ours [ky][kx][a][b] with a = Cout, b = Cin -> [b][a][ky][kx]: the same permutation. */
        size_t K = (size_t)in->dims[0], K2 = (size_t)in->dims[1], A = (size_t)in->dims[2], B = (size_t)in->dims[3];
        for (size_t ky = 0; ky < K; ky++)
            for (size_t kx = 0; kx < K2; kx++)
                for (size_t a = 0; a < A; a++)
                    for (size_t b = 0; b < B; b++)
                        COPY(((ky * K2 + kx) * A + a) * B + b, ((b * A + a) * K + ky) * K2 + kx);
    }
#undef COPY
}

/* The PyTorch layout has one stochastic layer; the hierarchy's networks have no place in it. */
static elbo_status one_layer(const elbo_vae *m, const char *path)
{
    if (m->cfg.stochastic_layers == 2)
        return elbo_fail(ELBO_ERR_UNSUPPORTED, "%s: safetensors in the PyTorch layout hold one stochastic layer, "
                         "not two", path);
    return ELBO_OK;
}

/* The PyTorch MLPVAE and ConvVAE have a diagonal Gaussian head (fc_mu,
 * fc_logvar) and no other posterior: another family is refused, not
 * written with its head or its own parameters left out. */
static elbo_status check_posterior(const elbo_vae *m, const char *path)
{
    if (m->cfg.posterior == ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN)
        return ELBO_OK;
    const elbo_vae_posterior_ops *q = elbo_vae_posterior(m->cfg.posterior);
    return elbo_fail(ELBO_ERR_INVALID, "%s: safetensors holds the PyTorch MLPVAE/ConvVAE, whose posterior is the "
                     "diagonal Gaussian; the %s posterior has no tensors there (use the checkpoint)", path,
                     q ? q->name : "?");
}

elbo_status elbo_vae_save_safetensors(const elbo_vae *m, const char *path)
{
    if (one_layer(m, path) != ELBO_OK)
        return ELBO_ERR_UNSUPPORTED;
    elbo_status pst = check_posterior(m, path);
    if (pst != ELBO_OK)
        return pst;
    piece p[MAX_PIECES];
    int n = pieces(m, p);
    elbo_st_out out[MAX_PIECES];
    float *buf = malloc(m->params.n * sizeof(float));
    if (!buf)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", path);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].name = p[i].name;
        out[i].ndim = piece_shape(m, &p[i], out[i].shape);
        out[i].data = buf + at;
        map_piece(m, &p[i], elbo_param_w(&m->params, p[i].id), buf + at, true);
        at += piece_count(m, &p[i]);
    }
    char arch[1024];
    elbo_vae_config_json(&m->cfg, arch, sizeof arch);
    const char *keys[2] = {"format", "elbo.arch"}, *values[2] = {"pt", arch};
    elbo_status st = elbo_safetensors_write(path, out, (size_t)n, keys, values, 2);
    free(buf);
    return st;
}

static void shape_text(const uint64_t *s, int nd, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < nd && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%llu", d ? ", " : "", (unsigned long long)s[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, "%s)", nd == 1 ? "," : "");
}

elbo_status elbo_vae_load_safetensors(elbo_vae *m, const char *path)
{
    if (one_layer(m, path) != ELBO_OK)
        return ELBO_ERR_UNSUPPORTED;
    elbo_status pst = check_posterior(m, path);
    if (pst != ELBO_OK)
        return pst;
    elbo_safetensors f;
    elbo_status st = elbo_safetensors_open(path, &f);
    if (st != ELBO_OK)
        return st;
    piece p[MAX_PIECES];
    int n = pieces(m, p);
    float *w = malloc(m->params.n * sizeof(float)), *tmp = malloc(m->params.n * sizeof(float));
    if (!w || !tmp)
        st = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", path);
    else
        memcpy(w, m->params.w, m->params.n * sizeof(float));
    for (int i = 0; i < n && st == ELBO_OK; i++) {
        const elbo_st_tensor *t = elbo_safetensors_find(&f, p[i].name);
        uint64_t want[4];
        int nd = piece_shape(m, &p[i], want);
        char a[64], b[64];
        shape_text(want, nd, a, sizeof a);
        if (!t) {
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: no tensor '%s' %s: the file is not of this model's architecture",
                           path, p[i].name, a);
            break;
        }
        shape_text(t->shape, t->ndim, b, sizeof b);
        bool same = t->ndim == nd;
        for (int d = 0; same && d < nd; d++)
            same = t->shape[d] == want[d];
        if (!same) {
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: tensor '%s' is %s, the model expects %s", path, p[i].name, b, a);
            break;
        }
        if ((st = elbo_safetensors_read_f32(&f, t, tmp)) != ELBO_OK)
            break;
        for (size_t k = 0; k < t->count; k++)
            if (!isfinite(tmp[k])) {
                st = elbo_fail(ELBO_ERR_NONFINITE, "%s: tensor '%s': element %zu is %g", path, p[i].name, k,
                               (double)tmp[k]);
                break;
            }
        if (st == ELBO_OK)
            map_piece(m, &p[i], w + m->params.info[p[i].id].offset, tmp, false);
    }
    /* Nothing in the file may be left over: a larger model is not this one. */
    for (size_t i = 0; i < f.n && st == ELBO_OK; i++) {
        int used = 0;
        for (int k = 0; k < n && !used; k++)
            used = strcmp(f.t[i].name, p[k].name) == 0;
        if (!used) {
            char shown[ELBO_EXCERPT_MAX + 1];
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: tensor '%s' has no place in this model (%d hidden layers%s)", path,
                           elbo_excerpt(shown, sizeof shown, f.t[i].name, strlen(f.t[i].name)), m->net.n,
                           m->lik_logvar >= 0 ? ", learned variance" : "");
        }
    }
    if (st == ELBO_OK)
        memcpy(m->params.w, w, m->params.n * sizeof(float));
    free(w);
    free(tmp);
    elbo_safetensors_close(&f);
    return st;
}
