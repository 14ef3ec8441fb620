/* The tape: node creation, shapes and views, sticky errors, no-grad mode,
 * lazy gradients, the reverse sweep and the gradient-ready hook. The ops
 * themselves live in autodiff/ops_*.c. */
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
    free(t->param_sets);
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

void elbo_tape_set_grad_hook(elbo_tape *t, elbo_grad_ready_fn fn, void *ctx)
{
    t->hook = fn;
    t->hook_ctx = ctx;
}

const char *elbo_op_name(elbo_op op)
{
    return (unsigned)op < ELBO_OP_COUNT && elbo_op_table[op].name ? elbo_op_table[op].name : "unknown";
}

elbo_op_kind elbo_op_kind_of(elbo_op op)
{
    return (unsigned)op < ELBO_OP_COUNT ? elbo_op_table[op].kind : ELBO_OP_KIND_LEAF;
}

bool elbo_op_row_ok(elbo_op op)
{
    if ((unsigned)op >= ELBO_OP_COUNT || !elbo_op_table[op].name)
        return false;
    const elbo_op_def *d = &elbo_op_table[op];
    bool has = d->forward && d->backward, none = !d->forward && !d->backward;
    return d->kind == ELBO_OP_KIND_OP ? has : none;
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

elbo_node *elbo_tape_fail(elbo_tape *t, elbo_status s, const char *fmt, ...)
{
    if (t->status != ELBO_OK)
        return NULL;
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

ad_text ad_shape_text(const elbo_shape *s)
{
    ad_text out;
    size_t len = 0;
    out.s[len++] = '(';
    for (int i = 0; i < s->ndim && i < ELBO_MAX_DIMS; i++)
        len += (size_t)snprintf(out.s + len, sizeof out.s - len, i ? ",%d" : "%d", s->d[i]);
    snprintf(out.s + len, sizeof out.s - len, ")");
    return out;
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
    memset(elbo_param_g(p, id), 0, elbo_param_size(p, id) * sizeof(float));
    p->g_stale[id] = false;
}

static void params_unstale(elbo_params *p)
{
    for (int id = 0; id < p->count; id++)
        param_unstale(p, id);
}

/* The node whose value and gradient a view shares: n itself for a non-view. */
static elbo_node *view_base(elbo_node *n)
{
    while (elbo_op_table[n->op].kind == ELBO_OP_KIND_VIEW)
        n = n->in[0];
    return n;
}

float *ad_grad(elbo_tape *t, elbo_node *n)
{
    if (!n->requires_grad)
        return NULL;
    n = view_base(n);
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
    n = view_base(n);
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

/* A shape of 1..4 dimensions, each >= 1, whose size fits the 2-D view's ints. */
static bool shape_valid(const elbo_shape *s)
{
    if (s->ndim < 1 || s->ndim > ELBO_MAX_DIMS)
        return false;
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 1)
            return false;
        n *= (size_t)s->d[i];
        if (n > (size_t)INT32_MAX)
            return false;
    }
    return true;
}

static elbo_node *node_alloc(elbo_tape *t, elbo_op op, const elbo_shape *s)
{
    elbo_node *n = elbo_arena_alloc(&t->arena, sizeof *n);
    if (!n)
        return ad_error(t, ELBO_ERR_NOMEM, "tape %s: out of memory for a node", elbo_op_name(op));
    memset(n, 0, sizeof *n);
    n->shape = *s;
    n->rows = s->d[0];
    n->cols = (int)(ad_shape_size(s) / (size_t)s->d[0]);
    n->op = op;
    return n;
}

elbo_node *ad_node(elbo_tape *t, elbo_op op, const elbo_shape *s, int n_in, elbo_node *const *in,
                   const elbo_op_args *args)
{
    const elbo_op_def *def = &elbo_op_table[op];
    if (def->kind != ELBO_OP_KIND_OP || !def->forward || !def->backward) /* the table is checked, not trusted */
        return ad_error(t, ELBO_ERR_INVALID, "tape %s: expected an op with a forward and a backward",
                        elbo_op_name(op));
    if (!shape_valid(s))
        return ad_error(t, ELBO_ERR_INVALID, "tape %s: expected a result shape of 1..%d dimensions >= 1, got %s",
                        elbo_op_name(op), ELBO_MAX_DIMS, ad_shape_text(s).s);
    elbo_node *n = node_alloc(t, op, s);
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
    def->forward(t, n);
    if (t->status != ELBO_OK) /* forward ran out of scratch */
        return NULL;
    /* Only nodes that lead back to a parameter have a backward to run. */
    if (n->requires_grad && !record(t, n))
        return NULL;
    return n;
}

/* ---- leaves ---- */

static bool shape_from(int ndim, const int *dims, elbo_shape *s)
{
    if (!dims || ndim < 1 || ndim > ELBO_MAX_DIMS)
        return false;
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        s->d[i] = dims[i];
    return shape_valid(s);
}

/* "(2,3)" from ndim dims (whatever they are) for messages */
static ad_text dims_text(int ndim, const int *dims)
{
    elbo_shape s = {.ndim = dims && ndim >= 1 ? (ndim < ELBO_MAX_DIMS ? ndim : ELBO_MAX_DIMS) : 0};
    for (int i = 0; i < s.ndim; i++)
        s.d[i] = dims[i];
    return ad_shape_text(&s);
}

elbo_node *elbo_ad_input_nd(elbo_tape *t, int ndim, const int *dims, const float *data)
{
    if (t->status != ELBO_OK)
        return NULL;
    elbo_shape s;
    if (!data || !shape_from(ndim, dims, &s))
        return ad_error(t, ELBO_ERR_INVALID, "tape input: expected data and 1..%d dimensions >= 1, got %s %d-D %s",
                        ELBO_MAX_DIMS, data ? "data" : "NULL", ndim, dims_text(ndim, dims).s);
    elbo_node *n = node_alloc(t, ELBO_OP_INPUT, &s);
    if (n)
        n->x = (float *)data; /* read-only by convention: no op writes an input's value */
    return n;
}

elbo_node *elbo_ad_input(elbo_tape *t, int rows, int cols, const float *data)
{
    return elbo_ad_input_nd(t, 2, (const int[]){rows, cols}, data);
}

/* Remember p for the end of the sweep (zeroing stale gradients nobody
 * reached, and the gradient-ready hook). */
static bool track_param_set(elbo_tape *t, elbo_params *p)
{
    for (int i = 0; i < t->n_param_sets; i++)
        if (t->param_sets[i] == p)
            return true;
    if (t->n_param_sets == t->cap_param_sets) {
        int cap = t->cap_param_sets ? 2 * t->cap_param_sets : 4;
        elbo_params **sets = realloc(t->param_sets, (size_t)cap * sizeof *sets);
        if (!sets) {
            ad_error(t, ELBO_ERR_NOMEM, "tape out of memory for %d parameter sets", cap);
            return false;
        }
        t->param_sets = sets;
        t->cap_param_sets = cap;
    }
    t->param_sets[t->n_param_sets++] = p;
    return true;
}

elbo_node *elbo_ad_param(elbo_tape *t, elbo_params *p, int id)
{
    if (t->status != ELBO_OK)
        return NULL;
    if (!p || !p->w || id < 0 || id >= p->count)
        return ad_error(t, ELBO_ERR_INVALID, "tape param: expected a finalized parameter id in [0,%d), got %d",
                        p ? p->count : 0, id);
    const elbo_param_info *info = &p->info[id];
    elbo_shape s;
    if (!shape_from(info->ndim, info->dims, &s))
        return ad_error(t, ELBO_ERR_INVALID, "tape param '%s': bad shape", info->name);
    elbo_node *n = node_alloc(t, ELBO_OP_PARAM, &s);
    if (!n)
        return NULL;
    n->x = elbo_param_w(p, id);
    n->args.param.p = p;
    n->args.param.id = id;
    if (t->grad_enabled) {
        if (!track_param_set(t, p))
            return NULL;
        n->requires_grad = true;
        n->dx = elbo_param_g(p, id); /* backward accumulates straight into the slab */
    }
    return n;
}

/* ---- views ---- */

static elbo_node *view(elbo_tape *t, elbo_node *a, const elbo_shape *s)
{
    elbo_node *n = node_alloc(t, ELBO_OP_RESHAPE, s);
    if (!n)
        return NULL;
    n->n_in = 1;
    n->in[0] = a;
    n->x = a->x;                       /* the same floats */
    n->requires_grad = a->requires_grad; /* and the same gradient (ad_grad): nothing to record */
    return n;
}

elbo_node *elbo_ad_reshape(elbo_tape *t, elbo_node *a, int ndim, const int *dims)
{
    if (!ad_inputs_ok(t, "reshape", 1, &a))
        return NULL;
    elbo_shape s = {.ndim = ndim};
    int infer = -1;
    size_t known = 1, want = ad_size(a);
    bool ok = dims && ndim >= 1 && ndim <= ELBO_MAX_DIMS;
    for (int i = 0; ok && i < ndim; i++) {
        s.d[i] = dims[i];
        if (dims[i] == -1 && infer < 0)
            infer = i;
        else if (dims[i] >= 1)
            known *= (size_t)dims[i];
        else
            ok = false;
    }
    if (ok && infer >= 0) {
        ok = want % known == 0;
        s.d[infer] = ok ? (int)(want / known) : 0;
    }
    if (!ok || !shape_valid(&s) || ad_shape_size(&s) != want)
        return ad_error(t, ELBO_ERR_INVALID,
                        "reshape: expected dimensions >= 1 (one may be -1) of %zu elements in all, as %s has; got %s",
                        want, AD_SHAPE(a), dims_text(ndim, dims).s);
    return view(t, a, &s);
}

elbo_node *elbo_ad_flatten(elbo_tape *t, elbo_node *a)
{
    if (!ad_inputs_ok(t, "flatten", 1, &a))
        return NULL;
    elbo_shape s = ad_shape2(a->rows, a->cols);
    return view(t, a, &s);
}

/* ---- reverse sweep ---- */

/* Where the gradient-ready hook fires: ready[i] lists the parameters whose
 * earliest-recorded consumer is order[i] (a linked list through next). */
typedef struct ready_item {
    elbo_params *p;
    int id;
    int next;
} ready_item;

typedef struct ready_plan {
    int *head;         /* (n_order) first item per node, -1 if none */
    ready_item *items; /* one per consumed parameter */
    int n_items;
    bool **fired;      /* per tracked set: (count) */
} ready_plan;

static int set_index(const elbo_tape *t, const elbo_params *p)
{
    for (int i = 0; i < t->n_param_sets; i++)
        if (t->param_sets[i] == p)
            return i;
    return -1;
}

/* Walk the tape forward once: the first consumer of each parameter. */
static bool ready_plan_build(elbo_tape *t, ready_plan *rp)
{
    size_t total = 0;
    for (int s = 0; s < t->n_param_sets; s++)
        total += (size_t)t->param_sets[s]->count;
    rp->head = elbo_arena_alloc(&t->arena, (size_t)(t->n_order ? t->n_order : 1) * sizeof *rp->head);
    rp->items = elbo_arena_alloc(&t->arena, (total ? total : 1) * sizeof *rp->items);
    rp->fired = elbo_arena_alloc(&t->arena, (size_t)(t->n_param_sets ? t->n_param_sets : 1) * sizeof *rp->fired);
    if (!rp->head || !rp->items || !rp->fired) {
        ad_error(t, ELBO_ERR_NOMEM, "tape backward: out of memory for the gradient-ready plan");
        return false;
    }
    for (int s = 0; s < t->n_param_sets; s++) {
        rp->fired[s] = elbo_arena_calloc(&t->arena, ((size_t)t->param_sets[s]->count + 1) * sizeof(bool));
        if (!rp->fired[s]) {
            ad_error(t, ELBO_ERR_NOMEM, "tape backward: out of memory for the gradient-ready plan");
            return false;
        }
    }
    rp->n_items = 0;
    int *tail = elbo_arena_alloc(&t->arena, (size_t)(t->n_order ? t->n_order : 1) * sizeof *tail);
    if (!tail) {
        ad_error(t, ELBO_ERR_NOMEM, "tape backward: out of memory for the gradient-ready plan");
        return false;
    }
    for (int i = 0; i < t->n_order; i++)
        rp->head[i] = tail[i] = -1;
    /* mark "seen" in fired[] while planning, then clear it for the sweep */
    for (int i = 0; i < t->n_order; i++) {
        const elbo_node *n = t->order[i];
        for (int k = 0; k < n->n_in; k++) {
            const elbo_node *b = view_base(n->in[k]);
            if (b->op != ELBO_OP_PARAM)
                continue;
            int s = set_index(t, b->args.param.p), id = b->args.param.id;
            if (s < 0 || rp->fired[s][id])
                continue;
            rp->fired[s][id] = true;
            ready_item *it = &rp->items[rp->n_items];
            *it = (ready_item){.p = b->args.param.p, .id = id, .next = -1};
            if (tail[i] < 0)
                rp->head[i] = rp->n_items;
            else
                rp->items[tail[i]].next = rp->n_items;
            tail[i] = rp->n_items++;
        }
    }
    for (int s = 0; s < t->n_param_sets; s++)
        memset(rp->fired[s], 0, (size_t)t->param_sets[s]->count * sizeof(bool));
    return true;
}

static void fire(elbo_tape *t, ready_plan *rp, elbo_params *p, int id)
{
    int s = set_index(t, p);
    if (s < 0 || rp->fired[s][id])
        return;
    rp->fired[s][id] = true;
    param_unstale(p, id); /* a gradient nothing wrote is zero, and final */
    t->hook(t->hook_ctx, p, id);
}

static void fire_node(elbo_tape *t, ready_plan *rp, int i)
{
    for (int k = rp->head[i]; k >= 0; k = rp->items[k].next)
        fire(t, rp, rp->items[k].p, rp->items[k].id);
}

static elbo_status sweep(elbo_tape *t, elbo_node *loss, ready_plan *rp)
{
    if (loss->rows != 1 || loss->cols != 1)
        return ad_error(t, ELBO_ERR_INVALID, "tape backward: expected a (1,1) loss, got %s", AD_SHAPE(loss)),
               t->status;
    float *dloss = ad_grad(t, loss);
    if (!dloss) /* nothing upstream needs a gradient (or no-grad mode) */
        return t->status;
    dloss[0] += 1.0f;
    for (int i = t->n_order - 1; i >= 0 && t->status == ELBO_OK; i--) {
        elbo_node *n = t->order[i];
        elbo_backward_fn bwd = elbo_op_table[n->op].backward;
        if (!bwd) /* recorded nodes are OPs, whose backward the table must have */
            return ad_error(t, ELBO_ERR_INVALID, "tape backward: op %s has no backward", elbo_op_name(n->op)),
                   t->status;
        if (n->dx)
            bwd(t, n);
        if (rp && t->status == ELBO_OK)
            fire_node(t, rp, i);
    }
    return t->status;
}

elbo_status elbo_backward(elbo_tape *t, elbo_node *loss)
{
    if (t->status == ELBO_OK && !loss)
        ad_error(t, ELBO_ERR_INVALID, "tape backward: loss is NULL");
    ready_plan plan, *rp = NULL;
    if (t->status == ELBO_OK && t->hook && ready_plan_build(t, &plan))
        rp = &plan;
    elbo_status st = t->status == ELBO_OK ? sweep(t, loss, rp) : t->status;
    for (int i = 0; i < t->n_param_sets; i++) /* gradients the sweep never reached are zero */
        params_unstale(t->param_sets[i]);
    if (rp && st == ELBO_OK) /* the parameters no recorded node consumed */
        for (int s = 0; s < t->n_param_sets; s++)
            for (int id = 0; id < t->param_sets[s]->count; id++)
                fire(t, rp, t->param_sets[s], id);
    return st;
}
