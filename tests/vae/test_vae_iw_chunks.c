/* The importance-weighted -log Pr(x) in chunks over the K draws: the same
 * numbers as all K at once (the same draws, a running log-sum-exp), memory
 * set by the chunk and not by K, and a K of 5000 on a few examples. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "vae_fixture.h"

static elbo_dataset data;
static elbo_vae model;

static void setup(void)
{
    cr_assert_eq(fx_dataset(24, 0.1f, 7, 12, &data), ELBO_OK, "%s", elbo_last_error());
    /* Z even: a row's K Z normals split into chunks of an even draw count are the same stream */
    elbo_vae_config c = fx_config(16, 4, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    cr_assert_eq(elbo_vae_create(&model, &c, &r), ELBO_OK);
}

static void teardown(void)
{
    elbo_vae_free(&model);
    elbo_dataset_free(&data);
}

/* -log Pr(x) per example with K draws and chunks of eval_batch rows. */
static double iw(elbo_tape *t, int K, int eval_batch, double *per, size_t n)
{
    elbo_rng r;
    elbo_rng_seed(&r, 42);
    double v;
    cr_assert_eq(elbo_vae_iw_nll(&model, t, FX_X(data), NULL, n, K, eval_batch, &r, &v, per), ELBO_OK, "%s",
                 elbo_last_error());
    return v;
}

Test(vae_iw_chunks, chunked_equals_unchunked, .init = setup, .fini = teardown)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 16), ELBO_OK);
    const int Ks[3] = {10, 25, 64};
    const int chunks[4] = {4, 7, 9, 2}; /* 7 and 9 round down to even draw counts */
    double whole[24], part[24];
    for (int i = 0; i < 3; i++) {
        /* one row at a time, all K draws at once: the reference */
        double ref = iw(t, Ks[i], Ks[i], whole, data.n);
        for (int c = 0; c < 4; c++) {
            double v = iw(t, Ks[i], chunks[c], part, data.n);
            cr_expect(fabs(v - ref) <= 1e-6 * fabs(ref), "K %d, chunk %d: %.9f vs %.9f", Ks[i], chunks[c], v, ref);
            for (size_t e = 0; e < data.n; e++)
                cr_expect(fabs(part[e] - whole[e]) <= 1e-6 * fabs(whole[e]), "K %d, chunk %d, example %zu: %.9f vs "
                          "%.9f", Ks[i], chunks[c], e, part[e], whole[e]);
        }
    }
    elbo_tape_destroy(t);
}

Test(vae_iw_chunks, memory_set_by_the_chunk_not_k, .init = setup, .fini = teardown)
{
    size_t hw[2];
    const int Ks[2] = {64, 4096};
    for (int i = 0; i < 2; i++) {
        elbo_tape *t;
        cr_assert_eq(elbo_tape_create(&t, 1 << 12), ELBO_OK);
        double per[2];
        iw(t, Ks[i], 32, per, 2);
        hw[i] = elbo_tape_arena(t)->high_water;
        elbo_tape_destroy(t);
    }
    cr_expect_gt(hw[0], 0);
    cr_expect_eq(hw[1], hw[0], "arena high-water %zu bytes at K 4096, %zu at K 64 (chunks of 32)", hw[1], hw[0]);
}

Test(vae_iw_chunks, k5000_on_a_few_examples, .init = setup, .fini = teardown)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 16), ELBO_OK);
    double per[3], per_small[3];
    double v = iw(t, 5000, 1000, per, 3), v1 = iw(t, 1, 1000, per_small, 3);
    cr_expect(isfinite(v) && v > 0.0, "IW-5000 %.4f", v);
    /* the bound tightens with K: on average below the one-draw ELBO estimate */
    cr_expect_lt(v, v1 + 1.0, "IW-5000 %.4f vs IW-1 %.4f", v, v1);
    elbo_tape_destroy(t);
}
