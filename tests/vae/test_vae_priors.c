/* The learned priors (models/vae/prior_vamp.c, prior_mog.c,
 * prior_mog_init.c), each against an independent computation in double:
 * the mixture's density summed component by component, the VampPrior's as
 * an explicit loop over pseudo-inputs through the encoder; gradients with
 * respect to the prior's parameters and to z against central differences;
 * draws against the prior's moments; the EM start against models/mog's fit
 * of the same points; a params.csv in and out; the Hungarian cluster
 * accuracy against brute force; same bits for 1 and 2 threads; checkpoint
 * and resume; safetensors; and bad input (unknown name, K out of range, an
 * init file of the wrong shape, free bits). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/csv.h"
#include "models/metrics/cluster.h"
#include "models/mog/mog.h"
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "models/vae/vae_safetensors.h"
#include "models/vae/vae_train.h"
#include "ops/pool.h"
#include "test_util.h"
#include "vae_fixture.h"

#define LOG2PI 1.8378770664093453

static elbo_tape *tape(void)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    return t;
}

static elbo_vae_config prior_config(int prior, int k, int z, int squash)
{
    elbo_vae_config c = fx_config(12, z, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    c.prior = prior;
    c.prior_k = k;
    c.prior_squash = squash;
    return c;
}

static elbo_vae model(elbo_vae_config c, uint64_t seed)
{
    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    return m;
}

static float *prior_param(elbo_vae *m, int k) { return elbo_param_w(&m->params, m->prior_ids[k]); }

/* Spread the mixture's parameters so components differ in weight, place and width. */
static void spread_mog(elbo_vae *m, uint64_t seed)
{
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    tu_fill_uniform(prior_param(m, 0), (size_t)K, -1.0f, 1.0f, seed);
    tu_fill_uniform(prior_param(m, 1), (size_t)K * Z, -2.0f, 2.0f, seed + 1);
    tu_fill_uniform(prior_param(m, 2), (size_t)K * Z, -1.0f, 0.5f, seed + 2);
}

/* log Pr(z) of the mixture prior, component by component in double. */
static double mog_density(elbo_vae *m, const float *z)
{
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim;
    const float *a = prior_param(m, 0), *mu = prior_param(m, 1), *lv = prior_param(m, 2);
    double asum = 0.0, p = 0.0;
    for (int k = 0; k < K; k++)
        asum += exp((double)a[k]);
    for (int k = 0; k < K; k++) {
        double dens = exp((double)a[k]) / asum;
        for (int j = 0; j < Z; j++) {
            double v = exp((double)lv[k * Z + j]), d = z[j] - mu[k * Z + j];
            dens *= exp(-0.5 * d * d / v) / sqrt(2.0 * M_PI * v);
        }
        p += dens;
    }
    return log(p);
}

/* The squashed pseudo-inputs in double, then the encoder's Gaussians
 * (elbo_vae_encode on them), then log 1/K sum_k Norm[z; mu_k, sigma_k^2]. */
static double vamp_density(elbo_vae *m, elbo_tape *t, const float *z)
{
    const int K = m->cfg.prior_k, Z = m->cfg.z_dim, D = m->cfg.x_dim;
    float *u = malloc((size_t)K * D * sizeof(float)), *mu = malloc((size_t)K * Z * sizeof(float)),
          *lv = malloc((size_t)K * Z * sizeof(float));
    const float *a = prior_param(m, 0);
    for (int i = 0; i < K * D; i++) {
        double x = a[i];
        u[i] = (float)(m->cfg.prior_squash == ELBO_VAE_SQUASH_SIGMOID    ? 1.0 / (1.0 + exp(-x))
                       : m->cfg.prior_squash == ELBO_VAE_SQUASH_HARDTANH ? fmin(fmax(x, 0.0), 1.0)
                                                                         : x);
    }
    cr_assert_eq(elbo_vae_encode(m, t, u, NULL, (size_t)K, 0, mu, lv), ELBO_OK, "%s", elbo_last_error());
    double p = 0.0;
    for (int k = 0; k < K; k++) {
        double dens = 1.0 / K;
        for (int j = 0; j < Z; j++) {
            double v = exp((double)lv[k * Z + j]), d = z[j] - mu[k * Z + j];
            dens *= exp(-0.5 * d * d / v) / sqrt(2.0 * M_PI * v);
        }
        p += dens;
    }
    free(u), free(mu), free(lv);
    return log(p);
}

static void check_log_prob(elbo_vae *m, double (*want)(elbo_vae *, elbo_tape *, const float *))
{
    enum { B = 7 };
    const int Z = m->cfg.z_dim;
    elbo_tape *t = tape();
    float *z = malloc((size_t)B * Z * sizeof(float));
    tu_fill_uniform(z, (size_t)B * Z, -2.5f, 2.5f, 77);
    elbo_node *lp = elbo_vae_prior(m->cfg.prior)->log_prob(t, m, elbo_ad_input(t, B, Z, z));
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(lp->rows, B);
    cr_assert_eq(lp->cols, 1);
    float got[B];
    memcpy(got, lp->x, sizeof got);
    for (int b = 0; b < B; b++) {
        double w = want(m, t, z + b * Z);
        cr_expect(fabs(got[b] - w) < 1e-4 * (1.0 + fabs(w)), "row %d: log Pr(z) %.6f, direct %.6f", b, got[b], w);
    }
    free(z);
    elbo_tape_destroy(t);
}

static double mog_density_t(elbo_vae *m, elbo_tape *t, const float *z)
{
    (void)t;
    return mog_density(m, z);
}

Test(vae_priors, mog_log_density_is_the_mixture)
{
    elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_MOG, 5, 3, 0), 1);
    spread_mog(&m, 3);
    check_log_prob(&m, mog_density_t);
    /* A far point: every component underflows in float, the logsumexp does not. */
    elbo_tape *t = tape();
    float far[3] = {40.0f, -35.0f, 30.0f};
    elbo_node *lp = elbo_prior_mog.log_prob(t, &m, elbo_ad_input(t, 1, 3, far));
    cr_expect(isfinite(lp->x[0]) && lp->x[0] < -1000.0f, "far point: %g", lp->x[0]);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_priors, vamp_log_density_is_the_average_posterior)
{
    for (int squash = 0; squash <= ELBO_VAE_SQUASH_HARDTANH; squash++) {
        elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_VAMP, 6, 3, squash), 2 + squash);
        /* pseudo-inputs spread over (and past) [0,1] so every squashing branch is taken */
        tu_fill_uniform(prior_param(&m, 0), 6 * FX_D, -0.5f, 1.5f, 10 + squash);
        check_log_prob(&m, vamp_density);
        elbo_vae_free(&m);
    }
}

/* sum_b log Pr(z_b) with z a parameter too: its gradient, and the prior's,
 * against central differences in double. */
static void check_prior_grad(elbo_vae *m, float h, double tol)
{
    enum { B = 4 };
    const int Z = m->cfg.z_dim;
    elbo_params zp;
    elbo_params_init(&zp);
    int zid = elbo_params_add_nd(&zp, "z", 2, (const int[]){B, Z});
    cr_assert_eq(elbo_params_finalize(&zp), ELBO_OK);
    tu_fill_uniform(elbo_param_w(&zp, zid), (size_t)B * Z, -2.0f, 2.0f, 5);
    elbo_tape *t = tape();
    const elbo_vae_prior_ops *p = elbo_vae_prior(m->cfg.prior);
#define LOSS() elbo_ad_sum(t, p->log_prob(t, m, elbo_ad_param(t, &zp, zid)))
    elbo_params_zero_grad(&m->params);
    elbo_params_zero_grad(&zp);
    elbo_node *L = LOSS();
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_backward(t, L), ELBO_OK, "%s", elbo_last_error());
    /* the coordinates: all of z, a spread of every prior parameter */
    struct { elbo_params *ps; int id; } which[1 + ELBO_VAE_MAX_PART_PARAMS];
    int nw = 0;
    which[nw].ps = &zp, which[nw++].id = zid;
    for (int k = 0; k < ELBO_VAE_MAX_PART_PARAMS && m->prior_ids[k] >= 0; k++)
        which[nw].ps = &m->params, which[nw++].id = m->prior_ids[k];
    int checked = 0;
    for (int w = 0; w < nw; w++) {
        elbo_params *ps = which[w].ps;
        const elbo_param_info *in = &ps->info[which[w].id];
        size_t cnt = (size_t)in->rows * (size_t)in->cols;
        for (size_t i = 0; i < cnt; i += 1 + cnt / 9) {
            float *x = elbo_param_w(ps, which[w].id) + i, x0 = *x;
            double an = elbo_param_g(ps, which[w].id)[i];
            *x = x0 + h;
            elbo_tape_reset(t);
            double lp = LOSS()->x[0];
            *x = x0 - h;
            elbo_tape_reset(t);
            double lm = LOSS()->x[0];
            *x = x0;
            double fd = (lp - lm) / (2.0 * h);
            cr_expect(fabs(fd - an) <= tol * (1.0 + fabs(fd)), "%s[%zu]: analytic %.6g, finite difference %.6g",
                      in->name, i, an, fd);
            checked++;
        }
    }
#undef LOSS
    cr_expect_gt(checked, 10);
    elbo_tape_destroy(t);
    elbo_params_free(&zp);
}

Test(vae_priors, mog_gradients_match_finite_differences)
{
    elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_MOG, 4, 3, 0), 4);
    spread_mog(&m, 8);
    check_prior_grad(&m, 2e-3f, 2e-2);
    elbo_vae_free(&m);
}

Test(vae_priors, vamp_gradients_match_finite_differences)
{
    /* sigmoid: smooth everywhere; hard-tanh: pseudo-inputs inside (0,1), away from its kinks */
    for (int squash = ELBO_VAE_SQUASH_SIGMOID; squash <= ELBO_VAE_SQUASH_HARDTANH; squash++) {
        elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_VAMP, 3, 3, squash), 5);
        tu_fill_uniform(prior_param(&m, 0), 3 * FX_D, 0.1f, 0.9f, 6);
        check_prior_grad(&m, 2e-3f, 2e-2);
        elbo_vae_free(&m);
    }
}

/* The whole ELBO with a learned prior (KL from the draws): every parameter. */
Test(vae_priors, elbo_gradient_with_learned_priors)
{
    const int B = 3;
    for (int prior = ELBO_VAE_PRIOR_VAMP; prior <= ELBO_VAE_PRIOR_MOG; prior++) {
        elbo_vae m = model(prior_config(prior, 3, 3, ELBO_VAE_SQUASH_SIGMOID), 11);
        elbo_tape *t = tape();
        float x[3 * FX_D], eps[3 * 3];
        tu_fill_uniform(x, sizeof x / sizeof x[0], 0.0f, 1.0f, 12);
        elbo_rng r;
        elbo_rng_seed(&r, 13);
        elbo_rng_normal_f32(&r, eps, 9);
        elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
        elbo_node *loss;
        elbo_vae_batch_stats st;
        elbo_params_zero_grad(&m.params);
        cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &st), ELBO_OK, "%s", elbo_last_error());
        cr_expect(fabs(st.neg_elbo - st.loss) < 1e-3 * fabs(st.loss), "loss is the -ELBO");
        cr_assert_eq(elbo_backward(t, loss), ELBO_OK);
        float *g = malloc(m.params.n * sizeof(float));
        memcpy(g, m.params.g, m.params.n * sizeof(float));
        int checked = 0;
        for (int i = 0; i < m.params.count; i++) {
            size_t cnt = (size_t)m.params.info[i].rows * (size_t)m.params.info[i].cols;
            for (size_t k = 0; k < cnt; k += 1 + cnt / 5) {
                float *w = m.params.w + m.params.info[i].offset + k, w0 = *w;
                const float h = 2e-3f;
                double v[2];
                for (int s = 0; s < 2; s++) {
                    *w = w0 + (s ? -h : h);
                    elbo_tape_reset(t);
                    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, NULL), ELBO_OK);
                    v[s] = loss->x[0];
                }
                *w = w0;
                double fd = (v[0] - v[1]) / (2.0 * h), an = g[m.params.info[i].offset + k];
                cr_expect(fabs(fd - an) <= 2e-2 + 2e-2 * fabs(fd), "%s %s[%zu]: analytic %.6g, fd %.6g",
                          elbo_vae_prior(prior)->name, m.params.info[i].name, k, an, fd);
                checked++;
            }
        }
        cr_expect_gt(checked, 20);
        free(g);
        elbo_tape_destroy(t);
        elbo_vae_free(&m);
    }
}

/* Mean and variance per dimension of n draws against the prior's own. */
static void check_moments(elbo_vae *m, const double *mean, const double *var, size_t n)
{
    const int Z = m->cfg.z_dim;
    float *z = malloc(n * Z * sizeof(float));
    elbo_rng r;
    elbo_rng_seed(&r, 31);
    cr_assert_eq(elbo_vae_prior(m->cfg.prior)->sample(m, &r, z, n), ELBO_OK, "%s", elbo_last_error());
    for (int j = 0; j < Z; j++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++)
            s += z[i * Z + j], s2 += (double)z[i * Z + j] * z[i * Z + j];
        double mu = s / n, v = s2 / n - mu * mu;
        /* 5 standard errors of the mean; 5% on the variance (n = 200000) */
        cr_expect(fabs(mu - mean[j]) < 5.0 * sqrt(var[j] / n), "dim %d: mean %.4f, expected %.4f", j, mu, mean[j]);
        cr_expect(fabs(v - var[j]) < 0.05 * var[j], "dim %d: variance %.4f, expected %.4f", j, v, var[j]);
    }
    free(z);
}

Test(vae_priors, draws_match_the_prior_moments)
{
    enum { N = 200000, Z = 3 };
    double mean[Z], var[Z];
    /* mixture: E z = sum pi_k m_k, Var z = sum pi_k (s_k + m_k^2) - (E z)^2 */
    elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_MOG, 4, Z, 0), 1);
    spread_mog(&m, 40);
    const float *a = prior_param(&m, 0), *mu = prior_param(&m, 1), *lv = prior_param(&m, 2);
    double asum = 0.0;
    for (int k = 0; k < 4; k++)
        asum += exp((double)a[k]);
    for (int j = 0; j < Z; j++) {
        double e = 0.0, e2 = 0.0;
        for (int k = 0; k < 4; k++) {
            double pk = exp((double)a[k]) / asum;
            e += pk * mu[k * Z + j];
            e2 += pk * (exp((double)lv[k * Z + j]) + (double)mu[k * Z + j] * mu[k * Z + j]);
        }
        mean[j] = e, var[j] = e2 - e * e;
    }
    check_moments(&m, mean, var, N);
    elbo_vae_free(&m);

    /* VampPrior: the same with pi_k = 1/K and the encoder's Gaussians at the pseudo-inputs */
    elbo_vae v = model(prior_config(ELBO_VAE_PRIOR_VAMP, 5, Z, ELBO_VAE_SQUASH_HARDTANH), 2);
    tu_fill_uniform(prior_param(&v, 0), 5 * FX_D, -0.2f, 1.2f, 41);
    elbo_tape *t = tape();
    float u[5 * FX_D], qm[5 * Z], ql[5 * Z];
    for (int i = 0; i < 5 * FX_D; i++)
        u[i] = fminf(fmaxf(prior_param(&v, 0)[i], 0.0f), 1.0f);
    cr_assert_eq(elbo_vae_encode(&v, t, u, NULL, 5, 0, qm, ql), ELBO_OK);
    for (int j = 0; j < Z; j++) {
        double e = 0.0, e2 = 0.0;
        for (int k = 0; k < 5; k++) {
            e += qm[k * Z + j] / 5.0;
            e2 += (exp((double)ql[k * Z + j]) + (double)qm[k * Z + j] * qm[k * Z + j]) / 5.0;
        }
        mean[j] = e, var[j] = e2 - e * e;
    }
    check_moments(&v, mean, var, N);
    elbo_tape_destroy(t);
    elbo_vae_free(&v);
}

/* Points from three separated clusters in Z dimensions. */
static void cluster_points(float *x, uint8_t *lab, size_t n, int Z, uint64_t seed)
{
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % 3);
        lab[i] = (uint8_t)c;
        for (int j = 0; j < Z; j++)
            x[i * Z + j] = (float)(4.0 * (j == c % Z ? 1 : 0) * (c + 1) + (0.3 + 0.2 * c) * elbo_rng_normal(&r));
    }
}

Test(vae_priors, em_start_is_models_mog_fit)
{
    enum { N = 600, Z = 3, K = 3 };
    float x[N * Z];
    uint8_t lab[N];
    cluster_points(x, lab, N, Z, 50);
    elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_MOG, K, Z, 0), 1);
    mog_result got;
    cr_assert_eq(elbo_vae_prior_mog_fit(&m, x, NULL, N, 7, 100, &got), ELBO_OK, "%s", elbo_last_error());

    /* models/mog directly on the same points */
    double xd[N * Z];
    for (int i = 0; i < N * Z; i++)
        xd[i] = x[i];
    mog_config cfg;
    mog_config_default(&cfg, K);
    cfg.cov = MOG_COV_DIAG;
    cfg.seed = 7;
    mog_result want;
    cr_assert_eq(mog_fit(xd, N, Z, &cfg, &want), ELBO_OK);
    cr_expect_eq(got.iterations, want.iterations);
    double tab[K * (2 + 2 * Z)];
    cr_assert_eq(elbo_vae_prior_mog_table(&m, tab), ELBO_OK);
    for (int k = 0; k < K; k++) {
        const double *row = tab + k * (2 + 2 * Z);
        cr_expect(fabs(row[1] - want.params.weights[k]) < 1e-6, "weight %d: %.8f vs %.8f", k, row[1],
                  want.params.weights[k]);
        for (int j = 0; j < Z; j++) {
            cr_expect(fabs(row[2 + j] - want.params.means[k * Z + j]) < 1e-5 * (1 + fabs(want.params.means[k * Z + j])));
            cr_expect(fabs(row[2 + Z + j] - want.params.covars[k * Z + j]) < 1e-5 * want.params.covars[k * Z + j],
                      "variance %d,%d: %.8g vs %.8g", k, j, row[2 + Z + j], want.params.covars[k * Z + j]);
        }
    }
    /* Its clusters are the true ones, up to the names. */
    int cl[N];
    cr_assert_eq(elbo_vae_prior_mog_responsibilities(&m, x, N, NULL, cl), ELBO_OK);
    double acc;
    cr_assert_eq(elbo_cluster_accuracy(cl, lab, N, K, 3, &acc, NULL, NULL), ELBO_OK);
    cr_expect_gt(acc, 0.99);

    /* With the posterior variances: each component's variance grows by its points' mean sigma^2. */
    float lv[N * Z];
    for (int i = 0; i < N * Z; i++)
        lv[i] = logf(0.25f);
    cr_assert_eq(elbo_vae_prior_mog_fit(&m, x, lv, N, 7, 100, NULL), ELBO_OK);
    double tab2[K * (2 + 2 * Z)];
    cr_assert_eq(elbo_vae_prior_mog_table(&m, tab2), ELBO_OK);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < Z; j++) {
            double a = tab[i * (2 + 2 * Z) + 2 + Z + j], b = tab2[i * (2 + 2 * Z) + 2 + Z + j];
            cr_expect(fabs(b - (a + 0.25)) < 1e-5, "widened variance %.6f, expected %.6f", b, a + 0.25);
        }
    mog_result_free(&got);
    mog_result_free(&want);
    elbo_vae_free(&m);
}

Test(vae_priors, mixture_table_in_and_out)
{
    enum { K = 3, Z = 2 };
    elbo_vae m = model(prior_config(ELBO_VAE_PRIOR_MOG, K, Z, 0), 1);
    spread_mog(&m, 60);
    double tab[K * (2 + 2 * Z)];
    cr_assert_eq(elbo_vae_prior_mog_table(&m, tab), ELBO_OK);
    char *dir = tu_tempdir();
    char path[1024], bad[1024];
    snprintf(path, sizeof path, "%s/prior.csv", dir);
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    static const char *const hdr[6] = {"component", "weight", "mean_0", "mean_1", "var_0", "var_1"};
    cr_assert_eq(elbo_csv_write(path, hdr, tab, K, 6), ELBO_OK);
    elbo_vae n = model(prior_config(ELBO_VAE_PRIOR_MOG, K, Z, 0), 2);
    cr_assert_eq(elbo_vae_prior_mog_load(&n, path), ELBO_OK, "%s", elbo_last_error());
    float z[Z] = {0.3f, -0.7f};
    cr_expect(fabs(mog_density(&m, z) - mog_density(&n, z)) < 1e-5, "the same density after a round trip");

    /* The wrong shape (a 2-component file for a 3-component prior, or another Z): one line, nothing set. */
    float *before = malloc(n.params.n * sizeof(float));
    memcpy(before, n.params.w, n.params.n * sizeof(float));
    cr_assert_eq(elbo_csv_write(bad, hdr, tab, K - 1, 6), ELBO_OK);
    cr_expect_eq(elbo_vae_prior_mog_load(&n, bad), ELBO_ERR_MISMATCH);
    cr_expect(strstr(elbo_last_error(), "expected 3 components") && !strchr(elbo_last_error(), '\n'), "%s",
              elbo_last_error());
    cr_assert_eq(elbo_csv_write(bad, hdr, tab, K, 5), ELBO_OK);
    cr_expect_eq(elbo_vae_prior_mog_load(&n, bad), ELBO_ERR_MISMATCH);
    tab[1] = -0.5; /* a negative weight */
    cr_expect_eq(elbo_vae_prior_mog_set_table(&n, "t", tab, K, 6), ELBO_ERR_FORMAT);
    tab[1] = 0.5, tab[5] = 0.0; /* a zero variance */
    cr_expect_eq(elbo_vae_prior_mog_set_table(&n, "t", tab, K, 6), ELBO_ERR_FORMAT);
    cr_expect(memcmp(before, n.params.w, n.params.n * sizeof(float)) == 0, "a refused table changed the model");
    /* Another prior refuses it. */
    elbo_vae s = model(prior_config(ELBO_VAE_PRIOR_STANDARD_NORMAL, 0, Z, 0), 1);
    cr_expect_eq(elbo_vae_prior_mog_load(&s, path), ELBO_ERR_INVALID);
    remove(path), remove(bad), remove(dir);
    free(dir), free(before);
    elbo_vae_free(&s), elbo_vae_free(&n), elbo_vae_free(&m);
}

/* ---- cluster accuracy ---- */

Test(vae_priors, cluster_accuracy_perfect_and_permuted)
{
    enum { N = 500, C = 7 };
    int cl[N];
    uint8_t lab[N];
    const int perm[C] = {3, 0, 6, 1, 5, 2, 4};
    for (int i = 0; i < N; i++)
        lab[i] = (uint8_t)(i * 13 % C), cl[i] = lab[i];
    double acc, maj;
    int map[C];
    cr_assert_eq(elbo_cluster_accuracy(cl, lab, N, C, C, &acc, &maj, map), ELBO_OK);
    cr_expect_eq(acc, 1.0);
    cr_expect_eq(maj, 1.0);
    for (int i = 0; i < N; i++)
        cl[i] = perm[lab[i]];
    cr_assert_eq(elbo_cluster_accuracy(cl, lab, N, C, C, &acc, &maj, map), ELBO_OK);
    cr_expect_eq(acc, 1.0);
    for (int c = 0; c < C; c++)
        cr_expect_eq(map[perm[c]], c, "cluster %d maps to class %d, expected %d", perm[c], map[perm[c]], c);
    /* Two clusters per class: majority vote still 1, one-to-one only half the clusters match. */
    for (int i = 0; i < N; i++)
        cl[i] = lab[i] + C * (i % 2);
    cr_assert_eq(elbo_cluster_accuracy(cl, lab, N, 2 * C, C, &acc, &maj, NULL), ELBO_OK);
    cr_expect_eq(maj, 1.0);
    cr_expect(fabs(acc - 0.5) < 0.01, "one-to-one %.4f", acc);
    /* Everything in one cluster: the largest class's share. */
    for (int i = 0; i < N; i++)
        cl[i] = 0;
    cr_assert_eq(elbo_cluster_accuracy(cl, lab, N, 1, C, &acc, &maj, NULL), ELBO_OK);
    int most = 0, cnt[C] = {0};
    for (int i = 0; i < N; i++)
        most = ++cnt[lab[i]] > most ? cnt[lab[i]] : most;
    cr_expect_eq(acc, (double)most / N);
    cr_expect_eq(maj, (double)most / N);
    /* Out of range: one line. */
    cl[3] = 9;
    cr_expect_eq(elbo_cluster_accuracy(cl, lab, N, 1, C, &acc, NULL, NULL), ELBO_ERR_INVALID);
}

/* The best of all n! assignments. */
static double brute_force(const double *cost, int n, int *perm, int at, char *used)
{
    if (at == n) {
        double s = 0.0;
        for (int i = 0; i < n; i++)
            s += cost[i * n + perm[i]];
        return s;
    }
    double best = INFINITY;
    for (int j = 0; j < n; j++)
        if (!used[j]) {
            used[j] = 1, perm[at] = j;
            double s = brute_force(cost, n, perm, at + 1, used);
            best = s < best ? s : best;
            used[j] = 0;
        }
    return best;
}

Test(vae_priors, hungarian_matches_brute_force)
{
    for (int trial = 0; trial < 40; trial++) {
        int n = 1 + trial % 7;
        double cost[49];
        float f[49];
        tu_fill_uniform(f, (size_t)n * n, -5.0f, 5.0f, 100 + trial);
        for (int i = 0; i < n * n; i++)
            cost[i] = trial % 3 ? floor(f[i]) : f[i]; /* ties too */
        int assign[7], perm[7];
        char used[7] = {0};
        double got = elbo_hungarian(cost, n, assign);
        double want = brute_force(cost, n, perm, 0, used);
        cr_expect(fabs(got - want) < 1e-9, "n %d: %.6f vs %.6f", n, got, want);
        double s = 0.0;
        char seen[7] = {0};
        for (int i = 0; i < n; i++) {
            cr_expect(assign[i] >= 0 && assign[i] < n && !seen[assign[i]], "not a permutation");
            seen[assign[i]] = 1;
            s += cost[i * n + assign[i]];
        }
        cr_expect(fabs(s - got) < 1e-9);
    }
}

/* ---- training: threads, checkpoints, safetensors ---- */

static void train_steps(elbo_vae_trainer *tr, long steps)
{
    for (long s = 0; s < steps; s++) {
        bool end;
        cr_assert_eq(elbo_vae_trainer_step(tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
}

Test(vae_priors, same_bits_for_one_and_two_threads)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(512, 0.1f, 5, 6, &train), ELBO_OK);
    for (int prior = ELBO_VAE_PRIOR_VAMP; prior <= ELBO_VAE_PRIOR_MOG; prior++) {
        elbo_vae_config c = prior_config(prior, 40, 8, ELBO_VAE_SQUASH_HARDTANH);
        c.hidden[0] = 300; /* wide enough that GEMMs split into several tasks */
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        float *w[2];
        size_t n = 0;
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(elbo_set_threads(k + 1), ELBO_OK);
            elbo_vae m = model(c, 8);
            elbo_vae_trainer tr;
            cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK);
            train_steps(&tr, 6);
            n = m.params.n;
            w[k] = malloc(n * sizeof(float));
            memcpy(w[k], m.params.w, n * sizeof(float));
            elbo_vae_trainer_free(&tr);
            elbo_vae_free(&m);
        }
        elbo_set_threads(1);
        cr_expect(memcmp(w[0], w[1], n * sizeof(float)) == 0, "%s: 1 and 2 threads trained different weights",
                  elbo_vae_prior(prior)->name);
        free(w[0]), free(w[1]);
    }
    elbo_dataset_free(&train);
}

Test(vae_priors, checkpoint_resume_is_bit_identical)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(300, 0.1f, 5, 6, &train), ELBO_OK);
    char *dir = tu_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/ck.ckpt", dir);
    for (int prior = ELBO_VAE_PRIOR_VAMP; prior <= ELBO_VAE_PRIOR_MOG; prior++) {
        elbo_vae_config c = prior_config(prior, 7, 3, ELBO_VAE_SQUASH_SIGMOID);
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        tc.batch = 64;
        elbo_vae a = model(c, 8), b = model(c, 8);
        elbo_vae_trainer ta, tb;
        cr_assert_eq(elbo_vae_trainer_init(&ta, &a, &train, &tc), ELBO_OK);
        train_steps(&ta, 11);
        cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
        train_steps(&tb, 5);
        cr_assert_eq(elbo_vae_trainer_save(&tb, path, "{}", NULL, 0), ELBO_OK, "%s", elbo_last_error());
        elbo_vae_trainer_free(&tb);
        elbo_vae_free(&b);
        b = model(c, 99); /* another init: everything must come from the checkpoint */
        cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
        cr_assert_eq(elbo_vae_trainer_load(&tb, path, "{}", NULL, NULL), ELBO_OK, "%s", elbo_last_error());
        train_steps(&tb, 6);
        cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0, "%s: weights differ after resume",
                  elbo_vae_prior(prior)->name);
        cr_expect(memcmp(a.params.v, b.params.v, a.params.n * sizeof(float)) == 0);
        /* The model alone, with its prior's K and squashing from the checkpoint. */
        elbo_vae only;
        cr_assert_eq(elbo_vae_load_model(path, &only), ELBO_OK, "%s", elbo_last_error());
        cr_expect(elbo_vae_config_equal(&only.cfg, &c));
        cr_expect_eq(only.cfg.prior_k, 7);
        elbo_vae_free(&only);
        /* Another K is another architecture. */
        elbo_vae_config c2 = c;
        c2.prior_k = 8;
        elbo_vae o = model(c2, 1);
        elbo_vae_trainer to;
        cr_assert_eq(elbo_vae_trainer_init(&to, &o, &train, &tc), ELBO_OK);
        cr_expect_eq(elbo_vae_trainer_load(&to, path, "{}", NULL, NULL), ELBO_ERR_MISMATCH);
        elbo_vae_trainer_free(&to);
        elbo_vae_free(&o);
        elbo_vae_trainer_free(&ta), elbo_vae_trainer_free(&tb);
        elbo_vae_free(&a), elbo_vae_free(&b);
    }
    /* The prior record decoder refuses what cannot be. */
    elbo_vae_config c = elbo_vae_config_default();
    const float good[3] = {1, 10, 2}, bad_k[3] = {1, 0, 2}, bad_sq[3] = {1, 10, 3}, bad_v[3] = {2, 10, 0};
    cr_expect_eq(elbo_vae_prior_record_decode(good, 3, &c), ELBO_OK);
    cr_expect(c.prior_k == 10 && c.prior_squash == 2);
    cr_expect_eq(elbo_vae_prior_record_decode(bad_k, 3, &c), ELBO_ERR_FORMAT);
    cr_expect_eq(elbo_vae_prior_record_decode(bad_sq, 3, &c), ELBO_ERR_FORMAT);
    cr_expect_eq(elbo_vae_prior_record_decode(bad_v, 3, &c), ELBO_ERR_FORMAT);
    cr_expect_eq(elbo_vae_prior_record_decode(good, 2, &c), ELBO_ERR_FORMAT);
    remove(path), remove(dir);
    free(dir);
    elbo_dataset_free(&train);
}

Test(vae_priors, safetensors_round_trip)
{
    char *dir = tu_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    for (int prior = ELBO_VAE_PRIOR_VAMP; prior <= ELBO_VAE_PRIOR_MOG; prior++) {
        elbo_vae_config c = prior_config(prior, 4, 3, ELBO_VAE_SQUASH_HARDTANH);
        elbo_vae a = model(c, 1), b = model(c, 2);
        cr_assert_eq(elbo_vae_save_safetensors(&a, path), ELBO_OK, "%s", elbo_last_error());
        cr_assert_eq(elbo_vae_load_safetensors(&b, path), ELBO_OK, "%s", elbo_last_error());
        cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0, "%s: weights differ",
                  elbo_vae_prior(prior)->name);
        /* A model with the standard normal prior has no place for the prior's tensors. */
        elbo_vae s = model(prior_config(ELBO_VAE_PRIOR_STANDARD_NORMAL, 0, 3, 0), 1);
        cr_expect_eq(elbo_vae_load_safetensors(&s, path), ELBO_ERR_MISMATCH);
        cr_expect(strstr(elbo_last_error(), "prior.") != NULL, "%s", elbo_last_error());
        elbo_vae_free(&s), elbo_vae_free(&a), elbo_vae_free(&b);
    }
    remove(path), remove(dir);
    free(dir);
}

/* ---- bad input ---- */

Test(vae_priors, bad_input_is_one_line)
{
    int id = -1;
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_PRIOR, "vampire", &id), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "normal, hier2, vamp or mog") && !strchr(elbo_last_error(), '\n'), "%s",
              elbo_last_error());
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_PRIOR, "mog", &id), ELBO_OK);
    cr_expect_eq(id, ELBO_VAE_PRIOR_MOG);
    /* ids are stored in checkpoints: appended, never reordered */
    cr_expect_eq(ELBO_VAE_PRIOR_STANDARD_NORMAL, 0);
    cr_expect_eq(ELBO_VAE_PRIOR_HIER2, 1);
    cr_expect_eq(ELBO_VAE_PRIOR_VAMP, 2);
    cr_expect_eq(ELBO_VAE_PRIOR_MOG, 3);

    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    const int bad_k[3] = {0, -1, ELBO_VAE_PRIOR_K_MAX + 1};
    for (int i = 0; i < 3; i++) {
        elbo_vae_config c = prior_config(ELBO_VAE_PRIOR_MOG, bad_k[i], 3, 0);
        cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "K = %d accepted", bad_k[i]);
        cr_expect(strstr(elbo_last_error(), "components") && !strchr(elbo_last_error(), '\n'), "%s",
                  elbo_last_error());
    }
    elbo_vae_config c = prior_config(ELBO_VAE_PRIOR_STANDARD_NORMAL, 5, 3, 0);
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "a normal prior with K");
    c = prior_config(ELBO_VAE_PRIOR_VAMP, 5, 3, 7);
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "unknown squashing");
    c = prior_config(ELBO_VAE_PRIOR_VAMP, 5, 3, 0);
    c.n_classes = FX_CLASSES;
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "a conditional VampPrior");
    cr_expect(strstr(elbo_last_error(), "unconditional") != NULL, "%s", elbo_last_error());

    /* Free bits need a closed-form KL per dimension: refused in one line. */
    elbo_vae g = model(prior_config(ELBO_VAE_PRIOR_MOG, 3, 3, 0), 1);
    elbo_tape *t = tape();
    float x[2 * FX_D];
    tu_fill_uniform(x, 2 * FX_D, 0.0f, 1.0f, 3);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.free_bits = 0.5f;
    elbo_node *loss;
    cr_expect_eq(elbo_vae_loss(&g, t, x, NULL, 2, &o, &r, NULL, &loss, NULL), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "free bits") && strstr(elbo_last_error(), "mog"), "%s", elbo_last_error());
    elbo_tape_destroy(t);
    elbo_vae_free(&g);
}
