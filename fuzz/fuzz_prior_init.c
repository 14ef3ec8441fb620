/* libFuzzer harness: the mixture prior's init file (--prior-init FILE:
 * models/vae/prior_mog.h, a params.csv of mog_em --cov diag) on arbitrary
 * text, for a 3-component prior over 2 latents (a table of 3 rows by 6
 * columns). Contract: a table that is accepted sets finite parameters whose
 * weights sum to one; a refused one leaves the model untouched and one line
 * naming the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/io/csv.h"
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "ops/error.h"

#define NAME "fuzz-input.csv"

static elbo_vae *model(void)
{
    static elbo_vae m;
    static int made;
    if (!made) {
        elbo_vae_config c = elbo_vae_config_default();
        c.x_dim = 4, c.z_dim = 2, c.hidden[0] = 3, c.prior = ELBO_VAE_PRIOR_MOG, c.prior_k = 3;
        elbo_rng r;
        elbo_rng_seed(&r, 1);
        if (elbo_vae_create(&m, &c, &r) != ELBO_OK)
            abort();
        made = 1;
    }
    return &m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elbo_vae *m = model();
    float *before = malloc(m->params.n * sizeof(float));
    memcpy(before, m->params.w, m->params.n * sizeof(float));
    double *tab = NULL;
    size_t rows = 0, cols = 0;
    elbo_status st = elbo_csv_parse(NAME, (const char *)data, size, &tab, &rows, &cols);
    if (st == ELBO_OK)
        st = elbo_vae_prior_mog_set_table(m, NAME, tab, rows, cols);
    if (st == ELBO_OK) {
        double t[3 * 6], w = 0.0;
        if (elbo_vae_prior_mog_table(m, t) != ELBO_OK)
            abort();
        for (int i = 0; i < 3 * 6; i++)
            if (!isfinite(t[i]))
                abort();
        for (int k = 0; k < 3; k++)
            w += t[k * 6 + 1];
        if (fabs(w - 1.0) > 1e-5)
            abort();
    } else {
        if (!fuzz_message_ok(elbo_last_error(), NAME))
            abort();
        if (memcmp(before, m->params.w, m->params.n * sizeof(float)) != 0)
            abort(); /* a refused file changed the prior */
    }
    memcpy(m->params.w, before, m->params.n * sizeof(float));
    free(before);
    free(tab);
    return 0;
}
