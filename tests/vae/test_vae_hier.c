/* Two stochastic layers (posterior hier2, the ladder, prior hier2), each
 * against an independent computation in double written out here from the
 * weights: the IW-K likelihood and the training objectives' values for given
 * noise (log Pr(x,z1,z2) - log q(z1,z2|x)), log q at the draw against log q
 * at any z, the ladder's precision-weighted merge against its formula,
 * ancestral draws from the prior, gradients against finite differences, a
 * short training run, same bits for 1 and 2 threads, checkpoint resume, and
 * the configurations that are refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vae/component.h"
#include "models/vae/hier.h"
#include "models/vae/vae_safetensors.h"
#include "models/vae/vae_train.h"
#include "ops/pool.h"
#include "test_util.h"
#include "vae_fixture.h"

#define LOG2PI 1.8378770664093453
#define MAXW 64

/* 64 - hidden - [z1 (Z1) | z2 (Z2)], tanh, networks between the layers of one hidden layer of width hh. */
static elbo_vae_config hier_config(int hidden, int Z1, int Z2, int hh, bool ladder)
{
    elbo_vae_config c = fx_config(hidden, Z1 + Z2, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    c.stochastic_layers = 2;
    c.z2_dim = Z2;
    c.n_hier_hidden = 1;
    c.hier_hidden[0] = hh;
    c.posterior = ladder ? ELBO_VAE_POSTERIOR_LADDER : ELBO_VAE_POSTERIOR_HIER2;
    c.prior = ELBO_VAE_PRIOR_HIER2;
    return c;
}

static elbo_vae make(elbo_vae_config c, uint64_t seed)
{
    elbo_vae m;
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    return m;
}

static elbo_tape *tape(void)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);
    return t;
}

/* ---- the model in double, from its weights ---- */

/* y (out) = x (in) W + b, W (in, out) row-major; tanh when act. */
static void dense(const elbo_vae *m, int w, int b, const double *x, double *y, bool act)
{
    const elbo_params *p = &m->params;
    const int in = p->info[w].rows, out = p->info[w].cols;
    const float *W = p->w + p->info[w].offset, *B = p->w + p->info[b].offset;
    for (int o = 0; o < out; o++) {
        double s = B[o];
        for (int i = 0; i < in; i++)
            s += x[i] * W[(size_t)i * out + o];
        y[o] = act ? tanh(s) : s;
    }
}

/* A network between layers (one hidden layer): x -> (mu, lv) of n each. */
static void net2(const elbo_vae *m, const int *ids, const double *x, double *mu, double *lv, int n)
{
    double h[MAXW], o[2 * MAXW];
    dense(m, ids[0], ids[1], x, h, true);
    dense(m, ids[2], ids[3], h, o, false);
    for (int j = 0; j < n; j++)
        mu[j] = o[j], lv[j] = o[n + j];
}

static double gauss(const double *z, const double *mu, const double *lv, int n)
{
    double s = 0.0;
    for (int j = 0; j < n; j++)
        s += -0.5 * ((z[j] - mu[j]) * (z[j] - mu[j]) / exp(lv[j]) + lv[j] + LOG2PI);
    return s;
}

/* log Pr(x, z1, z2) - log q(z1, z2 | x) for x (D) and noise e = [e1 | e2]
 * (Z); the draw into z (Z) when not NULL. */
static double ref_log_w(const elbo_vae *m, const float *x, const float *e, double *zout)
{
    const elbo_vae_config *c = &m->cfg;
    const int D = c->x_dim, Z2 = c->z2_dim, Z1 = c->z_dim - Z2;
    const bool ladder = c->posterior == ELBO_VAE_POSTERIOR_LADDER;
    double xd[FX_D], h[MAXW], head[2 * MAXW], z1[MAXW] = {0}, z2[MAXW] = {0}, mu2[MAXW], lv2[MAXW], mp[MAXW], lp[MAXW];
    for (int i = 0; i < D; i++)
        xd[i] = x[i];
    dense(m, m->enc_w[0], m->enc_b[0], xd, h, true);
    dense(m, m->head_w, m->head_b, h, head, false);
    const double *mu1 = head, *lv1 = head + Z1;
    double lq;
    if (!ladder) {
        for (int j = 0; j < Z1; j++)
            z1[j] = mu1[j] + exp(0.5 * lv1[j]) * e[j];
        net2(m, m->post_ids, z1, mu2, lv2, Z2);
        for (int j = 0; j < Z2; j++)
            z2[j] = mu2[j] + exp(0.5 * lv2[j]) * e[Z1 + j];
        lq = gauss(z1, mu1, lv1, Z1) + gauss(z2, mu2, lv2, Z2);
    } else {
        net2(m, m->post_ids, h, mu2, lv2, Z2); /* bottom-up: (mu_hat2, lv_hat2) from d1 = h */
        for (int j = 0; j < Z2; j++)
            z2[j] = mu2[j] + exp(0.5 * lv2[j]) * e[Z1 + j];
        net2(m, m->prior_ids, z2, mp, lp, Z1);
        double mq[MAXW], lvq[MAXW];
        for (int j = 0; j < Z1; j++) {
            double vh = exp(lv1[j]), vp = exp(lp[j]), vq = 1.0 / (1.0 / vh + 1.0 / vp);
            mq[j] = (mu1[j] / vh + mp[j] / vp) * vq;
            lvq[j] = log(vq);
            z1[j] = mq[j] + sqrt(vq) * e[j];
        }
        lq = gauss(z2, mu2, lv2, Z2) + gauss(z1, mq, lvq, Z1);
    }
    net2(m, m->prior_ids, z2, mp, lp, Z1);
    double lpz = gauss(z1, mp, lp, Z1);
    for (int j = 0; j < Z2; j++)
        lpz += -0.5 * (z2[j] * z2[j] + LOG2PI);
    double d[MAXW], l[FX_D], lx = 0.0;
    dense(m, m->dec_w[0], m->dec_b[0], z1, d, true);
    dense(m, m->out_w, m->out_b, d, l, false);
    for (int i = 0; i < D; i++)
        lx += x[i] * l[i] - (l[i] > 0 ? l[i] + log1p(exp(-l[i])) : log1p(exp(l[i])));
    if (zout) {
        memcpy(zout, z1, Z1 * sizeof(double));
        memcpy(zout + Z1, z2, Z2 * sizeof(double));
    }
    return lx + lpz - lq;
}

static bool close(double a, double b, double tol) { return fabs(a - b) <= tol * (1.0 + fabs(b)); }

/* ---- the log weight ---- */

static void iw_nll_case(bool ladder)
{
    enum { B = 4, K = 5, Z1 = 4, Z2 = 3, Z = Z1 + Z2 };
    elbo_vae m = make(hier_config(10, Z1, Z2, 6, ladder), 31);
    elbo_tape *t = tape();
    float x[B * FX_D];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 32);
    for (int k = 1; k <= K; k += K - 1) {
        /* The estimator's noise: B*k*Z normals of its rng, row-major over (row, draw, [z1 | z2]). */
        elbo_rng r1, r2;
        elbo_rng_seed(&r1, 33);
        elbo_rng_seed(&r2, 33);
        double mean, per[B];
        cr_assert_eq(elbo_vae_iw_nll(&m, t, x, NULL, B, k, 1000, &r1, &mean, per), ELBO_OK, "%s", elbo_last_error());
        float eps[B * K * Z];
        elbo_rng_normal_f32(&r2, eps, (size_t)B * k * Z);
        for (int b = 0; b < B; b++) {
            double lw[K], mx = -INFINITY, s = 0.0;
            for (int j = 0; j < k; j++) {
                lw[j] = ref_log_w(&m, x + b * FX_D, eps + (b * k + j) * Z, NULL);
                mx = lw[j] > mx ? lw[j] : mx;
            }
            for (int j = 0; j < k; j++)
                s += exp(lw[j] - mx);
            double want = -(mx + log(s / k));
            cr_expect(close(per[b], want, 1e-4), "%s K=%d row %d: %.6f vs %.6f", ladder ? "ladder" : "hier2", k, b,
                      per[b], want);
        }
    }
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_hier, iw_nll_matches_the_direct_log_weight)
{
    iw_nll_case(false);
    iw_nll_case(true);
}

/* The training objectives with fixed noise: the ELBO (one draw, the KL
 * estimated from it) is -sum_b log w, IWAE-K is -sum_b log mean_k w. */
static void objective_case(bool ladder)
{
    enum { B = 3, K = 3, Z1 = 3, Z2 = 2, Z = Z1 + Z2 };
    elbo_vae m = make(hier_config(8, Z1, Z2, 5, ladder), 41);
    elbo_tape *t = tape();
    float x[B * FX_D], eps[K * B * Z];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 42);
    tu_fill_uniform(eps, K * B * Z, -2.0f, 2.0f, 43);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    elbo_node *loss;
    elbo_vae_batch_stats st;
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, &st), ELBO_OK, "%s", elbo_last_error());
    double want = 0.0;
    for (int b = 0; b < B; b++)
        want -= ref_log_w(&m, x + b * FX_D, eps + b * Z, NULL);
    cr_expect(close(loss->x[0], want, 1e-4), "ELBO loss %.6f vs %.6f", loss->x[0], want);
    cr_expect(close(st.neg_elbo, want, 1e-4), "neg ELBO %.6f vs %.6f", st.neg_elbo, want);

    elbo_tape_reset(t);
    o.iw_k = K; /* draw k takes eps + k*B*Z */
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    want = 0.0;
    for (int b = 0; b < B; b++) {
        double lw[K], mx = -INFINITY, s = 0.0;
        for (int k = 0; k < K; k++) {
            lw[k] = ref_log_w(&m, x + b * FX_D, eps + (k * B + b) * Z, NULL);
            mx = lw[k] > mx ? lw[k] : mx;
        }
        for (int k = 0; k < K; k++)
            s += exp(lw[k] - mx);
        want -= mx + log(s / K);
    }
    cr_expect(close(loss->x[0], want, 1e-4), "IWAE-%d loss %.6f vs %.6f", K, loss->x[0], want);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_hier, training_objectives_match_the_direct_log_weight)
{
    objective_case(false);
    objective_case(true);
}

/* log q at the posterior's own draw (from the saved noise) equals log q at
 * any z (the densities evaluated), and both equal the direct computation. */
static void log_q_case(bool ladder)
{
    enum { B = 3, Z1 = 4, Z2 = 2, Z = Z1 + Z2 };
    elbo_vae m = make(hier_config(7, Z1, Z2, 5, ladder), 51);
    elbo_tape *t = tape();
    float x[B * FX_D], eps[B * Z];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, 52);
    tu_fill_uniform(eps, B * Z, -2.0f, 2.0f, 53);
    /* The encoder's head built here from its weights: linear(tanh(linear(x))). */
    elbo_params *p = &m.params;
    elbo_node *h = elbo_ad_tanh(t, elbo_ad_linear(t, elbo_ad_input(t, B, FX_D, x), elbo_ad_param(t, p, m.enc_w[0]),
                                                  elbo_ad_param(t, p, m.enc_b[0])));
    elbo_node *head = elbo_ad_linear(t, h, elbo_ad_param(t, p, m.head_w), elbo_ad_param(t, p, m.head_b));
    const elbo_vae_posterior_ops *post = elbo_vae_posterior(m.cfg.posterior);
    elbo_vae_qparams q;
    memset(&q, 0, sizeof q);
    cr_assert_eq(post->split(t, &m, head, &q), ELBO_OK, "%s", elbo_last_error());
    elbo_node *z = post->sample(t, &m, &q, NULL, eps);
    elbo_node *at_draw = post->log_q_sample(t, &m, &q, z);
    elbo_node *general = post->log_prob(t, &m, &q, z);
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(z->cols, Z);
    for (int b = 0; b < B; b++) {
        double zr[Z];
        ref_log_w(&m, x + b * FX_D, eps + b * Z, zr);
        for (int j = 0; j < Z; j++)
            cr_expect(close(z->x[b * Z + j], zr[j], 1e-5), "z[%d,%d] %.6f vs %.6f", b, j, z->x[b * Z + j], zr[j]);
        cr_expect(close(at_draw->x[b], general->x[b], 1e-5), "row %d: log q at the draw %.6f, general %.6f", b,
                  at_draw->x[b], general->x[b]);
    }
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_hier, log_q_at_the_draw_equals_the_density)
{
    log_q_case(false);
    log_q_case(true);
}

Test(vae_hier, ladder_merge_is_the_precision_weighted_formula)
{
    enum { B = 4, Z = 9 };
    elbo_tape *t = tape();
    float mh[B * Z], lh[B * Z], mp[B * Z], lp[B * Z];
    tu_fill_uniform(mh, B * Z, -3.0f, 3.0f, 61);
    tu_fill_uniform(mp, B * Z, -3.0f, 3.0f, 62);
    tu_fill_uniform(lh, B * Z, -6.0f, 4.0f, 63);
    tu_fill_uniform(lp, B * Z, -6.0f, 4.0f, 64);
    lh[0] = -40.0f, lp[0] = 30.0f; /* far apart: the merge follows the sharper estimate */
    lh[1] = 20.0f, lp[1] = -35.0f;
    elbo_vae_gauss hat = {elbo_ad_input(t, B, Z, mh), elbo_ad_input(t, B, Z, lh)};
    elbo_vae_gauss pr = {elbo_ad_input(t, B, Z, mp), elbo_ad_input(t, B, Z, lp)};
    elbo_vae_gauss q = elbo_vae_ladder_merge(t, hat, pr);
    cr_assert_eq(elbo_tape_status(t), ELBO_OK, "%s", elbo_last_error());
    for (int i = 0; i < B * Z; i++) {
        double vh = exp((double)lh[i]), vp = exp((double)lp[i]);
        double vq = 1.0 / (1.0 / vh + 1.0 / vp), muq = (mh[i] / vh + mp[i] / vp) * vq;
        cr_expect(fabs(q.logvar->x[i] - log(vq)) < 1e-5 * (1 + fabs(log(vq))), "[%d] log sigma_q^2 %.7g vs %.7g", i,
                  q.logvar->x[i], log(vq));
        cr_expect(fabs(q.mu->x[i] - muq) < 1e-5 * (1 + fabs(muq)), "[%d] mu_q %.7g vs %.7g", i, q.mu->x[i], muq);
    }
    elbo_tape_destroy(t);
}

/* Draws from the prior are ancestral: z2 the first n*Z2 normals, z1 =
 * mu_p(z2) + sigma_p(z2) e with e the next n*Z1; samples decode to [0,1]. */
Test(vae_hier, prior_draws_are_ancestral_and_decode)
{
    enum { N = 5, Z1 = 4, Z2 = 3, Z = Z1 + Z2 };
    elbo_vae m = make(hier_config(8, Z1, Z2, 6, false), 71);
    elbo_rng r1, r2;
    elbo_rng_seed(&r1, 72);
    elbo_rng_seed(&r2, 72);
    float z[N * Z], z2[N * Z2], e1[N * Z1];
    cr_assert_eq(elbo_vae_prior(m.cfg.prior)->sample(&m, &r1, z, N), ELBO_OK, "%s", elbo_last_error());
    elbo_rng_normal_f32(&r2, z2, N * Z2);
    elbo_rng_normal_f32(&r2, e1, N * Z1);
    for (int n = 0; n < N; n++) {
        double zd[Z2], mp[Z1], lp[Z1];
        for (int j = 0; j < Z2; j++) {
            zd[j] = z2[n * Z2 + j];
            cr_expect_eq(z[n * Z + Z1 + j], z2[n * Z2 + j]);
        }
        net2(&m, m.prior_ids, zd, mp, lp, Z1);
        for (int j = 0; j < Z1; j++) {
            double want = mp[j] + exp(0.5 * lp[j]) * e1[n * Z1 + j];
            cr_expect(close(z[n * Z + j], want, 1e-5), "z1[%d,%d] %.6f vs %.6f", n, j, z[n * Z + j], want);
        }
    }
    elbo_tape *t = tape();
    float img[N * FX_D];
    cr_assert_eq(elbo_vae_sample_prior(&m, t, NULL, N, &r1, img), ELBO_OK, "%s", elbo_last_error());
    for (int i = 0; i < N * FX_D; i++)
        cr_assert(img[i] >= 0.0f && img[i] <= 1.0f, "sample pixel %d = %g", i, img[i]);
    float mu[N * Z], x[N * FX_D];
    tu_fill_uniform(x, N * FX_D, 0.0f, 1.0f, 73);
    cr_assert_eq(elbo_vae_encode(&m, t, x, NULL, N, 0, mu, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_vae_reconstruct(&m, t, x, NULL, N, 0, img), ELBO_OK, "%s", elbo_last_error());
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

/* ---- gradients against central finite differences, noise fixed ---- */

static double loss_at(elbo_vae *m, elbo_tape *t, const float *x, int B, const elbo_vae_objective *o, const float *eps)
{
    elbo_tape_reset(t);
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(m, t, x, NULL, B, o, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    return loss->x[0];
}

static void grad_case(bool ladder, int iw_k, uint64_t seed)
{
    enum { B = 3, Z1 = 3, Z2 = 2 };
    elbo_vae m = make(hier_config(6, Z1, Z2, 4, ladder), seed);
    elbo_tape *t = tape();
    float x[B * FX_D], eps[4 * B * (Z1 + Z2)];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, seed + 1);
    tu_fill_uniform(eps, 4 * B * (Z1 + Z2), -1.5f, 1.5f, seed + 2);
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.iw_k = iw_k;
    elbo_params *p = &m.params;
    elbo_params_zero_grad(p);
    elbo_tape_reset(t);
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(&m, t, x, NULL, B, &o, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
    float *g = malloc(p->n * sizeof(float));
    memcpy(g, p->g, p->n * sizeof(float));
    int checked = 0;
    for (int i = 0; i < p->count; i++) {
        size_t cnt = (size_t)p->info[i].rows * (size_t)p->info[i].cols;
        for (size_t k = 0; k < cnt; k += 1 + cnt / 6) {
            float *w = p->w + p->info[i].offset + k, w0 = *w;
            const float h = 2e-3f;
            *w = w0 + h;
            double lp = loss_at(&m, t, x, B, &o, eps);
            *w = w0 - h;
            double lm = loss_at(&m, t, x, B, &o, eps);
            *w = w0;
            double fd = (lp - lm) / (2.0 * h), an = g[p->info[i].offset + k];
            cr_expect(fabs(fd - an) <= 2e-2 + 2e-2 * fabs(fd), "%s %s[%zu]: analytic %.6g, finite difference %.6g",
                      ladder ? "ladder" : "hier2", p->info[i].name, k, an, fd);
            checked++;
        }
    }
    cr_assert_gt(checked, 40);
    free(g);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_hier, gradients_match_finite_differences)
{
    grad_case(false, 0, 81);
    grad_case(true, 0, 82);
    grad_case(false, 3, 83);
    grad_case(true, 3, 84);
}

/* ---- training ---- */

static void run_steps(elbo_vae_trainer *tr, long steps)
{
    for (long s = 0; s < steps; s++) {
        bool end;
        cr_assert_eq(elbo_vae_trainer_step(tr, &end), ELBO_OK, "%s", elbo_last_error());
    }
}

static double iw_bound(elbo_vae *m, const elbo_dataset *test)
{
    elbo_tape *t = tape();
    elbo_rng r;
    elbo_rng_seed(&r, 5);
    double nll;
    cr_assert_eq(elbo_vae_iw_nll_data(m, t, test, 20, 0, &r, &nll, NULL), ELBO_OK, "%s", elbo_last_error());
    elbo_tape_destroy(t);
    return nll;
}

Test(vae_hier, training_lowers_a_finite_iw_bound)
{
    elbo_dataset train, test;
    cr_assert_eq(fx_dataset(400, 0.05f, 5, 6, &train), ELBO_OK);
    cr_assert_eq(fx_dataset(100, 0.05f, 5, 7, &test), ELBO_OK);
    for (int ladder = 0; ladder < 2; ladder++) {
        elbo_vae m = make(hier_config(24, 4, 2, 12, ladder), 91);
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        tc.batch = 40;
        tc.adam.lr = 3e-3f;
        elbo_vae_trainer tr;
        cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK, "%s", elbo_last_error());
        double prev = iw_bound(&m, &test);
        cr_assert(isfinite(prev));
        for (int round = 0; round < 3; round++) {
            run_steps(&tr, 40);
            double now = iw_bound(&m, &test);
            cr_expect(isfinite(now) && now < prev, "%s round %d: IW-20 NLL %.4f after %.4f", ladder ? "ladder" : "hier2",
                      round, now, prev);
            prev = now;
        }
        elbo_vae_trainer_free(&tr);
        elbo_vae_free(&m);
    }
    elbo_dataset_free(&train);
    elbo_dataset_free(&test);
}

Test(vae_hier, same_bits_for_one_and_two_threads)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(512, 0.1f, 5, 6, &train), ELBO_OK);
    for (int ladder = 0; ladder < 2; ladder++) {
        elbo_vae_config c = hier_config(200, 40, 20, 100, ladder); /* wide enough for several GEMM tasks */
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        tc.batch = 128;
        tc.iw_k = ladder ? 2 : 0;
        float *w[2];
        size_t n = 0;
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(elbo_set_threads(k + 1), ELBO_OK);
            elbo_vae m = make(c, 8);
            elbo_vae_trainer tr;
            cr_assert_eq(elbo_vae_trainer_init(&tr, &m, &train, &tc), ELBO_OK);
            run_steps(&tr, 6);
            n = m.params.n;
            w[k] = malloc(n * sizeof(float));
            memcpy(w[k], m.params.w, n * sizeof(float));
            elbo_vae_trainer_free(&tr);
            elbo_vae_free(&m);
        }
        elbo_set_threads(1);
        cr_expect(memcmp(w[0], w[1], n * sizeof(float)) == 0, "%s: 1 and 2 threads trained different weights",
                  ladder ? "ladder" : "hier2");
        free(w[0]);
        free(w[1]);
    }
    elbo_dataset_free(&train);
}

Test(vae_hier, checkpoint_resume_is_bit_identical)
{
    elbo_dataset train;
    cr_assert_eq(fx_dataset(300, 0.1f, 5, 6, &train), ELBO_OK);
    char *dir = tu_tempdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/hier.ckpt", dir);
    for (int ladder = 0; ladder < 2; ladder++) {
        elbo_vae_config c = hier_config(16, 4, 2, 8, ladder);
        elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
        tc.batch = 32;
        elbo_vae a = make(c, 8), b = make(c, 8);
        elbo_vae_trainer ta, tb;
        cr_assert_eq(elbo_vae_trainer_init(&ta, &a, &train, &tc), ELBO_OK);
        run_steps(&ta, 17);
        cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
        run_steps(&tb, 7);
        cr_assert_eq(elbo_vae_trainer_save(&tb, path, "{}", NULL, 0), ELBO_OK, "%s", elbo_last_error());
        elbo_vae_trainer_free(&tb);
        elbo_vae_free(&b);
        b = make(c, 99);
        cr_assert_eq(elbo_vae_trainer_init(&tb, &b, &train, &tc), ELBO_OK);
        cr_assert_eq(elbo_vae_trainer_load(&tb, path, "{}", NULL, NULL), ELBO_OK, "%s", elbo_last_error());
        run_steps(&tb, 10);
        cr_expect(memcmp(a.params.w, b.params.w, a.params.n * sizeof(float)) == 0, "weights differ after resume");
        /* The model alone loads with its whole architecture. */
        elbo_vae only;
        cr_assert_eq(elbo_vae_load_model(path, &only), ELBO_OK, "%s", elbo_last_error());
        cr_expect(elbo_vae_config_equal(&only.cfg, &c));
        elbo_vae_free(&only);
        /* Another hierarchy is another architecture. */
        elbo_vae_config other = c;
        other.z2_dim = 3;
        elbo_vae o = make(other, 8);
        elbo_vae_trainer to;
        cr_assert_eq(elbo_vae_trainer_init(&to, &o, &train, &tc), ELBO_OK);
        cr_expect_eq(elbo_vae_trainer_load(&to, path, "{}", NULL, NULL), ELBO_ERR_MISMATCH);
        elbo_vae_trainer_free(&to);
        elbo_vae_free(&o);
        elbo_vae_trainer_free(&ta);
        elbo_vae_trainer_free(&tb);
        elbo_vae_free(&a);
        elbo_vae_free(&b);
    }
    elbo_dataset_free(&train);
    free(dir);
}

Test(vae_hier, configurations_that_do_not_fit_are_refused)
{
    elbo_rng r;
    elbo_rng_seed(&r, 1);
    elbo_vae m;
    elbo_vae_config c = hier_config(8, 3, 2, 4, false);
    c.stochastic_layers = 1; /* a hierarchical posterior with one layer */
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID);
    c = hier_config(8, 3, 2, 4, true);
    c.prior = ELBO_VAE_PRIOR_STANDARD_NORMAL; /* the ladder needs Pr(z1|z2) */
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID);
    c = hier_config(8, 3, 2, 4, false);
    c.z2_dim = 5; /* nothing left for z1 */
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID);
    c = hier_config(8, 3, 2, 4, false);
    c.stochastic_layers = 3;
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID);
    c = fx_config(8, 3, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    c.stochastic_layers = 2; /* two layers with the one-layer parts */
    c.z2_dim = 1;
    cr_expect_eq(elbo_vae_create(&m, &c, &r), ELBO_ERR_INVALID);
    /* The PyTorch safetensors layout has no place for the second layer. */
    c = hier_config(8, 3, 2, 4, true);
    cr_assert_eq(elbo_vae_create(&m, &c, &r), ELBO_OK, "%s", elbo_last_error());
    char *dir = tu_tempdir(), path[1024];
    snprintf(path, sizeof path, "%s/hier.safetensors", dir);
    cr_expect_eq(elbo_vae_save_safetensors(&m, path), ELBO_ERR_UNSUPPORTED);
    cr_expect_eq(elbo_vae_load_safetensors(&m, path), ELBO_ERR_UNSUPPORTED);
    FILE *f = fopen(path, "rb");
    cr_expect(!f, "nothing written");
    if (f)
        fclose(f);
    free(dir);
    elbo_vae_free(&m);
}
