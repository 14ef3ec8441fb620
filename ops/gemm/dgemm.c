/* float64 GEMM driver: K blocking, packing and tiles of C as pool tasks.
 *
 *   C (M,N) = beta*C + op(A) (M,K) · op(B) (K,N)
 *
 * The register tile is mr rows by 8 nv columns, nv = 1, 2 or 3 picked from N
 * (dgemm_ukernel.c). C is cut into tiles of whole panels (at most DGEMM_MC
 * rows by DGEMM_NC columns, smaller when that gives the threads more tiles);
 * each tile is one task: for each K block it packs its rows of op(A) (an L2
 * block, k-major panels) unless N has at most DGEMM_A_DIRECT_PANELS B panels
 * or op(A) is small (A then stays in place), then for each B panel packs it
 * (an L1 panel) unless it is a whole panel of an untransposed B with short K
 * blocks or close rows (read in place), and runs the micro-kernel over the A
 * panels. Column tails go through a small buffer, so the kernel always
 * stores whole vectors.
 *
 * Determinism: each element of C is one FMA chain over k in increasing
 * order started from beta*C (dgemm_internal.h), the same in every tile,
 * task, K block split and SIMD level as in the reference loop, so the tiling
 * (which may depend on the thread count) never changes a bit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "ops/gemm/dgemm_internal.h"
#include "ops/gemm/gemm_internal.h"
#include "ops/pool.h"

#define DGEMM_KC 256 /* K block: a B panel (256 x 24 doubles, 48 KB) streams from L1/L2 */
#define DGEMM_MC 192 /* rows of a tile: its packed A block (192 x 256 doubles, 384 KB) stays in L2 */
#define DGEMM_NC 768 /* columns of a tile */
#define DGEMM_MIN_TILES 8 /* split tiles further (threads > 1) until there are this many */
#define DGEMM_PAR_FLOPS 4.0e6 /* below this a call runs on the calling thread */
/* Whole panels of an untransposed B are read in place when short (at most
 * this many rows) or when its rows are close (ldb at most this many panel
 * widths: the panel is then nearly contiguous, packing would only copy it). */
#define DGEMM_B_DIRECT_KC 64
#define DGEMM_B_DIRECT_LD 4
/* op(A) is read in place (the kernel broadcasts its elements from any strides)
 * when N has at most this many B panels (each A element is then loaded that
 * few times, fewer than packing it would cost), or when all of op(A) is at
 * most this many doubles (it stays in L1 wherever it lies). */
#define DGEMM_A_DIRECT_PANELS 3
#define DGEMM_A_DIRECT_SMALL 2048

static const struct elbo_dgemm_isa *const dgemm_isas[ELBO_SIMD_COUNT] = {ELBO_SIMD_VARIANTS(elbo_dgemm_isa)};

/* ---- per-thread packing buffers, grown on demand, freed at thread exit ---- */
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
struct dws {
    double *buf;
    size_t cap;
};
static void ws_free(void *p)
{
    struct dws *w = p;
    free(w->buf);
    free(w);
}
static void ws_init(void) { (void)pthread_key_create(&ws_key, ws_free); }
static double *workspace(size_t n)
{
    pthread_once(&ws_once, ws_init);
    struct dws *w = pthread_getspecific(ws_key);
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return NULL;
        if (pthread_setspecific(ws_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (w->cap < n) {
        free(w->buf);
        size_t bytes = (n * sizeof(double) + 63) & ~(size_t)63;
        w->buf = aligned_alloc(64, bytes);
        w->cap = w->buf ? n : 0;
    }
    return w->buf;
}

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

struct dplan {
    const struct elbo_dgemm_isa *isa;
    bool ta, tb, a_direct, b_direct;
    size_t M, N, K, lda, ldb, ldc;
    const double *A, *B;
    double *C, beta;
    size_t nv, mr, nr, kc, nkb, mp, np;
    size_t tile_mp, tile_np, tiles_m, tiles_n;
};

static const double *a_at(const struct dplan *p, size_t i0, size_t k0)
{
    return p->ta ? p->A + k0 * p->lda + i0 : p->A + i0 * p->lda + k0;
}
static const double *b_at(const struct dplan *p, size_t k0, size_t j0)
{
    return p->tb ? p->B + j0 * p->ldb + k0 : p->B + k0 * p->ldb + j0;
}

/* One tile of C (rows [ip0, ip1) x columns [jp0, jp1) in panels), all K blocks. */
static void dgemm_tile(void *ctx, int t)
{
    struct dplan *p = ctx;
    size_t tm = (size_t)t / p->tiles_n, tn = (size_t)t % p->tiles_n;
    size_t ip0 = tm * p->tile_mp, ip1 = min_sz(ip0 + p->tile_mp, p->mp);
    size_t jp0 = tn * p->tile_np, jp1 = min_sz(jp0 + p->tile_np, p->np);
    const size_t mr = p->mr, nr = p->nr;
    size_t a_len = p->a_direct ? 0 : (ip1 - ip0) * mr * p->kc;
    double *ws = workspace(a_len + p->kc * nr + mr * nr);
    if (!ws) { /* no buffer: this tile by the reference loop, which gives the same bits */
        size_t i0 = ip0 * mr, j0 = jp0 * nr;
        elbo_dgemm_ref(p->ta, p->tb, min_sz(ip1 * mr, p->M) - i0, min_sz(jp1 * nr, p->N) - j0, p->K,
                       a_at(p, i0, 0), p->lda, b_at(p, 0, j0), p->ldb, p->beta, p->C + i0 * p->ldc + j0, p->ldc);
        return;
    }
    double *ablk = ws, *bpan = ws + a_len, *tmp = bpan + p->kc * nr;
    memset(tmp, 0, mr * nr * sizeof *tmp); /* columns past a tail are computed from zeros, never stored */
    elbo_dgemm_kernel_fn kern = p->isa->kernel[p->nv];
    for (size_t kb = 0; kb < p->nkb; kb++) {
        size_t k0 = kb * p->kc, kcb = min_sz(p->kc, p->K - k0);
        double bet = kb == 0 ? p->beta : 1.0; /* later blocks continue the chain from C */
        if (!p->a_direct)
            for (size_t ip = ip0; ip < ip1; ip++) {
                size_t i0 = ip * mr;
                p->isa->pack_a(p->ta, min_sz(mr, p->M - i0), mr, kcb, a_at(p, i0, k0), p->lda,
                               ablk + (ip - ip0) * mr * kcb);
            }
        for (size_t jp = jp0; jp < jp1; jp++) {
            size_t j0 = jp * nr, n = min_sz(nr, p->N - j0);
            const double *b = bpan;
            size_t bs = nr;
            if (p->b_direct && n == nr) {
                b = b_at(p, k0, j0);
                bs = p->ldb;
            } else {
                p->isa->pack_b(p->tb, n, nr, kcb, b_at(p, k0, j0), p->ldb, bpan);
            }
            for (size_t ip = ip0; ip < ip1; ip++) {
                size_t i0 = ip * mr, m = min_sz(mr, p->M - i0);
                const double *a;
                size_t as, ks;
                if (p->a_direct) {
                    a = a_at(p, i0, k0);
                    as = p->ta ? 1 : p->lda;
                    ks = p->ta ? p->lda : 1;
                } else {
                    a = ablk + (ip - ip0) * mr * kcb;
                    as = 1;
                    ks = mr;
                }
                double *c = p->C + i0 * p->ldc + j0;
                if (n == nr) {
                    kern(m, kcb, a, as, ks, b, bs, c, p->ldc, bet);
                    continue;
                }
                if (bet != 0.0) /* a column tail: through tmp (ldc nr), whole vectors */
                    for (size_t i = 0; i < m; i++)
                        memcpy(tmp + i * nr, c + i * p->ldc, n * sizeof *c);
                kern(m, kcb, a, as, ks, b, bs, tmp, nr, bet);
                for (size_t i = 0; i < m; i++)
                    memcpy(c + i * p->ldc, tmp + i * nr, n * sizeof *c);
            }
        }
    }
}

void elbo_dgemm_at(elbo_simd level, bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const double *A,
                   size_t lda, const double *B, size_t ldb, double beta, double *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    const struct elbo_dgemm_isa *isa = ELBO_SIMD_PICK(dgemm_isas, level);
    if (K == 0 || !isa) { /* nothing to sum (C = beta C), or a level this CPU lacks */
        elbo_dgemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    struct dplan p = {
        .isa = isa, .ta = trans_a, .tb = trans_b, .M = M, .N = N, .K = K,
        .lda = lda, .ldb = ldb, .ldc = ldc, .A = A, .B = B, .C = C, .beta = beta,
    };
    p.nv = N >= 3 * DGEMM_LANES ? 3 : N > DGEMM_LANES ? 2 : 1;
    p.nr = p.nv * DGEMM_LANES;
    p.mr = (size_t)isa->mr[p.nv];
    p.nkb = cdiv(K, DGEMM_KC);
    p.kc = cdiv(K, p.nkb); /* balanced K blocks */
    p.mp = cdiv(M, p.mr);
    p.np = cdiv(N, p.nr);
    p.a_direct = p.np <= DGEMM_A_DIRECT_PANELS || (double)M * (double)K <= DGEMM_A_DIRECT_SMALL;
    p.b_direct = !trans_b && (p.kc <= DGEMM_B_DIRECT_KC || ldb <= DGEMM_B_DIRECT_LD * p.nr);
    int threads = elbo_in_task() ? 1 : elbo_threads();
    bool parallel = threads > 1 && 2.0 * (double)M * (double)N * (double)K >= DGEMM_PAR_FLOPS;
    /* tiles of at most MC x NC; split further only for the pool */
    struct elbo_gemm_tiling tl =
        elbo_gemm_tile_c(p.mp, p.np, DGEMM_MC / p.mr, DGEMM_NC / p.nr, parallel ? DGEMM_MIN_TILES : 1);
    p.tile_mp = tl.tile_mp, p.tile_np = tl.tile_np, p.tiles_m = tl.tiles_m, p.tiles_n = tl.tiles_n;
    int ntiles = (int)(p.tiles_m * p.tiles_n);
    if (parallel && ntiles > 1)
        elbo_parallel_for(ntiles, dgemm_tile, &p);
    else
        for (int t = 0; t < ntiles; t++)
            dgemm_tile(&p, t);
}

void elbo_dgemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const double *A, size_t lda,
                const double *B, size_t ldb, double beta, double *C, size_t ldc)
{
    elbo_dgemm_at(elbo_simd_current(), trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}
