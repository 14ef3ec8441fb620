/* Per-ISA register tile and K block of the GEMM micro-kernel; included by
 * the per-ISA sources (ukernel.c, pack.c) after ops/simd.h. -DGEMM_MR=..
 * -DGEMM_NV=.. -DGEMM_KC=.. override them for tuning builds. */
#ifndef ELBO_GEMM_TILE_H
#define ELBO_GEMM_TILE_H

#if defined(ELBO_ISA_AVX512)
// 8 rows x 3 zmm: 24 accumulators + 3 B vectors + 1 broadcast of 32 registers;
// 24 independent FMAs cover 2 FMA pipes x 4 cycles latency three times over.
#ifndef GEMM_MR
#define GEMM_MR 8
#endif
#ifndef GEMM_NV
#define GEMM_NV 3
#endif
// K block: fewer passes over C; the B panel (up to 256 x 48 floats = 48 KB)
// streams from L1/L2 (measured: 256 beats 160 at 1024^3, ties elsewhere).
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
#elif defined(ELBO_ISA_AVX2)
// 6 rows x 2 ymm: 12 accumulators + 2 B vectors + 1 broadcast of 16 registers.
#ifndef GEMM_MR
#define GEMM_MR 6
#endif
#ifndef GEMM_NV
#define GEMM_NV 2
#endif
// K block: one B panel (KC x 16 floats = 16 KB) stays in L1D next to the A panel.
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
#elif defined(ELBO_ISA_NEON)
// 8 rows x 3 q-registers: 24 accumulators + 3 B vectors + broadcasts of 32 registers.
#ifndef GEMM_MR
#define GEMM_MR 8
#endif
#ifndef GEMM_NV
#define GEMM_NV 3
#endif
// K block: one B panel (KC x 12 floats = 12 KB) in a 64 KB L1D with room for A.
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
#endif

#define GEMM_NR (GEMM_NV * VLEN)

#endif
