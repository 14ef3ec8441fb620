/* The toy VAE (models/toy_vae.h) end to end: its loss falls, and training is
 * bit-reproducible: same seed, same loss sequence, with 1 or 2 threads. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "models/toy_vae.h"
#include "ops/pool.h"

#define STEPS 400
#define WINDOW 25

/* Train STEPS Adam steps on fresh arc batches; losses[s] is step s's loss. */
static void train(uint64_t seed, int threads, float *losses)
{
    cr_assert(elbo_set_threads(threads) == ELBO_OK);
    elbo_toy_vae m;
    cr_assert(elbo_toy_vae_create(&m, seed) == ELBO_OK, "%s", elbo_last_error());
    m.adam.lr = 3e-3f;
    elbo_rng data;
    elbo_rng_seed(&data, seed ^ 0xDA7Au);
    float x[ELBO_TOY_BATCH * ELBO_TOY_X_DIM];
    for (int s = 0; s < STEPS; s++) {
        elbo_toy_arc_sample(&data, x, ELBO_TOY_BATCH);
        cr_assert(elbo_toy_vae_step(&m, x, ELBO_TOY_BATCH, &losses[s]) == ELBO_OK, "step %d: %s", s,
                  elbo_last_error());
        cr_assert(isfinite(losses[s]), "step %d: loss %g", s, (double)losses[s]);
    }
    elbo_toy_vae_free(&m);
    elbo_set_threads(1);
}

static double window_mean(const float *l, int from)
{
    double s = 0;
    for (int i = from; i < from + WINDOW; i++)
        s += l[i];
    return s / WINDOW;
}

Test(toy_vae, loss_falls)
{
    static float l[STEPS];
    train(1, 1, l);
    double first = window_mean(l, 0), last = window_mean(l, STEPS - WINDOW);
    /* The untrained decoder misses the data by ~1, i.e. ~10 sigma, so the
     * first losses are tens of nats; once it has learned the arc the loss is
     * near 0 (the noise floor is about -2.5 nats). */
    cr_expect(first > 20.0, "first %d steps average %.3f", WINDOW, first);
    cr_expect(last < 0.2 * first && last < 10.0, "loss fell from %.3f to only %.3f", first, last);
}

Test(toy_vae, same_seed_same_bits)
{
    static float a[STEPS], b[STEPS], c[STEPS];
    train(7, 1, a);
    train(7, 1, b);
    train(7, 2, c);
    cr_expect(memcmp(a, b, sizeof a) == 0, "two runs with seed 7 differ");
    cr_expect(memcmp(a, c, sizeof a) == 0, "1 and 2 threads differ");
    train(8, 1, b);
    cr_expect(memcmp(a, b, sizeof a) != 0, "seeds 7 and 8 give the same losses");
}
