/* The thread pool: a fixed set of persistent workers that run the tasks of
 * one parallel loop at a time.
 *
 * Callers keep every result bit-identical for 1 and N threads: either the
 * task boundaries do not depend on the thread count (kernels, E-steps), or,
 * as in GEMM, each output element gets the same arithmetic wherever the
 * split falls. With one thread the loop runs inline on the caller: no locks,
 * no pool traffic. */
#ifndef ELBO_POOL_H
#define ELBO_POOL_H

#include <stdbool.h>

#include "error.h"

/* One task of a parallel loop: fn(ctx, task) for task in [0, ntasks). */
typedef void (*elbo_task_fn)(void *ctx, int task);

/* Run fn(ctx, 0..ntasks-1) across the pool and return when all are done.
 * Tasks must be independent; the caller's thread takes part. */
void elbo_parallel_for(int ntasks, elbo_task_fn fn, void *ctx);

/* True on a thread that is running a task of a parallel loop: a loop started
 * there runs inline, so a kernel called from a task should take its
 * one-thread plan. */
bool elbo_in_task(void);

/* Threads used by parallel loops (default: ELBO_THREADS if set, else 1). */
int elbo_threads(void);

/* Set the thread count (1..64); starts or resizes the pool. */
elbo_status elbo_set_threads(int n);

/* Stop the workers (optional at exit; the pool restarts on next use). */
void elbo_pool_shutdown(void);

#endif
