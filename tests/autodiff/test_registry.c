/* The op and kernel lists are complete: every tape op has its forward and
 * backward (or is a leaf or a view, with neither) and a finite-difference
 * gradient case; every kernel has a copy at every level this build supports
 * (the scalar one being its reference) and a test case. The benchmarks are
 * checked by test_bench_list.c when elbo_bench is built. */
#include <criterion/criterion.h>

#include "autodiff/tape.h"
#include "grad_cases.h"
#include "kernel_cases.h"
#include "ops/kernels.h"
#include "ops/simd_level.h"

Test(registry, every_op_has_its_forward_and_backward)
{
    for (int op = 0; op < ELBO_OP_COUNT; op++)
        cr_expect(elbo_op_row_ok((elbo_op)op), "op %s (kind %d): forward/backward do not match its kind",
                  elbo_op_name((elbo_op)op), (int)elbo_op_kind_of((elbo_op)op));
    cr_expect(!elbo_op_row_ok(ELBO_OP_COUNT));
}

Test(registry, every_op_has_a_gradient_case)
{
    for (int op = 0; op < ELBO_OP_COUNT; op++) {
        if (elbo_op_kind_of((elbo_op)op) == ELBO_OP_KIND_LEAF)
            continue; /* every case builds on leaves */
        int n = 0;
        for (int i = 0; i < gc_count(); i++)
            n += gc_case(i).op == (elbo_op)op;
        cr_expect(n > 0, "op %s has no finite-difference gradient case in tests/common/grad_cases.c",
                  elbo_op_name((elbo_op)op));
    }
}

Test(registry, every_kernel_has_every_level)
{
    for (int l = 0; l < ELBO_SIMD_COUNT; l++) {
        const struct elbo_kernels *k = elbo_kernels_for((elbo_simd)l);
        if (!elbo_simd_supported((elbo_simd)l))
            continue;
        cr_assert(k, "level %s is supported but has no kernel table", elbo_simd_name((elbo_simd)l));
        for (int id = 0; id < ELBO_KERNEL_COUNT; id++)
            cr_expect(elbo_kernel_slot(k, (enum elbo_kernel_id)id) != NULL, "kernel %s has no %s copy%s",
                      elbo_kernel_names[id], k->name, l == ELBO_SIMD_SCALAR ? " (its reference)" : "");
    }
#if defined(__x86_64__)
    cr_expect(elbo_kernels_for(ELBO_SIMD_AVX2) || !elbo_simd_supported(ELBO_SIMD_AVX2));
#endif
}

Test(registry, every_kernel_has_a_test_case)
{
    for (int id = 0; id < ELBO_KERNEL_COUNT; id++) {
        int n = 0;
        for (int i = 0; i < kc_count(); i++)
            n += kc_case(i)->id == (enum elbo_kernel_id)id;
        cr_expect(n > 0, "kernel %s has no test case in tests/common/kernel_cases.c", elbo_kernel_names[id]);
    }
}
