/* Mixtures of Gaussians fitted by EM (chapter 17, sections 17.1.1 and the
 * EM note of figure 17.15; problem 17.7), in float64.
 *
 *   Pr(z = k) = w_k,   Pr(x | z = k) = Norm_x[mu_k, Sigma_k],
 *   Pr(x) = sum_k w_k Norm_x[mu_k, Sigma_k]                       (17.4)
 *
 * Sigma_k is full, diagonal or spherical (sigma_k^2 I); 1-D is d = 1.
 * Each EM iteration runs one pass over the data (mog_engine: one fused pass
 * over 8-point panels, or float64 GEMMs over chunks): the E-step (the
 * posterior responsibilities r_ik = Pr(z = k | x_i), by log-sum-exp) and the
 * sums the M-step needs; the M-step then sets
 *   w_k = N_k / N,  mu_k = sum_i r_ik x_i / N_k,
 *   Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k + reg_covar I.
 * The pass is threaded over fixed blocks of points (ops/pool.h) and sums the
 * blocks in a fixed order, so results are bit-identical for any thread count
 * (and any SIMD level).
 *
 * Conventions follow scikit-learn's GaussianMixture (reg_covar, tol on the
 * change of the mean log-likelihood per point, N_k + 10 eps), so fits can be
 * compared number for number. The library never prints: degenerate cases are
 * reported as warning flags in the result or as an error status. */
#ifndef ELBO_MOG_H
#define ELBO_MOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"
#include "ops/rng.h"

typedef enum mog_cov { MOG_COV_FULL, MOG_COV_DIAG, MOG_COV_SPHERICAL } mog_cov;

typedef enum mog_init {
    MOG_INIT_KMEANSPP, /* k-means++ seeds (D^2 sampling), points to the nearest seed */
    MOG_INIT_RANDOM,   /* random responsibilities (uniform, normalised per point) */
    MOG_INIT_MEANS,    /* given means; points to the nearest one for weights and covariances */
} mog_init;

#define MOG_REG_COVAR_DEFAULT 1e-6
#define MOG_TOL_DEFAULT 1e-3
#define MOG_MAX_ITER_DEFAULT 100

/* Warning flags (mog_result.warnings). The fit still succeeds, and no
 * parameter is NaN; mog_warning_text() gives one line for each. */
enum {
    MOG_WARN_EMPTY_COMPONENT = 1u << 0, /* a component lost (almost) all its points: kept its previous
                                           mean and covariance, weight ~0 */
    MOG_WARN_FEW_POINTS = 1u << 1,      /* a component has too few effective points for a nonsingular
                                           covariance (< d+1 full, < 2 otherwise): reg_covar holds it up */
    MOG_WARN_ZERO_VARIANCE = 1u << 2,   /* zero spread along a coordinate (duplicate points) */
    MOG_WARN_DUPLICATE_SEEDS = 1u << 3, /* fewer distinct points than k: k-means++ seeds repeat */
    MOG_WARN_N_BELOW_D = 1u << 4,       /* fewer points than dimensions */
    MOG_WARN_NOT_CONVERGED = 1u << 5,   /* tol > 0 and max_iter reached */
};
#define MOG_WARN_COUNT 6

typedef struct mog_params {
    size_t k, d;
    mog_cov cov;
    double *weights;   /* (k), sum to 1 */
    double *means;     /* (k, d) */
    double *covars;    /* full (k, d, d); diag (k, d); spherical (k) */
    double *prec_chol; /* the factor U of the precision, U^T U = Sigma^-1: full (k, d, d)
                          lower-triangular U = L^-1 for Sigma = L L^T; diag (k, d) 1/sigma_j;
                          spherical (k) 1/sigma */
    double *log_norm;  /* (k) log w_k + log det U_k - d/2 log(2 pi) */
} mog_params;

/* Zeroed arrays for k components in d dimensions. */
elbo_status mog_params_alloc(mog_params *p, size_t k, size_t d, mog_cov cov);
void mog_params_free(mog_params *p);
elbo_status mog_params_copy(mog_params *dst, const mog_params *src);
/* Recompute prec_chol and log_norm from weights, means, covars (after
 * setting them by hand). ELBO_ERR_INVALID if a covariance is not positive
 * definite or a weight is not positive. */
elbo_status mog_params_update(mog_params *p);

/* Free parameters (problem 17.1): k-1 weights (they sum to one), k d means,
 * and k d(d+1)/2 (full), k d (diag) or k (spherical) covariance entries.
 * A 1-D mixture of 5 components has 4 + 5 + 5 = 14 (15 before the
 * sum-to-one constraint): weights in [0, 1], means in R, variances > 0. */
size_t mog_param_count(size_t k, size_t d, mog_cov cov);

/* How an EM iteration runs (both give the same fit to rounding):
 *   fused  one pass per iteration over 8-point panels, E-step and M-step sums
 *          together (mog_pass.h), triangular products in registers; can skip
 *          (panel, component) pairs of zero responsibility (resp_floor);
 *   gemm   full covariance only: the E-step's U_k (x - mu_k) and the M-step's
 *          scatter matrices as float64 GEMMs (ops/gemm.h) over chunks of
 *          points (mog_gemm.h); dense, resp_floor is not used;
 *   auto   gemm where it is the faster (mog_engine_pick), else fused. */
typedef enum mog_engine { MOG_ENGINE_AUTO, MOG_ENGINE_FUSED, MOG_ENGINE_GEMM } mog_engine;

typedef struct mog_config {
    size_t k;
    mog_cov cov;
    int max_iter;             /* EM iterations at most (>= 1) */
    double tol;               /* stop when |change of mean log-likelihood per point| < tol; 0: never */
    double reg_covar;         /* added to the covariance diagonal (>= 0) */
    mog_init init;
    const double *init_means; /* (k, d), MOG_INIT_MEANS only */
    int restarts;             /* independent initialisations; the best final log-likelihood wins */
    uint64_t seed;
    /* M-step sums skip (8 points, component) pairs whose responsibilities are
     * all <= resp_floor:
     *   < 0  never: the plain dense sums;
     *   0    (default) skip exact zeros: identical results, cheaper when
     *        clusters are far apart (exp underflows);
     *   > 0  truncated EM: each skipped point moves N_k by < resp_floor, s1 by
     *        < resp_floor |x - mu_k| and the scatter by < resp_floor |x - mu_k|^2;
     *        1e-30 keeps that far below rounding for any sane data. */
    double resp_floor;
    mog_engine engine; /* default auto */
} mog_config;

/* The engine a fit with this shape runs (never auto). */
mog_engine mog_engine_pick(mog_engine requested, size_t n, size_t d, size_t k, mog_cov cov);
const char *mog_engine_name(mog_engine e);

/* k components, full, MOG_MAX_ITER_DEFAULT, MOG_TOL_DEFAULT, MOG_REG_COVAR_DEFAULT,
 * k-means++, 1 restart, seed 1, resp_floor 0. */
void mog_config_default(mog_config *c, size_t k);

/* One EM iteration t (figure 17.15), all per point (divided by n):
 *   loglik        log Pr(x | theta_{t-1}), computed in E-step t
 *   elbo_before_e ELBO(q_{t-1}, theta_{t-1}): the bound before E-step t (q_0 is
 *                 the initialisation's responsibilities)
 *   elbo_after_e  ELBO(q_t, theta_{t-1}) with q_t the posterior: equals loglik
 *   elbo_after_m  ELBO(q_t, theta_t) after M-step t (= elbo_before_e of t+1)
 * EM guarantees elbo_before_e <= elbo_after_e = loglik <= elbo_after_m <= next loglik
 * (exactly for reg_covar = 0; to within reg_covar effects otherwise). */
typedef struct mog_trace_row {
    double loglik, elbo_before_e, elbo_after_e, elbo_after_m;
    double seconds;     /* wall time of this iteration (pass + M-step) */
    double cpu_seconds; /* CPU time of the process in it (all threads): on a busy machine the
                           honest cost of one thread's work */
} mog_trace_row;

typedef struct mog_result {
    mog_params params;     /* the best restart's fit */
    int iterations;        /* EM iterations of the best restart */
    bool converged;        /* tol reached (never when tol = 0) */
    double mean_loglik;    /* mean log Pr(x_i) at the final parameters */
    int best_restart;
    mog_trace_row *trace;  /* (iterations) of the best restart */
    double *restart_loglik; /* (restarts) final mean log-likelihood of each restart */
    unsigned warnings;     /* MOG_WARN_* over all restarts */
    size_t n_empty;        /* component-iterations that were empty (all restarts) */
    int total_iterations;  /* over all restarts */
    double seconds_em;     /* wall time of the EM iterations (no initialisation, no final scoring) */
    mog_engine engine;     /* the engine that ran (fused or gemm) */
} mog_result;

/* Fit x (n, d) row-major. Errors: ELBO_ERR_INVALID (bad configuration,
 * k > n, a covariance that is not positive definite with reg_covar = 0),
 * ELBO_ERR_NONFINITE (NaN/Inf in x), ELBO_ERR_NOMEM. On error res holds
 * nothing to free. */
elbo_status mog_fit(const double *x, size_t n, size_t d, const mog_config *cfg, mog_result *res);
void mog_result_free(mog_result *r);

/* log Pr(x_i) into loglik (n) and/or responsibilities into resp (n, k)
 * (either may be NULL), and their mean into *mean_loglik (may be NULL). */
elbo_status mog_score_samples(const mog_params *p, const double *x, size_t n, double *loglik, double *resp,
                              double *mean_loglik);

/* Ancestral sampling: z ~ Cat(w), then x ~ Norm(mu_z, Sigma_z); x (n, d),
 * labels (n) or NULL. */
elbo_status mog_sample(const mog_params *p, elbo_rng *rng, size_t n, double *x, size_t *labels);

/* One line for a single MOG_WARN_* flag ("" for an unknown one). */
const char *mog_warning_text(unsigned flag);
const char *mog_cov_name(mog_cov cov);
const char *mog_init_name(mog_init init);

#endif
