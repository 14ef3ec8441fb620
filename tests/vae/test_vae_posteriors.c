/* The posterior families beyond the diagonal Gaussian (docs/POSTERIORS.md),
 * each against an independent computation in double:
 *   full-gaussian  log q against the multivariate normal density through an
 *                  independent Cholesky factorization of Sigma = L L^T, the
 *                  draw against mu + L eps, the empirical covariance of many
 *                  draws against L L^T, the closed-form KL (and its split by
 *                  rows of L, which free bits floor) against its formula and
 *                  a Monte Carlo estimate, the free-bits gradient;
 *   planar, iaf    log q at a draw against the change of variables with the
 *                  Jacobian of the flow map by central finite differences and
 *                  its determinant by LU (and, for one IAF step, the Jacobian
 *                  triangular in the masks' order);
 * and for every family: the gradient of the ELBO and the IWAE bound against
 * finite differences, a short training run (loss down, IW bound finite and
 * below the ELBO), same bits for 1 and 2 threads, checkpoint save/resume bit
 * for bit, and the refusals (unknown names, K out of range, free bits and
 * safetensors with a flow, a flow's log q at a foreign z). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae/component.h"
#include "models/vae/vae_safetensors.h"
#include "models/vae/vae_train.h"
#include "ops/pool.h"
#include "test_util.h"
#include "vae_fixture.h"

#define LOG2PI 1.8378770664093453
#define NPOST 4

static const int families[NPOST] = {ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN, ELBO_VAE_POSTERIOR_FULL_GAUSSIAN,
                                    ELBO_VAE_POSTERIOR_PLANAR, ELBO_VAE_POSTERIOR_IAF};

static elbo_tape *tape(void)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 22), ELBO_OK);
    return t;
}

/* A fixture config with posterior `post` (flows: K steps, IAF hidden 12). */
static elbo_vae_config cfg_with(int hidden, int z, int post, int K)
{
    elbo_vae_config c = fx_config(hidden, z, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    c.posterior = post;
    if (post == ELBO_VAE_POSTERIOR_PLANAR || post == ELBO_VAE_POSTERIOR_IAF)
        c.flow_steps = K;
    if (post == ELBO_VAE_POSTERIOR_IAF)
        c.flow_hidden = 12;
    return c;
}

static elbo_vae model_with(elbo_vae_config c, uint64_t seed)
{
    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    return m;
}

/* ---- double-precision linear algebra, independent of the library ---- */

/* Cholesky of the SPD (n,n) a into l (lower); false if not positive definite. */
static bool cholesky(const double *a, int n, double *l)
{
    memset(l, 0, (size_t)n * n * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = a[i * n + j];
            for (int k = 0; k < j; k++)
                s -= l[i * n + k] * l[j * n + k];
            if (i == j) {
                if (s <= 0.0)
                    return false;
                l[i * n + i] = sqrt(s);
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    return true;
}

/* log |det a| of the (n,n) a by LU with partial pivoting (a is overwritten). */
static double log_abs_det(double *a, int n)
{
    double s = 0.0;
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                p = r;
        if (p != c)
            for (int k = 0; k < n; k++) {
                double tmp = a[c * n + k];
                a[c * n + k] = a[p * n + k];
                a[p * n + k] = tmp;
            }
        double piv = a[c * n + c];
        cr_assert(piv != 0.0, "singular Jacobian");
        s += log(fabs(piv));
        for (int r = c + 1; r < n; r++) {
            double f = a[r * n + c] / piv;
            for (int k = c; k < n; k++)
                a[r * n + k] -= f * a[c * n + k];
        }
    }
    return s;
}

/* log Norm[z; mu, Sigma] in double via the Cholesky factor of Sigma. */
static double mvn_logpdf(const double *z, const double *mu, const double *sigma, int n)
{
    double l[64], y[8];
    cr_assert(n <= 8 && cholesky(sigma, n, l), "Sigma is not positive definite");
    double quad = 0.0, logdet = 0.0;
    for (int i = 0; i < n; i++) {
        double s = z[i] - mu[i];
        for (int k = 0; k < i; k++)
            s -= l[i * n + k] * y[k];
        y[i] = s / l[i * n + i];
        quad += y[i] * y[i];
        logdet += 2.0 * log(l[i * n + i]);
    }
    return -0.5 * (quad + logdet + n * LOG2PI);
}

/* L (Z,Z) of row b of the full-gaussian parameters, in double. */
static void chol_factor(const float *lv, const float *off, int b, int Z, double *L)
{
    const int P = Z * (Z - 1) / 2;
    memset(L, 0, (size_t)Z * Z * sizeof(double));
    for (int i = 0, p = 0; i < Z; i++) {
        L[i * Z + i] = exp(0.5 * lv[b * Z + i]);
        for (int j = 0; j < i; j++, p++)
            L[i * Z + j] = off[b * P + p];
    }
}

/* ---- full-covariance Gaussian ---- */

Test(vae_posteriors, full_gaussian_log_q_matches_the_mvn_density)
{
    enum { B = 5, Z = 4, P = Z * (Z - 1) / 2 };
    elbo_vae m = model_with(cfg_with(8, Z, ELBO_VAE_POSTERIOR_FULL_GAUSSIAN, 0), 1);
    cr_expect_eq(elbo_vae_posterior(ELBO_VAE_POSTERIOR_FULL_GAUSSIAN)->head_size(Z), 2 * Z + P);
    elbo_tape *t = tape();
    float mu[B * Z], lv[B * Z], off[B * P], z[B * Z], eps[B * Z];
    tu_fill_uniform(mu, B * Z, -2.0f, 2.0f, 2);
    tu_fill_uniform(lv, B * Z, -2.0f, 1.0f, 3);
    tu_fill_uniform(off, B * P, -1.0f, 1.0f, 4);
    tu_fill_uniform(z, B * Z, -3.0f, 3.0f, 5);
    tu_fill_uniform(eps, B * Z, -2.5f, 2.5f, 6);
    elbo_vae_qparams q = {.mu = elbo_ad_input(t, B, Z, mu), .logvar = elbo_ad_input(t, B, Z, lv),
                          .extra = {elbo_ad_input(t, B, P, off)}, .n_extra = 1};
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(ELBO_VAE_POSTERIOR_FULL_GAUSSIAN);
    elbo_node *lp = post->log_prob(t, &m, &q, elbo_ad_input(t, B, Z, z));
    elbo_node *zs = post->sample(t, &m, &q, NULL, eps);
    elbo_node *ls = post->log_q_sample(t, &m, &q, zs);
    elbo_node *lps = post->log_prob(t, &m, &q, zs); /* the triangular solve at the draw */
    elbo_node *kl = post->kl(t, &m, &q), *kd = post->kl_dims(t, &m, &q);
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    for (int b = 0; b < B; b++) {
        double L[Z * Z], S[Z * Z], zd[Z], md[Z], zdraw[Z];
        chol_factor(lv, off, b, Z, L);
        for (int i = 0; i < Z; i++)
            for (int j = 0; j < Z; j++) {
                S[i * Z + j] = 0.0;
                for (int k = 0; k < Z; k++)
                    S[i * Z + j] += L[i * Z + k] * L[j * Z + k];
            }
        for (int i = 0; i < Z; i++) {
            zd[i] = z[b * Z + i], md[i] = mu[b * Z + i];
            zdraw[i] = md[i];
            for (int k = 0; k <= i; k++)
                zdraw[i] += L[i * Z + k] * eps[b * Z + k];
            cr_expect(fabs(zs->x[b * Z + i] - zdraw[i]) < 1e-4 * (1 + fabs(zdraw[i])), "draw row %d dim %d: %.6f vs "
                      "%.6f", b, i, zs->x[b * Z + i], zdraw[i]);
        }
        double want = mvn_logpdf(zd, md, S, Z), want_s = mvn_logpdf(zdraw, md, S, Z);
        cr_expect(fabs(lp->x[b] - want) < 1e-4 * (1 + fabs(want)), "log q row %d: %.6f vs %.6f", b, lp->x[b], want);
        cr_expect(fabs(ls->x[b] - want_s) < 1e-4 * (1 + fabs(want_s)), "log q at the draw row %d: %.6f vs %.6f", b,
                  ls->x[b], want_s);
        cr_expect(fabs(lps->x[b] - want_s) < 1e-3 * (1 + fabs(want_s)), "solve at the draw row %d", b);
        /* KL(Norm[mu, S] || Norm[0, I]) = 1/2 (tr S + mu^T mu - Z - log det S) */
        double tr = 0.0, mm = 0.0, ld = 0.0;
        for (int i = 0; i < Z; i++)
            tr += S[i * Z + i], mm += md[i] * md[i], ld += 2.0 * log(L[i * Z + i]);
        double kl_want = 0.5 * (tr + mm - Z - ld);
        cr_expect(fabs(kl->x[b] - kl_want) < 1e-4 * (1 + kl_want), "KL row %d: %.6f vs %.6f", b, kl->x[b], kl_want);
        /* per row j of L: 1/2 (Sigma_jj + mu_j^2 - 1 - lv_j), summing to the KL */
        for (int j = 0; j < Z; j++) {
            double kj = 0.5 * (S[j * Z + j] + md[j] * md[j] - 1.0 - lv[b * Z + j]);
            cr_expect(fabs(kd->x[b * Z + j] - kj) < 1e-4 * (1 + fabs(kj)), "KL row %d term %d: %.6f vs %.6f", b, j,
                      kd->x[b * Z + j], kj);
        }
    }
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_posteriors, full_gaussian_draws_have_covariance_l_lt_and_mc_kl)
{
    enum { N = 40000, Z = 3, P = 3 };
    elbo_vae m = model_with(cfg_with(8, Z, ELBO_VAE_POSTERIOR_FULL_GAUSSIAN, 0), 1);
    elbo_tape *t = tape();
    const float mu1[Z] = {0.5f, -1.0f, 2.0f}, lv1[Z] = {0.2f, -0.7f, -0.3f}, off1[P] = {0.8f, -0.6f, 0.4f};
    float *mu = malloc(N * Z * sizeof(float)), *lv = malloc(N * Z * sizeof(float)), *off = malloc(N * P * sizeof(float));
    for (int n = 0; n < N; n++) {
        memcpy(mu + n * Z, mu1, sizeof mu1);
        memcpy(lv + n * Z, lv1, sizeof lv1);
        memcpy(off + n * P, off1, sizeof off1);
    }
    elbo_vae_qparams q = {.mu = elbo_ad_input(t, N, Z, mu), .logvar = elbo_ad_input(t, N, Z, lv),
                          .extra = {elbo_ad_input(t, N, P, off)}, .n_extra = 1};
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(ELBO_VAE_POSTERIOR_FULL_GAUSSIAN);
    elbo_rng r;
    elbo_rng_seed(&r, 11);
    elbo_node *z = post->sample(t, &m, &q, &r, NULL);
    elbo_node *lq = post->log_q_sample(t, &m, &q, z);
    elbo_node *lp = elbo_vae_prior(ELBO_VAE_PRIOR_STANDARD_NORMAL)->log_prob(t, &m, z);
    elbo_node *kl = post->kl(t, &m, &q);
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    double L[Z * Z], mean[Z] = {0}, cov[Z * Z] = {0}, klmc = 0.0, kl2 = 0.0;
    chol_factor(lv1, off1, 0, Z, L);
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < Z; i++)
            mean[i] += z->x[n * Z + i] / N;
        double k = lq->x[n] - lp->x[n];
        klmc += k / N, kl2 += k * k / N;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < Z; i++)
            for (int j = 0; j < Z; j++)
                cov[i * Z + j] += (z->x[n * Z + i] - mean[i]) * (z->x[n * Z + j] - mean[j]) / (N - 1);
    for (int i = 0; i < Z; i++) {
        cr_expect(fabs(mean[i] - mu1[i]) < 0.03, "mean %d: %.4f vs %.4f", i, mean[i], mu1[i]);
        for (int j = 0; j < Z; j++) {
            double s = 0.0;
            for (int k = 0; k < Z; k++)
                s += L[i * Z + k] * L[j * Z + k];
            /* sd of a covariance estimate ~ sqrt((S_ii S_jj + S_ij^2) / N) < 0.02 here */
            cr_expect(fabs(cov[i * Z + j] - s) < 0.05, "cov[%d,%d]: %.4f vs L L^T %.4f", i, j, cov[i * Z + j], s);
        }
    }
    double sd = sqrt((kl2 - klmc * klmc) / N);
    cr_expect(fabs(klmc - kl->x[0]) < 5.0 * sd + 1e-3, "MC KL %.4f +- %.4f vs closed form %.4f", klmc, sd, kl->x[0]);
    free(mu), free(lv), free(off);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

/* ---- flows: change of variables with a numeric Jacobian ---- */

/* Fill the flow's own parameters with U(-a, a) so the map is far from the identity. */
static void scramble_flow(elbo_vae *m, float a, uint64_t seed)
{
    for (int i = 0; i < ELBO_VAE_MAX_PART_PARAMS && m->post_ids[i] >= 0; i++) {
        const elbo_param_info *in = &m->params.info[m->post_ids[i]];
        tu_fill_uniform(elbo_param_w(&m->params, m->post_ids[i]), (size_t)in->rows * in->cols, -a, a, seed + i);
    }
}

/* Draws of the flow for base points z0 (R,Z) with parameters mu, lv: eps
 * chosen so that mu + sigma eps = z0; returns the z_K node and log q. */
static elbo_node *flow_at(elbo_tape *t, elbo_vae *m, const float *mu, const float *lv, const double *z0, int R,
                          elbo_node **log_q)
{
    const int Z = m->cfg.z_dim;
    float *mr = elbo_tape_alloc(t, (size_t)R * Z), *lr = elbo_tape_alloc(t, (size_t)R * Z);
    float *eps = elbo_tape_alloc(t, (size_t)R * Z);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < Z; j++) {
            mr[r * Z + j] = mu[j], lr[r * Z + j] = lv[j];
            eps[r * Z + j] = (float)((z0[r * Z + j] - mu[j]) / exp(0.5 * lv[j]));
        }
    elbo_vae_qparams q = {.mu = elbo_ad_input(t, R, Z, mr), .logvar = elbo_ad_input(t, R, Z, lr)};
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(m->cfg.posterior);
    elbo_node *z = post->sample(t, m, &q, NULL, eps);
    *log_q = post->log_q_sample(t, m, &q, z);
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    return z;
}

/* log q of the flow at base point z0 against log Norm[z0; mu, sigma^2] -
 * log |det J| with J = dz_K/dz_0 by central differences (step h) and LU.
 * J (Z,Z) is returned in jac. */
static void check_change_of_variables(elbo_vae *m, const float *mu, const float *lv, const double *z0, double *jac)
{
    enum { ZM = 8 };
    const int Z = m->cfg.z_dim, R = 1 + 2 * Z;
    const double h = 1e-2;
    double pts[(1 + 2 * ZM) * ZM];
    cr_assert(Z <= ZM);
    for (int r = 0; r < R; r++)
        memcpy(pts + r * Z, z0, (size_t)Z * sizeof(double));
    for (int j = 0; j < Z; j++) {
        pts[(1 + 2 * j) * Z + j] += h;
        pts[(2 + 2 * j) * Z + j] -= h;
    }
    elbo_tape *t = tape();
    elbo_node *lq;
    elbo_node *z = flow_at(t, m, mu, lv, pts, R, &lq);
    for (int i = 0; i < Z; i++)
        for (int j = 0; j < Z; j++)
            jac[i * Z + j] = ((double)z->x[(1 + 2 * j) * Z + i] - z->x[(2 + 2 * j) * Z + i]) / (2.0 * h);
    double a[ZM * ZM];
    memcpy(a, jac, (size_t)Z * Z * sizeof(double));
    double base = 0.0;
    for (int j = 0; j < Z; j++) {
        double d = z0[j] - mu[j];
        base += -0.5 * (d * d * exp(-(double)lv[j]) + lv[j] + LOG2PI);
    }
    double want = base - log_abs_det(a, Z);
    cr_expect(fabs(lq->x[0] - want) < 5e-3 * (1 + fabs(want)), "%s: log q %.6f vs change of variables %.6f",
              elbo_vae_posterior(m->cfg.posterior)->name, lq->x[0], want);
    elbo_tape_destroy(t);
}

static void flow_case(int post, int K, float spread, uint64_t seed)
{
    enum { Z = 4 };
    elbo_vae m = model_with(cfg_with(8, Z, post, K), seed);
    scramble_flow(&m, spread, seed * 10);
    const float mu[Z] = {0.3f, -0.5f, 1.0f, 0.1f}, lv[Z] = {-0.4f, 0.3f, -1.0f, 0.0f};
    double jac[Z * Z];
    for (int pt = 0; pt < 4; pt++) {
        double z0[Z];
        float f[Z];
        tu_fill_uniform(f, Z, -1.5f, 1.5f, seed + 100 + (uint64_t)pt);
        for (int j = 0; j < Z; j++)
            z0[j] = f[j];
        check_change_of_variables(&m, mu, lv, z0, jac);
    }
    elbo_vae_free(&m);
}

Test(vae_posteriors, planar_log_q_is_the_change_of_variables)
{
    flow_case(ELBO_VAE_POSTERIOR_PLANAR, 1, 1.0f, 3);
    flow_case(ELBO_VAE_POSTERIOR_PLANAR, 5, 1.5f, 4);
}

Test(vae_posteriors, planar_u_hat_keeps_the_map_invertible)
{
    /* w^T u far below -1: without u^ the determinant would cross zero */
    enum { Z = 3 };
    elbo_vae m = model_with(cfg_with(8, Z, ELBO_VAE_POSTERIOR_PLANAR, 1), 5);
    float *u = elbo_param_w(&m.params, m.post_ids[0]), *w = elbo_param_w(&m.params, m.post_ids[1]);
    for (int j = 0; j < Z; j++)
        u[j] = -3.0f, w[j] = 2.0f;
    elbo_param_w(&m.params, m.post_ids[2])[0] = 0.0f;
    const float mu[Z] = {0, 0, 0}, lv[Z] = {0, 0, 0};
    /* w^T z0 = 0.5: without u^ the determinant 1 + tanh'(.) w^T u = 1 - 18 * 0.79 would be negative */
    const double z0[Z] = {0.1, 0.1, 0.05};
    double jac[Z * Z];
    check_change_of_variables(&m, mu, lv, z0, jac);
    elbo_vae_free(&m);
}

Test(vae_posteriors, iaf_log_q_is_the_change_of_variables)
{
    flow_case(ELBO_VAE_POSTERIOR_IAF, 1, 0.8f, 6);
    flow_case(ELBO_VAE_POSTERIOR_IAF, 3, 0.8f, 7);
}

Test(vae_posteriors, iaf_step_jacobian_is_triangular)
{
    enum { Z = 5 };
    elbo_vae m = model_with(cfg_with(8, Z, ELBO_VAE_POSTERIOR_IAF, 1), 8);
    scramble_flow(&m, 0.8f, 80);
    const float mu[Z] = {0}, lv[Z] = {0};
    const double z0[Z] = {0.4, -0.3, 0.9, -1.1, 0.2};
    double jac[Z * Z];
    check_change_of_variables(&m, mu, lv, z0, jac);
    /* step 0 orders latents 0..Z-1: z_j depends on z_0..z_j only, and on some below */
    double below = 0.0;
    for (int i = 0; i < Z; i++)
        for (int j = 0; j < Z; j++) {
            if (j > i)
                cr_expect(fabs(jac[i * Z + j]) < 1e-4, "dz_%d/dz0_%d = %g: expected 0 (autoregressive masks)", i,
                          j, jac[i * Z + j]);
            else if (j < i)
                below += fabs(jac[i * Z + j]);
        }
    cr_expect_gt(below, 1e-3, "the step should not be elementwise");
    elbo_vae_free(&m);
}

/* ---- gradients of the objectives ---- */

static double loss_at(elbo_vae *m, elbo_tape *t, const float *x, int B, const elbo_vae_objective *obj,
                      const float *eps)
{
    elbo_tape_reset(t);
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(m, t, x, NULL, B, obj, NULL, eps, &loss, NULL), ELBO_OK, "loss: %s", elbo_last_error());
    return loss->x[0];
}

static void check_grad(int post, elbo_vae_objective obj, uint64_t seed)
{
    const int B = 3, Z = 3;
    elbo_vae m = model_with(cfg_with(8, Z, post, 2), seed);
    scramble_flow(&m, 0.6f, seed);
    elbo_tape *t = tape();
    float x[3 * FX_D];
    tu_fill_uniform(x, (size_t)B * FX_D, 0.0f, 1.0f, seed + 1);
    int S = obj.iw_k > 1 ? obj.iw_k : obj.mc_samples;
    size_t ne = (size_t)S * B * Z;
    float *eps = malloc(ne * sizeof(float));
    elbo_rng r;
    elbo_rng_seed(&r, seed + 2);
    elbo_rng_normal_f32(&r, eps, ne);
    elbo_params *p = &m.params;
    elbo_params_zero_grad(p);
    elbo_tape_reset(t);
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &obj, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
    float *g = malloc(p->n * sizeof(float));
    memcpy(g, p->g, p->n * sizeof(float));
    int checked = 0;
    for (int i = 0; i < p->count; i++) {
        size_t cnt = (size_t)p->info[i].rows * (size_t)p->info[i].cols;
        for (size_t k = 0; k < cnt; k += 1 + cnt / 9) {
            float *w = p->w + p->info[i].offset + k, w0 = *w;
            const float h = 2e-3f;
            *w = w0 + h;
            double lp = loss_at(&m, t, x, B, &obj, eps);
            *w = w0 - h;
            double lm = loss_at(&m, t, x, B, &obj, eps);
            *w = w0;
            double fd = (lp - lm) / (2.0 * h), an = g[p->info[i].offset + k];
            cr_expect(fabs(fd - an) <= 2e-2 + 2e-2 * fabs(fd), "%s %s[%zu]: analytic %.6g, finite difference %.6g",
                      elbo_vae_posterior(post)->name, p->info[i].name, k, an, fd);
            checked++;
        }
    }
    cr_assert_gt(checked, 20);
    free(eps), free(g);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_posteriors, elbo_gradients_match_finite_differences)
{
    for (int i = 1; i < NPOST; i++)
        check_grad(families[i], ELBO_VAE_OBJECTIVE_DEFAULT, 20 + (uint64_t)i);
}

Test(vae_posteriors, free_bits_gradient_with_the_full_gaussian)
{
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.free_bits = 0.05f; /* low enough that some rows of L are above the floor */
    check_grad(ELBO_VAE_POSTERIOR_FULL_GAUSSIAN, o, 40);
}

Test(vae_posteriors, iwae_gradients_match_finite_differences)
{
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.iw_k = 3;
    for (int i = 1; i < NPOST; i++)
        check_grad(families[i], o, 30 + (uint64_t)i);
}

/* ---- training ---- */

static void run_steps(elbo_vae_trainer *tr, long steps)
{
    for (long s = 0; s < steps; s++) {
        bool end;
        cr_assert_eq(elbo_vae_trainer_step(tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
}

Test(vae_posteriors, short_training_lowers_the_loss_and_the_iw_bound_is_finite)
{
    elbo_dataset train, test;
    cr_assert_eq(fx_dataset(512, 0.05f, 3, 1, &train), ELBO_OK);
    cr_assert_eq(fx_dataset(200, 0.05f, 3, 2, &test), ELBO_OK);
    for (int i = 0; i < NPOST; i++) {
        elbo_vae m = model_with(cfg_with(32, 4, families[i], 2), 21);
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        tc.batch = 32;
        tc.adam.lr = 3e-3f;
        elbo_vae_trainer tr;
        cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK, "%s", elbo_last_error());
        double first = 0.0, last = 0.0;
        for (int e = 0; e < 4; e++) {
            bool end = false;
            while (!end)
                cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s", elbo_last_error());
            double v = tr.acc.neg_elbo / (double)tr.acc.n;
            if (e == 0)
                first = v;
            last = v;
        }
        const char *name = elbo_vae_posterior(families[i])->name;
        cr_expect_lt(last, first - 5.0, "%s: epoch -ELBO %.3f -> %.3f should fall", name, first, last);
        elbo_tape *t = tape();
        elbo_rng er;
        elbo_rng_seed(&er, 4);
        elbo_vae_eval ev;
        double iw;
        cr_assert_eq(elbo_vae_evaluate(&m, t, FX_X(test), NULL, test.n, 0, &er, &ev), ELBO_OK, "%s", elbo_last_error());
        cr_assert_eq(elbo_vae_iw_nll(&m, t, FX_X(test), NULL, test.n, 50, 0, &er, &iw, NULL), ELBO_OK, "%s",
                     elbo_last_error());
        cr_expect(isfinite(iw) && iw > 0.0, "%s: IW-50 NLL %g", name, iw);
        /* log q is exact, so the IW-50 bound is at or above the ELBO (up to noise) */
        cr_expect_leq(iw, ev.neg_elbo + 0.5, "%s: IW-50 NLL %.3f above the -ELBO %.3f", name, iw, ev.neg_elbo);
        elbo_tape_destroy(t);
        elbo_vae_trainer_free(&tr);
        elbo_vae_free(&m);
    }
    elbo_dataset_free(&train);
    elbo_dataset_free(&test);
}

Test(vae_posteriors, same_bits_for_one_and_two_threads)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(256, 0.1f, 5, 6, &train), ELBO_OK);
    for (int i = 1; i < NPOST; i++) {
        elbo_vae_config c = cfg_with(300, 8, families[i], 3);
        c.flow_hidden = c.flow_hidden ? 200 : 0; /* wide enough for the GEMMs to split */
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        tc.batch = 128;
        float *w[2];
        size_t n = 0;
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(elbo_set_threads(k + 1), ELBO_OK);
            elbo_vae m = model_with(c, 8);
            elbo_vae_trainer tr;
            cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK);
            run_steps(&tr, 5);
            n = m.params.n;
            w[k] = malloc(n * sizeof(float));
            memcpy(w[k], m.params.w, n * sizeof(float));
            elbo_vae_trainer_free(&tr);
            elbo_vae_free(&m);
        }
        elbo_set_threads(1);
        cr_expect(memcmp(w[0], w[1], n * sizeof(float)) == 0, "%s: 1 and 2 threads trained different weights",
                  elbo_vae_posterior(families[i])->name);
        free(w[0]), free(w[1]);
    }
    elbo_dataset_free(&train);
}

Test(vae_posteriors, checkpoint_resume_is_bit_identical)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(300, 0.1f, 5, 6, &train), ELBO_OK);
    char *dir = tu_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/ck.ckpt", dir);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    for (int i = 1; i < NPOST; i++) {
        elbo_vae_config c = cfg_with(16, 3, families[i], 2);
        const long total = 14, split = 6;
        elbo_vae a = model_with(c, 8), b = model_with(c, 8);
        elbo_vae_trainer ta, tb;
        cr_assert_eq(elbo_vae_trainer_init(&ta, &a, &train, &tc), ELBO_OK);
        run_steps(&ta, total);
        cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
        run_steps(&tb, split);
        cr_assert_eq(elbo_vae_trainer_save(&tb, path, "{}", NULL, 0), ELBO_OK, "%s", elbo_last_error());
        elbo_vae_trainer_free(&tb);
        elbo_vae_free(&b);

        /* another flow depth is another architecture */
        elbo_vae_config other = c;
        other.flow_steps = 3;
        other.flow_hidden = c.flow_hidden;
        if (c.flow_steps) {
            elbo_vae o = model_with(other, 9);
            elbo_vae_trainer to;
            cr_assert_eq(elbo_vae_trainer_init(&to, &o, &train, &tc), ELBO_OK);
            cr_expect_eq(elbo_vae_trainer_load(&to, path, "{}", NULL, NULL), ELBO_ERR_MISMATCH);
            elbo_vae_trainer_free(&to);
            elbo_vae_free(&o);
        }

        b = model_with(c, 99); /* another init: everything must come from the file */
        cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
        cr_assert_eq(elbo_vae_trainer_load(&tb, path, "{}", NULL, NULL), ELBO_OK, "%s", elbo_last_error());
        run_steps(&tb, total - split);
        const char *name = elbo_vae_posterior(families[i])->name;
        cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0, "%s: weights differ", name);
        cr_expect(memcmp(a.params.v, b.params.v, a.params.n * sizeof(float)) == 0, "%s: Adam v differs", name);
        elbo_vae only;
        cr_assert_eq(elbo_vae_load_model(path, &only), ELBO_OK, "%s", elbo_last_error());
        cr_expect(elbo_vae_config_equal(&only.cfg, &c), "%s: the checkpoint's architecture", name);
        cr_expect_eq(only.cfg.flow_steps, c.flow_steps);
        cr_expect_eq(only.cfg.flow_hidden, c.flow_hidden);
        elbo_vae_free(&only);
        elbo_vae_trainer_free(&ta);
        elbo_vae_trainer_free(&tb);
        elbo_vae_free(&a);
        elbo_vae_free(&b);
    }
    elbo_dataset_free(&train);
    free(dir);
}

/* ---- refusals ---- */

Test(vae_posteriors, bad_configurations_are_refused)
{
    int id = -1;
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_POSTERIOR, "full-gaussian", &id), ELBO_OK);
    cr_expect_eq(id, ELBO_VAE_POSTERIOR_FULL_GAUSSIAN);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_POSTERIOR, "iaf", &id), ELBO_OK);
    cr_expect_eq(elbo_vae_find(ELBO_VAE_PART_POSTERIOR, "realnvp", &id), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "planar") && strstr(elbo_last_error(), "iaf"), "%s", elbo_last_error());

    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_vae m;
    elbo_vae_config c = cfg_with(8, 3, ELBO_VAE_POSTERIOR_PLANAR, 0);
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "planar with 0 steps");
    c.flow_steps = ELBO_VAE_MAX_FLOW_STEPS + 1;
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "planar with too many steps");
    c = cfg_with(8, 3, ELBO_VAE_POSTERIOR_IAF, 2);
    c.flow_hidden = 0;
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID, "iaf without hidden units");
}

Test(vae_posteriors, flows_refuse_free_bits_foreign_z_and_safetensors)
{
    enum { B = 2, Z = 3 };
    elbo_vae m = model_with(cfg_with(8, Z, ELBO_VAE_POSTERIOR_IAF, 2), 3);
    elbo_tape *t = tape();
    float x[B * FX_D], z[B * Z];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 1);
    tu_fill_uniform(z, B * Z, -1.0f, 1.0f, 2);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.free_bits = 0.5f;
    elbo_rng r;
    elbo_rng_seed(&r, 4);
    elbo_node *loss;
    cr_expect_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, &r, NULL, &loss, NULL), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "free bits") != NULL, "%s", elbo_last_error());

    elbo_tape_reset(t);
    float mu[B * Z] = {0}, lv[B * Z] = {0};
    elbo_vae_qparams q = {.mu = elbo_ad_input(t, B, Z, mu), .logvar = elbo_ad_input(t, B, Z, lv)};
    cr_expect_null(elbo_vae_posterior(m.cfg.posterior)->log_q_sample(t, &m, &q, elbo_ad_input(t, B, Z, z)));
    cr_expect_eq(elbo_tape_status(t), ELBO_ERR_INVALID, "a flow's log q at a foreign z is an error on the tape");

    char *dir = tu_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    cr_expect_eq(elbo_vae_save_safetensors(&m, path), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "iaf") != NULL, "%s", elbo_last_error());
    FILE *f = fopen(path, "rb");
    cr_expect_null(f, "nothing written");
    if (f)
        fclose(f);
    free(dir);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}
