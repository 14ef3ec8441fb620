/* The nonlinear latent variable model: sampling, Pr(x) by Monte Carlo and
 * importance sampling, and the 1-D grid posterior with its Gaussian fits. */
#include "models/mog/nlvm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOG_2PI 1.83787706640934548356
/* Latent points per call of f: bounds scratch memory for any sample count. */
#define CHUNK 1024
/* KL(q || p) by the trapezoid rule over mean +- KL_HALF_WIDTH sd: the
 * Gaussian's mass beyond 12 sd is ~1e-33. */
#define KL_POINTS 2401
#define KL_HALF_WIDTH 12.0
/* Nelder-Mead on (mean, log sd). */
#define NM_MAX_ITER 2000
#define NM_FTOL 1e-13
#define NM_XTOL 1e-10
/* Grid posterior peaks lower than this fraction of the highest are noise. */
#define PEAK_FLOOR 1e-3

/* ---- notebook 17.1 ---- */

void nlvm_notebook_f(void *ctx, const double *z, size_t m, double *mean)
{
    (void)ctx;
    for (size_t i = 0; i < m; i++) {
        mean[2 * i] = 0.5 * exp(sin(2.0 + 3.675 * z[i]));
        mean[2 * i + 1] = cos(2.0 + 2.85 * z[i]);
    }
}

void nlvm_init_notebook(nlvm *model)
{
    *model = (nlvm){.dz = 1, .dx = 2, .sigma2 = NLVM_NOTEBOOK_SIGMA2, .f = nlvm_notebook_f, .ctx = NULL};
}

/* ---- MLP ---- */

elbo_status nlvm_mlp_init(nlvm_mlp *mlp, size_t dz, size_t dh, size_t dx, elbo_rng *rng)
{
    memset(mlp, 0, sizeof *mlp);
    if (!dz || !dh || !dx)
        return elbo_fail(ELBO_ERR_INVALID, "nlvm: mlp: expected positive sizes, got %zu-%zu-%zu", dz, dh, dx);
    mlp->dz = dz;
    mlp->dh = dh;
    mlp->dx = dx;
    mlp->w1 = malloc(dh * dz * sizeof(double));
    mlp->b1 = malloc(dh * sizeof(double));
    mlp->w2 = malloc(dx * dh * sizeof(double));
    mlp->b2 = malloc(dx * sizeof(double));
    if (!mlp->w1 || !mlp->b1 || !mlp->w2 || !mlp->b2) {
        nlvm_mlp_free(mlp);
        return elbo_fail(ELBO_ERR_NOMEM, "nlvm: mlp: out of memory");
    }
    for (size_t i = 0; i < dh * dz; i++)
        mlp->w1[i] = elbo_rng_normal(rng) / sqrt((double)dz);
    for (size_t i = 0; i < dh; i++)
        mlp->b1[i] = elbo_rng_normal(rng);
    for (size_t i = 0; i < dx * dh; i++)
        mlp->w2[i] = elbo_rng_normal(rng) / sqrt((double)dh);
    for (size_t i = 0; i < dx; i++)
        mlp->b2[i] = elbo_rng_normal(rng);
    return ELBO_OK;
}

void nlvm_mlp_free(nlvm_mlp *mlp)
{
    free(mlp->w1);
    free(mlp->b1);
    free(mlp->w2);
    free(mlp->b2);
    memset(mlp, 0, sizeof *mlp);
}

void nlvm_mlp_f(void *ctx, const double *z, size_t m, double *mean)
{
    const nlvm_mlp *p = ctx;
    double h[256]; /* hidden units in chunks, no allocation in the callback */
    for (size_t i = 0; i < m; i++) {
        const double *zi = z + i * p->dz;
        double *out = mean + i * p->dx;
        for (size_t o = 0; o < p->dx; o++)
            out[o] = p->b2[o];
        for (size_t h0 = 0; h0 < p->dh; h0 += sizeof h / sizeof h[0]) {
            size_t hn = p->dh - h0 < sizeof h / sizeof h[0] ? p->dh - h0 : sizeof h / sizeof h[0];
            for (size_t u = 0; u < hn; u++) {
                double a = p->b1[h0 + u];
                for (size_t j = 0; j < p->dz; j++)
                    a += p->w1[(h0 + u) * p->dz + j] * zi[j];
                h[u] = tanh(a);
            }
            for (size_t o = 0; o < p->dx; o++)
                for (size_t u = 0; u < hn; u++)
                    out[o] += p->w2[o * p->dh + h0 + u] * h[u];
        }
    }
}

void nlvm_init_mlp(nlvm *model, nlvm_mlp *mlp, double sigma2)
{
    *model = (nlvm){.dz = mlp->dz, .dx = mlp->dx, .sigma2 = sigma2, .f = nlvm_mlp_f, .ctx = mlp};
}

/* ---- sampling and densities ---- */

static elbo_status check_model(const nlvm *m)
{
    if (!m || !m->f || !m->dz || !m->dx || !(m->sigma2 > 0) || !isfinite(m->sigma2))
        return elbo_fail(ELBO_ERR_INVALID, "nlvm: expected a mean function, dz, dx >= 1 and sigma2 > 0");
    return ELBO_OK;
}

elbo_status nlvm_sample(const nlvm *model, elbo_rng *rng, size_t n, double *z, double *x)
{
    elbo_status st = check_model(model);
    if (st != ELBO_OK)
        return st;
    size_t dz = model->dz, dx = model->dx;
    double *zb = malloc(CHUNK * dz * sizeof(double)), *mb = malloc(CHUNK * dx * sizeof(double));
    if (!zb || !mb) {
        free(zb);
        free(mb);
        return elbo_fail(ELBO_ERR_NOMEM, "nlvm: sample: out of memory");
    }
    double sd = sqrt(model->sigma2);
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t c = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < c * dz; i++)
            zb[i] = elbo_rng_normal(rng); /* z* ~ Pr(z) */
        model->f(model->ctx, zb, c, mb);  /* the mean f(z*) */
        for (size_t i = 0; i < c * dx; i++)
            x[i0 * dx + i] = mb[i] + sd * elbo_rng_normal(rng); /* x* ~ Pr(x | z*) */
        if (z)
            memcpy(z + i0 * dz, zb, c * dz * sizeof(double));
    }
    free(zb);
    free(mb);
    return ELBO_OK;
}

/* log Pr(x | z) from the means f(z) (m, dx). */
static void log_lik_from_means(const nlvm *model, const double *x, const double *mean, size_t m, double *out)
{
    size_t dx = model->dx;
    double norm = -0.5 * (double)dx * (LOG_2PI + log(model->sigma2));
    for (size_t i = 0; i < m; i++) {
        double s = 0.0;
        for (size_t j = 0; j < dx; j++) {
            double t = x[j] - mean[i * dx + j];
            s += t * t;
        }
        out[i] = norm - 0.5 * s / model->sigma2;
    }
}

elbo_status nlvm_log_lik(const nlvm *model, const double *x, const double *z, size_t m, double *out)
{
    elbo_status st = check_model(model);
    if (st != ELBO_OK)
        return st;
    double *mb = malloc(CHUNK * model->dx * sizeof(double));
    if (!mb)
        return elbo_fail(ELBO_ERR_NOMEM, "nlvm: out of memory");
    for (size_t i0 = 0; i0 < m; i0 += CHUNK) {
        size_t c = m - i0 < CHUNK ? m - i0 : CHUNK;
        model->f(model->ctx, z + i0 * model->dz, c, mb);
        log_lik_from_means(model, x, mb, c, out + i0);
    }
    free(mb);
    return ELBO_OK;
}

static double log_std_normal(const double *z, size_t dz)
{
    double s = 0.0;
    for (size_t j = 0; j < dz; j++)
        s += z[j] * z[j];
    return -0.5 * ((double)dz * LOG_2PI + s);
}

/* Streaming sums of w and w^2 with the largest log w factored out. */
typedef struct wsum {
    double m, s1, s2;
    size_t n;
} wsum;

static void wsum_add(wsum *a, double lw)
{
    if (lw > a->m) {
        double r = exp(a->m - lw); /* rescale to the new maximum (r = 0 from -inf) */
        a->s1 *= r;
        a->s2 *= r * r;
        a->m = lw;
    }
    double e = exp(lw - a->m);
    a->s1 += e;
    a->s2 += e * e;
    a->n++;
}

static elbo_status wsum_finish(const wsum *a, nlvm_estimate *est)
{
    double n = (double)a->n;
    if (a->n < 2 || !(a->s1 > 0) || !isfinite(a->m))
        return elbo_fail(ELBO_ERR_NONFINITE, "nlvm: every importance weight is zero (or fewer than 2 samples)");
    double mean = a->s1 / n, var = (a->s2 / n - mean * mean) * n / (n - 1);
    if (var < 0)
        var = 0; /* rounding when all weights are equal */
    est->n = a->n;
    est->log_p = a->m + log(mean);
    est->p = exp(est->log_p);
    est->rel_se = sqrt(var / n) / mean;
    est->se = est->p * est->rel_se;
    est->ess = a->s1 * a->s1 / a->s2;
    return ELBO_OK;
}

/* Shared loop: draw z (by q or the prior), weight, accumulate. */
static elbo_status estimate(const nlvm *model, const double *x, const double *q_mean, const double *q_sd, size_t n,
                            elbo_rng *rng, nlvm_estimate *est)
{
    elbo_status st = check_model(model);
    if (st != ELBO_OK)
        return st;
    size_t dz = model->dz, dx = model->dx;
    if (q_sd)
        for (size_t j = 0; j < dz; j++)
            if (!(q_sd[j] > 0) || !isfinite(q_sd[j]) || !isfinite(q_mean[j]))
                return elbo_fail(ELBO_ERR_INVALID, "nlvm: proposal: expected a finite mean and sd > 0 in dim %zu", j);
    double *zb = malloc(CHUNK * dz * sizeof(double)), *mb = malloc(CHUNK * dx * sizeof(double));
    double *lw = malloc(CHUNK * sizeof(double));
    if (!zb || !mb || !lw) {
        free(zb);
        free(mb);
        free(lw);
        return elbo_fail(ELBO_ERR_NOMEM, "nlvm: out of memory");
    }
    double log_q_norm = 0.0;
    if (q_sd)
        for (size_t j = 0; j < dz; j++)
            log_q_norm -= 0.5 * LOG_2PI + log(q_sd[j]);
    wsum acc = {.m = -INFINITY};
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t c = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < c * dz; i++) {
            double e = elbo_rng_normal(rng);
            zb[i] = q_sd ? q_mean[i % dz] + q_sd[i % dz] * e : e;
        }
        model->f(model->ctx, zb, c, mb);
        log_lik_from_means(model, x, mb, c, lw);
        for (size_t i = 0; i < c; i++) {
            double w = lw[i];
            if (q_sd) { /* importance weight Pr(z) / q(z) */
                double lq = log_q_norm;
                for (size_t j = 0; j < dz; j++) {
                    double t = (zb[i * dz + j] - q_mean[j]) / q_sd[j];
                    lq -= 0.5 * t * t;
                }
                w += log_std_normal(zb + i * dz, dz) - lq;
            }
            wsum_add(&acc, w);
        }
    }
    free(zb);
    free(mb);
    free(lw);
    return wsum_finish(&acc, est);
}

elbo_status nlvm_px_mc(const nlvm *model, const double *x, size_t n, elbo_rng *rng, nlvm_estimate *est)
{
    return estimate(model, x, NULL, NULL, n, rng, est);
}

elbo_status nlvm_px_is(const nlvm *model, const double *x, const double *q_mean, const double *q_sd, size_t n,
                       elbo_rng *rng, nlvm_estimate *est)
{
    if (!q_mean || !q_sd)
        return elbo_fail(ELBO_ERR_INVALID, "nlvm: importance sampling needs a proposal mean and sd");
    return estimate(model, x, q_mean, q_sd, n, rng, est);
}

/* ---- 1-D posterior on a grid ---- */

/* log Pr(x | z) + log Pr(z) at m points z (1-D). */
static elbo_status log_joint_1d(const nlvm *model, const double *x, const double *z, size_t m, double *out)
{
    elbo_status st = nlvm_log_lik(model, x, z, m, out);
    if (st != ELBO_OK)
        return st;
    for (size_t i = 0; i < m; i++)
        out[i] += -0.5 * (LOG_2PI + z[i] * z[i]);
    return ELBO_OK;
}

elbo_status nlvm_posterior_grid(const nlvm *model, const double *x, double lo, double hi, size_t count, double *z,
                                double *density, double *log_px)
{
    elbo_status st = check_model(model);
    if (st != ELBO_OK)
        return st;
    if (model->dz != 1 || count < 2 || !(hi > lo) || !density)
        return elbo_fail(ELBO_ERR_INVALID, "nlvm: grid posterior: expected dz = 1, count >= 2, hi > lo (dz=%zu count=%zu)",
                         model->dz, count);
    double *zz = z ? z : malloc(count * sizeof(double));
    if (!zz)
        return elbo_fail(ELBO_ERR_NOMEM, "nlvm: out of memory");
    double h = (hi - lo) / (double)(count - 1);
    for (size_t i = 0; i < count; i++)
        zz[i] = lo + h * (double)i;
    st = log_joint_1d(model, x, zz, count, density);
    if (st == ELBO_OK) {
        double m = -INFINITY, s = 0.0;
        for (size_t i = 0; i < count; i++)
            m = fmax(m, density[i]);
        for (size_t i = 0; i < count; i++) /* trapezoid: half weight at the ends */
            s += (i == 0 || i == count - 1 ? 0.5 : 1.0) * h * exp(density[i] - m);
        double lp = m + log(s);
        for (size_t i = 0; i < count; i++)
            density[i] = exp(density[i] - lp);
        if (log_px)
            *log_px = lp;
    }
    if (!z)
        free(zz);
    return st;
}

double nlvm_kl_q_post(const nlvm *model, const double *x, double log_px, double mean, double sd)
{
    double z[KL_POINTS], lj[KL_POINTS];
    double h = 2.0 * KL_HALF_WIDTH * sd / (KL_POINTS - 1), e = 0.0;
    for (size_t i = 0; i < KL_POINTS; i++)
        z[i] = mean - KL_HALF_WIDTH * sd + h * (double)i;
    if (log_joint_1d(model, x, z, KL_POINTS, lj) != ELBO_OK)
        return NAN;
    for (size_t i = 0; i < KL_POINTS; i++) {
        double t = (z[i] - mean) / sd;
        double q = exp(-0.5 * t * t) / (sd * sqrt(2.0 * M_PI));
        e += (i == 0 || i == KL_POINTS - 1 ? 0.5 : 1.0) * h * q * lj[i];
    }
    double neg_entropy = -0.5 * log(2.0 * M_PI * M_E * sd * sd); /* E_q[log q] */
    return neg_entropy - e + log_px;
}

/* Nelder-Mead in 2-D on v = (mean, log sd). */
static double nm_kl(const nlvm *model, const double *x, double log_px, const double v[2])
{
    double r = nlvm_kl_q_post(model, x, log_px, v[0], exp(v[1]));
    return isfinite(r) ? r : INFINITY;
}

static void nelder_mead(const nlvm *model, const double *x, double log_px, double v[2], double step, double *fbest)
{
    double s[3][2] = {{v[0], v[1]}, {v[0] + step, v[1]}, {v[0], v[1] + 0.5}}, f[3];
    for (int i = 0; i < 3; i++)
        f[i] = nm_kl(model, x, log_px, s[i]);
    for (int it = 0; it < NM_MAX_ITER; it++) {
        /* order: s[0] best, s[2] worst */
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2 - a; b++)
                if (f[b] > f[b + 1]) {
                    double tf = f[b], t0 = s[b][0], t1 = s[b][1];
                    f[b] = f[b + 1], s[b][0] = s[b + 1][0], s[b][1] = s[b + 1][1];
                    f[b + 1] = tf, s[b + 1][0] = t0, s[b + 1][1] = t1;
                }
        double size = fmax(fabs(s[2][0] - s[0][0]) + fabs(s[2][1] - s[0][1]),
                           fabs(s[1][0] - s[0][0]) + fabs(s[1][1] - s[0][1]));
        if (f[2] - f[0] < NM_FTOL && size < NM_XTOL)
            break;
        double c[2] = {0.5 * (s[0][0] + s[1][0]), 0.5 * (s[0][1] + s[1][1])};
        double r[2] = {2 * c[0] - s[2][0], 2 * c[1] - s[2][1]}, fr = nm_kl(model, x, log_px, r);
        if (fr < f[0]) {
            double e[2] = {3 * c[0] - 2 * s[2][0], 3 * c[1] - 2 * s[2][1]}, fe = nm_kl(model, x, log_px, e);
            if (fe < fr)
                s[2][0] = e[0], s[2][1] = e[1], f[2] = fe;
            else
                s[2][0] = r[0], s[2][1] = r[1], f[2] = fr;
        } else if (fr < f[1]) {
            s[2][0] = r[0], s[2][1] = r[1], f[2] = fr;
        } else {
            double k[2] = {0.5 * (c[0] + s[2][0]), 0.5 * (c[1] + s[2][1])}, fk = nm_kl(model, x, log_px, k);
            if (fk < f[2]) {
                s[2][0] = k[0], s[2][1] = k[1], f[2] = fk;
            } else { /* shrink towards the best */
                for (int i = 1; i < 3; i++) {
                    s[i][0] = 0.5 * (s[0][0] + s[i][0]);
                    s[i][1] = 0.5 * (s[0][1] + s[i][1]);
                    f[i] = nm_kl(model, x, log_px, s[i]);
                }
            }
        }
    }
    int b = f[0] <= f[1] ? (f[0] <= f[2] ? 0 : 2) : (f[1] <= f[2] ? 1 : 2);
    v[0] = s[b][0];
    v[1] = s[b][1];
    *fbest = f[b];
}

elbo_status nlvm_posterior_gauss(const nlvm *model, const double *x, double log_px, const double *z,
                                 const double *density, size_t count, nlvm_gauss1 *moment, nlvm_gauss1 *varia)
{
    elbo_status st = check_model(model);
    if (st != ELBO_OK)
        return st;
    if (model->dz != 1 || count < 3 || !z || !density)
        return elbo_fail(ELBO_ERR_INVALID, "nlvm: Gaussian fit: expected dz = 1 and a grid of >= 3 points");
    double h = z[1] - z[0], mean = 0.0, var = 0.0, peak = 0.0;
    for (size_t i = 0; i < count; i++) {
        double w = (i == 0 || i == count - 1 ? 0.5 : 1.0) * h * density[i];
        mean += w * z[i];
        peak = fmax(peak, density[i]);
    }
    for (size_t i = 0; i < count; i++) {
        double w = (i == 0 || i == count - 1 ? 0.5 : 1.0) * h * density[i];
        var += w * (z[i] - mean) * (z[i] - mean);
    }
    nlvm_gauss1 mm = {.mean = mean, .sd = sqrt(var)};
    mm.kl = nlvm_kl_q_post(model, x, log_px, mm.mean, mm.sd);
    if (moment)
        *moment = mm;
    if (!varia)
        return ELBO_OK;

    /* KL(q || p): start at the moment match and at every clear local peak */
    double best_v[2] = {mm.mean, log(mm.sd)}, best_f;
    nelder_mead(model, x, log_px, best_v, mm.sd, &best_f);
    for (size_t i = 1; i + 1 < count; i++) {
        if (!(density[i] > density[i - 1] && density[i] >= density[i + 1] && density[i] > PEAK_FLOOR * peak))
            continue;
        /* width from the curvature of the log density at the peak */
        double c = log(density[i - 1]) - 2 * log(density[i]) + log(density[i + 1]);
        double sd0 = c < 0 ? h / sqrt(-c) : 10 * h;
        double v[2] = {z[i], log(sd0)}, f;
        nelder_mead(model, x, log_px, v, sd0, &f);
        if (f < best_f)
            best_f = f, best_v[0] = v[0], best_v[1] = v[1];
    }
    *varia = (nlvm_gauss1){.mean = best_v[0], .sd = exp(best_v[1]), .kl = best_f};
    return ELBO_OK;
}
