/* Private to models/objectives/: the checks and constant inputs the
 * objective files share. */
#ifndef ELBO_OBJECTIVES_INTERNAL_H
#define ELBO_OBJECTIVES_INTERNAL_H

#include "models/objectives/objectives.h"

#define OBJ_INTERNAL __attribute__((visibility("hidden")))

/* ELBO_ERR_INVALID "what: expected a finite weight >= 0, got w" unless w is one. */
OBJ_INTERNAL elbo_status obj_check_weight(const char *what, double w);
/* The batch's nodes are non-NULL 2-D-viewable (B,D) of one shape (logvar may be
 * NULL when allowed), and the tape has not failed. */
OBJ_INTERNAL elbo_status obj_check_batch(elbo_tape *t, const char *what, elbo_node *a, elbo_node *b, elbo_node *c);
/* A constant input of shape (ndim, dims) filled with v, in the tape's arena. */
OBJ_INTERNAL elbo_node *obj_const(elbo_tape *t, int ndim, const int *dims, float v);
/* The tape's status after building: its first error, or ELBO_OK. */
OBJ_INTERNAL elbo_status obj_built(elbo_tape *t, const char *what, elbo_node *result);

#endif
