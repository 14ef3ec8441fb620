/* Determinism of the kernel front-end (ops/ops.h): every call on arrays large
 * enough to be split into tasks gives the same bits for 1 and 2 threads, at
 * every SIMD level, and the same bits as one whole-array kernel call. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

static void restore_defaults(void)
{
    elbo_set_threads(1);
    elbo_simd_set(elbo_simd_best());
}

static bool same_bits(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

/* ---------------- kernel front-end ---------------- */

/* Every front-end call on arrays large enough to be split into tasks. */
#define FE_N 100003 /* > ELBO_OPS_PARALLEL_MIN, not a multiple of the chunk */
#define FE_R 257
#define FE_C 389

typedef struct fe_out {
    float add[FE_N], mul[FE_N], axpy[FE_N], tanh_[FE_N], sig[FE_N], sp[FE_N], ex[FE_N], lg[FE_N], sp_bwd[FE_N];
    float rowlse[FE_R], rowmax[FE_R], colsum[FE_C], bias[FE_R * FE_C];
    float bern[FE_R], bern_bwd[FE_R * FE_C], kl[FE_R], kl_dmu[FE_R * FE_C], kl_dlv[FE_R * FE_C];
    float gauss[FE_R], gauss_dm[FE_R * FE_C], gauss_dlv[FE_C];
    float adam_w[FE_N], adam_m[FE_N], adam_v[FE_N];
    double sum;
} fe_out;

static void frontend_run(int threads, const float *a, const float *b, fe_out *o)
{
    cr_assert_eq(elbo_set_threads(threads), ELBO_OK, "%s", elbo_last_error());
    memset(o, 0, sizeof *o);
    float *pos = malloc(FE_N * sizeof *pos), *t01 = malloc(FE_R * FE_C * sizeof *t01);
    float *drow = malloc(FE_R * sizeof *drow), *lv = malloc(FE_C * sizeof *lv);
    for (size_t i = 0; i < FE_N; i++)
        pos[i] = fabsf(a[i]) + 1e-3f;
    tu_fill_uniform(t01, FE_R * FE_C, 0, 1, 5);
    tu_fill_uniform(drow, FE_R, -1, 1, 6);
    tu_fill_uniform(lv, FE_C, -1, 1, 7);

    elbo_add(FE_N, a, b, o->add);
    elbo_mul(FE_N, a, b, o->mul);
    memcpy(o->axpy, b, sizeof o->axpy);
    elbo_axpy(FE_N, 0.3f, a, o->axpy);
    elbo_tanh(FE_N, a, o->tanh_);
    elbo_sigmoid(FE_N, a, o->sig);
    elbo_softplus(FE_N, a, o->sp);
    elbo_exp(FE_N, a, o->ex);
    elbo_log(FE_N, pos, o->lg);
    elbo_softplus_bwd(FE_N, a, b, o->sp_bwd);
    o->sum = elbo_sum(FE_N, a);
    elbo_row_logsumexp(FE_R, FE_C, a, o->rowlse);
    elbo_row_max(FE_R, FE_C, a, o->rowmax);
    elbo_col_sum(FE_R, FE_C, a, o->colsum);
    memcpy(o->bias, b, sizeof o->bias);
    elbo_add_bias(FE_R, FE_C, a, o->bias);
    elbo_bernoulli_nll(FE_R, FE_C, a, t01, o->bern);
    elbo_bernoulli_nll_bwd(FE_R, FE_C, a, t01, drow, o->bern_bwd);
    elbo_kl_diag(FE_R, FE_C, a, b, o->kl);
    elbo_kl_diag_bwd(FE_R, FE_C, a, b, drow, o->kl_dmu, o->kl_dlv);
    elbo_gauss_nll(FE_R, FE_C, a, t01, lv, o->gauss);
    elbo_gauss_nll_bwd(FE_R, FE_C, a, t01, lv, drow, o->gauss_dm, o->gauss_dlv);
    memcpy(o->adam_w, a, sizeof o->adam_w);
    for (int s = 0; s < 3; s++)
        elbo_adam(FE_N, 1e-3f, 0.9f, 0.999f, 1e-8f, b, o->adam_m, o->adam_v, o->adam_w);
    free(pos), free(t01), free(drow), free(lv);
}

Test(determinism, kernel_frontend_threads, .fini = restore_defaults)
{
    float *a = malloc(FE_N * sizeof *a), *b = malloc(FE_N * sizeof *b);
    tu_fill_uniform(a, FE_N, -4, 4, 1);
    tu_fill_uniform(b, FE_N, -1, 1, 2);
    fe_out *o1 = malloc(sizeof *o1), *o2 = malloc(sizeof *o2);
    for (int level = 0; level < ELBO_SIMD_COUNT; level++) {
        if (!elbo_simd_supported((elbo_simd)level))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)level), ELBO_OK);
        frontend_run(1, a, b, o1);
        frontend_run(2, a, b, o2);
        /* field by field so a failure names the kernel */
#define SAME(f)                                                                                              \
    cr_expect(same_bits(&o1->f, &o2->f, sizeof o1->f), "%s: elbo_" #f " differs between 1 and 2 threads",   \
              elbo_simd_name((elbo_simd)level))
        SAME(add);
        SAME(mul);
        SAME(axpy);
        SAME(tanh_);
        SAME(sig);
        SAME(sp);
        SAME(ex);
        SAME(lg);
        SAME(sp_bwd);
        SAME(sum);
        SAME(rowlse);
        SAME(rowmax);
        SAME(colsum);
        SAME(bias);
        SAME(bern);
        SAME(bern_bwd);
        SAME(kl);
        SAME(kl_dmu);
        SAME(kl_dlv);
        SAME(gauss);
        SAME(gauss_dm);
        SAME(gauss_dlv);
        SAME(adam_w);
        SAME(adam_m);
        SAME(adam_v);
#undef SAME
        /* elementwise results are the bits of one whole-array call of the level's kernel */
        float *y = malloc(FE_N * sizeof *y);
        elbo_k()->tanh(FE_N, a, y);
        cr_expect(same_bits(y, o2->tanh_, FE_N * sizeof *y), "%s: threaded elbo_tanh != one kernel call",
                  elbo_simd_name((elbo_simd)level));
        free(y);
    }
    free(a), free(b), free(o1), free(o2);
}
