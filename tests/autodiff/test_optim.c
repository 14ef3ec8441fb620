/* Parameter slabs and optimizers: Adam and SGD-momentum against a
 * hand-written double-precision reference, gradient norm and clipping, the
 * finite check, and the initialisers' ranges. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "autodiff/params.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

/* Two parameters, (3,5) and (1,7): odd sizes so the slab has padding and the
 * kernels have tails. */
static void two_params(elbo_params *p)
{
    elbo_params_init(p);
    cr_assert_eq(elbo_params_add(p, "layer.w", 3, 5), 0);
    cr_assert_eq(elbo_params_add(p, "layer.b", 1, 7), 1);
    cr_assert(elbo_params_finalize(p) == ELBO_OK);
}

static const size_t sizes[2] = {15, 7};

Test(params, layout_is_aligned_and_padded)
{
    elbo_params p;
    two_params(&p);
    cr_expect_eq(p.info[0].offset, 0);
    cr_expect_eq(p.info[1].offset, 16, "each parameter starts on a 16-float boundary");
    cr_expect_eq(p.n, 32);
    cr_expect(((uintptr_t)p.w | (uintptr_t)p.g | (uintptr_t)p.m | (uintptr_t)p.v) % 64 == 0);
    cr_expect_eq(elbo_params_add(&p, "late", 1, 1), -1, "no registration after finalize");
    elbo_params_free(&p);
}

/* Adam in double, textbook form: explicit m̂, v̂. */
static void adam_ref(double *w, double *m, double *v, const double *g, size_t n, long t, const elbo_adam_config *c)
{
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] + c->weight_decay * w[i];
        m[i] = c->beta1 * m[i] + (1 - c->beta1) * gi;
        v[i] = c->beta2 * v[i] + (1 - c->beta2) * gi * gi;
        double mh = m[i] / (1 - pow(c->beta1, (double)t)), vh = v[i] / (1 - pow(c->beta2, (double)t));
        w[i] -= c->lr * mh / (sqrt(vh) + c->eps);
    }
}

static void check_adam(const elbo_adam_config *cfg)
{
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        elbo_simd_set((elbo_simd)lv);
        elbo_params p;
        two_params(&p);
        double w[32] = {0}, m[32] = {0}, v[32] = {0}, g[32] = {0};
        for (int id = 0; id < 2; id++) {
            tu_fill_uniform(elbo_param_w(&p, id), sizes[id], -1.0f, 1.0f, 10u + (uint64_t)id);
            for (size_t i = 0; i < sizes[id]; i++)
                w[p.info[id].offset + i] = elbo_param_w(&p, id)[i];
        }
        for (long step = 1; step <= 4; step++) {
            for (int id = 0; id < 2; id++) {
                float *pg = elbo_param_g(&p, id);
                tu_fill_uniform(pg, sizes[id], -2.0f, 2.0f, 100u * (uint64_t)step + (uint64_t)id);
                for (size_t i = 0; i < sizes[id]; i++)
                    g[p.info[id].offset + i] = pg[i];
            }
            elbo_adam_step(&p, cfg);
            adam_ref(w, m, v, g, 32, step, cfg);
            cr_expect_eq(p.step, step);
            for (size_t i = 0; i < 32; i++)
                cr_expect(fabs(p.w[i] - w[i]) <= 1e-6 + 1e-5 * fabs(w[i]), "[%s] step %ld w[%zu]: %.9g vs ref %.9g",
                          elbo_simd_name((elbo_simd)lv), step, i, (double)p.w[i], w[i]);
        }
        /* Padding stays zero: g is zero there, so m, v and w are too. */
        for (size_t i = 15; i < 16; i++)
            cr_expect(p.w[i] == 0.0f && p.m[i] == 0.0f && p.v[i] == 0.0f);
        elbo_params_free(&p);
    }
    elbo_simd_set(elbo_simd_best());
}

Test(optim, adam_default_matches_reference) { check_adam(&ELBO_ADAM_DEFAULT); }

Test(optim, adam_large_eps_and_betas)
{
    /* A large eps makes the folded eps_t = eps sqrt(1-b2^t) visible. */
    elbo_adam_config c = {.lr = 0.05f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 0.1f, .weight_decay = 0.0f};
    check_adam(&c);
}

Test(optim, adam_weight_decay)
{
    elbo_adam_config c = ELBO_ADAM_DEFAULT;
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    check_adam(&c);
}

Test(optim, sgd_momentum_matches_reference)
{
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        elbo_simd_set((elbo_simd)lv);
        elbo_params p;
        two_params(&p);
        double w[32] = {0}, u[32] = {0};
        tu_fill_uniform(p.w, 32, -1.0f, 1.0f, 1);
        memset(p.w + 15, 0, sizeof(float)); /* keep the padding zero */
        memset(p.w + 23, 0, 9 * sizeof(float));
        for (size_t i = 0; i < 32; i++)
            w[i] = p.w[i];
        const float lr = 0.1f, mu = 0.9f;
        for (int step = 1; step <= 4; step++) {
            tu_fill_uniform(p.g, 32, -1.0f, 1.0f, 50u + (uint64_t)step);
            for (size_t i = 0; i < 32; i++) {
                u[i] = mu * u[i] + p.g[i]; /* reference before the update reads the same g */
                w[i] -= lr * u[i];
            }
            elbo_sgd_step(&p, lr, mu);
            for (size_t i = 0; i < 32; i++)
                cr_expect(fabs(p.w[i] - w[i]) <= 1e-6 + 1e-6 * fabs(w[i]), "[%s] step %d w[%zu]: %.9g vs %.9g",
                          elbo_simd_name((elbo_simd)lv), step, i, (double)p.w[i], w[i]);
        }
        elbo_params_free(&p);
    }
    elbo_simd_set(elbo_simd_best());
}

Test(optim, grad_norm_and_clipping)
{
    elbo_params p;
    two_params(&p);
    elbo_param_g(&p, 0)[0] = 3.0f;
    elbo_param_g(&p, 1)[6] = 4.0f;
    cr_expect_eq(elbo_params_grad_norm(&p), 5.0);
    /* Below the limit: untouched. */
    cr_expect_eq(elbo_params_clip_grad(&p, 10.0), 5.0);
    cr_expect_eq(elbo_param_g(&p, 0)[0], 3.0f);
    /* Above: scaled to the limit, direction kept. */
    cr_expect_eq(elbo_params_clip_grad(&p, 1.0), 5.0);
    cr_expect(fabs(elbo_params_grad_norm(&p) - 1.0) < 1e-6);
    cr_expect(fabs(elbo_param_g(&p, 0)[0] - 0.6f) < 1e-7f);
    cr_expect(fabs(elbo_param_g(&p, 1)[6] - 0.8f) < 1e-7f);
    elbo_params_zero_grad(&p);
    cr_expect_eq(elbo_params_grad_norm(&p), 0.0);
    elbo_params_free(&p);
}

Test(optim, check_finite_names_the_parameter)
{
    elbo_params p;
    two_params(&p);
    cr_expect_eq(elbo_params_check_finite(&p), ELBO_OK);
    elbo_param_g(&p, 1)[3] = NAN;
    cr_expect_eq(elbo_params_check_finite(&p), ELBO_ERR_NONFINITE);
    cr_expect(strstr(elbo_last_error(), "layer.b") != NULL, "message: %s", elbo_last_error());
    /* Clipping leaves a non-finite gradient for the check to report. */
    elbo_params_clip_grad(&p, 1.0);
    cr_expect(isnan(elbo_param_g(&p, 1)[3]));
    elbo_param_g(&p, 1)[3] = 0.0f;
    elbo_param_g(&p, 0)[14] = -INFINITY;
    cr_expect_eq(elbo_params_check_finite(&p), ELBO_ERR_NONFINITE);
    cr_expect(strstr(elbo_last_error(), "layer.w") != NULL && strstr(elbo_last_error(), "Inf"), "message: %s",
              elbo_last_error());
    elbo_params_free(&p);
}

/* Moments of one initialised (rows, cols) parameter. */
static void moments(const float *w, size_t n, double *mean, double *var, double *maxabs)
{
    double s = 0, ss = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        s += w[i];
        ss += (double)w[i] * w[i];
        mx = fmax(mx, fabs(w[i]));
    }
    *mean = s / (double)n;
    *var = ss / (double)n - *mean * *mean;
    *maxabs = mx;
}

Test(params, initialisers)
{
    elbo_params p;
    elbo_params_init(&p);
    int a = elbo_params_add(&p, "xavier", 200, 100);
    int b = elbo_params_add(&p, "he", 200, 100);
    int c = elbo_params_add(&p, "torch", 200, 100);
    int d = elbo_params_add(&p, "const", 3, 3);
    cr_assert(elbo_params_finalize(&p) == ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_params_init_xavier(&p, a, &r);
    elbo_params_init_he(&p, b, &r);
    elbo_params_init_uniform_fan_in(&p, c, 200, &r);
    elbo_params_fill(&p, d, 0.25f);
    double mean, var, mx, n = 20000;
    double bound = sqrt(6.0 / 300.0);
    moments(elbo_param_w(&p, a), 20000, &mean, &var, &mx);
    cr_expect(mx <= bound && mx > 0.99 * bound, "xavier max %g, bound %g", mx, bound);
    cr_expect(fabs(var - bound * bound / 3) < 5 * bound * bound / 3 / sqrt(n), "xavier var %g", var);
    moments(elbo_param_w(&p, b), 20000, &mean, &var, &mx);
    cr_expect(fabs(var - 2.0 / 200) < 0.05 * 2.0 / 200, "he var %g vs %g", var, 2.0 / 200);
    cr_expect(fabs(mean) < 5 * sqrt(0.01 / n));
    moments(elbo_param_w(&p, c), 20000, &mean, &var, &mx);
    cr_expect(mx <= 1 / sqrt(200.0) && mx > 0.99 / sqrt(200.0), "U(+-1/sqrt(fan_in)) max %g", mx);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(elbo_param_w(&p, d)[i], 0.25f);
    cr_expect_eq(p.w[p.info[d].offset + 9], 0.0f, "fill leaves the padding alone");
    elbo_params_free(&p);
}

/* The checked step (finite check and Adam in one pass over chunks): the same
 * bits as elbo_adam_step on 1 and 2 threads, with and without weight decay,
 * on a slab of several chunks; a NaN in a late chunk fails the step, names
 * the parameter and leaves p->step where it was. */
Test(optim, adam_checked_matches_adam_and_stops_at_nan)
{
    elbo_adam_config cfgs[2] = {ELBO_ADAM_DEFAULT, ELBO_ADAM_DEFAULT};
    cfgs[1].weight_decay = 0.01f;
    for (int wd = 0; wd < 2; wd++)
        for (int threads = 1; threads <= 2; threads++) {
            elbo_params a, b;
            for (int k = 0; k < 2; k++) {
                elbo_params *p = k ? &b : &a;
                elbo_params_init(p);
                cr_assert_eq(elbo_params_add(p, "big.w", 700, 300), 0);
                cr_assert_eq(elbo_params_add(p, "big.b", 1, 301), 1);
                cr_assert(elbo_params_finalize(p) == ELBO_OK);
                tu_fill_uniform(p->w, p->n, -1, 1, 5);
            }
            cr_assert(elbo_set_threads(threads) == ELBO_OK);
            for (int step = 0; step < 3; step++) {
                tu_fill_uniform(a.g, a.n, -1, 1, 10 + (uint64_t)step);
                memcpy(b.g, a.g, a.n * sizeof(float));
                elbo_adam_step(&a, &cfgs[wd]);
                cr_assert_eq(elbo_adam_step_checked(&b, &cfgs[wd]), ELBO_OK, "%s", elbo_last_error());
                cr_assert_eq(a.step, b.step);
                cr_assert(memcmp(a.w, b.w, a.n * 4) == 0 && memcmp(a.m, b.m, a.n * 4) == 0 &&
                              memcmp(a.v, b.v, a.n * 4) == 0,
                          "wd %d, %d threads, step %d: checked step differs", wd, threads, step);
            }
            elbo_param_g(&b, 1)[300] = NAN;
            long before = b.step;
            cr_expect_eq(elbo_adam_step_checked(&b, &cfgs[wd]), ELBO_ERR_NONFINITE);
            cr_expect(strstr(elbo_last_error(), "big.b") != NULL, "message: %s", elbo_last_error());
            cr_expect_eq(b.step, before);
            elbo_params_free(&a);
            elbo_params_free(&b);
        }
    elbo_set_threads(1);
}
