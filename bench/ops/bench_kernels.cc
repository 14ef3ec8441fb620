// One benchmark per kernel of ops/kernels/list.h, generated from its entry:
// ops_<name>/<floats> runs the kernel on the current level's table (elbo_k();
// the level comes from ELBO_SIMD), one thread, on arrays of about <floats>
// floats shaped by its signature class (below). Bytes/s counts each array of
// the call once at its size (an array the kernel accumulates into is read and
// written, so its true traffic is higher). Inputs are a ramp over the
// kernel's domain repeating every 1000 floats (an activation's domain from
// its list entry, else [-1, 1]), so every branch of a kernel runs.
#include "../shim.h"

#include <cstdint>

namespace {

constexpr int64_t kSmall = 1 << 12;  // in L1/L2: compute-bound
constexpr int64_t kMedium = 1 << 20; // 4 MiB per array: in L3
constexpr int64_t kLarge = 1 << 24;  // 64 MiB per array: memory-bound
constexpr size_t kCols = 784;        // row kernels: Fashion-MNIST rows (28x28)
constexpr size_t kClasses = 256;     // categorical: 256 values per pixel

struct Domain {
    float lo, hi;
};

Domain domain_of(int id)
{
    switch (id) {
#define ACT_DOMAIN_(ID, name, reads, np, pname, lo, hi, atol, rtol, _) \
    case ELBO_KERNEL_##name:                                             \
    case ELBO_KERNEL_##name##_bwd:                                       \
        return {lo, hi};
        ELBO_ACTIVATIONS(ACT_DOMAIN_, _)
    default:
        return {-1.0f, 1.0f};
    }
}

void ramp(FloatBuf &b, Domain d)
{
    for (size_t i = 0; i < b.size(); i++)
        b.v[i] = d.lo + (d.hi - d.lo) * float(i % 1000) / 1000.0f;
}

template <typename F> F slot(int id)
{
    return reinterpret_cast<F>(elbo_kernel_slot(elbo_k(), static_cast<enum elbo_kernel_id>(id)));
}

void set_bytes(benchmark::State &state, size_t floats)
{
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(floats) * int64_t(sizeof(float)));
}

#define LOOP(call)                    \
    for (auto _ : state) {            \
        call;                         \
        benchmark::ClobberMemory();   \
    }

// ---- elementwise classes: n floats per array ----
void bench_EW1(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf x(n), y(n);
    ramp(x, domain_of(id));
    auto f = slot<void (*)(size_t, const float *, float *)>(id);
    LOOP(f(n, x.data(), y.data()));
    set_bytes(state, 2 * n);
}
void bench_EW2(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf a(n), b(n), y(n);
    ramp(a, domain_of(id));
    ramp(b, {-1.0f, 1.0f});
    auto f = slot<void (*)(size_t, const float *, const float *, float *)>(id);
    LOOP(f(n, a.data(), b.data(), y.data()));
    set_bytes(state, 3 * n);
}
void bench_EWS1(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf x(n), y(n);
    ramp(x, domain_of(id));
    auto f = slot<void (*)(size_t, float, const float *, float *)>(id);
    LOOP(f(n, 0.2f, x.data(), y.data()));
    set_bytes(state, 2 * n);
}
void bench_EWS2(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf a(n), b(n), y(n);
    ramp(a, domain_of(id));
    ramp(b, {-1.0f, 1.0f});
    auto f = slot<void (*)(size_t, float, const float *, const float *, float *)>(id);
    LOOP(f(n, 0.2f, a.data(), b.data(), y.data()));
    set_bytes(state, 3 * n);
}
void bench_EW3(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf a(n), b(n), c(n), y(n);
    ramp(a, domain_of(id));
    ramp(b, {-2.0f, 1.0f});
    ramp(c, {-1.0f, 1.0f});
    auto f = slot<void (*)(size_t, const float *, const float *, const float *, float *)>(id);
    LOOP(f(n, a.data(), b.data(), c.data(), y.data()));
    set_bytes(state, 4 * n);
}
void bench_EW3X2(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf a(n), b(n), c(n), y(n), z(n);
    ramp(a, {-2.0f, 1.0f});
    ramp(b, {-1.0f, 1.0f});
    ramp(c, {-1.0f, 1.0f});
    auto f = slot<void (*)(size_t, const float *, const float *, const float *, float *, float *)>(id);
    LOOP(f(n, a.data(), b.data(), c.data(), y.data(), z.data()));
    set_bytes(state, 5 * n);
}
void bench_ADAM(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf g(n, 0.01f), m(n), v(n), w(n, 1.0f);
    auto f = slot<void (*)(size_t, float, float, float, float, const float *, float *, float *, float *)>(id);
    LOOP(f(n, 1e-3f, 0.9f, 0.999f, 1e-8f, g.data(), m.data(), v.data(), w.data()));
    set_bytes(state, 4 * n);
}
void bench_SGD(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf g(n, 0.01f), u(n), w(n, 1.0f);
    auto f = slot<void (*)(size_t, float, float, const float *, float *, float *)>(id);
    LOOP(f(n, 1e-3f, 0.9f, g.data(), u.data(), w.data()));
    set_bytes(state, 3 * n);
}
void bench_SUM(benchmark::State &state, int id)
{
    size_t n = size_t(state.range(0));
    FloatBuf x(n, 0.5f);
    auto f = slot<double (*)(size_t, const float *)>(id);
    for (auto _ : state)
        benchmark::DoNotOptimize(f(n, x.data()));
    set_bytes(state, n);
}

// ---- row classes: (n/784 + 1) rows of 784 ----
size_t rows_of(benchmark::State &state, size_t cols) { return size_t(state.range(0)) / cols + 1; }

void bench_BIAS(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols);
    FloatBuf b(kCols, 0.25f), y(R * kCols, 0.5f);
    auto f = slot<void (*)(size_t, size_t, const float *, float *)>(id);
    LOOP(f(R, kCols, b.data(), y.data()));
    set_bytes(state, R * kCols + kCols);
}
void bench_COLRED(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols);
    FloatBuf x(R * kCols), y(kCols);
    ramp(x, domain_of(id));
    auto f = slot<void (*)(size_t, size_t, const float *, float *)>(id);
    LOOP(f(R, kCols, x.data(), y.data()));
    set_bytes(state, R * kCols + kCols);
}
void bench_ROWRED(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols);
    FloatBuf x(R * kCols), y(R);
    ramp(x, {-5.0f, 5.0f});
    auto f = slot<void (*)(size_t, size_t, const float *, float *)>(id);
    LOOP(f(R, kCols, x.data(), y.data()));
    set_bytes(state, R * kCols);
}
void bench_LOSS2(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf a(n), b(n), out(R);
    ramp(a, {-9.7f, 9.7f});
    for (size_t i = 0; i < n; i++)
        b.v[i] = float(i % 2);
    auto f = slot<void (*)(size_t, size_t, const float *, const float *, float *)>(id);
    LOOP(f(R, kCols, a.data(), b.data(), out.data()));
    set_bytes(state, 2 * n);
}
void bench_LOSS2_BWD(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf a(n), b(n), drow(R, 1.0f / float(R)), da(n);
    ramp(a, {-9.7f, 9.7f});
    for (size_t i = 0; i < n; i++)
        b.v[i] = float(i % 2);
    auto f = slot<void (*)(size_t, size_t, const float *, const float *, const float *, float *)>(id);
    LOOP(f(R, kCols, a.data(), b.data(), drow.data(), da.data()));
    set_bytes(state, 3 * n);
}
void bench_LOSS2_BWD2(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf a(n), b(n), drow(R, 1.0f / float(R)), da(n), db(n);
    ramp(a, {-2.0f, 2.0f});
    ramp(b, {-2.0f, 1.0f});
    auto f = slot<void (*)(size_t, size_t, const float *, const float *, const float *, float *, float *)>(id);
    LOOP(f(R, kCols, a.data(), b.data(), drow.data(), da.data(), db.data()));
    set_bytes(state, 4 * n);
}
void bench_GAUSS(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf m(n), x(n), lv(kCols, -1.0f), out(R);
    ramp(m, {-1.0f, 1.0f});
    ramp(x, {-0.5f, 0.5f});
    auto f = slot<void (*)(size_t, size_t, const float *, const float *, const float *, float *)>(id);
    LOOP(f(R, kCols, m.data(), x.data(), lv.data(), out.data()));
    set_bytes(state, 2 * n);
}
void bench_GAUSS_BWD(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf m(n), x(n), lv(kCols, -1.0f), drow(R, 1.0f / float(R)), dm(n), dlv(kCols);
    ramp(m, {-1.0f, 1.0f});
    ramp(x, {-0.5f, 0.5f});
    auto f = slot<void (*)(size_t, size_t, const float *, const float *, const float *, const float *, float *,
                           float *)>(id);
    LOOP(f(R, kCols, m.data(), x.data(), lv.data(), drow.data(), dm.data(), dlv.data()));
    set_bytes(state, 3 * n);
}

// ---- categorical: (n/256 + 1) positions of 256 classes ----
std::vector<int32_t> labels_for(size_t R)
{
    std::vector<int32_t> lab(R);
    for (size_t r = 0; r < R; r++)
        lab[r] = int32_t((r * 37) % kClasses);
    return lab;
}
void bench_LABELS(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kClasses), n = R * kClasses;
    FloatBuf l(n), out(R);
    ramp(l, {-5.0f, 5.0f});
    std::vector<int32_t> lab = labels_for(R);
    auto f = slot<void (*)(size_t, size_t, const float *, const int32_t *, float *)>(id);
    LOOP(f(R, kClasses, l.data(), lab.data(), out.data()));
    set_bytes(state, n);
}
void bench_LABELS_BWD(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kClasses), n = R * kClasses;
    FloatBuf l(n), drow(R, 1.0f / float(R)), dl(n);
    ramp(l, {-5.0f, 5.0f});
    std::vector<int32_t> lab = labels_for(R);
    auto f = slot<void (*)(size_t, size_t, const float *, const int32_t *, const float *, float *)>(id);
    LOOP(f(R, kClasses, l.data(), lab.data(), drow.data(), dl.data()));
    set_bytes(state, 2 * n);
}

// ---- softmax: (n/784 + 1) rows of 784 along the row ----
void bench_AXIS(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf x(n), y(n);
    ramp(x, {-5.0f, 5.0f});
    auto f = slot<void (*)(size_t, size_t, size_t, const float *, float *)>(id);
    LOOP(f(R, kCols, 1, x.data(), y.data()));
    set_bytes(state, 2 * n);
}
void bench_AXIS_BWD(benchmark::State &state, int id)
{
    size_t R = rows_of(state, kCols), n = R * kCols;
    FloatBuf y(n), dy(n), dx(n);
    ramp(y, {-5.0f, 0.0f});
    ramp(dy, {-1.0f, 1.0f});
    auto f = slot<void (*)(size_t, size_t, size_t, const float *, const float *, float *)>(id);
    LOOP(f(R, kCols, 1, y.data(), dy.data(), dx.data()));
    set_bytes(state, 3 * n);
}

// ---- normalization: samples of 8x8 pixels by 32 channels in 8 groups ----
constexpr size_t kNormHw = 64, kNormC = 32, kNormGroups = 8;
void bench_NORM(benchmark::State &state, int id)
{
    size_t S = rows_of(state, kNormHw * kNormC), n = S * kNormHw * kNormC;
    FloatBuf x(n), y(n), gamma(kNormC, 1.0f), beta(kNormC), stats(S * kNormGroups * 2);
    ramp(x, {-2.0f, 2.0f});
    auto f = slot<void (*)(size_t, size_t, size_t, size_t, float, const float *, const float *, const float *, float *,
                           float *)>(id);
    LOOP(f(S, kNormHw, kNormC, kNormGroups, 1e-5f, x.data(), gamma.data(), beta.data(), y.data(), stats.data()));
    set_bytes(state, 2 * n);
}
void bench_NORM_BWD(benchmark::State &state, int id)
{
    size_t S = rows_of(state, kNormHw * kNormC), n = S * kNormHw * kNormC;
    FloatBuf x(n), dy(n), dx(n), gamma(kNormC, 1.0f), stats(S * kNormGroups * 2, 1.0f), csum(S * 2 * kNormC);
    ramp(x, {-2.0f, 2.0f});
    ramp(dy, {-1.0f, 1.0f});
    auto f = slot<void (*)(size_t, size_t, size_t, size_t, const float *, const float *, const float *, const float *,
                           float *, float *)>(id);
    LOOP(f(S, kNormHw, kNormC, kNormGroups, x.data(), gamma.data(), stats.data(), dy.data(), dx.data(), csum.data()));
    set_bytes(state, 3 * n);
}

// ---- windows: 28x28 images of 32 channels pooled 2x2, or 14x14 upsampled by 2 ----
elbo_window2d window_for(int id, size_t floats)
{
    bool up = id == ELBO_KERNEL_upsample2d || id == ELBO_KERNEL_upsample2d_bwd;
    elbo_window2d g = {};
    g.c = 32, g.k = 2, g.stride = 2;
    g.h = g.w = up ? 14 : 28;
    g.oh = g.ow = up ? 28 : 14;
    g.n = int(floats / (28 * 28 * 32) + 1);
    return g;
}
void bench_WIN(benchmark::State &state, int id)
{
    elbo_window2d g = window_for(id, size_t(state.range(0)));
    size_t in = size_t(g.n) * elbo_window2d_in_image(&g), out = size_t(g.n) * elbo_window2d_out_image(&g);
    FloatBuf x(in), y(out);
    ramp(x, domain_of(id));
    auto f = slot<void (*)(const elbo_window2d *, const float *, float *)>(id);
    LOOP(f(&g, x.data(), y.data()));
    set_bytes(state, in + out);
}
void bench_WIN_BWD(benchmark::State &state, int id)
{
    elbo_window2d g = window_for(id, size_t(state.range(0)));
    size_t in = size_t(g.n) * elbo_window2d_in_image(&g), out = size_t(g.n) * elbo_window2d_out_image(&g);
    FloatBuf dy(out), dx(in);
    ramp(dy, domain_of(id));
    auto f = slot<void (*)(const elbo_window2d *, const float *, float *)>(id);
    LOOP(f(&g, dy.data(), dx.data()));
    set_bytes(state, in + out);
}

// ---- im2col pair: the conv VAE's second convolution, 14x14x32 images, k4 s2 p1 ----
void bench_COL(benchmark::State &state, int id)
{
    elbo_conv2d_geom g;
    elbo_conv2d_opts o = ELBO_CONV2D_OPTS(2, 1);
    int n = int(size_t(state.range(0)) / (14 * 14 * 32) + 1);
    if (elbo_conv2d_geom_init(&g, n, 14, 14, 32, 4, 4, 64, &o) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    size_t in = size_t(n) * 14 * 14 * 32, rows = elbo_conv2d_rows(&g), col = rows * elbo_conv2d_cols(&g);
    bool to_col = id == ELBO_KERNEL_im2col;
    FloatBuf a(to_col ? in : col), b(to_col ? col : in);
    ramp(a, domain_of(id));
    auto f = slot<void (*)(const elbo_conv2d_geom *, size_t, size_t, const float *, float *)>(id);
    LOOP(f(&g, 0, rows, a.data(), b.data()));
    set_bytes(state, in + col);
}

// arguments per class: sizes in floats
#define ARGS_FLAT ->Arg(kSmall)->Arg(kLarge)
#define ARGS_EW1 ARGS_FLAT
#define ARGS_EW2 ARGS_FLAT
#define ARGS_EWS1 ARGS_FLAT
#define ARGS_EWS2 ARGS_FLAT
#define ARGS_EW3 ARGS_FLAT
#define ARGS_EW3X2 ARGS_FLAT
#define ARGS_ADAM ARGS_FLAT
#define ARGS_SGD ARGS_FLAT
#define ARGS_SUM ARGS_FLAT
#define ARGS_BIAS ARGS_FLAT
#define ARGS_COLRED ARGS_FLAT
#define ARGS_ROWRED ARGS_FLAT
#define ARGS_LOSS2 ARGS_FLAT
#define ARGS_LOSS2_BWD ARGS_FLAT
#define ARGS_LOSS2_BWD2 ARGS_FLAT
#define ARGS_GAUSS ARGS_FLAT
#define ARGS_GAUSS_BWD ARGS_FLAT
#define ARGS_LABELS ->Arg(kSmall)->Arg(kMedium)
#define ARGS_LABELS_BWD ARGS_LABELS
#define ARGS_AXIS ARGS_LABELS
#define ARGS_AXIS_BWD ARGS_LABELS
#define ARGS_NORM ARGS_LABELS
#define ARGS_NORM_BWD ARGS_LABELS
#define ARGS_WIN ->Arg(kMedium)
#define ARGS_WIN_BWD ARGS_WIN
#define ARGS_COL ->Arg(kMedium)

int register_all()
{
#define REGISTER_(name, cls)                                                                                 \
    benchmark::RegisterBenchmark("ops_" #name, [](benchmark::State &state) {                                  \
        elbo_bench_setup();                                                                                  \
        bench_##cls(state, ELBO_KERNEL_##name);                                                              \
    }) ARGS_##cls;
    ELBO_KERNELS(REGISTER_)
    return 0;
}

const int registered = register_all();

} // namespace
