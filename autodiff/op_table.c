/* The op table, generated from the op list (autodiff/op_list.h): one row per
 * elbo_op with its name, its kind and, for an OP, its forward and backward
 * (written side by side in autodiff/ops_*.c). The tape checks every row
 * before it calls one, and tests/autodiff/test_registry.c checks that every
 * OP has both and a gradient case. */
#include "autodiff/tape_internal.h"

#define AD_FWD_LEAF(name) NULL
#define AD_FWD_VIEW(name) NULL
#define AD_FWD_OP(name) ad_##name##_forward
#define AD_BWD_LEAF(name) NULL
#define AD_BWD_VIEW(name) NULL
#define AD_BWD_OP(name) ad_##name##_backward

#define AD_OP_ROW_(ID, nm, knd)                                                                              \
    [ELBO_OP_##ID] = {.name = #nm, .kind = ELBO_OP_KIND_##knd, .forward = AD_FWD_##knd(nm),                  \
                      .backward = AD_BWD_##knd(nm)},

const elbo_op_def elbo_op_table[ELBO_OP_COUNT] = {ELBO_OPS(AD_OP_ROW_)};

/* every id has its row: the list and the table cannot drift apart */
#define AD_OP_ONE_(ID, name, kind) +1
_Static_assert(0 ELBO_OPS(AD_OP_ONE_) == ELBO_OP_COUNT, "one op table row per op id");
_Static_assert(sizeof elbo_op_table / sizeof elbo_op_table[0] == ELBO_OP_COUNT, "op table size");
