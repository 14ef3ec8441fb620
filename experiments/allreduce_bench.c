/* Gradient allreduce timings (docs/SCALING.md): the ordered bucketed sum of
 * experiments/common/comm.h, by messages and (ranks on one node) through
 * shared memory, against MPI_Allreduce, on one float slab.
 *
 *   mpirun -np 2 build/experiments/allreduce_bench --floats 652832 --buckets 1,4,8
 *
 * Built only with MPI. The methods take turns within each repetition (so a
 * noisy neighbour hits them alike); each sum starts after a barrier and its
 * time is the slowest rank's. Prints a median per method and writes it to
 * OUT/summary.json on rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "driver.h"
#include "progress.h"
#include "summary.h"

#define MAX_METHODS 9

static int floats, reps;
static const char *buckets_text;

static const elbo_opt opts[] = {
    {"floats", ELBO_OPT_INT, &floats, "652832", "slab length (784-400-20 VAE: 652832 parameters)", .min = 1,
     .max = 1 << 28},
    {"reps", ELBO_OPT_INT, &reps, "200", "repetitions of each method", .min = 1, .max = 100000},
    {"buckets", ELBO_OPT_STRING, &buckets_text, "1,4,8", "bucket counts of the ordered sum", .choices = NULL},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One timed sum (method 0: MPI_Allreduce, else the ordered sum with its buckets). */
static double time_one(elbo_allreduce *a, float *x, const float *src, size_t n)
{
    memcpy(x, src, n * sizeof(float));
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (!a) {
        MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    } else {
        for (int b = elbo_allreduce_buckets(a) - 1; b >= 0; b--)
            elbo_allreduce_start(a, b);
        elbo_allreduce_wait(a);
    }
    double t = MPI_Wtime() - t0, slowest;
    MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return slowest;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "allreduce_bench", "Time the ordered bucketed allreduce against MPI_Allreduce.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    double nb_list[(MAX_METHODS - 1) / 2];
    int nl = drv_list(&cli, "buckets", buckets_text, nb_list, (MAX_METHODS - 1) / 2), nm = 1 + 2 * nl;
    elbo_comm *c;
    drv_check(&cli, elbo_comm_init(&argc, &argv, &c), "MPI");
    int rank = elbo_comm_rank(c), size = elbo_comm_size(c);
    size_t n = (size_t)floats;
    float *x = drv_alloc(&cli, n, sizeof(float)), *src = drv_alloc(&cli, n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        src[i] = (float)((i * 2654435761u + (size_t)rank) % 1000) * 1e-3f;
    /* methods: MPI_Allreduce; then per bucket count the ordered sum by
     * messages, and through shared memory when the ranks share a node */
    elbo_allreduce *ar[MAX_METHODS] = {NULL};
    float *slab[MAX_METHODS];
    char name[MAX_METHODS][64];
    snprintf(name[0], sizeof name[0], "mpi_allreduce_ms");
    slab[0] = x;
    for (int l = 0, m = 1; l < nl; l++, m += 2) {
        drv_check(&cli, elbo_allreduce_new(c, x, n, (int)nb_list[l], NULL, &ar[m]), "allreduce");
        slab[m] = x;
        snprintf(name[m], sizeof name[m], "ordered_%d_buckets_ms", (int)nb_list[l]);
        drv_check(&cli, elbo_allreduce_new_shared(c, n, (int)nb_list[l], NULL, &ar[m + 1], &slab[m + 1]),
                  "allreduce (shared)");
        snprintf(name[m + 1], sizeof name[m + 1], "shared_%d_buckets_ms", (int)nb_list[l]);
    }
    double *t = drv_alloc(&cli, (size_t)nm * (size_t)reps, sizeof(double));
    for (int m = 0; m < nm; m++) /* warm-up: connections, page faults */
        if (m == 0 || ar[m])
            time_one(ar[m], slab[m], src, n);
    for (int r = 0; r < reps; r++)
        for (int m = 0; m < nm; m++)
            if (m == 0 || ar[m])
                t[(size_t)m * (size_t)reps + (size_t)r] = time_one(ar[m], slab[m], src, n);
    if (rank == 0) {
        elbo_summary sum;
        elbo_summary_begin(&sum, &cli);
        elbo_json_int(&sum.json, "ranks", size);
        printf("%d ranks, %zu floats (%.2f MB), median of %d:\n", size, n, n * 4.0 / 1e6, reps);
        for (int m = 0; m < nm; m++) {
            if (m > 0 && !ar[m])
                continue; /* shared memory across nodes */
            double *tm = t + (size_t)m * (size_t)reps;
            qsort(tm, (size_t)reps, sizeof(double), cmp_double);
            double med = tm[reps / 2];
            printf("  %-26s %8.3f ms   (%.2f GB/s of slab)\n", name[m], med * 1e3, n * 4.0 / med / 1e9);
            elbo_json_number(&sum.json, name[m], med * 1e3);
        }
        drv_check(&cli, elbo_summary_write(&sum, cli.out), "summary.json");
    }
    for (int m = 1; m < nm; m++)
        elbo_allreduce_free(ar[m]);
    free(x), free(src), free(t);
    elbo_comm_finalize(c, 0);
    return 0;
}
