/* The finite-difference gradient cases of the tape ops, shared by the
 * Criterion suite (tests/autodiff/test_grad_ops.c), the dependency-free SIMD
 * check of the cross builds (tests/reliability/neon_check.c) and the per-op
 * tape benchmarks (bench/autodiff/bench_tape_ops.cc). No Criterion here.
 *
 * A case builds one op (its `op`: the node it returns must be of that op)
 * over inputs whose shapes its rule derives from a test shape (R,C); inputs
 * marked grad are parameters whose gradients are checked, the others are
 * constant inputs. Method: the op's output y is projected to a scalar
 * L = sum R . y with a fixed random R (on the tape: sum(mul(y, R)), whose
 * backward hands the op exactly dy = R). Each parameter element w is moved to
 * w +- h in float, the forward re-run in no-grad mode, and L evaluated in
 * double from the float outputs:
 *     fd = (L(w+h) - L(w-h)) / ((w+h) - (w-h))      (the stored floats' step)
 * Outputs the perturbation does not touch are bitwise unchanged, so float
 * rounding enters only through the touched outputs: noise ~ ulp(y)/h.
 * Pass: |fd - ad| <= atol + rtol |fd| (defaults h = 1e-2, atol = 2e-3,
 * rtol = 1e-2). */
#ifndef ELBO_TEST_GRAD_CASES_H
#define ELBO_TEST_GRAD_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodiff/params.h"
#include "autodiff/tape.h"
#include "ops/simd_level.h"

#define GC_MAX_IN 3

typedef struct gcase gcase;
typedef elbo_node *(*gc_build_fn)(elbo_tape *t, elbo_node **in, const gcase *c);
/* Fill the input shapes (and any data the case needs) for test shape (R,C). */
typedef void (*gc_shape_fn)(gcase *c, int R, int C);

struct gcase {
    const char *name;
    elbo_op op; /* the op under test: the result of build */
    int n_in;
    gc_shape_fn rule;
    gc_build_fn build;
    float lo[GC_MAX_IN], hi[GC_MAX_IN];
    bool away_from_zero[GC_MAX_IN]; /* |x| in [lo,hi], random sign (kinks at 0) */
    bool grad[GC_MAX_IN];           /* a parameter (checked) or a constant input */
    float h;
    double atol, rtol;
    float s;         /* scale, activation parameter, fixed logvar, eps */
    int start, len;  /* slice */
    int ip[8];       /* integer parameters: axis, groups, kernel, stride, ... */
    /* set by the rule */
    int ndim[GC_MAX_IN], shape[GC_MAX_IN][ELBO_MAX_DIMS];
    const float *eps;      /* reparam noise */
    const int32_t *labels; /* categorical labels */
};

int gc_count(void);
/* Case i with its defaults applied (h, atol, rtol). */
gcase gc_case(int i);

/* The test shapes (R,C) the rules take; the odd ones hit SIMD tails. */
extern const int gc_shapes[][2];
extern const int gc_nshapes;

/* Check case c at the current SIMD level and test shape (R,C): returns the
 * number of gradient entries off tolerance (or -1 if the graph could not be
 * built or is not of the case's op), with the first problem in msg. */
int gc_check(gcase c, int R, int C, char *msg, size_t msg_len);

/* The pieces of a check, for the benchmarks: set case c up at (R,C) (its
 * rule; one parameter per input registered in the initialized p, finalized
 * and filled with the case's data: false on failure), then build its graph
 * on t (constant inputs for the inputs without grad). */
bool gc_setup(gcase *c, int R, int C, elbo_params *p);
elbo_node *gc_graph(const gcase *c, elbo_tape *t, elbo_params *p);

#endif
