/* The reparameterized gradient of the whole objective against central finite
 * differences, with the noise eps held fixed (so the loss is a deterministic
 * function of the parameters): ELBO with L samples, beta weight, free bits,
 * the IWAE-K bound, Gaussian likelihoods (fixed and learned variance), and
 * the conditional model. Smooth activations keep finite differences honest. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "vae_fixture.h"

/* Loss of (x, y) at the current parameters with fixed eps. */
static double loss_at(elbo_vae *m, elbo_tape *t, const float *x, const float *y, int B, const elbo_vae_objective *obj,
                      const float *eps)
{
    elbo_tape_reset(t);
    elbo_node *loss;
    elbo_status st = elbo_vae_loss(m, t, x, y, B, obj, NULL, eps, &loss, NULL);
    cr_assert_eq(st, ELBO_OK, "loss: %s", elbo_last_error());
    return loss->x[0];
}

static void check_grad(elbo_vae_config cfg, elbo_vae_objective obj, uint64_t seed)
{
    const int B = 3;
    elbo_rng r;
    elbo_rng_seed(&r, seed);
    elbo_vae m;
    cr_assert_eq(elbo_vae_create(&m, &cfg, &r), ELBO_OK, "%s", elbo_last_error());
    elbo_tape *t;
    cr_assert_eq(elbo_tape_create(&t, 1 << 20), ELBO_OK);

    float x[B * FX_D], y[B * FX_CLASSES];
    tu_fill_uniform(x, B * FX_D, 0.0f, 1.0f, seed + 1);
    memset(y, 0, sizeof y);
    for (int b = 0; b < B; b++)
        y[b * FX_CLASSES + b % FX_CLASSES] = 1.0f;
    const float *yy = cfg.n_classes ? y : NULL;
    int S = obj.iw_k > 1 ? obj.iw_k : obj.mc_samples;
    size_t ne = (size_t)S * B * cfg.z_dim;
    float *eps = malloc(ne * sizeof(float));
    elbo_rng_normal_f32(&r, eps, ne);

    /* Analytic gradient. */
    elbo_params *p = &m.params;
    elbo_params_zero_grad(p);
    elbo_tape_reset(t);
    elbo_node *loss;
    cr_assert_eq(elbo_vae_loss(&m, t, x, yy, B, &obj, NULL, eps, &loss, NULL), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_backward(t, loss), ELBO_OK, "%s", elbo_last_error());
    float *g = malloc(p->n * sizeof(float));
    memcpy(g, p->g, p->n * sizeof(float));

    /* Finite differences on a spread of coordinates of every parameter. */
    int checked = 0;
    double worst = 0.0;
    for (int i = 0; i < p->count; i++) {
        size_t cnt = (size_t)p->info[i].rows * (size_t)p->info[i].cols;
        for (size_t k = 0; k < cnt; k += 1 + cnt / 7) {
            float *w = p->w + p->info[i].offset + k;
            float w0 = *w;
            const float h = 2e-3f;
            *w = w0 + h;
            double lp = loss_at(&m, t, x, yy, B, &obj, eps);
            *w = w0 - h;
            double lm = loss_at(&m, t, x, yy, B, &obj, eps);
            *w = w0;
            double fd = (lp - lm) / (2.0 * h);
            double an = g[p->info[i].offset + k];
            double err = fabs(fd - an) / (2e-2 + 2e-2 * fabs(fd));
            worst = err > worst ? err : worst;
            cr_expect(err <= 1.0, "%s[%zu]: analytic %.6g, finite difference %.6g", p->info[i].name, k, an, fd);
            checked++;
        }
    }
    cr_assert_gt(checked, 10);
    free(eps);
    free(g);
    elbo_tape_destroy(t);
    elbo_vae_free(&m);
}

Test(vae_grad, elbo_bernoulli_tanh)
{
    check_grad(fx_config(12, 3, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI), ELBO_VAE_OBJECTIVE_DEFAULT, 1);
}

Test(vae_grad, elbo_two_samples_beta_leaky)
{
    elbo_vae_config c = fx_config(10, 4, 0, ELBO_VAE_LEAKY, ELBO_VAE_BERNOULLI);
    c.leaky_slope = 0.2f;
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.mc_samples = 2;
    o.kl_weight = 2.5f;
    check_grad(c, o, 2);
}

Test(vae_grad, free_bits)
{
    /* lambda splits the dimensions: some above the floor (gradient flows), some below (none). */
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.free_bits = 0.05f;
    check_grad(fx_config(12, 5, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI), o, 3);
}

Test(vae_grad, iwae_bound)
{
    elbo_vae_objective o = ELBO_VAE_OBJECTIVE_DEFAULT;
    o.iw_k = 4;
    check_grad(fx_config(12, 3, 0, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI), o, 4);
}

Test(vae_grad, gaussian_fixed_and_learned)
{
    check_grad(fx_config(10, 3, 0, ELBO_VAE_TANH, ELBO_VAE_GAUSSIAN), ELBO_VAE_OBJECTIVE_DEFAULT, 5);
    check_grad(fx_config(10, 3, 0, ELBO_VAE_TANH, ELBO_VAE_GAUSSIAN_LEARNED), ELBO_VAE_OBJECTIVE_DEFAULT, 6);
}

Test(vae_grad, conditional_two_layers)
{
    elbo_vae_config c = fx_config(10, 3, FX_CLASSES, ELBO_VAE_TANH, ELBO_VAE_BERNOULLI);
    c.n_hidden = 2;
    c.hidden[1] = 6;
    check_grad(c, ELBO_VAE_OBJECTIVE_DEFAULT, 7);
}
