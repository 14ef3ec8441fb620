/* The kernel front-end (see ops/ops.h): one wrapper per kernel of
 * ops/kernels/list.h, generated from its signature class. A wrapper packs
 * the call into a job, splits it into tasks of fixed size and runs them
 * through elbo_parallel_for.
 *
 * A job counts UNITS: floats for elementwise classes, rows for row classes,
 * outer slices for AXIS, images for NORM and WIN; `width` is the floats of
 * one unit. Tasks take ELBO_OPS_CHUNK floats' worth of units (at least one
 * unit), so task boundaries depend only on the sizes. Below
 * ELBO_OPS_PARALLEL_MIN floats the kernel is called once, inline. */
#include "ops/ops.h"

#include "ops/pool.h"
#include "ops/simd_level.h"

/* Partial sums of elbo_sum are kept for this many chunks at a time (8 KiB on
 * the stack); longer arrays run several such groups one after another. */
#define SUM_GROUP 1024

/* One call, unpacked by the task functions below. */
struct job {
    const struct elbo_kernels *k;
    size_t n;          /* units */
    size_t width;      /* floats per unit */
    size_t step;       /* units per task */
    size_t z0, z1, z2; /* sizes the kernel takes besides the unit count */
    float s0, s1, s2, s3;
    const float *a, *b, *c, *d;
    const int32_t *labels;
    const elbo_window2d *win;
    float *y, *z, *w;
    double *partial;
};

/* First unit and unit count of task t. */
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
    size_t floats = j->n * j->width;
    if (floats < ELBO_OPS_PARALLEL_MIN || j->n < 2) {
        j->step = j->n;
        fn(j, 0);
        return;
    }
    j->step = j->width >= ELBO_OPS_CHUNK ? 1 : ELBO_OPS_CHUNK / j->width;
    elbo_parallel_for((int)((j->n + j->step - 1) / j->step), fn, j);
}

/* n units of `width` floats on the current level's table */
static struct job job_of(size_t n, size_t width) { return (struct job){.k = elbo_k(), .n = n, .width = width}; }

/* ---- one generator per signature class: the task and the wrapper ----
 * TASK_(name) opens the task of kernel `name` with its span [o, o + len). */
#define TASK_(name)                                                                                          \
    static void name##_task(void *p, int t)                                                                  \
    {                                                                                                        \
        struct job *j = p;                                                                                   \
        size_t o, len;                                                                                       \
        span(j, t, &o, &len);
#define END_ }

/* elementwise: every array offset by o floats */
#define FRONT_EW1(name)                                                                                      \
    TASK_(name) j->k->name(len, j->a + o, j->y + o); END_                                                    \
    void elbo_##name ELBO_KC_EW1_PARAMS                                                                      \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.a = x, j.y = y;                                                                                    \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_EW2(name)                                                                                      \
    TASK_(name) j->k->name(len, j->a + o, j->b + o, j->y + o); END_                                          \
    void elbo_##name ELBO_KC_EW2_PARAMS                                                                      \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.a = a, j.b = b, j.y = y;                                                                           \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_EWS1(name)                                                                                     \
    TASK_(name) j->k->name(len, j->s0, j->a + o, j->y + o); END_                                             \
    void elbo_##name ELBO_KC_EWS1_PARAMS                                                                     \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.s0 = s, j.a = x, j.y = y;                                                                          \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_EWS2(name)                                                                                     \
    TASK_(name) j->k->name(len, j->s0, j->a + o, j->b + o, j->y + o); END_                                   \
    void elbo_##name ELBO_KC_EWS2_PARAMS                                                                     \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.s0 = s, j.a = a, j.b = b, j.y = y;                                                                 \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_EW3(name)                                                                                      \
    TASK_(name) j->k->name(len, j->a + o, j->b + o, j->c + o, j->y + o); END_                                \
    void elbo_##name ELBO_KC_EW3_PARAMS                                                                      \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.a = a, j.b = b, j.c = c, j.y = y;                                                                  \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_EW3X2(name)                                                                                    \
    TASK_(name) j->k->name(len, j->a + o, j->b + o, j->c + o, j->y + o, j->z + o); END_                      \
    void elbo_##name ELBO_KC_EW3X2_PARAMS                                                                    \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.a = a, j.b = b, j.c = c, j.y = y, j.z = z;                                                         \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_ADAM(name)                                                                                     \
    TASK_(name) j->k->name(len, j->s0, j->s1, j->s2, j->s3, j->a + o, j->y + o, j->z + o, j->w + o); END_    \
    void elbo_##name ELBO_KC_ADAM_PARAMS                                                                     \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.s0 = lr_t, j.s1 = b1, j.s2 = b2, j.s3 = eps_t;                                                     \
        j.a = g, j.y = m, j.z = v, j.w = w;                                                                  \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_SGD(name)                                                                                      \
    TASK_(name) j->k->name(len, j->s0, j->s1, j->a + o, j->y + o, j->w + o); END_                            \
    void elbo_##name ELBO_KC_SGD_PARAMS                                                                      \
    {                                                                                                        \
        struct job j = job_of(n, 1);                                                                         \
        j.s0 = lr, j.s1 = mu, j.a = g, j.y = u, j.w = w;                                                     \
        run(&j, name##_task);                                                                                \
    }

/* row classes: units are rows of `cols` floats; per-row arrays offset by the
 * row, (R,C) arrays by row*cols, (C) arrays shared. An empty row still
 * writes its per-row output, so cols == 0 runs as one call. */
#define FRONT_BIAS(name)                                                                                     \
    TASK_(name) j->k->name(len, j->width, j->a, j->y + o * j->width); END_                                   \
    void elbo_##name ELBO_KC_BIAS_PARAMS                                                                     \
    {                                                                                                        \
        if (cols == 0)                                                                                       \
            return;                                                                                          \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = b, j.y = y;                                                                                    \
        run(&j, name##_task);                                                                                \
    }
/* every row adds into the same y (C): one call, in row order */
#define FRONT_COLRED(name)                                                                                   \
    void elbo_##name ELBO_KC_COLRED_PARAMS { elbo_k()->name(rows, cols, x, y); }
#define FRONT_ROWRED(name)                                                                                   \
    TASK_(name) j->k->name(len, j->width, j->a + o * j->width, j->y + o); END_                               \
    void elbo_##name ELBO_KC_ROWRED_PARAMS                                                                   \
    {                                                                                                        \
        if (cols == 0) {                                                                                     \
            elbo_k()->name(rows, 0, x, y);                                                                   \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = x, j.y = y;                                                                                    \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_LOSS2(name)                                                                                    \
    TASK_(name) j->k->name(len, j->width, j->a + o * j->width, j->b + o * j->width, j->y + o); END_          \
    void elbo_##name ELBO_KC_LOSS2_PARAMS                                                                    \
    {                                                                                                        \
        if (cols == 0) {                                                                                     \
            elbo_k()->name(rows, 0, a, b, out);                                                              \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = a, j.b = b, j.y = out;                                                                         \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_LOSS2_BWD(name)                                                                                \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->width, j->a + e, j->b + e, j->c + o, j->y + e);                                       \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_LOSS2_BWD_PARAMS                                                                \
    {                                                                                                        \
        if (cols == 0)                                                                                       \
            return;                                                                                          \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = a, j.b = b, j.c = drow, j.y = da;                                                              \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_LOSS2_BWD2(name)                                                                               \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->width, j->a + e, j->b + e, j->c + o, j->y + e, j->z + e);                             \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_LOSS2_BWD2_PARAMS                                                               \
    {                                                                                                        \
        if (cols == 0)                                                                                       \
            return;                                                                                          \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = a, j.b = b, j.c = drow, j.y = da, j.z = db;                                                    \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_GAUSS(name)                                                                                    \
    TASK_(name) j->k->name(len, j->width, j->a + o * j->width, j->b + o * j->width, j->c, j->y + o); END_    \
    void elbo_##name ELBO_KC_GAUSS_PARAMS                                                                    \
    {                                                                                                        \
        if (cols == 0) {                                                                                     \
            elbo_k()->name(rows, 0, m, x, lv, out);                                                          \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = m, j.b = x, j.c = lv, j.y = out;                                                               \
        run(&j, name##_task);                                                                                \
    }
/* with dlv every row adds into the same dlv (C): one call, in row order */
#define FRONT_GAUSS_BWD(name)                                                                                \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->width, j->a + e, j->b + e, j->c, j->d + o, j->y + e, NULL);                           \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_GAUSS_BWD_PARAMS                                                                \
    {                                                                                                        \
        if (cols == 0)                                                                                       \
            return;                                                                                          \
        if (dlv) {                                                                                           \
            elbo_k()->name(rows, cols, m, x, lv, drow, dm, dlv);                                             \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = m, j.b = x, j.c = lv, j.d = drow, j.y = dm;                                                    \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_LABELS(name)                                                                                   \
    TASK_(name) j->k->name(len, j->width, j->a + o * j->width, j->labels + o, j->y + o); END_                \
    void elbo_##name ELBO_KC_LABELS_PARAMS                                                                   \
    {                                                                                                        \
        if (cols == 0) {                                                                                     \
            elbo_k()->name(rows, 0, l, labels, out);                                                         \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = l, j.labels = labels, j.y = out;                                                               \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_LABELS_BWD(name)                                                                               \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->width, j->a + e, j->labels + o, j->c + o, j->y + e);                                  \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_LABELS_BWD_PARAMS                                                               \
    {                                                                                                        \
        if (cols == 0)                                                                                       \
            return;                                                                                          \
        struct job j = job_of(rows, cols);                                                                   \
        j.a = l, j.labels = labels, j.c = drow, j.y = dl;                                                    \
        run(&j, name##_task);                                                                                \
    }

/* AXIS: units are outer slices of len*inner floats */
#define FRONT_AXIS(name)                                                                                     \
    TASK_(name) j->k->name(len, j->z0, j->z1, j->a + o * j->width, j->y + o * j->width); END_                \
    void elbo_##name ELBO_KC_AXIS_PARAMS                                                                     \
    {                                                                                                        \
        if (len * inner == 0)                                                                                \
            return;                                                                                          \
        struct job j = job_of(outer, len * inner);                                                           \
        j.z0 = len, j.z1 = inner, j.a = x, j.y = y;                                                          \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_AXIS_BWD(name)                                                                                 \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->z0, j->z1, j->a + e, j->b + e, j->y + e);                                             \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_AXIS_BWD_PARAMS                                                                 \
    {                                                                                                        \
        if (len * inner == 0)                                                                                \
            return;                                                                                          \
        struct job j = job_of(outer, len * inner);                                                           \
        j.z0 = len, j.z1 = inner, j.a = y, j.b = dy, j.y = dx;                                               \
        run(&j, name##_task);                                                                                \
    }

/* NORM: units are samples of hw*c floats; stats (groups, 2) and csum (2c) per sample */
#define FRONT_NORM(name)                                                                                     \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->z0, j->z1, j->z2, j->s0, j->a + e, j->b, j->c, j->y + e, j->z + o * 2 * j->z2);       \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_NORM_PARAMS                                                                     \
    {                                                                                                        \
        if (hw * c == 0) {                                                                                   \
            elbo_k()->name(n, hw, c, groups, eps, x, gamma, beta, y, stats);                                 \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(n, hw * c);                                                                    \
        j.z0 = hw, j.z1 = c, j.z2 = groups, j.s0 = eps;                                                      \
        j.a = x, j.b = gamma, j.c = beta, j.y = y, j.z = stats;                                              \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_NORM_BWD(name)                                                                                 \
    TASK_(name)                                                                                              \
    size_t e = o * j->width;                                                                                 \
    j->k->name(len, j->z0, j->z1, j->z2, j->a + e, j->b, j->c + o * 2 * j->z2, j->d + e, j->y + e,            \
               j->z + o * 2 * j->z1);                                                                        \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_NORM_BWD_PARAMS                                                                 \
    {                                                                                                        \
        if (hw * c == 0) {                                                                                   \
            elbo_k()->name(n, hw, c, groups, x, gamma, stats, dy, dx, csum);                                 \
            return;                                                                                          \
        }                                                                                                    \
        struct job j = job_of(n, hw * c);                                                                    \
        j.z0 = hw, j.z1 = c, j.z2 = groups;                                                                  \
        j.a = x, j.b = gamma, j.c = stats, j.d = dy, j.y = dx, j.z = csum;                                   \
        run(&j, name##_task);                                                                                \
    }

/* WIN: units are images; the first array holds input images (WIN) or output
 * images (WIN_BWD) of the window, the second the other side */
static size_t win_width(const elbo_window2d *g)
{
    size_t in = elbo_window2d_in_image(g), out = elbo_window2d_out_image(g);
    return in > out ? in : out;
}
#define FRONT_WIN_(name, CLS, first_image, second_image, p0, p1)                                             \
    TASK_(name)                                                                                              \
    elbo_window2d sub = *j->win;                                                                             \
    sub.n = (int)len;                                                                                        \
    j->k->name(&sub, j->a + o * first_image(j->win), j->y + o * second_image(j->win));                       \
    END_                                                                                                     \
    void elbo_##name ELBO_KC_##CLS##_PARAMS                                                                  \
    {                                                                                                        \
        if (win_width(g) == 0)                                                                               \
            return;                                                                                          \
        struct job j = job_of((size_t)g->n, win_width(g));                                                   \
        j.win = g, j.a = p0, j.y = p1;                                                                       \
        run(&j, name##_task);                                                                                \
    }
#define FRONT_WIN(name) FRONT_WIN_(name, WIN, elbo_window2d_in_image, elbo_window2d_out_image, x, y)
#define FRONT_WIN_BWD(name) FRONT_WIN_(name, WIN_BWD, elbo_window2d_out_image, elbo_window2d_in_image, dy, dx)

/* COL: one call (the convolutions in ops/conv.c thread around it) */
#define FRONT_COL(name)                                                                                      \
    void elbo_##name ELBO_KC_COL_PARAMS { elbo_k()->name(g, row0, nrows, a, b); }

/* SUM: partial[t] = sum of chunk t of the current group; total = (((0 +
 * chunk 0) + chunk 1) + ...), chunks of ELBO_OPS_CHUNK floats */
#define FRONT_SUM(name)                                                                                      \
    TASK_(name) j->partial[t] = j->k->name(len, j->a + o); END_                                              \
    double elbo_##name ELBO_KC_SUM_PARAMS                                                                    \
    {                                                                                                        \
        if (n < ELBO_OPS_PARALLEL_MIN)                                                                       \
            return elbo_k()->name(n, x);                                                                     \
        const size_t group = (size_t)SUM_GROUP * ELBO_OPS_CHUNK;                                             \
        double partial[SUM_GROUP];                                                                           \
        double total = 0.0;                                                                                  \
        for (size_t g = 0; g < n; g += group) {                                                              \
            struct job j = job_of(n - g < group ? n - g : group, 1);                                         \
            j.a = x + g, j.partial = partial, j.step = ELBO_OPS_CHUNK;                                       \
            int ntasks = (int)((j.n + j.step - 1) / j.step);                                                 \
            elbo_parallel_for(ntasks, name##_task, &j);                                                      \
            for (int t = 0; t < ntasks; t++)                                                                 \
                total += partial[t];                                                                         \
        }                                                                                                    \
        return total;                                                                                        \
    }

/* ---- every kernel's wrapper ---- */
#define FRONT_(name, cls) FRONT_##cls(name)
ELBO_KERNELS(FRONT_)
