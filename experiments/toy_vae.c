/* The toy VAE of the core issue (models/toy_vae.h): 2-D points on a noisy
 * half-circle, a 1-D latent, 2x32 tanh encoder and decoder, Gaussian
 * likelihood with sigma 0.1, Adam. Each step draws a fresh batch from the arc.
 *
 * Writes DIR/loss.csv (step, loss: the batch-mean negative ELBO before that
 * step's update) and DIR/summary.json (first and last 50-step mean losses,
 * microseconds per step, the tape's arena high-water mark). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/toy_vae.h"
#include "progress.h"
#include "summary.h"

#define WINDOW 50

static int steps, batch;
static double lr;

static const elbo_opt opts[] = {
    {"steps", ELBO_OPT_INT, &steps, "2000", "training steps (--quick: at most 200)", .min = 1, .max = 100000000},
    {"batch", ELBO_OPT_INT, &batch, "64", "examples per step", .min = 1, .max = 1 << 20},
    {"lr", ELBO_OPT_DOUBLE, &lr, "3e-3", "Adam learning rate", .min = 0, .max = 1},
};

static double mean_of(const double *v, int from, int n)
{
    double s = 0;
    for (int i = from; i < from + n; i++)
        s += v[i];
    return s / n;
}

int main(int argc, char **argv)
{
    elbo_cli cli;
    elbo_cli_init(&cli, "toy_vae", "Train the toy VAE (2-D arc, 1-D latent) and log its loss.", opts,
                  sizeof opts / sizeof opts[0]);
    elbo_cli_main(&cli, argc, argv);
    if (cli.quick && steps > 200)
        steps = 200;

    elbo_toy_vae m;
    drv_check(&cli, elbo_toy_vae_create(&m, cli.seed), "create the model");
    m.adam.lr = (float)lr;
    elbo_rng data;
    elbo_rng_seed(&data, cli.seed);
    elbo_rng_jump(&data); /* the model took the seed's first streams */
    elbo_rng_jump(&data);
    float *x = drv_alloc(&cli, (size_t)batch * ELBO_TOY_X_DIM, sizeof *x);
    double *table = drv_alloc(&cli, (size_t)steps * 2, sizeof *table);
    double *loss = drv_alloc(&cli, (size_t)steps, sizeof *loss);

    elbo_progress prog;
    elbo_progress_begin(&prog, "toy_vae", (uint64_t)steps);
    double train_s = 0;
    for (int s = 0; s < steps; s++) {
        elbo_toy_arc_sample(&data, x, batch);
        float l;
        double t0 = elbo_now();
        drv_check(&cli, elbo_toy_vae_step(&m, x, batch, &l), "training step");
        train_s += elbo_now() - t0;
        if (!isfinite(l)) {
            elbo_progress_end(&prog);
            fprintf(stderr, "toy_vae: loss is %g at step %d (try a smaller --lr)\n", (double)l, s);
            return ELBO_EXIT_RUNTIME;
        }
        loss[s] = l;
        table[2 * s] = s;
        table[2 * s + 1] = l;
        elbo_progress_update(&prog, (uint64_t)s + 1, l);
    }
    elbo_progress_end(&prog);

    static const char *const header[] = {"step", "loss"};
    drv_check(&cli, elbo_csv_write(drv_path(&cli, "loss.csv"), header, table, (size_t)steps, 2), "write loss.csv");
    int w = steps < WINDOW ? steps : WINDOW;
    double first = mean_of(loss, 0, w), last = mean_of(loss, steps - w, w);
    double us = 1e6 * train_s / steps;
    printf("toy_vae: %d steps of batch %d: loss %.4f (first %d) -> %.4f (last %d), %.1f us/step\n", steps, batch,
           first, w, last, w, us);

    elbo_summary sum;
    elbo_summary_begin(&sum, &cli);
    elbo_json_number(&sum.json, "loss_first_mean", first);
    elbo_json_number(&sum.json, "loss_last_mean", last);
    elbo_json_int(&sum.json, "loss_window", w);
    elbo_json_number(&sum.json, "final_loss", loss[steps - 1]);
    elbo_json_number(&sum.json, "us_per_step", us);
    elbo_json_uint(&sum.json, "arena_high_water_bytes", elbo_tape_arena(m.tape)->high_water);
    drv_check(&cli, elbo_summary_write(&sum, cli.out), "write summary.json");
    printf("wrote %s and %s\n", drv_path(&cli, "loss.csv"), drv_path(&cli, "summary.json"));

    free(x);
    free(table);
    free(loss);
    elbo_toy_vae_free(&m);
    return ELBO_EXIT_OK;
}
