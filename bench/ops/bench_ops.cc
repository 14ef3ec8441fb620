// Kernel families of ops/ on the current level's table (elbo_k(); the level
// comes from ELBO_SIMD), one thread, with bytes/s reported as the bytes each
// kernel must move (reads + writes of its arrays, once). `triad` is a
// STREAM-style reference, a[i] = b[i] + s c[i] as a plain loop, for the
// machine's bandwidth. Compare the 1<<24 rows against BM_triad/16777216; run
//   elbo_bench --benchmark_filter='ops_|triad' --benchmark_repetitions=5
//              --benchmark_enable_random_interleaving=true
//              --benchmark_report_aggregates_only=true
#include "../shim.h"

// The threaded front-end (ops/ops.h) for the ops_mt2_ rows, declared here
// rather than included (see above for the elbo_adam name clash).
extern "C" {
void elbo_tanh(size_t n, const float *x, float *y);
void elbo_exp(size_t n, const float *x, float *y);
void elbo_bernoulli_nll(size_t rows, size_t cols, const float *l, const float *t, float *out);
void elbo_row_logsumexp(size_t rows, size_t cols, const float *x, float *y);
}

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

// y += a x: 2 reads + 1 write
void BM_ops_axpy(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t n = size_t(state.range(0));
    FloatBuf x(n, 1.0f), y(n, 0.0f);
    for (auto _ : state) {
        elbo_k()->axpy(n, 1e-3f, x.data(), y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 3);
}

// y = tanh x: 1 read + 1 write
void BM_ops_tanh(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t n = size_t(state.range(0));
    FloatBuf x(n), y(n);
    for (size_t i = 0; i < n; i++)
        x.v[i] = float(i % 1000) * 0.01f - 5.0f;
    for (auto _ : state) {
        elbo_k()->tanh(n, x.data(), y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 2);
}

// y = e^x: 1 read + 1 write
void BM_ops_exp(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t n = size_t(state.range(0));
    FloatBuf x(n), y(n);
    for (size_t i = 0; i < n; i++)
        x.v[i] = float(i % 1000) * 0.02f - 10.0f;
    for (auto _ : state) {
        elbo_k()->exp(n, x.data(), y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 2);
}

// out[r] = sum_c softplus(l) - t l over (n/784, 784): 2 reads (+ R floats out)
void BM_ops_bernoulli_nll(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t rows = size_t(state.range(0)) / kCols + 1, n = rows * kCols;
    FloatBuf l(n), t(n), out(rows);
    for (size_t i = 0; i < n; i++) {
        l.v[i] = float(i % 97) * 0.2f - 9.7f;
        t.v[i] = float(i % 2);
    }
    for (auto _ : state) {
        elbo_k()->bernoulli_nll(rows, kCols, l.data(), t.data(), out.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 2);
}

// Adam: g read; m, v, w read and written: 7 array passes
void BM_ops_adam(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t n = size_t(state.range(0));
    FloatBuf g(n, 0.01f), m(n), v(n), w(n, 1.0f);
    for (auto _ : state) {
        elbo_k()->adam(n, 1e-3f, 0.9f, 0.999f, 1e-8f, g.data(), m.data(), v.data(), w.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 7);
}

// y[r] = logsumexp of row r of (n/784, 784): x read from memory once (max, then sum in L1)
void BM_ops_row_logsumexp(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t rows = size_t(state.range(0)) / kCols + 1, n = rows * kCols;
    FloatBuf x(n), y(rows);
    for (size_t i = 0; i < n; i++)
        x.v[i] = float(i % 101) * 0.1f - 5.0f;
    for (auto _ : state) {
        elbo_k()->row_logsumexp(rows, kCols, x.data(), y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, int64_t(n), 1);
}

// sum of x in double: 1 read
void BM_ops_sum(benchmark::State &state)
{
    elbo_bench_setup();
    const size_t n = size_t(state.range(0));
    FloatBuf x(n, 0.5f);
    for (auto _ : state)
        benchmark::DoNotOptimize(elbo_k()->sum(n, x.data()));
    set_bytes(state, int64_t(n), 1);
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
BENCHMARK(BM_ops_axpy)->Arg(kSmall)->Arg(kLarge);
BENCHMARK(BM_ops_tanh)->Arg(kSmall)->Arg(kLarge);
BENCHMARK(BM_ops_exp)->Arg(kSmall)->Arg(kLarge);
BENCHMARK(BM_ops_bernoulli_nll)->Arg(kSmall)->Arg(kLarge);
BENCHMARK(BM_ops_adam)->Arg(kSmall)->Arg(kLarge);
BENCHMARK(BM_ops_row_logsumexp)->Arg(kSmall)->Arg(kLarge);
BENCHMARK(BM_ops_sum)->Arg(kSmall)->Arg(kLarge);
