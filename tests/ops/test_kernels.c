/* Every kernel of ops/kernels/list.h at every supported SIMD level against
 * the scalar reference, and the ops.h front-end against the current level's
 * table on inputs large enough to be split into tasks (bit-identical), by the
 * shared cases of tests/common/kernel_cases.c (their header says how a case
 * passes). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_cases.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

typedef const struct elbo_kernels K;

/* Every non-scalar level that this CPU and build support. */
static int simd_levels(K **out)
{
    int n = 0;
    for (int l = 0; l < ELBO_SIMD_COUNT; l++)
        if (l != ELBO_SIMD_SCALAR && elbo_kernels_for((elbo_simd)l))
            out[n++] = elbo_kernels_for((elbo_simd)l);
    return n;
}

Test(kernels, every_level_matches_scalar)
{
    K *levels[ELBO_SIMD_COUNT];
    int nl = simd_levels(levels);
    char msg[512];
    for (int l = 0; l < nl; l++)
        for (int c = 0; c < kc_count(); c++)
            cr_expect(kc_check_all_shapes(kc_case(c), levels[l], &elbo_kernels_scalar, msg, sizeof msg), "%s", msg);
}

Test(kernels, tables_are_complete)
{
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        K *k = elbo_kernels_for((elbo_simd)l);
        if (!k)
            continue;
        cr_assert_str_eq(k->name, elbo_simd_name((elbo_simd)l));
        for (int id = 0; id < ELBO_KERNEL_COUNT; id++)
            cr_expect(elbo_kernel_slot(k, (enum elbo_kernel_id)id) != NULL, "%s: kernel %s is NULL", k->name,
                      elbo_kernel_names[id]);
    }
}

/* Front-end (threaded, chunked) against one call on the current table, at
 * the test shapes and at shapes above ELBO_OPS_PARALLEL_MIN, for 1 and 2
 * threads: bit-identical. */
Test(kernels, front_end_matches_table)
{
    static const size_t big_rows = 2001, big_cols = 33; /* 66033 floats, odd */
    char msg[512];
    for (int threads = 1; threads <= 2; threads++) {
        cr_assert_eq(elbo_set_threads(threads), ELBO_OK);
        for (int i = 0; i < kc_count(); i++) {
            const kcase *c = kc_case(i);
            cr_expect(kc_check_all_shapes(c, NULL, elbo_k(), msg, sizeof msg), "%s", msg);
            if (c->rowwise) {
                cr_expect(kc_check(c, NULL, elbo_k(), big_rows, big_cols, 99u, msg, sizeof msg), "%s", msg);
                /* narrow rows, split into tasks */
                cr_expect(kc_check(c, NULL, elbo_k(), 33001, 2, 98u, msg, sizeof msg), "%s", msg);
            } else {
                cr_expect(kc_check(c, NULL, elbo_k(), 1, big_rows * big_cols, 99u, msg, sizeof msg), "%s", msg);
            }
        }
    }
    elbo_set_threads(1);
}

/* y may alias an input of the elementwise kernels */
Test(kernels, elementwise_in_place)
{
    K *levels[ELBO_SIMD_COUNT + 1];
    int nl = simd_levels(levels);
    levels[nl++] = &elbo_kernels_scalar;
    const size_t n = 37;
    for (int l = 0; l < nl; l++) {
        float a[37], b[37], y[37], want[37];
        tu_fill_uniform(a, n, -1, 1, 1);
        tu_fill_uniform(b, n, -1, 1, 2);
        elbo_kernels_scalar.add(n, a, b, want);
        memcpy(y, a, sizeof a);
        levels[l]->add(n, y, b, y);
        cr_assert(tu_max_rel_err(y, want, n, 1e-37, 0, NULL) <= 1.0, "%s add in place", levels[l]->name);
        elbo_kernels_scalar.scale(n, 3.0f, a, want);
        memcpy(y, a, sizeof a);
        levels[l]->scale(n, 3.0f, y, y);
        cr_assert(tu_max_rel_err(y, want, n, 1e-37, 0, NULL) <= 1.0, "%s scale in place", levels[l]->name);
    }
}

/* sum: double result within 1e-6 sum|x| of the double reference, every level */
Test(kernels, sum_matches_scalar)
{
    K *levels[ELBO_SIMD_COUNT];
    int nl = simd_levels(levels);
    static const size_t extra[] = {255, 256, 257, 4099, 100003};
    for (int l = 0; l < nl; l++)
        for (size_t s = 0; s < kc_nlengths + sizeof extra / sizeof extra[0]; s++) {
            size_t n = s < kc_nlengths ? kc_lengths[s] : extra[s - kc_nlengths];
            float *x = kc_array(n, -1.0f, 1.0f, 5u + (unsigned)s);
            double abs_sum = 0.0;
            for (size_t i = 0; i < n; i++)
                abs_sum += fabs(x[i]);
            double got = levels[l]->sum(n, x), want = elbo_kernels_scalar.sum(n, x);
            cr_assert(fabs(got - want) <= 1e-6 * abs_sum + 1e-30, "sum [%s] n=%zu: %.17g vs %.17g",
                      levels[l]->name, n, got, want);
            kc_array_free(x);
        }
}

/* d-arrays accumulate: bwd(dx = D) == D + bwd(dx = 0), for every level
 * including scalar, on every case whose outputs are all accumulated */
Test(kernels, gradients_accumulate)
{
    K *levels[ELBO_SIMD_COUNT + 1];
    int nl = simd_levels(levels);
    levels[nl++] = &elbo_kernels_scalar;
    static const char *const bwd[] = {
        "relu_bwd", "leaky_relu_bwd", "tanh_bwd", "sigmoid_bwd", "softplus_bwd", "exp_bwd", "log_bwd", "gelu_bwd",
        "silu_bwd", "elu_bwd", "bernoulli_nll_bwd", "gauss_nll_bwd", "kl_diag_bwd", "categorical_nll_bwd",
        "softmax_bwd", "softmax_bwd(strided)", "log_softmax_bwd", "avgpool2d_bwd(k3 s1)", "upsample2d_bwd(2)",
        "col2im(k4 s2 p1)", "reparam_bwd", "axpy", "fma", "add_bias", "col_sum"};
    const size_t R = 3, C = 17, n = R * C;
    for (int l = 0; l < nl; l++)
        for (size_t b = 0; b < sizeof bwd / sizeof bwd[0]; b++) {
            const kcase *c = kc_find(bwd[b]);
            cr_assert(c, "no case %s", bwd[b]);
            size_t rr = c->rowwise ? R : 1, cc = c->rowwise ? C : n;
            float *in[KC_MAX_ARRAYS], *zero[KC_MAX_ARRAYS], *acc[KC_MAX_ARRAYS], *d0[KC_MAX_ARRAYS];
            size_t lout[KC_MAX_ARRAYS];
            for (int i = 0; i < c->nin; i++)
                in[i] = kc_array(kc_len(c, c->in[i].sz, rr, cc), c->in[i].lo, c->in[i].hi, 3u + (unsigned)i);
            for (int i = 0; i < c->nout; i++) {
                lout[i] = kc_len(c, c->out[i].sz, rr, cc);
                zero[i] = kc_array(lout[i], 0.0f, 0.0f, 0);
                acc[i] = kc_array(lout[i], 2.0f, 3.0f, 11u + (unsigned)i);
                d0[i] = kc_array(lout[i], 2.0f, 3.0f, 11u + (unsigned)i);
            }
            c->call(c, levels[l], rr, cc, in, zero);
            c->call(c, levels[l], rr, cc, in, acc);
            for (int i = 0; i < c->nout; i++) {
                bool moved = false;
                for (size_t j = 0; j < lout[i]; j++) {
                    float want = d0[i][j] + zero[i][j];
                    cr_assert(fabsf(acc[i][j] - want) <= 1e-5f * (1.0f + fabsf(want)),
                              "%s [%s] out %d [%zu]: %g != %g + %g (overwrote instead of +=?)", c->name,
                              levels[l]->name, i, j, (double)acc[i][j], (double)d0[i][j], (double)zero[i][j]);
                    moved |= zero[i][j] != 0.0f;
                }
                cr_assert(moved, "%s [%s] out %d: gradient is all zero", c->name, levels[l]->name, i);
            }
            for (int i = 0; i < c->nin; i++)
                kc_array_free(in[i]);
            for (int i = 0; i < c->nout; i++) {
                kc_array_free(zero[i]);
                kc_array_free(acc[i]);
                kc_array_free(d0[i]);
            }
        }
}
