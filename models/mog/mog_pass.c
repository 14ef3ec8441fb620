/* The fused E-step / M-step-statistics pass, once per SIMD level (see
 * mog_pass.h for the layout and ops/simd.h (v8) for why every level gives the same
 * bits). Compiled once without an ISA macro (the scalar kernel) and once per
 * ISA with ELBO_ISA_* set.
 *
 * Work per (panel of 8 points, component), full covariance, d = 16:
 *   E: the triangular product y = U (x - mu) as 136 FMAs in groups of 4 rows
 *      over EP panels (4 x EP independent FMA chains fill two FMA pipes of
 *      4-cycle latency), 16 FMAs for |y|^2;
 *   M: the weighted scatter sum r (x-c)(x-c)^T as 4x4 register tiles of the
 *      lower triangle, 136 FMAs, streaming the block from L1.
 * FMAs are the bottleneck, so x - mu is recomputed where it is needed (on
 * the otherwise idle add pipes) rather than stored and reloaded: stores were
 * a third of the pass. Only r (x - c) is stored, once per block. */
#include <stdint.h>

#include "models/mog/mog_pass.h"
#include "ops/simd_math.h"

#define BP MOG_BLOCK_PANELS
#define L8 MOG_LANES

/* ---- E-step, full covariance: lp[k][p] = cst_k - |U_k (x - mu_k)|^2 / 2 ---- */

/* Panels whose E-step runs together: each of the 4 rows of U loaded (as a
 * broadcast) feeds EP panels, so loads per FMA fall as EP grows; EP x 4
 * accumulators must fit the register file (32 zmm; 16 ymm hold only half
 * as many 8-lane values). Lanes never interact, so EP changes no result. */
#if defined(ELBO_ISA_AVX512)
#define EP 4
#else
#define EP 2
#endif

/* Rows j0..j0+3 of y = U (x - mu) for EP panels at column l:
 * a[p][i] += U[j0+i][l] (x_p[l] - mu[l]) for the rows i >= first (the 4x4
 * triangle at l = j0..j0+3 skips the zeros). Each row's sum runs over l in
 * increasing order. */
static inline void rows4(v8 a[EP][MOG_TILE], const double *x, size_t pstride, const double *mu, const double *u0,
                         size_t dp, size_t l, int first)
{
    v8 y[EP], m = v8_set1(mu[l]);
#pragma GCC unroll 4
    for (int p = 0; p < EP; p++)
        y[p] = v8_sub(v8_load(x + p * pstride + l * L8), m);
#pragma GCC unroll 4
    for (int i = 0; i < MOG_TILE; i++) {
        if (i < first)
            continue;
        v8 b = v8_set1(u0[i * dp + l]);
#pragma GCC unroll 4
        for (int p = 0; p < EP; p++)
            a[p][i] = v8_fmadd(b, y[p], a[p][i]);
    }
}

static void estep_full(const mog_pass_args *a, size_t pb, size_t nb, const mog_pass_layout *L)
{
    const size_t dp = a->dp, pstride = dp * L8;
    const v8 half = v8_set1(0.5);
    for (size_t kk = 0; kk < a->k; kk++) {
        const double *U = a->u + kk * dp * dp, *mu = a->mu + kk * dp;
        const v8 cst = v8_set1(a->cst[kk]);
        for (size_t p0 = 0; p0 < nb; p0 += EP) { /* nb is a multiple of EP: points are padded */
            const double *x = a->xt + (pb + p0) * pstride;
            v8 q[EP];
            for (int p = 0; p < EP; p++)
                q[p] = v8_zero();
            for (size_t j0 = 0; j0 < dp; j0 += MOG_TILE) {
                const double *u0 = U + j0 * dp;
                v8 acc[EP][MOG_TILE];
#pragma GCC unroll 4
                for (int p = 0; p < EP; p++)
#pragma GCC unroll 4
                    for (int i = 0; i < MOG_TILE; i++)
                        acc[p][i] = v8_zero();
                for (size_t l = 0; l < j0; l++)
                    rows4(acc, x, pstride, mu, u0, dp, l, 0);
                rows4(acc, x, pstride, mu, u0, dp, j0, 0);
                rows4(acc, x, pstride, mu, u0, dp, j0 + 1, 1);
                rows4(acc, x, pstride, mu, u0, dp, j0 + 2, 2);
                rows4(acc, x, pstride, mu, u0, dp, j0 + 3, 3);
#pragma GCC unroll 4
                for (int p = 0; p < EP; p++)
#pragma GCC unroll 4
                    for (int i = 0; i < MOG_TILE; i++)
                        q[p] = v8_fmadd(acc[p][i], acc[p][i], q[p]);
            }
            for (int p = 0; p < EP; p++)
                v8_store(L->lp + (kk * BP + p0 + p) * L8, v8_fnmadd(half, q[p], cst));
        }
    }
}

/* ---- E-step, diagonal precision (diag and spherical) ---- */
static void estep_diag(const mog_pass_args *a, size_t pb, size_t nb, const mog_pass_layout *L)
{
    const size_t d = a->d;
    const v8 half = v8_set1(0.5);
    for (size_t kk = 0; kk < a->k; kk++) {
        const double *u = a->u + kk * d, *mu = a->mu + kk * a->dp;
        const v8 cst = v8_set1(a->cst[kk]);
        for (size_t p = 0; p < nb; p += 2) {
            const double *x0 = a->xt + (pb + p) * a->dp * L8, *x1 = x0 + a->dp * L8;
            v8 q0 = v8_zero(), q1 = v8_zero();
            for (size_t l = 0; l < d; l++) {
                v8 m = v8_set1(mu[l]), s = v8_set1(u[l]);
                v8 t0 = v8_mul(v8_sub(v8_load(x0 + l * L8), m), s);
                v8 t1 = v8_mul(v8_sub(v8_load(x1 + l * L8), m), s);
                q0 = v8_fmadd(t0, t0, q0);
                q1 = v8_fmadd(t1, t1, q1);
            }
            v8_store(L->lp + (kk * BP + p) * L8, v8_fnmadd(half, q0, cst));
            v8_store(L->lp + (kk * BP + p + 1) * L8, v8_fnmadd(half, q1, cst));
        }
    }
}

/* ---- responsibilities by log-sum-exp, and the per-point sums ---- */
static void responsibilities(const mog_pass_args *a, size_t pb, size_t nb, const mog_pass_layout *L)
{
    const size_t K = a->k;
    v8 ll = v8_load(L->ll), en = v8_load(L->energy), et = v8_load(L->entropy);
    for (size_t p = 0; p < nb; p++) {
        v8 m = v8_load(L->lp + p * L8);
        for (size_t kk = 1; kk < K; kk++)
            m = v8_max(m, v8_load(L->lp + (kk * BP + p) * L8));
        v8 s = v8_zero();
        for (size_t kk = 0; kk < K; kk++) {
            v8 e = v8_exp(v8_sub(v8_load(L->lp + (kk * BP + p) * L8), m));
            v8_store(L->r + (kk * BP + p) * L8, e);
            s = v8_add(s, e);
        }
        v8 lse = v8_add(m, v8_log(s)); /* s >= 1: the largest term is exp(0) */
        v8 inv = v8_div(v8_set1(1.0), s);
        v8 enp = v8_zero(), etp = v8_zero();
        for (size_t kk = 0; kk < K; kk++) {
            double *rp = L->r + (kk * BP + p) * L8;
            v8 lp = v8_load(L->lp + (kk * BP + p) * L8);
            v8 r = v8_mul(v8_load(rp), inv);
            v8_store(rp, r);
            enp = v8_fmadd(r, lp, enp);
            etp = v8_fmadd(r, v8_sub(lp, lse), etp); /* r log r */
        }
        v8 mask = v8_load(a->mask + (pb + p) * L8);
        ll = v8_fmadd(lse, mask, ll);
        en = v8_fmadd(enp, mask, en);
        et = v8_fnmadd(etp, mask, et);
        v8_store(L->lse + p * L8, lse);
    }
    v8_store(L->ll, ll);
    v8_store(L->energy, en);
    v8_store(L->entropy, et);

    if (!a->ll_out && !a->resp_out)
        return;
    for (size_t p = 0; p < nb; p++)
        for (size_t i = 0; i < L8; i++) {
            size_t slot = (pb + p) * L8 + i;
            if (slot >= a->n)
                break;
            size_t g = a->order ? a->order[slot] : slot;
            if (a->ll_out)
                a->ll_out[g] = L->lse[p * L8 + i];
            if (a->resp_out)
                for (size_t kk = 0; kk < K; kk++)
                    a->resp_out[g * K + kk] = L->r[(kk * BP + p) * L8 + i];
        }
}

/* ---- M-step statistics ---- */

static int all_at_most(v8 w, double floor)
{
    double t[L8];
    v8_store(t, w);
    for (int i = 0; i < L8; i++)
        if (t[i] > floor)
            return 0;
    return 1;
}

/* Weight the block for component kk: wb = r (x - c) for the panels that
 * carry weight (compacted; act[] maps back to the panel); returns their
 * count. Accumulates n_k, and for diag also s1 and the diagonal of s2. */
static size_t centre_block(const mog_pass_args *a, size_t kk, size_t pb, size_t nb, const mog_pass_layout *L,
                           size_t *act)
{
    const size_t d = a->d, dp = a->dp;
    const double *mu = a->mu + kk * dp;
    double *s1 = L->s1 + kk * dp * L8, *s2 = L->s2 + kk * d * L8;
    v8 nk = v8_load(L->nk + kk * L8);
    size_t q = 0;
    for (size_t p = 0; p < nb; p++) {
        v8 w = v8_mul(v8_load(L->r + (kk * BP + p) * L8), v8_load(a->mask + (pb + p) * L8));
        if (a->skip && all_at_most(w, a->floor))
            continue; /* floor 0: every contribution below would be an exact zero */
        nk = v8_add(nk, w);
        const double *x = a->xt + (pb + p) * dp * L8;
        if (a->full) { /* s1 is summed in the diagonal tiles, from wb; padded rows give 0 */
            double *wb = L->wb + q * dp * L8;
            for (size_t l = 0; l < dp; l++)
                v8_store(wb + l * L8, v8_mul(w, v8_sub(v8_load(x + l * L8), v8_set1(mu[l]))));
        } else {
            for (size_t l = 0; l < d; l++) {
                v8 dv = v8_sub(v8_load(x + l * L8), v8_set1(mu[l]));
                v8 wd = v8_mul(w, dv);
                v8_store(s1 + l * L8, v8_add(v8_load(s1 + l * L8), wd));
                v8_store(s2 + l * L8, v8_fmadd(wd, dv, v8_load(s2 + l * L8)));
            }
        }
        act[q++] = p;
    }
    v8_store(L->nk + kk * L8, nk);
    return q;
}

#define LD(i) v8 c##i = v8_load(acc + (i) * L8)
#define ST(i) v8_store(acc + (i) * L8, c##i)

/* The block's data for the tiles: weighted rows wb (compacted), and the
 * panels (x, centred by mu on the fly) they came from. */
typedef struct tile_src {
    const double *wb, *xt, *mu;
    const size_t *act;
    size_t nq, dp;
} tile_src;

/* Rows 4t..4t+3 of x - mu for active panel q. */
#define CENTRED4(S, q, t, b0, b1, b2, b3)                                                                    \
    const double *x_ = (S)->xt + ((S)->act[q] * (S)->dp + (t) * MOG_TILE) * L8, *m_ = (S)->mu + (t) * MOG_TILE; \
    v8 b0 = v8_sub(v8_load(x_), v8_set1(m_[0])), b1 = v8_sub(v8_load(x_ + L8), v8_set1(m_[1]));               \
    v8 b2 = v8_sub(v8_load(x_ + 2 * L8), v8_set1(m_[2])), b3 = v8_sub(v8_load(x_ + 3 * L8), v8_set1(m_[3]))

/* s2 tile (J, Lt) below the diagonal: 16 lane accumulators += wb rows x centred rows. */
static void tile_off(double *acc, const tile_src *S, size_t J, size_t Lt)
{
    const size_t dp = S->dp;
    LD(0); LD(1); LD(2); LD(3); LD(4); LD(5); LD(6); LD(7);
    LD(8); LD(9); LD(10); LD(11); LD(12); LD(13); LD(14); LD(15);
    for (size_t q = 0; q < S->nq; q++) {
        const double *w = S->wb + (q * dp + J * MOG_TILE) * L8;
        CENTRED4(S, q, Lt, b0, b1, b2, b3);
        v8 a0 = v8_load(w);
        c0 = v8_fmadd(a0, b0, c0); c1 = v8_fmadd(a0, b1, c1); c2 = v8_fmadd(a0, b2, c2); c3 = v8_fmadd(a0, b3, c3);
        v8 a1 = v8_load(w + L8);
        c4 = v8_fmadd(a1, b0, c4); c5 = v8_fmadd(a1, b1, c5); c6 = v8_fmadd(a1, b2, c6); c7 = v8_fmadd(a1, b3, c7);
        v8 a2 = v8_load(w + 2 * L8);
        c8 = v8_fmadd(a2, b0, c8); c9 = v8_fmadd(a2, b1, c9); c10 = v8_fmadd(a2, b2, c10); c11 = v8_fmadd(a2, b3, c11);
        v8 a3 = v8_load(w + 3 * L8);
        c12 = v8_fmadd(a3, b0, c12); c13 = v8_fmadd(a3, b1, c13); c14 = v8_fmadd(a3, b2, c14);
        c15 = v8_fmadd(a3, b3, c15);
    }
    ST(0); ST(1); ST(2); ST(3); ST(4); ST(5); ST(6); ST(7);
    ST(8); ST(9); ST(10); ST(11); ST(12); ST(13); ST(14); ST(15);
}

/* Diagonal tile: only the 10 entries with row >= column (slots i*4+m, i >= m),
 * and rows 4J..4J+3 of s1 (the sum of the weighted rows themselves). */
static void tile_diag(double *acc, double *s1, const tile_src *S, size_t J)
{
    const size_t dp = S->dp;
    LD(0); LD(4); LD(5); LD(8); LD(9); LD(10); LD(12); LD(13); LD(14); LD(15);
    v8 e0 = v8_load(s1), e1 = v8_load(s1 + L8), e2 = v8_load(s1 + 2 * L8), e3 = v8_load(s1 + 3 * L8);
    for (size_t q = 0; q < S->nq; q++) {
        const double *w = S->wb + (q * dp + J * MOG_TILE) * L8;
        CENTRED4(S, q, J, b0, b1, b2, b3);
        v8 a0 = v8_load(w), a1 = v8_load(w + L8), a2 = v8_load(w + 2 * L8), a3 = v8_load(w + 3 * L8);
        e0 = v8_add(e0, a0); e1 = v8_add(e1, a1); e2 = v8_add(e2, a2); e3 = v8_add(e3, a3);
        c0 = v8_fmadd(a0, b0, c0);
        c4 = v8_fmadd(a1, b0, c4); c5 = v8_fmadd(a1, b1, c5);
        c8 = v8_fmadd(a2, b0, c8); c9 = v8_fmadd(a2, b1, c9); c10 = v8_fmadd(a2, b2, c10);
        c12 = v8_fmadd(a3, b0, c12); c13 = v8_fmadd(a3, b1, c13); c14 = v8_fmadd(a3, b2, c14);
        c15 = v8_fmadd(a3, b3, c15);
    }
    ST(0); ST(4); ST(5); ST(8); ST(9); ST(10); ST(12); ST(13); ST(14); ST(15);
    v8_store(s1, e0); v8_store(s1 + L8, e1); v8_store(s1 + 2 * L8, e2); v8_store(s1 + 3 * L8, e3);
}

static void mstep_stats(const mog_pass_args *a, size_t pb, size_t nb, const mog_pass_layout *L)
{
    const size_t dp = a->dp, t = dp / MOG_TILE, ntiles = t * (t + 1) / 2;
    size_t act[BP];
    for (size_t kk = 0; kk < a->k; kk++) {
        size_t nq = centre_block(a, kk, pb, nb, L, act);
        if (!a->full || nq == 0)
            continue;
        double *acc = L->s2 + kk * ntiles * MOG_TILE * MOG_TILE * L8;
        const tile_src S = {.wb = L->wb, .xt = a->xt + pb * dp * L8, .mu = a->mu + kk * dp, .act = act, .nq = nq,
                            .dp = dp};
        for (size_t J = 0; J < t; J++) {
            for (size_t Lt = 0; Lt < J; Lt++)
                tile_off(acc + (J * (J + 1) / 2 + Lt) * MOG_TILE * MOG_TILE * L8, &S, J, Lt);
            tile_diag(acc + (J * (J + 1) / 2 + J) * MOG_TILE * MOG_TILE * L8, L->s1 + (kk * dp + J * MOG_TILE) * L8,
                      &S, J);
        }
    }
}

/* ---- the task ---- */

static void lanes_to_out(const mog_pass_args *a, const mog_pass_layout *L, mog_pass_out *out)
{
    const size_t d = a->d, K = a->k, dp = a->dp, t = dp / MOG_TILE, ntiles = t * (t + 1) / 2;
    out->ll = v8_hsum(v8_load(L->ll));
    out->energy = v8_hsum(v8_load(L->energy));
    out->entropy = v8_hsum(v8_load(L->entropy));
    if (!a->want_stats)
        return;
    for (size_t kk = 0; kk < K; kk++) {
        out->nk[kk] = v8_hsum(v8_load(L->nk + kk * L8));
        for (size_t l = 0; l < d; l++)
            out->s1[kk * d + l] = v8_hsum(v8_load(L->s1 + (kk * dp + l) * L8));
        if (!a->full) {
            for (size_t l = 0; l < d; l++)
                out->s2[kk * d + l] = v8_hsum(v8_load(L->s2 + (kk * d + l) * L8));
            continue;
        }
        const double *acc = L->s2 + kk * ntiles * MOG_TILE * MOG_TILE * L8;
        double *s2 = out->s2 + kk * d * d;
        for (size_t j = 0; j < d; j++)
            for (size_t l = 0; l <= j; l++) {
                size_t J = j / MOG_TILE, Lt = l / MOG_TILE;
                size_t slot = (j % MOG_TILE) * MOG_TILE + l % MOG_TILE;
                double v = v8_hsum(v8_load(acc + ((J * (J + 1) / 2 + Lt) * MOG_TILE * MOG_TILE + slot) * L8));
                s2[j * d + l] = s2[l * d + j] = v;
            }
    }
}

void KERNEL(mog_pass)(const mog_pass_args *a, size_t panel0, size_t npanels, double *scratch,
                          mog_pass_out *out)
{
    mog_pass_layout L;
    mog_pass_carve(scratch, a->d, a->k, a->full, &L);
    size_t acc_doubles = (size_t)(L.lp - L.ll); /* the accumulators come first in the layout */
    for (size_t i = 0; i < acc_doubles; i++)
        L.ll[i] = 0.0;
    for (size_t b = 0; b < npanels; b += BP) {
        size_t nb = npanels - b < BP ? npanels - b : BP;
        if (a->full)
            estep_full(a, panel0 + b, nb, &L);
        else
            estep_diag(a, panel0 + b, nb, &L);
        responsibilities(a, panel0 + b, nb, &L);
        if (a->want_stats)
            mstep_stats(a, panel0 + b, nb, &L);
    }
    lanes_to_out(a, &L, out);
}
