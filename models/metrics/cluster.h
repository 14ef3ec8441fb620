/* Clustering accuracy: how well cluster assignments match class labels
 * under a mapping from clusters to classes.
 *
 *   best one-to-one (the standard clustering accuracy, e.g. Jiang et al. 2016):
 *     acc = max over injective maps g of (1/n) sum_i [y_i = g(c_i)],
 *     found by the Hungarian algorithm on the K x C contingency table
 *     (clusters beyond the number of classes are left unmatched: their
 *     points count as errors);
 *   majority vote: each cluster maps to its most frequent class (several
 *     clusters may share a class, so this is >= the one-to-one accuracy). */
#ifndef ELBO_METRICS_CLUSTER_H
#define ELBO_METRICS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

#define ELBO_CLUSTER_MAX 4096 /* clusters or classes */

/* cluster (n) in [0, k), labels (n) in [0, classes). Either result may be
 * NULL; map (k) receives the one-to-one map (-1: unmatched) if not NULL. */
elbo_status elbo_cluster_accuracy(const int *cluster, const uint8_t *labels, size_t n, int k, int classes,
                                  double *one_to_one, double *majority, int *map);

/* Minimum-cost assignment of an n x n cost matrix (row-major, double):
 * assign[i] = the column of row i; returns the total cost. O(n^3), the
 * shortest augmenting path form of the Hungarian algorithm (Kuhn-Munkres). */
double elbo_hungarian(const double *cost, int n, int *assign);

#endif
