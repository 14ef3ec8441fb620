/* The convolutions (ops/conv.h): the fast path (im2col + GEMM) at every SIMD
 * level against the direct loops of the references, over geometries with
 * stride, padding, dilation, odd sizes and 1x1 kernels; the transposed
 * convolution's geometry; bit-identical results for 1 and 2 threads; and the
 * geometry checks on bad shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv.h"
#include "ops/pool.h"
#include "ops/simd_level.h"
#include "test_util.h"

typedef struct geo {
    int n, h, w, cin, kh, kw, cout;
    elbo_conv2d_opts o;
} geo;

#define OPTS(sh, sw, ph, pw, dh, dw) {sh, sw, ph, pw, dh, dw, 0, 0}
static const geo geos[] = {
    {2, 5, 7, 3, 3, 3, 4, OPTS(1, 1, 1, 1, 1, 1)},     /* same padding */
    {1, 28, 28, 1, 4, 4, 32, OPTS(2, 2, 1, 1, 1, 1)},  /* the conv VAE's first layer */
    {3, 14, 14, 32, 4, 4, 64, OPTS(2, 2, 1, 1, 1, 1)}, /* and its second */
    {2, 9, 11, 5, 3, 2, 7, OPTS(2, 1, 0, 1, 1, 1)},    /* odd, rectangular */
    {1, 10, 9, 3, 3, 3, 5, OPTS(1, 2, 2, 1, 2, 3)},    /* dilation */
    {2, 6, 5, 17, 1, 1, 9, OPTS(1, 1, 0, 0, 1, 1)},    /* pointwise: one GEMM on x */
    {2, 6, 5, 17, 1, 1, 9, OPTS(2, 2, 0, 0, 1, 1)},    /* 1x1 with a stride: im2col */
    {1, 3, 3, 2, 3, 3, 1, OPTS(1, 1, 0, 0, 1, 1)},     /* one output pixel */
    {4, 70, 3, 300, 2, 2, 3, OPTS(1, 1, 0, 0, 1, 1)},  /* many chunks, narrow output */
};
#define N_GEOS (sizeof geos / sizeof geos[0])

static void geom_of(const geo *q, elbo_conv2d_geom *g)
{
    cr_assert_eq(elbo_conv2d_geom_init(g, q->n, q->h, q->w, q->cin, q->kh, q->kw, q->cout, &q->o), ELBO_OK, "%s",
                 elbo_last_error());
}

/* The three products by the fast path at the current level and thread count. */
typedef struct conv_out {
    float *y, *dx, *dw;
} conv_out;

static size_t in_size(const elbo_conv2d_geom *g) { return (size_t)g->n * g->h * g->w * g->cin; }
static size_t out_size(const elbo_conv2d_geom *g) { return (size_t)g->n * g->oh * g->ow * g->cout; }
static size_t w_size(const elbo_conv2d_geom *g) { return (size_t)g->kh * g->kw * g->cin * g->cout; }

static conv_out run_fast(const elbo_conv2d_geom *g, const float *x, const float *w, const float *dy, float beta)
{
    conv_out o = {malloc(out_size(g) * sizeof(float)), malloc(in_size(g) * sizeof(float)),
                  malloc(w_size(g) * sizeof(float))};
    tu_fill_uniform(o.y, out_size(g), -1, 1, 5);
    tu_fill_uniform(o.dx, in_size(g), -1, 1, 6);
    tu_fill_uniform(o.dw, w_size(g), -1, 1, 7);
    size_t ns = elbo_conv2d_scratch(g);
    float *scratch = malloc((ns ? ns : 1) * sizeof(float));
    elbo_conv2d_fwd(g, x, w, beta, o.y, scratch, ns);
    elbo_conv2d_dgrad(g, dy, w, o.dx, scratch, ns);
    elbo_conv2d_wgrad(g, x, dy, beta, o.dw, scratch, ns);
    free(scratch);
    return o;
}

static conv_out run_ref(const elbo_conv2d_geom *g, const float *x, const float *w, const float *dy, float beta)
{
    conv_out o = {malloc(out_size(g) * sizeof(float)), malloc(in_size(g) * sizeof(float)),
                  malloc(w_size(g) * sizeof(float))};
    tu_fill_uniform(o.y, out_size(g), -1, 1, 5);
    tu_fill_uniform(o.dx, in_size(g), -1, 1, 6);
    tu_fill_uniform(o.dw, w_size(g), -1, 1, 7);
    elbo_conv2d_fwd_ref(g, x, w, beta, o.y);
    elbo_conv2d_dgrad_ref(g, dy, w, o.dx);
    elbo_conv2d_wgrad_ref(g, x, dy, beta, o.dw);
    return o;
}

static void out_free(conv_out *o) { free(o->y), free(o->dx), free(o->dw); }

/* inputs of a geometry */
typedef struct conv_in {
    float *x, *w, *dy;
} conv_in;

static conv_in inputs(const elbo_conv2d_geom *g, unsigned seed)
{
    conv_in in = {malloc(in_size(g) * sizeof(float)), malloc(w_size(g) * sizeof(float)),
                  malloc(out_size(g) * sizeof(float))};
    tu_fill_uniform(in.x, in_size(g), -1, 1, seed);
    tu_fill_uniform(in.w, w_size(g), -1, 1, seed + 1);
    tu_fill_uniform(in.dy, out_size(g), -1, 1, seed + 2);
    return in;
}

static void in_free(conv_in *in) { free(in->x), free(in->w), free(in->dy); }

/* a sum of K products of values in [-1,1]: float error ~ K ulp */
static void expect_close(const char *what, const char *lvl, size_t q, const float *got, const float *want, size_t n,
                         size_t K)
{
    size_t worst;
    double e = tu_max_rel_err(got, want, n, 2e-6 * (double)(K + 1), 1e-5, &worst);
    cr_expect(e <= 1.0, "%s [%s] geometry %zu: [%zu] got %.9g want %.9g (%.3g x tolerance)", what, lvl, q, worst,
              (double)got[worst], (double)want[worst], e);
}

Test(conv, fast_path_matches_the_direct_loops_every_level)
{
    elbo_simd saved = elbo_simd_current();
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)lv), ELBO_OK);
        for (size_t q = 0; q < N_GEOS; q++) {
            elbo_conv2d_geom g;
            geom_of(&geos[q], &g);
            conv_in in = inputs(&g, 11u + (unsigned)q);
            for (int bi = 0; bi < 2; bi++) {
                float beta = bi ? 0.5f : 0.0f;
                conv_out f = run_fast(&g, in.x, in.w, in.dy, beta), r = run_ref(&g, in.x, in.w, in.dy, beta);
                const char *lvl = elbo_simd_name((elbo_simd)lv);
                expect_close("fwd", lvl, q, f.y, r.y, out_size(&g), elbo_conv2d_cols(&g));
                expect_close("dgrad", lvl, q, f.dx, r.dx, in_size(&g), (size_t)g.kh * g.kw * g.cout);
                expect_close("wgrad", lvl, q, f.dw, r.dw, w_size(&g), elbo_conv2d_rows(&g));
                out_free(&f), out_free(&r);
            }
            in_free(&in);
        }
    }
    elbo_simd_set(saved);
}

/* beta = 0 never reads the output: NaN there must not leak */
Test(conv, beta_zero_overwrites_nan)
{
    elbo_conv2d_geom g;
    geom_of(&geos[0], &g);
    conv_in in = inputs(&g, 3);
    float *y = malloc(out_size(&g) * sizeof(float)), *dw = malloc(w_size(&g) * sizeof(float));
    for (size_t i = 0; i < out_size(&g); i++)
        y[i] = NAN;
    for (size_t i = 0; i < w_size(&g); i++)
        dw[i] = NAN;
    size_t ns = elbo_conv2d_scratch(&g);
    float *scratch = malloc(ns * sizeof(float));
    elbo_conv2d_fwd(&g, in.x, in.w, 0.0f, y, scratch, ns);
    elbo_conv2d_wgrad(&g, in.x, in.dy, 0.0f, dw, scratch, ns);
    for (size_t i = 0; i < out_size(&g); i++)
        cr_assert(isfinite(y[i]), "y[%zu] = %g", i, (double)y[i]);
    for (size_t i = 0; i < w_size(&g); i++)
        cr_assert(isfinite(dw[i]), "dw[%zu] = %g", i, (double)dw[i]);
    free(y), free(dw), free(scratch);
    in_free(&in);
}

Test(conv, bit_identical_for_one_and_two_threads)
{
    elbo_simd saved = elbo_simd_current();
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)lv), ELBO_OK);
        for (size_t q = 0; q < N_GEOS; q++) {
            elbo_conv2d_geom g;
            geom_of(&geos[q], &g);
            conv_in in = inputs(&g, 21u + (unsigned)q);
            cr_assert_eq(elbo_set_threads(1), ELBO_OK);
            conv_out a = run_fast(&g, in.x, in.w, in.dy, 1.0f);
            cr_assert_eq(elbo_set_threads(2), ELBO_OK);
            conv_out b = run_fast(&g, in.x, in.w, in.dy, 1.0f);
            const char *lvl = elbo_simd_name((elbo_simd)lv);
            cr_expect(memcmp(a.y, b.y, out_size(&g) * sizeof(float)) == 0, "fwd [%s] geometry %zu", lvl, q);
            cr_expect(memcmp(a.dx, b.dx, in_size(&g) * sizeof(float)) == 0, "dgrad [%s] geometry %zu", lvl, q);
            cr_expect(memcmp(a.dw, b.dw, w_size(&g) * sizeof(float)) == 0, "wgrad [%s] geometry %zu", lvl, q);
            out_free(&a), out_free(&b), in_free(&in);
        }
    }
    elbo_set_threads(1);
    elbo_simd_set(saved);
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
