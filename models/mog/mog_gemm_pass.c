/* The per-chunk loops of the GEMM engine (mog_gemm.h) over the v8 vectors of
 * ops/simd.h, 8 points per vector, each lane that point's own sequence of
 * operations: compiled once per ISA and once as the scalar build, all with
 * the same bits. */
#include "models/mog/mog_gemm.h"
#include "ops/simd_level.h"
#include "ops/simd_math.h"

#define L8 MOG_LANES
#define P MOG_GEMM_CHUNK

/* q[c] (+)= sum over the group's sz coordinates t of y[(c, t)]^2, in
 * increasing t (first: q starts at 0); y is the group's (k sz, P) block. */
static void norms(const mog_gemm_args *a, const double *y, size_t sz, int first, double *q)
{
    for (size_t c = 0; c < a->k; c++)
        for (size_t pv = 0; pv < P; pv += L8) {
            v8 acc = first ? v8_zero() : v8_load(q + c * P + pv);
            for (size_t t = 0; t < sz; t++) {
                v8 yv = v8_load(y + (c * sz + t) * P + pv);
                acc = v8_fmadd(yv, yv, acc);
            }
            v8_store(q + c * P + pv, acc);
        }
}

/* lp = cst - q / 2 (in place over q), then log-sum-exp and r = exp(lp - lse);
 * ll += lse, energy += sum r lp, entropy -= sum r (lp - lse). */
static void resp(const mog_gemm_args *a, size_t p0, double *lp, double *r, mog_gemm_lanes *L)
{
    const size_t K = a->k;
    const v8 half = v8_set1(0.5);
    v8 ll = v8_load(L->ll), en = v8_load(L->energy), et = v8_load(L->entropy);
    for (size_t pv = 0; pv < P; pv += L8) {
        for (size_t c = 0; c < K; c++)
            v8_store(lp + c * P + pv, v8_fnmadd(half, v8_load(lp + c * P + pv), v8_set1(a->cst[c])));
        v8 m = v8_load(lp + pv);
        for (size_t c = 1; c < K; c++)
            m = v8_max(m, v8_load(lp + c * P + pv));
        v8 s = v8_zero();
        for (size_t c = 0; c < K; c++) {
            v8 e = v8_exp(v8_sub(v8_load(lp + c * P + pv), m));
            v8_store(r + c * P + pv, e);
            s = v8_add(s, e);
        }
        v8 lse = v8_add(m, v8_log(s)); /* s >= 1: the largest term is exp(0) */
        v8 inv = v8_div(v8_set1(1.0), s);
        v8 enp = v8_zero(), etp = v8_zero(), mask = v8_load(a->mask + p0 + pv);
        for (size_t c = 0; c < K; c++) {
            v8 l = v8_load(lp + c * P + pv);
            v8 rv = v8_mul(v8_load(r + c * P + pv), inv);
            v8_store(r + c * P + pv, v8_mul(rv, mask)); /* padding points weigh 0 in the M-step */
            enp = v8_fmadd(rv, l, enp);
            etp = v8_fmadd(rv, v8_sub(l, lse), etp); /* r log r */
        }
        ll = v8_fmadd(lse, mask, ll);
        en = v8_fmadd(enp, mask, en);
        et = v8_fnmadd(etp, mask, et);
        if (!a->ll_out && !a->resp_out)
            continue;
        double lsev[L8];
        v8_store(lsev, lse);
        for (size_t i = 0; i < L8 && p0 + pv + i < a->n; i++) {
            size_t g = p0 + pv + i;
            if (a->ll_out)
                a->ll_out[g] = lsev[i];
            if (a->resp_out)
                for (size_t c = 0; c < K; c++)
                    a->resp_out[g * K + c] = r[c * P + pv + i];
        }
    }
    v8_store(L->ll, ll);
    v8_store(L->energy, en);
    v8_store(L->entropy, et);
}

/* For the M group of coordinates [j0, j0 + sz): w[(c, j - j0)] = r_c (x_j - shift_cj)
 * (r masked by resp), s1_cj += w; with j0 = 0 also nk_c += r_c. Each lane sums
 * its own points in order, whatever the loop nesting. */
static void weight(const mog_gemm_args *a, size_t p0, const double *r, size_t j0, size_t sz, double *w,
                   mog_gemm_lanes *L)
{
    const size_t K = a->k, d = a->d;
    for (size_t c = 0; c < K; c++) {
        const double *sh = a->shift + c * d, *rc = r + c * P;
        if (j0 == 0) {
            v8 nk = v8_load(L->nk + c * L8);
            for (size_t pv = 0; pv < P; pv += L8)
                nk = v8_add(nk, v8_load(rc + pv));
            v8_store(L->nk + c * L8, nk);
        }
        for (size_t jj = 0; jj < sz; jj++) {
            size_t j = j0 + jj;
            const double *xj = a->xt + (1 + j) * a->npad + p0; /* row 0 is the ones */
            double *wr = w + (c * sz + jj) * P;
            v8 s1 = v8_load(L->s1 + (c * d + j) * L8), m = v8_set1(sh[j]);
            for (size_t pv = 0; pv < P; pv += L8) {
                v8 wv = v8_mul(v8_load(rc + pv), v8_sub(v8_load(xj + pv), m));
                v8_store(wr + pv, wv);
                s1 = v8_add(s1, wv);
            }
            v8_store(L->s1 + (c * d + j) * L8, s1);
        }
    }
}

const mog_gemm_fns KERNEL(mog_gemm_fns) = {.norms = norms, .resp = resp, .weight = weight};
