/* Synthetic codes with known disentanglement, shared by the metric tests:
 * a full grid of four factors (sizes 5, 5, 4, 6; 600 points in row-major
 * order) and codes built from the class indices v:
 *   SYN_PERFECT  z_k = v_k                                  one code per factor
 *   SYN_ROTATED  z_0 = v_0 + v_1, z_1 = v_0 - v_1 (a 45-degree rotation,
 *                scaled), z_2 = v_2, z_3 = v_3              factors 0 and 1 entangled
 *   SYN_DEAD     z_0 = 0, z_k = v_k otherwise               factor 0 lost in a dead unit
 *   SYN_EXTRA    z_k = v_k, plus z_4 = 0                    a dead unit besides a perfect code
 * The values are small integers, so every metric's arithmetic on them is
 * exact up to the last step, and ties fall as symmetry says. */
#ifndef ELBO_TEST_SYNTHETIC_H
#define ELBO_TEST_SYNTHETIC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/metrics/metrics.h"

#define SYN_FACTORS 4
#define SYN_N (5 * 5 * 4 * 6)

typedef enum syn_kind { SYN_PERFECT, SYN_ROTATED, SYN_DEAD, SYN_EXTRA } syn_kind;

static const int32_t syn_sizes[SYN_FACTORS] = {5, 5, 4, 6};

typedef struct syn {
    int32_t classes[SYN_N * SYN_FACTORS];
    double mean[SYN_N * 5], logvar[SYN_N * 5];
    elbo_codes codes;
    elbo_factors factors;
} syn;

/* logvar: the encoder's log-variance of every code (Chen's MIG). */
static inline void syn_build(syn *s, syn_kind kind, double logvar)
{
    int d = kind == SYN_EXTRA ? 5 : 4;
    for (int i = 0; i < SYN_N; i++) {
        int32_t *v = s->classes + i * SYN_FACTORS;
        int rest = i;
        for (int k = SYN_FACTORS - 1; k >= 0; k--) { /* the last factor fastest */
            v[k] = rest % syn_sizes[k];
            rest /= syn_sizes[k];
        }
        double *z = s->mean + i * d;
        for (int k = 0; k < SYN_FACTORS; k++)
            z[k] = v[k];
        if (kind == SYN_ROTATED)
            z[0] = v[0] + v[1], z[1] = v[0] - v[1];
        if (kind == SYN_DEAD)
            z[0] = 0;
        if (kind == SYN_EXTRA)
            z[4] = 0;
        for (int j = 0; j < d; j++)
            s->logvar[i * d + j] = logvar;
    }
    s->codes = (elbo_codes){.n = SYN_N, .dim = d, .mean = s->mean, .logvar = s->logvar};
    s->factors = (elbo_factors){.n = SYN_N, .count = SYN_FACTORS, .classes = s->classes, .sizes = syn_sizes};
}

#endif
