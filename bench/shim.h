/* The C++ shim: the benchmarks are C++ (Google Benchmark) over the C kernels.
 * Include the toolkit's C headers through this file only. */
#ifndef ELBO_BENCH_SHIM_H
#define ELBO_BENCH_SHIM_H

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <vector>

extern "C" {
#include "ops/error.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/pool.h"
#include "ops/precision.h"
#include "ops/simd_level.h"
#include "ops/ops.h"
#include "autodiff/tape.h"
#include "models/toy_vae.h"
}

/* Apply ELBO_SIMD / ELBO_THREADS once before the first benchmark. */
inline void elbo_bench_setup()
{
    static bool done = false;
    if (!done) {
        done = true;
        if (elbo_runtime_init() != ELBO_OK) {
            std::fprintf(stderr, "elbo_bench: %s\n", elbo_last_error());
            std::exit(2);
        }
    }
}

/* Aligned, zero-initialised float buffer for kernels. */
struct FloatBuf {
    std::vector<float> v;
    explicit FloatBuf(size_t n, float fill = 0.0f) : v(n, fill) {}
    float *data() { return v.data(); }
    size_t size() const { return v.size(); }
};

#endif
