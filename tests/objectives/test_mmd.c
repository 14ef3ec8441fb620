/* InfoVAE / WAE-MMD: the unbiased MMD with both kernels against a
 * double-precision computation written here, prior samples drawn from the
 * seeded rng, the gradient against finite differences at every SIMD level. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "models/objectives/objectives.h"
#include "obj_test.h"
#include "test_util.h"

static double k(elbo_mmd_kernel kind, const float *x, const float *y, int D, double C)
{
    double d2 = 0.0;
    for (int d = 0; d < D; d++)
        d2 += ((double)x[d] - y[d]) * ((double)x[d] - y[d]);
    return kind == ELBO_MMD_RBF ? exp(-d2 / C) : C / (C + d2);
}

static double reference(elbo_mmd_kernel kind, int B, int M, int D, const float *z, const float *p, double var)
{
    double C = 2.0 * D * var, zz = 0, pp = 0, zp = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            zz += i == j ? 0.0 : k(kind, z + i * D, z + j * D, D, C);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++)
            pp += i == j ? 0.0 : k(kind, p + i * D, p + j * D, D, C);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < M; j++)
            zp += k(kind, z + i * D, p + j * D, D, C);
    return zz / (B * (B - 1.0)) + pp / (M * (M - 1.0)) - 2.0 * zp / ((double)B * M);
}

static void check_values(elbo_mmd_kernel kind, int B, int M, int D, double var)
{
    elbo_params p;
    ot_batch(&p, B, D, 31);
    float *prior = malloc((size_t)M * D * sizeof *prior);
    tu_fill_uniform(prior, (size_t)M * D, -2.0f, 2.0f, 99);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_mmd_config c = {.kernel = kind, .lambda = 10.0, .prior_var = var};
    elbo_node *z = elbo_ad_input(t, B, D, elbo_param_w(&p, 2)), *pen;
    elbo_mmd_terms tm;
    cr_assert_eq(elbo_mmd_penalty(t, z, prior, M, NULL, &c, &pen, &tm), ELBO_OK, "%s", elbo_last_error());
    double want = reference(kind, B, M, D, elbo_param_w(&p, 2), prior, var);
    /* the MMD is a difference of means of order 1: its error is relative to them */
    cr_expect(fabs(tm.mmd - want) <= 1e-5, "%s MMD %.8g vs %.8g", kind == ELBO_MMD_RBF ? "rbf" : "imq", tm.mmd,
              want);
    cr_expect(fabs(pen->x[0] - 10.0 * want) <= 1e-4, "penalty %.8g vs %.8g", (double)pen->x[0], 10.0 * want);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
    free(prior);
}

Test(mmd, rbf_matches_reference) { check_values(ELBO_MMD_RBF, 16, 16, 5, 1.0); check_values(ELBO_MMD_RBF, 5, 9, 3, 0.5); }
Test(mmd, imq_matches_reference) { check_values(ELBO_MMD_IMQ, 16, 16, 5, 1.0); check_values(ELBO_MMD_IMQ, 2, 3, 17, 2.0); }

/* Drawn prior samples: the same seed gives the same estimate; codes drawn
 * from the prior itself give an MMD near 0, codes far from it a large one. */
Test(mmd, drawn_prior_is_seeded_and_discriminates)
{
    int B = 64, D = 4;
    float *z = malloc((size_t)B * D * sizeof *z);
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_rng_normal_f32(&r, z, (size_t)B * D);
    double est[2][2];
    for (int shift = 0; shift < 2; shift++) {
        for (size_t i = 0; i < (size_t)B * D; i++)
            z[i] += shift ? 3.0f : 0.0f;
        for (int rep = 0; rep < 2; rep++) {
            elbo_tape *t;
            cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
            elbo_rng rp;
            elbo_rng_seed(&rp, 7);
            elbo_mmd_config c = {.kernel = ELBO_MMD_IMQ, .lambda = 1.0, .prior_var = 1.0};
            elbo_node *pen;
            elbo_mmd_terms tm;
            cr_assert_eq(elbo_mmd_penalty(t, elbo_ad_input(t, B, D, z), NULL, 0, &rp, &c, &pen, &tm), ELBO_OK);
            est[shift][rep] = tm.mmd;
            elbo_tape_destroy(t);
        }
        cr_expect_eq(est[shift][0], est[shift][1], "same seed, same estimate");
    }
    cr_expect(fabs(est[0][0]) < 0.05, "codes from the prior: MMD %.4g", est[0][0]);
    cr_expect(est[1][0] > 0.3, "codes shifted by 3: MMD %.4g", est[1][0]);
    free(z);
}

typedef struct {
    elbo_mmd_config c;
    const float *prior;
    int M;
} gctx;

static elbo_node *build(elbo_tape *t, elbo_node *mu, elbo_node *lv, elbo_node *z, void *ctx)
{
    (void)mu, (void)lv;
    gctx *g = ctx;
    elbo_node *pen = NULL;
    elbo_mmd_penalty(t, z, g->prior, g->M, NULL, &g->c, &pen, NULL);
    return pen;
}

Test(mmd, gradient_every_level)
{
    for (int kind = 0; kind < 2; kind++) {
        int B = 9, M = 7, D = 5;
        elbo_params p;
        ot_batch(&p, B, D, 4);
        float prior[35];
        tu_fill_uniform(prior, (size_t)M * D, -1.5f, 1.5f, 12);
        gctx g = {.c = {.kernel = (elbo_mmd_kernel)kind, .lambda = 20.0, .prior_var = 1.0}, .prior = prior, .M = M};
        char msg[256];
        int bad = ot_grad_check(&p, build, &g, 4u, 2e-3, 1e-2, msg, sizeof msg);
        cr_expect_eq(bad, 0, "%s: %d off: %s", kind ? "imq" : "rbf", bad, msg);
        elbo_params_free(&p);
    }
}
