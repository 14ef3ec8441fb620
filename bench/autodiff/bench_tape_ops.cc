// One benchmark per gradient case of the tape ops (tests/common/grad_cases.c),
// so a new op gets one with its test case: tape_<op>/<case> builds the case's
// graph at the benchmark shape (R,C) = (128, 256) (its rule scales images
// with it) and runs one training-step's worth of it: tape reset, forward,
// sum, backward; one thread.
#include "../shim.h"

#include <string>

extern "C" {
#include "../../tests/common/grad_cases.h"
}

namespace {

constexpr int kR = 128, kC = 256;

void tape_case(benchmark::State &state, int index)
{
    elbo_bench_setup();
    int threads = elbo_threads();
    elbo_set_threads(1);
    gcase c = gc_case(index);
    elbo_params p;
    elbo_params_init(&p);
    elbo_tape *t = nullptr;
    if (!gc_setup(&c, kR, kC, &p) || elbo_tape_create(&t, 1 << 20) != ELBO_OK) {
        state.SkipWithError(elbo_last_error());
        elbo_params_free(&p);
        elbo_set_threads(threads);
        return;
    }
    for (auto _ : state) {
        elbo_tape_reset(t);
        elbo_params_clear_grad(&p);
        elbo_node *y = gc_graph(&c, t, &p);
        if (!y || elbo_backward(t, elbo_ad_sum(t, y)) != ELBO_OK) {
            state.SkipWithError(elbo_last_error());
            break;
        }
        benchmark::ClobberMemory();
    }
    state.counters["arena_KiB"] = double(elbo_tape_arena(t)->high_water) / 1024.0;
    elbo_tape_destroy(t);
    elbo_params_free(&p);
    elbo_set_threads(threads);
}

int register_all()
{
    for (int i = 0; i < gc_count(); i++) {
        gcase c = gc_case(i);
        std::string name = std::string("tape_") + elbo_op_name(c.op) + "/" + c.name;
        benchmark::RegisterBenchmark(name.c_str(), [i](benchmark::State &state) { tape_case(state, i); })
            ->Unit(benchmark::kMicrosecond);
    }
    return 0;
}

const int registered = register_all();

} // namespace
