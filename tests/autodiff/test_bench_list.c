/* Every kernel and every tape op has a benchmark in elbo_bench: the names
 * `elbo_bench --benchmark_list_tests` prints include ops_<kernel> (bench/ops,
 * generated from the kernel list) and tape_<op> (bench/autodiff, generated
 * from the gradient cases). Registered only when the bench is built; meson
 * passes its path in ELBO_BENCH. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff/tape.h"
#include "ops/kernels.h"

/* The benchmark list, one name per line. */
static char *bench_list(void)
{
    const char *bench = getenv("ELBO_BENCH");
    cr_assert(bench && *bench, "ELBO_BENCH is not set");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' --benchmark_list_tests", bench);
    FILE *f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    cr_assert_eq(pclose(f), 0, "%s failed", cmd);
    return buf;
}

/* a line starting with prefix followed by '/' or the end of the name */
static bool listed(const char *list, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = list; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
        if (strncmp(p, prefix, n) == 0 && (p[n] == '/' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

Test(bench_list, every_kernel_and_op_has_a_benchmark)
{
    char *list = bench_list(), name[96];
    for (int id = 0; id < ELBO_KERNEL_COUNT; id++) {
        snprintf(name, sizeof name, "ops_%s", elbo_kernel_names[id]);
        cr_expect(listed(list, name), "kernel %s has no benchmark %s", elbo_kernel_names[id], name);
    }
    for (int op = 0; op < ELBO_OP_COUNT; op++) {
        if (elbo_op_kind_of((elbo_op)op) == ELBO_OP_KIND_LEAF)
            continue;
        snprintf(name, sizeof name, "tape_%s", elbo_op_name((elbo_op)op));
        cr_expect(listed(list, name), "op %s has no benchmark %s", elbo_op_name((elbo_op)op), name);
    }
    free(list);
}
