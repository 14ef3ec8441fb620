/* The model-specific half of safetensors I/O: which slice of which
 * parameter each PyTorch tensor is (the table in vae_safetensors.h). */
#include "models/vae/vae_safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/excerpt.h"
#include "models/io/safetensors.h"

#define MAX_PIECES (4 * ELBO_VAE_MAX_HIDDEN + 8)
#define PIECE_NAME 48

/* One tensor of the state_dict: columns c0..c1 of parameter id, a weight
 * (transposed to (out, in)) or a bias / vector. */
typedef struct piece {
    char name[PIECE_NAME];
    int id, c0, c1;
    int weight;
} piece;

static int pieces(const elbo_vae *m, piece *p)
{
    const elbo_vae_config *c = &m->cfg;
    int n = 0, Z = c->z_dim, H = c->n_hidden;
#define ADD(ID, C0, C1, W, ...)                                                                                       \
    do {                                                                                                              \
        snprintf(p[n].name, PIECE_NAME, __VA_ARGS__);                                                                 \
        p[n].id = (ID), p[n].c0 = (C0), p[n].c1 = (C1), p[n].weight = (W);                                            \
        n++;                                                                                                          \
    } while (0)
    for (int i = 0; i < H; i++) {
        ADD(m->enc_w[i], 0, c->hidden[i], 1, "encoder.%d.weight", 2 * i);
        ADD(m->enc_b[i], 0, c->hidden[i], 0, "encoder.%d.bias", 2 * i);
    }
    ADD(m->head_w, 0, Z, 1, "fc_mu.weight");
    ADD(m->head_b, 0, Z, 0, "fc_mu.bias");
    ADD(m->head_w, Z, 2 * Z, 1, "fc_logvar.weight");
    ADD(m->head_b, Z, 2 * Z, 0, "fc_logvar.bias");
    for (int i = 0; i < H; i++) {
        int width = c->hidden[H - 1 - i];
        ADD(m->dec_w[i], 0, width, 1, "decoder.%d.weight", 2 * i);
        ADD(m->dec_b[i], 0, width, 0, "decoder.%d.bias", 2 * i);
    }
    ADD(m->out_w, 0, c->x_dim, 1, "decoder.%d.weight", 2 * H);
    ADD(m->out_b, 0, c->x_dim, 0, "decoder.%d.bias", 2 * H);
    if (m->lik_logvar >= 0)
        ADD(m->lik_logvar, 0, c->x_dim, 0, "lik_logvar");
#undef ADD
    return n;
}

/* PyTorch shape of a piece: (out, in) for a weight, (out) otherwise. */
static int piece_shape(const elbo_vae *m, const piece *p, uint64_t *shape)
{
    shape[0] = (uint64_t)(p->c1 - p->c0);
    if (!p->weight)
        return 1;
    shape[1] = (uint64_t)m->params.info[p->id].rows;
    return 2;
}

/* dst[o][i] (PyTorch order) from / to the parameter w (rows, cols). */
static void gather_piece(const elbo_vae *m, const piece *p, const float *w, float *dst)
{
    int rows = m->params.info[p->id].rows, cols = m->params.info[p->id].cols, out = p->c1 - p->c0;
    for (int o = 0; o < out; o++) {
        if (!p->weight) {
            dst[o] = w[p->c0 + o];
            continue;
        }
        for (int i = 0; i < rows; i++)
            dst[(size_t)o * rows + i] = w[(size_t)i * cols + p->c0 + o];
    }
}

static void scatter_piece(const elbo_vae *m, const piece *p, const float *src, float *w)
{
    int rows = m->params.info[p->id].rows, cols = m->params.info[p->id].cols, out = p->c1 - p->c0;
    for (int o = 0; o < out; o++) {
        if (!p->weight) {
            w[p->c0 + o] = src[o];
            continue;
        }
        for (int i = 0; i < rows; i++)
            w[(size_t)i * cols + p->c0 + o] = src[(size_t)o * rows + i];
    }
}

static size_t piece_count(const elbo_vae *m, const piece *p)
{
    return (size_t)(p->c1 - p->c0) * (p->weight ? (size_t)m->params.info[p->id].rows : 1);
}

elbo_status elbo_vae_save_safetensors(const elbo_vae *m, const char *path)
{
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
        gather_piece(m, &p[i], elbo_param_w(&m->params, p[i].id), buf + at);
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
        uint64_t want[2];
        int nd = piece_shape(m, &p[i], want);
        char a[64], b[64];
        shape_text(want, nd, a, sizeof a);
        if (!t) {
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: no tensor '%s' %s: the file is not of this model's architecture",
                           path, p[i].name, a);
            break;
        }
        shape_text(t->shape, t->ndim, b, sizeof b);
        if (t->ndim != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1])) {
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
            scatter_piece(m, &p[i], tmp, w + m->params.info[p[i].id].offset);
    }
    /* Nothing in the file may be left over: a larger model is not this one. */
    for (size_t i = 0; i < f.n && st == ELBO_OK; i++) {
        int used = 0;
        for (int k = 0; k < n && !used; k++)
            used = strcmp(f.t[i].name, p[k].name) == 0;
        if (!used) {
            char shown[ELBO_EXCERPT_MAX + 1];
            st = elbo_fail(ELBO_ERR_MISMATCH, "%s: tensor '%s' has no place in this model (%d hidden layers%s)", path,
                           elbo_excerpt(shown, sizeof shown, f.t[i].name, strlen(f.t[i].name)), m->cfg.n_hidden,
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
