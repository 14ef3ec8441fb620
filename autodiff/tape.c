/* The tape: node creation, sticky errors, no-grad mode, lazy gradients and
 * the reverse sweep. The ops themselves live in autodiff/ops_*.c. */
#include "autodiff/tape_internal.h"

#include "autodiff/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

elbo_status elbo_tape_create(elbo_tape **out, size_t initial_bytes)
{
    *out = NULL;
    elbo_tape *t = calloc(1, sizeof *t);
    if (!t)
        return elbo_fail(ELBO_ERR_NOMEM, "tape create: out of memory");
    elbo_status st = elbo_arena_init(&t->arena, initial_bytes);
    if (st != ELBO_OK) {
        free(t);
        return st;
    }
    t->grad_enabled = true;
    t->status = ELBO_OK;
    *out = t;
    return ELBO_OK;
}

void elbo_tape_destroy(elbo_tape *t)
{
    if (!t)
        return;
    elbo_arena_free(&t->arena);
    free(t->order);
    free(t);
}

void elbo_tape_reset(elbo_tape *t)
{
    elbo_arena_reset(&t->arena);
    t->n_order = 0;
    t->n_param_sets = 0;
    t->status = ELBO_OK;
}

void elbo_tape_set_grad(elbo_tape *t, bool enabled) { t->grad_enabled = enabled; }
bool elbo_tape_grad_enabled(const elbo_tape *t) { return t->grad_enabled; }
elbo_status elbo_tape_status(const elbo_tape *t) { return t->status; }
int elbo_tape_recorded(const elbo_tape *t) { return t->n_order; }
const elbo_arena *elbo_tape_arena(const elbo_tape *t) { return &t->arena; }

const char *elbo_op_name(elbo_op op)
{
    return (unsigned)op < ELBO_OP_COUNT && elbo_op_table[op].name ? elbo_op_table[op].name : "unknown";
}

float *elbo_tape_alloc(elbo_tape *t, size_t nfloats)
{
    return ad_scratch(t, nfloats);
}

/* ---- helpers shared by the op files ---- */

elbo_node *ad_error(elbo_tape *t, elbo_status s, const char *fmt, ...)
{
    if (t->status != ELBO_OK)
        return NULL; /* keep the first error and its message */
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    t->status = elbo_fail(s, "%s", msg);
    return NULL;
}

bool ad_inputs_ok(elbo_tape *t, const char *op, int n_in, elbo_node *const *in)
{
    if (t->status != ELBO_OK)
        return false;
    for (int i = 0; i < n_in; i++)
        if (!in[i]) {
            ad_error(t, ELBO_ERR_INVALID, "tape %s: input %d is NULL", op, i);
            return false;
        }
    return true;
}

float *ad_scratch(elbo_tape *t, size_t n)
{
    float *p = elbo_arena_alloc(&t->arena, n * sizeof(float));
    if (!p)
        ad_error(t, ELBO_ERR_NOMEM, "tape arena: out of memory for %zu floats", n);
    return p;
}

float *ad_scratch_zero(elbo_tape *t, size_t n)
{
    float *p = elbo_arena_calloc(&t->arena, n * sizeof(float));
    if (!p)
        ad_error(t, ELBO_ERR_NOMEM, "tape arena: out of memory for %zu floats", n);
    return p;
}

/* A stale parameter gradient (see elbo_params_clear_grad) becomes zero. */
static void param_unstale(elbo_params *p, int id)
{
    if (!p->g_stale[id])
        return;
    const elbo_param_info *pi = &p->info[id];
    memset(elbo_param_g(p, id), 0, (size_t)pi->rows * (size_t)pi->cols * sizeof(float));
    p->g_stale[id] = false;
}

static void params_unstale(elbo_params *p)
{
    for (int id = 0; id < p->count; id++)
        param_unstale(p, id);
}

float *ad_grad(elbo_tape *t, elbo_node *n)
{
    if (!n->requires_grad)
        return NULL;
    if (n->op == ELBO_OP_PARAM)
        param_unstale(n->args.param.p, n->args.param.id);
    else if (!n->dx)
        n->dx = ad_scratch_zero(t, ad_size(n));
    return n->dx;
}

float *ad_grad_overwrite(elbo_tape *t, elbo_node *n, float *beta)
{
    *beta = 1.0f;
    if (!n->requires_grad)
        return NULL;
    if (n->op == ELBO_OP_PARAM) {
        elbo_params *p = n->args.param.p;
        if (p->g_stale[n->args.param.id]) {
            p->g_stale[n->args.param.id] = false;
            *beta = 0.0f;
        }
    } else if (!n->dx) {
        n->dx = ad_scratch(t, ad_size(n));
        *beta = 0.0f;
    }
    return n->dx;
}

static bool record(elbo_tape *t, elbo_node *n)
{
    if (t->n_order == t->cap_order) {
        int cap = t->cap_order ? 2 * t->cap_order : 256;
        elbo_node **order = realloc(t->order, (size_t)cap * sizeof *order);
        if (!order) {
            ad_error(t, ELBO_ERR_NOMEM, "tape out of memory for %d tape entries", cap);
            return false;
        }
        t->order = order;
        t->cap_order = cap;
    }
    t->order[t->n_order++] = n;
    return true;
}

static elbo_node *node_alloc(elbo_tape *t, elbo_op op, int rows, int cols)
{
    elbo_node *n = elbo_arena_alloc(&t->arena, sizeof *n);
    if (!n)
        return ad_error(t, ELBO_ERR_NOMEM, "tape %s: out of memory for a node", elbo_op_name(op));
    memset(n, 0, sizeof *n);
    n->rows = rows;
    n->cols = cols;
    n->op = op;
    return n;
}

elbo_node *ad_node(elbo_tape *t, elbo_op op, int rows, int cols, int n_in, elbo_node *const *in,
                   const elbo_op_args *args)
{
    elbo_node *n = node_alloc(t, op, rows, cols);
    if (!n)
        return NULL;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        n->requires_grad |= in[i]->requires_grad;
    }
    n->requires_grad &= t->grad_enabled;
    if (args)
        n->args = *args;
    if (!(n->x = ad_scratch(t, ad_size(n))))
        return NULL;
    elbo_op_table[op].forward(t, n);
    if (t->status != ELBO_OK) /* forward ran out of scratch */
        return NULL;
    /* Only nodes that lead back to a parameter have a backward to run. */
    if (n->requires_grad && !record(t, n))
        return NULL;
    return n;
}

/* ---- leaves ---- */

elbo_node *elbo_ad_input(elbo_tape *t, int rows, int cols, const float *data)
{
    if (t->status != ELBO_OK)
        return NULL;
    if (!data || rows < 1 || cols < 1)
        return ad_error(t, ELBO_ERR_INVALID, "tape input: expected data and a shape >= (1,1), got %s (%d,%d)",
                        data ? "data" : "NULL", rows, cols);
    elbo_node *n = node_alloc(t, ELBO_OP_INPUT, rows, cols);
    if (n)
        n->x = (float *)data; /* read-only by convention: no op writes an input's value */
    return n;
}

/* Remember p for the end of the sweep (zeroing stale gradients nobody
 * reached); with no room left, zero p's stale gradients now instead. */
static void track_param_set(elbo_tape *t, elbo_params *p)
{
    for (int i = 0; i < t->n_param_sets; i++)
        if (t->param_sets[i] == p)
            return;
    if (t->n_param_sets < AD_PARAM_SETS)
        t->param_sets[t->n_param_sets++] = p;
    else
        params_unstale(p);
}

elbo_node *elbo_ad_param(elbo_tape *t, elbo_params *p, int id)
{
    if (t->status != ELBO_OK)
        return NULL;
    if (!p || !p->w || id < 0 || id >= p->count)
        return ad_error(t, ELBO_ERR_INVALID, "tape param: expected a finalized parameter id in [0,%d), got %d",
                        p ? p->count : 0, id);
    const elbo_param_info *info = &p->info[id];
    elbo_node *n = node_alloc(t, ELBO_OP_PARAM, info->rows, info->cols);
    if (!n)
        return NULL;
    n->x = elbo_param_w(p, id);
    n->args.param.p = p;
    n->args.param.id = id;
    if (t->grad_enabled) {
        n->requires_grad = true;
        n->dx = elbo_param_g(p, id); /* backward accumulates straight into the slab */
        track_param_set(t, p);
    }
    return n;
}

/* ---- reverse sweep ---- */

static elbo_status sweep(elbo_tape *t, elbo_node *loss)
{
    if (t->status != ELBO_OK)
        return t->status;
    if (!loss)
        return ad_error(t, ELBO_ERR_INVALID, "tape backward: loss is NULL"), t->status;
    if (loss->rows != 1 || loss->cols != 1)
        return ad_error(t, ELBO_ERR_INVALID, "tape backward: expected a (1,1) loss, got (%d,%d)", loss->rows,
                        loss->cols), t->status;
    float *dloss = ad_grad(t, loss);
    if (!dloss) /* nothing upstream needs a gradient (or no-grad mode) */
        return t->status;
    dloss[0] += 1.0f;
    for (int i = t->n_order - 1; i >= 0 && t->status == ELBO_OK; i--) {
        elbo_node *n = t->order[i];
        if (n->dx && elbo_op_table[n->op].backward)
            elbo_op_table[n->op].backward(t, n);
    }
    return t->status;
}

elbo_status elbo_backward(elbo_tape *t, elbo_node *loss)
{
    elbo_status st = sweep(t, loss);
    for (int i = 0; i < t->n_param_sets; i++) /* gradients the sweep never reached are zero */
        params_unstale(t->param_sets[i]);
    return st;
}
