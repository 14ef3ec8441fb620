/* Data-parallel training over MPI for the drivers (`vae --mpi`), on top of
 * comm.h; the library never sees it. A driver holds an elbo_dp (NULL: one
 * process, no MPI: every call then does the one-process thing), so the same
 * code path serves both.
 *
 * What a data-parallel step is (the trainer's side is generic: a shard of
 * each batch and two hooks, models/vae/vae_train.h):
 *   - every rank draws the same batches (the same seeded order) and the same
 *     noise, and reads only its rows [n r / P, n (r+1) / P) of each batch of n;
 *   - the loss is a sum over rows, so the sum of the ranks' gradients is the
 *     batch's gradient. As backward makes each parameter's gradient final the
 *     tape calls elbo_dp_grad_ready; a bucket (a run of whole parameters of
 *     the gradient slab, last layers first, as DDP groups them) is started
 *     the moment its last parameter is in, so its sum travels while backward
 *     still runs for earlier layers; elbo_dp_after_backward waits for the
 *     rest. The sum is comm.h's ordered one: ((g_0 + g_1) + g_2) + ...,
 *     bit-identical whenever the run is repeated with the same rank count;
 *   - every rank applies the same update to the same sum, so the parameters
 *     stay identical; elbo_dp_check_params verifies it (a checksum) each epoch.
 *
 * Collective calls return the same status on every rank; on a failure
 * elbo_last_error() holds one line naming the rank and the cause. */
#ifndef ELBO_EXPERIMENTS_DATA_PARALLEL_H
#define ELBO_EXPERIMENTS_DATA_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodiff/params.h"
#include "cli.h"
#include "ops/error.h"

typedef struct elbo_dp elbo_dp;

/* --mpi: start MPI and return the rank's handle. A build without MPI prints
 * one line on how to build with it and exits 2. */
elbo_dp *elbo_dp_begin(int *argc, char ***argv, const char *prog);
/* elbo_dp_detach, then MPI_Finalize (and the scratch directory of
 * elbo_dp_quiet_followers removed). Call it before freeing the params
 * attached. NULL: nothing. */
void elbo_dp_end(elbo_dp *d);
/* Collective, for drivers whose every rank runs the whole program (the
 * figure drivers: after data-parallel training the parameters are the same
 * on every rank, so are the figures): on ranks other than 0, stdout goes to
 * /dev/null and cli->out to a fresh scratch directory under $TMPDIR that
 * elbo_dp_end removes, so that rank 0 alone prints and writes. NULL: nothing. */
elbo_status elbo_dp_quiet_followers(elbo_dp *d, elbo_cli *cli);
int elbo_dp_rank(const elbo_dp *d); /* 0 for NULL */
int elbo_dp_size(const elbo_dp *d); /* 1 for NULL */
bool elbo_dp_root(const elbo_dp *d); /* rank 0, or NULL */

/* Collective: every rank passes the status of something it did alone (e.g.
 * reading its data). When any failed, every rank returns the lowest failing
 * rank's status with "rank R WHAT: its message". */
elbo_status elbo_dp_agree_status(elbo_dp *d, elbo_status st, const char *what);
/* Collective: every rank's options (elbo_cli_config_text: not --threads,
 * which never changes results) and SIMD level against rank 0's;
 * "rank R disagrees on the configuration: 'latent=10' where rank 0 has 'latent=20'". */
elbo_status elbo_dp_agree_config(elbo_dp *d, const elbo_cli *cli);
/* Collective: true on every rank when any rank passes true (e.g. a signal seen). */
bool elbo_dp_any(elbo_dp *d, bool mine);

/* Buckets over p's gradient slab: runs of whole parameters, grouped from
 * the last parameter back, of about n / nbuckets floats each (the rule is
 * at plan_buckets in data_parallel.c). When every rank runs on one node,
 * p->g becomes a slab in memory the ranks share (its contents copied) and the
 * sums need no messages, until elbo_dp_end gives p its own back. */
elbo_status elbo_dp_attach(elbo_dp *d, elbo_params *p, int nbuckets);
/* Collective: end what elbo_dp_attach began (p gets its own gradient slab
 * back, the buckets and any shared window are freed), so that the next
 * model can be attached: a driver that trains models one after another.
 * Nothing attached, or NULL: nothing. elbo_dp_end detaches too. */
void elbo_dp_detach(elbo_dp *d);
int elbo_dp_buckets(const elbo_dp *d);
/* (local) What this rank's gradient sums have cost so far: seconds in the
 * gradient-ready hooks (posting and advancing buckets during backward),
 * seconds waiting after backward for the sums (the communication the
 * overlap did not hide, and the other ranks' lateness), and how many bucket
 * sums the hooks started during backward, of all started. */
typedef struct elbo_dp_stats {
    double hook_seconds, wait_seconds;
    long started_in_backward, started;
} elbo_dp_stats;
void elbo_dp_comm_stats(const elbo_dp *d, elbo_dp_stats *s);
/* The trainer's hooks (ctx = the elbo_dp): the tape's gradient-ready hook
 * (counts the parameter into its bucket, starts a full bucket, advances the
 * others), and the wait for every bucket after backward. */
void elbo_dp_grad_ready(void *ctx, elbo_params *p, int id);
elbo_status elbo_dp_after_backward(void *ctx, elbo_params *p);
/* Collective: p's weights have the same checksum on every rank; otherwise
 * ELBO_ERR_MISMATCH, "rank R disagrees on the parameters after epoch E:
 * checksum X where rank 0 has Y". (ELBO_DP_TEST_CORRUPT_RANK=R makes rank R
 * flip one bit of a weight first: how the tests provoke it.) */
elbo_status elbo_dp_check_params(elbo_dp *d, const elbo_params *p, uint64_t epoch);

/* Collective: x[0..n) summed over ranks in rank order, in place on every rank. */
elbo_status elbo_dp_sum(elbo_dp *d, double *x, int n);
/* Collective: the largest x over ranks. */
double elbo_dp_max(elbo_dp *d, double x);

/* Collective: a sum over chunks 0..nchunks-1 split across ranks in
 * contiguous runs (rank r takes [nchunks r / P, nchunks (r+1) / P)).
 * fn(ctx, c, out) computes chunk c's k numbers; sums[0..k) receives their
 * sums over every chunk, added in chunk order on every rank: the same bits
 * for any rank count. A chunk that fails stops every rank (agreed status). */
typedef elbo_status (*elbo_dp_chunk_fn)(void *ctx, size_t chunk, double *out);
elbo_status elbo_dp_chunked_sum(elbo_dp *d, size_t nchunks, int k, elbo_dp_chunk_fn fn, void *ctx, double *sums);

/* A failed collective step ends the run on every rank: rank 0 prints the one
 * line "PROG: WHAT: message (status)", every rank finalizes and exits with
 * elbo_exit_code(st, input). NULL: drv_check / drv_check_input. */
void elbo_dp_check(elbo_dp *d, const elbo_cli *cli, elbo_status st, const char *what, bool input);

#endif
