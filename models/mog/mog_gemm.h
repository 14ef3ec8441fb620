/* EM with the heavy work as float64 GEMMs (internal to models/mog; full
 * covariance only). Per chunk of MOG_GEMM_CHUNK points:
 *
 *   E-step  Y = U_k (x - mu_k) for all k at once: the rows (k, t) of Y^T are
 *           U_k[t, :] · X^T, a GEMM of the stacked precision factors (k d, d)
 *           with the chunk's transposed data (d, P); the chain starts at
 *           -U_k mu_k, the product of an extra first column of A with a
 *           row of ones on top of X^T. Row t of U_k is zero
 *           past column t, so rows are taken in groups of MOG_GEMM_EG
 *           coordinates with K = the group's last coordinate + 1: the
 *           triangle costs (d + EG) d / 2 per point and component, not d^2.
 *           Each group's block is squared and summed into |y|^2 as soon
 *           as it is made (a block of k EG rows stays in L1/L2, not all
 *           k d), with points in vector lanes; then log-sum-exp and the
 *           responsibilities.
 *   M-step  W = r_k (x - c_k) (rows (k, j), points in lanes), then
 *           S_k = W_k · X, a GEMM (k d, P) x (P, d) accumulated over the
 *           task's chunks; only columns l <= j are needed, so rows come in
 *           groups of 8 coordinates with N = the group's last coordinate + 1
 *           (rounded to whole vectors), each group weighed just before its
 *           GEMM. The scatter about c_k is
 *           S_k - s1_k c_k^T, s1_k = sum W_k.
 * Data are centred on their mean once (x - m; means and shifts likewise) so
 * the products stay small next to the spreads. Same task split and order
 * of sums for any thread count; the GEMM is bit-identical at every level and
 * tiling (ops/gemm.h) and the per-ISA loops run one point per lane, so the
 * engine gives the same bits for any thread count and SIMD level. */
#ifndef ELBO_MOG_GEMM_H
#define ELBO_MOG_GEMM_H

#include <stddef.h>

#include "models/mog/mog_pass.h"
#include "ops/error.h"

/* Points per chunk: a multiple of 24 (the widest GEMM tile) and of 8 (lanes). */
#ifndef MOG_GEMM_CHUNK
#define MOG_GEMM_CHUNK 120
#endif
/* Chunks per task: fixed, so the split never depends on the thread count. */
#define MOG_GEMM_TASK_CHUNKS 32
/* Coordinates per E-step row group (smaller: less of the triangle's zeros, shorter GEMMs). */
#ifndef MOG_GEMM_EG
#define MOG_GEMM_EG 4
#endif
/* auto picks the GEMM engine for full covariances from this many dimensions.
 * Measured at k = 10, one thread, CPU ms per iteration (fused / gemm), best of 2
 * on a loaded machine: n = 100000, d = 16: 10.2 / 14.0; n = 20000, d = 32:
 * 6.9 / 7.9, d = 48: 15.2 / 15.6, d = 64: 30.9 / 26.6 (and with an earlier,
 * 10% slower gemm engine: d = 96: 61.8 / 65.9, d = 128: 153 / 135). */
#define MOG_GEMM_AUTO_MIN_D 64
/* Coordinates per M-step row group: one vector of columns. */
#define MOG_GEMM_MG 8

/* The per-chunk loops (mog_gemm_pass.c, compiled per ISA). */
typedef struct mog_gemm_args {
    size_t n, npad, d, k;
    const double *xt;     /* (1 + d, npad): a row of ones, then the centred data transposed (padding 0) */
    const double *mask;   /* (npad) 1 real point, 0 padding */
    const double *cst;    /* (k) log w + log det U - d/2 log 2 pi */
    const double *shift;  /* (k, d) centred shifts of the statistics (the E-step means) */
    double *ll_out;       /* (n) or NULL */
    double *resp_out;     /* (n, k) or NULL */
} mog_gemm_args;

/* Lane accumulators of one task: ll, energy, entropy (8 each), nk (k, 8), s1 (k, d, 8). */
typedef struct mog_gemm_lanes {
    double *ll, *energy, *entropy, *nk, *s1;
} mog_gemm_lanes;

/* q (k, P) (+)= the squares of one E group's block y (k sz, P) = U (x - mu),
 * summed over its coordinates (first: q starts at 0). */
typedef void (*mog_gemm_norms_fn)(const mog_gemm_args *a, const double *y, size_t sz, int first, double *q);
/* From q = |U (x - mu)|^2 (k, P) of the chunk at point p0: lp (over q) and r
 * (k, P), the log-likelihood sums, and the per-point outputs. */
typedef void (*mog_gemm_resp_fn)(const mog_gemm_args *a, size_t p0, double *lp, double *r, mog_gemm_lanes *L);
/* w (k sz, P) = r (x - shift) for the M group of coordinates [j0, j0 + sz)
 * (r masked); the s1 sums of those coordinates, and nk with the first group. */
typedef void (*mog_gemm_weight_fn)(const mog_gemm_args *a, size_t p0, const double *r, size_t j0, size_t sz,
                                   double *w, mog_gemm_lanes *L);

typedef struct mog_gemm_fns {
    mog_gemm_norms_fn norms;
    mog_gemm_resp_fn resp;
    mog_gemm_weight_fn weight;
} mog_gemm_fns;

extern const mog_gemm_fns mog_gemm_fns_scalar, mog_gemm_fns_avx2, mog_gemm_fns_avx512, mog_gemm_fns_neon;
const mog_gemm_fns *mog_gemm_kernels(void);

#endif
