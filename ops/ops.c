/* The kernel front-end (see ops/ops.h): packs a call into a job, splits it
 * into tasks of fixed size and runs them through elbo_parallel_for.
 *
 * Elementwise kernels split the flat index range into ELBO_OPS_CHUNK floats
 * per task; row-wise kernels split rows into blocks of about ELBO_OPS_CHUNK
 * floats. Task boundaries depend only on (n) or (rows, cols). Below
 * ELBO_OPS_PARALLEL_MIN floats the kernel is called directly. */
#include "ops/ops.h"

#include "ops/pool.h"
#include "ops/simd_level.h"

/* Partial sums of elbo_sum are kept for this many chunks at a time (8 KiB on
 * the stack); longer arrays run several such groups one after another. */
#define SUM_GROUP 1024

/* One call, unpacked by the task functions below. Elementwise jobs index
 * floats [t*step, ...); row jobs index rows [t*step, ...) of width cols. */
struct job {
    const struct elbo_kernels *k;
    size_t n;     /* floats (elementwise) or rows (row-wise) */
    size_t cols;  /* row width; 1 for elementwise jobs */
    size_t step;  /* floats or rows per task */
    float s0, s1, s2, s3;
    const float *a, *b, *c, *d;
    float *y, *z, *w;
    double *partial;
};

/* Start and length of task t, in floats or rows. */
static void span(const struct job *j, int t, size_t *off, size_t *len)
{
    size_t lo = (size_t)t * j->step;
    size_t hi = lo + j->step < j->n ? lo + j->step : j->n;
    *off = lo;
    *len = hi - lo;
}

/* Run fn over j: inline as one task when small, else in fixed-size tasks. */
static void run(struct job *j, elbo_task_fn fn)
{
    size_t floats = j->n * j->cols;
    if (floats < ELBO_OPS_PARALLEL_MIN || j->n < 2) {
        j->step = j->n;
        fn(j, 0);
        return;
    }
    j->step = j->cols >= ELBO_OPS_CHUNK ? 1 : ELBO_OPS_CHUNK / j->cols;
    elbo_parallel_for((int)((j->n + j->step - 1) / j->step), fn, j);
}

static struct job ew_job(size_t n)
{
    return (struct job){.k = elbo_k(), .n = n, .cols = 1};
}

/* cols > 0: callers handle empty rows themselves */
static struct job row_job(size_t rows, size_t cols)
{
    return (struct job){.k = elbo_k(), .n = rows, .cols = cols};
}

/* ---------------- elementwise ---------------- */

static void add_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->add(len, j->a + o, j->b + o, j->y + o);
}
void elbo_add(size_t n, const float *a, const float *b, float *y)
{
    struct job j = ew_job(n);
    j.a = a, j.b = b, j.y = y;
    run(&j, add_task);
}

static void sub_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->sub(len, j->a + o, j->b + o, j->y + o);
}
void elbo_sub(size_t n, const float *a, const float *b, float *y)
{
    struct job j = ew_job(n);
    j.a = a, j.b = b, j.y = y;
    run(&j, sub_task);
}

static void mul_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->mul(len, j->a + o, j->b + o, j->y + o);
}
void elbo_mul(size_t n, const float *a, const float *b, float *y)
{
    struct job j = ew_job(n);
    j.a = a, j.b = b, j.y = y;
    run(&j, mul_task);
}

static void scale_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->scale(len, j->s0, j->a + o, j->y + o);
}
void elbo_scale(size_t n, float s, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.s0 = s, j.a = x, j.y = y;
    run(&j, scale_task);
}

static void axpy_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->axpy(len, j->s0, j->a + o, j->y + o);
}
void elbo_axpy(size_t n, float a, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.s0 = a, j.a = x, j.y = y;
    run(&j, axpy_task);
}

static void fma_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->fma(len, j->a + o, j->b + o, j->y + o);
}
void elbo_fma(size_t n, const float *a, const float *b, float *y)
{
    struct job j = ew_job(n);
    j.a = a, j.b = b, j.y = y;
    run(&j, fma_task);
}

/* ---------------- row broadcast, column reduction ---------------- */

static void add_bias_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    j->k->add_bias(nr, j->cols, j->a, j->y + r * j->cols);
}
void elbo_add_bias(size_t rows, size_t cols, const float *b, float *y)
{
    if (cols == 0)
        return;
    struct job j = row_job(rows, cols);
    j.a = b, j.y = y;
    run(&j, add_bias_task);
}

/* Every row adds into the same y (C): one task, in row order. */
void elbo_col_sum(size_t rows, size_t cols, const float *x, float *y)
{
    elbo_k()->col_sum(rows, cols, x, y);
}

/* ---------------- activations ---------------- */

static void relu_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->relu(len, j->a + o, j->y + o);
}
void elbo_relu(size_t n, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.a = x, j.y = y;
    run(&j, relu_task);
}

static void relu_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->relu_bwd(len, j->a + o, j->b + o, j->y + o);
}
void elbo_relu_bwd(size_t n, const float *x, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.a = x, j.b = dy, j.y = dx;
    run(&j, relu_bwd_task);
}

static void leaky_relu_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->leaky_relu(len, j->s0, j->a + o, j->y + o);
}
void elbo_leaky_relu(size_t n, float slope, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.s0 = slope, j.a = x, j.y = y;
    run(&j, leaky_relu_task);
}

static void leaky_relu_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->leaky_relu_bwd(len, j->s0, j->a + o, j->b + o, j->y + o);
}
void elbo_leaky_relu_bwd(size_t n, float slope, const float *x, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.s0 = slope, j.a = x, j.b = dy, j.y = dx;
    run(&j, leaky_relu_bwd_task);
}

static void tanh_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->tanh(len, j->a + o, j->y + o);
}
void elbo_tanh(size_t n, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.a = x, j.y = y;
    run(&j, tanh_task);
}

static void tanh_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->tanh_bwd(len, j->a + o, j->b + o, j->y + o);
}
void elbo_tanh_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.a = y, j.b = dy, j.y = dx;
    run(&j, tanh_bwd_task);
}

static void sigmoid_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->sigmoid(len, j->a + o, j->y + o);
}
void elbo_sigmoid(size_t n, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.a = x, j.y = y;
    run(&j, sigmoid_task);
}

static void sigmoid_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->sigmoid_bwd(len, j->a + o, j->b + o, j->y + o);
}
void elbo_sigmoid_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.a = y, j.b = dy, j.y = dx;
    run(&j, sigmoid_bwd_task);
}

static void softplus_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->softplus(len, j->a + o, j->y + o);
}
void elbo_softplus(size_t n, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.a = x, j.y = y;
    run(&j, softplus_task);
}

static void softplus_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->softplus_bwd(len, j->a + o, j->b + o, j->y + o);
}
void elbo_softplus_bwd(size_t n, const float *x, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.a = x, j.b = dy, j.y = dx;
    run(&j, softplus_bwd_task);
}

static void exp_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->exp(len, j->a + o, j->y + o);
}
void elbo_exp(size_t n, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.a = x, j.y = y;
    run(&j, exp_task);
}

static void exp_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->exp_bwd(len, j->a + o, j->b + o, j->y + o);
}
void elbo_exp_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.a = y, j.b = dy, j.y = dx;
    run(&j, exp_bwd_task);
}

static void log_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->log(len, j->a + o, j->y + o);
}
void elbo_log(size_t n, const float *x, float *y)
{
    struct job j = ew_job(n);
    j.a = x, j.y = y;
    run(&j, log_task);
}

static void log_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->log_bwd(len, j->a + o, j->b + o, j->y + o);
}
void elbo_log_bwd(size_t n, const float *x, const float *dy, float *dx)
{
    struct job j = ew_job(n);
    j.a = x, j.b = dy, j.y = dx;
    run(&j, log_bwd_task);
}

/* ---------------- row reductions ---------------- */

static void row_sum_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    j->k->row_sum(nr, j->cols, j->a + r * j->cols, j->y + r);
}
void elbo_row_sum(size_t rows, size_t cols, const float *x, float *y)
{
    if (cols == 0) { /* empty rows still write y[r] */
        elbo_k()->row_sum(rows, 0, x, y);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = x, j.y = y;
    run(&j, row_sum_task);
}

static void row_max_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    j->k->row_max(nr, j->cols, j->a + r * j->cols, j->y + r);
}
void elbo_row_max(size_t rows, size_t cols, const float *x, float *y)
{
    if (cols == 0) {
        elbo_k()->row_max(rows, 0, x, y);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = x, j.y = y;
    run(&j, row_max_task);
}

static void row_logsumexp_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    j->k->row_logsumexp(nr, j->cols, j->a + r * j->cols, j->y + r);
}
void elbo_row_logsumexp(size_t rows, size_t cols, const float *x, float *y)
{
    if (cols == 0) {
        elbo_k()->row_logsumexp(rows, 0, x, y);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = x, j.y = y;
    run(&j, row_logsumexp_task);
}

/* partial[t] = sum of chunk t of the current group */
static void sum_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->partial[t] = j->k->sum(len, j->a + o);
}

/* total = (((0 + chunk 0) + chunk 1) + ...), chunks of ELBO_OPS_CHUNK floats */
double elbo_sum(size_t n, const float *x)
{
    if (n < ELBO_OPS_PARALLEL_MIN)
        return elbo_k()->sum(n, x);
    const size_t group = (size_t)SUM_GROUP * ELBO_OPS_CHUNK;
    double partial[SUM_GROUP];
    double total = 0.0;
    for (size_t g = 0; g < n; g += group) {
        struct job j = ew_job(n - g < group ? n - g : group);
        j.a = x + g, j.partial = partial, j.step = ELBO_OPS_CHUNK;
        int ntasks = (int)((j.n + j.step - 1) / j.step);
        elbo_parallel_for(ntasks, sum_task, &j);
        for (int t = 0; t < ntasks; t++)
            total += partial[t];
    }
    return total;
}

/* ---------------- fused losses ---------------- */

static void bernoulli_nll_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    size_t o = r * j->cols;
    j->k->bernoulli_nll(nr, j->cols, j->a + o, j->b + o, j->y + r);
}
void elbo_bernoulli_nll(size_t rows, size_t cols, const float *l, const float *t, float *out)
{
    if (cols == 0) {
        elbo_k()->bernoulli_nll(rows, 0, l, t, out);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = l, j.b = t, j.y = out;
    run(&j, bernoulli_nll_task);
}

static void bernoulli_nll_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    size_t o = r * j->cols;
    j->k->bernoulli_nll_bwd(nr, j->cols, j->a + o, j->b + o, j->c + r, j->y + o);
}
void elbo_bernoulli_nll_bwd(size_t rows, size_t cols, const float *l, const float *t,
                            const float *drow, float *dl)
{
    if (cols == 0)
        return;
    struct job j = row_job(rows, cols);
    j.a = l, j.b = t, j.c = drow, j.y = dl;
    run(&j, bernoulli_nll_bwd_task);
}

static void gauss_nll_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    size_t o = r * j->cols;
    j->k->gauss_nll(nr, j->cols, j->a + o, j->b + o, j->c, j->y + r);
}
void elbo_gauss_nll(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                    float *out)
{
    if (cols == 0) {
        elbo_k()->gauss_nll(rows, 0, m, x, lv, out);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = m, j.b = x, j.c = lv, j.y = out;
    run(&j, gauss_nll_task);
}

static void gauss_nll_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    size_t o = r * j->cols;
    j->k->gauss_nll_bwd(nr, j->cols, j->a + o, j->b + o, j->c, j->d + r, j->y + o, NULL);
}
/* With dlv every row adds into the same dlv (C): one task, in row order. */
void elbo_gauss_nll_bwd(size_t rows, size_t cols, const float *m, const float *x, const float *lv,
                        const float *drow, float *dm, float *dlv)
{
    if (cols == 0)
        return;
    if (dlv) {
        elbo_k()->gauss_nll_bwd(rows, cols, m, x, lv, drow, dm, dlv);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = m, j.b = x, j.c = lv, j.d = drow, j.y = dm;
    run(&j, gauss_nll_bwd_task);
}

static void kl_diag_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    size_t o = r * j->cols;
    j->k->kl_diag(nr, j->cols, j->a + o, j->b + o, j->y + r);
}
void elbo_kl_diag(size_t rows, size_t cols, const float *mu, const float *lv, float *out)
{
    if (cols == 0) {
        elbo_k()->kl_diag(rows, 0, mu, lv, out);
        return;
    }
    struct job j = row_job(rows, cols);
    j.a = mu, j.b = lv, j.y = out;
    run(&j, kl_diag_task);
}

static void kl_diag_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t r, nr;
    span(j, t, &r, &nr);
    size_t o = r * j->cols;
    j->k->kl_diag_bwd(nr, j->cols, j->a + o, j->b + o, j->c + r, j->y + o, j->z + o);
}
void elbo_kl_diag_bwd(size_t rows, size_t cols, const float *mu, const float *lv,
                      const float *drow, float *dmu, float *dlv)
{
    if (cols == 0)
        return;
    struct job j = row_job(rows, cols);
    j.a = mu, j.b = lv, j.c = drow, j.y = dmu, j.z = dlv;
    run(&j, kl_diag_bwd_task);
}

/* ---------------- reparameterized sample ---------------- */

static void reparam_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->reparam(len, j->a + o, j->b + o, j->c + o, j->y + o);
}
void elbo_reparam(size_t n, const float *mu, const float *lv, const float *eps, float *z)
{
    struct job j = ew_job(n);
    j.a = mu, j.b = lv, j.c = eps, j.y = z;
    run(&j, reparam_task);
}

static void reparam_bwd_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->reparam_bwd(len, j->a + o, j->b + o, j->c + o, j->y + o, j->z + o);
}
void elbo_reparam_bwd(size_t n, const float *lv, const float *eps, const float *dz, float *dmu,
                      float *dlv)
{
    struct job j = ew_job(n);
    j.a = lv, j.b = eps, j.c = dz, j.y = dmu, j.z = dlv;
    run(&j, reparam_bwd_task);
}

/* ---------------- optimizers ---------------- */

static void adam_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->adam(len, j->s0, j->s1, j->s2, j->s3, j->a + o, j->y + o, j->z + o, j->w + o);
}
void elbo_adam(size_t n, float lr_t, float b1, float b2, float eps_t, const float *g, float *m,
               float *v, float *w)
{
    struct job j = ew_job(n);
    j.s0 = lr_t, j.s1 = b1, j.s2 = b2, j.s3 = eps_t;
    j.a = g, j.y = m, j.z = v, j.w = w;
    run(&j, adam_task);
}

static void sgd_momentum_task(void *p, int t)
{
    struct job *j = p;
    size_t o, len;
    span(j, t, &o, &len);
    j->k->sgd_momentum(len, j->s0, j->s1, j->a + o, j->y + o, j->w + o);
}
void elbo_sgd_momentum(size_t n, float lr, float mu, const float *g, float *u, float *w)
{
    struct job j = ew_job(n);
    j.s0 = lr, j.s1 = mu, j.a = g, j.y = u, j.w = w;
    run(&j, sgd_momentum_task);
}
