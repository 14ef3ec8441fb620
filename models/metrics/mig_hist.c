/* Histogram mutual information and the MIG of disentanglement_lib
 * (evaluation/metrics/mig.py, utils.py: _histogram_discretize,
 * discrete_mutual_info, discrete_entropy). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"
#include "models/metrics/metrics_internal.h"

/* numpy.linspace(lo, hi, bins + 1)[b] for b < bins, as np.histogram builds its edges. */
static double edge(double lo, double hi, int bins, int b)
{
    double step = (hi - lo) / bins;
    if (step == 0) /* numpy's path for ranges too small to step (gh-5437) */
        return (double)b / bins * (hi - lo) + lo;
    return (double)b * step + lo;
}

elbo_status elbo_discretize(const double *x, size_t n, size_t stride, int bins, int32_t *labels)
{
    if (bins < 1 || n == 0)
        return elbo_fail(ELBO_ERR_INVALID, "discretize: expected bins >= 1 and points, got %d bins, %zu points", bins,
                         n);
    double lo = x[0], hi = x[0];
    for (size_t i = 0; i < n; i++) {
        double v = x[i * stride];
        if (!isfinite(v))
            return elbo_fail(ELBO_ERR_NONFINITE, "discretize: value %zu is %g: expected a finite number", i, v);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (lo == hi) /* np.histogram widens an empty range by half a unit each way */
        lo -= 0.5, hi += 0.5;
    double *e = metric_alloc("discretize", (size_t)bins, sizeof *e);
    if (!e)
        return ELBO_ERR_NOMEM;
    for (int b = 0; b < bins; b++)
        e[b] = edge(lo, hi, bins, b);
    for (size_t i = 0; i < n; i++) { /* np.digitize(right=False): how many edges are <= x */
        double v = x[i * stride];
        int a = 0, z = bins;
        while (a < z) {
            int mid = (a + z) / 2;
            if (e[mid] <= v)
                a = mid + 1;
            else
                z = mid;
        }
        labels[i] = a;
    }
    free(e);
    return ELBO_OK;
}

/* sklearn.metrics.mutual_info_score of labels a (1..bins) and factor classes
 * b (0..kb-1, stride): sum over cells of p_ab log(p_ab / (p_a p_b)), >= 0. */
static double discrete_mi(const int32_t *a, int bins, const int32_t *b, size_t stride, int32_t kb, size_t n,
                          size_t *joint, size_t *na, size_t *nb)
{
    memset(joint, 0, (size_t)bins * (size_t)kb * sizeof *joint);
    memset(na, 0, (size_t)bins * sizeof *na);
    memset(nb, 0, (size_t)kb * sizeof *nb);
    for (size_t i = 0; i < n; i++) {
        int32_t u = a[i] - 1, v = b[i * stride];
        joint[(size_t)u * (size_t)kb + (size_t)v]++;
        na[u]++;
        nb[v]++;
    }
    double mi = 0, logn = log((double)n);
    for (int u = 0; u < bins; u++)
        for (int32_t v = 0; v < kb; v++) {
            size_t c = joint[(size_t)u * (size_t)kb + (size_t)v];
            if (c)
                mi += (double)c / (double)n * (log((double)c) + logn - log((double)na[u]) - log((double)nb[v]));
        }
    return mi > 0 ? mi : 0;
}

elbo_status elbo_mi_matrix_hist(const elbo_codes *codes, const elbo_factors *factors, int bins, double *mi)
{
    elbo_status st = elbo_metric_check(codes, factors);
    if (st != ELBO_OK)
        return st;
    if (bins < 1)
        return elbo_fail(ELBO_ERR_INVALID, "mi matrix: expected bins >= 1, got %d", bins);
    int32_t kmax = 1;
    for (int k = 0; k < factors->count; k++)
        kmax = factors->sizes[k] > kmax ? factors->sizes[k] : kmax;
    size_t n = codes->n;
    int32_t *labels = metric_alloc("mi matrix", n, sizeof *labels);
    size_t *joint = metric_alloc("mi matrix", (size_t)bins * (size_t)kmax, sizeof *joint);
    size_t *na = metric_alloc("mi matrix", (size_t)bins, sizeof *na);
    size_t *nb = metric_alloc("mi matrix", (size_t)kmax, sizeof *nb);
    if (!labels || !joint || !na || !nb)
        st = ELBO_ERR_NOMEM;
    for (int j = 0; j < codes->dim && st == ELBO_OK; j++) {
        st = elbo_discretize(codes->mean + j, n, (size_t)codes->dim, bins, labels);
        for (int k = 0; k < factors->count && st == ELBO_OK; k++)
            mi[(size_t)j * (size_t)factors->count + (size_t)k] =
                discrete_mi(labels, bins, factors->classes + k, (size_t)factors->count, factors->sizes[k], n, joint,
                            na, nb);
    }
    free(labels);
    free(joint);
    free(na);
    free(nb);
    return st;
}

elbo_status elbo_mig_hist(const elbo_codes *codes, const elbo_factors *factors, int bins, double *score,
                          double *per_factor, double *mi_out)
{
    elbo_status st = metric_check_gap_inputs("mig", codes, factors);
    if (st == ELBO_OK && factors->count > 64)
        st = elbo_fail(ELBO_ERR_INVALID, "mig: %d factors: at most 64", factors->count);
    if (st != ELBO_OK)
        return st;
    size_t cells = (size_t)codes->dim * (size_t)factors->count;
    double *mi = metric_alloc("mig", cells, sizeof *mi);
    st = mi ? elbo_mi_matrix_hist(codes, factors, bins, mi) : ELBO_ERR_NOMEM;
    uint64_t all = factors->count == 64 ? ~(uint64_t)0 : ((uint64_t)1 << factors->count) - 1;
    if (st == ELBO_OK)
        st = metric_mig_of("mig", factors, mi, codes->dim, all, false, score, per_factor);
    if (st == ELBO_OK && mi_out)
        memcpy(mi_out, mi, cells * sizeof *mi);
    free(mi);
    return st;
}
