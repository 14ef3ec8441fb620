/* The thread pool: every task runs exactly once for many task counts and
 * thread counts; nested loops run inline; resizing; argument checks. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "ops/pool.h"

struct counts {
    int n;
    atomic_int *hits;
    atomic_int total;
};

static void count_task(void *ctx, int t)
{
    struct counts *c = ctx;
    cr_assert(t >= 0 && t < c->n);
    atomic_fetch_add(&c->hits[t], 1);
    atomic_fetch_add(&c->total, 1);
}

static void run_and_check(int ntasks)
{
    struct counts c = {.n = ntasks, .hits = calloc((size_t)(ntasks > 0 ? ntasks : 1), sizeof(atomic_int))};
    atomic_init(&c.total, 0);
    elbo_parallel_for(ntasks, count_task, &c);
    cr_assert_eq(atomic_load(&c.total), ntasks > 0 ? ntasks : 0);
    for (int t = 0; t < ntasks; t++)
        cr_assert_eq(atomic_load(&c.hits[t]), 1, "ntasks %d threads %d: task %d ran %d times", ntasks,
                     elbo_threads(), t, atomic_load(&c.hits[t]));
    free(c.hits);
}

Test(pool, every_task_exactly_once)
{
    static const int threads[] = {1, 2, 3, 4, 8, 2, 1};
    static const int ntasks[] = {0, 1, 2, 3, 5, 7, 8, 16, 17, 63, 64, 100, 1000, 4097};
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        cr_assert(elbo_set_threads(threads[i]) == ELBO_OK);
        cr_assert_eq(elbo_threads(), threads[i]);
        for (int rep = 0; rep < 20; rep++)
            for (size_t j = 0; j < sizeof ntasks / sizeof ntasks[0]; j++)
                run_and_check(ntasks[j]);
    }
    elbo_set_threads(1);
}

static void nested_task(void *ctx, int t)
{
    (void)t;
    cr_assert(elbo_in_task(), "a task's thread reports it is in a task");
    run_and_check(9); /* inside a task: runs inline, still exactly once each */
    cr_assert(elbo_in_task(), "still in the task after a nested loop");
    atomic_fetch_add((atomic_int *)ctx, 1);
}

Test(pool, nested_loops_run_inline)
{
    cr_assert(elbo_set_threads(2) == ELBO_OK);
    atomic_int done;
    atomic_init(&done, 0);
    cr_assert(!elbo_in_task());
    elbo_parallel_for(12, nested_task, &done);
    cr_assert(!elbo_in_task(), "the caller is out of the task once the loop returns");
    cr_assert_eq(atomic_load(&done), 12);
    elbo_set_threads(1);
}

Test(pool, shutdown_and_restart)
{
    cr_assert(elbo_set_threads(3) == ELBO_OK);
    run_and_check(50);
    elbo_pool_shutdown();
    run_and_check(50); /* restarts on next use */
    elbo_pool_shutdown();
    elbo_set_threads(1);
}

Test(pool, rejects_bad_counts)
{
    cr_assert_eq(elbo_set_threads(0), ELBO_ERR_INVALID);
    cr_assert_eq(elbo_set_threads(65), ELBO_ERR_INVALID);
    cr_assert(elbo_set_threads(1) == ELBO_OK);
}
