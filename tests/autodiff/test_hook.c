/* The gradient-ready hook (elbo_tape_set_grad_hook): during elbo_backward it
 * fires once for every parameter of every set with a leaf on the tape, after
 * every contribution to that parameter's gradient (the gradient it sees is
 * the final one), in reverse layer order for an MLP; parameters used twice
 * (a decoder run per importance sample) or through a view fire once, after
 * their earliest consumer; unused ones fire at the end with a zero gradient. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "test_util.h"

#define MAX_FIRES 64

typedef struct fired {
    int n;
    elbo_params *set[MAX_FIRES];
    int id[MAX_FIRES];
    float *snap[MAX_FIRES]; /* the gradient as the hook saw it */
} fired;

static void on_ready(void *ctx, elbo_params *p, int id)
{
    fired *f = ctx;
    cr_assert(f->n < MAX_FIRES);
    size_t n = elbo_param_size(p, id);
    f->set[f->n] = p;
    f->id[f->n] = id;
    f->snap[f->n] = malloc(n * sizeof(float));
    memcpy(f->snap[f->n], elbo_param_g(p, id), n * sizeof(float));
    f->n++;
}

static void fired_free(fired *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->snap[i]);
    f->n = 0;
}

/* each parameter of p fired exactly once, seeing its final gradient */
static void expect_once_and_final(const fired *f, elbo_params *p)
{
    for (int id = 0; id < p->count; id++) {
        int times = 0;
        for (int i = 0; i < f->n; i++) {
            if (f->set[i] != p || f->id[i] != id)
                continue;
            times++;
            cr_expect(memcmp(f->snap[i], elbo_param_g(p, id), elbo_param_size(p, id) * sizeof(float)) == 0,
                      "parameter %s: the hook saw a gradient that changed afterwards", p->info[id].name);
        }
        cr_expect_eq(times, 1, "parameter %s fired %d times", p->info[id].name, times);
    }
}

/* a 3-layer tanh MLP: W1 b1 W2 b2 W3 b3 are ids 0..5 */
static void mlp_params(elbo_params *p)
{
    static const int dims[] = {5, 7, 6, 3};
    elbo_params_init(p);
    for (int l = 0; l < 3; l++) {
        char w[8], b[8];
        snprintf(w, sizeof w, "W%d", l + 1);
        snprintf(b, sizeof b, "b%d", l + 1);
        cr_assert(elbo_params_add(p, w, dims[l], dims[l + 1]) >= 0);
        cr_assert(elbo_params_add(p, b, 1, dims[l + 1]) >= 0);
    }
    cr_assert_eq(elbo_params_finalize(p), ELBO_OK);
    tu_fill_uniform(p->w, p->n, -0.5f, 0.5f, 3);
}

static elbo_node *mlp(elbo_tape *t, elbo_params *p, elbo_node *x)
{
    elbo_node *h = x;
    for (int l = 0; l < 3; l++) {
        h = elbo_ad_linear(t, h, elbo_ad_param(t, p, 2 * l), elbo_ad_param(t, p, 2 * l + 1));
        if (l < 2)
            h = elbo_ad_tanh(t, h);
    }
    return h;
}

Test(hook, fires_once_per_parameter_in_reverse_layer_order)
{
    elbo_params p;
    mlp_params(&p);
    float x[4 * 5];
    tu_fill_uniform(x, 20, -1, 1, 1);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 14), ELBO_OK);
    fired f = {0};
    elbo_tape_set_grad_hook(t, on_ready, &f);
    for (int clear = 0; clear < 2; clear++) { /* zeroed, then stale (first contribution overwrites) */
        if (clear)
            elbo_params_clear_grad(&p);
        else
            elbo_params_zero_grad(&p);
        elbo_tape_reset(t);
        elbo_node *loss = elbo_ad_sum(t, mlp(t, &p, elbo_ad_input(t, 4, 5, x)));
        cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
        cr_assert_eq(f.n, 6);
        static const int order[] = {4, 5, 2, 3, 0, 1}; /* W3 b3, W2 b2, W1 b1 */
        for (int i = 0; i < 6; i++)
            cr_expect_eq(f.id[i], order[i], "fire %d: parameter %s, expected %s", i, p.info[f.id[i]].name,
                         p.info[order[i]].name);
        expect_once_and_final(&f, &p);
        fired_free(&f);
    }
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

/* The decoder run twice (two leaves per parameter), a parameter used through
 * a view, an unused one, and a second parameter set. */
Test(hook, several_leaves_views_unused_and_two_sets)
{
    elbo_params p, q;
    mlp_params(&p);
    elbo_params_init(&q);
    cr_assert(elbo_params_add_nd(&q, "kernel", 3, (const int[]){2, 3, 5}) == 0); /* viewed as (6, 5) */
    cr_assert(elbo_params_add(&q, "unused", 1, 4) == 1);
    cr_assert_eq(elbo_params_finalize(&q), ELBO_OK);
    tu_fill_uniform(q.w, q.n, -0.5f, 0.5f, 4);
    float x[4 * 5], z[4 * 6];
    tu_fill_uniform(x, 20, -1, 1, 1);
    tu_fill_uniform(z, 24, -1, 1, 2);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 14), ELBO_OK);
    fired f = {0};
    elbo_tape_set_grad_hook(t, on_ready, &f);
    elbo_params_clear_grad(&p);
    elbo_params_clear_grad(&q);
    elbo_node *a = mlp(t, &p, elbo_ad_input(t, 4, 5, x));
    elbo_node *k = elbo_ad_reshape(t, elbo_ad_param(t, &q, 0), 2, (const int[]){6, 5});
    elbo_node *b = mlp(t, &p, elbo_ad_matmul(t, elbo_ad_input(t, 4, 6, z), k));
    elbo_ad_param(t, &q, 1); /* a leaf nothing consumes */
    elbo_node *loss = elbo_ad_sum(t, elbo_ad_add(t, a, elbo_ad_scale(t, b, 0.5f)));
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
    cr_expect_eq(f.n, p.count + q.count);
    expect_once_and_final(&f, &p);
    expect_once_and_final(&f, &q);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(elbo_param_g(&q, 1)[i], 0.0f, "the unused parameter's gradient is zero");
    /* the kernel's one consumer (the second pass's matmul) comes after every
     * parameter's earliest consumer (the first pass): it fires first; the
     * unused one fires last */
    cr_expect(f.set[0] == &q && f.id[0] == 0, "first fire: %s", f.set[0]->info[f.id[0]].name);
    cr_expect(f.set[f.n - 1] == &q && f.id[f.n - 1] == 1);
    fired_free(&f);

    /* no hook: no calls */
    elbo_tape_set_grad_hook(t, NULL, NULL);
    elbo_tape_reset(t);
    loss = elbo_ad_sum(t, mlp(t, &p, elbo_ad_input(t, 4, 5, x)));
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK);
    cr_expect_eq(f.n, 0);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
    elbo_params_free(&q);
}
