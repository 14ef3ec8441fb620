/* The flags that pick a VAE's parts and objective by name, shared by the
 * drivers that train one (models/vae/component.h has the registry):
 *
 *     static const elbo_opt opts[] = { ..., ELBO_VAE_PART_OPTS, ELBO_VAE_OBJECTIVE_OPTS };
 *     elbo_vae_parts_check(&cli, lik_name);          // after parsing: names, spec syntax
 *     elbo_vae_parts_config(&cli, &train, &cfg);     // --arch, --encoder, --posterior, --prior
 *     elbo_vae_parts_train(&cli, &tc);               // --objective, --gamma, --capacity, ...
 *
 * An unknown name, a spec that does not parse or does not fit the data, or
 * a weight out of range ends the run with one line (exit 2). */
#ifndef ELBO_EXPERIMENTS_VAE_PARTS_H
#define ELBO_EXPERIMENTS_VAE_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "models/io/dataset.h"
#include "models/vae/vae.h"
#include "models/vae/vae_train.h"

typedef struct elbo_vae_parts_flags {
    int arch;
    const char *encoder, *posterior, *prior, *objective;
    double gamma, capacity, capacity_epochs;
    /* the disentangling objectives (models/objectives/objectives.h) */
    double tc_alpha, tc_beta, tc_gamma;
    int tc_estimator; /* 0 mws, 1 mss */
    double dip_lambda_od, dip_lambda_d; /* lambda_d < 0: unset (10 lambda_od for dip1, lambda_od for dip2) */
    int mmd_kernel;   /* 0 rbf, 1 imq */
    double mmd_lambda, factor_gamma, factor_lr;
    int factor_hidden, factor_layers;
    /* the importance-weighted variants (models/objectives/miwae.c, ciwae.c, piwae.c) */
    int iwae_m;
    double ciwae_beta;
    /* the flow posteriors (planar, iaf): steps and the IAF's MADE hidden units */
    int flow_steps, iaf_hidden;
    int prior_k, prior_squash; /* learned priors: components (0: the prior's default), VampPrior squashing */
} elbo_vae_parts_flags;

extern elbo_vae_parts_flags elbo_vae_parts_opt;

#define ELBO_VAE_PART_OPTS                                                                                      \
    {"arch", ELBO_OPT_CHOICE, &elbo_vae_parts_opt.arch, "mlp", "networks: dense layers (--hidden) or "         \
     "convolutions (--encoder; default for 28x28: conv:32:4:2,conv:64:4:2,dense:256, for 64x64: "              \
     "conv:32:4:2,conv:32:4:2,conv:64:4:2,conv:64:4:2,dense:256)", .choices = "mlp|conv"},                     \
    {"encoder", ELBO_OPT_STRING, &elbo_vae_parts_opt.encoder, "", "encoder layers, e.g. "                      \
     "conv:32:4:2,conv:32:4:2,dense:256 (conv:C:K:S[:P], dense:W; the decoder mirrors them); implies --arch "  \
     "conv", .choices = NULL},                                                                                  \
    {"posterior", ELBO_OPT_STRING, &elbo_vae_parts_opt.posterior, "diag-gaussian", "posterior family q(z|x)", \
     .choices = NULL},                                                                                          \
    {"prior", ELBO_OPT_STRING, &elbo_vae_parts_opt.prior, "normal", "prior Pr(z): normal, vamp (VampPrior) or " \
     "mog (mixture of Gaussians; docs/PRIORS.md)", .choices = NULL},                                           \
    {"prior-k", ELBO_OPT_INT, &elbo_vae_parts_opt.prior_k, "0", "vamp, mog: pseudo-inputs or components "      \
     "(0: 500 for vamp, 10 for mog)", .min = 0, .max = ELBO_VAE_PRIOR_K_MAX},                                  \
    {"prior-squash", ELBO_OPT_CHOICE, &elbo_vae_parts_opt.prior_squash, "hardtanh", "vamp: pseudo-inputs "     \
     "squashed to [0,1] by hard-tanh (the paper's), a sigmoid, or not at all", .choices = "none|sigmoid|hardtanh"},     \
    {"flow-steps", ELBO_OPT_INT, &elbo_vae_parts_opt.flow_steps, "4", "planar, iaf: flow steps K after the "   \
     "Gaussian base", .min = 1, .max = ELBO_VAE_MAX_FLOW_STEPS},                                               \
    {"iaf-hidden", ELBO_OPT_INT, &elbo_vae_parts_opt.iaf_hidden, "100", "iaf: hidden units of each step's "    \
     "MADE network", .min = 1, .max = ELBO_VAE_MAX_FLOW_HIDDEN}

#define ELBO_VAE_OBJECTIVE_OPTS                                                                                 \
    {"objective", ELBO_OPT_STRING, &elbo_vae_parts_opt.objective, "elbo", "training objective: elbo, iwae "    \
     "(K = --iwae-train, 5 if unset), miwae, ciwae, piwae (K likewise; --iwae-m, --ciwae-beta), beta-capacity (rec + gamma |KL - C|), tcvae, dip1, dip2, mmd or "         \
     "factorvae (docs/OBJECTIVES.md)", .choices = NULL},                                                        \
    {"gamma", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.gamma, "1000", "beta-capacity: weight of |KL - C|",         \
     .min = 0, .max = 1e9},                                                                                     \
    {"capacity", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.capacity, "25", "beta-capacity: C_max in nats",          \
     .min = 0, .max = 1e6},                                                                                     \
    {"capacity-epochs", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.capacity_epochs, "0", "beta-capacity: epochs over " \
     "which C rises linearly from 0 to C_max (0: C_max at once)", .min = 0, .max = 1e6},                       \
    {"tc-alpha", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.tc_alpha, "1", "tcvae: weight of the index-code mutual "  \
     "information", .min = 0, .max = 1e9},                                                                      \
    {"tc-beta", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.tc_beta, "6", "tcvae: weight of the total correlation",   \
     .min = 0, .max = 1e9},                                                                                     \
    {"tc-gamma", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.tc_gamma, "1", "tcvae: weight of the dimension-wise KL", \
     .min = 0, .max = 1e9},                                                                                     \
    {"tc-estimator", ELBO_OPT_CHOICE, &elbo_vae_parts_opt.tc_estimator, "mws", "tcvae: log q(z) by "           \
     "minibatch-weighted or minibatch-stratified sampling", .choices = "mws|mss"},                             \
    {"dip-lambda-od", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.dip_lambda_od, "10", "dip1, dip2: weight of the "   \
     "squared off-diagonal covariances", .min = 0, .max = 1e9},                                                 \
    {"dip-lambda-d", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.dip_lambda_d, NULL, "dip1, dip2: weight of the "     \
     "squared (diagonal - 1); default 10 lambda_od for dip1, lambda_od for dip2", .min = 0, .max = 1e9},        \
    {"mmd-kernel", ELBO_OPT_CHOICE, &elbo_vae_parts_opt.mmd_kernel, "imq", "mmd: kernel, C = 2 * latent",     \
     .choices = "rbf|imq"},                                                                                     \
    {"mmd-lambda", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.mmd_lambda, "10", "mmd: weight of the MMD (per "       \
     "example)", .min = 0, .max = 1e9},                                                                         \
    {"factor-gamma", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.factor_gamma, "6.4", "factorvae: weight of the "     \
     "total correlation", .min = 0, .max = 1e9},                                                                \
    {"factor-hidden", ELBO_OPT_INT, &elbo_vae_parts_opt.factor_hidden, "1000", "factorvae: discriminator "     \
     "units per hidden layer", .min = 1, .max = 100000},                                                        \
    {"factor-layers", ELBO_OPT_INT, &elbo_vae_parts_opt.factor_layers, "2", "factorvae: discriminator hidden " \
     "layers", .min = 1, .max = 8},                                                                             \
    {"factor-lr", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.factor_lr, "1e-4", "factorvae: discriminator Adam "     \
     "learning rate (betas 0.5, 0.9)", .min = 1e-8, .max = 10},                                                 \
    {"iwae-m", ELBO_OPT_INT, &elbo_vae_parts_opt.iwae_m, "4", "miwae, piwae: M groups of K = --iwae-train "    \
     "draws (Rainforth et al. 2018)", .min = 1, .max = 10000},                                                  \
    {"ciwae-beta", ELBO_OPT_DOUBLE, &elbo_vae_parts_opt.ciwae_beta, "0.5", "ciwae: weight of the ELBO in "     \
     "beta ELBO + (1 - beta) IWAE-K", .min = 0, .max = 1}

/* Two stochastic layers on cfg (docs/HIERARCHIES.md): z = [z1 | z2] of
 * z1_dim + z2_dim columns, the networks z1 -> z2 and z2 -> z1 of the n_hier
 * widths hier_hidden (at most ELBO_VAE_MAX_HIER), posterior hier2 (ladder
 * with `ladder`), prior hier2. The encoder, decoder and activation stay the
 * caller's. */
void elbo_vae_parts_hier2(elbo_vae_config *cfg, int z1_dim, int z2_dim, const int *hier_hidden, int n_hier,
                          bool ladder);
/* Burda et al.'s (2016) 2-layer model on cfg, the defaults of
 * `experiments/vae --stochastic-layers 2` (its --z2 and --hier-hidden flag
 * defaults spell the last two): encoder 200,200 (the decoder mirrors it),
 * tanh, z1 100, z2 50, 100,100 between the layers. */
#define ELBO_VAE_BURDA_HIDDEN "200,200"
#define ELBO_VAE_BURDA_Z1 100
void elbo_vae_parts_burda2(elbo_vae_config *cfg, bool ladder);

/* The names and the spec, right after parsing (before any data is read). */
void elbo_vae_parts_check(const elbo_cli *cli, const char *likelihood);
/* --likelihood NAME as the enum (exit 2 on an unknown name). */
elbo_vae_lik elbo_vae_parts_likelihood(const elbo_cli *cli, const char *name);
/* Set cfg's architecture (from --arch/--encoder and the image shape of
 * data), posterior (with --flow-steps and --iaf-hidden for a flow) and prior. */
void elbo_vae_parts_config(const elbo_cli *cli, const elbo_dataset *data, elbo_vae_config *cfg);
/* What the --posterior family cannot do, before any data is read (exit 2):
 * free bits (free_bits > 0) need the KL per latent dimension in closed form
 * (the flows have none); safetensors (--export, --init) holds only the
 * diagonal Gaussian head of the PyTorch models. */
void elbo_vae_parts_check_posterior(const elbo_cli *cli, double free_bits, bool safetensors);
/* Set tc's objective and its weights. */
void elbo_vae_parts_train(const elbo_cli *cli, elbo_vae_train_config *tc);
/* The objective's main weight, the one a sweep varies: the KL weight beta
 * for elbo and iwae (tc->beta), gamma for beta-capacity, the TC weight for
 * tcvae (--tc-beta) and factorvae (--factor-gamma), lambda_od for dip1 and
 * dip2 (lambda_d following it unless --dip-lambda-d is given), lambda for
 * mmd. _name: its flag's name ("beta", "tc-beta", ...). */
void elbo_vae_parts_set_main_weight(elbo_vae_train_config *tc, double w);
const char *elbo_vae_parts_main_weight_name(void);
/* The objective's own state for a trainer of a z_dim model
 * (elbo_vae_trainer.objective_state): the MMD's seed, FactorVAE's
 * discriminator (initialised from seed); NULL for the other objectives.
 * Free with elbo_vae_parts_state_free. */
void *elbo_vae_parts_state(const elbo_cli *cli, const elbo_vae_train_config *tc, int z_dim, uint64_t seed);
void elbo_vae_parts_state_free(void *state);
/* The objective's name and weights as JSON members (",\"objective\":..."),
 * empty for the plain ELBO (so earlier configuration strings are unchanged). */
int elbo_vae_parts_json(const elbo_vae_train_config *tc, char *buf, size_t cap);

#endif
