#include "rng.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void elbo_rng_seed(elbo_rng *r, uint64_t seed)
{
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) { /* splitmix64: never leaves an all-zero state */
        z += 0x9E3779B97F4A7C15ull;
        uint64_t t = z;
        t = (t ^ (t >> 30)) * 0xBF58476D1CE4E5B9ull;
        t = (t ^ (t >> 27)) * 0x94D049BB133111EBull;
        r->s[i] = t ^ (t >> 31);
    }
}

uint64_t elbo_rng_u64(elbo_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

void elbo_rng_jump(elbo_rng *r)
{
    static const uint64_t jump[] = {0x180ec6d33cfd0abaull, 0xd5a61266f0c9392cull,
                                    0xa9582618e03fc9aaull, 0x39abdc4529b1661cull};
    uint64_t t[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (jump[i] & (1ull << b))
                for (int k = 0; k < 4; k++)
                    t[k] ^= r->s[k];
            elbo_rng_u64(r);
        }
    for (int k = 0; k < 4; k++)
        r->s[k] = t[k];
}

double elbo_rng_uniform(elbo_rng *r) { return (double)(elbo_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t elbo_rng_below(elbo_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection of the biased low range. */
    uint64_t x = elbo_rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t threshold = -n % n;
        while (lo < threshold) {
            x = elbo_rng_u64(r);
            m = (__uint128_t)x * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Polar Box-Muller: two normals from one accepted point in the unit disc. */
static void normal_pair(elbo_rng *r, double *a, double *b)
{
    double u, v, s;
    do {
        u = 2.0 * elbo_rng_uniform(r) - 1.0;
        v = 2.0 * elbo_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    *a = u * f;
    *b = v * f;
}

double elbo_rng_normal(elbo_rng *r)
{
    double a, b;
    normal_pair(r, &a, &b);
    return a;
}

void elbo_rng_uniform_f32(elbo_rng *r, float *x, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2) { /* two 24-bit draws per 64-bit output */
        uint64_t u = elbo_rng_u64(r);
        x[i] = (float)(u >> 40) * 0x1.0p-24f;
        x[i + 1] = (float)((u >> 8) & 0xFFFFFFu) * 0x1.0p-24f;
    }
    if (i < n)
        x[i] = (float)(elbo_rng_u64(r) >> 40) * 0x1.0p-24f;
}

void elbo_rng_normal_f32(elbo_rng *r, float *x, size_t n)
{
    size_t i = 0;
    double a, b;
    for (; i + 1 < n; i += 2) {
        normal_pair(r, &a, &b);
        x[i] = (float)a;
        x[i + 1] = (float)b;
    }
    if (i < n) {
        normal_pair(r, &a, &b);
        x[i] = (float)a;
    }
}

void elbo_rng_shuffle(elbo_rng *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)elbo_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
