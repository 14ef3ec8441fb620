/* The hot loop of EM (internal to models/mog): one fused pass over a range
 * of points that computes, for parameters theta, the log-probabilities of
 * every point under every component (the E-step), the responsibilities by
 * log-sum-exp, and, weighted by them, the sufficient statistics of the next
 * M-step (counts, first moments, scatter matrices).
 *
 * Data layout: points are repacked once into PANELS of MOG_LANES points,
 * stored dimension-major ((dp, 8) per panel, d rounded up to MOG_TILE with
 * zero rows), so one 8-lane vector holds one
 * coordinate of 8 points and every lane runs that point's own sequential
 * arithmetic. Statistics are shifted by the component's current mean c_k
 * (the theta used in the E-step): s1 = sum r (x - c), s2 = sum r (x - c)(x - c)^T,
 * which keeps the scatter free of cancellation without a second pass.
 *
 * One kernel per SIMD level (mog_pass.c compiled per ISA over the v8 vectors of ops/simd.h); the
 * scalar build is the same source. All levels give identical bits. */
#ifndef ELBO_MOG_PASS_H
#define ELBO_MOG_PASS_H

#include <stddef.h>

#include "ops/error.h"

#define MOG_LANES 8
/* Panels handled together in one E/M block: the block's centred and
 * weighted data (2 x 16 panels x d x 8 doubles, 32 KiB at d = 16) stays in
 * L1 while the scatter tiles stream over it. */
#ifndef MOG_BLOCK_PANELS /* overridable for tuning builds */
#define MOG_BLOCK_PANELS 16
#endif
/* Rows (and columns) of one register tile of the scatter and of the
 * triangular solve: 4 x 4 accumulators of 8 lanes. */
#define MOG_TILE 4

typedef struct mog_pass_args {
    size_t d, k;
    size_t dp;           /* d rounded up to MOG_TILE */
    int full;            /* 1: full covariance; 0: diagonal precision (diag, spherical) */
    const double *xt;    /* (npanels, dp, 8) panels, rows d..dp-1 zero */
    const double *mask;  /* (npanels, 8): 1 for a real point, 0 for padding */
    const double *mu;    /* (k, dp) means = shifts of the statistics, zero-padded */
    const double *u;     /* full: (k, dp, dp) lower-triangular precision Cholesky factor,
                            zero-padded; else (k, d) square roots of the precisions */
    const double *cst;   /* (k) log w_k + sum_j log u_jj - d/2 log(2 pi) */
    int want_stats;      /* accumulate the M-step statistics */
    int skip;            /* skip (panel, component) pairs in the statistics whose 8
                            responsibilities are all <= floor (0: exact zeros only, the
                            result is identical) */
    double floor;
    size_t n;            /* real points (outputs below are (n, ...)) */
    const size_t *order; /* (n) point in each panel slot, or NULL: slot i is point i */
    double *ll_out;      /* (n) log Pr(x_i), or NULL */
    double *resp_out;    /* (n, k) responsibilities, or NULL */
} mog_pass_args;

/* Results of one task (a fixed range of panels), combined by the caller in
 * task order so sums do not depend on the thread count. */
typedef struct mog_pass_out {
    double ll;      /* sum of log Pr(x_i) */
    double energy;  /* sum_i sum_k r_ik log Pr(x_i, z = k) */
    double entropy; /* -sum_i sum_k r_ik log r_ik */
    double *nk;     /* (k) sum_i r_ik */
    double *s1;     /* (k, d) */
    double *s2;     /* full: (k, d, d), both triangles; diag: (k, d) */
} mog_pass_out;

/* Where the pieces of one call's scratch live: lane accumulators (8 lanes
 * each, summed once at the end of the call) and the block buffers. */
typedef struct mog_pass_layout {
    double *ll, *energy, *entropy; /* (8) each */
    double *nk;                    /* (k, 8) */
    double *s1;                    /* (k, dp, 8) */
    double *s2;                    /* full: (k, ntiles, 16, 8); diag: (k, d, 8) */
    double *lp, *r;                /* (k, MOG_BLOCK_PANELS, 8) log Pr(x, z=k) and responsibilities */
    double *lse;                   /* (MOG_BLOCK_PANELS, 8) log Pr(x) */
    double *wb;                    /* (MOG_BLOCK_PANELS, dp, 8) weighted centred data r (x - c) */
} mog_pass_layout;

/* Carve scratch (NULL: just count) into L; returns the doubles needed. Every
 * piece starts on a 64-byte boundary if scratch does. */
static inline size_t mog_pass_carve(double *scratch, size_t d, size_t k, int full, mog_pass_layout *L)
{
    size_t dp = (d + MOG_TILE - 1) / MOG_TILE * MOG_TILE, t = dp / MOG_TILE;
    size_t ntiles = t * (t + 1) / 2, off = 0;
    size_t sizes[10] = {MOG_LANES,
                        MOG_LANES,
                        MOG_LANES,
                        k * MOG_LANES,
                        k * dp * MOG_LANES,
                        full ? k * ntiles * MOG_TILE * MOG_TILE * MOG_LANES : k * d * MOG_LANES,
                        k * MOG_BLOCK_PANELS * MOG_LANES,
                        k * MOG_BLOCK_PANELS * MOG_LANES,
                        MOG_BLOCK_PANELS * MOG_LANES,
                        MOG_BLOCK_PANELS * dp * MOG_LANES};
    double **dst[10] = {&L->ll, &L->energy, &L->entropy, &L->nk, &L->s1, &L->s2, &L->lp, &L->r, &L->lse, &L->wb};
    for (int i = 0; i < 10; i++) {
        *dst[i] = scratch ? scratch + off : NULL;
        off += sizes[i]; /* multiples of 8 doubles: 64-byte aligned pieces */
    }
    return off;
}

typedef void (*mog_pass_fn)(const mog_pass_args *a, size_t panel0, size_t npanels, double *scratch,
                            mog_pass_out *out);

void mog_pass_scalar(const mog_pass_args *a, size_t panel0, size_t npanels, double *scratch, mog_pass_out *out);
void mog_pass_avx2(const mog_pass_args *a, size_t panel0, size_t npanels, double *scratch, mog_pass_out *out);
void mog_pass_avx512(const mog_pass_args *a, size_t panel0, size_t npanels, double *scratch, mog_pass_out *out);
void mog_pass_neon(const mog_pass_args *a, size_t panel0, size_t npanels, double *scratch, mog_pass_out *out);

/* The kernel of the current SIMD level (ops/simd_level.h). */
mog_pass_fn mog_pass_kernel(void);

#endif
