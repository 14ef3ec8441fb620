/* Disentanglement metrics: codes (encoder means, and log-variances for
 * Chen's MIG) against ground-truth factors.
 *
 * Conventions:
 *   - codes are float64, (n, dim) row-major; factors are class indices,
 *     (n, count) row-major int32, class of factor k in 0..sizes[k]-1;
 *   - logarithms are natural (nats); entropies of factors are the empirical
 *     ones of the table (log K for a full grid);
 *   - the metrics on a table (MI matrices, both MIGs, SAP, DCI) use every
 *     row given; the classifier-based scores (beta-VAE, FactorVAE) draw
 *     fresh batches with one factor fixed from an elbo_code_source: the
 *     rows of a table (elbo_table_source, below) or dSprites with an
 *     encoder (dsprites_source.h);
 *   - a factor with a single class present, a non-finite code, fewer than
 *     two code dimensions where a gap between the two best is taken: all
 *     ELBO_ERR_INVALID with one line naming what (library code never prints).
 *
 * What each metric follows (and where it differs) is written next to it. */
#ifndef ELBO_METRICS_H
#define ELBO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"
#include "ops/rng.h"

/* Encoder outputs of n points. */
typedef struct elbo_codes {
    size_t n;
    int dim;
    const double *mean;   /* (n, dim) */
    const double *logvar; /* (n, dim) log-variances of q(z|x), or NULL (only Chen's MIG needs them) */
} elbo_codes;

/* Ground truth of the same n points. */
typedef struct elbo_factors {
    size_t n;
    int count;              /* factors */
    const int32_t *classes; /* (n, count) */
    const int32_t *sizes;   /* (count) classes of each factor */
} elbo_factors;

/* Shapes agree, codes (and log-variances) finite, classes in range. */
elbo_status elbo_metric_check(const elbo_codes *codes, const elbo_factors *factors);

/* Columns of a numeric table as factors: each column's distinct values,
 * ascending, become classes 0..K-1. table (n, count) with row stride
 * `stride` doubles; classes (n, count) and sizes (count) are the caller's.
 * A non-finite value is ELBO_ERR_INVALID. */
elbo_status elbo_factors_from_table(const double *table, size_t n, size_t stride, int count, int32_t *classes,
                                    int32_t *sizes);

/* Empirical entropy of each factor, h (count). */
elbo_status elbo_factor_entropies(const elbo_factors *factors, double *h);

/* ---- mutual information and MIG ---- */

/* disentanglement_lib's histogram discretisation of one code dimension:
 * labels 1..bins from np.digitize(x, np.histogram(x, bins)[1][:-1]), with
 * numpy's edge arithmetic (a constant column gets the range x +- 0.5).
 * x (n) with stride `stride`; labels (n). */
elbo_status elbo_discretize(const double *x, size_t n, size_t stride, int bins, int32_t *labels);

/* Latent-by-factor mutual information (nats) of the discretised codes, as
 * sklearn.metrics.mutual_info_score: mi (dim, count). */
elbo_status elbo_mi_matrix_hist(const elbo_codes *codes, const elbo_factors *factors, int bins, double *mi);

/* MIG as disentanglement_lib computes it: mean over factors of (largest -
 * second largest MI of a code with the factor) / H(factor), MI from
 * elbo_mi_matrix_hist (bins: 20 there). per_factor (count) and mi (dim,
 * count: the matrix used) may be NULL. */
elbo_status elbo_mig_hist(const elbo_codes *codes, const elbo_factors *factors, int bins, double *score,
                          double *per_factor, double *mi);

/* Chen et al. (2018), rtqichen/beta-tcvae: I(z_j; v_k) = H(z_j) - H(z_j | v_k)
 * with the entropies estimated under the encoder's q(z|x):
 *   H(z_j | G) = -1/|S_G| sum_{s in S_G} log( 1/|G| sum_{i in G} q(z_sj | x_i) ),
 * z_s = mean_s + exp(logvar_s / 2) * noise_s one draw per point, G the
 * points of a group (all points; the points with v_k = c), S_G its first
 * `samples` points in `order` (all of G when samples is 0 or >= |G|), and
 * H(z_j | v_k) = sum_c p(c) H(z_j | v_k = c). */
typedef struct elbo_chen_opts {
    const double *noise;   /* (n, dim) standard normal draws; NULL: drawn from seed (row-major elbo_rng_normal) */
    const uint32_t *order; /* (n) a permutation of the points; NULL: identity if every point is a sample, else a
                              seeded elbo_rng_shuffle (after the noise draws) */
    size_t samples;        /* S: samples per group, 0 = all (Chen's code: 10000) */
    uint64_t seed;
    uint64_t factor_mask;  /* factors used (bit k); 0 = all (at most 64 factors). dSprites as Chen: all but shape */
} elbo_chen_opts;

/* mi (dim, count): Chen's estimate; unused factors' columns are 0. Threads
 * over samples with elbo_parallel_for; the same bits for any thread count. */
elbo_status elbo_mi_matrix_chen(const elbo_codes *codes, const elbo_factors *factors, const elbo_chen_opts *opts,
                                double *mi);
/* Chen's MIG: per used factor, the MIs sorted, clamped at 0, gap of the top
 * two over H(factor); the mean over used factors. per_factor (count; unused
 * factors get NaN) and mi (dim, count: the matrix used) may be NULL. */
elbo_status elbo_mig_chen(const elbo_codes *codes, const elbo_factors *factors, const elbo_chen_opts *opts,
                          double *score, double *per_factor, double *mi);

/* Total correlation of the aggregate posterior q(z) = 1/n sum_i q(z|x_i)
 * over the n points (Chen et al. 2018, the term beta-TCVAE weights):
 *   TC = mean over samples s of [ log q(z_s) - sum_j log q(z_sj) ],
 * z_s one draw from q(z|x_s) per point (noise and order as elbo_mig_chen:
 * the same draws for the same options; factor_mask unused), both densities
 * summed exactly over all n points. Non-negative in expectation; needs the
 * log-variances. Threads over samples; the same bits for any thread count. */
elbo_status elbo_total_correlation(const elbo_codes *codes, const elbo_chen_opts *opts, double *tc);

/* ---- SAP and DCI ---- */

/* SAP (Kumar et al. 2018), disentanglement_lib's continuous-factor score:
 * S[j][k] = cov(z_j, v_k)^2 / (var z_j var v_k) (ddof 1; 0 when var z_j <=
 * 1e-12), the R^2 of a 1-D linear fit; SAP = mean over factors of the gap
 * between the two largest S[.][k]. matrix (dim, count) may be NULL. */
elbo_status elbo_sap(const elbo_codes *codes, const elbo_factors *factors, double *score, double *matrix);

/* DCI (Eastwood & Williams 2018) with ridge regression as the regressor.
 * Per factor k, on the training points: codes and class index standardised
 * with the training mean and std (a constant code dimension becomes 0),
 * w = (X'X/n + alpha I)^-1 X'y/n; importance R[j][k] = |w_j|.
 * disentanglement and completeness as disentanglement_lib (entropies of
 * R's rows in base count, of its columns in base dim, each with 1e-11
 * added, weighted by row / column share of R); informativeness: the mean
 * over factors of the test R^2 = 1 - sum (y - y_hat)^2 / sum (y - mean y)^2
 * (E&W's 1 - NRMSE^2, higher is better; disentanglement_lib instead
 * reports a boosted-tree classifier's accuracy). Ridge is closed-form and
 * deterministic, so the importances are checked exactly; the cost is that
 * a linear regressor sees only linear information (a code holding a factor
 * as cos/sin, or a categorical shape, scores lower than under trees). */
typedef struct elbo_dci_result {
    double disentanglement, completeness, informativeness, informativeness_train;
} elbo_dci_result;
elbo_status elbo_dci(const elbo_codes *train, const elbo_factors *train_factors, const elbo_codes *test,
                     const elbo_factors *test_factors, double alpha, elbo_dci_result *result, double *importance);

/* ---- classifier-based scores ---- */

/* Where the classifier-based scores get codes: draw(ctx, rng, factor,
 * classes, n, codes) writes the codes (n, dim) of n points drawn uniformly
 * among those whose factor `factor` has class classes[i] (point i); factor
 * < 0: uniformly over all points (classes NULL). */
typedef struct elbo_code_source {
    int dim;
    int count;            /* factors */
    const int32_t *sizes; /* (count) */
    void *ctx;
    elbo_status (*draw)(void *ctx, elbo_rng *rng, int factor, const int32_t *classes, size_t n, double *codes);
} elbo_code_source;

typedef struct elbo_score_result {
    double train_accuracy, eval_accuracy;
    int active_dims; /* FactorVAE: dimensions kept after pruning; beta-VAE: dim */
} elbo_score_result;

/* beta-VAE score (Higgins et al. 2017) as disentanglement_lib: a point is
 * a random factor k (its label) and the mean over `batch` pairs of |z_a -
 * z_b|, each pair sharing a uniformly drawn class of k (one draw of the
 * batch's first codes, then one of the second, same classes). Classifier:
 * multinomial logistic regression, L2 weight l2 on the weights (sklearn's
 * default C = 1 is l2 = 1) and 1e-8 on the intercepts (which only picks one
 * of the equivalent intercept vectors), fitted by Newton's method to its
 * unique optimum; labels range over all factors. Accuracy = fraction of
 * points whose arg-max class (lowest on ties) is the label. */
typedef struct elbo_betavae_opts {
    size_t batch, train, eval; /* 64, 10000, 5000 */
    double l2;                 /* 1 */
} elbo_betavae_opts;
elbo_betavae_opts elbo_betavae_defaults(void);
elbo_status elbo_betavae_score(const elbo_code_source *src, const elbo_betavae_opts *opts, uint64_t seed,
                               elbo_score_result *result);

/* FactorVAE score (Kim & Mnih 2018) as disentanglement_lib: global
 * variances (ddof 1) of `variance_points` random points; dimensions with
 * std < prune (or zero variance) are dropped; a point is a random factor
 * k, a uniform class c of it and `batch` points with v_k = c; the dimension
 * with the smallest variance / global variance (first on ties) votes for
 * k. Majority-vote classifier per dimension (lowest factor on ties);
 * accuracy = correct votes / all votes. Votes go to the code dimension
 * itself (disentanglement_lib files them under the position among the
 * kept dimensions, which differs once a dimension before it is pruned).
 * No dimension kept: accuracies 0. */
typedef struct elbo_factorvae_opts {
    size_t batch, train, eval, variance_points; /* 64, 10000, 5000, 10000 */
    double prune;                               /* 0.05 (disentanglement_lib's study; its default is 0) */
} elbo_factorvae_opts;
elbo_factorvae_opts elbo_factorvae_defaults(void);
elbo_status elbo_factorvae_score(const elbo_code_source *src, const elbo_factorvae_opts *opts, uint64_t seed,
                                 elbo_score_result *result);

/* ---- sources ---- */

/* The rows of a codes + factors table as a source: a point with factor k
 * fixed to class c is a uniformly random row (with replacement) among the
 * rows with v_k = c; unfixed, a uniformly random row. The other factors
 * follow the table's own mix (for a full grid or a uniform subsample of
 * one, the generator's). */
typedef struct elbo_table_source {
    elbo_code_source source; /* pass &s.source to the scores */
    const elbo_codes *codes;
    const elbo_factors *factors;
    uint32_t *rows;  /* (count, n): per factor, row numbers grouped by class */
    size_t *starts;  /* per factor, per class: start of its group in rows (sum of sizes + count entries) */
    size_t *offset;  /* (count) first entry of each factor in starts */
} elbo_table_source;

/* codes and factors must outlive the source (checked with elbo_metric_check). */
elbo_status elbo_table_source_init(elbo_table_source *s, const elbo_codes *codes, const elbo_factors *factors);
void elbo_table_source_free(elbo_table_source *s);
/* The rows the source would draw (the same rng consumption as its draw):
 * rows (n). A class without rows is ELBO_ERR_INVALID. */
elbo_status elbo_table_source_rows(const elbo_table_source *s, elbo_rng *rng, int factor, const int32_t *classes,
                                   size_t n, uint32_t *rows);

#endif
