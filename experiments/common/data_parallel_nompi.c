/* Data-parallel training in a build without MPI: --mpi answers with one line
 * on how to get it (exit 2); every other call is the one-process case. */
#include <stdio.h>
#include <stdlib.h>

#include "data_parallel.h"

elbo_dp *elbo_dp_begin(int *argc, char ***argv, const char *prog)
{
    (void)argc, (void)argv;
    fprintf(stderr,
            "%s: --mpi: this build has no MPI; install it (scripts/install-deps.sh mpi) and rebuild "
            "(meson setup --reconfigure build -Dmpi=enabled)\n",
            prog);
    exit(ELBO_EXIT_USAGE);
}

void elbo_dp_end(elbo_dp *d) { (void)d; }
void elbo_dp_detach(elbo_dp *d) { (void)d; }
elbo_status elbo_dp_quiet_followers(elbo_dp *d, elbo_cli *cli) { return (void)d, (void)cli, ELBO_OK; }
int elbo_dp_rank(const elbo_dp *d) { return (void)d, 0; }
int elbo_dp_size(const elbo_dp *d) { return (void)d, 1; }
bool elbo_dp_root(const elbo_dp *d) { return (void)d, true; }
elbo_status elbo_dp_agree_status(elbo_dp *d, elbo_status st, const char *what) { return (void)d, (void)what, st; }
elbo_status elbo_dp_agree_config(elbo_dp *d, const elbo_cli *cli) { return (void)d, (void)cli, ELBO_OK; }
bool elbo_dp_any(elbo_dp *d, bool mine) { return (void)d, mine; }
elbo_status elbo_dp_attach(elbo_dp *d, elbo_params *p, int nbuckets) { return (void)d, (void)p, (void)nbuckets, ELBO_OK; }
int elbo_dp_buckets(const elbo_dp *d) { return (void)d, 0; }
void elbo_dp_comm_stats(const elbo_dp *d, elbo_dp_stats *s) { (void)d, *s = (elbo_dp_stats){0}; }
void elbo_dp_grad_ready(void *ctx, elbo_params *p, int id) { (void)ctx, (void)p, (void)id; }
elbo_status elbo_dp_after_backward(void *ctx, elbo_params *p) { return (void)ctx, (void)p, ELBO_OK; }
elbo_status elbo_dp_check_params(elbo_dp *d, const elbo_params *p, uint64_t epoch)
{
    return (void)d, (void)p, (void)epoch, ELBO_OK;
}
elbo_status elbo_dp_sum(elbo_dp *d, double *x, int n) { return (void)d, (void)x, (void)n, ELBO_OK; }
double elbo_dp_max(elbo_dp *d, double x) { return (void)d, x; }

elbo_status elbo_dp_chunked_sum(elbo_dp *d, size_t nchunks, int k, elbo_dp_chunk_fn fn, void *ctx, double *sums)
{
    (void)d;
    double part[k > 0 ? k : 1];
    for (int j = 0; j < k; j++)
        sums[j] = 0.0;
    for (size_t c = 0; c < nchunks; c++) { /* chunk order, as the MPI build adds them */
        elbo_status st = fn(ctx, c, part);
        if (st != ELBO_OK)
            return st;
        for (int j = 0; j < k; j++)
            sums[j] += part[j];
    }
    return ELBO_OK;
}

void elbo_dp_check(elbo_dp *d, const elbo_cli *cli, elbo_status st, const char *what, bool input)
{
    if (st == ELBO_OK)
        return;
    if (elbo_dp_root(d))
        fprintf(stderr, "%s: %s: %s (%s)\n", cli->prog, what, elbo_last_error(), elbo_status_name(st));
    exit(elbo_exit_code(st, input));
}
