/* Helpers of the objective tests (obj_test.h). */
#include "obj_test.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/simd_level.h"
#include "test_util.h"

void ot_batch(elbo_params *p, int B, int D, uint64_t seed)
{
    elbo_params_init(p);
    elbo_params_add(p, "mu", B, D);
    elbo_params_add(p, "logvar", B, D);
    elbo_params_add(p, "z", B, D);
    elbo_params_finalize(p);
    size_t n = (size_t)B * (size_t)D;
    float *mu = elbo_param_w(p, 0), *lv = elbo_param_w(p, 1), *z = elbo_param_w(p, 2);
    tu_fill_uniform(mu, n, -1.0f, 1.0f, seed);
    tu_fill_uniform(lv, n, -1.0f, 0.5f, seed + 1);
    tu_fill_uniform(z, n, -2.0f, 2.0f, seed + 2);
    for (size_t i = 0; i < n; i++)
        z[i] = mu[i] + expf(0.5f * lv[i]) * z[i];
}

static elbo_node *run(elbo_tape *t, elbo_params *p, ot_build_fn build, void *ctx)
{
    elbo_tape_reset(t);
    return build(t, elbo_ad_param(t, p, 0), elbo_ad_param(t, p, 1), elbo_ad_param(t, p, 2), ctx);
}

bool ot_close(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(1.0, fabs(b)); }

int ot_grad_check(elbo_params *p, ot_build_fn build, void *ctx, unsigned which, double atol, double rtol,
                  char *msg, size_t msg_len)
{
    elbo_tape *t = NULL;
    msg[0] = '\0';
    if (elbo_tape_create(&t, 1 << 20) != ELBO_OK) {
        snprintf(msg, msg_len, "tape: %s", elbo_last_error());
        return -1;
    }
    elbo_simd saved = elbo_simd_current();
    int bad = 0;
    float *ad = malloc(p->n * sizeof *ad);
    const float h = 1e-2f;
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv) || elbo_simd_set((elbo_simd)lv) != ELBO_OK)
            continue;
        elbo_tape_set_grad(t, true);
        elbo_params_zero_grad(p);
        elbo_node *L = run(t, p, build, ctx);
        if (!L || elbo_backward(t, L) != ELBO_OK) {
            snprintf(msg, msg_len, "[%s] build/backward: %s", elbo_simd_name((elbo_simd)lv), elbo_last_error());
            bad = -1;
            break;
        }
        memcpy(ad, p->g, p->n * sizeof *ad);
        elbo_tape_set_grad(t, false);
        for (int id = 0; id < 3; id++) {
            if (!(which & (1u << id)))
                continue;
            float *w = elbo_param_w(p, id);
            for (size_t j = 0; j < elbo_param_size(p, id); j++) {
                float w0 = w[j], wp = w0 + h, wm = w0 - h;
                w[j] = wp;
                double Lp = run(t, p, build, ctx)->x[0];
                w[j] = wm;
                double Lm = run(t, p, build, ctx)->x[0];
                w[j] = w0;
                double fd = (Lp - Lm) / ((double)wp - (double)wm), g = ad[p->info[id].offset + j];
                /* L is a float: fd resolves steps of ulp(L) / 2h; allow 8 of them */
                double tol = atol + 8.0 * FLT_EPSILON * fabs(Lp) / ((double)wp - (double)wm);
                if (getenv("OT_DEBUG") && fabs(fd - g) > tol + rtol * fabs(fd))
                    fprintf(stderr, "[%s] %s[%zu] fd %.6g ad %.6g L %.9g\n", elbo_simd_name((elbo_simd)lv), p->info[id].name, j, fd, g, Lp);
                if (fabs(fd - g) > tol + rtol * fabs(fd) && bad++ == 0)
                    snprintf(msg, msg_len, "[%s] d %s[%zu]: fd %.6g ad %.6g", elbo_simd_name((elbo_simd)lv),
                             p->info[id].name, j, fd, g);
            }
        }
    }
    elbo_simd_set(saved);
    free(ad);
    elbo_tape_destroy(t);
    return bad;
}
