/* Private to autodiff/: the tape's layout, the op table and the helpers the
 * op files share. Not installed. */
#ifndef ELBO_TAPE_INTERNAL_H
#define ELBO_TAPE_INTERNAL_H

#include "autodiff/tape.h"

/* Internal symbols stay out of libelbo's exported interface. */
#define AD_INTERNAL __attribute__((visibility("hidden")))

struct elbo_tape {
    elbo_arena arena;     /* nodes, values, gradients, scratch */
    elbo_node **order;    /* recorded nodes in creation order (malloc, grows, kept across resets) */
    int n_order, cap_order;
    elbo_params **param_sets; /* sets with leaves on this tape since reset (malloc, grows, kept) */
    int n_param_sets, cap_param_sets;
    elbo_grad_ready_fn hook; /* gradient-ready hook, or NULL */
    void *hook_ctx;
    bool grad_enabled;
    elbo_status status;   /* first error since reset */
};

/* forward: fill n->x from n->in[] and n->args (n->x is allocated, uninitialised).
 * backward: n->dx is set; accumulate into the inputs that need gradients. */
typedef void (*elbo_forward_fn)(elbo_tape *t, elbo_node *n);
typedef void (*elbo_backward_fn)(elbo_tape *t, elbo_node *n);

typedef struct elbo_op_def {
    const char *name;
    elbo_op_kind kind;
    elbo_forward_fn forward;   /* NULL exactly for leaves and views */
    elbo_backward_fn backward; /* NULL exactly for leaves and views */
} elbo_op_def;

AD_INTERNAL extern const elbo_op_def elbo_op_table[ELBO_OP_COUNT];

/* Sticky error: records the first failure (message via elbo_fail) and
 * returns NULL so constructors can `return ad_error(...)`. */
AD_INTERNAL elbo_node *ad_error(elbo_tape *t, elbo_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* NULL if the tape already failed or any input is NULL (recording why). */
AD_INTERNAL bool ad_inputs_ok(elbo_tape *t, const char *op, int n_in, elbo_node *const *in);

/* Allocate a node of shape s over inputs, run its forward, and record it for
 * backward when some input requires a gradient. args may be NULL. */
AD_INTERNAL elbo_node *ad_node(elbo_tape *t, elbo_op op, const elbo_shape *s, int n_in, elbo_node *const *in,
                               const elbo_op_args *args);

/* The zero-initialised gradient of n, allocated on first use; NULL when n
 * needs no gradient (or on out-of-memory, which is recorded). For a view,
 * the gradient of the node it views (the same floats, as its value is). */
AD_INTERNAL float *ad_grad(elbo_tape *t, elbo_node *n);

/* The same for a kernel that can overwrite (a GEMM's beta): *beta = 0 when
 * nothing has been accumulated into it yet, and then the buffer is neither
 * zeroed nor read, so the caller must write every element; else *beta = 1. */
AD_INTERNAL float *ad_grad_overwrite(elbo_tape *t, elbo_node *n, float *beta);

/* Scratch floats for a forward or backward (uninitialised / zeroed);
 * out-of-memory is recorded. */
AD_INTERNAL float *ad_scratch(elbo_tape *t, size_t n);
AD_INTERNAL float *ad_scratch_zero(elbo_tape *t, size_t n);

static inline size_t ad_size(const elbo_node *n) { return (size_t)n->rows * (size_t)n->cols; }

/* ---- shapes ---- */
/* (rows, cols) */
static inline elbo_shape ad_shape2(int rows, int cols) { return (elbo_shape){.ndim = 2, .d = {rows, cols}}; }
static inline size_t ad_shape_size(const elbo_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= (size_t)s->d[i];
    return n;
}
static inline bool ad_shape_eq(const elbo_shape *a, const elbo_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}
/* A shape as text, "(128,28,28,1)", for error messages: ad_shape_text(n).s is
 * valid until the end of the full expression that calls it. */
typedef struct ad_text {
    char s[64];
} ad_text;
AD_INTERNAL ad_text ad_shape_text(const elbo_shape *s);
#define AD_SHAPE(node) (ad_shape_text(&(node)->shape).s)

/* Forward and backward of each OP (autodiff/ops_*.c), from the op list. */
#define AD_OP_FNS_LEAF(name)
#define AD_OP_FNS_VIEW(name)
#define AD_OP_FNS_OP(name)                                            \
    AD_INTERNAL void ad_##name##_forward(elbo_tape *t, elbo_node *n); \
    AD_INTERNAL void ad_##name##_backward(elbo_tape *t, elbo_node *n);
#define AD_OP_FNS_(ID, name, kind) AD_OP_FNS_##kind(name)
ELBO_OPS(AD_OP_FNS_)
#undef AD_OP_FNS_

#endif
