/* The machine's limits for bench/roofline.sh, one core each, printed as
 *   fp32_fma_gflops X / fp64_fma_gflops D / bf16_dot_gflops Y / triad_gbs Z
 * built by the script with -O3 -march=native (the only file of the project
 * built that way): the peak loops need the widest FMA and vdpbf16ps the CPU
 * has, whatever level the library would pick.
 *
 *   fp32 FMA:  24 independent chains of vfmadd (16 lanes x 2 flops each on
 *              AVX-512; 8 lanes on AVX2), enough to cover 2 pipes x 4 cycles
 *   fp64 FMA:  the same on doubles (8 lanes on AVX-512, 4 on AVX2): the
 *              limit of the EM's float64 passes and GEMMs
 *   bf16 dot:  24 chains of vdpbf16ps (16 lanes x 2 products x 2 flops)
 *   triad:     a[i] = b[i] + s c[i] over 3 x 64 MiB, 12 bytes per element
 *              counted (reads of b, c and the write of a; STREAM's convention)
 * Each figure is the best of several timed repetitions. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHAINS 24
#define ITERS 2000000L
#define REPS 5

/* Bodies of the peak functions: the best GFLOP/s of REPS timed runs of
 * CHAINS independent chains acc = OP(acc, a, b), each OP FLOPS operations;
 * acc of type ACC_T, a and b of OPD_T. The asm keeps a opaque, so no chain
 * is folded; the sums of the chains are stored to a volatile at the end. */
#define PEAK(ACC_T, OPD_T, INIT, A, B, OP, FLOPS)                                                  \
    double best = 0.0;                                                                             \
    for (int r = 0; r < REPS; r++) {                                                               \
        ACC_T acc[CHAINS];                                                                         \
        OPD_T a = A, b = B;                                                                        \
        _Pragma("GCC unroll 24") for (int c = 0; c < CHAINS; c++) acc[c] = INIT;                   \
        double t0 = now();                                                                         \
        for (long i = 0; i < ITERS; i++) {                                                         \
            _Pragma("GCC unroll 24") for (int c = 0; c < CHAINS; c++) acc[c] = OP(acc[c], a, b);   \
            __asm__ volatile("" : "+v"(a));                                                        \
        }                                                                                          \
        double dt = now() - t0;                                                                    \
        sink(acc, sizeof acc);                                                                     \
        double g = (FLOPS) * CHAINS * (double)ITERS / dt * 1e-9;                                   \
        best = g > best ? g : best;                                                                \
    }                                                                                              \
    return best;

volatile unsigned char peak_sink; /* written, so the chains are computed */

static void sink(const void *p, size_t n)
{
    unsigned char x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= ((const unsigned char *)p)[i];
    peak_sink = x;
}

static double fma_peak(void)
{
#if defined(__AVX512F__)
    PEAK(__m512, __m512, _mm512_set1_ps((float)c), _mm512_set1_ps(1.0000001f), _mm512_set1_ps(0.9999999f),
         _mm512_fmadd_ps, 2.0 * 16)
#else
    PEAK(__m256, __m256, _mm256_set1_ps((float)c), _mm256_set1_ps(1.0000001f), _mm256_set1_ps(0.9999999f),
         _mm256_fmadd_ps, 2.0 * 8)
#endif
}

static double fma64_peak(void)
{
#if defined(__AVX512F__)
    PEAK(__m512d, __m512d, _mm512_set1_pd((double)c), _mm512_set1_pd(1.0000000001), _mm512_set1_pd(0.9999999999),
         _mm512_fmadd_pd, 2.0 * 8)
#else
    PEAK(__m256d, __m256d, _mm256_set1_pd((double)c), _mm256_set1_pd(1.0000000001), _mm256_set1_pd(0.9999999999),
         _mm256_fmadd_pd, 2.0 * 4)
#endif
}

static double bf16_peak(void)
{
#if defined(__AVX512BF16__)
    PEAK(__m512, __m512bh, _mm512_set1_ps((float)c), (__m512bh)_mm512_set1_epi32(0x3f803f80),
         (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), _mm512_dpbf16_ps, 4.0 * 16)
#else
    return 0.0; /* no AVX512_BF16 on this CPU */
#endif
}

static double triad(void)
{
    size_t n = (size_t)1 << 24;
    float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
    if (!a || !b || !c)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
    double best = 0.0;
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] + 3.0f * c[i];
        double dt = now() - t0;
        __asm__ volatile("" ::"r"(a) : "memory");
        double g = 12.0 * (double)n / dt * 1e-9;
        if (g > best)
            best = g;
    }
    free(a), free(b), free(c);
    return best;
}

int main(void)
{
    printf("fp32_fma_gflops %.1f\n", fma_peak());
    printf("fp64_fma_gflops %.1f\n", fma64_peak());
    printf("bf16_dot_gflops %.1f\n", bf16_peak());
    printf("triad_gbs %.1f\n", triad());
    return 0;
}
