// VAE training-step benchmarks: the whole per-minibatch cost of the default
// model (784-400-20 ReLU, Bernoulli, batch 128, Adam) through the trainer,
// i.e. gather + forward + backward + guard + Adam, on synthetic [0,1] data.
//
//   vae_step/T            one training step at T threads
//   vae_eval/T            a no-grad evaluation chunk of 1000 rows at T threads
// Counters: GFLOPS (the five large GEMMs' 2·M·N·K, the rest ignored) and
// epoch_s, the implied seconds per Fashion-MNIST epoch (469 steps).
#include "../shim.h"

#include <cmath>
#include <cstdint>

extern "C" {
#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "models/vae/vae_train.h"
}

namespace {

constexpr int kD = 784, kH = 400, kZ = 20, kB = 128;
constexpr size_t kN = 2560; // examples in the synthetic set (20 steps per epoch)

struct Setup {
    elbo_dataset ds{};
    elbo_vae m{};
    elbo_vae_trainer tr{};
    bool ok = false;
    Setup()
    {
        std::vector<float> x(kN * kD);
        uint64_t s = 0x2545F4914F6CDD1Dull;
        for (auto &v : x) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v = (float)((s >> 40) * (1.0 / 16777216.0));
        }
        if (elbo_dataset_from_arrays(x.data(), nullptr, kN, 28, 28, 0, &ds) != ELBO_OK)
            return;
        elbo_vae_config c = elbo_vae_config_default();
        elbo_rng r;
        elbo_rng_seed(&r, 1);
        if (elbo_vae_create(&m, &c, &r) != ELBO_OK)
            return;
        elbo_vae_train_config tc{};
        tc.batch = kB;
        tc.adam.lr = 1e-3f;
        tc.adam.beta1 = 0.9f;
        tc.adam.beta2 = 0.999f;
        tc.adam.eps = 1e-8f;
        tc.beta = 1.0f;
        tc.mc_samples = 1;
        tc.seed = 1;
        ok = elbo_vae_trainer_init(&tr, &m, &ds, &tc) == ELBO_OK;
    }
    ~Setup()
    {
        elbo_vae_trainer_free(&tr);
        elbo_vae_free(&m);
        elbo_dataset_free(&ds);
    }
};

// Flops of one step in the five big GEMMs: encoder and decoder forward, the
// two weight gradients and the decoder's dX (the encoder's dX is skipped).
constexpr double kStepFlops = 5.0 * 2.0 * kB * kD * kH;

void vae_step(benchmark::State &state)
{
    elbo_bench_setup();
    int threads = (int)state.range(0);
    if (elbo_set_threads(threads) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    Setup s;
    if (!s.ok) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    bool end;
    for (int i = 0; i < 3; i++) // grow the arena to its high-water mark
        elbo_vae_trainer_step(&s.tr, &end);
    for (auto _ : state) {
        if (elbo_vae_trainer_step(&s.tr, &end) != ELBO_OK) {
            state.SkipWithError(elbo_last_error());
            break;
        }
    }
    state.counters["GFLOPS"] = benchmark::Counter(kStepFlops * 1e-9 * (double)state.iterations(),
                                                  benchmark::Counter::kIsRate);
    state.counters["epoch_s"] = benchmark::Counter((double)state.iterations() / 469.0,
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    elbo_set_threads(1);
}
BENCHMARK(vae_step)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void vae_eval(benchmark::State &state)
{
    elbo_bench_setup();
    int threads = (int)state.range(0);
    if (elbo_set_threads(threads) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    Setup s;
    elbo_tape *t = nullptr;
    if (!s.ok || elbo_tape_create(&t, (size_t)16 << 20) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    elbo_rng r;
    elbo_rng_seed(&r, 2);
    elbo_vae_eval ev;
    for (auto _ : state) {
        if (elbo_vae_evaluate(&s.m, t, reinterpret_cast<const float *>(s.ds.pixels), nullptr, 1000, 1000, &r, &ev) != ELBO_OK) {
            state.SkipWithError(elbo_last_error());
            break;
        }
        benchmark::DoNotOptimize(ev.neg_elbo);
    }
    state.counters["rows_per_s"] = benchmark::Counter(1000.0 * (double)state.iterations(), benchmark::Counter::kIsRate);
    elbo_tape_destroy(t);
    elbo_set_threads(1);
}
BENCHMARK(vae_eval)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

// The optimizer's pass over the 784-400-20 VAE's slabs, the finite check and
// Adam: adam_separate/T sums the gradient in chunks (the trainer's check),
// then steps; adam_checked/T does both per chunk in one pass
// (elbo_adam_step_checked). T threads.
namespace {
struct Slab {
    elbo_params p{};
    Slab()
    {
        static const int shapes[][2] = {{784, 400}, {1, 400}, {400, 40}, {1, 40}, {20, 400}, {1, 400}, {400, 784}, {1, 784}};
        elbo_params_init(&p);
        for (const auto &s : shapes)
            elbo_params_add(&p, "w", s[0], s[1]);
        elbo_params_finalize(&p);
        for (size_t i = 0; i < p.n; i++)
            p.g[i] = 1e-3f * (float)((i * 2654435761u) % 1000) - 0.5f;
    }
    ~Slab() { elbo_params_free(&p); }
};

void adam_pass(benchmark::State &state, bool fused)
{
    elbo_bench_setup();
    elbo_set_threads((int)state.range(0));
    Slab s;
    elbo_adam_config cfg = ELBO_ADAM_DEFAULT;
    for (auto _ : state) {
        if (fused) {
            if (elbo_adam_step_checked(&s.p, &cfg) != ELBO_OK)
                state.SkipWithError(elbo_last_error());
        } else {
            const size_t chunk = 65536; // the trainer's check: chunk sums, then the step
            bool ok = true;
            for (size_t i = 0; i < s.p.n; i += chunk)
                ok &= std::isfinite(elbo_k()->sum(s.p.n - i < chunk ? s.p.n - i : chunk, s.p.g + i));
            if (ok)
                elbo_adam_step(&s.p, &cfg);
        }
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(s.p.n) * 7 * 4); // g, m, v, w in; m, v, w out
    elbo_set_threads(1);
}
void adam_separate(benchmark::State &state) { adam_pass(state, false); }
void adam_checked(benchmark::State &state) { adam_pass(state, true); }
} // namespace
BENCHMARK(adam_separate)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(adam_checked)->Arg(1)->Arg(2)->UseRealTime();
