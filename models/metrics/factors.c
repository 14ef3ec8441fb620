/* Validation of codes and factors, factors from a numeric table, entropies,
 * and the small helpers the metrics share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"

void *metric_alloc(const char *metric, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        elbo_fail(ELBO_ERR_NOMEM, "%s: %zu x %zu bytes overflow", metric, n, size);
        return NULL;
    }
    void *p = calloc(n ? n : 1, size);
    if (!p)
        elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory (%zu x %zu bytes)", metric, n, size);
    return p;
}

elbo_status elbo_metric_check(const elbo_codes *c, const elbo_factors *f)
{
    if (!c || !f || !c->mean || !f->classes || !f->sizes)
        return elbo_fail(ELBO_ERR_INVALID, "metrics: codes and factors must be given");
    if (c->dim < 1 || f->count < 1)
        return elbo_fail(ELBO_ERR_INVALID, "metrics: expected at least one code dimension and one factor, got %d and %d",
                         c->dim, f->count);
    if (c->n != f->n)
        return elbo_fail(ELBO_ERR_INVALID, "metrics: %zu codes but %zu factor rows: expected one row per point", c->n,
                         f->n);
    if (c->n < 2)
        return elbo_fail(ELBO_ERR_INVALID, "metrics: expected at least 2 points, got %zu", c->n);
    for (int k = 0; k < f->count; k++)
        if (f->sizes[k] < 1)
            return elbo_fail(ELBO_ERR_INVALID, "metrics: factor %d has %d classes: expected at least 1", k,
                             f->sizes[k]);
    for (size_t i = 0; i < c->n; i++)
        for (int j = 0; j < c->dim; j++) {
            size_t at = i * (size_t)c->dim + (size_t)j;
            if (!isfinite(c->mean[at]))
                return elbo_fail(ELBO_ERR_NONFINITE, "metrics: code %d of point %zu is %g: expected a finite number", j,
                                 i, c->mean[at]);
            if (c->logvar && !(fabs(c->logvar[at]) <= 700))
                return elbo_fail(ELBO_ERR_INVALID, "metrics: log-variance %d of point %zu is %g: expected |x| <= 700",
                                 j, i, c->logvar[at]);
        }
    for (size_t i = 0; i < f->n; i++)
        for (int k = 0; k < f->count; k++) {
            int32_t v = f->classes[i * (size_t)f->count + (size_t)k];
            if (v < 0 || v >= f->sizes[k])
                return elbo_fail(ELBO_ERR_INVALID, "metrics: factor %d of point %zu is class %d: expected 0..%d", k, i,
                                 v, f->sizes[k] - 1);
        }
    return ELBO_OK;
}

elbo_status metric_require_varied_factors(const char *metric, const elbo_factors *f)
{
    for (int k = 0; k < f->count; k++) {
        size_t i = 1;
        int32_t first = f->classes[k];
        while (i < f->n && f->classes[i * (size_t)f->count + (size_t)k] == first)
            i++;
        if (i == f->n)
            return elbo_fail(ELBO_ERR_INVALID, "%s: factor %d takes one value on all %zu points: expected at least two",
                             metric, k, f->n);
    }
    return ELBO_OK;
}

elbo_status metric_check_gap_inputs(const char *metric, const elbo_codes *codes, const elbo_factors *factors)
{
    elbo_status st = elbo_metric_check(codes, factors);
    if (st == ELBO_OK && codes->dim < 2)
        st = elbo_fail(ELBO_ERR_INVALID, "%s: expected at least 2 code dimensions, got %d", metric, codes->dim);
    if (st == ELBO_OK)
        st = metric_require_varied_factors(metric, factors);
    return st;
}

elbo_status metric_mig_of(const char *metric, const elbo_factors *f, const double *mi, int dim, uint64_t mask,
                          bool clamp, double *score, double *per_factor)
{
    double *h = metric_alloc(metric, (size_t)f->count, sizeof *h);
    elbo_status st = h ? elbo_factor_entropies(f, h) : ELBO_ERR_NOMEM;
    if (st == ELBO_OK) {
        double sum = 0;
        int used = 0;
        for (int k = 0; k < f->count; k++) {
            double g = NAN;
            if (mask >> k & 1) {
                g = metric_top_two_gap(mi + k, (size_t)f->count, dim, clamp) / h[k];
                sum += g;
                used++;
            }
            if (per_factor)
                per_factor[k] = g;
        }
        *score = sum / used;
    }
    free(h);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Index of v in the sorted distinct values u (m), which holds it. */
static int32_t find_value(const double *u, size_t m, double v)
{
    size_t lo = 0, hi = m;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (u[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    return (int32_t)lo;
}

elbo_status elbo_factors_from_table(const double *table, size_t n, size_t stride, int count, int32_t *classes,
                                    int32_t *sizes)
{
    if (n == 0 || count < 1 || stride < (size_t)count)
        return elbo_fail(ELBO_ERR_INVALID, "factors: expected rows and columns, got %zu x %d (stride %zu)", n, count,
                         stride);
    double *u = metric_alloc("factors", n, sizeof *u);
    if (!u)
        return ELBO_ERR_NOMEM;
    for (int k = 0; k < count; k++) {
        for (size_t i = 0; i < n; i++) {
            double v = table[i * stride + (size_t)k];
            if (!isfinite(v)) {
                free(u);
                return elbo_fail(ELBO_ERR_NONFINITE, "factors: column %d of row %zu is %g: expected a finite number", k,
                                 i, v);
            }
            u[i] = v;
        }
        qsort(u, n, sizeof *u, cmp_double);
        size_t m = 1;
        for (size_t i = 1; i < n; i++)
            if (u[i] != u[m - 1])
                u[m++] = u[i];
        if (m > INT32_MAX) {
            free(u);
            return elbo_fail(ELBO_ERR_INVALID, "factors: column %d has %zu distinct values: too many", k, m);
        }
        sizes[k] = (int32_t)m;
        for (size_t i = 0; i < n; i++)
            classes[i * (size_t)count + (size_t)k] = find_value(u, m, table[i * stride + (size_t)k]);
    }
    free(u);
    return ELBO_OK;
}

/* H of one factor from its class counts (sizes[k] counters in counts). */
static double entropy_of(const elbo_factors *f, int k, size_t *counts)
{
    memset(counts, 0, (size_t)f->sizes[k] * sizeof *counts);
    for (size_t i = 0; i < f->n; i++)
        counts[f->classes[i * (size_t)f->count + (size_t)k]]++;
    double h = 0, n = (double)f->n;
    for (int32_t c = 0; c < f->sizes[k]; c++)
        if (counts[c])
            h -= counts[c] / n * log(counts[c] / n);
    return h;
}

elbo_status elbo_factor_entropies(const elbo_factors *f, double *h)
{
    int32_t most = 1;
    for (int k = 0; k < f->count; k++)
        most = f->sizes[k] > most ? f->sizes[k] : most;
    size_t *counts = metric_alloc("factor entropies", (size_t)most, sizeof *counts);
    if (!counts)
        return ELBO_ERR_NOMEM;
    for (int k = 0; k < f->count; k++)
        h[k] = entropy_of(f, k, counts);
    free(counts);
    return ELBO_OK;
}

double metric_top_two_gap(const double *x, size_t stride, int n, bool clamp)
{
    double first = -INFINITY, second = -INFINITY;
    for (int i = 0; i < n; i++) {
        double v = x[(size_t)i * stride];
        if (v > first)
            second = first, first = v;
        else if (v > second)
            second = v;
    }
    if (clamp) {
        first = first > 0 ? first : 0;
        second = second > 0 ? second : 0;
    }
    return first - second;
}

elbo_status metric_cholesky_solve(const char *metric, double *a, int p, double *b)
{
    for (int j = 0; j < p; j++) {
        double d = a[(size_t)j * p + j];
        for (int k = 0; k < j; k++)
            d -= a[(size_t)j * p + k] * a[(size_t)j * p + k];
        if (!(d > 0))
            return elbo_fail(ELBO_ERR_INVALID, "%s: system not positive definite at pivot %d (%g)", metric, j, d);
        d = sqrt(d);
        a[(size_t)j * p + j] = d;
        for (int i = j + 1; i < p; i++) {
            double s = a[(size_t)i * p + j];
            for (int k = 0; k < j; k++)
                s -= a[(size_t)i * p + k] * a[(size_t)j * p + k];
            a[(size_t)i * p + j] = s / d;
        }
    }
    for (int i = 0; i < p; i++) { /* L y = b */
        double s = b[i];
        for (int k = 0; k < i; k++)
            s -= a[(size_t)i * p + k] * b[k];
        b[i] = s / a[(size_t)i * p + i];
    }
    for (int i = p - 1; i >= 0; i--) { /* L' x = y */
        double s = b[i];
        for (int k = i + 1; k < p; k++)
            s -= a[(size_t)k * p + i] * b[k];
        b[i] = s / a[(size_t)i * p + i];
    }
    return ELBO_OK;
}
