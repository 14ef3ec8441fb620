/* The trainer's side of data-parallel training: see dp_train.h. */
#include "dp_train.h"

void elbo_dp_rows(const elbo_dp *d, int B, int *lo, int *hi)
{
    long r = elbo_dp_rank(d), P = elbo_dp_size(d);
    *lo = (int)((long)B * r / P), *hi = (int)((long)B * (r + 1) / P);
}

elbo_status elbo_dp_train_config(elbo_dp *d, elbo_params *p, int nbuckets, elbo_vae_train_config *tc)
{
    if (!d)
        return ELBO_OK;
    tc->shard = elbo_dp_rank(d);
    tc->shards = elbo_dp_size(d);
    tc->grad_ready = elbo_dp_grad_ready;
    tc->after_backward = elbo_dp_after_backward;
    tc->hook_ctx = d;
    return elbo_dp_agree_status(d, elbo_dp_attach(d, p, nbuckets), "cannot train");
}
