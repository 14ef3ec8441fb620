/* The arena and the tape's bookkeeping: alignment, chaining and merging,
 * steady-state reuse, no-grad mode, sticky errors, gradient accumulation,
 * and skipping gradients nobody needs. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/arena.h"
#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/pool.h"
#include "test_util.h"

/* ---- arena ---- */

Test(arena, aligned_and_chained)
{
    elbo_arena a;
    cr_assert(elbo_arena_init(&a, 256) == ELBO_OK);
    void *p[40];
    for (int i = 0; i < 40; i++) {
        p[i] = elbo_arena_alloc(&a, (size_t)(1 + 37 * i));
        cr_assert(p[i]);
        cr_expect((uintptr_t)p[i] % 64 == 0, "allocation %d not 64-byte aligned", i);
        memset(p[i], i, (size_t)(1 + 37 * i)); /* ASan: each allocation is usable */
    }
    cr_expect(elbo_arena_blocks(&a) > 1, "256 bytes cannot hold 40 allocations in one block");
    /* Earlier allocations survive chaining. */
    for (int i = 0; i < 40; i++)
        cr_expect(((unsigned char *)p[i])[0] == (unsigned char)i);
    size_t hw = a.high_water;
    elbo_arena_reset(&a);
    cr_expect_eq(elbo_arena_blocks(&a), 1, "reset merges the chain into one block");
    cr_expect(elbo_arena_capacity(&a) >= hw);
    elbo_arena_free(&a);
}

Test(arena, calloc_zeroes_reused_memory)
{
    elbo_arena a;
    cr_assert(elbo_arena_init(&a, 4096) == ELBO_OK);
    memset(elbo_arena_alloc(&a, 1024), 0xAB, 1024);
    elbo_arena_reset(&a);
    unsigned char *z = elbo_arena_calloc(&a, 1024);
    for (int i = 0; i < 1024; i++)
        cr_assert_eq(z[i], 0);
    elbo_arena_free(&a);
}

Test(arena, steady_state_allocates_nothing)
{
    elbo_arena a;
    cr_assert(elbo_arena_init(&a, 64) == ELBO_OK);
    size_t cap = 0, hw = 0;
    for (int step = 0; step < 10; step++) {
        elbo_arena_reset(&a);
        for (int i = 0; i < 50; i++)
            cr_assert(elbo_arena_alloc(&a, (size_t)(100 + i)));
        if (step == 1) {
            cap = elbo_arena_capacity(&a);
            hw = a.high_water;
        }
        if (step >= 1) {
            cr_expect_eq(elbo_arena_blocks(&a), 1, "step %d chained a block", step);
            cr_expect_eq(elbo_arena_capacity(&a), cap, "step %d grew the arena", step);
            cr_expect_eq(a.high_water, hw);
        }
    }
    elbo_arena_free(&a);
}

/* ---- tape fixtures: a 2-layer net on one batch ---- */

typedef struct net {
    elbo_params p;
    int w1, b1, w2;
    float x[5 * 3];
} net;

static void net_init(net *n)
{
    elbo_params_init(&n->p);
    n->w1 = elbo_params_add(&n->p, "w1", 3, 4);
    n->b1 = elbo_params_add(&n->p, "b1", 1, 4);
    n->w2 = elbo_params_add(&n->p, "w2", 4, 2);
    cr_assert(elbo_params_finalize(&n->p) == ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 5);
    elbo_params_init_xavier(&n->p, n->w1, &r);
    elbo_params_init_xavier(&n->p, n->b1, &r);
    elbo_params_init_xavier(&n->p, n->w2, &r);
    tu_fill_uniform(n->x, 15, -1.0f, 1.0f, 3);
}

static elbo_node *net_loss(elbo_tape *t, net *n, elbo_node **xin)
{
    *xin = elbo_ad_input(t, 5, 3, n->x);
    elbo_node *h = elbo_ad_tanh(t, elbo_ad_linear(t, *xin, elbo_ad_param(t, &n->p, n->w1), elbo_ad_param(t, &n->p, n->b1)));
    return elbo_ad_mean(t, elbo_ad_matmul(t, h, elbo_ad_param(t, &n->p, n->w2)));
}

Test(tape, no_grad_records_nothing)
{
    net n;
    net_init(&n);
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 4096) == ELBO_OK);
    elbo_tape_set_grad(t, false);
    cr_expect(!elbo_tape_grad_enabled(t));
    elbo_node *x, *L = net_loss(t, &n, &x);
    cr_assert(L);
    cr_expect_eq(elbo_tape_recorded(t), 0);
    cr_expect(!L->requires_grad);
    elbo_params_zero_grad(&n.p);
    cr_expect(elbo_backward(t, L) == ELBO_OK); /* nothing to do, not an error */
    cr_expect(elbo_params_grad_norm(&n.p) == 0.0);

    /* The same graph with gradients on: same value, recorded. */
    float v = L->x[0];
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, true);
    L = net_loss(t, &n, &x);
    cr_expect_eq(L->x[0], v);
    cr_expect_eq(elbo_tape_recorded(t), 4); /* linear, tanh, matmul, mean */
    elbo_tape_destroy(t);
    elbo_params_free(&n.p);
}

Test(tape, input_gradient_is_skipped)
{
    net n;
    net_init(&n);
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 4096) == ELBO_OK);
    elbo_params_zero_grad(&n.p);
    elbo_node *x, *L = net_loss(t, &n, &x);
    cr_assert(elbo_backward(t, L) == ELBO_OK);
    cr_expect(!x->requires_grad);
    cr_expect_null(x->dx, "no gradient buffer for the data (dX of the first layer)");
    cr_expect(elbo_params_grad_norm(&n.p) > 0.0);
    elbo_tape_destroy(t);
    elbo_params_free(&n.p);
}

Test(tape, reset_reuses_memory_without_growth)
{
    net n;
    net_init(&n);
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 64) == ELBO_OK); /* tiny: the first step must chain */
    size_t cap = 0, hw = 0;
    float first = 0.0f;
    for (int step = 0; step < 20; step++) {
        elbo_tape_reset(t);
        elbo_params_zero_grad(&n.p);
        elbo_node *x, *L = net_loss(t, &n, &x);
        cr_assert(elbo_backward(t, L) == ELBO_OK);
        if (step == 0)
            first = L->x[0];
        cr_expect_eq(L->x[0], first, "same inputs, same loss at step %d", step);
        const elbo_arena *a = elbo_tape_arena(t);
        if (step == 1) {
            cap = elbo_arena_capacity(a);
            hw = a->high_water;
        }
        if (step >= 1) {
            cr_expect_eq(elbo_arena_blocks(a), 1, "step %d chained a block", step);
            cr_expect_eq(elbo_arena_capacity(a), cap, "step %d grew the arena", step);
            cr_expect_eq(a->high_water, hw, "step %d raised the high-water mark", step);
        }
    }
    elbo_tape_destroy(t);
    elbo_params_free(&n.p);
}

/* clear_grad instead of zero_grad: stale (here NaN) gradients are
 * overwritten by the first contribution, zeroed before any other, and
 * zeroed at the end for parameters the sweep never reached; the gradients
 * equal the zero_grad ones, on 1 and 2 threads. */
Test(tape, clear_grad_equals_zero_grad)
{
    net n;
    net_init(&n);
    int unused = -1; /* a parameter the loss never touches */
    {
        elbo_params q;
        elbo_params_init(&q);
        cr_assert(elbo_params_add(&q, "w1", 3, 4) >= 0 && elbo_params_add(&q, "b1", 1, 4) >= 0 &&
                  elbo_params_add(&q, "w2", 4, 2) >= 0);
        unused = elbo_params_add(&q, "unused", 2, 3);
        cr_assert(elbo_params_finalize(&q) == ELBO_OK);
        memcpy(q.w, n.p.w, n.p.n * sizeof(float)); /* same values for the three used */
        elbo_params_free(&n.p);
        n.p = q;
    }
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 4096) == ELBO_OK);
    elbo_node *x;
    elbo_params_zero_grad(&n.p);
    cr_assert(elbo_backward(t, net_loss(t, &n, &x)) == ELBO_OK);
    float *want = malloc(n.p.n * sizeof(float));
    memcpy(want, n.p.g, n.p.n * sizeof(float));
    for (int threads = 1; threads <= 2; threads++) {
        cr_assert(elbo_set_threads(threads) == ELBO_OK);
        for (int step = 0; step < 2; step++) {
            for (int id = 0; id < n.p.count; id++) /* stale values, NaN where a tensor lives */
                for (int i = 0; i < n.p.info[id].rows * n.p.info[id].cols; i++)
                    elbo_param_g(&n.p, id)[i] = NAN;
            elbo_params_clear_grad(&n.p);
            elbo_tape_reset(t);
            cr_assert(elbo_backward(t, net_loss(t, &n, &x)) == ELBO_OK);
            for (size_t i = 0; i < n.p.n; i++)
                cr_expect(n.p.g[i] == want[i], "threads %d step %d: g[%zu] = %g, zero_grad gave %g", threads, step, i,
                          n.p.g[i], want[i]);
            cr_expect(elbo_param_g(&n.p, unused)[0] == 0.0f, "a gradient the sweep never reached is zero");
        }
    }
    elbo_set_threads(1);
    free(want);
    elbo_tape_destroy(t);
    elbo_params_free(&n.p);
}

Test(tape, gradient_accumulates_over_two_uses)
{
    /* L = sum(W + W) + sum(W) -> dL/dW = 3 everywhere: a node used thrice. */
    elbo_params p;
    elbo_params_init(&p);
    int w = elbo_params_add(&p, "w", 3, 5);
    cr_assert(elbo_params_finalize(&p) == ELBO_OK);
    elbo_params_fill(&p, w, 0.5f);
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 4096) == ELBO_OK);
    elbo_node *W = elbo_ad_param(t, &p, w);
    elbo_node *L = elbo_ad_add(t, elbo_ad_sum(t, elbo_ad_add(t, W, W)), elbo_ad_sum(t, W));
    cr_assert(elbo_backward(t, L) == ELBO_OK);
    for (int i = 0; i < 15; i++)
        cr_expect_eq(elbo_param_g(&p, w)[i], 3.0f);
    /* Gradients accumulate across steps until zeroed. */
    elbo_tape_reset(t);
    W = elbo_ad_param(t, &p, w);
    cr_assert(elbo_backward(t, elbo_ad_sum(t, W)) == ELBO_OK);
    cr_expect_eq(elbo_param_g(&p, w)[0], 4.0f);
    elbo_params_zero_grad(&p);
    cr_expect_eq(elbo_param_g(&p, w)[0], 0.0f);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

Test(tape, sticky_errors)
{
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 4096) == ELBO_OK);
    float a[6] = {0}, b[8] = {0};
    elbo_node *A = elbo_ad_input(t, 2, 3, a), *B = elbo_ad_input(t, 2, 4, b);
    cr_assert(A && B);
    cr_expect_eq(elbo_tape_status(t), ELBO_OK);
    cr_expect_null(elbo_ad_matmul(t, A, B), "(2,3)·(2,4) is a shape mismatch");
    cr_expect_eq(elbo_tape_status(t), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "matmul") != NULL, "message names the op: %s", elbo_last_error());
    cr_expect(strstr(elbo_last_error(), "(2,3)") != NULL, "message gives the shapes: %s", elbo_last_error());
    /* Later ops, even valid ones, return NULL; the first error is kept. */
    cr_expect_null(elbo_ad_add(t, A, A));
    cr_expect_null(elbo_ad_tanh(t, NULL));
    cr_expect_null(elbo_ad_sum(t, elbo_ad_mul(t, A, B)));
    cr_expect_eq(elbo_tape_status(t), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "matmul") != NULL);
    cr_expect_eq(elbo_backward(t, NULL), ELBO_ERR_INVALID);
    /* Reset clears it. */
    elbo_tape_reset(t);
    cr_expect_eq(elbo_tape_status(t), ELBO_OK);
    A = elbo_ad_input(t, 2, 3, a);
    cr_expect_not_null(elbo_ad_add(t, A, A));
    /* A graph builder's own error sticks the same way, and only the first. */
    cr_expect_null(elbo_tape_fail(t, ELBO_ERR_INVALID, "no density at %d", 7));
    cr_expect_eq(elbo_tape_status(t), ELBO_ERR_INVALID);
    cr_expect_null(elbo_ad_add(t, A, A));
    cr_expect_null(elbo_tape_fail(t, ELBO_ERR_NOMEM, "second"));
    cr_expect_eq(elbo_tape_status(t), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "no density at 7") != NULL, "%s", elbo_last_error());
    elbo_tape_destroy(t);
}

Test(tape, shape_checks)
{
    elbo_tape *t;
    cr_assert(elbo_tape_create(&t, 4096) == ELBO_OK);
    float d[64] = {0};
    /* Each line: a bad call returns NULL and sets a sticky ELBO_ERR_INVALID. */
#define BAD(expr)                                                                        \
    do {                                                                                 \
        elbo_tape_reset(t);                                                              \
        elbo_node *r23 = elbo_ad_input(t, 2, 3, d), *r24 = elbo_ad_input(t, 2, 4, d);    \
        elbo_node *r13 = elbo_ad_input(t, 1, 3, d), *r33 = elbo_ad_input(t, 3, 3, d);    \
        (void)r23, (void)r24, (void)r13, (void)r33;                                      \
        cr_expect_null(expr, #expr);                                                     \
        cr_expect_eq(elbo_tape_status(t), ELBO_ERR_INVALID, #expr);                      \
    } while (0)
    BAD(elbo_ad_linear(t, r23, r33, r24));
    BAD(elbo_ad_add(t, r23, r24));
    BAD(elbo_ad_sub(t, r23, r33));
    BAD(elbo_ad_mul(t, r13, r23)); /* only b broadcasts */
    BAD(elbo_ad_concat_cols(t, r23, r33));
    BAD(elbo_ad_slice_cols(t, r23, 2, 2));
    BAD(elbo_ad_slice_cols(t, r23, -1, 1));
    BAD(elbo_ad_bernoulli_nll(t, r23, r24));
    BAD(elbo_ad_gauss_nll(t, r23, r23, r23, 0.0f));
    BAD(elbo_ad_kl_diag(t, r23, r24));
    BAD(elbo_ad_reparam(t, r23, r24, NULL, d));
    BAD(elbo_ad_reparam(t, r23, r23, NULL, NULL));
    BAD(elbo_ad_input(t, 0, 3, d));
    elbo_tape_reset(t);
    cr_expect_eq(elbo_backward(t, elbo_ad_input(t, 2, 3, d)), ELBO_ERR_INVALID, "backward needs a (1,1) loss");
    elbo_tape_destroy(t);
}

Test(tape, op_names)
{
    cr_expect_str_eq(elbo_op_name(ELBO_OP_MATMUL), "matmul");
    cr_expect_str_eq(elbo_op_name(ELBO_OP_REPARAM), "reparam");
    for (int op = 0; op < ELBO_OP_COUNT; op++)
        cr_expect_str_neq(elbo_op_name((elbo_op)op), "unknown", "op %d has no row in the op table", op);
    cr_expect_str_eq(elbo_op_name(ELBO_OP_COUNT), "unknown");
}
