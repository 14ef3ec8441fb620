/* FactorVAE: the permutation keeps each column's values and is seeded; the
 * penalty's gradient reaches z (finite differences at every SIMD level) and
 * never the discriminator; the discriminator learns to tell dependent codes
 * from their permutation, and then the TC estimate is positive. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/objectives/objectives.h"
#include "obj_test.h"
#include "test_util.h"

static int cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

Test(factorvae, permutation_keeps_columns_and_is_seeded)
{
    enum { B = 37, D = 5 };
    float z[B * D], p1[B * D], p2[B * D], p3[B * D];
    tu_fill_uniform(z, B * D, -1.0f, 1.0f, 3);
    elbo_rng r;
    elbo_rng_seed(&r, 42);
    cr_assert_eq(elbo_factor_permute(&r, B, D, z, p1), ELBO_OK);
    elbo_rng_seed(&r, 42);
    cr_assert_eq(elbo_factor_permute(&r, B, D, z, p2), ELBO_OK);
    elbo_rng_seed(&r, 43);
    cr_assert_eq(elbo_factor_permute(&r, B, D, z, p3), ELBO_OK);
    cr_expect_eq(memcmp(p1, p2, sizeof p1), 0, "same seed, same permutation");
    cr_expect_neq(memcmp(p1, p3, sizeof p1), 0, "another seed, another permutation");
    int moved_rows = 0;
    for (int d = 0; d < D; d++) {
        float a[B], b[B];
        for (int i = 0; i < B; i++)
            a[i] = z[i * D + d], b[i] = p1[i * D + d];
        qsort(a, B, sizeof(float), cmp);
        qsort(b, B, sizeof(float), cmp);
        cr_expect_eq(memcmp(a, b, sizeof a), 0, "column %d keeps its values", d);
    }
    /* the columns move independently: rows are broken up */
    for (int i = 0; i < B; i++) {
        int same = 0;
        for (int j = 0; j < B; j++)
            same |= memcmp(p1 + i * D, z + j * D, D * sizeof(float)) == 0;
        moved_rows += !same;
    }
    cr_expect_gt(moved_rows, B / 2, "only %d of %d rows broken up", moved_rows, B);
    /* in place gives the same */
    memcpy(p3, z, sizeof z);
    elbo_rng_seed(&r, 42);
    cr_assert_eq(elbo_factor_permute(&r, B, D, p3, p3), ELBO_OK);
    cr_expect_eq(memcmp(p1, p3, sizeof p1), 0, "in place");
}

static elbo_factor_config small(void)
{
    elbo_factor_config c = ELBO_FACTOR_DEFAULT;
    c.hidden = 16;
    c.layers = 2;
    c.gamma = 3.0;
    c.adam.lr = 1e-3f;
    return c;
}

static elbo_node *build(elbo_tape *t, elbo_node *mu, elbo_node *lv, elbo_node *z, void *ctx)
{
    (void)mu, (void)lv;
    elbo_node *pen = NULL;
    elbo_factor_penalty(t, ctx, z, &pen, NULL);
    return pen;
}

Test(factorvae, penalty_gradient_reaches_z_only)
{
    elbo_rng r;
    elbo_rng_seed(&r, 9);
    elbo_factor_config c = small();
    elbo_factor_disc d;
    cr_assert_eq(elbo_factor_disc_init(&d, 5, &c, &r), ELBO_OK, "%s", elbo_last_error());
    elbo_params p;
    ot_batch(&p, 8, 5, 2);
    /* leaky ReLU's kink: slope 0.2 keeps it, but no z lands h-close to a kink here */
    char msg[256];
    int bad = ot_grad_check(&p, build, &d, 4u, 2e-3, 1e-2, msg, sizeof msg);
    cr_expect_eq(bad, 0, "%d off: %s", bad, msg);
    /* one more backward: the discriminator's gradients stay zero */
    elbo_params_zero_grad(&d.p);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_node *pen;
    elbo_factor_terms tm;
    cr_assert_eq(elbo_factor_penalty(t, &d, elbo_ad_param(t, &p, 2), &pen, &tm), ELBO_OK);
    cr_assert_eq(elbo_backward(t, pen), ELBO_OK);
    for (size_t i = 0; i < d.p.n; i++)
        cr_assert_eq(d.p.g[i], 0.0f, "discriminator gradient %zu written", i);
    cr_expect(fabs(pen->x[0] - c.gamma * tm.tc) <= 1e-5 * (1 + fabs(pen->x[0])));
    elbo_tape_destroy(t);
    elbo_params_free(&p);
    elbo_factor_disc_free(&d);
}

/* Codes whose two dimensions are equal have a large total correlation:
 * the discriminator must learn to spot their permutation. */
Test(factorvae, discriminator_learns_dependence)
{
    enum { B = 64, D = 2 };
    elbo_rng r, data;
    elbo_rng_seed(&r, 5);
    elbo_rng_seed(&data, 6);
    elbo_factor_config c = small();
    elbo_factor_disc d;
    cr_assert_eq(elbo_factor_disc_init(&d, D, &c, &r), ELBO_OK);
    float z[B * D];
    elbo_factor_terms tm = {0};
    for (int step = 0; step < 400; step++) {
        for (int i = 0; i < B; i++)
            z[i * D] = z[i * D + 1] = (float)elbo_rng_normal(&data);
        cr_assert_eq(elbo_factor_disc_step(&d, z, B, &r, &tm), ELBO_OK, "%s", elbo_last_error());
    }
    cr_expect_gt(tm.disc_acc, 0.8, "accuracy %.3f", tm.disc_acc);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_node *pen;
    cr_assert_eq(elbo_factor_penalty(t, &d, elbo_ad_input(t, B, D, z), &pen, &tm), ELBO_OK);
    cr_expect_gt(tm.tc, 0.5, "TC estimate %.3f", tm.tc);
    elbo_tape_destroy(t);
    elbo_factor_disc_free(&d);
}

/* Same seeds, same discriminator after some steps: bit-identical weights. */
Test(factorvae, steps_are_seeded)
{
    float w[2][4096];
    size_t n = 0;
    for (int rep = 0; rep < 2; rep++) {
        elbo_rng r;
        elbo_rng_seed(&r, 77);
        elbo_factor_config c = small();
        elbo_factor_disc d;
        cr_assert_eq(elbo_factor_disc_init(&d, 3, &c, &r), ELBO_OK);
        float z[32 * 3];
        for (int s = 0; s < 5; s++) {
            elbo_rng_normal_f32(&r, z, 96);
            cr_assert_eq(elbo_factor_disc_step(&d, z, 32, &r, NULL), ELBO_OK);
        }
        n = d.p.n < 4096 ? d.p.n : 4096;
        memcpy(w[rep], d.p.w, n * sizeof(float));
        elbo_factor_disc_free(&d);
    }
    cr_expect_eq(memcmp(w[0], w[1], n * sizeof(float)), 0);
}
