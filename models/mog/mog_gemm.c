/* The GEMM engine of EM (mog_gemm.h): the data centred and laid out twice
 * (transposed for the E-step's B operand and the per-lane loops, row-major
 * for the M-step's B), the stacked precision factors per iteration, and the
 * threaded loop over fixed tasks of chunks; task results are summed in task
 * order, like the fused engine's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/mog/mog_internal.h"
#include "ops/gemm.h"
#include "ops/pool.h"

#define P MOG_GEMM_CHUNK

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
/* The sum of 8 lanes in v8_hsum's fixed tree (ops/simd.h): i + (i+4), then pairs, then the last two. */
static double v8_hsum_ref(const double *v)
{
    double s4[4], s2[2];
    for (int i = 0; i < 4; i++)
        s4[i] = v[i] + v[i + 4];
    for (int i = 0; i < 2; i++)
        s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

/* Row groups: E-step groups of MOG_GEMM_EG coordinates t (K = last t + 1),
 * M-step groups of MOG_GEMM_MG coordinates j (N = last j + 1); inside a group
 * rows are (component, coordinate). The coordinates of group g. */
static size_t group_size(size_t d, size_t gsize, size_t g)
{
    return min_sz(d, (g + 1) * gsize) - g * gsize;
}

/* Per-task scratch layout (doubles, each piece a multiple of 8). */
static size_t scratch_len(const mog_gemm_work *w)
{
    size_t kd = w->k * w->d;
    return kd * P /* y, then w */ + 2 * w->k * P /* lp, r */ + kd * w->d /* S */ + 3 * MOG_LANES +
           w->k * MOG_LANES + kd * MOG_LANES;
}

void mog_gemm_free(mog_gemm_work *w)
{
    free(w->xt), free(w->xr), free(w->mask), free(w->centre), free(w->ua), free(w->cst);
    free(w->shift), free(w->outs), free(w->out_mem);
    mog_slots_free(&w->slots);
    memset(w, 0, sizeof *w);
}

elbo_status mog_gemm_init(mog_gemm_work *w, const double *x, size_t n, size_t d, size_t k)
{
    memset(w, 0, sizeof *w);
    w->n = n, w->d = d, w->k = k;
    w->nchunks = cdiv(n, P);
    w->npad = w->nchunks * P;
    w->ntasks = cdiv(w->nchunks, MOG_GEMM_TASK_CHUNKS);
    size_t kd = k * d, npad = w->npad, per_out = k + kd + kd * d;
    w->xt = mog_alloc_doubles((d + 1) * npad);
    w->xr = mog_alloc_doubles(npad * d);
    w->mask = mog_alloc_doubles(npad);
    w->centre = mog_alloc_doubles(d);
    w->ua = mog_alloc_doubles(kd * (d + 1));
    w->cst = mog_alloc_doubles(k);
    w->shift = mog_alloc_doubles(kd);
    w->outs = calloc(w->ntasks, sizeof *w->outs);
    w->out_mem = mog_alloc_doubles(w->ntasks * per_out);
    if (!w->xt || !w->xr || !w->mask || !w->centre || !w->ua || !w->cst || !w->shift || !w->outs || !w->out_mem) {
        mog_gemm_free(w);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: gemm engine: out of memory for %zu x %zu points", n, d);
    }
    for (size_t t = 0; t < w->ntasks; t++) {
        double *o = w->out_mem + t * per_out;
        w->outs[t] = (mog_pass_out){.nk = o, .s1 = o + k, .s2 = o + k + kd};
    }
    /* centre: the data mean, summed in point order */
    for (size_t j = 0; j < d; j++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += x[i * d + j];
        w->centre[j] = s / (double)n;
    }
    for (size_t i = 0; i < npad; i++) {
        w->mask[i] = i < n ? 1.0 : 0.0;
        w->xt[i] = 1.0; /* row 0: the ones that carry the chain start -U mu */
        for (size_t j = 0; j < d; j++) {
            double v = i < n ? x[i * d + j] - w->centre[j] : 0.0;
            w->xt[(j + 1) * npad + i] = v;
            w->xr[i * d + j] = v;
        }
    }
    w->slots.doubles = scratch_len(w);
    w->fn = mog_gemm_kernels();
    return ELBO_OK;
}

/* Ask for the next chunk's data (its 1 + d rows of xt, P rows of xr) while
 * this one computes: the rows of xt are npad apart, 17 short streams at
 * d = 16 that the hardware prefetchers pick up too late (measured: the
 * E-step's first products waited on memory). */
static void prefetch_chunk(const mog_gemm_work *w, size_t p0)
{
    if (p0 >= w->npad)
        return;
    for (size_t j = 0; j <= w->d; j++)
        for (size_t i = 0; i < P; i += 8)
            __builtin_prefetch(w->xt + j * w->npad + p0 + i, 0, 2);
    const double *xr = w->xr + p0 * w->d;
    for (size_t i = 0; i < P * w->d; i += 8)
        __builtin_prefetch(xr + i, 0, 2);
}

/* One chunk at point p0: the E-step GEMMs and responsibilities; with stats,
 * the weighting and the M-step GEMMs into S. */
static void chunk(const mog_gemm_work *w, size_t p0, double *y, double *lp, double *r, double *S,
                  mog_gemm_lanes *L)
{
    const size_t d = w->d, k = w->k;
    prefetch_chunk(w, p0 + P);
    size_t aoff = 0;
    for (size_t g = 0; g * MOG_GEMM_EG < d; g++) {
        size_t sz = group_size(d, MOG_GEMM_EG, g), kg = g * MOG_GEMM_EG + sz;
        /* Y_g (k sz, P) = [-U mu, U rows] (k sz, 1 + kg) · [1; X^T] (1 + kg, P), then |Y_g|^2 into lp */
        elbo_dgemm(false, false, k * sz, P, 1 + kg, w->ua + aoff, 1 + kg, w->xt + p0, w->npad, 0.0, y, P);
        w->fn->norms(&w->args, y, sz, g == 0, lp);
        aoff += k * sz * (1 + kg);
    }
    w->fn->resp(&w->args, p0, lp, r, L);
    if (!w->want_stats)
        return;
    size_t soff = 0;
    for (size_t h = 0; h * MOG_GEMM_MG < d; h++) {
        size_t sz = group_size(d, MOG_GEMM_MG, h), nh = h * MOG_GEMM_MG + sz;
        /* W_h (k sz, P) = r (x - c) on the group's coordinates; S_h (k sz, nh) += W_h · X (P, nh) */
        w->fn->weight(&w->args, p0, r, h * MOG_GEMM_MG, sz, y, L);
        elbo_dgemm(false, false, k * sz, nh, P, y, P, w->xr + p0 * d, d, 1.0, S + soff, nh);
        soff += k * sz * nh;
    }
}

static void lanes_to_out(const mog_gemm_work *w, const mog_gemm_lanes *L, const double *S, mog_pass_out *out)
{
    const size_t d = w->d, k = w->k;
    out->ll = v8_hsum_ref(L->ll);
    out->energy = v8_hsum_ref(L->energy);
    out->entropy = v8_hsum_ref(L->entropy);
    if (!w->want_stats)
        return;
    for (size_t c = 0; c < k; c++) {
        out->nk[c] = v8_hsum_ref(L->nk + c * MOG_LANES);
        for (size_t j = 0; j < d; j++)
            out->s1[c * d + j] = v8_hsum_ref(L->s1 + (c * d + j) * MOG_LANES);
    }
    /* s2 = S - s1 shift^T on l <= j, mirrored */
    size_t soff = 0;
    for (size_t h = 0; h * MOG_GEMM_MG < d; h++) {
        size_t sz = group_size(d, MOG_GEMM_MG, h), nh = h * MOG_GEMM_MG + sz;
        for (size_t c = 0; c < k; c++)
            for (size_t jj = 0; jj < sz; jj++) {
                size_t j = h * MOG_GEMM_MG + jj;
                const double *srow = S + soff + (c * sz + jj) * nh;
                double *s2 = out->s2 + c * d * d;
                for (size_t l = 0; l <= j; l++)
                    s2[j * d + l] = s2[l * d + j] = srow[l] - out->s1[c * d + j] * w->shift[c * d + l];
            }
        soff += k * sz * nh;
    }
}

static void task(void *ctx, int t)
{
    mog_gemm_work *w = ctx;
    int slot = mog_slot_claim(&w->slots);
    const size_t k = w->k, kd = k * w->d;
    double *y = w->slots.mem[slot], *lp = y + kd * P, *r = lp + k * P, *S = r + k * P;
    mog_gemm_lanes L;
    L.ll = S + kd * w->d;
    L.energy = L.ll + MOG_LANES;
    L.entropy = L.energy + MOG_LANES;
    L.nk = L.entropy + MOG_LANES;
    L.s1 = L.nk + k * MOG_LANES;
    memset(S, 0, (kd * w->d + 3 * MOG_LANES + k * MOG_LANES + kd * MOG_LANES) * sizeof(double));
    size_t c0 = (size_t)t * MOG_GEMM_TASK_CHUNKS, c1 = min_sz(c0 + MOG_GEMM_TASK_CHUNKS, w->nchunks);
    for (size_t c = c0; c < c1; c++)
        chunk(w, c * P, y, lp, r, S, &L);
    lanes_to_out(w, &L, S, &w->outs[t]);
    mog_slot_release(&w->slots, slot);
}

/* The per-iteration operands: per E group the rows [-U_k (mu_k - m), U_k rows]
 * (the first product, by the ones row of xt, is exactly the chain start),
 * constants, shifts (mu - m). */
static void set_params(mog_gemm_work *w, const mog_params *p)
{
    const size_t d = w->d, k = w->k;
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++)
            w->shift[c * d + j] = p->means[c * d + j] - w->centre[j];
    size_t aoff = 0;
    for (size_t g = 0; g * MOG_GEMM_EG < d; g++) {
        size_t sz = group_size(d, MOG_GEMM_EG, g), kg = g * MOG_GEMM_EG + sz;
        for (size_t c = 0; c < k; c++)
            for (size_t tt = 0; tt < sz; tt++) {
                size_t t = g * MOG_GEMM_EG + tt;
                const double *u = p->prec_chol + (c * d + t) * d; /* row t of U_c, zero past t */
                double b = 0.0;
                for (size_t l = 0; l <= t; l++)
                    b = fma(u[l], w->shift[c * d + l], b);
                double *row = w->ua + aoff + (c * sz + tt) * (1 + kg);
                row[0] = -b;
                memcpy(row + 1, u, kg * sizeof(double));
            }
        aoff += k * sz * (1 + kg);
    }
    memcpy(w->cst, p->log_norm, k * sizeof(double));
}

elbo_status mog_gemm_run(mog_gemm_work *w, const mog_params *p, mog_stats *stats, double *ll, double *energy,
                         double *entropy, double *ll_out, double *resp_out)
{
    const size_t k = w->k, d = w->d;
    if (p->k != k || p->d != d || p->cov != MOG_COV_FULL)
        return elbo_fail(ELBO_ERR_MISMATCH,
                         "mog: gemm engine: parameters (k=%zu d=%zu %s) do not match the data (k=%zu d=%zu full)",
                         p->k, p->d, mog_cov_name(p->cov), k, d);
    set_params(w, p);
    w->want_stats = stats != NULL;
    w->args = (mog_gemm_args){.n = w->n, .npad = w->npad, .d = d, .k = k, .xt = w->xt, .mask = w->mask,
                              .cst = w->cst, .shift = w->shift,
                              .ll_out = ll_out, .resp_out = resp_out};
    elbo_status st = mog_slots_ensure(&w->slots);
    if (st != ELBO_OK)
        return st;
    elbo_parallel_for((int)w->ntasks, task, w);
    return mog_sum_tasks(w->outs, w->ntasks, p, stats, k * d * d, ll, energy, entropy);
}
