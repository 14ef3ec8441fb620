/* VQ-VAE (models/vqvae): the nearest-code choice against brute force in
 * double, the straight-through gradient, the EMA update against a hand
 * computation, perplexity and dead codes against independent formulas, the
 * MADE prior's normalisation over every grid and its gradient against
 * finite differences, same bits for 1 and 2 threads, a batch split in two
 * data-parallel shards against the whole batch's step, and bad input. The
 * vq_residual op's finite-difference cases at every SIMD level are in
 * tests/common/grad_cases.c (tests/autodiff/test_grad_ops.c). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "models/vqvae/vqvae.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

static elbo_tape *tape(void)
{
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1u << 20), ELBO_OK);
    return t;
}

/* ---- quantization ---- */

Test(vqvae, nearest_code_is_brute_force_nearest_at_every_level)
{
    enum { M = 300, K = 17, D = 5 };
    float z[M * D], e[K * D];
    tu_fill_uniform(z, M * D, -1.0f, 1.0f, 11u);
    tu_fill_uniform(e, K * D, -1.0f, 1.0f, 12u);
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (elbo_simd_set((elbo_simd)lv) != ELBO_OK)
            continue;
        elbo_tape *t = tape();
        elbo_node *r = elbo_ad_vq_residual(t, elbo_ad_input(t, M, D, z), elbo_ad_input(t, K, D, e));
        cr_assert_not_null(r);
        const int32_t *c = elbo_ad_vq_codes(r);
        for (int i = 0; i < M; i++) {
            double best = INFINITY, dist[K];
            int arg = -1;
            for (int k = 0; k < K; k++) { /* |z|² - 2 z.e + |e|²: another formula than the op's */
                double zz = 0, ze = 0, ee = 0;
                for (int d = 0; d < D; d++)
                    zz += (double)z[i * D + d] * z[i * D + d], ze += (double)z[i * D + d] * e[k * D + d],
                        ee += (double)e[k * D + d] * e[k * D + d];
                dist[k] = zz - 2 * ze + ee;
                if (dist[k] < best)
                    best = dist[k], arg = k;
            }
            cr_assert(c[i] >= 0 && c[i] < K);
            cr_assert(c[i] == arg || fabs(dist[c[i]] - best) < 1e-12, "vector %d: code %d at %.17g, nearest %d at "
                      "%.17g", i, c[i], dist[c[i]], arg, best);
            for (int d = 0; d < D; d++)
                cr_assert_eq(r->x[i * D + d], z[i * D + d] - e[c[i] * D + d]);
        }
        elbo_tape_destroy(t);
    }
    elbo_simd_set(elbo_simd_best());
}

Test(vqvae, ties_go_to_the_lowest_code)
{
    float e[3 * 2] = {1, 0, -1, 0, 1, 0}, z[2] = {0, 0};
    cr_assert_eq(elbo_vq_nearest_row(z, e, 3, 2), 0);
    float e2[3 * 2] = {5, 5, -1, 0, 1, 0};
    cr_assert_eq(elbo_vq_nearest_row(z, e2, 3, 2), 1);
}

Test(vqvae, bad_codebook_shape_is_refused)
{
    elbo_tape *t = tape();
    float z[12] = {0}, e[6] = {0};
    cr_assert_null(elbo_ad_vq_residual(t, elbo_ad_input(t, 3, 4, z), elbo_ad_input(t, 2, 3, e)));
    cr_assert_neq(elbo_tape_status(t), ELBO_OK);
    cr_assert_null(elbo_ad_vq_codes(NULL));
    elbo_tape_destroy(t);
}

/* ---- straight-through gradient on the model's own graph ---- */

static elbo_vqvae_config tiny_config(void)
{
    return (elbo_vqvae_config){.rows = 8, .cols = 8, .channels = 4, .dim = 3, .codes = 6, .beta = 0.25f,
                               .decay = 0.9f, .eps = 1e-5f};
}

static void tiny_images(float *x, int n, uint64_t seed) { tu_fill_uniform(x, (size_t)n * 64, 0.0f, 1.0f, seed); }

/* dL/dz_e = dL/dz_q + 2 beta r / B: with beta 0, exactly dL/dz_q. */
static void check_straight_through(float beta)
{
    elbo_vqvae_config cfg = tiny_config();
    cfg.beta = beta;
    elbo_rng rng;
    elbo_rng_seed(&rng, 5);
    elbo_vqvae m;
    cr_assert_eq(elbo_vqvae_create(&m, &cfg, &rng), ELBO_OK);
    elbo_tape *t = tape();
    enum { B = 3 };
    float x[B * 64];
    tiny_images(x, B, 21u);
    cr_assert_eq(elbo_vqvae_init_codebook(&m, t, x, B, &rng), ELBO_OK);
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, true);
    elbo_params_zero_grad(&m.p);
    /* the loss of elbo_vqvae_loss, built here to keep hold of z_q */
    elbo_node *xin = elbo_ad_input_nd(t, 4, (const int[]){B, 8, 8, 1}, x);
    elbo_node *ze = elbo_vqvae_encoder(&m, t, xin);
    elbo_node *r = elbo_ad_vq_residual(t, ze, elbo_ad_input(t, m.cb.K, m.cb.D, m.cb.e));
    elbo_node *zq = elbo_ad_sub(t, ze, elbo_ad_input_nd(t, r->shape.ndim, r->shape.d, r->x));
    elbo_node *bce = elbo_ad_sum(t, elbo_ad_bernoulli_nll(t, elbo_vqvae_decoder(&m, t, zq), xin));
    elbo_node *commit = elbo_ad_sum(t, elbo_ad_mul(t, r, r));
    elbo_node *loss = elbo_ad_scale(t, elbo_ad_add(t, bce, elbo_ad_scale(t, commit, beta)), 1.0f / B);
    cr_assert_not_null(loss);
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK);
    size_t n = (size_t)ze->rows * (size_t)ze->cols;
    const int32_t *c = elbo_ad_vq_codes(r);
    double nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        /* z_q is the chosen code (to float rounding of z - (z - e)) */
        cr_assert_float_eq(zq->x[i], m.cb.e[(size_t)c[i / 3] * 3 + i % 3], 1e-6);
        nonzero += fabs(zq->dx[i]);
        if (beta == 0.0f)
            cr_assert_eq(ze->dx[i], zq->dx[i], "element %zu: dz_e %g, dz_q %g", i, ze->dx[i], zq->dx[i]);
        else
            cr_assert_float_eq(ze->dx[i], zq->dx[i] + 2.0f * beta * r->x[i] / B, 1e-6);
    }
    cr_assert_gt(nonzero, 0.0);
    elbo_tape_destroy(t);
    elbo_vqvae_free(&m);
}

Test(vqvae, straight_through_passes_dz_q_to_z_e) { check_straight_through(0.0f); }
Test(vqvae, commitment_adds_two_beta_r) { check_straight_through(0.25f); }

/* ---- EMA ---- */

Test(vqvae, ema_update_matches_hand_computation)
{
    elbo_vq_codebook cb;
    cr_assert_eq(elbo_vq_codebook_alloc(&cb, 2, 1, 0.5f, 0.1f), ELBO_OK);
    elbo_vq_codebook_set(&cb, (const float[]){0, 10});
    const float z[3] = {1, 2, 12};
    const int32_t codes[3] = {0, 0, 1};
    cr_assert_eq(elbo_vq_ema_update(&cb, z, codes, 3), ELBO_OK);
    /* n = (2,1), s = (3,12); N = (0.5+1, 0.5+0.5) = (1.5,1), m = (0+1.5, 5+6) = (1.5,11);
     * Ñ = (N + 0.1)/(2.5 + 0.2) 2.5 = (1.6, 1.1) 2.5/2.7; e = m/Ñ = (1.0125, 10.8) */
    cr_assert_float_eq(cb.count[0], 1.5, 1e-12);
    cr_assert_float_eq(cb.count[1], 1.0, 1e-12);
    cr_assert_float_eq(cb.sum[0], 1.5, 1e-12);
    cr_assert_float_eq(cb.sum[1], 11.0, 1e-12);
    cr_assert_float_eq(cb.e[0], 1.0125f, 1e-6);
    cr_assert_float_eq(cb.e[1], 10.8f, 1e-5);
    /* an unused code keeps its place: m and N shrink together (up to the smoothing) */
    const int32_t all0[3] = {0, 0, 0};
    cr_assert_eq(elbo_vq_ema_update(&cb, z, all0, 3), ELBO_OK);
    double N = 0.5 * 1.5 + 0.5 * 3, N1 = 0.5, m0 = 0.5 * 1.5 + 0.5 * 15, m1 = 5.5, tot = N + N1;
    cr_assert_float_eq(cb.e[0], (float)(m0 / ((N + 0.1) / (tot + 0.2) * tot)), 1e-5);
    cr_assert_float_eq(cb.e[1], (float)(m1 / ((N1 + 0.1) / (tot + 0.2) * tot)), 1e-5);
    const int32_t bad[1] = {2};
    cr_assert_eq(elbo_vq_ema_update(&cb, z, bad, 1), ELBO_ERR_INVALID);
    elbo_vq_codebook_free(&cb);
}

Test(vqvae, codebook_sizes_out_of_range_are_refused)
{
    elbo_vq_codebook cb;
    cr_assert_eq(elbo_vq_codebook_alloc(&cb, 1, 4, 0.99f, 1e-5f), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_vq_codebook_alloc(&cb, ELBO_VQ_MAX_CODES + 1, 4, 0.99f, 1e-5f), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_vq_codebook_alloc(&cb, 8, 0, 0.99f, 1e-5f), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_vq_codebook_alloc(&cb, 8, 4, 1.0f, 1e-5f), ELBO_ERR_INVALID);
    elbo_vqvae_config cfg = tiny_config();
    elbo_rng rng;
    elbo_rng_seed(&rng, 1);
    elbo_vqvae m;
    cfg.codes = 1;
    cr_assert_eq(elbo_vqvae_create(&m, &cfg, &rng), ELBO_ERR_INVALID);
    cfg = tiny_config(), cfg.rows = 10;
    cr_assert_eq(elbo_vqvae_create(&m, &cfg, &rng), ELBO_ERR_INVALID);
    cr_assert(strstr(elbo_last_error(), "multiples of 4"));
}

/* ---- usage statistics ---- */

Test(vqvae, perplexity_and_dead_codes)
{
    const uint64_t c[4] = {1, 1, 2, 0};
    /* p = (1/4, 1/4, 1/2): H = 1.5 bits, perplexity 2^1.5 */
    cr_assert_float_eq(elbo_vq_perplexity(c, 4), pow(2.0, 1.5), 1e-12);
    cr_assert_eq(elbo_vq_dead_codes(c, 4), 1);
    uint64_t u[50];
    for (int k = 0; k < 50; k++)
        u[k] = 7;
    cr_assert_float_eq(elbo_vq_perplexity(u, 50), 50.0, 1e-9);
    cr_assert_eq(elbo_vq_dead_codes(u, 50), 0);
    /* random counts against the base-2 form 2^(-Σ p log2 p) */
    elbo_rng r;
    elbo_rng_seed(&r, 3);
    uint64_t v[64], tot = 0;
    int dead = 0;
    for (int k = 0; k < 64; k++) {
        v[k] = elbo_rng_below(&r, 4) == 0 ? 0 : elbo_rng_below(&r, 1000);
        tot += v[k], dead += v[k] == 0;
    }
    double h2 = 0;
    for (int k = 0; k < 64; k++)
        if (v[k])
            h2 -= (double)v[k] / tot * log2((double)v[k] / tot);
    cr_assert_float_eq(elbo_vq_perplexity(v, 64), exp2(h2), 1e-9);
    cr_assert_eq(elbo_vq_dead_codes(v, 64), dead);
    const uint64_t none[3] = {0, 0, 0};
    cr_assert_eq(elbo_vq_perplexity(none, 3), 0.0);
}

/* ---- the prior ---- */

static double grid_probability_sum(int P, int K, int H)
{
    elbo_vq_prior pr;
    elbo_rng rng;
    elbo_rng_seed(&rng, 9);
    cr_assert_eq(elbo_vq_prior_create(&pr, P, K, H, &rng), ELBO_OK);
    /* bigger weights than the init, so the conditionals are far from uniform */
    for (size_t i = 0; i < pr.p.n; i++)
        pr.p.w[i] *= 8.0f;
    int n = 1;
    for (int q = 0; q < P; q++)
        n *= K;
    int32_t *c = malloc((size_t)n * P * sizeof *c);
    for (int i = 0; i < n; i++)
        for (int q = 0, v = i; q < P; q++, v /= K)
            c[i * P + q] = v % K;
    elbo_tape *t = tape();
    elbo_tape_set_grad(t, false);
    double s = 0, pmin = 1, pmax = 0;
    elbo_node *y = elbo_vq_prior_nll(&pr, t, c, n);
    cr_assert_not_null(y);
    for (int i = 0; i < n; i++) {
        double p = exp(-(double)y->x[i]);
        s += p, pmin = fmin(pmin, p), pmax = fmax(pmax, p);
    }
    if (P > 1)
        cr_assert_gt(pmax / pmin, 2.0, "the prior should not be uniform (%g..%g)", pmin, pmax);
    free(c);
    elbo_tape_destroy(t);
    elbo_vq_prior_free(&pr);
    return s;
}

Test(vqvae, prior_sums_to_one_over_all_grids)
{
    cr_assert_float_eq(grid_probability_sum(4, 3, 7), 1.0, 1e-5); /* 2x2 codes, K 3: 81 grids */
    cr_assert_float_eq(grid_probability_sum(3, 4, 5), 1.0, 1e-5);
    cr_assert_float_eq(grid_probability_sum(1, 5, 3), 1.0, 1e-5);
}

static double prior_loss(elbo_vq_prior *pr, elbo_tape *t, const int32_t *c, int B)
{
    elbo_tape_reset(t);
    elbo_tape_set_grad(t, false);
    elbo_node *y = elbo_vq_prior_nll(pr, t, c, B);
    double s = 0;
    for (int i = 0; i < B; i++)
        s += y->x[i];
    return s;
}

Test(vqvae, prior_gradient_matches_finite_differences)
{
    enum { P = 4, K = 3, H = 6, B = 5 };
    elbo_vq_prior pr;
    elbo_rng rng;
    elbo_rng_seed(&rng, 4);
    cr_assert_eq(elbo_vq_prior_create(&pr, P, K, H, &rng), ELBO_OK);
    int32_t c[B * P];
    for (int i = 0; i < B * P; i++)
        c[i] = (int32_t)elbo_rng_below(&rng, K);
    /* keep every hidden pre-activation 0.01 clear of relu's kink (finite
     * differences across it are no check of the gradient) */
    float *w1 = elbo_param_w(&pr.p, pr.w1), *b1 = elbo_param_w(&pr.p, pr.b1);
    for (int h = 0; h < H; h++)
        for (int again = 1; again;) {
            again = 0;
            for (int b = 0; b < B; b++) {
                double a = b1[h];
                for (int q = 0; q < P; q++)
                    a += (double)w1[(q * K + c[b * P + q]) * H + h] * pr.mask1[(q * K + c[b * P + q]) * H + h];
                if (fabs(a) < 1e-2)
                    b1[h] += 0.03f, again = 1;
            }
        }
    elbo_tape *t = tape();
    elbo_tape_set_grad(t, true);
    elbo_params_zero_grad(&pr.p);
    elbo_node *loss = elbo_ad_sum(t, elbo_vq_prior_nll(&pr, t, c, B));
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK);
    float *g = malloc(pr.p.n * sizeof *g);
    memcpy(g, pr.p.g, pr.p.n * sizeof *g);
    int checked = 0, masked_zero = 0;
    for (int id = 0; id < pr.p.count; id++) {
        float *w = elbo_param_w(&pr.p, id);
        const float *gi = g + (elbo_param_g(&pr.p, id) - pr.p.g);
        size_t n = (size_t)pr.p.info[id].rows * (size_t)pr.p.info[id].cols;
        for (size_t j = 0; j < n; j++) {
            float w0 = w[j], h = 1e-3f;
            w[j] = w0 + h;
            double lp = prior_loss(&pr, t, c, B);
            float wp = w[j];
            w[j] = w0 - h;
            double lm = prior_loss(&pr, t, c, B);
            float wm = w[j];
            w[j] = w0;
            double fd = (lp - lm) / ((double)wp - wm);
            if (getenv("VQ_DEBUG")) fprintf(stderr, "%s[%zu] fd %g ad %g\n", pr.p.info[id].name, j, fd, (double)gi[j]);
            else cr_assert(fabs(fd - gi[j]) <= 2e-3 + 1e-2 * fabs(fd), "%s[%zu]: fd %g, ad %g", pr.p.info[id].name, j, fd,
                      (double)gi[j]);
            masked_zero += gi[j] == 0.0f && fd == 0.0;
            checked++;
        }
    }
    cr_assert_gt(masked_zero, 0); /* the masks cut connections: both gradients are 0 there */
    cr_assert_eq(checked, (int)(P * K * H * 2 + H + P * K));
    free(g);
    elbo_tape_destroy(t);
    elbo_vq_prior_free(&pr);
}

Test(vqvae, prior_refuses_codes_out_of_range)
{
    elbo_vq_prior pr;
    elbo_rng rng;
    elbo_rng_seed(&rng, 4);
    cr_assert_eq(elbo_vq_prior_create(&pr, 2, 3, 4, &rng), ELBO_OK);
    cr_assert_eq(elbo_vq_prior_create(&(elbo_vq_prior){0}, 2, 1, 4, &rng), ELBO_ERR_INVALID);
    elbo_tape *t = tape();
    const int32_t c[2] = {0, 3};
    double nll;
    cr_assert_neq(elbo_vq_prior_eval(&pr, t, c, 1, 1, &nll), ELBO_OK);
    cr_assert(strstr(elbo_last_error(), "outside [0,3)"));
    elbo_tape_destroy(t);
    elbo_vq_prior_free(&pr);
}

/* ---- training: same bits for 1 and 2 threads ---- */

typedef struct run_result {
    float *w, *e, *pw;
    size_t nw, ne, npw;
    int32_t samples[4 * 4];
} run_result;

static run_result train_tiny(int threads)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK);
    elbo_vqvae_config cfg = tiny_config();
    elbo_rng rng;
    elbo_rng_seed(&rng, 17);
    elbo_vqvae m;
    cr_assert_eq(elbo_vqvae_create(&m, &cfg, &rng), ELBO_OK);
    elbo_tape *t = tape();
    enum { B = 16, STEPS = 6 };
    float x[B * 64];
    uint64_t counts[6] = {0};
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    tiny_images(x, B, 100u);
    cr_assert_eq(elbo_vqvae_init_codebook(&m, t, x, B, &rng), ELBO_OK);
    for (int s = 0; s < STEPS; s++) {
        tiny_images(x, B, 200u + (uint64_t)s);
        elbo_vqvae_stats st;
        cr_assert_eq(elbo_vqvae_step(&m, t, x, B, &adam, &st, counts), ELBO_OK, "%s", elbo_last_error());
        cr_assert(isfinite(st.loss));
    }
    uint64_t tot = 0;
    for (int k = 0; k < 6; k++)
        tot += counts[k];
    cr_assert_eq(tot, (uint64_t)STEPS * B * 4);
    /* the prior on the codes of the batch, and samples */
    elbo_dataset ds;
    cr_assert_eq(elbo_dataset_from_arrays(x, NULL, B, 8, 8, 0, &ds), ELBO_OK);
    int32_t codes[B * 4];
    double bce, sq;
    cr_assert_eq(elbo_vqvae_eval_data(&m, t, &ds, 0, B, 5, codes, &bce, &sq, NULL), ELBO_OK);
    cr_assert(bce > 0 && sq > 0);
    elbo_vq_prior pr;
    cr_assert_eq(elbo_vq_prior_create(&pr, 4, 6, 8, &rng), ELBO_OK);
    for (int s = 0; s < 3; s++)
        cr_assert_eq(elbo_vq_prior_step(&pr, t, codes, B, &adam, NULL), ELBO_OK);
    run_result r = {0};
    cr_assert_eq(elbo_vq_prior_sample(&pr, t, 4, &rng, r.samples), ELBO_OK);
    r.nw = m.p.n, r.ne = 6 * 3, r.npw = pr.p.n;
    r.w = malloc(r.nw * sizeof *r.w), r.e = malloc(r.ne * sizeof *r.e), r.pw = malloc(r.npw * sizeof *r.pw);
    memcpy(r.w, m.p.w, r.nw * sizeof *r.w);
    memcpy(r.e, m.cb.e, r.ne * sizeof *r.e);
    memcpy(r.pw, pr.p.w, r.npw * sizeof *r.pw);
    elbo_dataset_free(&ds);
    elbo_vq_prior_free(&pr);
    elbo_tape_destroy(t);
    elbo_vqvae_free(&m);
    return r;
}

Test(vqvae, same_bits_for_one_and_two_threads)
{
    run_result a = train_tiny(1), b = train_tiny(2);
    elbo_set_threads(1);
    cr_assert_eq(memcmp(a.w, b.w, a.nw * sizeof *a.w), 0);
    cr_assert_eq(memcmp(a.e, b.e, a.ne * sizeof *a.e), 0);
    cr_assert_eq(memcmp(a.pw, b.pw, a.npw * sizeof *a.pw), 0);
    cr_assert_eq(memcmp(a.samples, b.samples, sizeof a.samples), 0);
    free(a.w), free(a.e), free(a.pw), free(b.w), free(b.e), free(b.pw);
}

/* ---- the driver: bad input is one line and exit 2 ---- */

static int run_driver(const char *args, char *err, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s --out /nonexistent-dir-vqvae/x 2>&1 >/dev/null", ELBO_VQVAE_DRIVER, args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t n = fread(err, 1, cap - 1, f);
    err[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(vqvae, driver_bad_flags_exit_2_with_one_line)
{
    static const char *const bad[] = {"--codes 1", "--codes 5000", "--dim 0", "--beta -1", "--decay 1",
                                      "--no-such-flag", "--epochs x", "--prior-hidden 0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[4096];
        int rc = run_driver(bad[i], err, sizeof err);
        cr_assert_eq(rc, 2, "%s: exit %d (%s)", bad[i], rc, err);
        cr_assert_eq(lines(err), 1, "%s: expected one line, got '%s'", bad[i], err);
    }
}

/* ---- data parallel: a batch split in two shards, run one after the other ----
 * Shard 1 runs first and is stopped in after_backward with its gradient
 * kept (its codebook statistics come from the same rows through the
 * encoder); shard 0 then adds both in its hooks, as the sum across two
 * processes would (g_0 + g_1). Its step must be the whole batch's: the
 * weights, the codebook, the loss, to float rounding. */
typedef struct two_shards {
    float *g1;      /* shard 1's gradient */
    double *stats1; /* shard 1's codebook statistics */
    int after, sums;
} two_shards;

static elbo_status keep_grad(void *ctx, elbo_params *p)
{
    memcpy(((two_shards *)ctx)->g1, p->g, p->n * sizeof(float));
    return elbo_fail(ELBO_ERR_INVALID, "shard 1 stops here");
}

static elbo_status add_grad(void *ctx, elbo_params *p)
{
    two_shards *s = ctx;
    for (size_t i = 0; i < p->n; i++)
        p->g[i] += s->g1[i];
    s->after++;
    return ELBO_OK;
}

static elbo_status add_stats(void *ctx, double *x, int n)
{
    two_shards *s = ctx;
    for (int i = 0; i < n; i++)
        x[i] += s->stats1[i];
    s->sums++;
    return ELBO_OK;
}

/* The codebook statistics of rows x (B rows) through m's encoder. */
static void shard_stats(elbo_vqvae *m, const float *x, int B, double *stats)
{
    elbo_tape *t = tape();
    elbo_tape_set_grad(t, false);
    elbo_node *ze = elbo_vqvae_encoder(m, t, elbo_ad_input_nd(t, 4, (const int[]){B, 8, 8, 1}, x));
    elbo_node *r = elbo_ad_vq_residual(t, ze, elbo_ad_input(t, m->cb.K, m->cb.D, m->cb.e));
    cr_assert(r, "%s", elbo_last_error());
    size_t M = (size_t)ze->rows * (size_t)ze->cols / (size_t)m->cb.D;
    cr_assert_eq(elbo_vq_batch_stats(&m->cb, ze->x, elbo_ad_vq_codes(r), M, stats), ELBO_OK);
    elbo_tape_destroy(t);
}

static void expect_close(const float *a, const float *b, size_t n, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        worst = d > worst ? d : worst;
    }
    cr_expect(worst < 1e-5, "%s: the sharded step is %g (relative) from the whole batch's", what, worst);
}

Test(vqvae, two_shards_take_the_whole_batch_step)
{
    enum { B = 10, B1 = 4 }; /* shard 0: rows 0..5, shard 1: rows 6..9 */
    elbo_vqvae_config cfg = tiny_config();
    elbo_vqvae whole, part;
    elbo_rng r1, r2;
    elbo_rng_seed(&r1, 23), elbo_rng_seed(&r2, 23);
    cr_assert_eq(elbo_vqvae_create(&whole, &cfg, &r1), ELBO_OK);
    cr_assert_eq(elbo_vqvae_create(&part, &cfg, &r2), ELBO_OK);
    elbo_tape *t = tape();
    float x[B * 64];
    tiny_images(x, B, 300u);
    cr_assert_eq(elbo_vqvae_init_codebook(&whole, t, x, B, &r1), ELBO_OK);
    cr_assert_eq(elbo_vqvae_init_codebook(&part, t, x, B, &r2), ELBO_OK);
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    adam.lr = 1e-2f;
    two_shards s = {.g1 = malloc(part.p.n * sizeof(float)),
                    .stats1 = malloc((size_t)cfg.codes * (1 + (size_t)cfg.dim) * sizeof(double))};
    for (int step = 0; step < 3; step++) {
        tiny_images(x, B, 400u + (uint64_t)step);
        elbo_vqvae_stats sw, s0, s1;
        uint64_t cw[6] = {0}, c0[6] = {0};
        cr_assert_eq(elbo_vqvae_step(&whole, t, x, B, &adam, &sw, cw), ELBO_OK, "%s", elbo_last_error());
        const float *x1 = x + (size_t)(B - B1) * 64;
        elbo_tape_reset(t);
        cr_assert(elbo_vqvae_loss(&part, t, x1, B1, &s1, NULL, NULL));
        elbo_vq_shard one = {.batch = B, .after_backward = keep_grad, .ctx = &s};
        cr_assert_eq(elbo_vqvae_step_shard(&part, t, x1, B1, &one, &adam, NULL, NULL), ELBO_ERR_INVALID);
        shard_stats(&part, x1, B1, s.stats1);
        elbo_vq_shard zero = {.batch = B, .after_backward = add_grad, .sum = add_stats, .ctx = &s};
        cr_assert_eq(elbo_vqvae_step_shard(&part, t, x, B - B1, &zero, &adam, &s0, c0), ELBO_OK, "%s",
                     elbo_last_error());
        cr_expect(fabs(s0.bce + s1.bce - sw.bce) < 1e-4 * sw.bce, "BCE %g + %g, whole batch %g", s0.bce, s1.bce, sw.bce);
        cr_expect(fabs(s0.loss * B + s1.loss * B1 - sw.loss * B) < 1e-4 * fabs(sw.loss * B),
                  "loss: shard 0's share %g and shard 1's %g, whole batch %g", s0.loss, s1.loss * B1 / B, sw.loss);
        cr_expect_eq(part.p.step, whole.p.step);
    }
    cr_expect_eq(s.after, 3);
    cr_expect_eq(s.sums, 3, "the codebook's statistics were summed %d times in 3 steps", s.sums);
    expect_close(part.p.w, whole.p.w, part.p.n, "weights");
    expect_close(part.cb.e, whole.cb.e, (size_t)cfg.codes * (size_t)cfg.dim, "codebook");

    /* The prior: the same split of its batch of code grids. */
    elbo_vq_prior pw, pp;
    elbo_rng_seed(&r1, 0), elbo_rng_seed(&r2, 0);
    cr_assert_eq(elbo_vq_prior_create(&pw, 4, 6, 8, &r1), ELBO_OK);
    cr_assert_eq(elbo_vq_prior_create(&pp, 4, 6, 8, &r2), ELBO_OK);
    int32_t codes[B * 4];
    for (int i = 0; i < B * 4; i++)
        codes[i] = (int32_t)((i * 7 + 3) % 6);
    free(s.g1);
    s.g1 = malloc(pp.p.n * sizeof(float));
    for (int step = 0; step < 3; step++) {
        double nw, n0;
        cr_assert_eq(elbo_vq_prior_step(&pw, t, codes, B, &adam, &nw), ELBO_OK);
        elbo_vq_shard one = {.batch = B, .after_backward = keep_grad, .ctx = &s};
        cr_assert_eq(elbo_vq_prior_step_shard(&pp, t, codes + (B - B1) * 4, B1, &one, &adam, NULL), ELBO_ERR_INVALID);
        elbo_vq_shard zero = {.batch = B, .after_backward = add_grad, .ctx = &s};
        cr_assert_eq(elbo_vq_prior_step_shard(&pp, t, codes, B - B1, &zero, &adam, &n0), ELBO_OK, "%s",
                     elbo_last_error());
        cr_expect(n0 > 0 && n0 < nw, "shard 0's NLL sum %g, the whole batch's %g", n0, nw);
    }
    expect_close(pp.p.w, pw.p.w, pp.p.n, "prior weights");
    elbo_vq_prior_free(&pw), elbo_vq_prior_free(&pp);
    free(s.g1), free(s.stats1);
    elbo_tape_destroy(t);
    elbo_vqvae_free(&whole), elbo_vqvae_free(&part);
}

/* A shard whose loss is not finite hands in NaN gradients, every one
 * declared final, and fails; the weights stay. */
static int ready_calls;
static void count_ready(void *ctx, elbo_params *p, int id) { (void)ctx, (void)p, (void)id, ready_calls++; }
static bool all_nan;
static elbo_status see_nan(void *ctx, elbo_params *p)
{
    (void)ctx;
    all_nan = true;
    for (size_t i = 0; i < p->n; i++)
        all_nan = all_nan && isnan(p->g[i]);
    return ELBO_OK;
}

Test(vqvae, shard_with_nonfinite_loss_hands_in_nans)
{
    elbo_vqvae_config cfg = tiny_config();
    elbo_vqvae m;
    elbo_rng rng;
    elbo_rng_seed(&rng, 3);
    cr_assert_eq(elbo_vqvae_create(&m, &cfg, &rng), ELBO_OK);
    elbo_tape *t = tape();
    float x[4 * 64];
    tiny_images(x, 4, 9u);
    cr_assert_eq(elbo_vqvae_init_codebook(&m, t, x, 4, &rng), ELBO_OK);
    elbo_param_w(&m.p, m.dec_b[2])[0] = NAN; /* the output bias: the BCE is NaN */
    float *w = malloc(m.p.n * sizeof(float));
    memcpy(w, m.p.w, m.p.n * sizeof(float));
    elbo_vq_shard sh = {.batch = 8, .grad_ready = count_ready, .after_backward = see_nan};
    elbo_adam_config adam = ELBO_ADAM_DEFAULT;
    cr_expect_eq(elbo_vqvae_step_shard(&m, t, x, 4, &sh, &adam, NULL, NULL), ELBO_ERR_NONFINITE);
    cr_expect(strstr(elbo_last_error(), "vqvae: the loss is not finite at step 1"), "%s", elbo_last_error());
    cr_expect_eq(ready_calls, m.p.count);
    cr_expect(all_nan, "the gradient handed in is not all NaN");
    cr_expect(memcmp(w, m.p.w, m.p.n * sizeof(float)) == 0, "the weights moved");
    free(w);
    elbo_tape_destroy(t);
    elbo_vqvae_free(&m);
}
