/* The op table: one row per elbo_op, naming its forward and backward
 * (written side by side in autodiff/ops_*.c). Designated initializers keep
 * each row tied to its enum id; the gradient tests run every op through
 * both columns. */
#include "autodiff/tape_internal.h"

const elbo_op_def elbo_op_table[ELBO_OP_COUNT] = {
    /* leaves: nothing to compute, nothing to propagate */
    [ELBO_OP_INPUT] = {.name = "input"},
    [ELBO_OP_PARAM] = {.name = "param"},
    [ELBO_OP_MATMUL] = {.name = "matmul", .forward = ad_matmul_forward, .backward = ad_matmul_backward},
    [ELBO_OP_LINEAR] = {.name = "linear", .forward = ad_linear_forward, .backward = ad_linear_backward},
    [ELBO_OP_ADD] = {.name = "add", .forward = ad_add_forward, .backward = ad_add_backward},
    [ELBO_OP_SUB] = {.name = "sub", .forward = ad_sub_forward, .backward = ad_sub_backward},
    [ELBO_OP_MUL] = {.name = "mul", .forward = ad_mul_forward, .backward = ad_mul_backward},
    [ELBO_OP_SCALE] = {.name = "scale", .forward = ad_scale_forward, .backward = ad_scale_backward},
    [ELBO_OP_CONCAT_COLS] = {.name = "concat_cols", .forward = ad_concat_cols_forward, .backward = ad_concat_cols_backward},
    [ELBO_OP_SLICE_COLS] = {.name = "slice_cols", .forward = ad_slice_cols_forward, .backward = ad_slice_cols_backward},
    [ELBO_OP_RELU] = {.name = "relu", .forward = ad_relu_forward, .backward = ad_relu_backward},
    [ELBO_OP_LEAKY_RELU] = {.name = "leaky_relu", .forward = ad_leaky_relu_forward, .backward = ad_leaky_relu_backward},
    [ELBO_OP_TANH] = {.name = "tanh", .forward = ad_tanh_forward, .backward = ad_tanh_backward},
    [ELBO_OP_SIGMOID] = {.name = "sigmoid", .forward = ad_sigmoid_forward, .backward = ad_sigmoid_backward},
    [ELBO_OP_SOFTPLUS] = {.name = "softplus", .forward = ad_softplus_forward, .backward = ad_softplus_backward},
    [ELBO_OP_EXP] = {.name = "exp", .forward = ad_exp_forward, .backward = ad_exp_backward},
    [ELBO_OP_LOG] = {.name = "log", .forward = ad_log_forward, .backward = ad_log_backward},
    [ELBO_OP_SUM] = {.name = "sum", .forward = ad_sum_forward, .backward = ad_sum_backward},
    [ELBO_OP_MEAN] = {.name = "mean", .forward = ad_mean_forward, .backward = ad_mean_backward},
    [ELBO_OP_SUM_ROWS] = {.name = "sum_rows", .forward = ad_sum_rows_forward, .backward = ad_sum_rows_backward},
    [ELBO_OP_LOGSUMEXP_ROWS] = {.name = "logsumexp_rows", .forward = ad_logsumexp_rows_forward, .backward = ad_logsumexp_rows_backward},
    [ELBO_OP_BERNOULLI_NLL] = {.name = "bernoulli_nll", .forward = ad_bernoulli_nll_forward, .backward = ad_bernoulli_nll_backward},
    [ELBO_OP_GAUSS_NLL] = {.name = "gauss_nll", .forward = ad_gauss_nll_forward, .backward = ad_gauss_nll_backward},
    [ELBO_OP_KL_DIAG] = {.name = "kl_diag", .forward = ad_kl_diag_forward, .backward = ad_kl_diag_backward},
    [ELBO_OP_REPARAM] = {.name = "reparam", .forward = ad_reparam_forward, .backward = ad_reparam_backward},
};
