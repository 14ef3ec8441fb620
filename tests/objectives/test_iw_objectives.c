/* The importance-weighted objectives: IWAE-K's gradient is Burda et al.'s
 * (the normalised importance weights), MIWAE, CIWAE and PIWAE against an
 * independent computation in double from the same log-weights, the ordering
 * ELBO <= MIWAE(M,K) <= IWAE(M K) on the same draws, every gradient against
 * finite differences, PIWAE's split (decoder: IWAE-(M K), encoder: MIWAE(M,K)),
 * the range checks, and training through the trainer. The noise is fixed, so each loss is a deterministic
 * function of the parameters; smooth activations keep differences honest. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../vae/vae_fixture.h"
#include "models/vae/component.h"
#include "models/vae/vae_train.h"
#include "test_util.h"

#define B 3
#define Z 3
#define MAX_S 32

typedef struct rig {
    elbo_vae m;
    elbo_tape *t;
    float x[B * FX_D];
    float eps[MAX_S * B * Z];
} rig;

static void rig_init(rig *r, uint64_t seed)
{
    elbo_vae_config cfg = fx_config(12, Z, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    elbo_rng g;
    elbo_rng_seed(&g, seed);
    cr_assert_eq(elbo_vae_create(&r->m, &cfg, &g), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_tape_create(&r->t, 1 << 20), ELBO_OK);
    tu_fill_uniform(r->x, B * FX_D, 0.0f, 1.0f, seed + 1);
    elbo_rng_normal_f32(&g, r->eps, MAX_S * B * Z);
}

static void rig_free(rig *r)
{
    elbo_tape_destroy(r->t);
    elbo_vae_free(&r->m);
}

static elbo_vae_objective objective(const char *name, int K, int M, float beta)
{
    int id = -1;
    cr_assert_eq(elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, name, &id), ELBO_OK, "%s", elbo_last_error());
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.ops = elbo_vae_objective_by_id(id);
    o.iw_k = K;
    o.variant = M;
    o.alpha = beta;
    return o;
}

/* The loss at the current parameters with the fixed noise; with grad, the
 * gradient slab is filled (zeroed first). */
static double loss_of(rig *r, const elbo_vae_objective *o, bool grad)
{
    elbo_tape_reset(r->t);
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(&r->m, r->t, r->x, NULL, B, o, NULL, r->eps, &loss, NULL), ELBO_OK, "%s",
                 elbo_last_error());
    if (grad) {
        elbo_params_zero_grad(&r->m.params);
        cr_assert_eq(elbo_backward(r->t, loss), ELBO_OK, "%s", elbo_last_error());
    }
    return loss->x[0];
}

/* ---- a test objective: the log-weights of S draws, recorded; and, with
 * weights given, Burda et al.'s explicit formula -sum_bk wt_bk log w_bk with
 * the normalised weights wt as constants ---- */

static double captured[B * MAX_S]; /* (B,S) */
static int capture_s;
static bool explicit_formula;

static elbo_node *capture_loss(elbo_vae_fwd *f)
{
    elbo_tape *t = f->t;
    const int S = capture_s;
    elbo_node *lw = NULL;
    for (int s = 0; s < S; s++) {
        elbo_node *z = elbo_vae_fwd_sample(f);
        elbo_node *l = elbo_vae_log_weight(t, f->m, &f->q, z, elbo_vae_fwd_nll(f, z));
        lw = lw ? elbo_ad_concat_cols(t, lw, l) : l;
    }
    if (!lw)
        return NULL;
    for (int i = 0; i < B * S; i++)
        captured[i] = lw->x[i];
    float *wt = elbo_tape_alloc(t, (size_t)B * S);
    for (int b = 0; b < B; b++) { /* softmax of row b in double */
        double mx = -INFINITY, s = 0.0;
        for (int k = 0; k < S; k++)
            mx = fmax(mx, captured[b * S + k]);
        for (int k = 0; k < S; k++)
            s += exp(captured[b * S + k] - mx);
        for (int k = 0; k < S; k++)
            wt[b * S + k] = explicit_formula ? (float)(-exp(captured[b * S + k] - mx) / s) : 0.0f;
    }
    return elbo_ad_sum(t, elbo_ad_mul(t, lw, elbo_ad_input(t, B, S, wt)));
}

static const elbo_vae_objective_ops capture_ops = {.name = "capture", .help = "", .loss = capture_loss};

static void capture(rig *r, int S, bool formula_grad)
{
    capture_s = S;
    explicit_formula = formula_grad;
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.ops = &capture_ops;
    loss_of(r, &o, formula_grad);
}

/* log (1/n) sum_i e^{a_i} in double */
static double log_mean_exp(const double *a, int n)
{
    double mx = -INFINITY, s = 0.0;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, a[i]);
    for (int i = 0; i < n; i++)
        s += exp(a[i] - mx);
    return mx + log(s / n);
}

/* The bounds of the captured (B, M K) log-weights, summed over the batch. */
static double iwae_ref(int S)
{
    double v = 0.0;
    for (int b = 0; b < B; b++)
        v += log_mean_exp(captured + b * S, S);
    return v;
}

static double miwae_ref(int M, int K)
{
    double v = 0.0;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < M; g++)
            v += log_mean_exp(captured + b * M * K + g * K, K) / M;
    return v;
}

static double elbo_ref(int S)
{
    double v = 0.0;
    for (int i = 0; i < B * S; i++)
        v += captured[i] / S;
    return v;
}

Test(iw_objectives, iwae_gradient_is_the_normalised_weight_formula)
{
    rig r;
    rig_init(&r, 1);
    const int K = 6;
    elbo_vae_objective o = objective("iwae", K, 0, 0.0f);
    loss_of(&r, &o, true);
    size_t n = r.m.params.n;
    float *g_iwae = malloc(n * sizeof(float)), *g_formula = malloc(n * sizeof(float));
    memcpy(g_iwae, r.m.params.g, n * sizeof(float));
    capture(&r, K, true); /* -sum_bk wt_bk grad log w_bk, the weights from the same draws */
    memcpy(g_formula, r.m.params.g, n * sizeof(float));
    double nz = 0.0;
    for (size_t i = 0; i < n; i++)
        nz += fabs(g_formula[i]);
    cr_assert_gt(nz, 1e-3, "the formula's gradient is all zero");
    size_t worst;
    double e = tu_max_rel_err(g_iwae, g_formula, n, 1e-5, 1e-4, &worst);
    cr_expect_leq(e, 1.0, "IWAE gradient %g vs normalised-weight formula %g at %zu", (double)g_iwae[worst],
                  (double)g_formula[worst], worst);
    free(g_iwae);
    free(g_formula);
    rig_free(&r);
}

Test(iw_objectives, bounds_against_double_and_ordered)
{
    rig r;
    rig_init(&r, 2);
    const int M = 3, K = 4, S = M * K;
    capture(&r, S, false);
    double iw = iwae_ref(S), mi = miwae_ref(M, K), el = elbo_ref(S);
    /* the objectives' losses on the same draws are the negative bounds */
    elbo_vae_objective o_iw = objective("iwae", S, 0, 0.0f), o_mi = objective("miwae", K, M, 0.0f),
                       o_el = objective("ciwae", S, 0, 1.0f), o_ci = objective("ciwae", S, 0, 0.3f),
                       o_mi1 = objective("miwae", S, 1, 0.0f), o_pi = objective("piwae", K, M, 0.0f);
    double l_iw = loss_of(&r, &o_iw, false), l_mi = loss_of(&r, &o_mi, false), l_el = loss_of(&r, &o_el, false),
           l_ci = loss_of(&r, &o_ci, false), l_mi1 = loss_of(&r, &o_mi1, false), l_pi = loss_of(&r, &o_pi, false);
    const double tol = 1e-4;
    cr_expect(fabs(-l_iw - iw) <= tol * fmax(1.0, fabs(iw)), "IWAE-%d %.6f vs %.6f", S, -l_iw, iw);
    cr_expect(fabs(-l_mi - mi) <= tol * fmax(1.0, fabs(mi)), "MIWAE(%d,%d) %.6f vs %.6f", M, K, -l_mi, mi);
    cr_expect(fabs(-l_el - el) <= tol * fmax(1.0, fabs(el)), "CIWAE beta 1 (ELBO) %.6f vs %.6f", -l_el, el);
    double ci = 0.3 * el + 0.7 * iw;
    cr_expect(fabs(-l_ci - ci) <= tol * fmax(1.0, fabs(ci)), "CIWAE beta 0.3 %.6f vs %.6f", -l_ci, ci);
    cr_expect(fabs(l_mi1 - l_iw) <= tol * fmax(1.0, fabs(l_iw)), "MIWAE(1,K) %.6f is IWAE-K %.6f", l_mi1, l_iw);
    cr_expect(fabs(l_pi - l_iw) <= tol * fmax(1.0, fabs(l_iw)), "PIWAE's value %.6f is IWAE-(M K) %.6f", l_pi, l_iw);
    /* ELBO <= MIWAE(M,K) <= IWAE(M K), strictly on these draws */
    cr_expect_lt(el, mi, "ELBO %.6f < MIWAE %.6f", el, mi);
    cr_expect_lt(mi, iw, "MIWAE %.6f < IWAE %.6f", mi, iw);
    cr_expect_lt(-l_el, -l_mi);
    cr_expect_lt(-l_mi, -l_iw);
    rig_free(&r);
}

/* Central differences on a spread of coordinates of every parameter. */
static void fd_check(const char *name, int K, int M, float beta, uint64_t seed)
{
    rig r;
    rig_init(&r, seed);
    elbo_vae_objective o = objective(name, K, M, beta);
    elbo_params *p = &r.m.params;
    loss_of(&r, &o, true);
    float *g = malloc(p->n * sizeof(float));
    memcpy(g, p->g, p->n * sizeof(float));
    int checked = 0;
    for (int i = 0; i < p->count; i++) {
        size_t cnt = elbo_param_size(p, i);
        for (size_t k = 0; k < cnt; k += 1 + cnt / 6) {
            float *w = p->w + p->info[i].offset + k, w0 = *w;
            const float h = 2e-3f;
            *w = w0 + h;
            double lp = loss_of(&r, &o, false);
            *w = w0 - h;
            double lm = loss_of(&r, &o, false);
            *w = w0;
            double fd = (lp - lm) / (2.0 * h), an = g[p->info[i].offset + k];
            cr_expect(fabs(fd - an) <= 2e-2 + 2e-2 * fabs(fd), "%s: %s[%zu]: analytic %.6g, finite difference %.6g",
                      name, p->info[i].name, k, an, fd);
            checked++;
        }
    }
    cr_assert_gt(checked, 10);
    free(g);
    rig_free(&r);
}

Test(iw_objectives, miwae_gradient) { fd_check("miwae", 3, 2, 0.0f, 3); }
Test(iw_objectives, ciwae_gradient) { fd_check("ciwae", 4, 0, 0.4f, 4); }
/* PIWAE's loss is the IWAE-(M K) bound; its gradient is not that bound's
 * (the encoder's part is MIWAE's): checked apart below. With M = 1 both
 * parts are IWAE-K's, so finite differences apply. */
Test(iw_objectives, piwae_gradient_m1) { fd_check("piwae", 4, 1, 0.0f, 5); }

/* The ids of the decoder's parameters (and the likelihood's): theta. */
static bool is_decoder(const elbo_vae *m, int id)
{
    if (id == m->out_w || id == m->out_b)
        return true;
    for (int j = 0; j < m->net.n; j++) /* decoder layers before the output layer */
        if (id == m->dec_w[j] || id == m->dec_b[j])
            return true;
    return false;
}

Test(iw_objectives, piwae_splits_the_gradients)
{
    rig r;
    rig_init(&r, 6);
    const int M = 2, K = 3;
    elbo_vae_objective o_pi = objective("piwae", K, M, 0.0f), o_iw = objective("iwae", M * K, 0, 0.0f),
                       o_mi = objective("miwae", K, M, 0.0f);
    elbo_params *p = &r.m.params;
    float *g[3];
    const elbo_vae_objective *os[3] = {&o_pi, &o_iw, &o_mi};
    for (int i = 0; i < 3; i++) {
        loss_of(&r, os[i], true);
        g[i] = malloc(p->n * sizeof(float));
        memcpy(g[i], p->g, p->n * sizeof(float));
    }
    int dec = 0, enc = 0;
    for (int id = 0; id < p->count; id++) {
        size_t off = p->info[id].offset, n = elbo_param_size(p, id), worst;
        bool d = is_decoder(&r.m, id);
        const float *want = d ? g[1] : g[2], *other = d ? g[2] : g[1];
        double e = tu_max_rel_err(g[0] + off, want + off, n, 1e-5, 1e-4, &worst);
        cr_expect_leq(e, 1.0, "PIWAE %s: %s gradient %g, expected %s's %g", p->info[id].name,
                      d ? "decoder" : "encoder", (double)g[0][off + worst], d ? "IWAE" : "MIWAE",
                      (double)want[off + worst]);
        /* and the other bound's gradient differs: the split is visible */
        cr_expect_gt(tu_max_rel_err(g[0] + off, other + off, n, 1e-7, 1e-6, NULL), 1.0, "%s", p->info[id].name);
        dec += d, enc += !d;
    }
    cr_expect_gt(dec, 0);
    cr_expect_gt(enc, 0);
    for (int i = 0; i < 3; i++)
        free(g[i]);
    rig_free(&r);
}

Test(iw_objectives, ranges_checked)
{
    const char *names[3] = {"miwae", "ciwae", "piwae"};
    for (int i = 0; i < 3; i++) {
        elbo_vae_objective ok = objective(names[i], 5, 4, 0.5f);
        cr_expect_eq(ok.ops->check(&ok), ELBO_OK, "%s: %s", names[i], elbo_last_error());
        elbo_vae_objective bad_k = objective(names[i], 100001, 1, 0.5f), bad_m = objective(names[i], 5, 10001, 0.5f),
                           bad_mk = objective(names[i], 1000, 1000, 0.5f);
        cr_expect_eq(bad_k.ops->check(&bad_k), ELBO_ERR_INVALID, "%s K", names[i]);
        cr_expect_eq(bad_m.ops->check(&bad_m), ELBO_ERR_INVALID, "%s M", names[i]);
        cr_expect_eq(bad_mk.ops->check(&bad_mk), ELBO_ERR_INVALID, "%s M K", names[i]);
    }
    elbo_vae_objective nb = objective("ciwae", 5, 0, 1.5f), nan_b = objective("ciwae", 5, 0, NAN);
    cr_expect_eq(nb.ops->check(&nb), ELBO_ERR_INVALID);
    cr_expect_eq(nan_b.ops->check(&nan_b), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "beta") != NULL, "%s", elbo_last_error());
}

/* Each trains through the trainer on the fixture: every step finite, the
 * training -ELBO falling, the same weights from the same seed. */
static double train_run(const char *name, int K, int M, float beta, const elbo_dataset *data, float *w, size_t *nw,
                        double *first)
{
    int id = -1;
    cr_assert_eq(elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, name, &id), ELBO_OK);
    elbo_vae_config cfg = fx_config(16, 3, 0, ELBO_VAE_RELU, ELBO_VAE_BERNOULLI);
    elbo_rng init;
    elbo_rng_seed(&init, 7);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &cfg, &init), ELBO_OK);
    elbo_vae_train_config tc = ELBO_VAE_TRAIN_DEFAULT;
    tc.batch = 32;
    tc.seed = 11;
    tc.adam.lr = 3e-3f;
    tc.objective = elbo_vae_objective_by_id(id);
    tc.iw_k = K, tc.variant = M, tc.alpha = beta;
    elbo_vae_trainer tr;
    cr_assert_eq(elbo_vae_trainer_init(&tr, &m, data, &tc), ELBO_OK, "%s", elbo_last_error());
    double last = NAN;
    for (int e = 0; e < 5; e++) {
        bool end = false;
        while (!end) {
            cr_assert_eq(elbo_vae_trainer_step(&tr, &end), ELBO_OK, "%s: %s", name, elbo_last_error());
            cr_assert(isfinite(tr.last.loss), "%s: loss %g", name, tr.last.loss);
        }
        last = tr.acc.neg_elbo / (double)tr.acc.n;
        if (e == 0)
            *first = last;
    }
    *nw = m.params.n < 4096 ? m.params.n : 4096;
    memcpy(w, m.params.w, *nw * sizeof(float));
    elbo_vae_trainer_free(&tr);
    elbo_vae_free(&m);
    return last;
}

Test(iw_objectives, each_trains)
{
    elbo_dataset data;
    cr_assert_eq(fx_dataset(256, 0.05f, 3, 1, &data), ELBO_OK);
    static float wa[4096], wb[4096];
    const struct { const char *name; int K, M; float beta; } cases[3] = {
        {"miwae", 3, 2, 0.0f}, {"ciwae", 4, 0, 0.5f}, {"piwae", 3, 2, 0.0f}};
    for (int i = 0; i < 3; i++) {
        size_t na, nb;
        double fa, fb;
        double la = train_run(cases[i].name, cases[i].K, cases[i].M, cases[i].beta, &data, wa, &na, &fa);
        cr_log_info("%s: train -ELBO %.2f -> %.2f", cases[i].name, fa, la);
        cr_expect_lt(la, fa - 1.0, "%s: train -ELBO %.2f -> %.2f", cases[i].name, fa, la);
        train_run(cases[i].name, cases[i].K, cases[i].M, cases[i].beta, &data, wb, &nb, &fb);
        cr_expect_eq(memcmp(wa, wb, na * sizeof(float)), 0, "%s: same seed, other weights", cases[i].name);
    }
    elbo_dataset_free(&data);
}
