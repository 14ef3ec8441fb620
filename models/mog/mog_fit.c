/* EM: initialise, iterate fused passes and M-steps, keep the best restart,
 * and record the bound around every E-step (figure 17.15). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/mog/mog_internal.h"

static double clock_seconds(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static double now_seconds(void) { return clock_seconds(CLOCK_MONOTONIC); }

void mog_config_default(mog_config *c, size_t k)
{
    *c = (mog_config){
        .k = k,
        .cov = MOG_COV_FULL,
        .max_iter = MOG_MAX_ITER_DEFAULT,
        .tol = MOG_TOL_DEFAULT,
        .reg_covar = MOG_REG_COVAR_DEFAULT,
        .init = MOG_INIT_KMEANSPP,
        .init_means = NULL,
        .restarts = 1,
        .seed = 1,
        .resp_floor = 0.0,
        .engine = MOG_ENGINE_AUTO,
    };
}

void mog_result_free(mog_result *r)
{
    mog_params_free(&r->params);
    free(r->trace);
    free(r->restart_loglik);
    memset(r, 0, sizeof *r);
}

mog_engine mog_engine_pick(mog_engine requested, size_t n, size_t d, size_t k, mog_cov cov)
{
    if (requested != MOG_ENGINE_AUTO)
        return requested;
    /* measured (mog_gemm.h): the fused pass's in-register triangles win up to
     * d = 32; from d = 64 the GEMMs are about as fast or faster */
    (void)n, (void)k;
    return cov == MOG_COV_FULL && d >= MOG_GEMM_AUTO_MIN_D ? MOG_ENGINE_GEMM : MOG_ENGINE_FUSED;
}

const char *mog_engine_name(mog_engine e)
{
    static const char *const names[] = {"auto", "fused", "gemm"};
    return (unsigned)e <= MOG_ENGINE_GEMM ? names[e] : "unknown";
}

/* The pass of either engine over the same data. */
typedef struct engine {
    mog_engine kind;
    mog_work fused;
    mog_gemm_work gemm;
} engine;

static elbo_status engine_init(engine *e, mog_engine kind, const double *x, size_t n, size_t d, size_t k,
                               mog_cov cov)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return kind == MOG_ENGINE_GEMM ? mog_gemm_init(&e->gemm, x, n, d, k) : mog_work_init(&e->fused, x, n, d, k, cov);
}

static void engine_free(engine *e)
{
    if (e->kind == MOG_ENGINE_GEMM)
        mog_gemm_free(&e->gemm);
    else
        mog_work_free(&e->fused);
}

static elbo_status engine_run(engine *e, const mog_params *p, mog_stats *stats, double resp_floor, double *ll,
                              double *energy, double *entropy)
{
    if (e->kind == MOG_ENGINE_GEMM)
        return mog_gemm_run(&e->gemm, p, stats, ll, energy, entropy, NULL, NULL);
    return mog_work_run(&e->fused, p, stats, resp_floor, ll, energy, entropy, NULL, NULL);
}

/* The fused engine packs points grouped by cluster (for skipping); the GEMM engine keeps them in order. */
static void engine_pack(engine *e, const double *x, const size_t *order)
{
    if (e->kind == MOG_ENGINE_FUSED)
        mog_work_pack(&e->fused, x, order);
}

/* One restart's output. */
typedef struct run {
    mog_params theta;
    mog_trace_row *trace;
    int iterations;
    bool converged;
    double mean_loglik, seconds;
} run;

static void run_free(run *r)
{
    mog_params_free(&r->theta);
    free(r->trace);
    memset(r, 0, sizeof *r);
}

static elbo_status run_em(const double *x, size_t n, size_t d, const mog_config *cfg, engine *w, elbo_rng *rng,
                          run *out, unsigned *warn, size_t *n_empty)
{
    const size_t k = cfg->k;
    const int full = cfg->cov == MOG_COV_FULL;
    const double dn = (double)n;
    mog_params fallback = {0}, next = {0};
    mog_stats st = {0};
    elbo_status s;
    memset(out, 0, sizeof *out);
    size_t *labels = malloc(n * sizeof(size_t)), *order = malloc(n * sizeof(size_t));
    size_t *count = calloc(k + 1, sizeof(size_t));
    if (!labels || !order || !count) {
        free(labels), free(order), free(count);
        return elbo_fail(ELBO_ERR_NOMEM, "mog: out of memory for the point order");
    }
    out->trace = calloc((size_t)cfg->max_iter, sizeof *out->trace);
    if (!out->trace)
        return elbo_fail(ELBO_ERR_NOMEM, "mog: out of memory for the trace");
    if ((s = mog_params_alloc(&out->theta, k, d, cfg->cov)) != ELBO_OK ||
        (s = mog_params_alloc(&next, k, d, cfg->cov)) != ELBO_OK ||
        (s = mog_params_alloc(&fallback, k, d, cfg->cov)) != ELBO_OK ||
        (s = mog_stats_alloc(&st, k, d, full)) != ELBO_OK)
        goto done;

    /* theta_0 from q_0 (then the given means, if any) */
    if ((s = mog_init_stats(x, n, d, cfg, rng, &st, &fallback, labels, warn)) != ELBO_OK ||
        (s = mog_mstep(&st, cfg->reg_covar, &fallback, &out->theta, warn, n_empty)) != ELBO_OK)
        goto done;
    /* pack the points grouped by initial cluster (a stable counting sort):
     * panels then mostly hold one cluster, and with resp_floor the M-step
     * skips the components a panel does not belong to */
    for (size_t i = 0; i < n; i++)
        count[labels[i] + 1]++;
    for (size_t c = 0; c < k; c++)
        count[c + 1] += count[c];
    for (size_t i = 0; i < n; i++)
        order[count[labels[i]]++] = i;
    engine_pack(w, x, order);
    if (cfg->init == MOG_INIT_MEANS) {
        memcpy(out->theta.means, cfg->init_means, k * d * sizeof(double));
        if ((s = mog_params_update(&out->theta)) != ELBO_OK)
            goto done;
    }
    double bound = (mog_expected_loglik(&out->theta, &st) + st.entropy) / dn; /* ELBO(q_0, theta_0) */
    double prev = -INFINITY;

    double t0 = now_seconds(), t_it = t0, c_it = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (int it = 0; it < cfg->max_iter; it++) {
        double ll, energy, entropy;
        /* E-step at theta_{t-1} and the sums of q_t */
        if ((s = engine_run(w, &out->theta, &st, cfg->resp_floor, &ll, &energy, &entropy)) != ELBO_OK)
            goto done;
        mog_trace_row *row = &out->trace[it];
        row->loglik = ll / dn;
        row->elbo_before_e = bound;
        row->elbo_after_e = (energy + entropy) / dn;
        /* M-step: theta_t; the bound with q_t fixed */
        if ((s = mog_mstep(&st, cfg->reg_covar, &out->theta, &next, warn, n_empty)) != ELBO_OK)
            goto done;
        mog_params swap = out->theta;
        out->theta = next;
        next = swap;
        row->elbo_after_m = bound = (mog_expected_loglik(&out->theta, &st) + entropy) / dn;
        double t_now = now_seconds(), c_now = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
        row->seconds = t_now - t_it;
        row->cpu_seconds = c_now - c_it;
        t_it = t_now;
        c_it = c_now;
        out->iterations = it + 1;
        double change = row->loglik - prev;
        prev = row->loglik;
        if (fabs(change) < cfg->tol) {
            out->converged = true;
            break;
        }
    }
    out->seconds = now_seconds() - t0;
    if (!out->converged && cfg->tol > 0)
        *warn |= MOG_WARN_NOT_CONVERGED;

    double ll;
    if ((s = engine_run(w, &out->theta, NULL, -1.0, &ll, NULL, NULL)) != ELBO_OK)
        goto done;
    out->mean_loglik = ll / dn;
done:
    engine_pack(w, x, NULL); /* order is freed below */
    free(labels), free(order), free(count);
    mog_params_free(&fallback);
    mog_params_free(&next);
    mog_stats_free(&st);
    if (s != ELBO_OK)
        run_free(out);
    return s;
}

static elbo_status check_config(const double *x, size_t n, size_t d, const mog_config *c)
{
    if (!x || n == 0 || d == 0)
        return elbo_fail(ELBO_ERR_INVALID, "mog: fit: expected data with n >= 1 and d >= 1, got n=%zu d=%zu", n, d);
    if (c->k == 0 || c->k > n)
        return elbo_fail(ELBO_ERR_INVALID, "mog: fit: expected 1 <= k <= n = %zu, got k=%zu", n, c->k);
    if ((unsigned)c->cov > MOG_COV_SPHERICAL || (unsigned)c->init > MOG_INIT_MEANS ||
        (unsigned)c->engine > MOG_ENGINE_GEMM)
        return elbo_fail(ELBO_ERR_INVALID, "mog: fit: unknown covariance type, init or engine");
    if (c->engine == MOG_ENGINE_GEMM && c->cov != MOG_COV_FULL)
        return elbo_fail(ELBO_ERR_INVALID, "mog: fit: engine 'gemm' needs full covariances, got '%s'",
                         mog_cov_name(c->cov));
    if (c->max_iter < 1 || c->restarts < 1)
        return elbo_fail(ELBO_ERR_INVALID, "mog: fit: expected max_iter >= 1 and restarts >= 1, got %d and %d",
                         c->max_iter, c->restarts);
    if (!(c->tol >= 0) || !isfinite(c->tol) || !(c->reg_covar >= 0) || !isfinite(c->reg_covar) ||
        !isfinite(c->resp_floor) || c->resp_floor >= 1)
        return elbo_fail(ELBO_ERR_INVALID,
                         "mog: fit: expected finite tol >= 0, reg_covar >= 0 and resp_floor < 1, got %g, %g, %g",
                         c->tol, c->reg_covar, c->resp_floor);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return elbo_fail(ELBO_ERR_NONFINITE, "mog: fit: x[%zu][%zu] is %g", i / d, i % d, x[i]);
    if (c->init == MOG_INIT_MEANS) {
        if (!c->init_means)
            return elbo_fail(ELBO_ERR_INVALID, "mog: fit: init 'means' needs init_means (k, d)");
        for (size_t i = 0; i < c->k * d; i++)
            if (!isfinite(c->init_means[i]))
                return elbo_fail(ELBO_ERR_NONFINITE, "mog: fit: init_means[%zu][%zu] is %g", i / d, i % d,
                                 c->init_means[i]);
    }
    return ELBO_OK;
}

elbo_status mog_fit(const double *x, size_t n, size_t d, const mog_config *cfg, mog_result *res)
{
    memset(res, 0, sizeof *res);
    elbo_status s = check_config(x, n, d, cfg);
    if (s != ELBO_OK)
        return s;
    res->restart_loglik = calloc((size_t)cfg->restarts, sizeof(double));
    if (!res->restart_loglik)
        return elbo_fail(ELBO_ERR_NOMEM, "mog: fit: out of memory");
    if (n < d)
        res->warnings |= MOG_WARN_N_BELOW_D;
    engine w;
    res->engine = mog_engine_pick(cfg->engine, n, d, cfg->k, cfg->cov);
    if ((s = engine_init(&w, res->engine, x, n, d, cfg->k, cfg->cov)) != ELBO_OK) {
        mog_result_free(res);
        return s;
    }
    elbo_rng base;
    elbo_rng_seed(&base, cfg->seed);
    run best = {0};
    bool have = false;
    for (int r = 0; r < cfg->restarts; r++) {
        elbo_rng rng = base; /* restart r: the seed's stream jumped r times */
        for (int j = 0; j < r; j++)
            elbo_rng_jump(&rng);
        run cur;
        if ((s = run_em(x, n, d, cfg, &w, &rng, &cur, &res->warnings, &res->n_empty)) != ELBO_OK) {
            if (have)
                run_free(&best);
            engine_free(&w);
            mog_result_free(res);
            return s;
        }
        res->restart_loglik[r] = cur.mean_loglik;
        res->total_iterations += cur.iterations;
        res->seconds_em += cur.seconds;
        if (!have || cur.mean_loglik > best.mean_loglik) {
            if (have)
                run_free(&best);
            best = cur;
            have = true;
            res->best_restart = r;
        } else {
            run_free(&cur);
        }
    }
    engine_free(&w);
    res->params = best.theta;
    res->trace = best.trace;
    res->iterations = best.iterations;
    res->converged = best.converged;
    res->mean_loglik = best.mean_loglik;
    return ELBO_OK;
}

elbo_status mog_score_samples(const mog_params *p, const double *x, size_t n, double *loglik, double *resp,
                              double *mean_loglik)
{
    if (!x || n == 0)
        return elbo_fail(ELBO_ERR_INVALID, "mog: score: expected n >= 1 points, got %zu", n);
    for (size_t i = 0; i < n * p->d; i++)
        if (!isfinite(x[i]))
            return elbo_fail(ELBO_ERR_NONFINITE, "mog: score: x[%zu][%zu] is %g", i / p->d, i % p->d, x[i]);
    mog_work w;
    elbo_status s = mog_work_init(&w, x, n, p->d, p->k, p->cov);
    if (s != ELBO_OK)
        return s;
    double ll;
    s = mog_work_run(&w, p, NULL, -1.0, &ll, NULL, NULL, loglik, resp);
    mog_work_free(&w);
    if (s == ELBO_OK && mean_loglik)
        *mean_loglik = ll / (double)n;
    return s;
}
