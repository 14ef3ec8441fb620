/* Serial stand-in for the thread pool until ops/gemm/pool.c lands. */
#include "ops/pool.h"

static int thread_count = 1;
void elbo_parallel_for(int ntasks, elbo_task_fn fn, void *ctx)
{
    for (int i = 0; i < ntasks; i++)
        fn(ctx, i);
}
int elbo_threads(void) { return thread_count; }
elbo_status elbo_set_threads(int n)
{
    if (n < 1 || n > 64)
        return elbo_fail(ELBO_ERR_INVALID, "thread count %d out of range 1..64", n);
    thread_count = n;
    return ELBO_OK;
}
void elbo_pool_shutdown(void) {}
