/* The thread pool (see ops/pool.h).
 *
 * One job at a time: the caller publishes (fn, ctx, ntasks) under the mutex
 * and bumps a generation counter, then takes tasks itself. Workers spin a
 * short while on the generation counter, then sleep on a condition variable.
 * Tasks are handed out by an atomic counter; a worker joins a job under the
 * mutex, so the caller's join is "no worker is still inside the job", which it
 * waits for by a short spin and then on a condition variable.
 *
 * One thread, a single task, a nested call from inside a task, or a second
 * caller while the pool is busy: the loop runs inline on the calling thread.
 * Task boundaries are the caller's and never depend on the thread count. */
#include "ops/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define MAX_THREADS 64
// ~20-50 us of polling before sleeping: long enough to catch back-to-back
// loops (a training step issues them every few us), short enough not to steal
// a shared core for long.
#define SPIN_ITERS 4000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers sleep here for a new job */
    pthread_cond_t done_cv; /* the caller sleeps here for the last worker to leave */
    pthread_mutex_t submit; /* one caller at a time; others run inline */
    pthread_t tid[MAX_THREADS];
    int nworkers;           /* running workers (threads - 1) */
    bool stop;
    int nsleeping;          /* workers waiting on work_cv */
    bool caller_waiting;    /* the caller waits on done_cv */
    /* the current job */
    elbo_task_fn fn;
    void *ctx;
    int ntasks;
    bool open;              /* workers may still join */
    atomic_int active;      /* workers inside the job (changed under mu) */
    atomic_int next;        /* next task index to hand out */
    atomic_uint gen;        /* bumped for each job */
} P = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work_cv = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .submit = PTHREAD_MUTEX_INITIALIZER,
};

static atomic_int thread_count; /* 0: not set yet, read ELBO_THREADS on first use */
static _Thread_local bool in_task;

static void run_tasks(elbo_task_fn fn, void *ctx, int ntasks)
{
    int t;
    while ((t = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed)) < ntasks)
        fn(ctx, t);
}

static void *worker_main(void *arg)
{
    (void)arg;
    in_task = true; /* anything a task calls runs inline */
    unsigned seen = atomic_load_explicit(&P.gen, memory_order_acquire);
    for (;;) {
        for (int i = 0; i < SPIN_ITERS && atomic_load_explicit(&P.gen, memory_order_acquire) == seen; i++)
            cpu_relax();
        pthread_mutex_lock(&P.mu);
        while (!P.stop && !(P.open && atomic_load_explicit(&P.gen, memory_order_relaxed) != seen)) {
            /* a job we missed (already closed) counts as seen */
            seen = atomic_load_explicit(&P.gen, memory_order_relaxed);
            P.nsleeping++;
            pthread_cond_wait(&P.work_cv, &P.mu);
            P.nsleeping--;
        }
        if (P.stop) {
            pthread_mutex_unlock(&P.mu);
            return NULL;
        }
        seen = atomic_load_explicit(&P.gen, memory_order_relaxed);
        elbo_task_fn fn = P.fn;
        void *ctx = P.ctx;
        int ntasks = P.ntasks;
        atomic_fetch_add_explicit(&P.active, 1, memory_order_relaxed);
        pthread_mutex_unlock(&P.mu);

        run_tasks(fn, ctx, ntasks);

        pthread_mutex_lock(&P.mu);
        if (atomic_fetch_sub_explicit(&P.active, 1, memory_order_release) == 1 && P.caller_waiting)
            pthread_cond_signal(&P.done_cv);
        pthread_mutex_unlock(&P.mu);
    }
}

static void pool_stop(void)
{
    pthread_mutex_lock(&P.mu);
    P.stop = true;
    pthread_cond_broadcast(&P.work_cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < P.nworkers; i++)
        pthread_join(P.tid[i], NULL);
    P.nworkers = 0;
    P.stop = false;
}

/* Start workers up to threads - 1; returns false if none could start. */
static bool pool_start(int threads)
{
    while (P.nworkers < threads - 1) {
        if (pthread_create(&P.tid[P.nworkers], NULL, worker_main, NULL) != 0)
            break;
        P.nworkers++;
    }
    return P.nworkers > 0;
}

int elbo_threads(void)
{
    int n = atomic_load_explicit(&thread_count, memory_order_relaxed);
    if (n == 0) { /* racing first calls compute the same value */
        n = 1;
        const char *env = getenv("ELBO_THREADS");
        if (env && *env) {
            char *end;
            long v = strtol(env, &end, 10);
            if (!*end && v >= 1 && v <= MAX_THREADS)
                n = (int)v; /* a bad value is reported by elbo_runtime_init() */
        }
        atomic_store_explicit(&thread_count, n, memory_order_relaxed);
    }
    return n;
}

elbo_status elbo_set_threads(int n)
{
    if (n < 1 || n > MAX_THREADS)
        return elbo_fail(ELBO_ERR_INVALID, "pool.c: thread count: expected 1..%d, got %d", MAX_THREADS, n);
    if (in_task)
        return elbo_fail(ELBO_ERR_INVALID, "pool.c: elbo_set_threads: expected a call outside parallel loops, got "
                                           "one from inside a task");
    pthread_mutex_lock(&P.submit);
    if (P.nworkers > n - 1)
        pool_stop();
    atomic_store_explicit(&thread_count, n, memory_order_relaxed);
    bool ok = n == 1 || pool_start(n);
    pthread_mutex_unlock(&P.submit);
    if (!ok)
        return elbo_fail(ELBO_ERR_NOMEM, "pool.c: pthread_create: expected %d workers, got 0", n - 1);
    return ELBO_OK;
}

void elbo_pool_shutdown(void)
{
    if (in_task) /* a worker cannot join itself */
        return;
    pthread_mutex_lock(&P.submit);
    pool_stop();
    pthread_mutex_unlock(&P.submit);
}

bool elbo_in_task(void) { return in_task; }

void elbo_parallel_for(int ntasks, elbo_task_fn fn, void *ctx)
{
    if (ntasks <= 0)
        return;
    if (ntasks == 1 || elbo_threads() == 1 || in_task || pthread_mutex_trylock(&P.submit) != 0) {
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t);
        return;
    }
    int threads = atomic_load_explicit(&thread_count, memory_order_relaxed);
    if (P.nworkers < threads - 1 && !pool_start(threads)) {
        pthread_mutex_unlock(&P.submit);
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t);
        return;
    }

    pthread_mutex_lock(&P.mu);
    P.fn = fn;
    P.ctx = ctx;
    P.ntasks = ntasks;
    atomic_store_explicit(&P.next, 0, memory_order_relaxed);
    P.open = true;
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    int wake = P.nsleeping < ntasks - 1 ? P.nsleeping : ntasks - 1;
    for (int i = 0; i < wake; i++)
        pthread_cond_signal(&P.work_cv);
    pthread_mutex_unlock(&P.mu);

    in_task = true;
    run_tasks(fn, ctx, ntasks);
    in_task = false;

    /* join: a short spin for the workers to leave, then sleep on done_cv */
    for (int i = 0; i < SPIN_ITERS && atomic_load_explicit(&P.active, memory_order_acquire) > 0; i++)
        cpu_relax();
    pthread_mutex_lock(&P.mu);
    P.open = false; /* under mu: no worker joins after this */
    P.caller_waiting = true;
    while (atomic_load_explicit(&P.active, memory_order_acquire) > 0)
        pthread_cond_wait(&P.done_cv, &P.mu);
    P.caller_waiting = false;
    pthread_mutex_unlock(&P.mu);
    pthread_mutex_unlock(&P.submit);
}
