/* Scalar helpers shared by the naive reference kernels (included by the
 * family sources in their reference build only). */
#ifndef ELBO_KERNELS_REF_MATH_H
#define ELBO_KERNELS_REF_MATH_H

#include <math.h>

/* sigmoid(x) = 1 / (1 + e^-x), written so that e^. never overflows */
static inline float ref_sigmoid1(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), stable for any |x| */
static inline float ref_softplus1(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

/* log(2 pi), the Gaussian normalizer */
#define REF_LOG_2PI 1.8378770664093454836

#endif
