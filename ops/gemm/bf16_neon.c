/* bf16 GEMM parts for aarch64 with FEAT_BF16: packing into bf16 pairs and
 * the BFDOT micro-kernel. Compiled once with -march=armv8.2-a+bf16
 * (ops/gemm/meson.build); gemm_bf16.c runs it only where HWCAP2 reports
 * BF16. The layouts are those of bf16_isa.c (pairs along K in 32-bit words;
 * A row-major, Aᵀ and B k-major); BFDOT does per lane
 *   c[j] += a.lo*b[j].lo + a.hi*b[j].hi
 * with float32 sums (Arm's own intermediate rounding: the results agree with
 * the x86 kernel to the float32 summation bound, not bit for bit). Rounding
 * to bf16 is the scalar reference (no vector conversion here yet), so the
 * inputs are the same bits on every architecture. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/bf16.h"
#include "ops/gemm/gemm_internal.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#include <arm_neon.h>

#define BF_MR 8  /* 8 rows x 3 q-registers: 24 accumulators, 3 B vectors, 1 broadcast */
#define BF_NV 3
#define BF_NR (BF_NV * 4)
#define BF_KCP 256 /* a B panel is 256 x 12 words = 12 KB */

static void round_n(size_t n, const float *x, uint16_t *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = elbo_bf16_round_ref(x[i]);
}

static uint32_t pair(float lo, float hi)
{
    return (uint32_t)elbo_bf16_round_ref(lo) | (uint32_t)elbo_bf16_round_ref(hi) << 16;
}

// op(A) block (m,kc): A[i*lda + k] -> ap[i*kp + p]; with ta A stored (kc,m) -> ap[p*mr + i]
static void pack_a(bool ta, size_t m, size_t kc, const float *A, size_t lda, uint32_t *ap)
{
    size_t kp = (kc + 1) / 2;
    for (size_t p = 0; p < kp; p++)
        for (size_t i = 0; i < BF_MR; i++) {
            uint32_t w = 0;
            if (i < m) {
                float lo = ta ? A[2 * p * lda + i] : A[i * lda + 2 * p];
                float hi = 2 * p + 1 < kc ? (ta ? A[(2 * p + 1) * lda + i] : A[i * lda + 2 * p + 1]) : 0.0f;
                w = pair(lo, hi);
            }
            ap[ta ? p * BF_MR + i : i * kp + p] = w;
        }
}

// op(B) block (kc,n): B[k*ldb + j], or with tb B stored (n,kc): B[j*ldb + k] -> bp[p*nr + j]
static void pack_b(bool tb, size_t n, size_t kc, const float *B, size_t ldb, uint32_t *bp)
{
    size_t kp = (kc + 1) / 2;
    for (size_t p = 0; p < kp; p++)
        for (size_t j = 0; j < BF_NR; j++) {
            uint32_t w = 0;
            if (j < n) {
                float lo = tb ? B[j * ldb + 2 * p] : B[2 * p * ldb + j];
                float hi = 2 * p + 1 < kc ? (tb ? B[j * ldb + 2 * p + 1] : B[(2 * p + 1) * ldb + j]) : 0.0f;
                w = pair(lo, hi);
            }
            bp[p * BF_NR + j] = w;
        }
}

// One tile, as bf16_isa.c: C (m,n) = beta*C + Ap·Bp, then relu?(+ bias).
static inline __attribute__((always_inline)) void tile(const size_t NV_, const bool KMAJ_, size_t m, size_t n,
                                                       size_t kp, const uint32_t *restrict a, size_t as,
                                                       const uint32_t *restrict b, float *restrict c, size_t ldc,
                                                       float beta, const float *bias, bool relu)
{
    float32x4_t acc[BF_MR][BF_NV];
    for (size_t i = 0; i < BF_MR; i++)
        for (size_t v = 0; v < NV_; v++)
            acc[i][v] = vdupq_n_f32(0.0f);
    for (size_t p = 0; p < kp; p++) {
        bfloat16x8_t bv[BF_NV];
        for (size_t v = 0; v < NV_; v++)
            bv[v] = vreinterpretq_bf16_u32(vld1q_u32(b + v * 4));
        for (size_t i = 0; i < BF_MR; i++) {
            bfloat16x8_t av = vreinterpretq_bf16_u32(vdupq_n_u32(a[KMAJ_ ? i : i * as]));
            for (size_t v = 0; v < NV_; v++)
                acc[i][v] = vbfdotq_f32(acc[i][v], av, bv[v]);
        }
        a += KMAJ_ ? BF_MR : 1;
        b += BF_NR;
    }
    for (size_t i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        for (size_t v = 0; v < NV_; v++) {
            float r[4];
            vst1q_f32(r, acc[i][v]);
            size_t lanes = n - v * 4 < 4 ? n - v * 4 : 4;
            for (size_t l = 0; l < lanes; l++) {
                float y = r[l], *p = cr + v * 4 + l;
                if (beta == 1.0f)
                    y = *p + y;
                else if (beta != 0.0f)
                    y = __builtin_fmaf(beta, *p, y);
                if (bias)
                    y = y + bias[v * 4 + l];
                if (relu)
                    y = y > 0.0f ? y : 0.0f;
                *p = y;
            }
        }
    }
}

static void kernel(bool ta, size_t m, size_t n, size_t kp, const uint32_t *ap, const uint32_t *bp, float *c,
                   size_t ldc, float beta, const float *bias, bool relu)
{
    size_t nv = (n + 3) / 4;
    if (ta) {
        if (nv == 1) tile(1, true, m, n, kp, ap, 1, bp, c, ldc, beta, bias, relu);
        else if (nv == 2) tile(2, true, m, n, kp, ap, 1, bp, c, ldc, beta, bias, relu);
        else tile(3, true, m, n, kp, ap, 1, bp, c, ldc, beta, bias, relu);
    } else {
        if (nv == 1) tile(1, false, m, n, kp, ap, kp, bp, c, ldc, beta, bias, relu);
        else if (nv == 2) tile(2, false, m, n, kp, ap, kp, bp, c, ldc, beta, bias, relu);
        else tile(3, false, m, n, kp, ap, kp, bp, c, ldc, beta, bias, relu);
    }
}

const struct elbo_gemm_bf16_isa elbo_gemm_bf16_isa_neon = {
    .mr = BF_MR,
    .nr = BF_NR,
    .kcp = BF_KCP,
    .kernel = kernel,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .round = round_n,
};
#else
/* No BF16 vector arithmetic in this compiler: no bf16 kernel. */
const struct elbo_gemm_bf16_isa elbo_gemm_bf16_isa_neon = {0};
#endif
