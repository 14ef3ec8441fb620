/* GEMM driver: K blocking, packing, tiling of C into tasks for the pool.
 *
 *   C (M,N) = beta*C + op(A) (M,K) · op(B) (K,N)
 *
 * Phase 1 packs op(A) into mr-row panels and op(B) into nr-column panels,
 * for every K block (tasks: groups of panels). Phase 2 computes tiles of C
 * (tasks: mc x nc blocks); inside a tile the loop is K block -> B panel ->
 * A panel, so one B panel stays in L1 while the tile's A block sits in L2.
 * Packing is skipped where it cannot pay: op(A) is read in place when N has
 * few panels, B when M is small or when a tile spans all rows and the panel
 * fits L1 in place; otherwise a tile spanning all rows packs its own B
 * panels just before use (hot in L1) instead of in phase 1.
 *
 * Small shapes skip all of that (decided by the shape only): N <= 4 runs the
 * ISA's narrow path (narrow.c: dot products along K, or column-broadcast FMAs
 * along M for Aᵀ), and M*N*K <= 64^3 runs the direct path (small_direct: the
 * micro-kernel on op(A) in place, op(B) in place or one packed panel at a
 * time, on the calling thread). A one-row C with B not transposed (one
 * example through a layer) that is not split over threads runs the row path
 * (ukernel.c gemm_row: the tile's arithmetic with B read row by row).
 *
 * Determinism: every element of C is produced by the same micro-kernel
 * arithmetic (zero accumulators, FMAs over k in order, then beta*C + acc,
 * K blocks in order) whichever task or thread computes it, and the task
 * boundaries depend only on the shape. So the bits do not depend on the
 * thread count. The scalar level is the reference triple loop. */
#include "ops/gemm.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "ops/gemm/gemm_internal.h"
#include "ops/pool.h"

// A tile of C is at most this many rows: its A block (MC x kc floats, 256 KB
// at kc = 256) stays in the 1 MB L2 while B panels stream past it.
#define GEMM_MC 256
// ... and at most this many columns: its B block (kc x NC) fits L2 as well.
#define GEMM_NC 768
// Split into at least this many tiles when the shape allows (load balance for
// 2+ threads with tile boundaries fixed by the shape only).
#define GEMM_MIN_TILES 16
// Below this many flops (~40 us at one thread) a GEMM runs on the calling
// thread: waking the pool and splitting the packing would cost more than it
// saves (measured: 128x40x400, 4 MFLOP, was slower on 2 threads than on 1).
#define GEMM_PAR_FLOPS 8.0e6
// In a 2+ thread split, each task packs its own copy of the shared operand
// when a copy is at most this many floats (512 KB, half an L2): packing it
// together costs more in cross-core cache traffic (each call rewrites lines
// the other core read) than packing it twice (128x784x400: 18 -> 7 us, 1.1x).
#define GEMM_COPY_MAX_FLOATS (128 * 1024)
// A split by rows gives each thread at least this many A panels.
#define GEMM_SPLIT_MIN_PANELS 2
// Read op(B) in place (no B packing) when M has at most this many A panels
// (or rows): each B panel would be used too few times to pay for its copy.
#define GEMM_DIRECT_B_PANELS 2
#define GEMM_DIRECT_B_ROWS 16
// Likewise read op(A) in place when N has at most this many B panels.
#define GEMM_DIRECT_A_PANELS 3
// Narrow C (N <= 4 columns) up to this many M*N*K: the narrow path of the
// ISA (narrow.c), vectors along K or M instead of a mostly empty B panel.
#define GEMM_NARROW_MNK (4.0 * 1024 * 1024)
// Up to this many M*N*K (the toy VAE's 64x32x32 layers): the direct path, the
// micro-kernel on op(A) in place and op(B) in place or one packed panel at a
// time; no plan, no pool, no A packing.
#define GEMM_SMALL_MNK (64.0 * 64 * 64)
// L1D geometry (48 KB, 12-way, 64-byte lines: 64 sets): an in-place B panel
// must spread its kc rows over enough sets to stay resident.
#define GEMM_L1_SETS 64
#define GEMM_L1_WAYS 12

/* The micro-kernels of each level (the scalar level runs the reference loop). */
static const struct elbo_gemm_isa *const gemm_isas[ELBO_SIMD_COUNT] = {ELBO_SIMD_ISA_VARIANTS(elbo_gemm_isa)};

static const struct elbo_gemm_isa *isa_for(elbo_simd level) { return ELBO_SIMD_PICK(gemm_isas, level); }

/* ---- per-thread buffers, grown on demand, freed at thread exit ----
 * slot WS_PACK: the packed operands of a GEMM called on this thread;
 * slot WS_PANEL: one B panel packed inside a tile task run by this thread;
 * slot WS_BF16: the packed bf16 operands (gemm_bf16.c). */

enum { WS_PACK = ELBO_GEMM_WS_PACK, WS_PANEL = ELBO_GEMM_WS_PANEL, WS_SLOTS = ELBO_GEMM_WS_SLOTS };
static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
struct workspace {
    float *buf[WS_SLOTS];
    size_t cap[WS_SLOTS]; /* floats */
};
static void ws_free(void *p)
{
    struct workspace *w = p;
    for (int s = 0; s < WS_SLOTS; s++)
        free(w->buf[s]);
    free(w);
}
static void ws_init(void) { (void)pthread_key_create(&ws_key, ws_free); }

static float *workspace(int slot, size_t nfloats)
{
    pthread_once(&ws_once, ws_init);
    struct workspace *w = pthread_getspecific(ws_key);
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return NULL;
        if (pthread_setspecific(ws_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (w->cap[slot] < nfloats) {
        free(w->buf[slot]);
        size_t bytes = (nfloats * sizeof(float) + 63) & ~(size_t)63;
        w->buf[slot] = aligned_alloc(64, bytes);
        w->cap[slot] = w->buf[slot] ? nfloats : 0;
    }
    return w->buf[slot];
}

float *elbo_gemm_workspace(int slot, size_t nfloats) { return workspace(slot, nfloats); }


/* ---- the plan of one call ---- */

struct plan {
    const struct elbo_gemm_isa *isa;
    bool ta, tb;
    size_t M, N, K;
    const float *A, *B;
    size_t lda, ldb, ldc;
    float beta;
    float *C;
    size_t mr, nr, kc, nkb; /* tile, K block and number of K blocks */
    size_t mp, np;          /* A panels, B panels */
    float *ap, *bp;         /* packed A (nkb x mp panels), packed B (nkb x np panels) */
    bool a_direct;          /* op(A) read in place, not packed */
    bool b_direct;          /* full B panels read in place */
    bool b_in_tile;         /* B panels packed by the one tile that uses them, just before use */
    size_t np_first;        /* first B panel to pack (the tail only, if b_direct) */
    size_t pa_group, pb_group, npack_a, npack_b;
    size_t tile_mp, tile_np, tiles_m, tiles_n;
};

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
// The K block of every path (packed, split, small direct, one-row): K in
// the fewest blocks of at most isa->kc, balanced. Each element of C sums its
// blocks in order, so keeping one rule keeps a row's bits whatever the path.
static size_t k_block(const struct elbo_gemm_isa *isa, size_t K) { return cdiv(K, cdiv(K, (size_t)isa->kc)); }

struct elbo_gemm_tiling elbo_gemm_tile_c(size_t mp, size_t np, size_t max_mp, size_t max_np, size_t min_tiles)
{
    struct elbo_gemm_tiling t = {.tile_mp = min_sz(mp, max_mp ? max_mp : 1),
                                 .tile_np = min_sz(np, max_np ? max_np : 1)};
    for (;;) {
        t.tiles_m = cdiv(mp, t.tile_mp);
        t.tiles_n = cdiv(np, t.tile_np);
        if (t.tiles_m * t.tiles_n >= min_tiles)
            break;
        if (t.tile_np > 1)
            t.tile_np = cdiv(t.tile_np, 2);
        else if (t.tile_mp > 1)
            t.tile_mp = cdiv(t.tile_mp, 2);
        else
            break;
    }
    return t;
}

// op(A) block at (i0, k0)
static const float *a_at(const struct plan *p, size_t i0, size_t k0)
{
    return p->ta ? p->A + k0 * p->lda + i0 : p->A + i0 * p->lda + k0;
}
// op(B) block at (k0, j0)
static const float *b_at(const struct plan *p, size_t k0, size_t j0)
{
    return p->tb ? p->B + j0 * p->ldb + k0 : p->B + k0 * p->ldb + j0;
}
static float *ap_at(const struct plan *p, size_t kb, size_t ip)
{
    size_t kcb = min_sz(p->kc, p->K - kb * p->kc);
    return p->ap + kb * p->kc * p->mp * p->mr + ip * kcb * p->mr;
}
static float *bp_at(const struct plan *p, size_t kb, size_t jp)
{
    size_t kcb = min_sz(p->kc, p->K - kb * p->kc);
    return p->bp + kb * p->kc * p->np * p->nr + jp * kcb * p->nr;
}

// Pack panels [first, last) of op(B) (or of op(A)) into p->bp (p->ap), all K blocks.
static void pack_panels(const struct plan *p, bool b_side, size_t first, size_t last)
{
    for (size_t kb = 0; kb < p->nkb; kb++) {
        size_t k0 = kb * p->kc, kcb = min_sz(p->kc, p->K - k0);
        for (size_t q = first; q < last; q++) {
            if (b_side) {
                size_t j0 = q * p->nr;
                p->isa->pack_b(p->tb, min_sz(p->nr, p->N - j0), kcb, b_at(p, k0, j0), p->ldb, bp_at(p, kb, q));
            } else {
                size_t i0 = q * p->mr;
                p->isa->pack_a(p->ta, min_sz(p->mr, p->M - i0), kcb, a_at(p, i0, k0), p->lda, ap_at(p, kb, q));
            }
        }
    }
}

// Phase 1, task t: pack a group of A panels or of B panels, all K blocks.
static void pack_task(void *ctx, int t)
{
    const struct plan *p = ctx;
    size_t task = (size_t)t;
    bool is_a = task < p->npack_a;
    size_t g = is_a ? p->pa_group : p->pb_group;
    size_t first = is_a ? task * g : p->np_first + (task - p->npack_a) * g;
    pack_panels(p, !is_a, first, min_sz(first + g, is_a ? p->mp : p->np));
}

// Phase 2, task t: one tile of C, rows [ip0, ip1) x cols [jp0, jp1) in panels.
static void tile_task(void *ctx, int t)
{
    const struct plan *p = ctx;
    size_t tm = (size_t)t / p->tiles_n, tn = (size_t)t % p->tiles_n;
    size_t ip0 = tm * p->tile_mp, ip1 = min_sz(ip0 + p->tile_mp, p->mp);
    size_t jp0 = tn * p->tile_np, jp1 = min_sz(jp0 + p->tile_np, p->np);
    float *panel = p->b_in_tile ? workspace(WS_PANEL, p->kc * p->nr) : NULL;
    for (size_t kb = 0; kb < p->nkb; kb++) {
        size_t k0 = kb * p->kc, kcb = min_sz(p->kc, p->K - k0);
        float beta = kb == 0 ? p->beta : 1.0f;
        for (size_t jp = jp0; jp < jp1; jp++) {
            size_t j0 = jp * p->nr, n = min_sz(p->nr, p->N - j0);
            const float *b = p->b_direct && n == p->nr ? b_at(p, k0, j0) : bp_at(p, kb, jp);
            size_t bs = p->b_direct && n == p->nr ? p->ldb : p->nr;
            if (p->b_in_tile) { /* into this thread's hot panel, or (no memory) its own slot */
                float *dst = panel ? panel : bp_at(p, kb, jp);
                p->isa->pack_b(p->tb, n, kcb, b_at(p, k0, j0), p->ldb, dst);
                b = dst;
                bs = p->nr;
            }
            for (size_t ip = ip0; ip < ip1; ip++) {
                size_t i0 = ip * p->mr, m = min_sz(p->mr, p->M - i0);
                float *c = p->C + i0 * p->ldc + j0;
                if (p->a_direct) /* Aᵀ stored: k rows lda apart; A: i rows lda apart */
                    p->isa->kernel(m, n, kcb, a_at(p, i0, k0), p->ta ? 1 : p->lda, p->ta ? p->lda : 1, b, bs, c,
                                   p->ldc, beta);
                else
                    p->isa->kernel(m, n, kcb, ap_at(p, kb, ip), 1, p->mr, b, bs, c, p->ldc, beta);
            }
        }
    }
}

// Can a B panel (kc rows of nr floats, ldb floats apart, starting at B) be
// read in place from L1 without set conflicts? With a row stride of s lines
// the rows fall into 64 / gcd(s, 64) sets; keep them to 2/3 of the ways so
// the A panel and C fit beside them.
static bool b_panel_fits_l1(const float *B, size_t ldb, size_t nr, size_t kc)
{
    size_t stride = ldb * sizeof(float), row = nr * sizeof(float), g = 1, lines;
    if (stride % 64 == 0) { /* every row has row 0's alignment */
        size_t a = stride / 64, b = GEMM_L1_SETS;
        while (b) {
            size_t r = a % b;
            a = b;
            b = r;
        }
        g = a;
        lines = ((uintptr_t)B % 64 + row + 63) / 64;
    } else {
        lines = (row + 63) / 64 + 1;
    }
    return kc * lines <= GEMM_L1_SETS / g * (GEMM_L1_WAYS * 2 / 3);
}

static void run(int ntasks, elbo_task_fn fn, void *ctx, bool parallel)
{
    if (parallel)
        elbo_parallel_for(ntasks, fn, ctx);
    else
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t);
}

// C = beta*C (beta 0 writes zeros, never reads C)
static void scale_c(size_t M, size_t N, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

// The direct path for small shapes (see GEMM_SMALL_MNK): B panel by panel
// (read in place when B is not transposed and the panel has whole vectors,
// else packed into this thread's panel buffer), and for each panel the mr-row
// tiles of C straight from op(A) in place. Same micro-kernel arithmetic as the
// packed path, K blocks included. Returns false (nothing written) without memory.
static bool small_direct(const struct elbo_gemm_isa *isa, bool ta, bool tb, size_t M, size_t N, size_t K,
                         const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                         size_t ldc)
{
    size_t mr = (size_t)isa->mr, nr = (size_t)isa->nr, vl = (size_t)isa->vlen;
    size_t kc = k_block(isa, K);
    float *panel = NULL;
    if (tb || N % vl != 0) {
        panel = workspace(WS_PANEL, nr * K);
        if (!panel)
            return false;
    }
    for (size_t j0 = 0; j0 < N; j0 += nr) {
        size_t n = min_sz(nr, N - j0);
        const float *b = B + j0;
        size_t bs = ldb;
        if (tb || n % vl != 0) {
            isa->pack_b(tb, n, K, tb ? B + j0 * ldb : B + j0, ldb, panel);
            b = panel;
            bs = nr;
        }
        for (size_t i0 = 0; i0 < M; i0 += mr) {
            const float *a = ta ? A + i0 : A + i0 * lda;
            size_t as = ta ? 1 : lda, ks = ta ? lda : 1;
            for (size_t k0 = 0; k0 < K; k0 += kc) /* the packed path's K blocks, in order */
                isa->kernel(min_sz(mr, M - i0), n, min_sz(kc, K - k0), a + k0 * ks, as, ks, b + k0 * bs, bs,
                            C + i0 * ldc + j0, ldc, k0 == 0 ? beta : 1.0f);
        }
    }
    return true;
}

/* ---- the parallel path: one task per thread, C split by columns or rows ----
 * By columns: task t owns columns [part[t], part[t+1]) of C, packs its own B
 * panels (in its own buffer, or inside its tiles) and shares the packed A. By
 * rows (M the longer side, or N too narrow for a B panel per thread, as the
 * latent heads' 40 columns): task t owns rows [part[t], part[t+1]) in whole A
 * panels, packs its own A panels and shares the packed B. A small shared
 * operand is packed by every task into its own copy (GEMM_COPY_MAX_FLOATS).
 * A large one is packed once: its panel groups are claimed from an atomic
 * counter by whichever task comes first, and each task waits for all groups
 * before computing; a task never waits for a group nobody has claimed, so an
 * inline (sequential) run cannot deadlock. One pool dispatch per call. Each element of C sees the same
 * micro-kernel arithmetic as on one thread (tails use the same code, see
 * ukernel.c), so the bits do not depend on the split. */
#define SPLIT_MAX 64
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void split_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void split_relax(void) { __asm__ __volatile__("yield"); }
#else
static inline void split_relax(void) {}
#endif
struct split {
    struct plan p;            /* the whole call: shape, K blocks, the shared packed operand */
    bool by_rows;             /* tasks own rows of C (share B) instead of columns (share A) */
    int ntasks;
    size_t part[SPLIT_MAX + 1]; /* task t owns columns (or rows) [part[t], part[t+1]) */
    size_t off[SPLIT_MAX];    /* task t's own packed operand at p.bp (or p.ap) + off[t] */
    bool copies;              /* each task packs the shared operand into its own copy */
    size_t shared;            /* floats of one packed copy of the shared operand */
    size_t group, groups;     /* the shared operand's panels, claimed in groups */
    atomic_size_t claim, done;
};

// Pack group g of the shared operand's panels (A by columns, B by rows), all K blocks.
static void pack_shared_group(const struct split *s, size_t g)
{
    const struct plan *p = &s->p;
    size_t panels = s->by_rows ? p->np : p->mp;
    size_t first = (s->by_rows ? p->np_first : 0) + g * s->group;
    pack_panels(p, s->by_rows, first, min_sz(first + s->group, panels));
}

// Task t's columns as a GEMM of its own: same A (shared), its own B panels.
static void col_part(const struct split *s, int t, struct plan *q)
{
    const struct plan *p = &s->p;
    size_t c0 = s->part[t], c1 = s->part[t + 1];
    *q = *p;
    q->N = c1 - c0;
    q->B = b_at(p, 0, c0);
    q->C = p->C + c0;
    q->np = cdiv(q->N, q->nr);
    q->b_direct = !q->tb && (q->mp <= GEMM_DIRECT_B_PANELS || q->M <= GEMM_DIRECT_B_ROWS);
    q->tile_mp = min_sz(q->mp, GEMM_MC / q->mr ? GEMM_MC / q->mr : 1);
    q->tile_np = min_sz(q->np, GEMM_NC / q->nr ? GEMM_NC / q->nr : 1);
    for (;;) {
        q->tiles_m = cdiv(q->mp, q->tile_mp);
        q->tiles_n = cdiv(q->np, q->tile_np);
        if (q->tiles_m * q->tiles_n >= (size_t)(GEMM_MIN_TILES / s->ntasks) || q->tile_np == 1)
            break;
        q->tile_np = cdiv(q->tile_np, 2);
    }
    if (q->tiles_m == 1 && !q->b_direct && !q->tb && b_panel_fits_l1(q->B, q->ldb, q->nr, q->kc))
        q->b_direct = true;
    q->b_in_tile = q->tiles_m == 1 && !q->b_direct;
    q->np_first = q->b_in_tile ? q->np : q->b_direct ? q->N / q->nr : 0;
    if (s->copies) {
        q->ap = p->ap + (size_t)t * s->shared;
        if (!q->a_direct)
            pack_panels(q, false, 0, q->mp);
    }
    q->bp = p->bp + s->off[t]; /* this task's B panels (and in-tile fallback slots) */
    if (!q->b_in_tile)
        pack_panels(q, true, q->np_first, q->np);
}

// Task t's rows as a GEMM of its own: same B (shared, as planned), its own A panels.
static void row_part(const struct split *s, int t, struct plan *q)
{
    const struct plan *p = &s->p;
    size_t r0 = s->part[t], r1 = s->part[t + 1];
    *q = *p;
    q->M = r1 - r0;
    q->A = a_at(p, r0, 0);
    q->C = p->C + r0 * p->ldc;
    q->mp = cdiv(q->M, q->mr);
    q->tile_mp = min_sz(q->mp, GEMM_MC / q->mr ? GEMM_MC / q->mr : 1);
    q->tile_np = min_sz(q->np, GEMM_NC / q->nr ? GEMM_NC / q->nr : 1);
    q->tiles_m = cdiv(q->mp, q->tile_mp);
    q->tiles_n = cdiv(q->np, q->tile_np);
    if (s->copies) {
        q->bp = p->bp + (size_t)t * s->shared;
        pack_panels(q, true, q->np_first, q->np);
    }
    q->ap = p->ap + s->off[t];
    if (!q->a_direct)
        pack_panels(q, false, 0, q->mp);
}

static void split_task(void *ctx, int t)
{
    struct split *s = ctx;
    // 1. claim and pack groups of the shared operand's panels
    size_t g;
    while ((g = atomic_fetch_add_explicit(&s->claim, 1, memory_order_relaxed)) < s->groups) {
        pack_shared_group(s, g);
        atomic_fetch_add_explicit(&s->done, 1, memory_order_release);
    }
    // 2. this task's part of C as a GEMM of its own, packing its own operand
    struct plan q;
    if (s->by_rows)
        row_part(s, t, &q);
    else
        col_part(s, t, &q);
    // 3. wait for the groups the other tasks claimed, then compute
    for (unsigned spin = 0; atomic_load_explicit(&s->done, memory_order_acquire) < s->groups; spin++) {
        if (spin < 20000)
            split_relax();
        else
            sched_yield();
    }
    for (size_t tile = 0; tile < q.tiles_m * q.tiles_n; tile++)
        tile_task(&q, (int)tile);
}

// Plan a split of C over `threads` tasks into s: by rows (each task gets at
// least GEMM_SPLIT_MIN_PANELS A panels) or by columns (each gets a whole B
// panel), the longer side where both work; false if the shape allows neither
// or the workspace is short.
static bool plan_split(struct split *s, const struct elbo_gemm_isa *isa, int threads, bool ta, bool tb, size_t M,
                       size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb, float beta,
                       float *C, size_t ldc)
{
    s->p = (struct plan){
        .isa = isa, .ta = ta, .tb = tb, .M = M, .N = N, .K = K,
        .A = A, .B = B, .lda = lda, .ldb = ldb, .ldc = ldc, .beta = beta, .C = C,
        .mr = (size_t)isa->mr, .nr = (size_t)isa->nr,
    };
    struct plan *p = &s->p;
    size_t T = (size_t)threads, vl = (size_t)isa->vlen, nvec = cdiv(N, vl);
    p->kc = k_block(isa, K);
    p->nkb = cdiv(K, (size_t)isa->kc);
    p->mp = cdiv(M, p->mr);
    p->np = cdiv(N, p->nr);
    p->a_direct = p->np <= GEMM_DIRECT_A_PANELS;
    s->ntasks = threads;
    // Split the longer side of C: the tasks' blocks are then the larger
    // share, and the operand each packs for itself the smaller one (measured:
    // the 784x400 weight gradient runs 1.1-1.2x faster split by rows).
    bool rows_ok = p->mp >= T * GEMM_SPLIT_MIN_PANELS, cols_ok = nvec >= T * p->nr / vl;
    if (rows_ok && (M > N || !cols_ok))
        s->by_rows = true;
    else if (cols_ok)
        s->by_rows = false;
    else
        return false;
    // parts: whole vectors of columns, or whole A panels of rows, balanced
    size_t units = s->by_rows ? p->mp : nvec, unit = s->by_rows ? p->mr : vl, dim = s->by_rows ? M : N;
    size_t own = 0; /* floats of the tasks' own packed operands */
    for (size_t t = 0; t <= T; t++) {
        s->part[t] = min_sz(dim, units * t / T * unit);
        if (t == 0)
            continue;
        s->off[t - 1] = own;
        size_t len = s->part[t] - s->part[t - 1];
        if (s->by_rows)
            own += p->a_direct ? 0 : cdiv(len, p->mr) * p->mr * K;
        else
            own += cdiv(len, p->nr) * p->nr * K;
    }
    size_t shared_panels;
    if (s->by_rows) { /* B read in place when each task's rows are too few to pay for packing */
        size_t rows = s->part[1] - s->part[0];
        p->b_direct = !tb && (cdiv(rows, p->mr) <= GEMM_DIRECT_B_PANELS || rows <= GEMM_DIRECT_B_ROWS);
        p->np_first = p->b_direct ? N / p->nr : 0;
        shared_panels = p->np - p->np_first;
    } else {
        shared_panels = p->a_direct ? 0 : p->mp;
    }
    size_t shared = s->by_rows ? p->np * p->nr * K : (p->a_direct ? 0 : p->mp * p->mr * K);
    s->shared = shared;
    s->copies = shared <= GEMM_COPY_MAX_FLOATS;
    size_t shared_all = s->copies ? shared * T : shared;
    float *ws = workspace(WS_PACK, shared_all + own);
    if (!ws)
        return false;
    if (s->by_rows) {
        p->bp = ws;
        p->ap = ws + shared_all;
    } else {
        p->ap = ws;
        p->bp = ws + shared_all;
    }
    // shared panel groups: about 4 per task, at least 2 panels each
    s->group = cdiv(shared_panels, 4 * T);
    if (s->group < 2)
        s->group = 2;
    s->groups = s->copies ? 0 : cdiv(shared_panels, s->group);
    atomic_store_explicit(&s->claim, 0, memory_order_relaxed);
    atomic_store_explicit(&s->done, 0, memory_order_relaxed);
    return true;
}

void elbo_gemm_at(elbo_simd level, bool trans_a, bool trans_b, size_t M, size_t N, size_t K,
                  const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                  size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const struct elbo_gemm_isa *isa = isa_for(level);
    if (!isa) {
        elbo_gemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    // small and narrow shapes: one thread, operands in place (the choice
    // depends on the shape only, so the bits still do not depend on threads)
    double mnk = (double)M * (double)N * (double)K;
    if (N <= 4 && mnk <= GEMM_NARROW_MNK &&
        isa->narrow(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;
    if (mnk <= GEMM_SMALL_MNK && small_direct(isa, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;

    // 2+ threads and enough work: one task per thread, C split by columns or rows
    int threads = elbo_in_task() ? 1 : elbo_threads();
    if (threads > SPLIT_MAX)
        threads = SPLIT_MAX;
    if (threads > 1 && 2.0 * mnk >= GEMM_PAR_FLOPS) {
        static _Thread_local struct split s; /* one GEMM at a time per calling thread */
        if (plan_split(&s, isa, threads, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc)) {
            elbo_parallel_for(threads, split_task, &s);
            return;
        }
    }

    // one row of C (a single example), B not transposed: B streamed row by
    // row, the same arithmetic as the tiles
    if (M == 1 && !trans_b) {
        isa->row(N, K, k_block(isa, K), A, trans_a ? lda : 1, B, ldb, beta, C);
        return;
    }

    struct plan p = {
        .isa = isa, .ta = trans_a, .tb = trans_b, .M = M, .N = N, .K = K,
        .A = A, .B = B, .lda = lda, .ldb = ldb, .ldc = ldc, .beta = beta, .C = C,
        .mr = (size_t)isa->mr, .nr = (size_t)isa->nr,
    };
    p.kc = k_block(isa, K);
    p.nkb = cdiv(K, (size_t)isa->kc);
    p.mp = cdiv(M, p.mr);
    p.np = cdiv(N, p.nr);
    p.a_direct = p.np <= GEMM_DIRECT_A_PANELS;
    p.b_direct = !trans_b && (p.mp <= GEMM_DIRECT_B_PANELS || M <= GEMM_DIRECT_B_ROWS);
    p.np_first = p.b_direct ? N / p.nr : 0;

    size_t a_floats = p.a_direct ? 0 : p.mp * p.mr * K, b_floats = p.np * p.nr * K;
    float *ws = workspace(WS_PACK, a_floats + b_floats);
    if (!ws) { /* out of memory: the reference loop needs no workspace */
        elbo_gemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    p.ap = ws;
    p.bp = ws + a_floats;

    // tiles of C: at most MC x NC, split further down to GEMM_MIN_TILES tiles
    struct elbo_gemm_tiling tl = elbo_gemm_tile_c(p.mp, p.np, GEMM_MC / p.mr, GEMM_NC / p.nr, GEMM_MIN_TILES);
    p.tile_mp = tl.tile_mp, p.tile_np = tl.tile_np, p.tiles_m = tl.tiles_m, p.tiles_n = tl.tiles_n;

    // each B panel is used by one tile only if a tile spans all rows: read it
    // in place if L1 allows, else pack it inside the tile just before use
    if (p.tiles_m == 1 && !p.b_direct && !trans_b && b_panel_fits_l1(B, ldb, p.nr, p.kc)) {
        p.b_direct = true;
        p.np_first = N / p.nr;
    }
    p.b_in_tile = p.tiles_m == 1 && !p.b_direct;
    if (p.b_in_tile)
        p.np_first = p.np;
    // pack tasks: up to 8 groups of A panels and 8 of B panels
    p.pa_group = cdiv(p.mp, 8);
    p.npack_a = p.a_direct ? 0 : cdiv(p.mp, p.pa_group);
    size_t nb_pack = p.np - p.np_first;
    p.pb_group = nb_pack ? cdiv(nb_pack, 8) : 1;
    p.npack_b = nb_pack ? cdiv(nb_pack, p.pb_group) : 0;

    bool parallel = 2.0 * (double)M * (double)N * (double)K >= GEMM_PAR_FLOPS && threads > 1;
    run((int)(p.npack_a + p.npack_b), pack_task, &p, parallel);
    run((int)(p.tiles_m * p.tiles_n), tile_task, &p, parallel);
}

void elbo_gemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
               const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    elbo_gemm_at(elbo_simd_current(), trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}
