/* Evaluation and generation: ELBO over a data set, the importance-weighted
 * log-likelihood (17.28), active units, encode/decode/reconstruct, sampling
 * from the prior and from the aggregated posterior (17.8.2).
 *
 * Everything runs with gradients off, in chunks of eval_batch rows: one tape
 * reset per chunk, so memory stays at one chunk's activations and GEMMs see
 * tall matrices. Each function resets the caller's tape.
 *
 * The rows come from a source: float arrays x (N, D) and one-hot y (N, C),
 * or an elbo_dataset whose rows are converted chunk by chunk into the
 * tape's arena (labels one-hot from ds->y), so evaluating a data set never
 * makes a float copy of it. Both give the same floats, hence the same bits. */
#include "models/vae/vae.h"
#include "models/vae/vae_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_EVAL_BATCH 1000

typedef struct nograd {
    elbo_tape *t;
    bool was;
} nograd;

static nograd nograd_begin(elbo_tape *t)
{
    nograd g = {t, elbo_tape_grad_enabled(t)};
    elbo_tape_set_grad(t, false);
    return g;
}

static elbo_status nograd_end(nograd g, elbo_status st)
{
    elbo_tape_reset(g.t);
    elbo_tape_set_grad(g.t, g.was);
    return st;
}

static size_t chunk_rows(int eval_batch) { return eval_batch > 0 ? (size_t)eval_batch : DEFAULT_EVAL_BATCH; }

static const float *row(const float *a, size_t i, int cols) { return a ? a + i * (size_t)cols : NULL; }

/* Where the rows come from: arrays, or a data set from example `first` on. */
typedef struct source {
    const float *x, *y;
    const elbo_dataset *ds;
    size_t first;
} source;

static source arrays(const float *x, const float *y) { return (source){x, y, NULL, 0}; }
static source dataset(const elbo_dataset *ds, size_t first) { return (source){NULL, NULL, ds, first}; }

/* Labels lab (b) as one-hot rows y (b, C). */
static void one_hot_rows(const uint8_t *lab, size_t b, int C, float *y)
{
    memset(y, 0, b * (size_t)C * sizeof(float));
    for (size_t r = 0; r < b; r++)
        if (lab[r] < C)
            y[r * (size_t)C + lab[r]] = 1.0f;
}

/* Rows i..i+b of the source: pointers into the arrays, or the data set's
 * rows converted into the tape's arena (valid until the next reset). idx,
 * if not NULL, lists the b rows to take instead of a range. */
static elbo_status source_rows(const elbo_vae *m, elbo_tape *t, const source *s, size_t i, size_t b,
                               const size_t *idx, const float **x, const float **y)
{
    const int D = m->cfg.x_dim, C = m->cfg.n_classes;
    *y = NULL;
    if (!s->ds && !idx) {
        *x = row(s->x, i, D);
        *y = C ? row(s->y, i, C) : NULL;
        return ELBO_OK;
    }
    float *xb = elbo_tape_alloc(t, b * (size_t)D), *yb = C ? elbo_tape_alloc(t, b * (size_t)C) : NULL;
    uint8_t *lab = s->ds && C ? (uint8_t *)elbo_tape_alloc(t, (b + 3) / 4) : NULL;
    elbo_status st = elbo_tape_status(t);
    if (st != ELBO_OK)
        return st;
    for (size_t r = 0; r < b; r++) {
        size_t k = idx ? idx[r] : i + r;
        if (s->ds) {
            elbo_dataset_rows(s->ds, s->first + k, 1, xb + r * (size_t)D, lab ? lab + r : NULL);
        } else {
            memcpy(xb + r * (size_t)D, s->x + k * (size_t)D, (size_t)D * sizeof(float));
            if (C)
                memcpy(yb + r * (size_t)C, s->y + k * (size_t)C, (size_t)C * sizeof(float));
        }
    }
    if (lab)
        one_hot_rows(lab, b, C, yb);
    *x = xb;
    *y = yb;
    return ELBO_OK;
}

static elbo_status check_source(const elbo_vae *m, const source *s, size_t N, const char *what)
{
    if (s->ds) {
        if (s->ds->d != (size_t)m->cfg.x_dim)
            return elbo_fail(ELBO_ERR_INVALID, "vae %s: expected data of %d features, got %zu", what, m->cfg.x_dim,
                             s->ds->d);
        if (m->cfg.n_classes > 0 && (!s->ds->y || s->ds->classes > m->cfg.n_classes))
            return elbo_fail(ELBO_ERR_INVALID, "vae %s: a conditional model of %d classes needs labels below %d", what,
                             m->cfg.n_classes, m->cfg.n_classes);
        if (s->first > s->ds->n || N > s->ds->n - s->first)
            return elbo_fail(ELBO_ERR_INVALID, "vae %s: rows %zu..%zu beyond the %zu examples", what, s->first,
                             s->first + N, s->ds->n);
        return ELBO_OK;
    }
    if (!s->x)
        return elbo_fail(ELBO_ERR_INVALID, "vae %s: x is NULL", what);
    if (m->cfg.n_classes > 0 && !s->y)
        return elbo_fail(ELBO_ERR_INVALID, "vae %s: a conditional model needs labels", what);
    return ELBO_OK;
}

/* The posterior's parameters of b rows x (b, D) with labels y (b, C) for a
 * conditional model; returns the mean, *lv the log-variance. */
static elbo_node *encode_q(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t b, elbo_vae_qparams *q)
{
    const int D = m->cfg.x_dim, C = m->cfg.n_classes;
    if (vae_encode_q(m, t, elbo_ad_input(t, (int)b, D, x), C ? elbo_ad_input(t, (int)b, C, y) : NULL, q) != ELBO_OK)
        return NULL;
    return q->mu;
}

static elbo_node *encode_rows(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t b, elbo_node **lv)
{
    elbo_vae_qparams q;
    elbo_node *mu = encode_q(m, t, x, y, b, &q);
    *lv = q.logvar;
    return mu;
}

/* The rows of every parameter node of q replicated K times each (row r*K + k
 * = row r): constants, so only for evaluation with gradients off. */
static elbo_status replicate_q(elbo_tape *t, const elbo_vae_qparams *q, int K, elbo_vae_qparams *out)
{
    *out = *q;
    elbo_node **in[2 + ELBO_VAE_Q_EXTRA] = {&out->mu, &out->logvar};
    for (int i = 0; i < q->n_extra; i++)
        in[2 + i] = &out->extra[i];
    for (int i = 0; i < 2 + q->n_extra; i++) {
        elbo_node *a = *in[i];
        size_t rows = (size_t)a->rows, cols = (size_t)a->cols;
        float *v = elbo_tape_alloc(t, rows * (size_t)K * cols);
        if (!v)
            return elbo_tape_status(t);
        for (size_t r = 0; r < rows; r++)
            for (int k = 0; k < K; k++)
                memcpy(v + (r * (size_t)K + (size_t)k) * cols, a->x + r * cols, cols * sizeof(float));
        *in[i] = elbo_ad_input(t, (int)(rows * (size_t)K), (int)cols, v);
    }
    return elbo_tape_status(t);
}

static elbo_status evaluate(elbo_vae *m, elbo_tape *t, const source *src, size_t N, int eval_batch, elbo_rng *rng,
                            elbo_vae_eval *out)
{
    memset(out, 0, sizeof *out);
    elbo_status st = check_source(m, src, N, "evaluate");
    if (st != ELBO_OK || N == 0)
        return st;
    const size_t cb = chunk_rows(eval_batch);
    nograd g = nograd_begin(t);
    elbo_vae_objective obj = ELBO_VAE_OBJECTIVE_DEFAULT;
    double rec = 0.0, kl = 0.0;
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        elbo_tape_reset(t);
        elbo_node *loss;
        elbo_vae_batch_stats s;
        const float *x, *y;
        if ((st = source_rows(m, t, src, i, b, NULL, &x, &y)) != ELBO_OK)
            break;
        st = elbo_vae_loss(m, t, x, y, (int)b, &obj, rng, NULL, &loss, &s);
        rec += s.rec;
        kl += s.kl;
    }
    if (st == ELBO_OK) {
        out->rec = rec / (double)N;
        out->kl = kl / (double)N;
        out->neg_elbo = out->rec + out->kl;
    }
    return nograd_end(g, st);
}

elbo_status elbo_vae_evaluate(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N, int eval_batch,
                              elbo_rng *rng, elbo_vae_eval *out)
{
    source s = arrays(x, y);
    return evaluate(m, t, &s, N, eval_batch, rng, out);
}

elbo_status elbo_vae_evaluate_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int eval_batch, elbo_rng *rng,
                                   elbo_vae_eval *out)
{
    source s = dataset(ds, 0);
    return evaluate(m, t, &s, ds->n, eval_batch, rng, out);
}

/* Rows 0..b of x replicated K times each: out row (r*K + k) = x row r. */
static void replicate(const float *x, size_t b, int cols, int K, float *out)
{
    for (size_t r = 0; r < b; r++)
        for (int k = 0; k < K; k++)
            memcpy(out + (r * (size_t)K + (size_t)k) * (size_t)cols, x + r * (size_t)cols,
                   (size_t)cols * sizeof(float));
}

/* The log-weights (17.28) of k draws for each of the b rows x (b, D), y:
 * q's parameters and the rows replicated k times (row r*k + j is draw j of
 * row r), so the decoder runs one tall GEMM per layer. Returns the (b k, 1)
 * node. */
static elbo_node *iw_log_weights(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t b, int k,
                                 elbo_rng *rng)
{
    const int D = m->cfg.x_dim, C = m->cfg.n_classes;
    const size_t bk = b * (size_t)k;
    elbo_vae_qparams q, qk;
    float *xr = elbo_tape_alloc(t, bk * (size_t)D);
    float *yr = C ? elbo_tape_alloc(t, bk * (size_t)C) : NULL;
    if (!encode_q(m, t, x, y, b, &q) || elbo_tape_status(t) != ELBO_OK || replicate_q(t, &q, k, &qk) != ELBO_OK)
        return NULL;
    replicate(x, b, D, k, xr);
    if (C)
        replicate(y, b, C, k, yr);
    elbo_node *z = elbo_vae_posterior(m->cfg.posterior)->sample(t, m, &qk, rng, NULL);
    elbo_node *nll = vae_nll(m, t, vae_decoder(m, t, z, C ? elbo_ad_input(t, (int)bk, C, yr) : NULL),
                             elbo_ad_input(t, (int)bk, D, xr));
    return elbo_vae_log_weight(t, m, &qk, z, nll);
}

/* A running log-sum-exp in double: (mx, s) stands for mx + log s. */
typedef struct lse_acc {
    double mx, s;
} lse_acc;

static void lse_add(lse_acc *a, const float *w, int n)
{
    double mx = a->mx;
    for (int k = 0; k < n; k++)
        mx = w[k] > mx ? w[k] : mx;
    if (mx == -INFINITY)
        return;
    double s = a->s * exp(a->mx - mx); /* rescale what is in to the new maximum (a->s = 0 at the start) */
    for (int k = 0; k < n; k++)
        s += exp((double)w[k] - mx);
    a->mx = mx;
    a->s = s;
}

static double lse_value(const lse_acc *a) { return a->mx + log(a->s); }

/* Draws decoded at once: at most the chunk's rows, and even, so that the
 * draws of a row split into chunks take the same normals (drawn in pairs)
 * as one call for all K of them when Z is even. */
static int iw_draw_chunk(size_t cb)
{
    size_t kc = cb > 1 ? cb & ~(size_t)1 : 1;
    return kc > (size_t)INT32_MAX ? INT32_MAX : (int)kc;
}

/* The importance-weighted -log Pr(x) of each row: K draws per row, at most
 * chunk_rows(eval_batch) decoded at once whatever K is. When K fits a chunk,
 * floor(chunk / K) rows go together; otherwise one row at a time, its K draws
 * in chunks of kc (iw_draw_chunk) with a running log-sum-exp in double, the
 * row re-encoded per chunk (the tape is reset between chunks, so memory stays
 * at one chunk's activations for any K). Both ways draw each row's K Z
 * normals in the same order from rng: the same draws, the same numbers. */
static elbo_status iw_nll(elbo_vae *m, elbo_tape *t, const source *src, size_t N, int K, int eval_batch,
                          elbo_rng *rng, double *out, double *per_example)
{
    *out = 0.0;
    elbo_status st = check_source(m, src, N, "iw_nll");
    if (st != ELBO_OK)
        return st;
    if (K < 1 || !rng)
        return elbo_fail(ELBO_ERR_INVALID, "vae iw_nll: expected K >= 1 and an rng, got K = %d", K);
    const int D = m->cfg.x_dim, C = m->cfg.n_classes;
    const size_t rows = chunk_rows(eval_batch);
    const bool split = (size_t)K > rows;
    const size_t cb = split ? 1 : rows / (size_t)K;
    const int kc = split ? iw_draw_chunk(rows) : K;
    const double log_k = log((double)K);
    lse_acc *acc = malloc(cb * sizeof *acc);
    if (!acc)
        return elbo_fail(ELBO_ERR_NOMEM, "vae iw_nll: out of memory");
    nograd g = nograd_begin(t);
    double total = 0.0;
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        for (size_t r = 0; r < b; r++)
            acc[r] = (lse_acc){-INFINITY, 0.0};
        const float *x = NULL, *y = NULL;
        for (int k0 = 0; k0 < K && st == ELBO_OK; k0 += kc) {
            int k = K - k0 < kc ? K - k0 : kc;
            elbo_tape_reset(t);
            if ((st = source_rows(m, t, src, i, b, NULL, &x, &y)) != ELBO_OK)
                break;
            elbo_node *lw = iw_log_weights(m, t, x, y, b, k, rng);
            if ((st = elbo_tape_status(t)) != ELBO_OK)
                break;
            for (size_t r = 0; r < b; r++)
                lse_add(&acc[r], lw->x + r * (size_t)k, k);
        }
        for (size_t r = 0; r < b && st == ELBO_OK; r++) {
            double v = -(lse_value(&acc[r]) - log_k);
            st = vae_check_finite("iw_nll", v, row(x, r, D), row(y, r, C), 1, D, C);
            total += v;
            if (per_example)
                per_example[i + r] = v;
        }
    }
    free(acc);
    if (st == ELBO_OK && N > 0)
        *out = total / (double)N;
    return nograd_end(g, st);
}

elbo_status elbo_vae_iw_nll(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N, int K,
                            int eval_batch, elbo_rng *rng, double *out, double *per_example)
{
    source s = arrays(x, y);
    return iw_nll(m, t, &s, N, K, eval_batch, rng, out, per_example);
}

elbo_status elbo_vae_iw_nll_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int K, int eval_batch,
                                 elbo_rng *rng, double *out, double *per_example)
{
    source s = dataset(ds, 0);
    return iw_nll(m, t, &s, ds->n, K, eval_batch, rng, out, per_example);
}

/* What is done with each chunk's encoding: rows [i, i + b) of the source,
 * their labels y (or NULL) and the encoder's mu and logvar on the tape. */
typedef elbo_status (*encoded_fn)(elbo_vae *m, elbo_tape *t, size_t i, size_t b, const float *y, elbo_node *mu,
                                  elbo_node *lv, void *ctx);

/* The source's N rows through the encoder in chunks (no gradients), each
 * chunk then handed to fn. */
static elbo_status for_each_encoded(elbo_vae *m, elbo_tape *t, const source *src, size_t N, int eval_batch,
                                    const char *what, encoded_fn fn, void *ctx)
{
    elbo_status st = check_source(m, src, N, what);
    if (st != ELBO_OK)
        return st;
    const size_t cb = chunk_rows(eval_batch);
    nograd g = nograd_begin(t);
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        elbo_tape_reset(t);
        const float *x, *y;
        if ((st = source_rows(m, t, src, i, b, NULL, &x, &y)) != ELBO_OK)
            break;
        elbo_node *lv, *mu = encode_rows(m, t, x, y, b, &lv);
        if ((st = elbo_tape_status(t)) != ELBO_OK)
            break;
        st = fn(m, t, i, b, y, mu, lv, ctx);
    }
    return nograd_end(g, st);
}

struct codes_out {
    float *mu, *lv; /* (N, Z); lv may be NULL */
};

static elbo_status copy_codes(elbo_vae *m, elbo_tape *t, size_t i, size_t b, const float *y, elbo_node *mu,
                              elbo_node *lv, void *ctx)
{
    (void)t, (void)y;
    const struct codes_out *o = ctx;
    const size_t Z = (size_t)m->cfg.z_dim;
    memcpy(o->mu + i * Z, mu->x, b * Z * sizeof(float));
    if (o->lv)
        memcpy(o->lv + i * Z, lv->x, b * Z * sizeof(float));
    return ELBO_OK;
}

static elbo_status encode(elbo_vae *m, elbo_tape *t, const source *src, size_t N, int eval_batch, float *mu_out,
                          float *lv_out)
{
    struct codes_out o = {mu_out, lv_out};
    return for_each_encoded(m, t, src, N, eval_batch, "encode", copy_codes, &o);
}

elbo_status elbo_vae_encode(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N, int eval_batch,
                            float *mu_out, float *lv_out)
{
    source s = arrays(x, y);
    return encode(m, t, &s, N, eval_batch, mu_out, lv_out);
}

elbo_status elbo_vae_encode_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, size_t first, size_t N,
                                 int eval_batch, float *mu, float *logvar)
{
    source s = dataset(ds, first);
    return encode(m, t, &s, N, eval_batch, mu, logvar);
}

/* Decoder means of z (b, Z) into out: sigmoid of the logits for Bernoulli. */
static elbo_status decode_rows(elbo_vae *m, elbo_tape *t, const float *z, const float *y, size_t b, float *out)
{
    const int C = m->cfg.n_classes, Z = m->cfg.z_dim;
    elbo_node *o = vae_decoder(m, t, elbo_ad_input(t, (int)b, Z, z), C ? elbo_ad_input(t, (int)b, C, y) : NULL);
    o = elbo_vae_likelihood(m->cfg.lik)->mean(t, m, o);
    elbo_status st = elbo_tape_status(t);
    if (st == ELBO_OK)
        memcpy(out, o->x, b * (size_t)m->cfg.x_dim * sizeof(float));
    return st;
}

elbo_status elbo_vae_decode(elbo_vae *m, elbo_tape *t, const float *z, const float *y, size_t N, int eval_batch,
                            float *xmean)
{
    if (!z || (m->cfg.n_classes > 0 && !y))
        return elbo_fail(ELBO_ERR_INVALID, "vae decode: expected z and, for a conditional model, labels");
    const int D = m->cfg.x_dim, C = m->cfg.n_classes, Z = m->cfg.z_dim;
    const size_t cb = chunk_rows(eval_batch);
    nograd g = nograd_begin(t);
    elbo_status st = ELBO_OK;
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        elbo_tape_reset(t);
        st = decode_rows(m, t, row(z, i, Z), row(y, i, C), b, xmean + i * (size_t)D);
    }
    return nograd_end(g, st);
}

static elbo_status decode_means(elbo_vae *m, elbo_tape *t, size_t i, size_t b, const float *y, elbo_node *mu,
                                elbo_node *lv, void *ctx)
{
    (void)lv;
    return decode_rows(m, t, mu->x, y, b, (float *)ctx + i * (size_t)m->cfg.x_dim);
}

static elbo_status reconstruct(elbo_vae *m, elbo_tape *t, const source *src, size_t N, int eval_batch, float *out)
{
    return for_each_encoded(m, t, src, N, eval_batch, "reconstruct", decode_means, out);
}

elbo_status elbo_vae_reconstruct(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                                 int eval_batch, float *out)
{
    source s = arrays(x, y);
    return reconstruct(m, t, &s, N, eval_batch, out);
}

elbo_status elbo_vae_reconstruct_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, size_t first, size_t N,
                                      int eval_batch, float *out)
{
    source s = dataset(ds, first);
    return reconstruct(m, t, &s, N, eval_batch, out);
}

static elbo_status active_units(elbo_vae *m, elbo_tape *t, const source *src, size_t N, int eval_batch,
                                double threshold, int *active, double *var)
{
    *active = 0;
    elbo_status st = check_source(m, src, N, "active_units");
    if (st != ELBO_OK)
        return st;
    if (N < 1)
        return elbo_fail(ELBO_ERR_INVALID, "vae active_units: expected N >= 1");
    const int Z = m->cfg.z_dim;
    const size_t cb = chunk_rows(eval_batch);
    double *sum = calloc(2 * (size_t)Z, sizeof(double)), *sq = sum + Z;
    if (!sum)
        return elbo_fail(ELBO_ERR_NOMEM, "vae active_units: out of memory");
    nograd g = nograd_begin(t);
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        elbo_tape_reset(t);
        const float *x, *y;
        if ((st = source_rows(m, t, src, i, b, NULL, &x, &y)) != ELBO_OK)
            break;
        elbo_node *lv, *mu = encode_rows(m, t, x, y, b, &lv);
        if ((st = elbo_tape_status(t)) != ELBO_OK)
            break;
        /* E_q[z_j | x] is the encoder mean; its variance over the data set. */
        for (size_t r = 0; r < b; r++)
            for (int j = 0; j < Z; j++) {
                double v = mu->x[r * (size_t)Z + (size_t)j];
                sum[j] += v;
                sq[j] += v * v;
            }
    }
    if (st == ELBO_OK)
        for (int j = 0; j < Z; j++) {
            double mean = sum[j] / (double)N;
            double v = sq[j] / (double)N - mean * mean;
            v = v < 0.0 ? 0.0 : v;
            if (var)
                var[j] = v;
            *active += v > threshold;
        }
    free(sum);
    return nograd_end(g, st);
}

elbo_status elbo_vae_active_units(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t N,
                                  int eval_batch, double threshold, int *active, double *var)
{
    source s = arrays(x, y);
    return active_units(m, t, &s, N, eval_batch, threshold, active, var);
}

elbo_status elbo_vae_active_units_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, int eval_batch,
                                       double threshold, int *active, double *var)
{
    source s = dataset(ds, 0);
    return active_units(m, t, &s, ds->n, eval_batch, threshold, active, var);
}

elbo_status elbo_vae_sample_prior(elbo_vae *m, elbo_tape *t, const float *y, size_t N, elbo_rng *rng, float *out)
{
    if (!rng || (m->cfg.n_classes > 0 && !y))
        return elbo_fail(ELBO_ERR_INVALID, "vae sample_prior: expected an rng and, for a conditional "
                         "model, labels");
    const int D = m->cfg.x_dim, C = m->cfg.n_classes, Z = m->cfg.z_dim;
    const size_t cb = DEFAULT_EVAL_BATCH;
    nograd g = nograd_begin(t);
    elbo_status st = ELBO_OK;
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        elbo_tape_reset(t);
        float *z = elbo_tape_alloc(t, b * (size_t)Z);
        if ((st = elbo_tape_status(t)) != ELBO_OK)
            break;
        if ((st = elbo_vae_prior(m->cfg.prior)->sample(m, rng, z, b)) != ELBO_OK)
            break;
        st = decode_rows(m, t, z, row(y, i, C), b, out + i * (size_t)D);
    }
    return nograd_end(g, st);
}

static elbo_status sample_aggregate(elbo_vae *m, elbo_tape *t, const source *src, size_t Nx, size_t N,
                                    elbo_rng *rng, float *out, size_t *picked)
{
    elbo_status st = check_source(m, src, Nx, "sample_aggregate");
    if (st != ELBO_OK)
        return st;
    if (Nx < 1 || !rng)
        return elbo_fail(ELBO_ERR_INVALID, "vae sample_aggregate: expected data and an rng");
    const int D = m->cfg.x_dim;
    const size_t cb = DEFAULT_EVAL_BATCH;
    size_t *pick = malloc(cb * sizeof *pick);
    if (!pick)
        return elbo_fail(ELBO_ERR_NOMEM, "vae sample_aggregate: out of memory");
    nograd g = nograd_begin(t);
    for (size_t i = 0; i < N && st == ELBO_OK; i += cb) {
        size_t b = N - i < cb ? N - i : cb;
        elbo_tape_reset(t);
        /* The aggregated posterior is a uniform mixture over the data of
         * q(z|x_i): pick a component, then draw from it. */
        for (size_t r = 0; r < b; r++) {
            pick[r] = (size_t)elbo_rng_below(rng, Nx);
            if (picked)
                picked[i + r] = pick[r];
        }
        const float *xb, *yb;
        if ((st = source_rows(m, t, src, 0, b, pick, &xb, &yb)) != ELBO_OK)
            break;
        elbo_vae_qparams q;
        elbo_node *z = encode_q(m, t, xb, yb, b, &q) ? elbo_vae_posterior(m->cfg.posterior)->sample(t, m, &q, rng, NULL)
                                                     : NULL;
        if ((st = elbo_tape_status(t)) != ELBO_OK)
            break;
        st = decode_rows(m, t, z->x, yb, b, out + i * (size_t)D);
    }
    free(pick);
    return nograd_end(g, st);
}

elbo_status elbo_vae_sample_aggregate(elbo_vae *m, elbo_tape *t, const float *x, const float *y, size_t Nx,
                                      size_t N, elbo_rng *rng, float *out, size_t *picked)
{
    source s = arrays(x, y);
    return sample_aggregate(m, t, &s, Nx, N, rng, out, picked);
}

elbo_status elbo_vae_sample_aggregate_data(elbo_vae *m, elbo_tape *t, const elbo_dataset *ds, size_t N,
                                           elbo_rng *rng, float *out, size_t *picked)
{
    source s = dataset(ds, 0);
    return sample_aggregate(m, t, &s, ds->n, N, rng, out, picked);
}
