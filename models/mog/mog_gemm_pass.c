/* The per-chunk loops of the GEMM engine (mog_gemm.h) over the v8 vectors of
 * ops/simd.h, 8 points per vector, each lane that point's own sequence of
 * operations: compiled once per ISA and once as the scalar build, all with
 * the same bits. */
#include "models/mog/mog_gemm.h"
#include "ops/simd_level.h"
#include "ops/simd_math.h"

#define L8 MOG_LANES
#define P MOG_GEMM_CHUNK

/* lp = cst - |y|^2 / 2 (sum over t in increasing order), then log-sum-exp and
 * r = exp(lp - lse); ll += lse, energy += sum r lp, entropy -= sum r (lp - lse). */
static void resp(const mog_gemm_args *a, size_t p0, const double *y, double *lp, double *r, mog_gemm_lanes *L)
{
    const size_t K = a->k, d = a->d;
    const v8 half = v8_set1(0.5);
    v8 ll = v8_load(L->ll), en = v8_load(L->energy), et = v8_load(L->entropy);
    for (size_t pv = 0; pv < P; pv += L8) {
        for (size_t c = 0; c < K; c++) {
            v8 q = v8_zero();
            for (size_t t = 0; t < d; t++) {
                v8 yv = v8_load(y + a->yrow[c * d + t] * P + pv);
                q = v8_fmadd(yv, yv, q);
            }
            v8_store(lp + c * P + pv, v8_fnmadd(half, q, v8_set1(a->cst[c])));
        }
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
        v8 enp = v8_zero(), etp = v8_zero();
        for (size_t c = 0; c < K; c++) {
            v8 l = v8_load(lp + c * P + pv);
            v8 rv = v8_mul(v8_load(r + c * P + pv), inv);
            v8_store(r + c * P + pv, rv);
            enp = v8_fmadd(rv, l, enp);
            etp = v8_fmadd(rv, v8_sub(l, lse), etp); /* r log r */
        }
        v8 mask = v8_load(a->mask + p0 + pv);
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

/* w[(c, j)] = r_c mask (x_j - shift_cj); nk_c += r_c mask, s1_cj += w. */
static void weight(const mog_gemm_args *a, size_t p0, const double *r, double *w, mog_gemm_lanes *L)
{
    const size_t K = a->k, d = a->d;
    for (size_t c = 0; c < K; c++) {
        const double *sh = a->shift + c * d;
        double *s1 = L->s1 + c * d * L8;
        v8 nk = v8_load(L->nk + c * L8);
        for (size_t pv = 0; pv < P; pv += L8) {
            v8 rv = v8_mul(v8_load(r + c * P + pv), v8_load(a->mask + p0 + pv));
            nk = v8_add(nk, rv);
            for (size_t j = 0; j < d; j++) {
                v8 wv = v8_mul(rv, v8_sub(v8_load(a->xt + j * a->npad + p0 + pv), v8_set1(sh[j])));
                v8_store(w + a->wrow[c * d + j] * P + pv, wv);
                v8_store(s1 + j * L8, v8_add(v8_load(s1 + j * L8), wv));
            }
        }
        v8_store(L->nk + c * L8, nk);
    }
}

const mog_gemm_fns KERNEL(mog_gemm_fns) = {.resp = resp, .weight = weight};
