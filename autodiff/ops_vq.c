/* Vector quantization on the tape: vq_residual, the difference between each
 * vector of z_e and its nearest codebook vector (VQ-VAE, van den Oord et al.
 * 2017). A VQ-VAE builds its two pieces from it with the existing ops:
 *     z_q        = z_e - sg(r)     (straight through: dz_e = dz_q)
 *     commitment = beta |r|²       (dz_e = 2 beta r; the codebook is a
 *                                   constant input, moved by its EMA)
 * The residual itself is differentiable almost everywhere (away from ties
 * between codes), so its gradient is checked by finite differences like any
 * other op's; the codes it chose are saved on the node (elbo_ad_vq_codes). */
#include <math.h>

#include "autodiff/tape_internal.h"

#include "ops/pool.h"

/* ---- vq_residual: k_i = argmin_k |z_i - e_k|², y_i = z_i - e_{k_i} ;
 *      dz_i += dy_i ; de_k -= Σ_{i: k_i = k} dy_i ----
 * z (..., D) as M = size/D rows of D, e (K, D) */

int32_t elbo_vq_nearest_row(const float *z, const float *e, int K, int D)
{
    /* Distances in double, codes in order, the first of equals wins: the
     * same code at every SIMD level and thread count. */
    int32_t best = 0;
    double bd = INFINITY;
    for (int k = 0; k < K; k++) {
        const float *ek = e + (size_t)k * (size_t)D;
        double s = 0;
        for (int d = 0; d < D; d++) {
            double u = (double)z[d] - (double)ek[d];
            s += u * u;
        }
        if (s < bd)
            bd = s, best = k;
    }
    return best;
}

/* Rows per task: fixed, so the split does not depend on the thread count
 * (each row is independent anyway). */
#define VQ_TASK_ROWS 64

typedef struct vq_job {
    const float *z, *e;
    float *y;
    int32_t *codes;
    size_t M;
    int K, D;
} vq_job;

static void vq_task(void *ctx, int task)
{
    const vq_job *j = ctx;
    size_t r0 = (size_t)task * VQ_TASK_ROWS, r1 = r0 + VQ_TASK_ROWS < j->M ? r0 + VQ_TASK_ROWS : j->M;
    size_t D = (size_t)j->D;
    for (size_t i = r0; i < r1; i++) {
        const float *zi = j->z + i * D;
        int32_t k = elbo_vq_nearest_row(zi, j->e, j->K, j->D);
        const float *ek = j->e + (size_t)k * D;
        j->codes[i] = k;
        for (size_t d = 0; d < D; d++)
            j->y[i * D + d] = zi[d] - ek[d];
    }
}

elbo_node *elbo_ad_vq_residual(elbo_tape *t, elbo_node *z, elbo_node *e)
{
    elbo_node *in[] = {z, e};
    if (!ad_inputs_ok(t, "vq_residual", 2, in))
        return NULL;
    int D = z->shape.d[z->shape.ndim - 1];
    if (e->shape.ndim != 2 || e->cols != D)
        return ad_error(t, ELBO_ERR_INVALID, "vq_residual: expected z (...,D) and a codebook (K,D), got %s and %s",
                        AD_SHAPE(z), AD_SHAPE(e));
    size_t M = ad_size(z) / (size_t)D;
    int32_t *codes = (int32_t *)ad_scratch(t, M); /* int32 and float have one size */
    if (!codes)
        return NULL;
    elbo_op_args args = {.vq = {.codes = codes, .rows = M}};
    return ad_node(t, ELBO_OP_VQ_RESIDUAL, &z->shape, 2, in, &args);
}

const int32_t *elbo_ad_vq_codes(const elbo_node *n)
{
    return n && n->op == ELBO_OP_VQ_RESIDUAL ? n->args.vq.codes : NULL;
}

void ad_vq_residual_forward(elbo_tape *t, elbo_node *n)
{
    (void)t;
    const elbo_node *z = n->in[0], *e = n->in[1];
    vq_job j = {.z = z->x, .e = e->x, .y = n->x, .codes = n->args.vq.codes, .M = n->args.vq.rows,
                .K = e->rows, .D = e->cols};
    // z (M,D), e (K,D) -> codes (M), y (M,D)
    elbo_parallel_for((int)((j.M + VQ_TASK_ROWS - 1) / VQ_TASK_ROWS), vq_task, &j);
}

void ad_vq_residual_backward(elbo_tape *t, elbo_node *n)
{
    elbo_node *z = n->in[0], *e = n->in[1];
    float *dz = ad_grad(t, z), *de = ad_grad(t, e);
    size_t M = n->args.vq.rows, D = (size_t)e->cols;
    const int32_t *codes = n->args.vq.codes;
    // dy (M,D) -> dz (M,D), de (K,D); rows in order
    for (size_t i = 0; i < M; i++)
        for (size_t d = 0; d < D; d++) {
            float g = n->dx[i * D + d];
            if (dz)
                dz[i * D + d] += g;
            if (de)
                de[(size_t)codes[i] * D + d] -= g;
        }
}
