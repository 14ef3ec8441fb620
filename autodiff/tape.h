/* Tape-based reverse-mode automatic differentiation over 2-D float32 tensors.
 *
 * Define-by-run: each elbo_ad_* call computes its result at once and, unless
 * gradients are off, records a node on the tape. elbo_backward() sweeps the
 * tape in reverse, calling each op's backward (autodiff/op_table.c names them;
 * forward and backward of an op sit side by side in autodiff/ops_*.c).
 *
 * Tensors are row-major, batch in rows: (B,D) is B examples of D features.
 * Nodes and their values live in the tape's arena and die at elbo_tape_reset();
 * parameter nodes view the slabs of an elbo_params (values and gradients).
 *
 * Errors are sticky: an op given a NULL input, mismatched shapes, or out of
 * memory returns NULL and records the first error on the tape; check
 * elbo_tape_status() once after building the graph. */
#ifndef ELBO_TAPE_H
#define ELBO_TAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "autodiff/arena.h"
#include "ops/error.h"
#include "ops/rng.h"

/* Named op ids; the op table in op_table.c is indexed by these. */
typedef enum elbo_op {
    ELBO_OP_INPUT,       /* constant leaf */
    ELBO_OP_PARAM,       /* leaf viewing a parameter slab */
    ELBO_OP_MATMUL,      /* a (M,K) · b (K,N) */
    ELBO_OP_LINEAR,      /* x (B,I) · W (I,O) + b (1,O) */
    ELBO_OP_ADD,         /* a + b, b same shape or (1,C) broadcast over rows */
    ELBO_OP_SUB,         /* a - b, same broadcast rule */
    ELBO_OP_MUL,         /* a * b elementwise, same broadcast rule */
    ELBO_OP_SCALE,       /* s * a */
    ELBO_OP_CONCAT_COLS, /* [a | b] */
    ELBO_OP_SLICE_COLS,  /* a[:, start:start+len] */
    ELBO_OP_RELU,
    ELBO_OP_LEAKY_RELU,
    ELBO_OP_TANH,
    ELBO_OP_SIGMOID,
    ELBO_OP_SOFTPLUS,
    ELBO_OP_EXP,
    ELBO_OP_LOG,
    ELBO_OP_SUM,           /* all elements -> (1,1) */
    ELBO_OP_MEAN,          /* all elements -> (1,1) */
    ELBO_OP_SUM_ROWS,      /* (R,C) -> (R,1) */
    ELBO_OP_LOGSUMEXP_ROWS,/* (R,C) -> (R,1) */
    ELBO_OP_BERNOULLI_NLL, /* logits (R,C), target (R,C) -> (R,1) */
    ELBO_OP_GAUSS_NLL,     /* mean (R,C), target (R,C), logvar (1,C) or fixed -> (R,1) */
    ELBO_OP_KL_DIAG,       /* mu (R,C), logvar (R,C) -> (R,1): KL(N(mu,e^lv) || N(0,I)) */
    ELBO_OP_REPARAM,       /* mu + e^{lv/2} eps, eps saved for backward */
    ELBO_OP_COUNT
} elbo_op;

typedef struct elbo_node elbo_node;

/* Declared here; include autodiff/params.h to build parameters. */
typedef struct elbo_params elbo_params;

/* Per-op saved arguments: one named struct per op that needs any. */
typedef union elbo_op_args {
    struct { float s; } scale;
    struct { float slope; } leaky;
    struct { int start, len; } slice;
    struct { float fixed_logvar; } gauss; /* used when the logvar input is absent */
    struct { float *eps; } reparam;       /* the noise drawn in forward */
    struct { elbo_params *p; int id; } param; /* the parameter a leaf views */
} elbo_op_args;

#define ELBO_MAX_INPUTS 3

struct elbo_node {
    int rows, cols;
    float *x;           /* value, rows*cols */
    float *dx;          /* gradient (same shape); NULL until backward reaches it */
    elbo_op op;
    bool requires_grad; /* some parameter lies upstream */
    int n_in;
    elbo_node *in[ELBO_MAX_INPUTS];
    elbo_op_args args;
};

typedef struct elbo_tape elbo_tape;

/* A tape with an arena of initial_bytes (it grows as needed). */
elbo_status elbo_tape_create(elbo_tape **out, size_t initial_bytes);
void elbo_tape_destroy(elbo_tape *t);
/* Forget all nodes and reuse the arena for a new step. */
void elbo_tape_reset(elbo_tape *t);
/* Gradients on (default) or off (evaluation: nothing recorded for backward). */
void elbo_tape_set_grad(elbo_tape *t, bool enabled);
bool elbo_tape_grad_enabled(const elbo_tape *t);
/* The first error since the last reset (ELBO_OK if none). */
elbo_status elbo_tape_status(const elbo_tape *t);
/* Scratch memory from the tape's arena (valid until reset). */
float *elbo_tape_alloc(elbo_tape *t, size_t nfloats);
/* Nodes recorded for backward since the last reset (0 in no-grad mode). */
int elbo_tape_recorded(const elbo_tape *t);
/* The arena behind the tape (read-only: capacity and high-water checks). */
const elbo_arena *elbo_tape_arena(const elbo_tape *t);
/* The op's name in the op table ("matmul", ...; "unknown" out of range). */
const char *elbo_op_name(elbo_op op);

/* Reverse sweep from a (1,1) loss: dloss = 1, then each node's backward in
 * reverse order; parameter gradients are accumulated into the params' g slab
 * (zero them first with elbo_params_zero_grad, or mark them stale with
 * elbo_params_clear_grad: then the first contribution overwrites, and the
 * sweep zeroes those it never reached). Nodes no gradient reached are
 * skipped, as is every input that needs none (e.g. dX of the first layer).
 * Call once per graph: a second sweep would accumulate intermediate
 * gradients twice. */
elbo_status elbo_backward(elbo_tape *t, elbo_node *loss);

/* ---- leaves ---- */
/* A constant (rows, cols) tensor viewing data (not copied: keep it alive until reset). */
elbo_node *elbo_ad_input(elbo_tape *t, int rows, int cols, const float *data);
/* A parameter of p: its value is the slab, its gradient accumulates into p->g. */
elbo_node *elbo_ad_param(elbo_tape *t, elbo_params *p, int id);

/* ---- ops (each: forward now, backward in the reverse sweep) ---- */
elbo_node *elbo_ad_matmul(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_linear(elbo_tape *t, elbo_node *x, elbo_node *W, elbo_node *b);
elbo_node *elbo_ad_add(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_sub(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_mul(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_scale(elbo_tape *t, elbo_node *a, float s);
elbo_node *elbo_ad_concat_cols(elbo_tape *t, elbo_node *a, elbo_node *b);
elbo_node *elbo_ad_slice_cols(elbo_tape *t, elbo_node *a, int start, int len);
elbo_node *elbo_ad_relu(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_leaky_relu(elbo_tape *t, elbo_node *a, float slope);
elbo_node *elbo_ad_tanh(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_sigmoid(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_softplus(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_exp(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_log(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_sum(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_mean(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_sum_rows(elbo_tape *t, elbo_node *a);
elbo_node *elbo_ad_logsumexp_rows(elbo_tape *t, elbo_node *a);
/* Per-row negative log-likelihoods and KL, each (R,1). */
elbo_node *elbo_ad_bernoulli_nll(elbo_tape *t, elbo_node *logits, elbo_node *target);
/* logvar: a (1,C) node (learned per-dimension variance) or NULL for fixed_logvar. */
elbo_node *elbo_ad_gauss_nll(elbo_tape *t, elbo_node *mean, elbo_node *target, elbo_node *logvar,
                             float fixed_logvar);
elbo_node *elbo_ad_kl_diag(elbo_tape *t, elbo_node *mu, elbo_node *logvar);
/* z = mu + e^{logvar/2} eps with eps ~ N(0,I) drawn from rng (or copied from
 * eps_given when not NULL, for tests and common-random-number comparisons). */
elbo_node *elbo_ad_reparam(elbo_tape *t, elbo_node *mu, elbo_node *logvar, elbo_rng *rng,
                           const float *eps_given);

#endif
