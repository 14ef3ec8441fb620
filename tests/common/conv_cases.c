/* The convolution cases (see conv_cases.h). */
#include "conv_cases.h"

#include <math.h>
#include <stdio.h>
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

static bool geom_of(const geo *q, elbo_conv2d_geom *g)
{
    return elbo_conv2d_geom_init(g, q->n, q->h, q->w, q->cin, q->kh, q->kw, q->cout, &q->o) == ELBO_OK;
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

/* a sum of K products of values in [-1,1]: float error ~ K ulp; counts a
 * failure (the first one in msg) */
static int close_or_fail(const char *what, size_t q, const float *got, const float *want, size_t n, size_t K,
                         int bad, char *msg, size_t len)
{
    size_t worst;
    double e = tu_max_rel_err(got, want, n, 2e-6 * (double)(K + 1), 1e-5, &worst);
    if (e <= 1.0)
        return bad;
    if (bad == 0)
        snprintf(msg, len, "conv %s [%s] geometry %zu: [%zu] got %.9g want %.9g (%.3g x tolerance)", what,
                 elbo_simd_name(elbo_simd_current()), q, worst, (double)got[worst], (double)want[worst], e);
    return bad + 1;
}

int cc_check_refs(char *msg, size_t len)
{
    int bad = 0;
    for (size_t q = 0; q < N_GEOS; q++) {
        elbo_conv2d_geom g;
        if (!geom_of(&geos[q], &g)) {
            snprintf(msg, len, "conv geometry %zu refused: %s", q, elbo_last_error());
            return bad + 1;
        }
        conv_in in = inputs(&g, 11u + (unsigned)q);
        for (int bi = 0; bi < 2; bi++) {
            float beta = bi ? 0.5f : 0.0f;
            conv_out f = run_fast(&g, in.x, in.w, in.dy, beta), r = run_ref(&g, in.x, in.w, in.dy, beta);
            bad = close_or_fail("fwd", q, f.y, r.y, out_size(&g), elbo_conv2d_cols(&g), bad, msg, len);
            bad = close_or_fail("dgrad", q, f.dx, r.dx, in_size(&g), (size_t)g.kh * g.kw * g.cout, bad, msg, len);
            bad = close_or_fail("wgrad", q, f.dw, r.dw, w_size(&g), elbo_conv2d_rows(&g), bad, msg, len);
            out_free(&f), out_free(&r);
        }
        in_free(&in);
    }
    return bad;
}

int cc_check_threads(char *msg, size_t len)
{
    int bad = 0, saved = elbo_threads();
    for (size_t q = 0; q < N_GEOS; q++) {
        elbo_conv2d_geom g;
        if (!geom_of(&geos[q], &g))
            return bad + 1;
        conv_in in = inputs(&g, 21u + (unsigned)q);
        elbo_set_threads(1);
        conv_out a = run_fast(&g, in.x, in.w, in.dy, 1.0f);
        elbo_set_threads(2);
        conv_out b = run_fast(&g, in.x, in.w, in.dy, 1.0f);
        bool same = memcmp(a.y, b.y, out_size(&g) * sizeof(float)) == 0 &&
                    memcmp(a.dx, b.dx, in_size(&g) * sizeof(float)) == 0 &&
                    memcmp(a.dw, b.dw, w_size(&g) * sizeof(float)) == 0;
        if (!same && bad++ == 0)
            snprintf(msg, len, "conv [%s] geometry %zu: 1 and 2 threads differ", elbo_simd_name(elbo_simd_current()), q);
        out_free(&a), out_free(&b), in_free(&in);
    }
    elbo_set_threads(saved);
    return bad;
}


