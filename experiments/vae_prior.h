/* What experiments/vae does for a learned prior (models/vae/prior_mog.h), header-only like vae_setup.h,
 * kept out of the driver's main loop:
 *
 *   --prior-init FILE   the mixture prior from a params.csv of mog_em --cov diag
 *                       (K rows: component, weight, Z means, Z variances),
 *                       read before anything is written; a wrong shape is one
 *                       line and exit 3
 *   --prior-init em[:N] the mixture prior refitted by the chapter's EM
 *                       (models/mog, diagonal) on the encoder means of the
 *                       training set after N warm-up epochs (default 1); the
 *                       prior's Adam moments restart
 *
 * and after training, for the mixture prior: prior.csv (the fitted mixture,
 * mog_em's layout), clusters.csv (each test example's label and the argmax
 * responsibility of its encoder mean E_q[z] = mu) and the cluster accuracy
 * against the labels, best one-to-one (Hungarian) and majority vote. */
#ifndef ELBO_EXPERIMENTS_VAE_PRIOR_H
#define ELBO_EXPERIMENTS_VAE_PRIOR_H

#include <stdbool.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "models/io/csv.h"
#include "models/metrics/cluster.h"
#include "models/vae/component.h"
#include "models/vae/prior_mog.h"
#include "results.h"
#include "models/io/dataset.h"
#include "models/io/json.h"
#include "models/vae/vae.h"

typedef struct vae_prior_init {
    const char *file; /* --prior-init FILE, or NULL */
    int em_epoch;     /* --prior-init em[:N]: N, else 0 */
} vae_prior_init;

static inline bool is_mog(const elbo_vae_config *c) { return elbo_vae_prior(c->prior) == &elbo_prior_mog; }

/* Parse --prior-init and check it, and the other flags, against the model
 * (free bits need a closed-form KL per dimension: not with a learned prior;
 * --prior-init needs the mog prior and no --resume). Exit 2 with one line. */
static inline vae_prior_init vae_prior_check(const elbo_cli *cli, const char *text, const elbo_vae_config *cfg, double free_bits,
                               bool resume)
{
    vae_prior_init pi = {0};
    const elbo_vae_prior_ops *prior = elbo_vae_prior(cfg->prior);
    char msg[256];
    if (free_bits > 0 && !prior->standard_normal) {
        snprintf(msg, sizeof msg, "--free-bits needs the KL per latent dimension in closed form; the %s prior has "
                 "none (its KL is estimated from samples)", prior->name);
        drv_usage_error(cli, msg);
    }
    if (!text || !*text)
        return pi;
    if (!is_mog(cfg)) {
        snprintf(msg, sizeof msg, "--prior-init sets a mixture prior: it needs --prior mog, not %s", prior->name);
        drv_usage_error(cli, msg);
    }
    if (resume)
        drv_usage_error(cli, "--prior-init and --resume both set the prior: give one");
    if (strncmp(text, "em", 2) == 0 && (text[2] == '\0' || text[2] == ':')) {
        pi.em_epoch = 1;
        if (text[2] == ':') {
            char *end;
            long n = strtol(text + 3, &end, 10);
            if (end == text + 3 || *end || n < 1 || n > 100000)
                drv_usage_error(cli, "--prior-init em:N: expected N, the warm-up epochs, in 1..100000");
            pi.em_epoch = (int)n;
        }
        return pi;
    }
    pi.file = text;
    return pi;
}

/* --prior-init FILE into the model (exit 3 on a bad file). */
static inline void vae_prior_load(const elbo_cli *cli, const vae_prior_init *pi, elbo_vae *m)
{
    if (!pi->file)
        return;
    drv_check_input(cli, elbo_vae_prior_mog_load(m, pi->file), "--prior-init");
    fprintf(stderr, "%s: mixture prior from %s (%d components)\n", cli->prog, pi->file, m->cfg.prior_k);
}

/* After training epoch `epochs_done` (1-based): the EM start when it is due.
 * Returns true if it ran (one line on stderr). */
static inline bool vae_prior_after_epoch(const elbo_cli *cli, const vae_prior_init *pi, elbo_vae *m, elbo_tape *t,
                           const elbo_dataset *train, int eval_batch, int epochs_done)
{
    if (pi->em_epoch == 0 || epochs_done != pi->em_epoch)
        return false;
    mog_result r;
    drv_check(cli, elbo_vae_prior_mog_fit_data(m, t, train, eval_batch, cli->seed, 100, &r), "--prior-init em");
    /* The prior's Adam moments belong to the parameters EM replaced. */
    for (int k = 0; k < ELBO_VAE_MAX_PART_PARAMS && m->prior_ids[k] >= 0; k++) {
        const elbo_param_info *in = &m->params.info[m->prior_ids[k]];
        size_t n = (size_t)in->rows * (size_t)in->cols;
        memset(m->params.m + in->offset, 0, n * sizeof(float));
        memset(m->params.v + in->offset, 0, n * sizeof(float));
    }
    fprintf(stderr, "%s: prior from EM on the encoder means of %zu training examples after epoch %d: %d components, "
            "%d iterations%s, mean log-likelihood %.3f\n", cli->prog, train->n, epochs_done, m->cfg.prior_k,
            r.iterations, r.converged ? "" : " (not converged)", r.mean_loglik);
    mog_result_free(&r);
    return true;
}

/* prior.csv: the mixture in mog_em's params.csv layout (readable by --prior-init). */
static inline void write_prior(const elbo_cli *cli, const elbo_vae *m)
{
    const size_t K = (size_t)m->cfg.prior_k, Z = (size_t)m->cfg.z_dim, cols = 2 + 2 * Z;
    double *tab = drv_alloc(cli, K * cols, sizeof(double));
    char **names = drv_alloc(cli, cols, sizeof(char *));
    char *store = drv_alloc(cli, cols, 32);
    for (size_t c = 0; c < cols; c++) {
        names[c] = store + 32 * c;
        if (c < 2)
            snprintf(names[c], 32, "%s", c ? "weight" : "component");
        else
            snprintf(names[c], 32, "%s_%zu", c < 2 + Z ? "mean" : "var", c < 2 + Z ? c - 2 : c - 2 - Z);
    }
    drv_check(cli, elbo_vae_prior_mog_table(m, tab), "prior.csv");
    drv_check(cli, elbo_csv_write(drv_path(cli, "prior.csv"), (const char *const *)names, tab, K, cols), "prior.csv");
    free(tab), free(names), free(store);
}

/* The prior's settings as members of the summary's model object: prior_k,
 * prior_squash (vamp), prior_init (mog). */
static inline void vae_prior_json(const vae_prior_init *pi, const elbo_vae_config *c, elbo_json *j)
{
    if (c->prior_k > 0)
        elbo_json_int(j, "prior_k", c->prior_k);
    if (elbo_vae_prior(c->prior) == &elbo_prior_vamp)
        elbo_json_string(j, "prior_squash", elbo_vae_prior_squash_name(c->prior_squash));
    if (!is_mog(c))
        return;
    char init[64];
    if (pi->em_epoch)
        snprintf(init, sizeof init, "em after epoch %d", pi->em_epoch);
    elbo_json_string(j, "prior_init", pi->file ? pi->file : pi->em_epoch ? init : "random");
}

/* clusters.png: row k holds 10 draws of component k (z = m_k + e^{s_k/2}
 * eps, decoded to means), for the first 20 components. */
static inline void write_cluster_grid(const elbo_cli *cli, elbo_vae *m, elbo_tape *t, const elbo_dataset *test)
{
    const int K = m->cfg.prior_k < 20 ? m->cfg.prior_k : 20, Z = m->cfg.z_dim, G = 10;
    const size_t n = (size_t)K * G;
    double *tab = drv_alloc(cli, (size_t)m->cfg.prior_k * (2 + 2 * (size_t)Z), sizeof(double));
    float *z = drv_alloc(cli, n * (size_t)Z, sizeof(float)), *img = drv_alloc(cli, n * (size_t)m->cfg.x_dim, sizeof(float));
    drv_check(cli, elbo_vae_prior_mog_table(m, tab), "clusters.png");
    elbo_rng r;
    elbo_rng_seed(&r, cli->seed ^ 0xC1A55ull);
    for (int k = 0; k < K; k++) {
        const double *row = tab + (size_t)k * (2 + 2 * (size_t)Z);
        for (int g = 0; g < G; g++)
            for (int j = 0; j < Z; j++)
                z[((size_t)k * G + g) * Z + j] = (float)(row[2 + j] + sqrt(row[2 + Z + j]) * elbo_rng_normal(&r));
    }
    drv_check(cli, elbo_vae_decode(m, t, z, NULL, n, 0, img), "clusters.png");
    drv_check(cli, elbo_write_image_grid(cli->out, "clusters", img, n, test->rows, test->cols, test->channels, K, G),
              "clusters.png");
    free(tab), free(z), free(img);
}

/* The mixture prior's outputs (prior.csv, clusters.csv, clusters.png) and summary members
 * (cluster_accuracy: best one-to-one, cluster_accuracy_majority,
 * clusters_used); nothing for other priors. */
static inline void vae_prior_report(const elbo_cli *cli, elbo_vae *m, elbo_tape *t, const elbo_dataset *test,
                                    int eval_batch, elbo_json *j)
{
    const elbo_vae_config *c = &m->cfg;
    if (!is_mog(c))
        return;
    write_prior(cli, m);
    if (c->n_classes == 0)
        write_cluster_grid(cli, m, t, test);
    const size_t n = test->n, Z = (size_t)c->z_dim;
    float *mu = drv_alloc(cli, n * Z, sizeof(float));
    int *cl = drv_alloc(cli, n, sizeof(int));
    drv_check(cli, elbo_vae_encode_data(m, t, test, 0, n, eval_batch, mu, NULL), "cluster assignments");
    drv_check(cli, elbo_vae_prior_mog_responsibilities(m, mu, n, NULL, cl), "cluster assignments");
    int used = 0;
    int *size = drv_alloc(cli, (size_t)c->prior_k, sizeof(int));
    for (size_t i = 0; i < n; i++)
        used += size[cl[i]]++ == 0;
    elbo_json_int(j, "clusters_used", used);
    if (test->y && test->classes > 0) {
        double acc = NAN, maj = NAN;
        drv_check(cli, elbo_cluster_accuracy(cl, test->y, n, c->prior_k, test->classes, &acc, &maj, NULL),
                  "cluster accuracy");
        elbo_json_number(j, "cluster_accuracy", acc);
        elbo_json_string(j, "cluster_accuracy_mapping", "best one-to-one (Hungarian)");
        elbo_json_number(j, "cluster_accuracy_majority", maj);
        fprintf(stderr, "%s: test clusters (argmax responsibility of E_q[z]): %d of %d used, accuracy %.4f "
                "one-to-one (Hungarian), %.4f majority vote\n", cli->prog, used, c->prior_k, acc, maj);
        double *tab = drv_alloc(cli, n * 3, sizeof(double));
        for (size_t i = 0; i < n; i++)
            tab[3 * i] = (double)i, tab[3 * i + 1] = test->y[i], tab[3 * i + 2] = cl[i];
        static const char *const hdr[3] = {"index", "label", "cluster"};
        drv_check(cli, elbo_csv_write(drv_path(cli, "clusters.csv"), hdr, tab, n, 3), "clusters.csv");
        free(tab);
    }
    free(mu), free(cl), free(size);
}

#endif
