// GEMM benchmarks: elbo's sgemm at the VAE shapes, and the same shapes through
// OpenBLAS's cblas_sgemm when meson found it, so one run prints both.
//
//   sgemm/M/N/K            the form the VAE uses at that shape: A·B, except the
//                          weight gradient 784/400/128, which is Aᵀ·B
//   sgemm_nt/M/N/K         A·Bᵀ (backward data pass: dX = dY·Wᵀ)
//   sgemm_tn/M/N/K         Aᵀ·B (weight gradients)
//   sgemm_threads/M/N/K/T  sgemm at T threads (1 vs 2 in one run)
//   openblas_<same>        the same call through cblas_sgemm
//   bgemm<same>            the same with bf16 inputs and float32 sums
//                          (elbo_gemm_bf16_at; float32 where the CPU lacks AVX512_BF16)
// Counter GFLOPS = 2·M·N·K per call, as a rate. ELBO_SIMD picks elbo's level,
// ELBO_THREADS the thread count of both libraries.
#include "../shim.h"

#include <cstdint>
#include <string>

#ifdef ELBO_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

namespace {

enum Form { NN, NT, TN };

struct Operands {
    FloatBuf A, B, C;
    Operands(size_t M, size_t N, size_t K) : A(M * K), B(K * N), C(M * N)
    {
        uint64_t s = 0x9E3779B97F4A7C15ull;
        auto next = [&s]() {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            return (float)((s >> 40) * (1.0 / 16777216.0)) - 0.5f;
        };
        for (auto &x : A.v) x = next();
        for (auto &x : B.v) x = next();
    }
};

// the VAE's form at each benchmark shape of `sgemm`
Form vae_form(size_t M, size_t N, size_t K) { return (M == 784 && N == 400 && K == 128) ? TN : NN; }

void set_counters(benchmark::State &st, size_t M, size_t N, size_t K)
{
    st.counters["GFLOPS"] = benchmark::Counter(2.0 * (double)M * (double)N * (double)K * 1e-9 *
                                                   (double)st.iterations(),
                                               benchmark::Counter::kIsRate);
}

void run_elbo(benchmark::State &st, Form f, bool bf16 = false)
{
    elbo_bench_setup();
    size_t M = (size_t)st.range(0), N = (size_t)st.range(1), K = (size_t)st.range(2);
    Operands o(M, N, K);
    bool ta = f == TN, tb = f == NT;
    float beta = f == TN ? 1.0f : 0.0f; // weight gradients accumulate
    for (auto _ : st) {
        if (bf16)
            elbo_gemm_bf16_at(elbo_simd_current(), ta, tb, M, N, K, o.A.data(), ta ? M : K, o.B.data(), tb ? K : N,
                              beta, o.C.data(), N, nullptr);
        else
            elbo_gemm(ta, tb, M, N, K, o.A.data(), ta ? M : K, o.B.data(), tb ? K : N, beta, o.C.data(), N);
        benchmark::DoNotOptimize(o.C.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, M, N, K);
    st.SetLabel(bf16 ? (elbo_gemm_bf16_supported(elbo_simd_current()) ? "bf16" : "bf16 unsupported: fp32")
                     : elbo_simd_name(elbo_simd_current()));
}

void BM_sgemm(benchmark::State &st) { run_elbo(st, vae_form(st.range(0), st.range(1), st.range(2))); }
void BM_sgemm_nt(benchmark::State &st) { run_elbo(st, NT); }
void BM_sgemm_tn(benchmark::State &st) { run_elbo(st, TN); }
// sgemm{,_nt,_tn}_threads/M/N/K/T: that form at T threads (1 vs 2 in one run)
void run_elbo_threads(benchmark::State &st, Form f, bool bf16 = false)
{
    elbo_bench_setup();
    int saved = elbo_threads();
    if (elbo_set_threads((int)st.range(3)) != ELBO_OK) {
        st.SkipWithError(elbo_last_error());
        return;
    }
    run_elbo(st, f, bf16);
    elbo_set_threads(saved);
}
void BM_sgemm_threads(benchmark::State &st) { run_elbo_threads(st, vae_form(st.range(0), st.range(1), st.range(2))); }
void BM_sgemm_nt_threads(benchmark::State &st) { run_elbo_threads(st, NT); }
void BM_sgemm_tn_threads(benchmark::State &st) { run_elbo_threads(st, TN); }

void BM_bgemm(benchmark::State &st) { run_elbo(st, vae_form(st.range(0), st.range(1), st.range(2)), true); }
void BM_bgemm_nt(benchmark::State &st) { run_elbo(st, NT, true); }
void BM_bgemm_tn(benchmark::State &st) { run_elbo(st, TN, true); }
void BM_bgemm_threads(benchmark::State &st)
{
    run_elbo_threads(st, vae_form(st.range(0), st.range(1), st.range(2)), true);
}
void BM_bgemm_nt_threads(benchmark::State &st) { run_elbo_threads(st, NT, true); }
void BM_bgemm_tn_threads(benchmark::State &st) { run_elbo_threads(st, TN, true); }

// gemm_epilogue/M/N/K/P/F: a dense layer's forward y = relu(x·W + b), A·B
// with beta 0, in precision P (0 fp32, 1 bf16): F 0 runs the GEMM, then
// add_bias and relu as passes over y; F 1 fuses bias and relu into the tile
// stores of the bf16 kernel (elbo_gemm_bf16_at's epilogue). The float32
// kernel has no epilogue: in fp32 F 1 runs the same as F 0.
void BM_gemm_epilogue(benchmark::State &st)
{
    elbo_bench_setup();
    size_t M = (size_t)st.range(0), N = (size_t)st.range(1), K = (size_t)st.range(2);
    bool bf16 = st.range(3) != 0, fused = st.range(4) != 0;
    Operands o(M, N, K);
    FloatBuf bias(N, 0.01f);
    elbo_gemm_epilogue ep = {bias.data(), true};
    for (auto _ : st) {
        if (fused && bf16) {
            elbo_gemm_bf16_at(elbo_simd_current(), false, false, M, N, K, o.A.data(), K, o.B.data(), N, 0.0f,
                              o.C.data(), N, &ep);
        } else {
            if (bf16)
                elbo_gemm_bf16_at(elbo_simd_current(), false, false, M, N, K, o.A.data(), K, o.B.data(), N, 0.0f,
                                  o.C.data(), N, nullptr);
            else
                elbo_gemm(false, false, M, N, K, o.A.data(), K, o.B.data(), N, 0.0f, o.C.data(), N);
            elbo_add_bias(M, N, bias.data(), o.C.data());
            elbo_relu(M * N, o.C.data(), o.C.data());
        }
        benchmark::DoNotOptimize(o.C.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, M, N, K);
}

// sgemm_toy/M/N/K/F: one GEMM call of the toy VAE step (batch 64, widths 32,
// latent 1, output 2) in form F (0 A·B, 1 A·Bᵀ with beta 1, 2 Aᵀ·B with beta 1)
void BM_sgemm_toy(benchmark::State &st)
{
    run_elbo(st, st.range(3) == 0 ? NN : st.range(3) == 1 ? NT : TN);
}
// toy_gemm_calls: all 17 GEMM calls of one toy VAE step, back to back
void BM_toy_gemm_calls(benchmark::State &st)
{
    elbo_bench_setup();
    struct Call {
        size_t M, N, K;
        Form f;
    };
    static const Call calls[] = {
        {64, 32, 2, NN},  {64, 32, 32, NN}, {64, 2, 32, NN},  {64, 32, 1, NN},  {64, 32, 32, NN}, {64, 2, 32, NN},
        {64, 32, 2, NT},  {32, 2, 64, TN},  {64, 32, 32, NT}, {32, 32, 64, TN}, {64, 1, 32, NT},  {1, 32, 64, TN},
        {64, 32, 2, NT},  {32, 2, 64, TN},  {64, 32, 32, NT}, {32, 32, 64, TN}, {2, 32, 64, TN},
    };
    FloatBuf A(64 * 64, 0.01f), B(64 * 64, 0.02f), C(64 * 64, 0.0f);
    for (auto _ : st) {
        for (const Call &c : calls) {
            bool ta = c.f == TN, tb = c.f == NT;
            elbo_gemm(ta, tb, c.M, c.N, c.K, A.data(), ta ? c.M : c.K, B.data(), tb ? c.K : c.N, c.f == NN ? 0.0f : 1.0f,
                      C.data(), c.N);
        }
        benchmark::ClobberMemory();
    }
    st.SetLabel(elbo_simd_name(elbo_simd_current()));
}

#ifdef ELBO_HAVE_OPENBLAS
void run_openblas(benchmark::State &st, Form f)
{
    elbo_bench_setup();
    openblas_set_num_threads(elbo_threads());
    int M = (int)st.range(0), N = (int)st.range(1), K = (int)st.range(2);
    Operands o(M, N, K);
    bool ta = f == TN, tb = f == NT;
    float beta = f == TN ? 1.0f : 0.0f;
    for (auto _ : st) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
                    1.0f, o.A.data(), ta ? M : K, o.B.data(), tb ? K : N, beta, o.C.data(), N);
        benchmark::DoNotOptimize(o.C.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, M, N, K);
    st.SetLabel("openblas");
}
void BM_openblas_sgemm(benchmark::State &st) { run_openblas(st, vae_form(st.range(0), st.range(1), st.range(2))); }
void BM_openblas_sgemm_nt(benchmark::State &st) { run_openblas(st, NT); }
void BM_openblas_sgemm_tn(benchmark::State &st) { run_openblas(st, TN); }
void BM_openblas_sgemm_threads(benchmark::State &st)
{
    elbo_bench_setup();
    int saved = elbo_threads();
    elbo_set_threads((int)st.range(3)); // run_openblas follows elbo_threads()
    run_openblas(st, vae_form(st.range(0), st.range(1), st.range(2)));
    elbo_set_threads(saved);
}
#endif

// Registration: per shape, elbo then OpenBLAS, so the two run next to each
// other (bench/gemm_table.sh also interleaves repetitions at random).
struct Shape {
    const char *name;
    void (*elbo)(benchmark::State &);
    void (*blas)(benchmark::State &);
    int64_t M, N, K;
};
#ifdef ELBO_HAVE_OPENBLAS
#define BLAS(f) f
#else
#define BLAS(f) nullptr
#endif
// VAE 784-400-20 at batch 128 (encoder, decoder, latent heads, weight
// gradient), the large square, and small-M shapes (batch 16 and 1)
const Shape shapes[] = {
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 128, 400, 784},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 128, 784, 400},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 128, 40, 400},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 784, 400, 128},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 1024, 1024, 1024},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 16, 400, 784},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 1, 400, 784},
    {"sgemm", BM_sgemm, BLAS(BM_openblas_sgemm), 128, 400, 20},
    {"sgemm_nt", BM_sgemm_nt, BLAS(BM_openblas_sgemm_nt), 128, 784, 400},
    {"sgemm_nt", BM_sgemm_nt, BLAS(BM_openblas_sgemm_nt), 128, 400, 784},
    {"sgemm_nt", BM_sgemm_nt, BLAS(BM_openblas_sgemm_nt), 128, 400, 40},
    {"sgemm_tn", BM_sgemm_tn, BLAS(BM_openblas_sgemm_tn), 400, 784, 128},
    {"sgemm_tn", BM_sgemm_tn, BLAS(BM_openblas_sgemm_tn), 400, 40, 128},
    {"sgemm_nt", BM_sgemm_nt, BLAS(BM_openblas_sgemm_nt), 128, 20, 400},
    {"sgemm_tn", BM_sgemm_tn, BLAS(BM_openblas_sgemm_tn), 20, 400, 128},
};

int register_all()
{
    for (const Shape &s : shapes) {
        benchmark::RegisterBenchmark(s.name, s.elbo)->Args({s.M, s.N, s.K})->UseRealTime();
        std::string name(s.name);
        auto bf = name == "sgemm" ? BM_bgemm : name == "sgemm_nt" ? BM_bgemm_nt : BM_bgemm_tn;
        benchmark::RegisterBenchmark(("b" + name.substr(1)).c_str(), bf)->Args({s.M, s.N, s.K})->UseRealTime();
        if (s.blas)
            benchmark::RegisterBenchmark((std::string("openblas_") + s.name).c_str(), s.blas)
                ->Args({s.M, s.N, s.K})
                ->UseRealTime();
    }
    static const int64_t toy[][4] = {{64, 32, 2, 0}, {64, 2, 32, 0}, {64, 32, 1, 0}, {64, 32, 32, 0}, {64, 32, 2, 1},
                                     {64, 1, 32, 1},  {64, 32, 32, 1}, {32, 2, 64, 2}, {1, 32, 64, 2}, {2, 32, 64, 2},
                                     {32, 32, 64, 2}};
    for (const auto &t : toy)
        benchmark::RegisterBenchmark("sgemm_toy", BM_sgemm_toy)->Args({t[0], t[1], t[2], t[3]});
    benchmark::RegisterBenchmark("toy_gemm_calls", BM_toy_gemm_calls);
    for (int64_t prec : {0, 1})
        for (int64_t fused : {0, 1})
            for (const auto &sh : {std::vector<int64_t>{128, 400, 784}, std::vector<int64_t>{128, 400, 20},
                                   std::vector<int64_t>{128, 40, 400}})
                benchmark::RegisterBenchmark("gemm_epilogue", BM_gemm_epilogue)
                    ->Args({sh[0], sh[1], sh[2], prec, fused})
                    ->UseRealTime();
    // 1 vs 2 threads at the VAE's batch of 128 (not the batch-16 and -1 rows)
    for (const Shape &s : shapes) {
        std::string name(s.name);
        if (name == "sgemm" && s.M < 128)
            continue;
        auto fn = name == "sgemm" ? BM_sgemm_threads : name == "sgemm_nt" ? BM_sgemm_nt_threads : BM_sgemm_tn_threads;
        for (int64_t t : {1, 2}) {
            benchmark::RegisterBenchmark((name + "_threads").c_str(), fn)->Args({s.M, s.N, s.K, t})->UseRealTime();
            auto bfn = name == "sgemm" ? BM_bgemm_threads : name == "sgemm_nt" ? BM_bgemm_nt_threads : BM_bgemm_tn_threads;
            benchmark::RegisterBenchmark(("b" + name.substr(1) + "_threads").c_str(), bfn)
                ->Args({s.M, s.N, s.K, t})
                ->UseRealTime();
#ifdef ELBO_HAVE_OPENBLAS
            if (name == "sgemm")
                benchmark::RegisterBenchmark("openblas_sgemm_threads", BM_openblas_sgemm_threads)
                    ->Args({s.M, s.N, s.K, t})
                    ->UseRealTime();
#endif
        }
    }
    return 0;
}
const int registered = register_all();

} // namespace
