/* The process-wide GEMM precision; see precision.h. */
#include "precision.h"

#include <string.h>

#include "gemm.h"
#include "simd_level.h"

static const char *const names[ELBO_PRECISION_COUNT] = {[ELBO_PRECISION_FP32] = "fp32",
                                                        [ELBO_PRECISION_BF16] = "bf16"};

/* Plain int, like the SIMD level: set before threads start work. */
static int requested = ELBO_PRECISION_FP32;

const char *elbo_precision_name(elbo_precision p)
{
    return (unsigned)p < ELBO_PRECISION_COUNT ? names[p] : "unknown";
}

elbo_status elbo_precision_parse(const char *name, elbo_precision *out)
{
    for (int i = 0; i < ELBO_PRECISION_COUNT; i++) {
        if (name && strcmp(name, names[i]) == 0) {
            *out = (elbo_precision)i;
            return ELBO_OK;
        }
    }
    return elbo_fail(ELBO_ERR_INVALID, "unknown precision '%s' (expected fp32 or bf16)", name ? name : "(null)");
}

elbo_status elbo_precision_set(elbo_precision p)
{
    if ((unsigned)p >= ELBO_PRECISION_COUNT)
        return elbo_fail(ELBO_ERR_INVALID, "precision %d out of range", (int)p);
    requested = (int)p;
    return ELBO_OK;
}

elbo_precision elbo_precision_requested(void) { return (elbo_precision)requested; }

elbo_precision elbo_precision_current(void)
{
    if (requested == ELBO_PRECISION_BF16 && elbo_gemm_bf16_supported(elbo_simd_current()))
        return ELBO_PRECISION_BF16;
    return ELBO_PRECISION_FP32;
}

const char *elbo_precision_notice(void)
{
    if (requested != ELBO_PRECISION_BF16 || elbo_precision_current() == ELBO_PRECISION_BF16)
        return NULL;
    if (elbo_gemm_bf16_supported(elbo_simd_best()))
        return "precision bf16: the bf16 GEMM needs the avx512 level (this run uses a lower one); running fp32";
#if defined(__x86_64__)
    return "precision bf16: this CPU has no AVX512_BF16; running fp32";
#elif defined(__aarch64__)
    return "precision bf16: this CPU does not report BF16 (HWCAP2_BF16); running fp32";
#else
    return "precision bf16: no bf16 GEMM kernel on this architecture; running fp32";
#endif
}
