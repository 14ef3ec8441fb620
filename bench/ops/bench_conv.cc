// Every convolution of the 28x28 conv VAE (batch 128, NHWC), each pass on its
// own: conv/<layer>/<pass>, pass = fwd (y = col(x) W), dgrad (dx = col2im(dy
// W^T)) or wgrad (dW = col(x)^T dy). A transposed convolution runs the same
// three products with the roles of fwd and dgrad swapped (ops/conv.h), so its
// "fwd" row times elbo_conv2d_dgrad on its geometry.
//
// Counters: GFLOPS = 2 * rows * cols * cout per call (the im2col GEMM's flops,
// the same for the three passes), and peak_frac = GFLOPS over the FMA peak
// this process measured at the current SIMD level (BM_fma_peak prints it).
// Wall-clock rates throughout: the pool's threads do the work at 2 threads,
// and the peak is timed the same way.
// bench/conv_vs_torch.sh runs the same layers through PyTorch in the same run.
#include "../shim.h"

#include <chrono>
#include <cstdint>
#include <string>

extern "C" {
#include "ops/conv.h"
}

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace {

constexpr int kBatch = 128;

// ---- the machine's FMA peak at the current level, one thread ----
// kChains independent accumulators hide the FMA latency (4 cycles) at two
// FMA pipes; each step is one FMA per chain.
constexpr int kChains = 12;
constexpr long kSteps = 1L << 22;

#if defined(__x86_64__)
__attribute__((target("avx512f"), noinline)) double fma_flops_avx512(long steps)
{
    __m512 acc[kChains], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < kChains; c++) acc[c] = _mm512_set1_ps(float(c));
    for (long s = 0; s < steps; s++)
        for (int c = 0; c < kChains; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    float lanes[16], sink = 0.0f;
    for (int c = 0; c < kChains; c++) {
        _mm512_storeu_ps(lanes, acc[c]);
        for (float l : lanes) sink += l;
    }
    benchmark::DoNotOptimize(sink);
    return 2.0 * 16 * kChains * double(steps);
}
__attribute__((target("avx2,fma"), noinline)) double fma_flops_avx2(long steps)
{
    __m256 acc[kChains], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < kChains; c++) acc[c] = _mm256_set1_ps(float(c));
    for (long s = 0; s < steps; s++)
        for (int c = 0; c < kChains; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float lanes[8], sink = 0.0f;
    for (int c = 0; c < kChains; c++) {
        _mm256_storeu_ps(lanes, acc[c]);
        for (float l : lanes) sink += l;
    }
    benchmark::DoNotOptimize(sink);
    return 2.0 * 8 * kChains * double(steps);
}
#elif defined(__aarch64__)
__attribute__((noinline)) double fma_flops_neon(long steps)
{
    float32x4_t acc[kChains], a = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f);
    for (int c = 0; c < kChains; c++) acc[c] = vdupq_n_f32(float(c));
    for (long s = 0; s < steps; s++)
        for (int c = 0; c < kChains; c++) acc[c] = vfmaq_f32(b, acc[c], a);
    float sink = 0.0f;
    for (int c = 0; c < kChains; c++) sink += vaddvq_f32(acc[c]);
    benchmark::DoNotOptimize(sink);
    return 2.0 * 4 * kChains * double(steps);
}
#endif

// flops of one peak run at the current level (scalar: one FMA per chain)
double fma_flops(long steps)
{
    switch (elbo_simd_current()) {
#if defined(__x86_64__)
    case ELBO_SIMD_AVX512: return fma_flops_avx512(steps);
    case ELBO_SIMD_AVX2: return fma_flops_avx2(steps);
#elif defined(__aarch64__)
    case ELBO_SIMD_NEON: return fma_flops_neon(steps);
#endif
    default: {
        volatile float acc[kChains] = {0};
        for (long s = 0; s < steps / 16; s++)
            for (int c = 0; c < kChains; c++) acc[c] = acc[c] * 0.999999f + 1e-7f;
        return 2.0 * kChains * double(steps / 16);
    }
    }
}

// GFLOP/s, the best of five runs, measured once per process
double fma_peak_gflops()
{
    static double peak = 0.0;
    if (peak == 0.0) {
        for (int r = 0; r < 5; r++) {
            auto t0 = std::chrono::steady_clock::now();
            double flops = fma_flops(kSteps);
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (flops / s * 1e-9 > peak) peak = flops / s * 1e-9;
        }
    }
    return peak;
}

void BM_fma_peak(benchmark::State &state)
{
    elbo_bench_setup();
    double flops = 0.0;
    for (auto _ : state) flops += fma_flops(kSteps);
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
}

// ---- the conv VAE's convolutions ----
enum Pass { FWD, DGRAD, WGRAD };

struct Layer {
    const char *name;
    bool transposed;
    int h, w, cin, cout; // input image and channels of the layer as the model sees it
};

// 28x28x1 -> conv 32 -> 14x14x32 -> conv 64 -> 7x7x64; decoder mirrored with
// transposed convolutions; all k4 s2 p1
const Layer kLayers[] = {
    {"enc1", false, 28, 28, 1, 32},
    {"enc2", false, 14, 14, 32, 64},
    {"dec1", true, 7, 7, 64, 32},
    {"dec2", true, 14, 14, 32, 1},
};

void fill(FloatBuf &b, uint64_t seed)
{
    for (auto &x : b.v) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x = float((seed >> 40) * (1.0 / 16777216.0)) - 0.5f;
    }
}

void bench_conv(benchmark::State &state, const Layer &l, Pass pass)
{
    elbo_bench_setup();
    elbo_conv2d_geom g;
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(2, 1);
    elbo_status st = l.transposed ? elbo_conv_transpose2d_geom_init(&g, kBatch, l.h, l.w, l.cin, 4, 4, l.cout, &o)
                                  : elbo_conv2d_geom_init(&g, kBatch, l.h, l.w, l.cin, 4, 4, l.cout, &o);
    if (st != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    // the geometry's "input" is the convolution's: the transposed layer's output
    size_t rows = elbo_conv2d_rows(&g), cols = elbo_conv2d_cols(&g);
    FloatBuf x(size_t(g.n) * g.h * g.w * g.cin), w(cols * size_t(g.cout)), y(rows * size_t(g.cout)),
        scratch(elbo_conv2d_scratch(&g));
    fill(x, 1);
    fill(w, 2);
    fill(y, 3);
    // the product that implements the pass on this geometry
    bool product_fwd = (pass == FWD) != l.transposed && pass != WGRAD;
    for (auto _ : state) {
        if (pass == WGRAD)
            elbo_conv2d_wgrad(&g, x.data(), y.data(), 0.0f, w.data(), scratch.data(), scratch.size());
        else if (product_fwd)
            elbo_conv2d_fwd(&g, x.data(), w.data(), 0.0f, y.data(), scratch.data(), scratch.size());
        else
            elbo_conv2d_dgrad(&g, y.data(), w.data(), x.data(), scratch.data(), scratch.size());
        benchmark::ClobberMemory();
    }
    double flops = 2.0 * double(rows) * double(cols) * double(g.cout);
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9 * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
    state.counters["peak_frac"] = benchmark::Counter(flops * 1e-9 * double(state.iterations()) / fma_peak_gflops(),
                                                     benchmark::Counter::kIsRate);
}

// ---- the layout question: the same forward in NCHW, as Caffe lowers it ----
// Per image: col (Cin*KH*KW, OH*OW) gathered with stride, then one GEMM
// W (Cout, Cin*KH*KW) . col -> y (Cout, OH*OW), already NCHW. Versus NHWC's
// one GEMM over the whole batch (rows N*OH*OW) on contiguous runs of KW*Cin.
// conv_nchw/<layer>/fwd times the forward of the plain convolutions this way.
void im2col_nchw(const float *x, int cin, int h, int w, int oh, int ow, float *col)
{
    for (int c = 0; c < cin; c++)
        for (int ky = 0; ky < 4; ky++)
            for (int kx = 0; kx < 4; kx++, col += size_t(oh) * ow)
                for (int y = 0; y < oh; y++) {
                    int iy = 2 * y - 1 + ky;
                    for (int xo = 0; xo < ow; xo++) {
                        int ix = 2 * xo - 1 + kx;
                        bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                        col[size_t(y) * ow + xo] = in ? x[(size_t(c) * h + iy) * w + ix] : 0.0f;
                    }
                }
}

void bench_conv_nchw(benchmark::State &state, const Layer &l)
{
    elbo_bench_setup();
    int oh = l.h / 2, ow = l.w / 2, k = 16 * l.cin;
    size_t img = size_t(l.cin) * l.h * l.w, pix = size_t(oh) * ow;
    FloatBuf x(kBatch * img), w(size_t(l.cout) * k), y(kBatch * pix * l.cout), col(size_t(k) * pix);
    fill(x, 1);
    fill(w, 2);
    for (auto _ : state) {
        for (int n = 0; n < kBatch; n++) {
            im2col_nchw(x.data() + n * img, l.cin, l.h, l.w, oh, ow, col.data());
            elbo_gemm(false, false, size_t(l.cout), pix, size_t(k), w.data(), size_t(k), col.data(), pix, 0.0f,
                      y.data() + n * pix * l.cout, pix);
        }
        benchmark::ClobberMemory();
    }
    double flops = 2.0 * kBatch * double(pix) * k * l.cout;
    state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9 * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

int register_all()
{
    static const char *pass_names[] = {"fwd", "dgrad", "wgrad"};
    for (const Layer &l : kLayers)
        for (int p = FWD; p <= WGRAD; p++)
            benchmark::RegisterBenchmark((std::string("conv/") + l.name + "/" + pass_names[p]).c_str(),
                                         [&l, p](benchmark::State &s) { bench_conv(s, l, Pass(p)); })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
    for (const Layer &l : kLayers)
        if (!l.transposed)
            benchmark::RegisterBenchmark((std::string("conv_nchw/") + l.name + "/fwd").c_str(),
                                         [&l](benchmark::State &s) { bench_conv_nchw(s, l); })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
    benchmark::RegisterBenchmark("fma_peak", BM_fma_peak)->Unit(benchmark::kMillisecond)->UseRealTime();
    return 0;
}

const int registered = register_all();

} // namespace
