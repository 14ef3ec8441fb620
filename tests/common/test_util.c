#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)((splitmix64(&s) >> 40) * 0x1.0p-24);
}

double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol, size_t *worst)
{
    double max = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e;
        if (isnan(a[i]) || isnan(b[i]))
            e = (isnan(a[i]) && isnan(b[i])) ? 0.0 : INFINITY;
        else if (isinf(a[i]) || isinf(b[i]))
            e = (a[i] == b[i]) ? 0.0 : INFINITY;
        else
            e = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (e > max) {
            max = e;
            at = i;
        }
    }
    if (worst)
        *worst = at;
    return max;
}

char *tu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/elbo-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf))
        return NULL;
    return strdup(buf);
}
