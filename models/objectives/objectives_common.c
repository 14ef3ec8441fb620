/* Shared checks and constant inputs of the objectives. */
#include "models/objectives/objectives_internal.h"

#include <math.h>

elbo_status obj_check_weight(const char *what, double w)
{
    if (!isfinite(w) || w < 0.0)
        return elbo_fail(ELBO_ERR_INVALID, "%s: expected a finite weight >= 0, got %g", what, w);
    return ELBO_OK;
}

elbo_status obj_check_batch(elbo_tape *t, const char *what, elbo_node *a, elbo_node *b, elbo_node *c)
{
    if (!t)
        return elbo_fail(ELBO_ERR_INVALID, "%s: expected a tape, got NULL", what);
    if (elbo_tape_status(t) != ELBO_OK)
        return elbo_tape_status(t);
    if (!a)
        return elbo_fail(ELBO_ERR_INVALID, "%s: expected the batch's nodes, got NULL", what);
    elbo_node *other[] = {b, c};
    for (int i = 0; i < 2; i++)
        if (other[i] && (other[i]->rows != a->rows || other[i]->cols != a->cols))
            return elbo_fail(ELBO_ERR_INVALID, "%s: expected mu, logvar and z of one shape (%d,%d), got (%d,%d)",
                             what, a->rows, a->cols, other[i]->rows, other[i]->cols);
    return ELBO_OK;
}

elbo_node *obj_const(elbo_tape *t, int ndim, const int *dims, float v)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    float *x = elbo_tape_alloc(t, n);
    if (!x)
        return NULL;
    for (size_t i = 0; i < n; i++)
        x[i] = v;
    return elbo_ad_input_nd(t, ndim, dims, x);
}

elbo_status obj_built(elbo_tape *t, const char *what, elbo_node *result)
{
    if (elbo_tape_status(t) != ELBO_OK)
        return elbo_tape_status(t);
    if (!result)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory building the penalty", what);
    return ELBO_OK;
}
