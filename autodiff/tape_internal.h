/* Private to autodiff/: the tape's layout, the op table and the helpers the
 * op files share. Not installed. */
#ifndef ELBO_TAPE_INTERNAL_H
#define ELBO_TAPE_INTERNAL_H

#include "autodiff/tape.h"

/* Internal symbols stay out of libelbo's exported interface. */
#define AD_INTERNAL __attribute__((visibility("hidden")))

/* Parameter sets a tape tracks for stale gradients (see elbo_params_clear_grad);
 * a further set has its stale gradients zeroed when its first leaf is made. */
#define AD_PARAM_SETS 4

struct elbo_tape {
    elbo_arena arena;     /* nodes, values, gradients, scratch */
    elbo_node **order;    /* recorded nodes in creation order (malloc, grows, kept across resets) */
    int n_order, cap_order;
    elbo_params *param_sets[AD_PARAM_SETS]; /* with leaves on this tape, since reset */
    int n_param_sets;
    bool grad_enabled;
    elbo_status status;   /* first error since reset */
};

/* forward: fill n->x from n->in[] and n->args (n->x is allocated, uninitialised).
 * backward: n->dx is set; accumulate into the inputs that need gradients. */
typedef void (*elbo_forward_fn)(elbo_tape *t, elbo_node *n);
typedef void (*elbo_backward_fn)(elbo_tape *t, elbo_node *n);

typedef struct elbo_op_def {
    const char *name;
    elbo_forward_fn forward;   /* NULL for leaves */
    elbo_backward_fn backward; /* NULL for leaves */
} elbo_op_def;

AD_INTERNAL extern const elbo_op_def elbo_op_table[ELBO_OP_COUNT];

/* Sticky error: records the first failure (message via elbo_fail) and
 * returns NULL so constructors can `return ad_error(...)`. */
AD_INTERNAL elbo_node *ad_error(elbo_tape *t, elbo_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* NULL if the tape already failed or any input is NULL (recording why). */
AD_INTERNAL bool ad_inputs_ok(elbo_tape *t, const char *op, int n_in, elbo_node *const *in);

/* Allocate a (rows, cols) node over inputs, run its forward, and record it
 * for backward when some input requires a gradient. args may be NULL. */
AD_INTERNAL elbo_node *ad_node(elbo_tape *t, elbo_op op, int rows, int cols, int n_in, elbo_node *const *in,
                   const elbo_op_args *args);

/* The zero-initialised gradient of n, allocated on first use; NULL when n
 * needs no gradient (or on out-of-memory, which is recorded). */
AD_INTERNAL float *ad_grad(elbo_tape *t, elbo_node *n);

/* The same for a kernel that can overwrite (a GEMM's beta): *beta = 0 when
 * nothing has been accumulated into it yet, and then the buffer is neither
 * zeroed nor read, so the caller must write every element; else *beta = 1. */
AD_INTERNAL float *ad_grad_overwrite(elbo_tape *t, elbo_node *n, float *beta);

/* Scratch floats for a backward (uninitialised / zeroed); out-of-memory is recorded. */
AD_INTERNAL float *ad_scratch(elbo_tape *t, size_t n);
AD_INTERNAL float *ad_scratch_zero(elbo_tape *t, size_t n);

static inline size_t ad_size(const elbo_node *n) { return (size_t)n->rows * (size_t)n->cols; }

/* Forward and backward of each op (autodiff/ops_*.c). */
#define AD_OP_FNS(name)                                 \
    AD_INTERNAL void ad_##name##_forward(elbo_tape *t, elbo_node *n); \
    AD_INTERNAL void ad_##name##_backward(elbo_tape *t, elbo_node *n);
AD_OP_FNS(matmul)
AD_OP_FNS(linear)
AD_OP_FNS(add)
AD_OP_FNS(sub)
AD_OP_FNS(mul)
AD_OP_FNS(scale)
AD_OP_FNS(concat_cols)
AD_OP_FNS(slice_cols)
AD_OP_FNS(relu)
AD_OP_FNS(leaky_relu)
AD_OP_FNS(tanh)
AD_OP_FNS(sigmoid)
AD_OP_FNS(softplus)
AD_OP_FNS(exp)
AD_OP_FNS(log)
AD_OP_FNS(sum)
AD_OP_FNS(mean)
AD_OP_FNS(sum_rows)
AD_OP_FNS(logsumexp_rows)
AD_OP_FNS(bernoulli_nll)
AD_OP_FNS(gauss_nll)
AD_OP_FNS(kl_diag)
AD_OP_FNS(reparam)
#undef AD_OP_FNS

#endif
