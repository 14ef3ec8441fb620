/* The part and objective flags of the VAE drivers, through the registry. */
#include "vae_parts.h"

#include <stdio.h>
#include <stdlib.h>

#include "models/objectives/objectives.h"
#include "models/vae/component.h"

/* One line naming the problem, exit 2 (as drv_usage_error). */
static void usage_error(const elbo_cli *cli, const char *msg)
{
    fprintf(stderr, "%s: %s\n", cli->prog, msg);
    exit(ELBO_EXIT_USAGE);
}

elbo_vae_parts_flags elbo_vae_parts_opt = {.dip_lambda_d = -1.0};

/* MIWAE, CIWAE, PIWAE: K draws per bound from --iwae-train, like IWAE. */
static bool is_iw_variant(int id)
{
    return id == ELBO_VAE_OBJECTIVE_MIWAE || id == ELBO_VAE_OBJECTIVE_CIWAE || id == ELBO_VAE_OBJECTIVE_PIWAE;
}

static int find(const elbo_cli *cli, elbo_vae_part part, const char *name)
{
    int id = 0;
    if (elbo_vae_find(part, name, &id) != ELBO_OK)
        usage_error(cli, elbo_last_error());
    return id;
}

elbo_vae_lik elbo_vae_parts_likelihood(const elbo_cli *cli, const char *name)
{
    return (elbo_vae_lik)find(cli, ELBO_VAE_PART_LIKELIHOOD, name);
}

void elbo_vae_parts_check(const elbo_cli *cli, const char *likelihood)
{
    const elbo_vae_parts_flags *f = &elbo_vae_parts_opt;
    int post = find(cli, ELBO_VAE_PART_POSTERIOR, f->posterior), prior = find(cli, ELBO_VAE_PART_PRIOR, f->prior);
    /* The parts of two stochastic layers come with the model they belong to. */
    if (post == ELBO_VAE_POSTERIOR_HIER2 || post == ELBO_VAE_POSTERIOR_LADDER || prior == ELBO_VAE_PRIOR_HIER2)
        usage_error(cli, "--posterior hier2|ladder and --prior hier2 are the two-stochastic-layer model: give "
                    "--stochastic-layers 2 [--ladder] instead");
    int obj = find(cli, ELBO_VAE_PART_OBJECTIVE, f->objective);
    /* beta-TCVAE's log q(z) estimators and DIP-VAE's covariance read q as
     * Norm[mu, diag(e^logvar)]: only the diagonal family is that */
    if (post != ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN &&
        (obj == ELBO_VAE_OBJECTIVE_TCVAE || obj == ELBO_VAE_OBJECTIVE_DIP1 || obj == ELBO_VAE_OBJECTIVE_DIP2)) {
        char msg[200];
        snprintf(msg, sizeof msg, "--objective %s reads q(z|x) as a diagonal Gaussian: it needs --posterior "
                 "diag-gaussian, not %s", f->objective, f->posterior);
        usage_error(cli, msg);
    }
    if (likelihood)
        find(cli, ELBO_VAE_PART_LIKELIHOOD, likelihood);
    if (f->encoder && *f->encoder) {
        elbo_vae_config c = elbo_vae_config_default();
        if (elbo_vae_config_parse_encoder(&c, f->encoder) != ELBO_OK)
            usage_error(cli, elbo_last_error());
    }
}

void elbo_vae_parts_config(const elbo_cli *cli, const elbo_dataset *data, elbo_vae_config *c)
{
    const elbo_vae_parts_flags *f = &elbo_vae_parts_opt;
    c->posterior = find(cli, ELBO_VAE_PART_POSTERIOR, f->posterior);
    c->prior = find(cli, ELBO_VAE_PART_PRIOR, f->prior);
    c->flow_steps = c->flow_hidden = 0; /* recorded only for the families that read them */
    if (c->posterior == ELBO_VAE_POSTERIOR_PLANAR || c->posterior == ELBO_VAE_POSTERIOR_IAF)
        c->flow_steps = f->flow_steps;
    if (c->posterior == ELBO_VAE_POSTERIOR_IAF)
        c->flow_hidden = f->iaf_hidden;
    const elbo_vae_prior_ops *prior = elbo_vae_prior(c->prior);
    if (prior->default_k == 0 && f->prior_k != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "--prior-k: the %s prior has no components (give --prior vamp or mog)", prior->name);
        usage_error(cli, msg);
    }
    c->prior_k = prior->default_k == 0 ? 0 : f->prior_k ? f->prior_k : prior->default_k;
    c->prior_squash = prior->default_k ? f->prior_squash : 0;
    bool spec = f->encoder && *f->encoder;
    if (!spec && f->arch == 0 && c->prior_k == 0)
        return;
    elbo_status st = ELBO_OK;
    if (spec || f->arch != 0) {
        c->image_h = data->rows;
        c->image_w = data->cols;
        c->image_c = data->channels;
        st = spec ? elbo_vae_config_parse_encoder(c, f->encoder) : elbo_vae_config_conv_default(c);
    }
    if (st != ELBO_OK)
        usage_error(cli, elbo_last_error());
    /* Check the fit now: a spec that does not fit the data, or a prior that
     * does not fit the model (a VampPrior on a conditional one), is a usage
     * error. */
    elbo_vae probe;
    elbo_rng r;
    elbo_rng_seed(&r, 0);
    if (elbo_vae_create(&probe, c, &r) != ELBO_OK)
        usage_error(cli, elbo_last_error());
    elbo_vae_free(&probe);
}

void elbo_vae_parts_check_posterior(const elbo_cli *cli, double free_bits, bool safetensors)
{
    int id = find(cli, ELBO_VAE_PART_POSTERIOR, elbo_vae_parts_opt.posterior);
    const elbo_vae_posterior_ops *q = elbo_vae_posterior(id);
    char msg[200];
    if (free_bits > 0.0 && !q->kl_dims) {
        snprintf(msg, sizeof msg, "--free-bits needs the KL per latent dimension in closed form: the %s posterior "
                 "has none", q->name);
        usage_error(cli, msg);
    }
    if (safetensors && id != ELBO_VAE_POSTERIOR_DIAG_GAUSSIAN) {
        snprintf(msg, sizeof msg, "--export/--init: safetensors holds the PyTorch MLPVAE/ConvVAE with the "
                 "diag-gaussian posterior; the %s posterior is saved in the checkpoint only", q->name);
        usage_error(cli, msg);
    }
}

void elbo_vae_parts_train(const elbo_cli *cli, elbo_vae_train_config *tc)
{
    const elbo_vae_parts_flags *f = &elbo_vae_parts_opt;
    int id = find(cli, ELBO_VAE_PART_OBJECTIVE, f->objective);
    tc->objective = elbo_vae_objective_by_id(id);
    if (id == ELBO_VAE_OBJECTIVE_ELBO && tc->iw_k <= 1)
        tc->objective = NULL; /* the plain ELBO: what an unset objective means */
    bool iw_family = id == ELBO_VAE_OBJECTIVE_IWAE || is_iw_variant(id);
    if (iw_family && tc->iw_k == 0)
        tc->iw_k = 5;
    if (!iw_family && id != ELBO_VAE_OBJECTIVE_ELBO && tc->iw_k > 1)
        usage_error(cli, "--iwae-train trains on the IWAE bound: it goes with --objective iwae, miwae, ciwae, "
                    "piwae (or elbo)");
    if (id == ELBO_VAE_OBJECTIVE_ELBO && tc->iw_k > 1)
        tc->objective = NULL; /* --iwae-train K alone: the IWAE bound, as before */
    tc->gamma = (float)f->gamma;
    tc->capacity_max = (float)f->capacity;
    tc->capacity_epochs = (float)f->capacity_epochs;
    /* the disentangling objectives' weights in the fields their entries read (objectives.h) */
    switch (id) {
    case ELBO_VAE_OBJECTIVE_TCVAE:
        tc->alpha = (float)f->tc_alpha, tc->lambda = (float)f->tc_beta, tc->gamma = (float)f->tc_gamma;
        tc->variant = f->tc_estimator;
        break;
    case ELBO_VAE_OBJECTIVE_DIP1:
    case ELBO_VAE_OBJECTIVE_DIP2:
        tc->lambda = (float)f->dip_lambda_od;
        tc->alpha = (float)(f->dip_lambda_d >= 0.0 ? f->dip_lambda_d
                                                    : id == ELBO_VAE_OBJECTIVE_DIP1 ? 10.0 * f->dip_lambda_od
                                                                                    : f->dip_lambda_od);
        break;
    case ELBO_VAE_OBJECTIVE_MMD:
        tc->lambda = (float)f->mmd_lambda, tc->variant = f->mmd_kernel;
        break;
    case ELBO_VAE_OBJECTIVE_FACTORVAE:
        tc->gamma = (float)f->factor_gamma;
        break;
    case ELBO_VAE_OBJECTIVE_MIWAE:
    case ELBO_VAE_OBJECTIVE_PIWAE:
        tc->variant = f->iwae_m; /* M (iw_internal.h) */
        break;
    case ELBO_VAE_OBJECTIVE_CIWAE:
        tc->alpha = (float)f->ciwae_beta;
        break;
    default:
        break;
    }
}

static int objective_id(void)
{
    int id = 0;
    return elbo_vae_find(ELBO_VAE_PART_OBJECTIVE, elbo_vae_parts_opt.objective, &id) == ELBO_OK ? id : 0;
}

const char *elbo_vae_parts_main_weight_name(void)
{
    switch (objective_id()) {
    case ELBO_VAE_OBJECTIVE_BETA_CAPACITY:
        return "gamma";
    case ELBO_VAE_OBJECTIVE_TCVAE:
        return "tc-beta";
    case ELBO_VAE_OBJECTIVE_DIP1:
    case ELBO_VAE_OBJECTIVE_DIP2:
        return "dip-lambda-od";
    case ELBO_VAE_OBJECTIVE_MMD:
        return "mmd-lambda";
    case ELBO_VAE_OBJECTIVE_FACTORVAE:
        return "factor-gamma";
    default:
        return "beta";
    }
}

void elbo_vae_parts_set_main_weight(elbo_vae_train_config *tc, double w)
{
    const elbo_vae_parts_flags *f = &elbo_vae_parts_opt;
    int id = objective_id();
    switch (id) {
    case ELBO_VAE_OBJECTIVE_BETA_CAPACITY:
    case ELBO_VAE_OBJECTIVE_FACTORVAE:
        tc->gamma = (float)w;
        break;
    case ELBO_VAE_OBJECTIVE_TCVAE:
    case ELBO_VAE_OBJECTIVE_MMD:
        tc->lambda = (float)w;
        break;
    case ELBO_VAE_OBJECTIVE_DIP1:
    case ELBO_VAE_OBJECTIVE_DIP2:
        tc->lambda = (float)w;
        if (f->dip_lambda_d < 0.0)
            tc->alpha = (float)(id == ELBO_VAE_OBJECTIVE_DIP1 ? 10.0 * w : w);
        break;
    default:
        tc->beta = (float)w;
        break;
    }
}

void *elbo_vae_parts_state(const elbo_cli *cli, const elbo_vae_train_config *tc, int z_dim, uint64_t seed)
{
    const elbo_vae_parts_flags *f = &elbo_vae_parts_opt;
    if (tc->objective != &elbo_objective_mmd && tc->objective != &elbo_objective_factorvae)
        return NULL;
    elbo_objective_state *st = calloc(1, sizeof *st);
    if (!st)
        usage_error(cli, "objective state: out of memory");
    st->seed = seed;
    if (tc->objective == &elbo_objective_factorvae) {
        elbo_factor_config c = ELBO_FACTOR_DEFAULT;
        c.gamma = tc->gamma;
        c.hidden = f->factor_hidden;
        c.layers = f->factor_layers;
        c.adam.lr = (float)f->factor_lr;
        elbo_rng r;
        elbo_rng_seed(&r, seed ^ 0xFAC70Dull);
        st->disc = calloc(1, sizeof *st->disc);
        if (!st->disc || elbo_factor_disc_init(st->disc, z_dim, &c, &r) != ELBO_OK)
            usage_error(cli, st->disc ? elbo_last_error() : "discriminator: out of memory");
    }
    return st;
}

void elbo_vae_parts_state_free(void *state)
{
    elbo_objective_state *st = state;
    if (!st)
        return;
    if (st->disc)
        elbo_factor_disc_free(st->disc);
    free(st->disc);
    free(st);
}

int elbo_vae_parts_json(const elbo_vae_train_config *tc, char *buf, size_t cap)
{
    const elbo_vae_parts_flags *f = &elbo_vae_parts_opt;
    const elbo_vae_objective_ops *o = tc->objective;
    if (!o)
        return snprintf(buf, cap, "%s", "");
    if (o == &elbo_objective_tcvae)
        return snprintf(buf, cap, ",\"objective\":\"tcvae\",\"tc_alpha\":%.9g,\"tc_beta\":%.9g,\"tc_gamma\":%.9g,"
                        "\"tc_estimator\":\"%s\"", (double)tc->alpha, (double)tc->lambda, (double)tc->gamma,
                        tc->variant ? "mss" : "mws");
    if (o == &elbo_objective_dip1 || o == &elbo_objective_dip2)
        return snprintf(buf, cap, ",\"objective\":\"%s\",\"dip_lambda_od\":%.9g,\"dip_lambda_d\":%.9g", o->name,
                        (double)tc->lambda, (double)tc->alpha);
    if (o == &elbo_objective_mmd)
        return snprintf(buf, cap, ",\"objective\":\"mmd\",\"mmd_lambda\":%.9g,\"mmd_kernel\":\"%s\"",
                        (double)tc->lambda, tc->variant ? "imq" : "rbf");
    if (o == &elbo_objective_miwae || o == &elbo_objective_piwae)
        return snprintf(buf, cap, ",\"objective\":\"%s\",\"iwae_k\":%d,\"iwae_m\":%d", o->name, tc->iw_k, tc->variant);
    if (o == &elbo_objective_ciwae)
        return snprintf(buf, cap, ",\"objective\":\"ciwae\",\"iwae_k\":%d,\"ciwae_beta\":%.9g", tc->iw_k,
                        (double)tc->alpha);
    if (o == &elbo_objective_factorvae)
        return snprintf(buf, cap, ",\"objective\":\"factorvae\",\"factor_gamma\":%.9g,\"factor_hidden\":%d,"
                        "\"factor_layers\":%d,\"factor_lr\":%.9g", (double)tc->gamma, f->factor_hidden,
                        f->factor_layers, f->factor_lr);
    return snprintf(buf, cap, ",\"objective\":\"%s\",\"gamma\":%.9g,\"capacity\":%.9g,\"capacity_epochs\":%.9g",
                    o->name, (double)tc->gamma, (double)tc->capacity_max, (double)tc->capacity_epochs);
}

void elbo_vae_parts_hier2(elbo_vae_config *c, int z1_dim, int z2_dim, const int *hier_hidden, int n_hier, bool ladder)
{
    c->n_hier_hidden = n_hier < ELBO_VAE_MAX_HIER ? n_hier : ELBO_VAE_MAX_HIER;
    for (int i = 0; i < c->n_hier_hidden; i++)
        c->hier_hidden[i] = hier_hidden[i];
    c->stochastic_layers = 2;
    c->z2_dim = z2_dim;
    c->z_dim = z1_dim + z2_dim;
    c->posterior = ladder ? ELBO_VAE_POSTERIOR_LADDER : ELBO_VAE_POSTERIOR_HIER2;
    c->prior = ELBO_VAE_PRIOR_HIER2;
}

/* The numbers are those of the ELBO_VAE_BURDA_* defaults of experiments/vae. */
void elbo_vae_parts_burda2(elbo_vae_config *c, bool ladder)
{
    static const int hier[] = {100, 100};
    c->arch = ELBO_VAE_ARCH_MLP;
    c->n_hidden = 2;
    c->hidden[0] = c->hidden[1] = 200;
    c->act = ELBO_VAE_TANH;
    elbo_vae_parts_hier2(c, ELBO_VAE_BURDA_Z1, 50, hier, 2, ladder);
}
