/* The kernel table of one ISA: elbo_kernels_avx2, _avx512 or _neon, from the
 * family sources of ops/kernels/ (compiled once per ISA; see ops/simd.h). */
#include "ops/kernels.h"
#include "ops/kernels/kernels_isa.h"

#define ELBO_TABLE_NAME_(s) #s
#define ELBO_TABLE_NAME(s) ELBO_TABLE_NAME_(s)

const struct elbo_kernels ELBO_CAT(elbo_kernels, ELBO_ISA_SUFFIX) = {
    .name = ELBO_TABLE_NAME(ELBO_ISA_SUFFIX),
    .add = KERNEL(elbo_add),
    .sub = KERNEL(elbo_sub),
    .mul = KERNEL(elbo_mul),
    .scale = KERNEL(elbo_scale),
    .axpy = KERNEL(elbo_axpy),
    .fma = KERNEL(elbo_fma),
    .add_bias = KERNEL(elbo_add_bias),
    .col_sum = KERNEL(elbo_col_sum),
    .relu = KERNEL(elbo_relu),
    .relu_bwd = KERNEL(elbo_relu_bwd),
    .leaky_relu = KERNEL(elbo_leaky_relu),
    .leaky_relu_bwd = KERNEL(elbo_leaky_relu_bwd),
    .tanh = KERNEL(elbo_tanh),
    .tanh_bwd = KERNEL(elbo_tanh_bwd),
    .sigmoid = KERNEL(elbo_sigmoid),
    .sigmoid_bwd = KERNEL(elbo_sigmoid_bwd),
    .softplus = KERNEL(elbo_softplus),
    .softplus_bwd = KERNEL(elbo_softplus_bwd),
    .exp = KERNEL(elbo_exp),
    .exp_bwd = KERNEL(elbo_exp_bwd),
    .log = KERNEL(elbo_log),
    .log_bwd = KERNEL(elbo_log_bwd),
    .row_sum = KERNEL(elbo_row_sum),
    .row_max = KERNEL(elbo_row_max),
    .row_logsumexp = KERNEL(elbo_row_logsumexp),
    .sum = KERNEL(elbo_sum),
    .bernoulli_nll = KERNEL(elbo_bernoulli_nll),
    .bernoulli_nll_bwd = KERNEL(elbo_bernoulli_nll_bwd),
    .gauss_nll = KERNEL(elbo_gauss_nll),
    .gauss_nll_bwd = KERNEL(elbo_gauss_nll_bwd),
    .kl_diag = KERNEL(elbo_kl_diag),
    .kl_diag_bwd = KERNEL(elbo_kl_diag_bwd),
    .reparam = KERNEL(elbo_reparam),
    .reparam_bwd = KERNEL(elbo_reparam_bwd),
    .adam = KERNEL(elbo_adam),
    .sgd_momentum = KERNEL(elbo_sgd_momentum),
};
