/* The driver-side MPI layer (experiments/common/comm.h), run under
 * `mpirun -np P` (tests/mpi/run_mpi.sh runs it for P = 2 and 3).
 *
 * Criterion forks a process per test and MPI allows one MPI_Init per
 * process, so this is a plain program: every check runs on every rank, a
 * failed check prints "rank R: FAIL ..." and the exit code is the count of
 * failures; rank 0 closes with "N passed, N failed" over all ranks. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

static int rank, size, passed, failed;
static int shared; /* the allreduce tests run twice: by messages (0), through shared memory (1) */

#define CHECK(cond, ...)                                                                                            \
    do {                                                                                                           \
        if (cond) {                                                                                                \
            passed++;                                                                                              \
        } else {                                                                                                   \
            failed++;                                                                                              \
            printf("rank %d (%s): FAIL %s:%d: ", rank, shared ? "shared" : "messages", __FILE__, __LINE__);                                             \
            printf(__VA_ARGS__);                                                                                   \
            printf("\n");                                                                                          \
        }                                                                                                          \
    } while (0)

/* Rank r's gradient: values over many binades, so the order of a sum shows. */
static void fill(float *x, size_t n, int r, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + (uint64_t)r * 0xbf58476d1ce4e5b9ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 30, s *= 0xbf58476d1ce4e5b9ull, s ^= s >> 27, s *= 0x94d049bb133111ebull, s ^= s >> 31;
        double u = (double)(s >> 11) / 9007199254740992.0;
        x[i] = (float)((u - 0.5) * ldexp(1.0, (int)(s % 24) - 12));
    }
}

/* Every rank's slab, and their serial ordered sum, computed here. */
static void reference(float *out, size_t n, uint64_t seed)
{
    float **all = malloc((size_t)size * sizeof *all);
    for (int r = 0; r < size; r++) {
        all[r] = malloc(n * sizeof(float));
        fill(all[r], n, r, seed);
    }
    elbo_sum_ordered_f32(out, (const float *const *)all, size, n);
    for (int r = 0; r < size; r++)
        free(all[r]);
    free(all);
}

/* An allreduce over `own` (by messages) or over the shared window's slab,
 * which *slab gets (`own` otherwise). The tests' ranks share one machine. */
static elbo_status open_sum(elbo_comm *c, float *own, float **slab, size_t n, int nb, const size_t *starts,
                            elbo_allreduce **a)
{
    *slab = own;
    if (!shared)
        return elbo_allreduce_new(c, own, n, nb, starts, a);
    elbo_status st = elbo_allreduce_new_shared(c, n, nb, starts, a, slab);
    if (st == ELBO_OK && !*a)
        return elbo_fail(ELBO_ERR_INVALID, "the ranks do not share a node");
    return st;
}

/* One distributed sum of this rank's slab with the given layout, into x;
 * buckets started last to first with a progress call after each (as a
 * backward pass would). */
static elbo_status reduce_once(elbo_comm *c, float *x, size_t n, int nb, const size_t *starts, uint64_t seed)
{
    elbo_allreduce *a;
    float *slab;
    elbo_status st = open_sum(c, x, &slab, n, nb, starts, &a);
    if (st != ELBO_OK)
        return st;
    fill(slab, n, rank, seed);
    for (int b = nb - 1; b >= 0 && st == ELBO_OK; b--) {
        st = elbo_allreduce_start(a, b);
        if (st == ELBO_OK)
            st = elbo_allreduce_progress(a);
    }
    if (st == ELBO_OK)
        st = elbo_allreduce_wait(a);
    if (slab != x)
        memcpy(x, slab, n * sizeof(float));
    elbo_allreduce_free(a);
    return st;
}

static void test_ordered_sum(elbo_comm *c)
{
    const size_t n = 10007; /* not a multiple of any bucket or rank count */
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    reference(ref, n, 42);
    /* Equal buckets, and an uneven layout with an empty bucket and buckets smaller than the rank count. */
    size_t uneven[] = {0, 1, 1, 2, 3000, 3001, n};
    struct {
        int nb;
        const size_t *starts;
    } layouts[] = {{1, NULL}, {4, NULL}, {8, NULL}, {6, uneven}};
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        CHECK(reduce_once(c, x, n, layouts[l].nb, layouts[l].starts, 42) == ELBO_OK, "layout %zu: %s", l,
              elbo_last_error());
        CHECK(!memcmp(x, ref, n * sizeof(float)), "layout %zu: the sum equals the serial ordered sum bit for bit",
              l);
        CHECK(reduce_once(c, y, n, layouts[l].nb, layouts[l].starts, 42) == ELBO_OK, "layout %zu repeat", l);
        CHECK(!memcmp(x, y, n * sizeof(float)), "layout %zu: a repeated sum is bit-identical", l);
    }
    /* The data tell orders apart: summing the ranks last to first differs somewhere (3+ ranks). */
    if (size >= 3) {
        float **all = malloc((size_t)size * sizeof *all);
        for (int r = 0; r < size; r++)
            all[r] = malloc(n * sizeof(float));
        for (int r = 0; r < size; r++)
            fill(all[size - 1 - r], n, r, 42);
        elbo_sum_ordered_f32(y, (const float *const *)all, size, n);
        CHECK(memcmp(y, ref, n * sizeof(float)) != 0, "the test data are sensitive to the order of the sum");
        for (int r = 0; r < size; r++)
            free(all[r]);
        free(all);
    }
    free(x), free(y), free(ref);
}

/* A slab reused round after round (the trainer's case): every round's sum is right. */
static void test_rounds(elbo_comm *c)
{
    const size_t n = 70001; /* shared memory: buckets of several pieces (16384 floats each) */
    float *own = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)), *x;
    elbo_allreduce *a;
    CHECK(open_sum(c, own, &x, n, 3, NULL, &a) == ELBO_OK, "new: %s", elbo_last_error());
    CHECK(elbo_allreduce_buckets(a) == 3, "three buckets");
    for (uint64_t round = 1; round <= 3; round++) {
        fill(x, n, rank, round);
        reference(ref, n, round);
        for (int b = 0; b < 3; b++)
            elbo_allreduce_start(a, b);
        CHECK(elbo_allreduce_wait(a) == ELBO_OK, "round %d: %s", (int)round, elbo_last_error());
        CHECK(!memcmp(x, ref, n * sizeof(float)), "round %d: the ordered sum", (int)round);
    }
    elbo_allreduce_free(a);
    free(own), free(ref);
}

static void test_bad_use(elbo_comm *c)
{
    float x[8] = {0}, *slab;
    elbo_allreduce *a = NULL;
    size_t falling[] = {0, 5, 3, 8};
    CHECK(open_sum(c, x, &slab, 8, 3, falling, &a) == ELBO_ERR_INVALID && !a, "falling starts are refused");
    size_t short_end[] = {0, 4, 7};
    CHECK(open_sum(c, x, &slab, 8, 2, short_end, &a) == ELBO_ERR_INVALID, "starts must end at n");
    CHECK(open_sum(c, x, &slab, 8, 0, NULL, &a) == ELBO_ERR_INVALID, "zero buckets are refused");
    CHECK(open_sum(c, x, &slab, 8, 2, NULL, &a) == ELBO_OK, "two buckets");
    CHECK(elbo_allreduce_start(a, 2) == ELBO_ERR_INVALID, "a bucket out of range is refused");
    CHECK(elbo_allreduce_start(a, 0) == ELBO_OK, "start bucket 0");
    CHECK(elbo_allreduce_start(a, 0) == ELBO_ERR_INVALID, "a bucket started twice is refused");
    CHECK(elbo_allreduce_wait(a) == ELBO_ERR_INVALID && strstr(elbo_last_error(), "bucket 1"),
          "waiting with a bucket not started names it: %s", elbo_last_error());
    CHECK(elbo_allreduce_start(a, 1) == ELBO_OK && elbo_allreduce_wait(a) == ELBO_OK, "the round completes");
    elbo_allreduce_free(a);
}

static void test_agree(elbo_comm *c)
{
    CHECK(elbo_comm_agree(c, "the configuration", "--lr 1e-3\n--batch 128\n") == ELBO_OK, "equal texts agree");
    if (size < 2)
        return; /* a mismatch needs a second rank */
    /* The last rank changes its second line. */
    const char *mine = rank == size - 1 ? "--lr 1e-3\n--batch 64\n" : "--lr 1e-3\n--batch 128\n";
    elbo_status st = elbo_comm_agree(c, "the configuration", mine);
    char want[160];
    snprintf(want, sizeof want, "rank %d disagrees on the configuration: '--batch 64' where rank 0 has '--batch 128'",
             size - 1);
    CHECK(st == ELBO_ERR_MISMATCH, "a differing line is a mismatch on every rank");
    CHECK(!strcmp(elbo_last_error(), want), "the message names the rank and the line: '%s'", elbo_last_error());
    /* Two ranks differ: the lowest one is named; a missing line reads "(nothing)". */
    mine = rank >= 1 ? "--lr 1e-3\n" : "--lr 1e-3\n--batch 128\n";
    st = elbo_comm_agree(c, "the configuration", mine);
    CHECK(st == ELBO_ERR_MISMATCH && strstr(elbo_last_error(), "rank 1 disagrees") &&
              strstr(elbo_last_error(), "'(nothing)' where rank 0 has '--batch 128'"),
          "the lowest differing rank, a missing line: '%s'", elbo_last_error());
}

static void test_checksum(elbo_comm *c)
{
    float z[2] = {0.0f, -0.0f}, p[2] = {0.0f, 0.0f};
    CHECK(elbo_checksum_f32(z, 0) == 0xcbf29ce484222325ull, "the empty checksum is FNV-1a's offset basis");
    CHECK(elbo_checksum_f32(z, 2) != elbo_checksum_f32(p, 2), "-0.0 and 0.0 differ");
    enum { N = 1000 };
    float w[N];
    fill(w, N, 0, 7); /* the same parameters everywhere */
    CHECK(elbo_comm_check_params(c, "the parameters", w, N) == ELBO_OK, "equal parameters agree");
    if (size < 2)
        return;
    if (rank == size - 1) {
        uint32_t bits;
        memcpy(&bits, &w[N / 2], 4);
        bits ^= 1; /* one ulp */
        memcpy(&w[N / 2], &bits, 4);
    }
    elbo_status st = elbo_comm_check_params(c, "the parameters", w, N);
    char want[64];
    snprintf(want, sizeof want, "rank %d disagrees on the parameters: checksum ", size - 1);
    CHECK(st == ELBO_ERR_MISMATCH && !strncmp(elbo_last_error(), want, strlen(want)),
          "one flipped bit on the last rank is named: '%s'", elbo_last_error());
}

int main(int argc, char **argv)
{
    elbo_comm *c;
    if (elbo_comm_init(&argc, &argv, &c) != ELBO_OK) {
        fprintf(stderr, "test_comm: %s\n", elbo_last_error());
        return 1;
    }
    rank = elbo_comm_rank(c), size = elbo_comm_size(c);
    for (shared = 0; shared <= 1; shared++) {
        test_ordered_sum(c);
        test_rounds(c);
        test_bad_use(c);
    }
    shared = 0;
    test_agree(c);
    test_checksum(c);
    int counts[2] = {passed, failed}, total[2];
    MPI_Reduce(counts, total, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_comm on %d ranks: %d passed, %d failed\n", size, total[0], total[1]);
    elbo_comm_finalize(c, 0);
    return failed ? 1 : 0;
}
