// References for the kernel benchmarks (bench/ops/bench_kernels.cc, one per
// kernel): `triad`, a STREAM-style a[i] = b[i] + s c[i] as a plain loop, for
// the machine's bandwidth; the large-array kernels through the threaded
// front-end at 2 threads (ops_mt2_); and the toy VAE's narrow row kernels
// (toyops_). Compare the 1<<24 rows of ops_ against BM_triad/16777216; run
//   elbo_bench --benchmark_filter='ops_|triad' --benchmark_repetitions=5
//              --benchmark_enable_random_interleaving=true
//              --benchmark_report_aggregates_only=true
#include "../shim.h"

namespace {

constexpr int64_t kSmall = 1 << 12; // in L1/L2: compute-bound
constexpr int64_t kLarge = 1 << 24; // 64 MiB per array: memory-bound
constexpr size_t kCols = 784;       // row kernels use Fashion-MNIST rows (28x28)

void set_bytes(benchmark::State &state, int64_t n, int64_t arrays)
{
    state.SetBytesProcessed(state.iterations() * n * arrays * int64_t(sizeof(float)));
}

// a[i] = b[i] + s c[i]: 2 reads + 1 write
void BM_triad(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t n = size_t(state.range(0));
    FloatBuf a(n), b(n, 1.0f), c(n, 2.0f);
    float *pa = a.data();
    const float *pb = b.data(), *pc = c.data();
    const float s = 3.0f;
    for (auto _ : state) {
        for (size_t i = 0; i < n; i++)
            pa[i] = pb[i] + s * pc[i];
        benchmark::DoNotOptimize(pa);
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 3);
}

// The toy VAE's narrow row kernels, per call through the table: add_bias on
// (64,32), kl_diag and its backward on (64,1), gauss_nll and its backward
// (with dlv) on (64,2). Named toyops_ so the bandwidth filter skips them.
void BM_toyops_add_bias(benchmark::State &state)
{
    elbo_bench_setup();
    FloatBuf y(64 * 32, 0.5f), b(32, 0.25f);
    for (auto _ : state) {
        elbo_k()->add_bias(64, 32, b.data(), y.data());
        benchmark::ClobberMemory();
    }
}
void BM_toyops_kl_diag(benchmark::State &state)
{
    elbo_bench_setup();
    FloatBuf mu(64, 0.1f), lv(64, -0.2f), out(64), d(64, 1.0f / 64), dmu(64), dlv(64);
    for (auto _ : state) {
        elbo_k()->kl_diag(64, 1, mu.data(), lv.data(), out.data());
        elbo_k()->kl_diag_bwd(64, 1, mu.data(), lv.data(), d.data(), dmu.data(), dlv.data());
        benchmark::ClobberMemory();
    }
}
void BM_toyops_gauss_nll(benchmark::State &state)
{
    elbo_bench_setup();
    FloatBuf m(128, 0.1f), x(128, 0.3f), lv(2, -4.6f), out(64), d(64, 1.0f / 64), dm(128), dlv(2);
    for (auto _ : state) {
        elbo_k()->gauss_nll(64, 2, m.data(), x.data(), lv.data(), out.data());
        elbo_k()->gauss_nll_bwd(64, 2, m.data(), x.data(), lv.data(), d.data(), dm.data(), dlv.data());
        benchmark::ClobberMemory();
    }
}

// The same large-array kernels through the front-end at 2 threads (the pool
// splits them into fixed-size tasks): ops_mt2_<kernel>, bytes as above.
template <int Which> void BM_ops_mt2(benchmark::State &state)
{
    elbo_bench_setup();
    int saved = elbo_threads();
    if (elbo_set_threads(2) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    const size_t rows = size_t(state.range(0)) / kCols + 1, n = Which >= 2 ? rows * kCols : size_t(state.range(0));
    FloatBuf a(n), b(n), out(n);
    for (size_t i = 0; i < n; i++) {
        a.v[i] = float(i % 97) * 0.1f - 4.85f;
        b.v[i] = float(i % 2);
    }
    for (auto _ : state) {
        if (Which == 0)
            elbo_tanh(n, a.data(), out.data());
        else if (Which == 1)
            elbo_exp(n, a.data(), out.data());
        else if (Which == 2)
            elbo_bernoulli_nll(rows, kCols, a.data(), b.data(), out.data());
        else
            elbo_row_logsumexp(rows, kCols, a.data(), out.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), Which == 3 ? 1 : 2);
    elbo_set_threads(saved);
}
void BM_ops_mt2_tanh(benchmark::State &s) { BM_ops_mt2<0>(s); }
void BM_ops_mt2_exp(benchmark::State &s) { BM_ops_mt2<1>(s); }
void BM_ops_mt2_bernoulli_nll(benchmark::State &s) { BM_ops_mt2<2>(s); }
void BM_ops_mt2_row_logsumexp(benchmark::State &s) { BM_ops_mt2<3>(s); }

} // namespace

BENCHMARK(BM_ops_mt2_tanh)->Arg(kLarge)->UseRealTime();
BENCHMARK(BM_ops_mt2_exp)->Arg(kLarge)->UseRealTime();
BENCHMARK(BM_ops_mt2_bernoulli_nll)->Arg(kLarge)->UseRealTime();
BENCHMARK(BM_ops_mt2_row_logsumexp)->Arg(kLarge)->UseRealTime();
BENCHMARK(BM_toyops_add_bias);
BENCHMARK(BM_toyops_kl_diag);
BENCHMARK(BM_toyops_gauss_nll);
BENCHMARK(BM_triad)->Arg(kSmall)->Arg(kLarge);
