/* Naive scalar reference kernels: the "scalar" level and the test oracle.
 * Straight loops in kernel-table order; transcendentals from libm in float;
 * every sum (row, column, total) is accumulated in double. See ops/kernels.h. */
#include "ops/ref/ref.h"

#include <math.h>

/* log(2 pi), the Gaussian normalizer */
#define LOG_2PI 1.8378770664093454836

/* ---------------- elementwise, all (n) ---------------- */

/* y = a + b */
void elbo_ref_add(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* y = a - b */
void elbo_ref_sub(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] - b[i];
}

/* y = a * b */
void elbo_ref_mul(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

/* y = s * x */
void elbo_ref_scale(size_t n, float s, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = s * x[i];
}

/* y += a * x */
void elbo_ref_axpy(size_t n, float a, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

/* y += a * b */
void elbo_ref_fma(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fmaf(a[i], b[i], y[i]);
}

/* ---------------- row broadcast, column reduction ---------------- */

/* y is (R,C), b is (C): y[r,c] += b[c] */
void elbo_ref_add_bias(size_t rows, size_t cols, const float *b, float *y)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            y[r * cols + c] += b[c];
}

/* x is (R,C), y is (C): y[c] += sum_r x[r,c] */
void elbo_ref_col_sum(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t c = 0; c < cols; c++) {
        double s = 0.0;
        for (size_t r = 0; r < rows; r++)
            s += x[r * cols + c];
        y[c] += (float)s;
    }
}

/* ---------------- activations, all (n) ---------------- */

/* sigmoid(x) = 1 / (1 + e^-x), written so that e^. never overflows */
float elbo_ref_sigmoid1(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), stable for any |x| */
float elbo_ref_softplus1(float x)
{
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

/* y = max(x, 0) */
void elbo_ref_relu(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx += dy * [x > 0] */
void elbo_ref_relu_bwd(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

/* y = x > 0 ? x : slope x */
void elbo_ref_leaky_relu(size_t n, float slope, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

/* dx += dy * (x > 0 ? 1 : slope) */
void elbo_ref_leaky_relu_bwd(size_t n, float slope, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}

/* y = tanh(x) */
void elbo_ref_tanh(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

/* dx += dy (1 - y^2) */
void elbo_ref_tanh_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

/* y = 1 / (1 + e^-x) */
void elbo_ref_sigmoid(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = elbo_ref_sigmoid1(x[i]);
}

/* dx += dy y (1 - y) */
void elbo_ref_sigmoid_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

/* y = log(1 + e^x) */
void elbo_ref_softplus(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = elbo_ref_softplus1(x[i]);
}

/* dx += dy sigmoid(x) */
void elbo_ref_softplus_bwd(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * elbo_ref_sigmoid1(x[i]);
}

/* y = e^x */
void elbo_ref_exp(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

/* dx += dy y */
void elbo_ref_exp_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i];
}

/* y = log(x) */
void elbo_ref_log(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = logf(x[i]);
}

/* dx += dy / x */
void elbo_ref_log_bwd(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += dy[i] / x[i];
}

/* ---------------- row reductions: x is (R,C), y is (R) ---------------- */

/* y[r] = sum_c x[r,c] */
void elbo_ref_row_sum(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++)
        y[r] = (float)elbo_ref_sum(cols, x + r * cols);
}

/* y[r] = max_c x[r,c]  (-inf for an empty row) */
void elbo_ref_row_max(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        float m = -INFINITY;
        for (size_t c = 0; c < cols; c++)
            m = fmaxf(m, x[r * cols + c]);
        y[r] = m;
    }
}

/* y[r] = m + log sum_c e^(x[r,c] - m), m = max_c x[r,c]; -inf if m = -inf, +inf if m = +inf */
void elbo_ref_row_logsumexp(size_t rows, size_t cols, const float *x, float *y)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float m = -INFINITY;
        for (size_t c = 0; c < cols; c++)
            m = fmaxf(m, xr[c]);
        if (isinf(m)) {
            y[r] = m;
            continue;
        }
        double s = 0.0;
        for (size_t c = 0; c < cols; c++)
            s += exp((double)xr[c] - m);
        y[r] = (float)(m + log(s)); /* a NaN in the row propagates through s */
    }
}

/* sum_i x[i] in double, in index order */
double elbo_ref_sum(size_t n, const float *x)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

/* ---------------- fused losses: inputs (R,C), out and drow (R) ---------------- */

/* out[r] = sum_c softplus(l) - t l */
void elbo_ref_bernoulli_nll(size_t rows, size_t cols, const float *l, const float *t, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            s += (double)elbo_ref_softplus1(l[i]) - (double)t[i] * l[i];
        }
        out[r] = (float)s;
    }
}

/* dl += drow[r] (sigmoid(l) - t) */
void elbo_ref_bernoulli_nll_bwd(size_t rows, size_t cols, const float *l, const float *t,
                                const float *drow, float *dl)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            dl[i] += drow[r] * (elbo_ref_sigmoid1(l[i]) - t[i]);
        }
}

/* out[r] = 0.5 sum_c [log 2pi + lv[c] + (x-m)^2 e^-lv[c]] */
void elbo_ref_gauss_nll(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                        float *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            float d = x[i] - m[i];
            s += LOG_2PI + lv[c] + (double)(d * d * expf(-lv[c]));
        }
        out[r] = (float)(0.5 * s);
    }
}

/* dm += drow (m-x) e^-lv ; dlv[c] += sum_r drow 0.5 (1 - (x-m)^2 e^-lv)  (dlv may be NULL) */
void elbo_ref_gauss_nll_bwd(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                            const float *drow, float *dm, float *dlv)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            float d = m[i] - x[i], iv = expf(-lv[c]);
            dm[i] += drow[r] * d * iv;
            if (dlv)
                dlv[c] += drow[r] * 0.5f * (1.0f - d * d * iv);
        }
}

/* out[r] = 0.5 sum_c (e^lv + mu^2 - 1 - lv) */
void elbo_ref_kl_diag(size_t rows, size_t cols, const float *mu, const float *lv, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            s += (double)expf(lv[i]) + (double)mu[i] * mu[i] - 1.0 - lv[i];
        }
        out[r] = (float)(0.5 * s);
    }
}

/* dmu += drow mu ; dlv += drow 0.5 (e^lv - 1) */
void elbo_ref_kl_diag_bwd(size_t rows, size_t cols, const float *mu, const float *lv,
                          const float *drow, float *dmu, float *dlv)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            dmu[i] += drow[r] * mu[i];
            dlv[i] += drow[r] * 0.5f * (expf(lv[i]) - 1.0f);
        }
}

/* ---------------- reparameterized sample, all (n) ---------------- */

/* z = mu + e^(lv/2) eps */
void elbo_ref_reparam(size_t n, const float *mu, const float *lv, const float *eps, float *z)
{
    for (size_t i = 0; i < n; i++)
        z[i] = mu[i] + expf(0.5f * lv[i]) * eps[i];
}

/* dmu += dz ; dlv += dz eps 0.5 e^(lv/2) */
void elbo_ref_reparam_bwd(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                          float *dlv)
{
    for (size_t i = 0; i < n; i++) {
        dmu[i] += dz[i];
        dlv[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * lv[i]);
    }
}

/* ---------------- optimizers, all (n) ---------------- */

/* m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ; w -= lr_t m / (sqrt(v) + eps_t) */
void elbo_ref_adam(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
                   float *v, float *w)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps_t);
    }
}

/* u = mu u + g ; w -= lr u */
void elbo_ref_sgd_momentum(size_t n, float lr, float mu, const float *g, float *u, float *w)
{
    for (size_t i = 0; i < n; i++) {
        u[i] = mu * u[i] + g[i];
        w[i] -= lr * u[i];
    }
}
