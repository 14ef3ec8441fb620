/* Internals of models/mog shared between its sources (not installed). */
#ifndef ELBO_MOG_INTERNAL_H
#define ELBO_MOG_INTERNAL_H

#include <float.h>
#include <stddef.h>

#include "models/mog/mog.h"
#include "models/mog/mog_gemm.h"
#include "models/mog/mog_pass.h"
#include "ops/rng.h"

#define MOG_LOG_2PI 1.83787706640934548356
/* scikit-learn adds 10 eps to every N_k so an empty component divides by a
 * positive number; we do the same so fits agree number for number. */
#define MOG_NK_EPS (10.0 * DBL_EPSILON)
/* A component with less responsibility mass than this (in points) is empty:
 * its mean and covariance would be noise, so the previous ones are kept. */
#define MOG_EMPTY_MASS 1e-8
/* Points per task of the threaded pass: fixed, so the split (and so the
 * order of the sums) never depends on the thread count. 4096 points give
 * ~25 tasks at n = 1e5: enough to balance 2..8 threads. */
#define MOG_TASK_PANELS 512
/* Points are padded to a multiple of this (the E-step kernel takes panels in groups of up to 4). */
#define MOG_PAD_POINTS (4 * MOG_LANES)

/* Responsibility-weighted sums of one assignment q, shifted by c_k:
 *   nk = sum_i r_ik, s1 = sum_i r_ik (x_i - c_k), s2 = sum_i r_ik (x_i - c_k)(x_i - c_k)^T
 * (diagonal only for diag/spherical), and the entropy -sum r log r. Any
 * shift gives the same M-step; a shift near the mean avoids cancellation. */
typedef struct mog_stats {
    size_t k, d;
    int full;
    double *c, *nk, *s1, *s2;
    double entropy;
} mog_stats;

elbo_status mog_stats_alloc(mog_stats *s, size_t k, size_t d, int full);
void mog_stats_free(mog_stats *s);
void mog_stats_zero(mog_stats *s);

/* ---- linear algebra on small (d, d) row-major matrices ---- */
/* In place lower Cholesky (upper triangle zeroed). 0, or 1 + index of the
 * first pivot that is not positive. */
size_t mog_cholesky(double *a, size_t d);
/* u = L^-1 for lower-triangular L (u lower-triangular). */
void mog_tri_inverse(const double *l, double *u, size_t d);

/* ---- M-step and the bound ---- */
/* The new parameters from s into out (allocated like prev). Empty components
 * keep prev's mean and covariance. Adds MOG_WARN_* to *warn and empty
 * components to *n_empty. ELBO_ERR_INVALID if a covariance is not positive
 * definite (reg_covar = 0 on degenerate data); out is then unspecified. */
elbo_status mog_mstep(const mog_stats *s, double reg_covar, const mog_params *prev, mog_params *out,
                      unsigned *warn, size_t *n_empty);
/* Q(theta; q) = sum_i sum_k r_ik log Pr(x_i, z = k | theta) from the sums of q
 * alone (no pass over the data): the ELBO is Q + entropy. */
double mog_expected_loglik(const mog_params *p, const mog_stats *s);

/* ---- scratch of the pass tasks, shared by both engines (mog_work.c) ---- */
/* One block of `doubles` per thread that may run a task at once, claimed by
 * flag: allocated once, not per task (a fresh 100+ KiB block per task would
 * be mmap'd and page-faulted every time). Contents never carry over. */
typedef struct mog_slots {
    size_t doubles;
    double **mem;
    int *busy;
    int n;
} mog_slots;
/* 64-byte aligned doubles (at least one), or NULL; free() them. */
double *mog_alloc_doubles(size_t n);
/* Enough blocks for every pool thread and the caller. */
elbo_status mog_slots_ensure(mog_slots *s);
/* A free block (at most s->n tasks run at once, so one always is), then give it back. */
int mog_slot_claim(mog_slots *s);
void mog_slot_release(mog_slots *s, int slot);
void mog_slots_free(mog_slots *s);

/* ---- the threaded pass over packed data ---- */
typedef struct mog_work {
    size_t n, d, k, dp, npanels, ntasks;
    int full;
    double *xt, *mask; /* panels (mog_pass.h) */
    double *u, *cst;   /* kernel-side parameters (padded precision factors) */
    double *mu;        /* (k, dp) zero-padded means */
    size_t *order;     /* (n) point in each panel slot, or NULL for 0..n-1 */
    mog_pass_out *outs;
    double *out_mem;
    mog_slots slots;
    mog_pass_args args;
    mog_pass_fn fn;
} mog_work;

elbo_status mog_work_init(mog_work *w, const double *x, size_t n, size_t d, size_t k, mog_cov cov);
/* Repack x with panel slot i holding point order[i] (NULL: i). Grouping
 * points of one cluster into the same panels lets the M-step skip whole
 * panels of (near-)zero responsibility; per-point outputs still go to the
 * points' own rows. */
void mog_work_pack(mog_work *w, const double *x, const size_t *order);
void mog_work_free(mog_work *w);
/* One pass under p. Sums into *ll, *energy, *entropy (any may be NULL); the
 * M-step sums into stats (NULL: skip them) with resp_floor as in
 * mog_config; per-point outputs as in mog_pass_args. */
elbo_status mog_work_run(mog_work *w, const mog_params *p, mog_stats *stats, double resp_floor, double *ll,
                         double *energy, double *entropy, double *ll_out, double *resp_out);

/* The task results summed in task order into stats (NULL: skip; its shift c
 * set to p's means) and the three sums (any may be NULL); s2len doubles of s2
 * per task. ELBO_ERR_NONFINITE if the log-likelihood is not finite. */
elbo_status mog_sum_tasks(const mog_pass_out *outs, size_t ntasks, const mog_params *p, mog_stats *stats,
                          size_t s2len, double *ll, double *energy, double *entropy);

/* ---- the GEMM engine (mog_gemm.h; full covariance) ---- */
typedef struct mog_gemm_work {
    size_t n, npad, d, k, nchunks, ntasks;
    double *xt, *xr, *mask; /* [ones; centred data^T] (1 + d, npad), centred data (npad, d); padding 0 */
    double *centre;         /* (d) the data mean */
    double *ua;             /* E groups' rows [-U (mu - m), factor row], group after group */
    double *cst, *shift;    /* (k) constants, (k, d) mu - m */
    int want_stats;
    mog_pass_out *outs;
    double *out_mem;
    mog_slots slots;
    mog_gemm_args args;
    const mog_gemm_fns *fn;
} mog_gemm_work;

elbo_status mog_gemm_init(mog_gemm_work *w, const double *x, size_t n, size_t d, size_t k);
void mog_gemm_free(mog_gemm_work *w);
/* One pass under p, as mog_work_run (dense: no responsibility is skipped). */
elbo_status mog_gemm_run(mog_gemm_work *w, const mog_params *p, mog_stats *stats, double *ll, double *energy,
                         double *entropy, double *ll_out, double *resp_out);

/* ---- initialisation: the sums of q_0 and a fallback for empty components ---- */
/* Fills s (shift = the weighted means) and fallback (means: seeds or given
 * means; covariances: the data's) for the configured init, and labels (n)
 * with each point's initial cluster (all 0 for random responsibilities). */
elbo_status mog_init_stats(const double *x, size_t n, size_t d, const mog_config *cfg, elbo_rng *rng,
                           mog_stats *s, mog_params *fallback, size_t *labels, unsigned *warn);

#endif
