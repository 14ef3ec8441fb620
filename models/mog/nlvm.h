/* The nonlinear latent variable model of section 17.2, in float64:
 *
 *   Pr(z) = Norm_z[0, I]                   (17.5)   z in R^dz
 *   Pr(x | z) = Norm_x[f(z), sigma^2 I]    (17.6)   x in R^dx
 *   Pr(x) = int Pr(x | z) Pr(z) dz         (17.7)
 *
 * f is a callback, so the notebook-17.1 curve, a small MLP, or any other
 * mean function plugs in. This file gives ancestral sampling (17.2.1), Pr(x)
 * by plain Monte Carlo over the prior (17.27) and by importance sampling from
 * a Gaussian proposal q (17.28) with standard errors and the effective sample
 * size, and, for 1-D z, the exact posterior on a grid (figure 17.7) with its
 * best Gaussian approximations (figure 17.8). */
#ifndef ELBO_NLVM_H
#define ELBO_NLVM_H

#include <stddef.h>

#include "ops/error.h"
#include "ops/rng.h"

/* f for a batch: z (m, dz) -> mean (m, dx), row-major. */
typedef void (*nlvm_fn)(void *ctx, const double *z, size_t m, double *mean);

typedef struct nlvm {
    size_t dz, dx;
    double sigma2; /* variance of the spherical likelihood */
    nlvm_fn f;
    void *ctx;
} nlvm;

/* ---- notebook 17.1: dz = 1, dx = 2, sigma^2 = 0.04 ----
 *   f1(z) = 0.5 exp(sin(2 + 3.675 z)),  f2(z) = cos(2 + 2.85 z) */
#define NLVM_NOTEBOOK_SIGMA2 0.04
void nlvm_notebook_f(void *ctx, const double *z, size_t m, double *mean);
void nlvm_init_notebook(nlvm *model);

/* ---- a small MLP: f(z) = W2 tanh(W1 z + b1) + b2 ---- */
typedef struct nlvm_mlp {
    size_t dz, dh, dx;
    double *w1; /* (dh, dz) */
    double *b1; /* (dh) */
    double *w2; /* (dx, dh) */
    double *b2; /* (dx) */
} nlvm_mlp;

/* Weights ~ Norm(0, 1/fan_in) (so tanh units stay in range), biases ~ Norm(0, 1). */
elbo_status nlvm_mlp_init(nlvm_mlp *mlp, size_t dz, size_t dh, size_t dx, elbo_rng *rng);
void nlvm_mlp_free(nlvm_mlp *mlp);
void nlvm_mlp_f(void *ctx, const double *z, size_t m, double *mean); /* ctx: nlvm_mlp * */
/* The model with f = mlp (mlp must outlive it). */
void nlvm_init_mlp(nlvm *model, nlvm_mlp *mlp, double sigma2);

/* ---- sampling and densities ---- */
/* Ancestral sampling: z ~ Pr(z), x ~ Pr(x | z). z (n, dz) may be NULL; x (n, dx). */
elbo_status nlvm_sample(const nlvm *model, elbo_rng *rng, size_t n, double *z, double *x);
/* log Pr(x | z_i) for m latent points z (m, dz) and one x (dx): out (m). */
elbo_status nlvm_log_lik(const nlvm *model, const double *x, const double *z, size_t m, double *out);

/* A Monte Carlo estimate of Pr(x) from N weights w_n:
 *   p = mean w,  se = sd(w) / sqrt(N),  ess = (sum w)^2 / sum w^2.
 * Computed from log w with the largest factored out, so tiny Pr(x) is fine. */
typedef struct nlvm_estimate {
    double p, log_p;  /* estimate of Pr(x) and its log */
    double se, rel_se; /* standard error of p, and se / p */
    double ess;       /* effective sample size, 1..N */
    size_t n;
} nlvm_estimate;

/* (17.27): z_n ~ Pr(z), w_n = Pr(x | z_n). */
elbo_status nlvm_px_mc(const nlvm *model, const double *x, size_t n, elbo_rng *rng, nlvm_estimate *est);
/* (17.28): z_n ~ q = Norm(q_mean, diag(q_sd^2)), w_n = Pr(x | z_n) Pr(z_n) / q(z_n). */
elbo_status nlvm_px_is(const nlvm *model, const double *x, const double *q_mean, const double *q_sd, size_t n,
                       elbo_rng *rng, nlvm_estimate *est);

/* ---- 1-D z: the exact posterior on a grid ---- */
/* count >= 2 points z_i evenly from lo to hi (z may be NULL); density_i =
 * Pr(z_i | x), normalised by the trapezoid rule (multiply by the step for
 * probabilities that sum to one); *log_px = log of the trapezoid integral of
 * Pr(x | z) Pr(z). The range should cover the prior (e.g. -8..8). */
elbo_status nlvm_posterior_grid(const nlvm *model, const double *x, double lo, double hi, size_t count, double *z,
                                double *density, double *log_px);

/* A Gaussian q(z) = Norm(mean, sd^2) for 1-D z with kl = KL(q || Pr(z | x)). */
typedef struct nlvm_gauss1 {
    double mean, sd, kl;
} nlvm_gauss1;

/* KL(q || Pr(z | x)) = E_q[log q] - E_q[log Pr(x | z) Pr(z)] + log Pr(x), by quadrature. */
double nlvm_kl_q_post(const nlvm *model, const double *x, double log_px, double mean, double sd);

/* Two best Gaussian approximations to the grid posterior (figure 17.8):
 *   moment   the mean and sd of the posterior: minimises KL(p || q); mass-covering,
 *            a safe importance-sampling proposal;
 *   varia    minimises KL(q || p), what the ELBO's variational step seeks (17.17):
 *            mode-seeking; Nelder-Mead over (mean, log sd) from every local
 *            maximum of the grid posterior and from the moment match.
 * Grid arguments as returned by nlvm_posterior_grid (z may not be NULL). */
elbo_status nlvm_posterior_gauss(const nlvm *model, const double *x, double log_px, const double *z,
                                 const double *density, size_t count, nlvm_gauss1 *moment, nlvm_gauss1 *varia);

#endif
