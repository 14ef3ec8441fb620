// vae_toy_step: one training step of the toy VAE (models/toy_vae.h) on one
// thread: tape reset, zero_grad, forward, backward, Adam. The batch is fixed
// (data generation is not part of the step); the reparameterization noise is
// drawn inside the step, as in PyTorch's torch.randn_like.
// Compare with bench/torch_toy_step.py (the same model and step in PyTorch).
#include "../shim.h"

static void vae_toy_step(benchmark::State &state)
{
    elbo_bench_setup();
    int threads = elbo_threads();
    elbo_set_threads(1);
    elbo_toy_vae m;
    if (elbo_toy_vae_create(&m, 1) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        return;
    }
    elbo_rng data;
    elbo_rng_seed(&data, 2);
    FloatBuf x(ELBO_TOY_BATCH * ELBO_TOY_X_DIM);
    elbo_toy_arc_sample(&data, x.data(), ELBO_TOY_BATCH);
    float loss = 0.0f;
    for (auto _ : state) {
        if (elbo_toy_vae_step(&m, x.data(), ELBO_TOY_BATCH, &loss) != ELBO_OK) {
            state.SkipWithError(elbo_last_error());
            break;
        }
        benchmark::DoNotOptimize(loss);
    }
    state.counters["loss"] = loss;
    state.counters["arena_KiB"] = (double)elbo_tape_arena(m.tape)->high_water / 1024.0;
    elbo_toy_vae_free(&m);
    elbo_set_threads(threads);
}
BENCHMARK(vae_toy_step)->Unit(benchmark::kMicrosecond);
