/* The convolutions (ops/conv.h): the fast path (im2col + GEMM) at every SIMD
 * level against the direct loops of the references and for 1 and 2 threads
 * (the shared checks of tests/common/conv_cases.c), the beta = 0 contract,
 * the transposed convolution's geometry and forward, and the geometry checks
 * on bad shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_cases.h"
#include "ops/conv.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

/* every supported level in turn */
static void each_level(int (*check)(char *, size_t))
{
    elbo_simd saved = elbo_simd_current();
    char msg[512];
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)lv), ELBO_OK);
        int bad = check(msg, sizeof msg);
        cr_expect_eq(bad, 0, "%d failures: %s", bad, msg);
    }
    elbo_simd_set(saved);
}

Test(conv, fast_path_matches_the_direct_loops_every_level) { each_level(cc_check_refs); }

Test(conv, bit_identical_for_one_and_two_threads) { each_level(cc_check_threads); }

/* beta = 0 never reads the output: NaN there must not leak */
Test(conv, beta_zero_overwrites_nan)
{
    elbo_conv2d_geom g;
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(1, 1);
    cr_assert_eq(elbo_conv2d_geom_init(&g, 2, 5, 7, 3, 3, 3, 4, &o), ELBO_OK);
    size_t nx = 2 * 5 * 7 * 3, nw = 3 * 3 * 3 * 4, ny = 2 * (size_t)g.oh * (size_t)g.ow * 4;
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *dy = malloc(ny * sizeof(float));
    tu_fill_uniform(x, nx, -1, 1, 1);
    tu_fill_uniform(w, nw, -1, 1, 2);
    tu_fill_uniform(dy, ny, -1, 1, 3);
    float *y = malloc(ny * sizeof(float)), *dw = malloc(nw * sizeof(float));
    for (size_t i = 0; i < ny; i++)
        y[i] = NAN;
    for (size_t i = 0; i < nw; i++)
        dw[i] = NAN;
    size_t ns = elbo_conv2d_scratch(&g);
    float *scratch = malloc(ns * sizeof(float));
    elbo_conv2d_fwd(&g, x, w, 0.0f, y, scratch, ns);
    elbo_conv2d_wgrad(&g, x, dy, 0.0f, dw, scratch, ns);
    for (size_t i = 0; i < ny; i++)
        cr_assert(isfinite(y[i]), "y[%zu] = %g", i, (double)y[i]);
    for (size_t i = 0; i < nw; i++)
        cr_assert(isfinite(dw[i]), "dw[%zu] = %g", i, (double)dw[i]);
    free(x), free(w), free(dy), free(y), free(dw), free(scratch);
}

/* The transposed convolution's geometry: output size, and the convolution
 * back from it has the input's size; its forward (dgrad) matches a direct
 * scatter of x through the weight. */
Test(conv, transposed_geometry_and_forward)
{
    static const struct { int h, w, k, s, p, op, oh; } cases[] = {
        {7, 7, 4, 2, 1, 0, 14}, {14, 14, 4, 2, 1, 0, 28}, {5, 4, 3, 2, 1, 1, 10}, {3, 3, 3, 1, 0, 0, 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        elbo_conv2d_opts o = ELBO_CONV2D_OPTS(cases[i].s, cases[i].p);
        o.out_pad_h = o.out_pad_w = cases[i].op;
        elbo_conv2d_geom g;
        cr_assert_eq(elbo_conv_transpose2d_geom_init(&g, 2, cases[i].h, cases[i].w, 3, cases[i].k, cases[i].k, 5, &o),
                     ELBO_OK, "%s", elbo_last_error());
        cr_expect_eq(g.h, cases[i].oh, "case %zu: output height %d, expected %d", i, g.h, cases[i].oh);
        cr_expect_eq(g.oh, cases[i].h);
        cr_expect_eq(g.ow, cases[i].w);
        cr_expect_eq(g.cin, 5);
        cr_expect_eq(g.cout, 3);
        /* y = scatter of x (n,h,w,3) through w (k,k,5,3): y[s, i s - p + kh, j s - p + kw, co] += x w */
        size_t nx = (size_t)2 * g.oh * g.ow * 3, ny = (size_t)2 * g.h * g.w * 5, nw = (size_t)g.kh * g.kw * 5 * 3;
        float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float));
        float *y = calloc(ny, sizeof(float));
        double *want = calloc(ny, sizeof(double));
        tu_fill_uniform(x, nx, -1, 1, 1);
        tu_fill_uniform(w, nw, -1, 1, 2);
        for (int s = 0; s < 2; s++)
            for (int a = 0; a < g.oh; a++)
                for (int b = 0; b < g.ow; b++)
                    for (int kh = 0; kh < g.kh; kh++)
                        for (int kw = 0; kw < g.kw; kw++) {
                            int r = a * g.stride_h - g.pad_h + kh, c = b * g.stride_w - g.pad_w + kw;
                            if (r < 0 || r >= g.h || c < 0 || c >= g.w)
                                continue;
                            for (int co = 0; co < 5; co++)
                                for (int ci = 0; ci < 3; ci++)
                                    want[((size_t)(s * g.h + r) * g.w + c) * 5 + co] +=
                                        (double)x[((size_t)(s * g.oh + a) * g.ow + b) * 3 + ci] *
                                        w[(((size_t)kh * g.kw + kw) * 5 + co) * 3 + ci];
                        }
        size_t ns = elbo_conv2d_scratch(&g);
        float *scratch = malloc((ns ? ns : 1) * sizeof(float));
        elbo_conv2d_dgrad(&g, x, w, y, scratch, ns);
        for (size_t j = 0; j < ny; j++)
            cr_expect(fabs(y[j] - want[j]) <= 1e-5 * (1 + fabs(want[j])), "case %zu: y[%zu] %g want %g", i, j,
                      (double)y[j], want[j]);
        free(x), free(w), free(y), free(want), free(scratch);
    }
}

Test(conv, bad_geometries_are_refused_with_the_shapes)
{
    elbo_conv2d_geom g;
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(1, 0);
    cr_expect_eq(elbo_conv2d_geom_init(&g, 1, 3, 3, 1, 5, 5, 2, &o), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "5x5") && strstr(elbo_last_error(), "3x3"), "%s", elbo_last_error());
    o.stride_h = 0;
    cr_expect_eq(elbo_conv2d_geom_init(&g, 1, 8, 8, 1, 3, 3, 2, &o), ELBO_ERR_INVALID);
    o = ELBO_CONV2D_OPTS(2, 1);
    o.out_pad_h = 2;
    cr_expect_eq(elbo_conv_transpose2d_geom_init(&g, 1, 7, 7, 4, 4, 4, 2, &o), ELBO_ERR_INVALID);
    cr_expect(strstr(elbo_last_error(), "output padding"), "%s", elbo_last_error());
    o = ELBO_CONV2D_OPTS(1, 3);
    cr_expect_eq(elbo_conv_transpose2d_geom_init(&g, 1, 2, 2, 4, 3, 3, 2, &o), ELBO_ERR_INVALID);
    cr_expect_eq(elbo_conv2d_geom_init(&g, 0, 8, 8, 1, 3, 3, 2, &ELBO_CONV2D_OPTS(1, 0)),
                 ELBO_ERR_INVALID);
}
