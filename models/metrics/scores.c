/* The classifier-based scores: beta-VAE (Higgins et al. 2017) and FactorVAE
 * (Kim & Mnih 2018), as disentanglement_lib's beta_vae.py and factor_vae.py,
 * over an elbo_code_source. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"

/* Newton's method stops when no parameter moves by more than this (relative). */
#define NEWTON_TOL 1e-13
#define NEWTON_MAX_ITERS 100
/* Ridge on the intercepts: picks the zero-sum one of the equivalent intercept vectors. */
#define INTERCEPT_L2 1e-8

elbo_betavae_opts elbo_betavae_defaults(void)
{
    return (elbo_betavae_opts){.batch = 64, .train = 10000, .eval = 5000, .l2 = 1.0};
}

elbo_factorvae_opts elbo_factorvae_defaults(void)
{
    return (elbo_factorvae_opts){.batch = 64, .train = 10000, .eval = 5000, .variance_points = 10000, .prune = 0.05};
}

static elbo_status check_source(const char *metric, const elbo_code_source *src)
{
    if (!src || !src->draw || !src->sizes || src->dim < 1 || src->count < 1)
        return elbo_fail(ELBO_ERR_INVALID, "%s: the code source needs draw, sizes, dim >= 1 and factors >= 1", metric);
    for (int k = 0; k < src->count; k++)
        if (src->sizes[k] < 1)
            return elbo_fail(ELBO_ERR_INVALID, "%s: factor %d has %d classes: expected at least 1", metric, k,
                             src->sizes[k]);
    return ELBO_OK;
}

/* Codes from the source must be finite (a NaN would vote or train silently). */
static elbo_status draw_codes(const char *metric, const elbo_code_source *src, elbo_rng *rng, int factor,
                              const int32_t *classes, size_t n, double *codes)
{
    elbo_status st = src->draw(src->ctx, rng, factor, classes, n, codes);
    if (st != ELBO_OK)
        return st;
    for (size_t i = 0; i < n * (size_t)src->dim; i++)
        if (!isfinite(codes[i]))
            return elbo_fail(ELBO_ERR_NONFINITE, "%s: code %zu of a drawn batch is %g: expected a finite number", metric,
                             i % (size_t)src->dim, codes[i]);
    return ELBO_OK;
}

/* ---- multinomial logistic regression ---- */

/* Weights (K, d + 1): row k is class k's weights then its intercept. */
typedef struct logreg {
    int d, K;
    double l2;
    double *theta;
} logreg;

/* Class scores of x (d) into s (K). */
static void logreg_scores(const logreg *m, const double *x, double *s)
{
    int p = m->d + 1;
    for (int k = 0; k < m->K; k++) {
        const double *t = m->theta + (size_t)k * (size_t)p;
        double v = t[m->d];
        for (int j = 0; j < m->d; j++)
            v += t[j] * x[j];
        s[k] = v;
    }
}

/* Softmax of s (K) in place; returns log sum exp. */
static double softmax(double *s, int K)
{
    double top = s[0], sum = 0;
    for (int k = 1; k < K; k++)
        top = s[k] > top ? s[k] : top;
    for (int k = 0; k < K; k++)
        sum += (s[k] = exp(s[k] - top));
    for (int k = 0; k < K; k++)
        s[k] /= sum;
    return top + log(sum);
}

static double penalty_weight(const logreg *m, int idx)
{
    return idx % (m->d + 1) == m->d ? INTERCEPT_L2 : m->l2;
}

/* Objective: sum_i -log p(y_i | x_i) + sum penalty/2 theta^2. */
static double logreg_objective(const logreg *m, const double *x, const int32_t *y, size_t n, double *s)
{
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        logreg_scores(m, x + i * (size_t)m->d, s);
        double label_score = s[y[i]];
        f += softmax(s, m->K) - label_score;
    }
    int P = m->K * (m->d + 1);
    for (int a = 0; a < P; a++)
        f += 0.5 * penalty_weight(m, a) * m->theta[a] * m->theta[a];
    return f;
}

/* Gradient g (P) and Hessian h (P, P) of the objective. */
static void logreg_derivatives(const logreg *m, const double *x, const int32_t *y, size_t n, double *s, double *g,
                               double *h)
{
    int p = m->d + 1, P = m->K * p;
    memset(g, 0, (size_t)P * sizeof *g);
    memset(h, 0, (size_t)P * (size_t)P * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * (size_t)m->d;
        logreg_scores(m, xi, s);
        softmax(s, m->K);
        for (int k = 0; k < m->K; k++) {
            double r = s[k] - (y[i] == k);
            for (int a = 0; a < p; a++)
                g[k * p + a] += r * (a < m->d ? xi[a] : 1.0);
            for (int l = 0; l <= k; l++) {
                double w = s[k] * ((k == l) - s[l]);
                for (int a = 0; a < p; a++) {
                    double xa = a < m->d ? xi[a] : 1.0;
                    for (int b = 0; b < p; b++)
                        h[(size_t)(k * p + a) * (size_t)P + (size_t)(l * p + b)] += w * xa * (b < m->d ? xi[b] : 1.0);
                }
            }
        }
    }
    for (int a = 0; a < P; a++) { /* mirror the lower block triangle, add the penalty */
        for (int b = 0; b < P; b++)
            if (b / p > a / p)
                h[(size_t)a * (size_t)P + (size_t)b] = h[(size_t)b * (size_t)P + (size_t)a];
        g[a] += penalty_weight(m, a) * m->theta[a];
        h[(size_t)a * (size_t)P + (size_t)a] += penalty_weight(m, a);
    }
}

/* Newton's method with backtracking from theta = 0 to the unique optimum
 * (the objective is strictly convex). */
static elbo_status logreg_fit(logreg *m, const double *x, const int32_t *y, size_t n)
{
    int P = m->K * (m->d + 1);
    double *g = metric_alloc("beta-VAE score", (size_t)P, sizeof *g);
    double *h = metric_alloc("beta-VAE score", (size_t)P * (size_t)P, sizeof *h);
    double *old = metric_alloc("beta-VAE score", (size_t)P, sizeof *old);
    double *s = metric_alloc("beta-VAE score", (size_t)m->K, sizeof *s);
    elbo_status st = g && h && old && s ? ELBO_OK : ELBO_ERR_NOMEM;
    double f = st == ELBO_OK ? logreg_objective(m, x, y, n, s) : 0;
    for (int it = 0; it < NEWTON_MAX_ITERS && st == ELBO_OK; it++) {
        logreg_derivatives(m, x, y, n, s, g, h);
        st = metric_cholesky_solve("beta-VAE score", h, P, g); /* g <- Newton step */
        if (st != ELBO_OK)
            break;
        memcpy(old, m->theta, (size_t)P * sizeof *old);
        double t = 1, f_new = f, moved = 0;
        for (int half = 0; half < 60; half++, t *= 0.5) {
            for (int a = 0; a < P; a++)
                m->theta[a] = old[a] - t * g[a];
            f_new = logreg_objective(m, x, y, n, s);
            if (f_new <= f)
                break;
        }
        if (!(f_new <= f)) { /* no descent left at double precision: at the optimum */
            memcpy(m->theta, old, (size_t)P * sizeof *old);
            break;
        }
        for (int a = 0; a < P; a++) {
            double rel = fabs(t * g[a]) / (1 + fabs(old[a]));
            moved = rel > moved ? rel : moved;
        }
        f = f_new;
        if (moved < NEWTON_TOL)
            break;
    }
    free(g), free(h), free(old), free(s);
    return st;
}

/* Fraction of x (n, d) whose arg-max class (lowest on ties) is y. */
static double logreg_accuracy(const logreg *m, const double *x, const int32_t *y, size_t n, double *s)
{
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        logreg_scores(m, x + i * (size_t)m->d, s);
        int best = 0;
        for (int k = 1; k < m->K; k++)
            if (s[k] > s[best])
                best = k;
        right += best == y[i];
    }
    return (double)right / (double)n;
}

/* ---- beta-VAE score ---- */

/* n points: labels y (n) and features x (n, dim). */
static elbo_status betavae_points(const elbo_code_source *src, const elbo_betavae_opts *o, elbo_rng *rng, size_t n,
                                  double *x, int32_t *y, int32_t *classes, double *za, double *zb)
{
    int d = src->dim;
    for (size_t i = 0; i < n; i++) {
        int k = (int)elbo_rng_below(rng, (uint64_t)src->count);
        for (size_t b = 0; b < o->batch; b++)
            classes[b] = (int32_t)elbo_rng_below(rng, (uint64_t)src->sizes[k]);
        elbo_status st = draw_codes("beta-VAE score", src, rng, k, classes, o->batch, za);
        if (st == ELBO_OK)
            st = draw_codes("beta-VAE score", src, rng, k, classes, o->batch, zb);
        if (st != ELBO_OK)
            return st;
        for (int j = 0; j < d; j++) {
            double sum = 0;
            for (size_t b = 0; b < o->batch; b++)
                sum += fabs(za[b * (size_t)d + (size_t)j] - zb[b * (size_t)d + (size_t)j]);
            x[i * (size_t)d + (size_t)j] = sum / (double)o->batch;
        }
        y[i] = k;
    }
    return ELBO_OK;
}

elbo_status elbo_betavae_score(const elbo_code_source *src, const elbo_betavae_opts *opts, uint64_t seed,
                               elbo_score_result *result)
{
    elbo_betavae_opts o = opts ? *opts : elbo_betavae_defaults();
    elbo_status st = check_source("beta-VAE score", src);
    if (st == ELBO_OK && (o.batch < 1 || o.train < 1 || o.eval < 1 || !(o.l2 > 0 && isfinite(o.l2))))
        st = elbo_fail(ELBO_ERR_INVALID, "beta-VAE score: batch %zu, train %zu, eval %zu, l2 %g: expected positive",
                       o.batch, o.train, o.eval, o.l2);
    if (st != ELBO_OK)
        return st;
    const char *what = "beta-VAE score";
    int d = src->dim;
    size_t most = o.train > o.eval ? o.train : o.eval;
    double *x = metric_alloc(what, most * (size_t)d, sizeof *x);
    int32_t *y = metric_alloc(what, most, sizeof *y), *classes = metric_alloc(what, o.batch, sizeof *classes);
    double *za = metric_alloc(what, o.batch * (size_t)d, sizeof *za), *zb = metric_alloc(what, o.batch * (size_t)d, sizeof *zb);
    double *s = metric_alloc(what, (size_t)src->count, sizeof *s);
    logreg m = {.d = d, .K = src->count, .l2 = o.l2,
                .theta = metric_alloc(what, (size_t)src->count * (size_t)(d + 1), sizeof(double))};
    if (!x || !y || !classes || !za || !zb || !s || !m.theta)
        st = ELBO_ERR_NOMEM;
    elbo_rng rng;
    elbo_rng_seed(&rng, seed);
    if (st == ELBO_OK)
        st = betavae_points(src, &o, &rng, o.train, x, y, classes, za, zb);
    if (st == ELBO_OK)
        st = logreg_fit(&m, x, y, o.train);
    if (st == ELBO_OK) {
        result->train_accuracy = logreg_accuracy(&m, x, y, o.train, s);
        st = betavae_points(src, &o, &rng, o.eval, x, y, classes, za, zb);
    }
    if (st == ELBO_OK) {
        result->eval_accuracy = logreg_accuracy(&m, x, y, o.eval, s);
        result->active_dims = d;
    }
    free(x), free(y), free(classes), free(za), free(zb), free(s), free(m.theta);
    return st;
}

/* ---- FactorVAE score ---- */

/* Sample variance (ddof 1) of each dimension of z (n, d) into var (d). */
static void variances(const double *z, size_t n, int d, double *var)
{
    for (int j = 0; j < d; j++) {
        double mean = 0, ss = 0;
        for (size_t i = 0; i < n; i++)
            mean += z[i * (size_t)d + (size_t)j];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double e = z[i * (size_t)d + (size_t)j] - mean;
            ss += e * e;
        }
        var[j] = ss / (double)(n - 1);
    }
}

typedef struct factorvae_state {
    const elbo_code_source *src;
    const elbo_factorvae_opts *o;
    const double *global_var;
    const uint8_t *active;
    double *z, *var;
    int32_t *classes;
} factorvae_state;

/* n points' votes into votes (count, dim), zeroed first. */
static elbo_status factorvae_votes(factorvae_state *f, elbo_rng *rng, size_t n, size_t *votes)
{
    const elbo_code_source *src = f->src;
    int d = src->dim;
    memset(votes, 0, (size_t)src->count * (size_t)d * sizeof *votes);
    for (size_t i = 0; i < n; i++) {
        int k = (int)elbo_rng_below(rng, (uint64_t)src->count);
        int32_t c = (int32_t)elbo_rng_below(rng, (uint64_t)src->sizes[k]);
        for (size_t b = 0; b < f->o->batch; b++)
            f->classes[b] = c;
        elbo_status st = draw_codes("FactorVAE score", src, rng, k, f->classes, f->o->batch, f->z);
        if (st != ELBO_OK)
            return st;
        variances(f->z, f->o->batch, d, f->var);
        int best = -1;
        for (int j = 0; j < d; j++)
            if (f->active[j] && (best < 0 || f->var[j] / f->global_var[j] < f->var[best] / f->global_var[best]))
                best = j;
        votes[(size_t)k * (size_t)d + (size_t)best]++;
    }
    return ELBO_OK;
}

/* Correct votes / all votes under the classifier (dim): factor per dimension. */
static double vote_accuracy(const size_t *votes, const int *classifier, int count, int d)
{
    size_t right = 0, all = 0;
    for (int j = 0; j < d; j++) {
        right += votes[(size_t)classifier[j] * (size_t)d + (size_t)j];
        for (int k = 0; k < count; k++)
            all += votes[(size_t)k * (size_t)d + (size_t)j];
    }
    return all ? (double)right / (double)all : 0;
}

elbo_status elbo_factorvae_score(const elbo_code_source *src, const elbo_factorvae_opts *opts, uint64_t seed,
                                 elbo_score_result *result)
{
    elbo_factorvae_opts o = opts ? *opts : elbo_factorvae_defaults();
    elbo_status st = check_source("FactorVAE score", src);
    if (st == ELBO_OK && (o.batch < 2 || o.train < 1 || o.eval < 1 || o.variance_points < 2 ||
                          !(o.prune >= 0 && isfinite(o.prune))))
        st = elbo_fail(ELBO_ERR_INVALID,
                       "FactorVAE score: batch %zu, train %zu, eval %zu, variance points %zu, prune %g: expected "
                       "batch >= 2, variance points >= 2, prune >= 0",
                       o.batch, o.train, o.eval, o.variance_points, o.prune);
    if (st != ELBO_OK)
        return st;
    const char *what = "FactorVAE score";
    int d = src->dim, K = src->count;
    size_t zrows = o.variance_points > o.batch ? o.variance_points : o.batch;
    double *global_var = metric_alloc(what, (size_t)d, sizeof(double));
    uint8_t *active = metric_alloc(what, (size_t)d, 1);
    size_t *votes = metric_alloc(what, (size_t)K * (size_t)d, sizeof *votes);
    int *classifier = metric_alloc(what, (size_t)d, sizeof *classifier);
    factorvae_state f = {.src = src, .o = &o, .global_var = global_var, .active = active,
                         .z = metric_alloc(what, zrows * (size_t)d, sizeof(double)),
                         .var = metric_alloc(what, (size_t)d, sizeof(double)),
                         .classes = metric_alloc(what, o.batch, sizeof(int32_t))};
    if (!global_var || !active || !votes || !classifier || !f.z || !f.var || !f.classes)
        st = ELBO_ERR_NOMEM;
    elbo_rng rng;
    elbo_rng_seed(&rng, seed);
    int kept = 0;
    if (st == ELBO_OK)
        st = draw_codes(what, src, &rng, -1, NULL, o.variance_points, f.z);
    if (st == ELBO_OK) {
        variances(f.z, o.variance_points, d, global_var);
        for (int j = 0; j < d; j++)
            kept += active[j] = global_var[j] > 0 && sqrt(global_var[j]) >= o.prune;
    }
    *result = (elbo_score_result){0};
    if (st == ELBO_OK && kept > 0) {
        st = factorvae_votes(&f, &rng, o.train, votes);
        if (st == ELBO_OK) {
            for (int j = 0; j < d; j++) { /* majority vote, lowest factor on ties */
                classifier[j] = 0;
                for (int k = 1; k < K; k++)
                    if (votes[(size_t)k * (size_t)d + (size_t)j] > votes[(size_t)classifier[j] * (size_t)d + (size_t)j])
                        classifier[j] = k;
            }
            result->train_accuracy = vote_accuracy(votes, classifier, K, d);
            st = factorvae_votes(&f, &rng, o.eval, votes);
        }
        if (st == ELBO_OK)
            result->eval_accuracy = vote_accuracy(votes, classifier, K, d);
    }
    result->active_dims = kept;
    free(global_var), free(active), free(votes), free(classifier), free(f.z), free(f.var), free(f.classes);
    return st;
}
