/* The nonlinear latent variable model: Monte Carlo and importance sampling
 * against grid quadrature (section 17.8.1), the variance gain of importance
 * sampling, the grid posterior and its Gaussian approximations (figures
 * 17.7, 17.8), ancestral sampling (17.2.1), and an MLP mean function. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "models/mog/nlvm.h"
#include "ops/rng.h"

#define GRID_LO (-9.0)
#define GRID_HI 9.0
#define GRID_N 18001 /* step 0.001: the trapezoid rule is far below any MC error */
#define AGREE_SE 4.0 /* estimates within this many standard errors of the truth */

static double grid_log_px(const nlvm *m, const double *x, double *z, double *dens)
{
    double lp;
    cr_assert_eq(nlvm_posterior_grid(m, x, GRID_LO, GRID_HI, GRID_N, z, dens, &lp), ELBO_OK, "%s",
                 elbo_last_error());
    return lp;
}

static void check_estimates_agree(const nlvm *m, const double *x, uint64_t seed)
{
    double *z = malloc(GRID_N * sizeof(double)), *dens = malloc(GRID_N * sizeof(double));
    double lp = grid_log_px(m, x, z, dens), p = exp(lp);
    nlvm_gauss1 mom;
    cr_assert_eq(nlvm_posterior_gauss(m, x, lp, z, dens, GRID_N, &mom, NULL), ELBO_OK);
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    nlvm_estimate mc, is;
    cr_assert_eq(nlvm_px_mc(m, x, 400000, &r, &mc), ELBO_OK, "%s", elbo_last_error());
    double qm = mom.mean, qs = fmax(mom.sd, 0.75); /* sd^2 > 1/2: IS weights of finite variance */
    cr_assert_eq(nlvm_px_is(m, x, &qm, &qs, 40000, &r, &is), ELBO_OK, "%s", elbo_last_error());
    cr_assert(fabs(mc.p - p) <= AGREE_SE * mc.se, "MC %.6g +- %.2g vs grid %.6g", mc.p, mc.se, p);
    cr_assert(fabs(is.p - p) <= AGREE_SE * is.se, "IS %.6g +- %.2g vs grid %.6g", is.p, is.se, p);
    cr_assert(fabs(is.log_p - log(is.p)) < 1e-12);
    cr_assert(mc.ess >= 1 && mc.ess <= (double)mc.n && is.ess >= 1 && is.ess <= (double)is.n);
    free(z), free(dens);
}

Test(nlvm, mc_and_is_agree_with_grid_quadrature_notebook)
{
    nlvm m;
    nlvm_init_notebook(&m);
    const double xstar[2] = {0.9, -0.9}; /* notebook 17.1's point: multimodal posterior */
    check_estimates_agree(&m, xstar, 1);
    double z, x[2];
    elbo_rng r;
    elbo_rng_seed(&r, 2);
    for (int i = 0; i < 3; i++) { /* points the model itself generates */
        cr_assert_eq(nlvm_sample(&m, &r, 1, &z, x), ELBO_OK);
        check_estimates_agree(&m, x, 10 + i);
    }
}

Test(nlvm, mc_and_is_agree_with_grid_quadrature_mlp)
{
    nlvm_mlp mlp;
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    cr_assert_eq(nlvm_mlp_init(&mlp, 1, 16, 3, &r), ELBO_OK);
    nlvm m;
    nlvm_init_mlp(&m, &mlp, 0.05);
    double z, x[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nlvm_sample(&m, &r, 1, &z, x), ELBO_OK);
        check_estimates_agree(&m, x, 20 + i);
    }
    nlvm_mlp_free(&mlp);
}

/* A linear mean function makes everything closed-form:
 * x = a z + b + noise  =>  Pr(x) = Norm(x; b, a^2 + s2),
 *                          z | x ~ Norm(a (x - b) / (a^2 + s2), s2 / (a^2 + s2)). */
#define LIN_A 4.0
#define LIN_B (-0.4)
static void linear_f(void *ctx, const double *z, size_t m, double *mean)
{
    (void)ctx;
    for (size_t i = 0; i < m; i++)
        mean[i] = LIN_A * z[i] + LIN_B;
}

/* Equal error for fewer samples. With a sharp likelihood the posterior is
 * narrow (sd ~ 0.05) and sits in the prior's tail: plain MC over the prior
 * rarely lands there; a proposal near the posterior always does. Measured
 * as the variance of repeated estimates with the same sample count (the
 * samples needed for a given error scale with it). */
Test(nlvm, importance_sampling_needs_far_fewer_samples)
{
    nlvm m = {.dz = 1, .dx = 1, .sigma2 = NLVM_NOTEBOOK_SIGMA2, .f = linear_f};
    const double x = 6.0, s2 = LIN_A * LIN_A + m.sigma2;
    const double p = exp(-0.5 * (x - LIN_B) * (x - LIN_B) / s2) / sqrt(2 * M_PI * s2);
    double *z = malloc(GRID_N * sizeof(double)), *dens = malloc(GRID_N * sizeof(double));
    double lp = grid_log_px(&m, &x, z, dens);
    cr_assert(fabs(lp - log(p)) < 1e-10, "grid %.17g vs exact %.17g", lp, log(p));
    nlvm_gauss1 q;
    cr_assert_eq(nlvm_posterior_gauss(&m, &x, lp, z, dens, GRID_N, NULL, &q), ELBO_OK);
    double qm = q.mean, qs = 1.5 * q.sd; /* a little wider than the posterior: bounded weights */
    enum { REPS = 400, PER = 100 };
    elbo_rng r;
    elbo_rng_seed(&r, 4);
    double v_mc = 0, v_is = 0;
    for (int i = 0; i < REPS; i++) {
        nlvm_estimate a, b;
        cr_assert_eq(nlvm_px_mc(&m, &x, PER, &r, &a), ELBO_OK);
        cr_assert_eq(nlvm_px_is(&m, &x, &qm, &qs, PER, &r, &b), ELBO_OK);
        v_mc += (a.p - p) * (a.p - p) / REPS;
        v_is += (b.p - p) * (b.p - p) / REPS;
    }
    double ratio = v_mc / v_is;
    cr_assert(ratio > 100, "variance ratio MC/IS = %.3g (expected > 100)", ratio);
    /* the same from single runs' standard errors, and both agree with the exact value */
    nlvm_estimate a, b;
    cr_assert_eq(nlvm_px_mc(&m, &x, 200000, &r, &a), ELBO_OK);
    cr_assert_eq(nlvm_px_is(&m, &x, &qm, &qs, 200000, &r, &b), ELBO_OK);
    cr_assert(a.rel_se * a.rel_se / (b.rel_se * b.rel_se) > 100);
    cr_assert(b.ess > 10 * a.ess, "ESS: IS %.0f vs MC %.0f", b.ess, a.ess);
    cr_assert(fabs(a.p - p) <= AGREE_SE * a.se && fabs(b.p - p) <= AGREE_SE * b.se, "MC %g IS %g exact %g", a.p,
              b.p, p);
    free(z), free(dens);
}

Test(nlvm, grid_posterior_is_normalised_and_multimodal)
{
    nlvm m;
    nlvm_init_notebook(&m);
    const double x[2] = {0.9, -0.9};
    double *z = malloc(GRID_N * sizeof(double)), *dens = malloc(GRID_N * sizeof(double));
    grid_log_px(&m, x, z, dens);
    double h = z[1] - z[0], s = 0, peak = 0;
    for (size_t i = 0; i < GRID_N; i++) {
        s += (i == 0 || i == GRID_N - 1 ? 0.5 : 1.0) * h * dens[i];
        peak = fmax(peak, dens[i]);
    }
    cr_assert(fabs(s - 1) < 1e-12, "posterior integrates to %.17g", s);
    int peaks = 0;
    for (size_t i = 1; i + 1 < GRID_N; i++)
        peaks += dens[i] > dens[i - 1] && dens[i] >= dens[i + 1] && dens[i] > 1e-2 * peak;
    cr_assert(peaks >= 2, "expected a multimodal posterior, found %d peaks", peaks);
    free(z), free(dens);
}

Test(nlvm, gaussian_approximations)
{
    double *z = malloc(GRID_N * sizeof(double)), *dens = malloc(GRID_N * sizeof(double));
    /* exact case */
    nlvm lin = {.dz = 1, .dx = 1, .sigma2 = 0.3, .f = linear_f};
    double x = 1.1, lp = grid_log_px(&lin, &x, z, dens);
    double prec = LIN_A * LIN_A + lin.sigma2, mean = LIN_A * (x - LIN_B) / prec, sd = sqrt(lin.sigma2 / prec);
    nlvm_gauss1 mom, var;
    cr_assert_eq(nlvm_posterior_gauss(&lin, &x, lp, z, dens, GRID_N, &mom, &var), ELBO_OK);
    cr_assert(fabs(mom.mean - mean) < 1e-9 && fabs(mom.sd - sd) < 1e-9, "moment %g %g vs %g %g", mom.mean, mom.sd,
              mean, sd);
    cr_assert(fabs(var.mean - mean) < 1e-5 && fabs(var.sd - sd) < 1e-5, "KL fit %g %g vs %g %g", var.mean, var.sd,
              mean, sd);
    cr_assert(fabs(mom.kl) < 1e-9 && fabs(var.kl) < 1e-9, "KL %g %g", mom.kl, var.kl);
    /* multimodal case: the KL(q||p) fit is mode-seeking and beats the moment match on its own criterion */
    nlvm m;
    nlvm_init_notebook(&m);
    const double xs[2] = {0.9, -0.9};
    lp = grid_log_px(&m, xs, z, dens);
    cr_assert_eq(nlvm_posterior_gauss(&m, xs, lp, z, dens, GRID_N, &mom, &var), ELBO_OK);
    cr_assert(var.kl > 0 && mom.kl > 0, "a Gaussian cannot match a multimodal posterior");
    cr_assert(var.kl <= mom.kl + 1e-12, "KL fit %g worse than moment match %g", var.kl, mom.kl);
    cr_assert(var.sd < mom.sd, "mode-seeking fit should be narrower");
    cr_assert(fabs(nlvm_kl_q_post(&m, xs, lp, var.mean, var.sd) - var.kl) < 1e-12);
    free(z), free(dens);
}

Test(nlvm, ancestral_samples_match_the_marginal)
{
    nlvm m;
    nlvm_init_notebook(&m);
    size_t n = 200000;
    double *x = malloc(n * 2 * sizeof(double)), *z = malloc(n * sizeof(double));
    elbo_rng r;
    elbo_rng_seed(&r, 5);
    cr_assert_eq(nlvm_sample(&m, &r, n, z, x), ELBO_OK);
    /* E[x] = E_z[f(z)], Var[x_j] = Var_z[f_j(z)] + sigma^2 by quadrature over the prior */
    double ef[2] = {0}, ef2[2] = {0}, h = (GRID_HI - GRID_LO) / (GRID_N - 1);
    for (size_t i = 0; i < GRID_N; i++) {
        double zi = GRID_LO + h * (double)i, f[2];
        nlvm_notebook_f(NULL, &zi, 1, f);
        double w = h * exp(-0.5 * zi * zi) / sqrt(2 * M_PI);
        for (int j = 0; j < 2; j++)
            ef[j] += w * f[j], ef2[j] += w * f[j] * f[j];
    }
    for (int j = 0; j < 2; j++) {
        double var = ef2[j] - ef[j] * ef[j] + m.sigma2, mean = 0, s2 = 0;
        for (size_t i = 0; i < n; i++)
            mean += x[i * 2 + j] / (double)n;
        for (size_t i = 0; i < n; i++)
            s2 += (x[i * 2 + j] - mean) * (x[i * 2 + j] - mean) / (double)(n - 1);
        cr_assert(fabs(mean - ef[j]) < 5 * sqrt(var / (double)n), "E[x%d] %g vs %g", j, mean, ef[j]);
        cr_assert(fabs(s2 - var) < 0.02 * var, "Var[x%d] %g vs %g", j, s2, var);
    }
    double zm = 0;
    for (size_t i = 0; i < n; i++)
        zm += z[i] / (double)n;
    cr_assert(fabs(zm) < 5 / sqrt((double)n));
    free(x), free(z);
}

Test(nlvm, two_d_latent_mlp_mc_and_is_agree)
{
    nlvm_mlp mlp;
    elbo_rng r;
    elbo_rng_seed(&r, 6);
    cr_assert_eq(nlvm_mlp_init(&mlp, 2, 12, 4, &r), ELBO_OK);
    nlvm m;
    nlvm_init_mlp(&m, &mlp, 0.2);
    double z[2], x[4];
    cr_assert_eq(nlvm_sample(&m, &r, 1, z, x), ELBO_OK);
    nlvm_estimate a, b;
    cr_assert_eq(nlvm_px_mc(&m, x, 400000, &r, &a), ELBO_OK);
    double qm[2] = {z[0], z[1]}, qs[2] = {0.8, 0.8}; /* a proposal around the true latent */
    cr_assert_eq(nlvm_px_is(&m, x, qm, qs, 100000, &r, &b), ELBO_OK);
    double se = sqrt(a.se * a.se + b.se * b.se);
    cr_assert(fabs(a.p - b.p) < AGREE_SE * se, "MC %g IS %g se %g", a.p, b.p, se);
    nlvm_mlp_free(&mlp);
}

Test(nlvm, bad_arguments)
{
    nlvm m;
    nlvm_init_notebook(&m);
    double x[2] = {0, 0}, qm = 0, qs = 0, d[4];
    nlvm_estimate e;
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    cr_assert_eq(nlvm_px_is(&m, x, &qm, &qs, 100, &r, &e), ELBO_ERR_INVALID);
    cr_assert_eq(nlvm_posterior_grid(&m, x, 1, 0, 4, NULL, d, NULL), ELBO_ERR_INVALID);
    m.sigma2 = 0;
    cr_assert_eq(nlvm_px_mc(&m, x, 100, &r, &e), ELBO_ERR_INVALID);
}
