/* libFuzzer harness: the checkpoint parser (models/io/checkpoint.h) on
 * arbitrary bytes. Contract checks: success gives sections with bounded,
 * NUL-terminated names and readable data, and a NUL-terminated config;
 * failure leaves one line naming the file. A "vae.arch" section goes through
 * the VAE's architecture record decoder (models/vae/vae_train.h), a
 * "vae.prior" section through the learned prior's record decoder: a config
 * within its bounds, or one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/checkpoint.h"
#include "models/vae/vae_train.h"
#include "ops/error.h"
#include "fuzz_common.h"

#define NAME "fuzz-input.ckpt"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elbo_ckpt ck;
    memset(&ck, 0, sizeof ck);
    elbo_status st = elbo_ckpt_parse(NAME, data, size, &ck);
    if (st == ELBO_OK) {
        if (ck.nsections > ELBO_CKPT_MAX_SECTIONS || (ck.nsections && !ck.sections))
            abort();
        if (!ck.config || ck.config[ck.config_len] != '\0' || ck.config_len > size)
            abort();
        if (ck.blob_len > size || (ck.blob_len && !ck.blob))
            abort();
        volatile float sink = 0;
        size_t total = 0;
        for (size_t i = 0; i < ck.nsections; i++) {
            const struct elbo_ckpt_entry *e = &ck.sections[i];
            if (memchr(e->name, '\0', sizeof e->name) == NULL)
                abort();
            if (e->count > size / 4 || (e->count && !e->data))
                abort();
            total += e->count;
            for (size_t j = 0; j < e->count; j++) /* every float is readable (ASan) */
                sink += e->data[j];
            if (elbo_ckpt_find(&ck, e->name) == NULL)
                abort();
        }
        if (total > size / 4)
            abort();
        (void)sink;
        const struct elbo_ckpt_entry *arch = elbo_ckpt_find(&ck, "vae.arch");
        if (arch) {
            elbo_vae_config c;
            if (elbo_vae_arch_decode(arch->data, arch->count, &c) == ELBO_OK) {
                if (c.n_hidden < 0 || c.n_hidden > ELBO_VAE_MAX_HIDDEN || c.n_layers < 0 ||
                    c.n_layers > ELBO_VAE_MAX_HIDDEN || c.x_dim < 1 || c.z_dim < 1 ||
                    c.stochastic_layers < 0 || c.stochastic_layers > 2 || c.n_hier_hidden < 0 ||
                    c.n_hier_hidden > ELBO_VAE_MAX_HIER)
                    abort();
            } else if (strchr(elbo_last_error(), '\n')) {
                abort();
            }
        }
        const struct elbo_ckpt_entry *prior = elbo_ckpt_find(&ck, "vae.prior");
        if (prior) { /* the learned prior's record: K and squashing within bounds, or one line */
            elbo_vae_config c = elbo_vae_config_default();
            if (elbo_vae_prior_record_decode(prior->data, prior->count, &c) == ELBO_OK) {
                if (c.prior_k < 1 || c.prior_k > ELBO_VAE_PRIOR_K_MAX || c.prior_squash < 0 ||
                    c.prior_squash > ELBO_VAE_SQUASH_HARDTANH)
                    abort();
            } else if (strchr(elbo_last_error(), '\n')) {
                abort();
            }
        }
        elbo_ckpt_free(&ck);
    } else {
        const char *msg = elbo_last_error();
        if (!fuzz_message_ok(msg, NAME))
            abort();
    }
    return 0;
}
