/* Parameters, gradients and optimizer state in flat slabs.
 *
 * A model registers each parameter tensor (name and shape) once, then
 * finalizes: w, g, m and v are each one contiguous 64-byte aligned slab of
 * n floats, so the optimizer, gradient clipping, zeroing and checkpoints are
 * single passes over flat memory. */
#ifndef ELBO_PARAMS_H
#define ELBO_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/error.h"
#include "ops/rng.h"

#define ELBO_PARAM_NAME_MAX 48
#define ELBO_PARAM_MAX_DIMS 4 /* = ELBO_MAX_DIMS of autodiff/tape.h */

typedef struct elbo_param_info {
    char name[ELBO_PARAM_NAME_MAX];
    int rows, cols; /* the 2-D view: rows = dims[0], cols = the product of the rest */
    int ndim;       /* the shape it was registered with: dims[0..ndim-1] */
    int dims[ELBO_PARAM_MAX_DIMS];
    size_t offset;  /* into each slab, in floats; aligned to 16 floats */
} elbo_param_info;

typedef struct elbo_params {
    float *w; /* values */
    float *g; /* gradients, accumulated by backward */
    float *m; /* optimizer first moment (Adam) or velocity (SGD) */
    float *v; /* optimizer second moment (Adam) */
    size_t n; /* floats per slab (including alignment padding, kept at zero) */
    int count;
    elbo_param_info *info;
    long step; /* optimizer steps taken: Adam's bias correction t */
    /* Per parameter: its gradient was cleared (elbo_params_clear_grad) and
     * nothing has been written to it since, so its part of g holds stale
     * values for backward to overwrite. */
    bool *g_stale;
} elbo_params;

void elbo_params_init(elbo_params *p);
/* Register a (rows, cols) parameter before finalize; returns its id >= 0, or -1 on error. */
int elbo_params_add(elbo_params *p, const char *name, int rows, int cols);
/* The same with an N-D shape of ndim (1..4) dimensions dims[..], e.g. a
 * convolution weight (KH, KW, Cin, Cout), which is also the (KH*KW*Cin, Cout)
 * matrix its GEMM reads. Initializers see the 2-D view (fan-in = rows); pass
 * the fan-in explicitly where that differs (elbo_params_init_uniform_fan_in). */
int elbo_params_add_nd(elbo_params *p, const char *name, int ndim, const int *dims);
/* Allocate the slabs, all zero. */
elbo_status elbo_params_finalize(elbo_params *p);
void elbo_params_free(elbo_params *p);

static inline float *elbo_param_w(const elbo_params *p, int id) { return p->w + p->info[id].offset; }
static inline float *elbo_param_g(const elbo_params *p, int id) { return p->g + p->info[id].offset; }
/* Floats of parameter id. */
static inline size_t elbo_param_size(const elbo_params *p, int id)
{
    return (size_t)p->info[id].rows * (size_t)p->info[id].cols;
}

/* Initialisation of one parameter (weights are (fan_in, fan_out)). */
void elbo_params_init_xavier(elbo_params *p, int id, elbo_rng *rng); /* U(+-sqrt(6/(in+out))) */
void elbo_params_init_he(elbo_params *p, int id, elbo_rng *rng);     /* N(0, 2/in) */
/* PyTorch nn.Linear default: U(+-1/sqrt(fan_in)) for weight and bias (fan_in = rows of the weight). */
void elbo_params_init_uniform_fan_in(elbo_params *p, int id, int fan_in, elbo_rng *rng);
void elbo_params_fill(elbo_params *p, int id, float value);

/* Zero the gradient slab: a pass over n floats. */
void elbo_params_zero_grad(elbo_params *p);
/* Data parallel, a process whose loss is not finite: every gradient NaN and
 * declared final (ready(ctx, p, id) from the last parameter back, as
 * backward would), so the sum across processes is NaN in every one of them
 * and each stops at this step through its finite check, none waiting for
 * this one's gradient. ready may be NULL. */
void elbo_params_poison_grad(elbo_params *p, void (*ready)(void *ctx, elbo_params *p, int id), void *ctx);
/* The same for a training step, without the pass: every gradient is marked
 * stale; backward overwrites a stale gradient where it would accumulate
 * (GEMM with beta 0: no zeroing and no read of the old values), zeroes it
 * before any other first contribution, and zeroes those it never reaches at
 * the end. So p->g is valid once elbo_backward has returned. */
void elbo_params_clear_grad(elbo_params *p);
/* Global L2 norm of the gradient slab (accumulated in double). */
double elbo_params_grad_norm(const elbo_params *p);
/* Scale gradients so the global norm is at most max_norm; returns the norm before. */
double elbo_params_clip_grad(elbo_params *p, double max_norm);
/* ELBO_ERR_NONFINITE naming the first parameter whose gradient holds NaN/Inf. */
elbo_status elbo_params_check_finite(const elbo_params *p);

typedef struct elbo_adam_config {
    float lr, beta1, beta2, eps, weight_decay; /* defaults: 1e-3, 0.9, 0.999, 1e-8, 0 */
} elbo_adam_config;
#define ELBO_ADAM_DEFAULT ((elbo_adam_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f})

/* One bias-corrected Adam step over the whole slab; increments p->step. */
void elbo_adam_step(elbo_params *p, const elbo_adam_config *cfg);
/* The finite check of the gradient and the Adam step in one pass: the slab
 * in chunks fixed by its size (pool tasks), each chunk's gradient summed
 * (the sum is finite iff every value is, or it overflows) and, if finite,
 * stepped at once while it is in cache, instead of a checking pass over the
 * whole slab before the step. On a non-finite chunk it returns
 * ELBO_ERR_NONFINITE naming the first non-finite gradient (or "the gradient
 * sum overflows") and p->step is not advanced, but chunks already stepped
 * have new w, m, v: the caller must stop using p (a trainer ends the run;
 * its last checkpoint is the state before this step). Same bits as
 * elbo_adam_step for any thread count. */
elbo_status elbo_adam_step_checked(elbo_params *p, const elbo_adam_config *cfg);
/* One SGD-with-momentum step: u = mu u + g ; w -= lr u. */
void elbo_sgd_step(elbo_params *p, float lr, float momentum);

#endif
