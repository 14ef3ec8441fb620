/* Linear algebra and column plumbing on the 2-D views: matmul, linear,
 * concat (columns, or channels of NHWC images), slice_cols. Each op:
 * constructor (shape checks), forward, backward, side by side. */
#include "autodiff/tape_internal.h"

#include <string.h>

#include "ops/gemm.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/precision.h"

/* ---- matmul: y = a·b ; da += dy·bᵀ ; db += aᵀ·dy ----
 * (a first contribution overwrites instead: beta 0, see ad_grad_overwrite) */

elbo_node *elbo_ad_matmul(elbo_tape *t, elbo_node *a, elbo_node *b)
{
    elbo_node *in[] = {a, b};
    if (!ad_inputs_ok(t, "matmul", 2, in))
        return NULL;
    if (a->cols != b->rows)
        return ad_error(t, ELBO_ERR_INVALID, "matmul: expected a (M,K) and b (K,N), got %s and %s", AD_SHAPE(a),
                        AD_SHAPE(b));
    elbo_shape s = ad_shape2(a->rows, b->cols);
    return ad_node(t, ELBO_OP_MATMUL, &s, 2, in, NULL);
}

void ad_matmul_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0], *b = n->in[1];
    size_t M = (size_t)a->rows, K = (size_t)a->cols, N = (size_t)b->cols;
    // a (M,K) · b (K,N) -> y (M,N)
    elbo_gemm(false, false, M, N, K, a->x, K, b->x, N, 0.0f, n->x, N);
}

/* The two gradients of a product, dA = dY·Bᵀ and dB = Aᵀ·dY, read dY and write
 * different arrays: with threads they run as two tasks side by side, each
 * GEMM on one thread (no split, no shared packing), and for the VAE's layers
 * the two have the same flops. Same bits either way (see ops/gemm/gemm.c). */
struct product_grads {
    const float *a, *b, *dy; /* a (M,K), b (K,N), dy (M,N) */
    float *da, *db;          /* (M,K), (K,N); either may be NULL */
    float beta_a, beta_b;    /* 0: da (db) holds nothing yet, overwrite it */
    size_t M, K, N;
    float *dbias;            /* linear only: dbias += col_sum(dy), on the dB task */
    bool mixed;              /* linear: the process precision (bf16 inputs when set), else float32 */
};

static void product(const struct product_grads *g, bool ta, bool tb, size_t M, size_t N, size_t K, const float *A,
                    size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (g->mixed)
        elbo_gemm_mixed(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL);
    else
        elbo_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void product_grad_task(void *ctx, int task)
{
    const struct product_grads *g = ctx;
    if (task == 0 && g->da) // dy (M,N) · bᵀ (N,K) -> da (M,K)
        product(g, false, true, g->M, g->K, g->N, g->dy, g->N, g->b, g->N, g->beta_a, g->da, g->K);
    if (task == 1 && g->db) // aᵀ (K,M) · dy (M,N) -> db (K,N)
        product(g, true, false, g->K, g->N, g->M, g->a, g->K, g->dy, g->N, g->beta_b, g->db, g->N);
    if (task == 1 && g->dbias) // dy (M,N) summed over rows -> dbias (N)
        elbo_col_sum(g->M, g->N, g->dy, g->dbias);
}

static void product_grads_run(struct product_grads *g)
{
    if (g->da && (g->db || g->dbias) && g->da != g->db) /* a·a: both land in one buffer, in turn */
        elbo_parallel_for(2, product_grad_task, g);
    else
        for (int task = 0; task < 2; task++)
            product_grad_task(g, task);
}

void ad_matmul_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *a = n->in[0], *b = n->in[1];
    struct product_grads g = {
        .a = a->x, .b = b->x, .dy = n->dx,
        .M = (size_t)a->rows, .K = (size_t)a->cols, .N = (size_t)b->cols,
    };
    g.da = ad_grad_overwrite(t, a, &g.beta_a);
    g.db = ad_grad_overwrite(t, b, &g.beta_b);
    product_grads_run(&g);
}

/* ---- linear: y = x·W + b ; dx += dy·Wᵀ ; dW += xᵀ·dy ; db += col_sum(dy) ----
 * The three products run at the process precision (ops/precision.h): in bf16
 * they read bf16-rounded x, W and dy and sum in float32; y, the gradients and
 * the bias stay float32. */

elbo_node *elbo_ad_linear(elbo_tape *t, elbo_node *x, elbo_node *W, elbo_node *b)
{
    /* b == NULL on a healthy tape means "no bias"; a NULL from a failed op
     * is caught by the sticky status inside ad_inputs_ok. */
    elbo_node *in[] = {x, W, b};
    int n_in = b ? 3 : 2;
    if (!ad_inputs_ok(t, "linear", n_in, in))
        return NULL;
    if (x->cols != W->rows)
        return ad_error(t, ELBO_ERR_INVALID, "linear: expected x (B,I) and W (I,O), got %s and %s", AD_SHAPE(x),
                        AD_SHAPE(W));
    if (b && ad_size(b) != (size_t)W->cols)
        return ad_error(t, ELBO_ERR_INVALID, "linear: expected b (1,%d), got %s", W->cols, AD_SHAPE(b));
    elbo_shape s = ad_shape2(x->rows, W->cols);
    return ad_node(t, ELBO_OP_LINEAR, &s, n_in, in, NULL);
}

void ad_linear_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *x = n->in[0], *W = n->in[1];
    size_t B = (size_t)x->rows, I = (size_t)x->cols, O = (size_t)W->cols;
    // x (B,I) · W (I,O) -> y (B,O)
    if (elbo_precision_current() == ELBO_PRECISION_BF16) { // y += b (O) on every row, as the tiles are stored
        elbo_gemm_epilogue ep = {.bias = n->n_in == 3 ? n->in[2]->x : NULL};
        elbo_gemm_mixed(false, false, B, O, I, x->x, I, W->x, O, 0.0f, n->x, O, &ep);
        return;
    }
    elbo_gemm(false, false, B, O, I, x->x, I, W->x, O, 0.0f, n->x, O);
    if (n->n_in == 3) // y (B,O) += b (O) on every row
        elbo_add_bias(B, O, n->in[2]->x, n->x);
}

void ad_linear_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *x = n->in[0], *W = n->in[1];
    size_t B = (size_t)x->rows, I = (size_t)x->cols, O = (size_t)W->cols;
    // x (B,I), W (I,O), dy (B,O): dx += dy·Wᵀ, dW += xᵀ·dy, db += col_sum(dy)
    struct product_grads g = {
        .a = x->x, .b = W->x, .dy = n->dx,
        .M = B, .K = I, .N = O,
        .dbias = n->n_in == 3 ? ad_grad(t, n->in[2]) : NULL,
        .mixed = true,
    };
    g.da = ad_grad_overwrite(t, x, &g.beta_a); /* NULL for the data: the first layer skips dX */
    g.db = ad_grad_overwrite(t, W, &g.beta_b);
    product_grads_run(&g);
}

/* dst[r, :cols] += src[r, :cols] over R rows with row strides ld_src, ld_dst.
 * A plain loop, not a kernel call per row: the rows here are short (a latent
 * of a few columns), where per-call dispatch would cost more than the adds. */
static void add_cols(size_t R, size_t cols, const float *src, size_t ld_src, float *dst, size_t ld_dst)
{
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < cols; c++)
            dst[r * ld_dst + c] += src[r * ld_src + c];
}

/* ---- concat: y = [a | b] along the last dimension ; da += dy[.., :Ca] ; db += dy[.., Ca:] ----
 * Both constructors make the same op: R rows (every dimension but the last
 * of the result) of Ca and Cb floats. */

static elbo_node *concat(elbo_tape *t, elbo_node *a, elbo_node *b, const elbo_shape *s)
{
    elbo_node *in[] = {a, b};
    return ad_node(t, ELBO_OP_CONCAT, s, 2, in, NULL);
}

elbo_node *elbo_ad_concat_cols(elbo_tape *t, elbo_node *a, elbo_node *b)
{
    elbo_node *in[] = {a, b};
    if (!ad_inputs_ok(t, "concat_cols", 2, in))
        return NULL;
    if (a->rows != b->rows)
        return ad_error(t, ELBO_ERR_INVALID, "concat_cols: expected equal rows, got %s and %s", AD_SHAPE(a),
                        AD_SHAPE(b));
    elbo_shape s = ad_shape2(a->rows, a->cols + b->cols);
    return concat(t, a, b, &s);
}

elbo_node *elbo_ad_concat_channels(elbo_tape *t, elbo_node *a, elbo_node *b)
{
    elbo_node *in[] = {a, b};
    if (!ad_inputs_ok(t, "concat_channels", 2, in))
        return NULL;
    bool ok = a->shape.ndim == 4 && b->shape.ndim == 4;
    for (int i = 0; ok && i < 3; i++)
        ok = a->shape.d[i] == b->shape.d[i];
    if (!ok)
        return ad_error(t, ELBO_ERR_INVALID,
                        "concat_channels: expected NHWC images (N,H,W,Ca) and (N,H,W,Cb), got %s and %s",
                        AD_SHAPE(a), AD_SHAPE(b));
    elbo_shape s = a->shape;
    s.d[3] += b->shape.d[3];
    return concat(t, a, b, &s);
}

/* rows R and the widths of a, b */
static void concat_dims(const elbo_node *n, size_t *R, size_t *Ca, size_t *Cb)
{
    size_t C = (size_t)n->shape.d[n->shape.ndim - 1];
    *R = ad_size(n) / C;
    *Ca = ad_size(n->in[0]) / *R;
    *Cb = C - *Ca;
}

void ad_concat_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0], *b = n->in[1];
    size_t R, Ca, Cb;
    concat_dims(n, &R, &Ca, &Cb);
    size_t C = Ca + Cb;
    // a (R,Ca), b (R,Cb) -> y (R,Ca+Cb)
    for (size_t r = 0; r < R; r++) {
        memcpy(n->x + r * C, a->x + r * Ca, Ca * sizeof(float));
        memcpy(n->x + r * C + Ca, b->x + r * Cb, Cb * sizeof(float));
    }
}

void ad_concat_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *a = n->in[0], *b = n->in[1];
    size_t R, Ca, Cb;
    concat_dims(n, &R, &Ca, &Cb);
    size_t C = Ca + Cb;
    float *da = ad_grad(t, a), *db = ad_grad(t, b);
    if (da) // dy[:, :Ca] -> da (R,Ca)
        add_cols(R, Ca, n->dx, C, da, Ca);
    if (db) // dy[:, Ca:] -> db (R,Cb)
        add_cols(R, Cb, n->dx + Ca, C, db, Cb);
}

/* ---- slice_cols: y = a[:, s:s+L] ; da[:, s:s+L] += dy ---- */

elbo_node *elbo_ad_slice_cols(elbo_tape *t, elbo_node *a, int start, int len)
{
    if (!ad_inputs_ok(t, "slice_cols", 1, &a))
        return NULL;
    if (start < 0 || len < 1 || start > a->cols - len)
        return ad_error(t, ELBO_ERR_INVALID,
                        "slice_cols: expected 0 <= start, 1 <= len, start+len <= %d (the columns of %s), got start %d len %d",
                        a->cols, AD_SHAPE(a), start, len);
    elbo_op_args args = {.slice = {.start = start, .len = len}};
    elbo_shape s = ad_shape2(a->rows, len);
    return ad_node(t, ELBO_OP_SLICE_COLS, &s, 1, &a, &args);
}

void ad_slice_cols_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *a = n->in[0];
    size_t R = (size_t)n->rows, C = (size_t)a->cols, s = (size_t)n->args.slice.start, L = (size_t)n->args.slice.len;
    // a (R,C) -> y (R,L)
    for (size_t r = 0; r < R; r++)
        memcpy(n->x + r * L, a->x + r * C + s, L * sizeof(float));
}

void ad_slice_cols_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *a = n->in[0];
    size_t R = (size_t)n->rows, C = (size_t)a->cols, s = (size_t)n->args.slice.start, L = (size_t)n->args.slice.len;
    float *da = ad_grad(t, a);
    if (!da)
        return;
    // dy (R,L) -> da[:, s:s+L] of (R,C)
    add_cols(R, L, n->dx, L, da + s, C);
}
