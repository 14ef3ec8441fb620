// Entry point of elbo_bench: applies ELBO_SIMD / ELBO_THREADS, records them in
// the benchmark context, then runs the registered benchmarks.
#include "shim.h"

#include <string>

int main(int argc, char **argv)
{
    elbo_bench_setup();
    benchmark::AddCustomContext("elbo_simd", elbo_simd_name(elbo_simd_current()));
    benchmark::AddCustomContext("elbo_threads", std::to_string(elbo_threads()));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
