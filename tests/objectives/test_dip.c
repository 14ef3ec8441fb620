/* DIP-VAE I and II: the covariances and the penalty against a
 * double-precision computation written here, the gradient against finite
 * differences at every SIMD level. */
#include <criterion/criterion.h>
#include <math.h>

#include "models/objectives/objectives.h"
#include "obj_test.h"

#define DMAX 8

/* C[k][l] = mean_b (mu_bk - m_k)(mu_bl - m_l), + mean_b e^{lv_bk} on the diagonal for DIP-II */
static void reference(int kind, int B, int D, const float *mu, const float *lv, double C[DMAX][DMAX])
{
    double m[DMAX] = {0};
    for (int b = 0; b < B; b++)
        for (int k = 0; k < D; k++)
            m[k] += mu[b * D + k] / (double)B;
    for (int k = 0; k < D; k++)
        for (int l = 0; l < D; l++) {
            double s = 0.0;
            for (int b = 0; b < B; b++)
                s += ((double)mu[b * D + k] - m[k]) * ((double)mu[b * D + l] - m[l]);
            C[k][l] = s / B;
        }
    if (kind == 2)
        for (int k = 0; k < D; k++)
            for (int b = 0; b < B; b++)
                C[k][k] += exp((double)lv[b * D + k]) / B;
}

static void check_values(elbo_dip_kind kind, int B, int D)
{
    elbo_params p;
    ot_batch(&p, B, D, 21);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_dip_config c = {.kind = kind, .lambda_od = 3.0, .lambda_d = 7.0};
    elbo_node *mu = elbo_ad_input(t, B, D, elbo_param_w(&p, 0)), *lv = elbo_ad_input(t, B, D, elbo_param_w(&p, 1)),
              *pen;
    elbo_dip_terms tm;
    cr_assert_eq(elbo_dip_penalty(t, mu, kind == ELBO_DIP_I ? NULL : lv, &c, &pen, &tm), ELBO_OK, "%s",
                 elbo_last_error());
    double C[DMAX][DMAX], od = 0.0, dd = 0.0;
    reference(kind, B, D, elbo_param_w(&p, 0), elbo_param_w(&p, 1), C);
    for (int k = 0; k < D; k++)
        for (int l = 0; l < D; l++) {
            cr_expect(ot_close(tm.cov->x[k * D + l], C[k][l], 1e-5), "DIP-%d cov[%d,%d] %.8g vs %.8g", kind, k, l,
                      (double)tm.cov->x[k * D + l], C[k][l]);
            if (k != l)
                od += C[k][l] * C[k][l];
            else
                dd += (C[k][k] - 1.0) * (C[k][k] - 1.0);
        }
    cr_expect(ot_close(tm.off_diag_sq, od, 1e-5), "off-diagonal %.8g vs %.8g", tm.off_diag_sq, od);
    cr_expect(ot_close(tm.diag_sq, dd, 1e-5), "diagonal %.8g vs %.8g", tm.diag_sq, dd);
    cr_expect(ot_close(pen->x[0], 3.0 * od + 7.0 * dd, 1e-5), "penalty %.8g vs %.8g", (double)pen->x[0],
              3.0 * od + 7.0 * dd);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

Test(dip, dip1_matches_reference) { check_values(ELBO_DIP_I, 32, 6); check_values(ELBO_DIP_I, 2, 1); }
Test(dip, dip2_matches_reference) { check_values(ELBO_DIP_II, 32, 6); check_values(ELBO_DIP_II, 5, 8); }

static elbo_node *build(elbo_tape *t, elbo_node *mu, elbo_node *lv, elbo_node *z, void *ctx)
{
    (void)z;
    const elbo_dip_config *c = ctx;
    elbo_node *pen = NULL;
    elbo_dip_penalty(t, mu, c->kind == ELBO_DIP_II ? lv : NULL, c, &pen, NULL);
    return pen;
}

static void check_grad(elbo_dip_kind kind, int B, int D)
{
    elbo_params p;
    ot_batch(&p, B, D, 8);
    elbo_dip_config c = {.kind = kind, .lambda_od = 2.0, .lambda_d = 0.5};
    char msg[256];
    int bad = ot_grad_check(&p, build, &c, kind == ELBO_DIP_I ? 1u : 3u, 2e-3, 1e-2, msg, sizeof msg);
    cr_expect_eq(bad, 0, "DIP-%d (%d,%d): %d off: %s", kind, B, D, bad, msg);
    elbo_params_free(&p);
}

Test(dip, gradient_every_level)
{
    check_grad(ELBO_DIP_I, 7, 3);
    check_grad(ELBO_DIP_I, 16, 17);
    check_grad(ELBO_DIP_II, 7, 3);
    check_grad(ELBO_DIP_II, 16, 17);
}
