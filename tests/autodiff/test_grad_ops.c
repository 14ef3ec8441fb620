/* Every tape op against central finite differences, at every SIMD level this
 * CPU supports and at shapes whose odd sizes exercise the SIMD tails: one
 * parameterized test per case of tests/common/grad_cases.c (the method is
 * described in its header). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "grad_cases.h"
#include "ops/simd_level.h"

ParameterizedTestParameters(grad, every_op)
{
    static int index[512];
    int n = gc_count();
    for (int i = 0; i < n; i++)
        index[i] = i;
    return cr_make_param_array(int, index, (size_t)n);
}

ParameterizedTest(int *index, grad, every_op)
{
    gcase c = gc_case(*index);
    cr_log_info("%s", c.name);
    elbo_simd saved = elbo_simd_current();
    char msg[512];
    for (int lv = 0; lv < ELBO_SIMD_COUNT; lv++) {
        if (!elbo_simd_supported((elbo_simd)lv))
            continue;
        cr_assert_eq(elbo_simd_set((elbo_simd)lv), ELBO_OK);
        for (int s = 0; s < gc_nshapes; s++) {
            int bad = gc_check(c, gc_shapes[s][0], gc_shapes[s][1], msg, sizeof msg);
            cr_expect_eq(bad, 0, "%s [%s]: %d entries off: %s", c.name, elbo_simd_name((elbo_simd)lv), bad, msg);
        }
    }
    elbo_simd_set(saved);
}
