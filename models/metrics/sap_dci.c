/* SAP (disentanglement_lib sap_score.py, continuous branch) and DCI with a
 * ridge regressor (Eastwood & Williams 2018; D and C as disentanglement_lib
 * dci.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"

/* Below this variance a code dimension scores 0 (disentanglement_lib). */
#define SAP_MIN_VARIANCE 1e-12
/* scipy.stats.entropy inputs get this added in disentanglement_lib's D and C. */
#define DCI_EPS 1e-11

/* Mean and sample variance (ddof 1) of x (n, stride) and their covariance with y. */
static void moments(const double *x, size_t xs, const int32_t *y, size_t ys, size_t n, double *var_x, double *var_y,
                    double *cov)
{
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i * xs], my += y[i * ys];
    mx /= (double)n, my /= (double)n;
    double sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i * xs] - mx, dy = y[i * ys] - my;
        sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
    }
    *var_x = sxx / (double)(n - 1);
    *var_y = syy / (double)(n - 1);
    *cov = sxy / (double)(n - 1);
}

elbo_status elbo_sap(const elbo_codes *codes, const elbo_factors *factors, double *score, double *matrix)
{
    elbo_status st = metric_check_gap_inputs("sap", codes, factors);
    if (st != ELBO_OK)
        return st;
    int d = codes->dim, nf = factors->count;
    double *s = metric_alloc("sap", (size_t)d * (size_t)nf, sizeof *s);
    if (!s)
        return ELBO_ERR_NOMEM;
    for (int j = 0; j < d; j++)
        for (int k = 0; k < nf; k++) {
            double vz, vy, c;
            moments(codes->mean + j, (size_t)d, factors->classes + k, (size_t)nf, codes->n, &vz, &vy, &c);
            s[(size_t)j * (size_t)nf + (size_t)k] = vz > SAP_MIN_VARIANCE ? c * c / (vz * vy) : 0;
        }
    double sum = 0;
    for (int k = 0; k < nf; k++)
        sum += metric_top_two_gap(s + k, (size_t)nf, d, false);
    *score = sum / nf;
    if (matrix)
        memcpy(matrix, s, (size_t)d * (size_t)nf * sizeof *s);
    free(s);
    return ELBO_OK;
}

/* ---- DCI ---- */

/* Training statistics: per code dimension mean and std (population). */
typedef struct standardizer {
    double *mean, *sd;
} standardizer;

static void column_stats(const double *x, size_t stride, size_t n, double *mean, double *sd)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i * stride];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        s += (x[i * stride] - m) * (x[i * stride] - m);
    *mean = m;
    *sd = sqrt(s / (double)n);
}

/* Standardised design matrix (n, d); constant columns become 0. */
static void standardize(const elbo_codes *c, const standardizer *z, double *x)
{
    for (size_t i = 0; i < c->n; i++)
        for (int j = 0; j < c->dim; j++) {
            size_t at = i * (size_t)c->dim + (size_t)j;
            x[at] = z->sd[j] > 0 ? (c->mean[at] - z->mean[j]) / z->sd[j] : 0;
        }
}

/* 1 - sum (y - x w)^2 / sum (y - mean y)^2 with y standardised by (my, sy). */
static double r_squared(const double *x, const elbo_factors *f, int k, double my, double sy, const double *w, int d)
{
    size_t n = f->n;
    double mean = 0, sse = 0, sst = 0;
    for (size_t i = 0; i < n; i++)
        mean += (f->classes[i * (size_t)f->count + (size_t)k] - my) / sy;
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double y = (f->classes[i * (size_t)f->count + (size_t)k] - my) / sy, p = 0;
        for (int j = 0; j < d; j++)
            p += x[i * (size_t)d + (size_t)j] * w[j];
        sse += (y - p) * (y - p);
        sst += (y - mean) * (y - mean);
    }
    return sst > 0 ? 1 - sse / sst : 0;
}

/* 1 - entropy of p (n values with stride, each + DCI_EPS, normalised) in base b: scipy.stats.entropy. */
static double one_minus_entropy(const double *p, size_t stride, int n, int base)
{
    double total = 0, h = 0;
    for (int i = 0; i < n; i++)
        total += p[(size_t)i * stride] + DCI_EPS;
    for (int i = 0; i < n; i++) {
        double q = (p[(size_t)i * stride] + DCI_EPS) / total;
        h -= q * log(q);
    }
    return 1 - h / log((double)base);
}

/* disentanglement_lib's disentanglement (by_rows) or completeness: the
 * per-row (per-column) scores weighted by each one's share of the matrix. */
static double weighted_score(const double *r, int d, int nf, bool by_rows)
{
    double total = 0;
    for (size_t i = 0; i < (size_t)d * (size_t)nf; i++)
        total += r[i];
    int outer = by_rows ? d : nf, inner = by_rows ? nf : d;
    size_t step_outer = by_rows ? (size_t)nf : 1, step_inner = by_rows ? 1 : (size_t)nf;
    double score = 0;
    for (int a = 0; a < outer; a++) {
        double share = 0;
        for (int b = 0; b < inner; b++)
            share += total > 0 ? r[(size_t)a * step_outer + (size_t)b * step_inner] : 1;
        share /= total > 0 ? total : (double)d * nf;
        score += share * one_minus_entropy(r + (size_t)a * step_outer, step_inner, inner, inner);
    }
    return score;
}

static elbo_status check_split(const elbo_codes *train, const elbo_factors *ftrain, const elbo_codes *test,
                               const elbo_factors *ftest)
{
    elbo_status st = elbo_metric_check(train, ftrain);
    if (st == ELBO_OK)
        st = elbo_metric_check(test, ftest);
    if (st == ELBO_OK && (train->dim != test->dim || ftrain->count != ftest->count))
        st = elbo_fail(ELBO_ERR_INVALID, "dci: train has %d codes and %d factors, test %d and %d: expected the same",
                       train->dim, ftrain->count, test->dim, ftest->count);
    if (st == ELBO_OK && (train->dim < 2 || ftrain->count < 2))
        st = elbo_fail(ELBO_ERR_INVALID, "dci: expected at least 2 code dimensions and 2 factors, got %d and %d",
                       train->dim, ftrain->count);
    if (st == ELBO_OK)
        st = metric_require_varied_factors("dci (train)", ftrain);
    return st;
}

elbo_status elbo_dci(const elbo_codes *train, const elbo_factors *ftrain, const elbo_codes *test,
                     const elbo_factors *ftest, double alpha, elbo_dci_result *result, double *importance)
{
    elbo_status st = check_split(train, ftrain, test, ftest);
    if (st == ELBO_OK && !(alpha > 0 && isfinite(alpha)))
        st = elbo_fail(ELBO_ERR_INVALID, "dci: ridge alpha %g: expected a positive number", alpha);
    if (st != ELBO_OK)
        return st;
    int d = train->dim, nf = ftrain->count;
    size_t n = train->n;
    standardizer z = {metric_alloc("dci", (size_t)d, sizeof(double)), metric_alloc("dci", (size_t)d, sizeof(double))};
    double *x = metric_alloc("dci", n * (size_t)d, sizeof *x), *xt = metric_alloc("dci", test->n * (size_t)d, sizeof *xt);
    double *gram = metric_alloc("dci", (size_t)d * (size_t)d, sizeof *gram), *a = metric_alloc("dci", (size_t)d * (size_t)d, sizeof *a);
    double *w = metric_alloc("dci", (size_t)d, sizeof *w), *r = metric_alloc("dci", (size_t)d * (size_t)nf, sizeof *r);
    if (!z.mean || !z.sd || !x || !xt || !gram || !a || !w || !r)
        st = ELBO_ERR_NOMEM;
    double info = 0, info_train = 0;
    if (st == ELBO_OK) {
        for (int j = 0; j < d; j++)
            column_stats(train->mean + j, (size_t)d, n, &z.mean[j], &z.sd[j]);
        standardize(train, &z, x);
        standardize(test, &z, xt);
        for (int p = 0; p < d; p++) /* X'X / n */
            for (int q = 0; q < d; q++) {
                double s = 0;
                for (size_t i = 0; i < n; i++)
                    s += x[i * (size_t)d + (size_t)p] * x[i * (size_t)d + (size_t)q];
                gram[(size_t)p * (size_t)d + (size_t)q] = s / (double)n;
            }
    }
    for (int k = 0; k < nf && st == ELBO_OK; k++) {
        double my = 0, sy = 0, *yk = metric_alloc("dci", n, sizeof *yk);
        if (!yk) {
            st = ELBO_ERR_NOMEM;
            break;
        }
        for (size_t i = 0; i < n; i++)
            yk[i] = ftrain->classes[i * (size_t)nf + (size_t)k];
        column_stats(yk, 1, n, &my, &sy);
        for (int p = 0; p < d; p++) { /* X'y / n and X'X / n + alpha I */
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += x[i * (size_t)d + (size_t)p] * (yk[i] - my) / sy;
            w[p] = s / (double)n;
            for (int q = 0; q < d; q++)
                a[(size_t)p * (size_t)d + (size_t)q] = gram[(size_t)p * (size_t)d + (size_t)q] + (p == q ? alpha : 0);
        }
        free(yk);
        st = metric_cholesky_solve("dci", a, d, w);
        if (st != ELBO_OK)
            break;
        for (int j = 0; j < d; j++)
            r[(size_t)j * (size_t)nf + (size_t)k] = fabs(w[j]);
        info += r_squared(xt, ftest, k, my, sy, w, d) / nf;
        info_train += r_squared(x, ftrain, k, my, sy, w, d) / nf;
    }
    if (st == ELBO_OK) {
        result->disentanglement = weighted_score(r, d, nf, true);
        result->completeness = weighted_score(r, d, nf, false);
        result->informativeness = info;
        result->informativeness_train = info_train;
        if (importance)
            memcpy(importance, r, (size_t)d * (size_t)nf * sizeof *r);
    }
    free(z.mean), free(z.sd), free(x), free(xt), free(gram), free(a), free(w), free(r);
    return st;
}
