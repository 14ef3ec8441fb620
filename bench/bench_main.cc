// Entry point of elbo_bench: applies ELBO_SIMD / ELBO_THREADS / ELBO_PRECISION,
// records them in the benchmark context, then runs the registered benchmarks.
// OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when it loads, before
// main: the context records them, and a run with either set says on stderr
// that its openblas_* figures are not the peer at its best (run elbo_bench
// through bench/peer-env, as bench/gemm_table.sh does).
#include "shim.h"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv)
{
    elbo_bench_setup();
    benchmark::AddCustomContext("elbo_simd", elbo_simd_name(elbo_simd_current()));
    benchmark::AddCustomContext("elbo_threads", std::to_string(elbo_threads()));
    benchmark::AddCustomContext("elbo_precision", elbo_precision_name(elbo_precision_current()));
    const char *core = std::getenv("OPENBLAS_CORETYPE"), *l2 = std::getenv("OPENBLAS_L2_SIZE");
    benchmark::AddCustomContext("openblas_env", (core || l2) ? "OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE set: not its best"
                                                             : "unset: its own kernel choice");
    if (core || l2)
        std::fprintf(stderr, "elbo_bench: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s: openblas_* figures are not the "
                             "peer at its best; run through bench/peer-env THREADS\n",
                     core ? core : "(unset)", l2 ? l2 : "(unset)");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
