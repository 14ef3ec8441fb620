/* The SIMD level and the kernel table for it; see simd_level.h. A level is
 * built when this architecture has a kernel table for it. */
#include "simd_level.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "precision.h"

static const char *const level_names[ELBO_SIMD_COUNT] = {
    [ELBO_SIMD_SCALAR] = "scalar",
    [ELBO_SIMD_AVX2] = "avx2",
    [ELBO_SIMD_AVX512] = "avx512",
    [ELBO_SIMD_NEON] = "neon",
};

static const struct elbo_kernels *const level_tables[ELBO_SIMD_COUNT] = {ELBO_SIMD_VARIANTS(elbo_kernels)};

/* -1 until first use; then the chosen level. Plain int: the level is set
 * before threads start work, and a racing first read picks the same value. */
static int current_level = -1;

const char *elbo_simd_name(elbo_simd level)
{
    return (unsigned)level < ELBO_SIMD_COUNT ? level_names[level] : "unknown";
}

elbo_status elbo_simd_parse(const char *name, elbo_simd *out)
{
    for (int i = 0; i < ELBO_SIMD_COUNT; i++) {
        if (name && strcmp(name, level_names[i]) == 0) {
            *out = (elbo_simd)i;
            return ELBO_OK;
        }
    }
    return elbo_fail(ELBO_ERR_INVALID, "unknown SIMD level '%s' (expected scalar, avx2, avx512 or neon)",
                     name ? name : "(null)");
}

bool elbo_simd_supported(elbo_simd level)
{
    if ((unsigned)level >= ELBO_SIMD_COUNT || !level_tables[level])
        return false;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (level == ELBO_SIMD_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == ELBO_SIMD_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    return true; /* scalar everywhere; NEON is baseline on aarch64 */
}

elbo_simd elbo_simd_best(void)
{
    static const elbo_simd order[] = {ELBO_SIMD_AVX512, ELBO_SIMD_AVX2, ELBO_SIMD_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (elbo_simd_supported(order[i]))
            return order[i];
    return ELBO_SIMD_SCALAR;
}

static elbo_simd level_from_env(void)
{
    const char *env = getenv("ELBO_SIMD");
    elbo_simd level;
    if (env && *env && elbo_simd_parse(env, &level) == ELBO_OK && elbo_simd_supported(level))
        return level;
    return elbo_simd_best();
}

elbo_simd elbo_simd_current(void)
{
    if (current_level < 0)
        current_level = (int)level_from_env();
    return (elbo_simd)current_level;
}

elbo_status elbo_simd_set(elbo_simd level)
{
    if (!elbo_simd_supported(level))
        return elbo_fail(ELBO_ERR_UNSUPPORTED, "SIMD level %s is not supported on this CPU or build",
                         elbo_simd_name(level));
    current_level = (int)level;
    return ELBO_OK;
}

const struct elbo_kernels *elbo_kernels_for(elbo_simd level) { return ELBO_SIMD_PICK(level_tables, level); }

const struct elbo_kernels *elbo_k(void) { return ELBO_SIMD_CURRENT(level_tables); }

elbo_status elbo_runtime_init(void)
{
    const char *env = getenv("ELBO_SIMD");
    if (env && *env) {
        elbo_simd level;
        elbo_status st = elbo_simd_parse(env, &level);
        if (st != ELBO_OK)
            return elbo_fail(st, "ELBO_SIMD='%s': expected scalar, avx2, avx512 or neon", env);
        if ((st = elbo_simd_set(level)) != ELBO_OK)
            return st;
    }
    const char *prec = getenv("ELBO_PRECISION");
    if (prec && *prec) {
        elbo_precision p;
        if (elbo_precision_parse(prec, &p) != ELBO_OK)
            return elbo_fail(ELBO_ERR_INVALID, "ELBO_PRECISION='%s': expected fp32 or bf16", prec);
        elbo_precision_set(p);
    }
    const char *threads = getenv("ELBO_THREADS");
    if (threads && *threads) {
        char *end;
        long n = strtol(threads, &end, 10);
        if (*end || n < 1 || n > 64)
            return elbo_fail(ELBO_ERR_INVALID, "ELBO_THREADS='%s': expected an integer in 1..64", threads);
        return elbo_set_threads((int)n);
    }
    return ELBO_OK;
}

/* ---- the kernel list, walked by index ---- */

/* one slot per kernel id: the list and the table cannot drift apart */
#define ELBO_KERNEL_ONE_(name, cls) +1
_Static_assert(0 ELBO_KERNELS(ELBO_KERNEL_ONE_) == ELBO_KERNEL_COUNT, "one kernel id per list entry");
_Static_assert(sizeof(struct elbo_kernels) == sizeof(const char *) + ELBO_KERNEL_COUNT * sizeof(elbo_kernel_fn),
               "one table slot per kernel");

#define ELBO_KERNEL_NAME_(name, cls) #name,
const char *const elbo_kernel_names[ELBO_KERNEL_COUNT] = {ELBO_KERNELS(ELBO_KERNEL_NAME_)};

elbo_kernel_fn elbo_kernel_slot(const struct elbo_kernels *k, enum elbo_kernel_id id)
{
    switch (id) {
#define ELBO_KERNEL_CASE_(name, cls) \
    case ELBO_KERNEL_##name:         \
        return (elbo_kernel_fn)k->name;
        ELBO_KERNELS(ELBO_KERNEL_CASE_)
    default:
        return NULL;
    }
}
