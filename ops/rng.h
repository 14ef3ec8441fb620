/* Seedable random numbers: xoshiro256** seeded through splitmix64.
 *
 * One elbo_rng is one reproducible stream; elbo_rng_jump() advances it by
 * 2^128 draws to give an independent stream (one per worker or per purpose).
 * Draws are pure integer arithmetic plus fixed-order float math, so the same
 * seed gives the same numbers at every SIMD level and thread count. */
#ifndef ELBO_RNG_H
#define ELBO_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct elbo_rng {
    uint64_t s[4];
} elbo_rng;

void elbo_rng_seed(elbo_rng *r, uint64_t seed);
void elbo_rng_jump(elbo_rng *r);
uint64_t elbo_rng_u64(elbo_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double elbo_rng_uniform(elbo_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t elbo_rng_below(elbo_rng *r, uint64_t n);
/* Standard normal (polar Box-Muller pair, one value returned per call). */
double elbo_rng_normal(elbo_rng *r);

/* Fill x (n) with uniforms in [0, 1) (24 random bits each). */
void elbo_rng_uniform_f32(elbo_rng *r, float *x, size_t n);
/* Fill x (n) with standard normals. */
void elbo_rng_normal_f32(elbo_rng *r, float *x, size_t n);
/* Uniformly random permutation of idx (n), Fisher-Yates. */
void elbo_rng_shuffle(elbo_rng *r, uint32_t *idx, size_t n);

#endif
