/* The naive references of the convolutions (ops/conv.h): the direct loops,
 * each output element a double sum over its window, the test oracle of the
 * fast path in ops/conv.c. */
#include "ops/conv.h"

/* Input row and column read by output (oh, ow) at kernel tap (kh, kw). */
static inline long in_row(const elbo_conv2d_geom *g, long oh, long kh) { return oh * g->stride_h - g->pad_h + kh * g->dil_h; }
static inline long in_col(const elbo_conv2d_geom *g, long ow, long kw) { return ow * g->stride_w - g->pad_w + kw * g->dil_w; }

/* ---- the direct loops ---- */

#define X_AT(g, x, s, ih, iw, ci) (x)[(((size_t)(s) * (size_t)(g)->h + (size_t)(ih)) * (size_t)(g)->w + (size_t)(iw)) * (size_t)(g)->cin + (size_t)(ci)]
#define Y_AT(g, y, s, oh, ow, co) (y)[(((size_t)(s) * (size_t)(g)->oh + (size_t)(oh)) * (size_t)(g)->ow + (size_t)(ow)) * (size_t)(g)->cout + (size_t)(co)]
#define W_AT(g, w, kh, kw, ci, co) (w)[(((size_t)(kh) * (size_t)(g)->kw + (size_t)(kw)) * (size_t)(g)->cin + (size_t)(ci)) * (size_t)(g)->cout + (size_t)(co)]

static inline int inside(const elbo_conv2d_geom *g, long ih, long iw) { return ih >= 0 && ih < g->h && iw >= 0 && iw < g->w; }

/* y[s,oh,ow,co] = beta y + sum_{kh,kw,ci} x[s, ih, iw, ci] w[kh,kw,ci,co] */
void elbo_conv2d_fwd_ref(const elbo_conv2d_geom *g, const float *x, const float *w, float beta, float *y)
{
    for (int s = 0; s < g->n; s++)
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++)
                for (int co = 0; co < g->cout; co++) {
                    double acc = 0.0;
                    for (int kh = 0; kh < g->kh; kh++)
                        for (int kw = 0; kw < g->kw; kw++) {
                            long ih = in_row(g, oh, kh), iw = in_col(g, ow, kw);
                            if (!inside(g, ih, iw))
                                continue;
                            for (int ci = 0; ci < g->cin; ci++)
                                acc += (double)X_AT(g, x, s, ih, iw, ci) * W_AT(g, w, kh, kw, ci, co);
                        }
                    float *out = &Y_AT(g, y, s, oh, ow, co);
                    *out = beta == 0.0f ? (float)acc : (float)((double)beta * *out + acc);
                }
}

/* dx[s,ih,iw,ci] += sum over the (oh, ow, kh, kw) that read it of dy[s,oh,ow,co] w[kh,kw,ci,co] */
void elbo_conv2d_dgrad_ref(const elbo_conv2d_geom *g, const float *dy, const float *w, float *dx)
{
    for (int s = 0; s < g->n; s++)
        for (long ih = 0; ih < g->h; ih++)
            for (long iw = 0; iw < g->w; iw++)
                for (int ci = 0; ci < g->cin; ci++) {
                    double acc = 0.0;
                    for (int kh = 0; kh < g->kh; kh++)
                        for (int kw = 0; kw < g->kw; kw++) {
                            long th = ih + g->pad_h - (long)kh * g->dil_h, tw = iw + g->pad_w - (long)kw * g->dil_w;
                            if (th < 0 || tw < 0 || th % g->stride_h || tw % g->stride_w)
                                continue;
                            long oh = th / g->stride_h, ow = tw / g->stride_w;
                            if (oh >= g->oh || ow >= g->ow)
                                continue;
                            for (int co = 0; co < g->cout; co++)
                                acc += (double)Y_AT(g, dy, s, oh, ow, co) * W_AT(g, w, kh, kw, ci, co);
                        }
                    X_AT(g, dx, s, ih, iw, ci) += (float)acc;
                }
}

/* dw[kh,kw,ci,co] = beta dw + sum_{s,oh,ow} x[s, ih, iw, ci] dy[s,oh,ow,co] */
void elbo_conv2d_wgrad_ref(const elbo_conv2d_geom *g, const float *x, const float *dy, float beta, float *dw)
{
    for (int kh = 0; kh < g->kh; kh++)
        for (int kw = 0; kw < g->kw; kw++)
            for (int ci = 0; ci < g->cin; ci++)
                for (int co = 0; co < g->cout; co++) {
                    double acc = 0.0;
                    for (int s = 0; s < g->n; s++)
                        for (int oh = 0; oh < g->oh; oh++)
                            for (int ow = 0; ow < g->ow; ow++) {
                                long ih = in_row(g, oh, kh), iw = in_col(g, ow, kw);
                                if (inside(g, ih, iw))
                                    acc += (double)X_AT(g, x, s, ih, iw, ci) * Y_AT(g, dy, s, oh, ow, co);
                            }
                    float *out = &W_AT(g, dw, kh, kw, ci, co);
                    *out = beta == 0.0f ? (float)acc : (float)((double)beta * *out + acc);
                }
}
