/* bf16 GEMM driver (portable C): K blocking in pairs, packing of op(A) and
 * op(B) into bf16 pair panels, tiles of C for the pool.
 *
 *   C (M,N) = beta*C + bf16(op(A)) (M,K) · bf16(op(B)) (K,N), float32 sums
 *
 * Unlike the float32 driver nothing is read in place: every operand is
 * converted once as it is packed. Two plans:
 *   - tiles (M > MC): phase 1 packs groups of A panels and of B panels as
 *     pool tasks, then phase 2 computes tiles of C (at most MC x NC, the loop
 *     K block -> B panel -> A panel, one B panel in L1, the tile's A block in
 *     L2);
 *   - strips (M <= MC, the VAE's batch rows): phase 1 packs A only (all of
 *     it stays in L2); phase 2 walks units (B panel, A panel), B-panel-major,
 *     one contiguous run of units per thread, and each thread packs the B
 *     panels of its run into its own buffer right before use. No core reads
 *     a panel another core packed (measured at 128x784x400 on two threads:
 *     the shared B panels of the tile plan cost 15% more kernel and packing
 *     time than on one) and the runs are balanced to one unit.
 * The micro-kernel computes whole mr-row panels (padding rows are zeros) and
 * stores the real rows, so every element of C sees the same operations in
 * the same order whichever tile, unit or thread computes it: the bits do not
 * depend on the thread count or the plan. The epilogue (bias, relu) runs in
 * the tile store of the last K block. */
#include <math.h>
#include <stdint.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#define ELBO_HWCAP2_BF16 (1ul << 14) /* HWCAP2_BF16 of <asm/hwcap.h> */
#endif

#include "ops/bf16.h"
#include "ops/gemm.h"
#include "ops/gemm/gemm_internal.h"
#include "ops/pool.h"
#include "ops/precision.h"

#define BF_MC 256      /* rows of a tile: its A block (256 x 192 pairs, 192 KB) stays in L2 */
#define BF_NC 768      /* columns of a tile */
#define BF_MIN_TILES 32 /* split further for load balance (boundaries fixed by the shape): 17 tiles on 2 threads cap the speedup at 17/9 */
#define BF_PAR_FLOPS 8.0e6 /* below this, one thread (as the float32 GEMM) */

static const struct elbo_gemm_bf16_isa *bf16_isa(elbo_simd level)
{
#if defined(__x86_64__)
    static int cpu = -1; /* -1 unknown, 0 no, 1 AVX512_BF16 (and AVX512BW) */
    if (cpu < 0) {
        __builtin_cpu_init();
        cpu = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
    }
    if (level == ELBO_SIMD_AVX512 && cpu && elbo_gemm_bf16_isa_avx512.kernel && elbo_simd_supported(level))
        return &elbo_gemm_bf16_isa_avx512;
#elif defined(__aarch64__)
    static int cpu = -1; /* HWCAP2_BF16: BFDOT and the other bf16 instructions */
    if (cpu < 0)
        cpu = (getauxval(AT_HWCAP2) & ELBO_HWCAP2_BF16) != 0;
    if (level == ELBO_SIMD_NEON && cpu && elbo_gemm_bf16_isa_neon.kernel && elbo_simd_supported(level))
        return &elbo_gemm_bf16_isa_neon;
#else
    (void)level;
#endif
    return NULL;
}

bool elbo_gemm_bf16_supported(elbo_simd level) { return bf16_isa(level) != NULL; }

void elbo_bf16_round_n(size_t n, const float *x, uint16_t *y)
{
    const struct elbo_gemm_bf16_isa *isa = bf16_isa(elbo_simd_best());
    if (isa) {
        isa->round(n, x, y);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = elbo_bf16_round_ref(x[i]);
}

// C (M,N) = relu?(C + bias): the epilogue where the kernel did not fuse it
static void epilogue_after(size_t M, size_t N, float *C, size_t ldc, const elbo_gemm_epilogue *ep)
{
    if (!ep || (!ep->bias && !ep->relu))
        return;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            float v = C[i * ldc + j] + (ep->bias ? ep->bias[j] : 0.0f);
            C[i * ldc + j] = ep->relu ? (v > 0.0f ? v : 0.0f) : v;
        }
}

void elbo_gemm_bf16_ref(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                        size_t ldb, float beta, float *C, size_t ldc, const elbo_gemm_epilogue *ep)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (size_t k = 0; k < K; k++) {
                float a = elbo_bf16_quantize(ta ? A[k * lda + i] : A[i * lda + k]);
                float b = elbo_bf16_quantize(tb ? B[j * ldb + k] : B[k * ldb + j]);
                acc += (double)a * (double)b;
            }
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? (float)acc : (float)((double)beta * (double)*c + acc);
        }
    epilogue_after(M, N, C, ldc, ep);
}

struct bf_plan {
    const struct elbo_gemm_bf16_isa *isa;
    bool ta, tb;
    size_t M, N, K;
    const float *A, *B;
    size_t lda, ldb, ldc;
    float beta;
    float *C;
    const float *bias;
    bool relu;
    size_t mr, nr, kcp, nkb; /* tile, K block in pairs, K blocks */
    size_t mp, np;           /* A panels, B panels */
    uint32_t *ap, *bp;
    size_t pa_group, pb_group, npack_a, npack_b;
    size_t tile_mp, tile_np, tiles_m, tiles_n;
    size_t runs;             /* strips: phase-2 tasks, one B panel buffer each */
};

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

// K block kb: first k, floats, pairs
static size_t kb_k0(const struct bf_plan *p, size_t kb) { return kb * 2 * p->kcp; }
static size_t kb_kc(const struct bf_plan *p, size_t kb) { return min_sz(2 * p->kcp, p->K - kb_k0(p, kb)); }
static uint32_t *ap_at(const struct bf_plan *p, size_t kb, size_t ip)
{
    return p->ap + kb * p->kcp * p->mp * p->mr + ip * cdiv(kb_kc(p, kb), 2) * p->mr;
}
static uint32_t *bp_at(const struct bf_plan *p, size_t kb, size_t jp)
{
    return p->bp + kb * p->kcp * p->np * p->nr + jp * cdiv(kb_kc(p, kb), 2) * p->nr;
}

// Phase 1, task t: a group of A panels or of B panels, all K blocks.
static void bf_pack_task(void *ctx, int t)
{
    const struct bf_plan *p = ctx;
    size_t task = (size_t)t;
    bool is_a = task < p->npack_a;
    size_t g = is_a ? p->pa_group : p->pb_group, first = (is_a ? task : task - p->npack_a) * g;
    size_t last = min_sz(first + g, is_a ? p->mp : p->np);
    for (size_t kb = 0; kb < p->nkb; kb++) {
        size_t k0 = kb_k0(p, kb), kc = kb_kc(p, kb);
        for (size_t q = first; q < last; q++) {
            if (is_a) {
                size_t i0 = q * p->mr;
                const float *a = p->ta ? p->A + k0 * p->lda + i0 : p->A + i0 * p->lda + k0;
                p->isa->pack_a(p->ta, min_sz(p->mr, p->M - i0), kc, a, p->lda, ap_at(p, kb, q));
            } else {
                size_t j0 = q * p->nr;
                const float *b = p->tb ? p->B + j0 * p->ldb + k0 : p->B + k0 * p->ldb + j0;
                p->isa->pack_b(p->tb, min_sz(p->nr, p->N - j0), kc, b, p->ldb, bp_at(p, kb, q));
            }
        }
    }
}

// Phase 2, task t: one tile of C in panels [ip0, ip1) x [jp0, jp1).
static void bf_tile_task(void *ctx, int t)
{
    const struct bf_plan *p = ctx;
    size_t tm = (size_t)t / p->tiles_n, tn = (size_t)t % p->tiles_n;
    size_t ip0 = tm * p->tile_mp, ip1 = min_sz(ip0 + p->tile_mp, p->mp);
    size_t jp0 = tn * p->tile_np, jp1 = min_sz(jp0 + p->tile_np, p->np);
    for (size_t kb = 0; kb < p->nkb; kb++) {
        size_t kp = cdiv(kb_kc(p, kb), 2);
        float beta = kb == 0 ? p->beta : 1.0f;
        bool last = kb + 1 == p->nkb;
        for (size_t jp = jp0; jp < jp1; jp++) {
            size_t j0 = jp * p->nr, n = min_sz(p->nr, p->N - j0);
            const uint32_t *b = bp_at(p, kb, jp);
            const float *bias = last && p->bias ? p->bias + j0 : NULL;
            for (size_t ip = ip0; ip < ip1; ip++) {
                size_t i0 = ip * p->mr;
                p->isa->kernel(p->ta, min_sz(p->mr, p->M - i0), n, kp, ap_at(p, kb, ip), b, p->C + i0 * p->ldc + j0,
                               p->ldc, beta, bias, last && p->relu);
            }
        }
    }
}

// Strips: the first unit of the run that starts at a share c / T of the
// work, a unit (jp, ip) costing its B panel's columns (the last panel of N
// may be narrower than nr).
static size_t strip_unit_at(const struct bf_plan *p, size_t c, size_t T)
{
    size_t cols_full = p->nr, cols_last = p->N - (p->np - 1) * p->nr;
    size_t total = ((p->np - 1) * cols_full + cols_last) * p->mp;
    size_t want = cdiv(total * c, T);   /* cost before the unit */
    size_t full = (p->np - 1) * p->mp;  /* units of full panels */
    if (want <= full * cols_full)
        return cdiv(want, cols_full);
    return min_sz(full + cdiv(want - full * cols_full, cols_last), p->np * p->mp);
}

// Strips, phase 2, task t of T = p->runs: its run of the units (jp, ip),
// jp-major, split by cost (strip_unit_at); per B panel met: each K block
// packed into this task's buffer, then the run's A panels against it.
static void bf_strip_task(void *ctx, int t)
{
    const struct bf_plan *p = ctx;
    size_t T = p->runs;
    size_t u0 = strip_unit_at(p, (size_t)t, T), u1 = strip_unit_at(p, (size_t)t + 1, T);
    uint32_t *buf = p->bp + (size_t)t * p->kcp * p->nr;
    while (u0 < u1) {
        size_t jp = u0 / p->mp, ip0 = u0 % p->mp, ip1 = min_sz(p->mp, ip0 + (u1 - u0));
        size_t j0 = jp * p->nr, n = min_sz(p->nr, p->N - j0);
        for (size_t kb = 0; kb < p->nkb; kb++) {
            size_t k0 = kb_k0(p, kb), kc = kb_kc(p, kb), kp = cdiv(kc, 2);
            bool last = kb + 1 == p->nkb;
            const float *b = p->tb ? p->B + j0 * p->ldb + k0 : p->B + k0 * p->ldb + j0;
            p->isa->pack_b(p->tb, n, kc, b, p->ldb, buf);
            for (size_t ip = ip0; ip < ip1; ip++) {
                size_t i0 = ip * p->mr;
                p->isa->kernel(p->ta, min_sz(p->mr, p->M - i0), n, kp, ap_at(p, kb, ip), buf,
                               p->C + i0 * p->ldc + j0, p->ldc, kb == 0 ? p->beta : 1.0f,
                               last && p->bias ? p->bias + j0 : NULL, last && p->relu);
            }
        }
        u0 += ip1 - ip0;
    }
}

static void run(int ntasks, elbo_task_fn fn, void *ctx, bool parallel)
{
    if (parallel)
        elbo_parallel_for(ntasks, fn, ctx);
    else
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t);
}

void elbo_gemm_bf16_at(elbo_simd level, bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                       const float *B, size_t ldb, float beta, float *C, size_t ldc, const elbo_gemm_epilogue *ep)
{
    const struct elbo_gemm_bf16_isa *isa = bf16_isa(level);
    if (M == 0 || N == 0)
        return;
    if (!isa || K == 0) { /* no bf16 kernel here (or nothing to round): float32, epilogue after */
        elbo_gemm_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
        epilogue_after(M, N, C, ldc, ep);
        return;
    }
    struct bf_plan p = {
        .isa = isa, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .A = A, .B = B,
        .lda = lda, .ldb = ldb, .ldc = ldc, .beta = beta, .C = C,
        .bias = ep ? ep->bias : NULL, .relu = ep && ep->relu,
        .mr = (size_t)isa->mr, .nr = (size_t)isa->nr,
    };
    size_t pairs = cdiv(K, 2);
    p.nkb = cdiv(pairs, (size_t)isa->kcp);
    p.kcp = cdiv(pairs, p.nkb); /* balanced K blocks */
    p.mp = cdiv(M, p.mr);
    p.np = cdiv(N, p.nr);
    int threads = elbo_in_task() ? 1 : elbo_threads();
    bool parallel = threads > 1 && 2.0 * (double)M * (double)N * (double)K >= BF_PAR_FLOPS;
    bool strips = M <= BF_MC;
    p.runs = parallel ? (size_t)threads : 1;
    size_t a_words = p.mp * p.mr * pairs, b_words = strips ? p.runs * p.nr * p.kcp : p.np * p.nr * pairs;
    uint32_t *ws = (uint32_t *)elbo_gemm_workspace(ELBO_GEMM_WS_BF16, a_words + b_words);
    if (!ws) { /* out of memory: the oracle needs no workspace */
        elbo_gemm_bf16_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, ep);
        return;
    }
    p.ap = ws;
    p.bp = ws + a_words;
    struct elbo_gemm_tiling tl = elbo_gemm_tile_c(p.mp, p.np, BF_MC / p.mr, BF_NC / p.nr, BF_MIN_TILES);
    p.tile_mp = tl.tile_mp, p.tile_np = tl.tile_np, p.tiles_m = tl.tiles_m, p.tiles_n = tl.tiles_n;
    p.pa_group = cdiv(p.mp, 8);
    p.npack_a = cdiv(p.mp, p.pa_group);
    p.pb_group = cdiv(p.np, 8);
    p.npack_b = strips ? 0 : cdiv(p.np, p.pb_group); /* strips pack B in phase 2 */
    run((int)(p.npack_a + p.npack_b), bf_pack_task, &p, parallel);
    if (strips)
        run((int)p.runs, bf_strip_task, &p, parallel);
    else
        run((int)(p.tiles_m * p.tiles_n), bf_tile_task, &p, parallel);
}

/* Below these, converting the operands costs more than the bf16 kernel saves
 * (measured: 16x400x784 ran 1.01x of float32, 1x400x784 0.63x, while
 * 20x400x128 ran 1.54x; a narrow N
 * fills a 48-column panel with a few): such a product stays float32 in bf16
 * mode. The choice depends on the shape only. */
#define BF_MIN_M 20
#define BF_MIN_N 16

void elbo_gemm_mixed(bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                     size_t ldb, float beta, float *C, size_t ldc, const elbo_gemm_epilogue *ep)
{
    elbo_simd level = elbo_simd_current();
    if (elbo_precision_current() == ELBO_PRECISION_BF16 && M >= BF_MIN_M && N >= BF_MIN_N) {
        elbo_gemm_bf16_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, ep);
        return;
    }
    elbo_gemm_at(level, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    epilogue_after(M, N, C, ldc, ep);
}
