/* The registry: the parts of ELBO_VAE_* lists by id and by name. */
#include "models/vae/component.h"

#include <stdio.h>
#include <string.h>

#define ELBO_VAE_PTR_(ID, sym) &sym,
static const elbo_vae_posterior_ops *const posteriors[] = {ELBO_VAE_POSTERIORS(ELBO_VAE_PTR_)};
static const elbo_vae_prior_ops *const priors[] = {ELBO_VAE_PRIORS(ELBO_VAE_PTR_)};
static const elbo_vae_likelihood_ops *const likelihoods[] = {ELBO_VAE_LIKELIHOODS(ELBO_VAE_PTR_)};
static const elbo_vae_objective_ops *const objectives[] = {ELBO_VAE_OBJECTIVES(ELBO_VAE_PTR_)};
#undef ELBO_VAE_PTR_

_Static_assert(sizeof likelihoods / sizeof likelihoods[0] == ELBO_VAE_GAUSSIAN_LEARNED + 1,
               "ELBO_VAE_LIKELIHOODS follows enum elbo_vae_lik");

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const elbo_vae_posterior_ops *elbo_vae_posterior(int id) { return id >= 0 && id < COUNT(posteriors) ? posteriors[id] : NULL; }
const elbo_vae_prior_ops *elbo_vae_prior(int id) { return id >= 0 && id < COUNT(priors) ? priors[id] : NULL; }
const elbo_vae_likelihood_ops *elbo_vae_likelihood(int id)
{
    return id >= 0 && id < COUNT(likelihoods) ? likelihoods[id] : NULL;
}
const elbo_vae_objective_ops *elbo_vae_objective_by_id(int id)
{
    return id >= 0 && id < COUNT(objectives) ? objectives[id] : NULL;
}

const elbo_vae_objective_ops *elbo_vae_objective_of(const elbo_vae_objective *o)
{
    if (o->ops)
        return o->ops;
    return o->iw_k > 1 ? &elbo_objective_iwae : &elbo_objective_elbo;
}

/* The name of entry i of a part, NULL past the end. */
static const char *name_at(elbo_vae_part part, int i)
{
    switch (part) {
    case ELBO_VAE_PART_POSTERIOR:
        return i < COUNT(posteriors) ? posteriors[i]->name : NULL;
    case ELBO_VAE_PART_PRIOR:
        return i < COUNT(priors) ? priors[i]->name : NULL;
    case ELBO_VAE_PART_LIKELIHOOD:
        return i < COUNT(likelihoods) ? likelihoods[i]->name : NULL;
    case ELBO_VAE_PART_OBJECTIVE:
    default:
        return i < COUNT(objectives) ? objectives[i]->name : NULL;
    }
}

static const char *part_name(elbo_vae_part part)
{
    static const char *const names[] = {"posterior", "prior", "likelihood", "objective"};
    return (unsigned)part < 4 ? names[part] : "part";
}

const char *elbo_vae_names(elbo_vae_part part)
{
    static _Thread_local char buf[4][512];
    char *b = buf[(unsigned)part & 3];
    size_t k = 0;
    b[0] = '\0';
    for (int i = 0; name_at(part, i) && k < sizeof buf[0]; i++)
        k += (size_t)snprintf(b + k, sizeof buf[0] - k, "%s%s", i ? "|" : "", name_at(part, i));
    return b;
}

elbo_status elbo_vae_find(elbo_vae_part part, const char *name, int *id)
{
    for (int i = 0; name && name_at(part, i); i++)
        if (strcmp(name, name_at(part, i)) == 0) {
            *id = i;
            return ELBO_OK;
        }
    char list[512] = "";
    size_t k = 0;
    int n = 0;
    while (name_at(part, n))
        n++;
    for (int i = 0; i < n && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                              name_at(part, i));
    return elbo_fail(ELBO_ERR_INVALID, "unknown %s \"%.40s\": expected %s", part_name(part), name ? name : "",
                     list);
}
