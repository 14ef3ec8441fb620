/* beta-TCVAE: log q(z), log Π_d q(z_d), MI, TC and dimension-wise KL by both
 * estimators against a double-precision computation written here from the
 * definitions (plain sums of densities, no log-sum-exp), the penalty's
 * gradient against finite differences at every SIMD level. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "models/objectives/objectives.h"
#include "obj_test.h"

/* q(z_i,d | x_j), a Gaussian density in double */
static double qd(const float *mu, const float *lv, const float *z, int D, int i, int j, int d)
{
    double m = mu[j * D + d], v = exp((double)lv[j * D + d]), e = (double)z[i * D + d] - m;
    return exp(-0.5 * e * e / v) / sqrt(2.0 * M_PI * v);
}

/* The estimator's weight of q(z_i | x_j): MWS 1/(N B); MSS the sample's
 * own 1/N, the next in the batch (cyclically) (N-M)/(N M), the rest 1/M. */
static double weight(bool mss, int B, long N, int i, int j)
{
    if (!mss)
        return 1.0 / ((double)N * B);
    double M = B - 1;
    if (i == j)
        return 1.0 / (double)N;
    if (j == (i + 1) % B)
        return ((double)N - M) / ((double)N * M);
    return 1.0 / M;
}

typedef struct ref {
    double *logqz, *logqprod, *logqzx, *logpz;
    double mi, tc, dwkl;
} ref;

static ref reference(bool mss, int B, int D, long N, const float *mu, const float *lv, const float *z)
{
    ref r = {calloc(B, 8), calloc(B, 8), calloc(B, 8), calloc(B, 8), 0, 0, 0};
    for (int i = 0; i < B; i++) {
        double qz = 0.0, own = 1.0, prior = 1.0, prod_log = 0.0;
        for (int j = 0; j < B; j++) {
            double q = 1.0;
            for (int d = 0; d < D; d++)
                q *= qd(mu, lv, z, D, i, j, d);
            qz += weight(mss, B, N, i, j) * q;
        }
        for (int d = 0; d < D; d++) {
            double qm = 0.0;
            for (int j = 0; j < B; j++)
                qm += weight(mss, B, N, i, j) * qd(mu, lv, z, D, i, j, d);
            prod_log += log(qm);
            own *= qd(mu, lv, z, D, i, i, d);
            double zz = z[i * D + d];
            prior *= exp(-0.5 * zz * zz) / sqrt(2.0 * M_PI);
        }
        r.logqz[i] = log(qz), r.logqprod[i] = prod_log, r.logqzx[i] = log(own), r.logpz[i] = log(prior);
        r.mi += (r.logqzx[i] - r.logqz[i]) / B;
        r.tc += (r.logqz[i] - r.logqprod[i]) / B;
        r.dwkl += (r.logqprod[i] - r.logpz[i]) / B;
    }
    return r;
}

static void check_values(bool mss, int B, int D, long N)
{
    elbo_params p;
    ot_batch(&p, B, D, 11u + (uint64_t)B);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_tcvae_config c = {.alpha = 0.5, .beta = 6.0, .gamma = 2.0, .estimator = mss ? ELBO_TC_MSS : ELBO_TC_MWS,
                           .dataset_size = N};
    elbo_node *mu = elbo_ad_input(t, B, D, elbo_param_w(&p, 0)), *lv = elbo_ad_input(t, B, D, elbo_param_w(&p, 1)),
              *z = elbo_ad_input(t, B, D, elbo_param_w(&p, 2)), *pen = NULL;
    elbo_tcvae_terms terms;
    cr_assert_eq(elbo_tcvae_penalty(t, mu, lv, z, &c, &pen, &terms), ELBO_OK, "%s", elbo_last_error());
    ref r = reference(mss, B, D, N, elbo_param_w(&p, 0), elbo_param_w(&p, 1), elbo_param_w(&p, 2));
    const double tol = 1e-5;
    for (int i = 0; i < B; i++) {
        cr_expect(ot_close(terms.log_qz->x[i], r.logqz[i], tol), "log q(z_%d): %.8g vs %.8g", i,
                  (double)terms.log_qz->x[i], r.logqz[i]);
        cr_expect(ot_close(terms.log_qz_prod->x[i], r.logqprod[i], tol), "log prod q(z_%d,d): %.8g vs %.8g", i,
                  (double)terms.log_qz_prod->x[i], r.logqprod[i]);
        cr_expect(ot_close(terms.log_qz_x->x[i], r.logqzx[i], tol), "log q(z|x) %d", i);
        cr_expect(ot_close(terms.log_pz->x[i], r.logpz[i], tol), "log p(z) %d", i);
    }
    cr_expect(ot_close(terms.mi, r.mi, tol), "MI %.8g vs %.8g", terms.mi, r.mi);
    cr_expect(ot_close(terms.tc, r.tc, tol), "TC %.8g vs %.8g", terms.tc, r.tc);
    cr_expect(ot_close(terms.dwkl, r.dwkl, tol), "dwKL %.8g vs %.8g", terms.dwkl, r.dwkl);
    double want = c.alpha * r.mi + c.beta * r.tc + c.gamma * r.dwkl;
    cr_expect(ot_close(pen->x[0], want, tol), "penalty %.8g vs %.8g", (double)pen->x[0], want);
    free(r.logqz), free(r.logqprod), free(r.logqzx), free(r.logpz);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

Test(tcvae, mws_matches_reference) { check_values(false, 16, 5, 1000); check_values(false, 7, 3, 7); }
Test(tcvae, mss_matches_reference) { check_values(true, 16, 5, 1000); check_values(true, 2, 4, 3); check_values(true, 9, 1, 60000); }

/* With all weights 1 the three terms add up to the Monte Carlo KL
 * log q(z|x) - log p(z), whatever the estimator. */
Test(tcvae, terms_add_up_to_the_kl)
{
    elbo_params p;
    ot_batch(&p, 12, 4, 5);
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    elbo_tcvae_config c = {.alpha = 1, .beta = 1, .gamma = 1, .estimator = ELBO_TC_MSS, .dataset_size = 500};
    elbo_node *mu = elbo_ad_input(t, 12, 4, elbo_param_w(&p, 0)), *lv = elbo_ad_input(t, 12, 4, elbo_param_w(&p, 1)),
              *z = elbo_ad_input(t, 12, 4, elbo_param_w(&p, 2)), *pen;
    elbo_tcvae_terms tm;
    cr_assert_eq(elbo_tcvae_penalty(t, mu, lv, z, &c, &pen, &tm), ELBO_OK);
    double kl = 0.0;
    for (int i = 0; i < 12; i++)
        kl += ((double)tm.log_qz_x->x[i] - tm.log_pz->x[i]) / 12.0;
    cr_expect(ot_close(pen->x[0], kl, 1e-5), "%.8g vs %.8g", (double)pen->x[0], kl);
    elbo_tape_destroy(t);
    elbo_params_free(&p);
}

Test(tcvae, mss_weights_sum_to_one_per_row)
{
    int B = 10;
    float logw[100];
    cr_assert_eq(elbo_tcvae_log_weights(ELBO_TC_MSS, B, 1234, logw), ELBO_OK);
    for (int i = 0; i < B; i++) {
        double s = 0.0;
        for (int j = 0; j < B; j++)
            s += exp((double)logw[i * B + j]);
        cr_expect(fabs(s - 1.0) < 1e-6, "row %d sums to %.9g", i, s);
    }
    cr_expect_neq(elbo_tcvae_log_weights(ELBO_TC_MSS, 1, 10, logw), ELBO_OK, "a batch of 1 has no strata");
    cr_expect_neq(elbo_tcvae_log_weights(ELBO_TC_MWS, 20, 10, logw), ELBO_OK, "N < B");
}

static elbo_node *build(elbo_tape *t, elbo_node *mu, elbo_node *lv, elbo_node *z, void *ctx)
{
    elbo_node *pen = NULL;
    elbo_tcvae_penalty(t, mu, lv, z, ctx, &pen, NULL);
    return pen;
}

static void check_grad(elbo_tc_estimator e, int B, int D)
{
    elbo_params p;
    ot_batch(&p, B, D, 3);
    elbo_tcvae_config c = {.alpha = 0.7, .beta = 4.0, .gamma = 1.3, .estimator = e, .dataset_size = 300};
    char msg[256];
    int bad = ot_grad_check(&p, build, &c, 7u, 2e-3, 1e-2, msg, sizeof msg);
    cr_expect_eq(bad, 0, "%s (%d,%d): %d off: %s", e == ELBO_TC_MSS ? "mss" : "mws", B, D, bad, msg);
    elbo_params_free(&p);
}

Test(tcvae, gradient_mws_every_level) { check_grad(ELBO_TC_MWS, 6, 3); check_grad(ELBO_TC_MWS, 9, 17); }
Test(tcvae, gradient_mss_every_level) { check_grad(ELBO_TC_MSS, 6, 3); check_grad(ELBO_TC_MSS, 2, 1); }
