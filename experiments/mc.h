/* Monte Carlo plumbing shared by the drivers (header-only, static inline).
 *
 * Determinism across --threads: work is cut into blocks (or repetitions) whose
 * boundaries depend only on the sample count, every block draws from its own
 * RNG stream derived from (seed, stream, block), and block results are combined
 * in block order. So a driver prints the same digits for 1 and 64 threads. */
#ifndef ELBO_EXPERIMENTS_MC_H
#define ELBO_EXPERIMENTS_MC_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/pool.h"
#include "ops/rng.h"

/* Samples per block: large enough to amortize a task, small enough that 10^6
 * samples still spread over several threads. */
#define MC_BLOCK 65536u
/* Samples handed to a block function per call (fits a stack buffer). */
#define MC_CHUNK 1024u

static inline uint64_t mc_mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* An independent stream per (seed, purpose, index): hashing instead of
 * elbo_rng_jump() keeps the cost per block constant. */
static inline void mc_rng(elbo_rng *r, uint64_t seed, uint64_t stream, uint64_t index)
{
    elbo_rng_seed(r, mc_mix(seed ^ mc_mix(stream * 0x100000001B3ull ^ mc_mix(index))));
}

/* Add the k statistics of `count` (<= MC_CHUNK) fresh samples into acc[0..k). */
typedef void (*mc_fn)(void *ctx, elbo_rng *r, unsigned count, double *acc);

struct mc_sums_job {
    uint64_t seed, stream, n;
    int k;
    mc_fn fn;
    void *ctx;
    double *part; /* (nblocks, k) */
};

static inline void mc_sums_task(void *p, int b)
{
    struct mc_sums_job *j = p;
    elbo_rng r;
    mc_rng(&r, j->seed, j->stream, (uint64_t)b);
    uint64_t lo = (uint64_t)b * MC_BLOCK, hi = lo + MC_BLOCK < j->n ? lo + MC_BLOCK : j->n;
    double *acc = j->part + (size_t)b * (size_t)j->k;
    for (uint64_t i = lo; i < hi; i += MC_CHUNK) {
        unsigned c = (unsigned)(hi - i < MC_CHUNK ? hi - i : MC_CHUNK);
        j->fn(j->ctx, &r, c, acc);
    }
}

/* sums[0..k) = statistics summed over n samples. Returns 0, or -1 when out of memory. */
static inline int mc_sums(uint64_t seed, uint64_t stream, uint64_t n, int k, mc_fn fn, void *ctx,
                          double *sums)
{
    uint64_t nb = (n + MC_BLOCK - 1) / MC_BLOCK;
    struct mc_sums_job j = {seed, stream, n, k, fn, ctx, calloc(nb ? nb * (size_t)k : 1, sizeof(double))};
    if (!j.part)
        return -1;
    elbo_parallel_for((int)nb, mc_sums_task, &j);
    for (int s = 0; s < k; s++)
        sums[s] = 0.0;
    for (uint64_t b = 0; b < nb; b++)
        for (int s = 0; s < k; s++)
            sums[s] += j.part[b * (size_t)k + (size_t)s];
    free(j.part);
    return 0;
}

/* One repeated estimate from its own stream. */
typedef double (*mc_rep_fn)(void *ctx, elbo_rng *r, int rep);

struct mc_reps_job {
    uint64_t seed, stream;
    int reps;
    mc_rep_fn fn;
    void *ctx;
    double *est;
};

#define MC_REPS_PER_TASK 64

static inline void mc_reps_task(void *p, int t)
{
    struct mc_reps_job *j = p;
    int lo = t * MC_REPS_PER_TASK, hi = lo + MC_REPS_PER_TASK < j->reps ? lo + MC_REPS_PER_TASK : j->reps;
    for (int i = lo; i < hi; i++) {
        elbo_rng r;
        mc_rng(&r, j->seed, j->stream, (uint64_t)i);
        j->est[i] = j->fn(j->ctx, &r, i);
    }
}

/* est[0..reps) = independent repeated estimates. */
static inline void mc_reps(uint64_t seed, uint64_t stream, int reps, mc_rep_fn fn, void *ctx, double *est)
{
    struct mc_reps_job j = {seed, stream, reps, fn, ctx, est};
    elbo_parallel_for((reps + MC_REPS_PER_TASK - 1) / MC_REPS_PER_TASK, mc_reps_task, &j);
}

/* Mean and unbiased variance of x (n), two-pass in a fixed order. */
static inline void mc_mean_var(const double *x, int n, double *mean, double *var)
{
    double m = 0.0, v = 0.0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n > 0 ? n : 1;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = n > 1 ? v / (n - 1) : 0.0;
}

/* Fill x (n <= MC_CHUNK) with standard normals in double (from the float fill,
 * whose 24-bit rounding is far below any Monte Carlo error here). */
static inline void mc_normals(elbo_rng *r, double *x, unsigned n)
{
    float f[MC_CHUNK];
    elbo_rng_normal_f32(r, f, n);
    for (unsigned i = 0; i < n; i++)
        x[i] = f[i];
}

#endif
