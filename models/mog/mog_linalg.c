/* Small dense linear algebra for the per-component covariances: d is tens,
 * and this runs k times per iteration, so plain loops are enough. */
#include <math.h>

#include "models/mog/mog_internal.h"

size_t mog_cholesky(double *a, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        double s = a[j * d + j];
        for (size_t m = 0; m < j; m++)
            s -= a[j * d + m] * a[j * d + m];
        if (!(s > 0.0)) /* also catches NaN */
            return j + 1;
        double ljj = sqrt(s);
        a[j * d + j] = ljj;
        for (size_t i = j + 1; i < d; i++) {
            double t = a[i * d + j];
            for (size_t m = 0; m < j; m++)
                t -= a[i * d + m] * a[j * d + m];
            a[i * d + j] = t / ljj;
        }
        for (size_t l = j + 1; l < d; l++)
            a[j * d + l] = 0.0;
    }
    return 0;
}

void mog_tri_inverse(const double *l, double *u, size_t d)
{
    for (size_t i = 0; i < d * d; i++)
        u[i] = 0.0;
    /* forward substitution, column by column: L u_col = e_col */
    for (size_t c = 0; c < d; c++) {
        u[c * d + c] = 1.0 / l[c * d + c];
        for (size_t j = c + 1; j < d; j++) {
            double s = 0.0;
            for (size_t m = c; m < j; m++)
                s += l[j * d + m] * u[m * d + c];
            u[j * d + c] = -s / l[j * d + j];
        }
    }
}
