/* Clustering accuracy (cluster.h): the Hungarian algorithm on the negated
 * contingency table, and the majority-vote map. */
#include "models/metrics/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Potentials u (rows), v (columns); p[j] the row matched to column j, rows
 * and columns 1-based with column 0 the free slot; each row is added by a
 * Dijkstra-like search for the cheapest augmenting path over reduced costs
 * cost[i][j] - u[i] - v[j] >= 0. */
double elbo_hungarian(const double *cost, int n, int *assign)
{
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)n + 1, sizeof *v);
    double *minv = malloc(((size_t)n + 1) * sizeof *minv);
    int *p = calloc((size_t)n + 1, sizeof *p), *way = calloc((size_t)n + 1, sizeof *way);
    char *used = malloc((size_t)n + 1);
    double total = NAN;
    if (!u || !v || !minv || !p || !way || !used)
        goto done;
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++)
            minv[j] = INFINITY, used[j] = 0;
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= n; j++) {
                if (used[j])
                    continue;
                double cur = cost[(size_t)(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j])
                    minv[j] = cur, way[j] = j0;
                if (minv[j] < delta)
                    delta = minv[j], j1 = j;
            }
            for (int j = 0; j <= n; j++) {
                if (used[j])
                    u[p[j]] += delta, v[j] -= delta;
                else
                    minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* flip the path back to the free slot */
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    total = 0.0;
    for (int j = 1; j <= n; j++) {
        assign[p[j] - 1] = j - 1;
        total += cost[(size_t)(p[j] - 1) * n + (j - 1)];
    }
done:
    free(u), free(v), free(minv), free(p), free(way), free(used);
    return total;
}

elbo_status elbo_cluster_accuracy(const int *cluster, const uint8_t *labels, size_t n, int k, int classes,
                                  double *one_to_one, double *majority, int *map)
{
    if (n == 0 || k < 1 || classes < 1 || k > ELBO_CLUSTER_MAX || classes > ELBO_CLUSTER_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "cluster accuracy: expected n >= 1 and 1..%d clusters and classes, got "
                         "n %zu, %d clusters, %d classes", ELBO_CLUSTER_MAX, n, k, classes);
    const int N = k > classes ? k : classes; /* square: padded with empty rows or columns */
    double *count = calloc((size_t)N * N, sizeof *count);
    int *assign = malloc((size_t)N * sizeof *assign);
    if (!count || !assign) {
        free(count), free(assign);
        return elbo_fail(ELBO_ERR_NOMEM, "cluster accuracy: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (cluster[i] < 0 || cluster[i] >= k || labels[i] >= classes) {
            free(count), free(assign);
            return elbo_fail(ELBO_ERR_INVALID, "cluster accuracy: point %zu: cluster %d of %d, label %d of %d", i,
                             cluster[i], k, labels[i], classes);
        }
        count[(size_t)cluster[i] * N + labels[i]] += 1.0;
    }
    if (majority) {
        double hit = 0.0;
        for (int c = 0; c < k; c++) {
            double best = 0.0;
            for (int y = 0; y < classes; y++)
                best = count[(size_t)c * N + y] > best ? count[(size_t)c * N + y] : best;
            hit += best;
        }
        *majority = hit / (double)n;
    }
    if (one_to_one || map) {
        double *cost = malloc((size_t)N * N * sizeof *cost);
        if (!cost) {
            free(count), free(assign);
            return elbo_fail(ELBO_ERR_NOMEM, "cluster accuracy: out of memory");
        }
        for (size_t i = 0; i < (size_t)N * N; i++)
            cost[i] = -count[i];
        double hit = -elbo_hungarian(cost, N, assign);
        free(cost);
        if (one_to_one)
            *one_to_one = hit / (double)n;
        for (int c = 0; map && c < k; c++)
            map[c] = assign[c] < classes ? assign[c] : -1;
    }
    free(count), free(assign);
    return ELBO_OK;
}
