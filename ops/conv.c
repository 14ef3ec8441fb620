/* The convolutions' fast path (see ops/conv.h): im2col in row chunks into
 * the caller's scratch, then the packed GEMM (ops/gemm.h) at the process
 * precision (elbo_gemm_mixed: bf16 inputs and float32 sums under bf16).
 *
 * The im2col matrix has M = n*oh*ow rows of K = kh*kw*cin floats. It is
 * built CHUNK rows at a time (about CONV_CHUNK_FLOATS floats, so a chunk is
 * written and then read by its GEMM while it sits in L2). Work is spread over
 * `lanes` pool tasks, each with its own chunk of scratch:
 *   fwd    chunks of y rows are independent: lane l takes chunks l, l+lanes, ...
 *   dgrad  dcol = dy W^T per chunk, then col2im into dx; chunks of one image
 *          add into the same pixels, so a lane takes whole images and their
 *          chunks in order
 *   wgrad  dW = sum over chunks of col^T dy: the chunks form CONV_WGRAD_GROUPS
 *          fixed groups (by the shape), each summed in order into its own
 *          partial, and the partials added in group order
 * so no boundary or order depends on the thread count (lanes only decides
 * who computes what), and the GEMM gives the same bits whatever thread runs
 * it. A GEMM called from a task takes its one-thread plan; with one lane the
 * call is inline and the GEMM may split itself.
 *
 * What to replace for speed: these three functions (and the scratch query).
 * The interface, the geometry (ops/conv_geom.c) and the references
 * (ops/conv_ref.c) stay. */
#include "ops/conv.h"

#include <string.h>

#include "ops/gemm.h"
#include "ops/ops.h"
#include "ops/pool.h"

/* im2col floats per chunk: 256 KiB, a quarter of the L2 */
#define CONV_CHUNK_FLOATS (64 * 1024)
/* groups of chunks in the weight gradient, each with its own partial */
#define CONV_WGRAD_GROUPS 4

/* ---- the plan: sizes, chunks, lanes ---- */

typedef struct conv_plan {
    const elbo_conv2d_geom *g;
    size_t M, K, N;        /* im2col rows and columns, output channels */
    size_t chunk;          /* rows per chunk */
    size_t nchunks;
    size_t per_image;      /* rows (output pixels) per image */
    size_t groups;         /* weight-gradient groups */
    int lanes;
    float *col;            /* lanes chunks of chunk * K floats */
    float *partial;        /* groups partials of K * N floats (groups > 1) */
    const float *a, *b;    /* the call's operands */
    float *out;
    float beta;
} conv_plan;

/* A 1x1 kernel with stride 1 and no padding reads x itself as im2col. */
static bool is_pointwise(const elbo_conv2d_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static conv_plan plan_of(const elbo_conv2d_geom *g)
{
    conv_plan p = {.g = g, .M = elbo_conv2d_rows(g), .K = elbo_conv2d_cols(g), .N = (size_t)g->cout,
                   .per_image = (size_t)g->oh * (size_t)g->ow};
    p.chunk = CONV_CHUNK_FLOATS / p.K ? CONV_CHUNK_FLOATS / p.K : 1;
    p.nchunks = (p.M + p.chunk - 1) / p.chunk;
    p.groups = min_sz(p.nchunks, CONV_WGRAD_GROUPS);
    p.lanes = (int)min_sz((size_t)elbo_threads(), p.nchunks);
    return p;
}

/* lanes * chunk * K floats of im2col, then the weight-gradient partials */
static size_t scratch_floats(const conv_plan *p)
{
    return (size_t)p->lanes * p->chunk * p->K + (p->groups > 1 ? p->groups * p->K * p->N : 0);
}

size_t elbo_conv2d_scratch(const elbo_conv2d_geom *g)
{
    if (is_pointwise(g))
        return 0;
    conv_plan p = plan_of(g);
    return scratch_floats(&p);
}

/* Carve the scratch; fewer lanes if the caller's scratch holds fewer (the
 * thread count grew since the query: the results are the same). */
static void plan_carve(conv_plan *p, float *scratch, size_t floats)
{
    size_t parts = p->groups > 1 ? p->groups * p->K * p->N : 0, per_lane = p->chunk * p->K;
    size_t fit = floats > parts ? (floats - parts) / per_lane : 0;
    p->lanes = (int)min_sz((size_t)p->lanes, fit ? fit : 1);
    p->col = scratch;
    p->partial = scratch + (size_t)p->lanes * per_lane;
}

static float *lane_col(const conv_plan *p, int lane) { return p->col + (size_t)lane * p->chunk * p->K; }

/* ---- forward: y = beta y + col(x) W ---- */

static void fwd_chunk(const conv_plan *p, float *col, size_t r0, size_t nr)
{
    elbo_im2col(p->g, r0, nr, p->a, col);
    // col (nr, K) . W (K, N) -> y rows [r0, r0 + nr)
    elbo_gemm_mixed(false, false, nr, p->N, p->K, col, p->K, p->b, p->N, p->beta, p->out + r0 * p->N, p->N, NULL);
}

static void fwd_lane(void *ctx, int lane)
{
    const conv_plan *p = ctx;
    for (size_t c = (size_t)lane; c < p->nchunks; c += (size_t)p->lanes) {
        size_t r0 = c * p->chunk;
        fwd_chunk(p, lane_col(p, lane), r0, min_sz(p->chunk, p->M - r0));
    }
}

void elbo_conv2d_fwd(const elbo_conv2d_geom *g, const float *x, const float *w, float beta, float *y, float *scratch,
                     size_t scratch_floats)
{
    conv_plan p = plan_of(g);
    if (is_pointwise(g)) { // x (M, cin) . W (cin, N) -> y (M, N)
        elbo_gemm_mixed(false, false, p.M, p.N, p.K, x, p.K, w, p.N, beta, y, p.N, NULL);
        return;
    }
    plan_carve(&p, scratch, scratch_floats);
    p.a = x, p.b = w, p.out = y, p.beta = beta;
    elbo_parallel_for(p.lanes, fwd_lane, &p);
}

/* ---- input gradient: dx += col2im(dy W^T), an image's chunks in order ---- */

static void dgrad_lane(void *ctx, int lane)
{
    const conv_plan *p = ctx;
    float *dcol = lane_col(p, lane);
    for (size_t s = (size_t)lane; s < (size_t)p->g->n; s += (size_t)p->lanes)
        for (size_t r0 = s * p->per_image; r0 < (s + 1) * p->per_image; r0 += p->chunk) {
            size_t nr = min_sz(p->chunk, (s + 1) * p->per_image - r0);
            // dy rows (nr, N) . W^T (N, K) -> dcol (nr, K), added back at its pixels
            elbo_gemm_mixed(false, true, nr, p->K, p->N, p->a + r0 * p->N, p->N, p->b, p->N, 0.0f, dcol, p->K, NULL);
            elbo_col2im(p->g, r0, nr, dcol, p->out);
        }
}

void elbo_conv2d_dgrad(const elbo_conv2d_geom *g, const float *dy, const float *w, float *dx, float *scratch,
                       size_t scratch_floats)
{
    conv_plan p = plan_of(g);
    if (is_pointwise(g)) { // dy (M, N) . W^T (N, cin) -> dx (M, cin), accumulated
        elbo_gemm_mixed(false, true, p.M, p.K, p.N, dy, p.N, w, p.N, 1.0f, dx, p.K, NULL);
        return;
    }
    p.lanes = (int)min_sz((size_t)p.lanes, (size_t)g->n);
    plan_carve(&p, scratch, scratch_floats);
    p.a = dy, p.b = w, p.out = dx;
    elbo_parallel_for(p.lanes, dgrad_lane, &p);
}

/* ---- weight gradient: dW = beta dW + sum over groups of (sum over their chunks of col^T dy) ---- */

/* Group grp's chunks, summed in order into dst: the first with beta0, then 1. */
static void wgrad_group(const conv_plan *p, float *col, size_t grp, float *dst, float beta0)
{
    size_t c0 = grp * p->nchunks / p->groups, c1 = (grp + 1) * p->nchunks / p->groups;
    for (size_t c = c0; c < c1; c++) {
        size_t r0 = c * p->chunk, nr = min_sz(p->chunk, p->M - r0);
        elbo_im2col(p->g, r0, nr, p->a, col);
        // col^T (K, nr) . dy rows (nr, N) -> dst (K, N)
        elbo_gemm_mixed(true, false, p->K, p->N, nr, col, p->K, p->b + r0 * p->N, p->N, c == c0 ? beta0 : 1.0f, dst, p->N, NULL);
    }
}

static void wgrad_lane(void *ctx, int lane)
{
    const conv_plan *p = ctx;
    for (size_t grp = (size_t)lane; grp < p->groups; grp += (size_t)p->lanes)
        if (p->groups == 1)
            wgrad_group(p, lane_col(p, lane), 0, p->out, p->beta);
        else
            wgrad_group(p, lane_col(p, lane), grp, p->partial + grp * p->K * p->N, 0.0f);
}

void elbo_conv2d_wgrad(const elbo_conv2d_geom *g, const float *x, const float *dy, float beta, float *dw,
                       float *scratch, size_t scratch_floats)
{
    conv_plan p = plan_of(g);
    if (is_pointwise(g)) { // x^T (cin, M) . dy (M, N) -> dw (cin, N)
        elbo_gemm_mixed(true, false, p.K, p.N, p.M, x, p.K, dy, p.N, beta, dw, p.N, NULL);
        return;
    }
    p.lanes = (int)min_sz((size_t)p.lanes, p.groups);
    plan_carve(&p, scratch, scratch_floats);
    p.a = x, p.b = dy, p.out = dw, p.beta = beta;
    elbo_parallel_for(p.lanes, wgrad_lane, &p);
    if (p.groups == 1)
        return;
    size_t kn = p.K * p.N;
    if (beta == 0.0f)
        memcpy(dw, p.partial, kn * sizeof(float));
    else {
        if (beta != 1.0f)
            elbo_scale(kn, beta, dw, dw);
        elbo_add(kn, dw, p.partial, dw);
    }
    for (size_t grp = 1; grp < p.groups; grp++)
        elbo_add(kn, dw, p.partial + grp * kn, dw);
}
