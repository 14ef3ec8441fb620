/* Driver-side communication over MPI (built only when meson finds MPI; the
 * library under ops/, autodiff/ and models/ never sees it).
 *
 * What data-parallel drivers need, and nothing else:
 *   - start and stop MPI (elbo_comm_init / elbo_comm_finalize),
 *   - agree on a configuration string: rank 0's text is broadcast, every rank
 *     compares it with its own, and a mismatch comes back on every rank as one
 *     line naming the lowest disagreeing rank and the first differing line,
 *   - agree on parameters: a 64-bit checksum of the float bits on every rank,
 *   - sum a flat float slab across ranks, bucket by bucket, in a fixed order.
 *
 * The sum. MPI_Allreduce may add the ranks' values in any order (and Open MPI
 * picks the algorithm by message size and rank count), so a run would not be
 * bit-identical when repeated. Here each bucket is split into one chunk per
 * rank; chunk j's owner is rank j, which receives every rank's copy of it
 * (reduce-scatter) and adds them in rank order,
 *     s = ((x_0 + x_1) + x_2) + ... + x_{P-1}      (every element, in float),
 * then sends the sum back to every rank (allgather). The result equals the
 * serial ordered sum bit for bit on every rank, for any bucket layout and any
 * order in which buckets are started. Each rank moves 2 (P-1)/P of the slab
 * each way, as a ring allreduce does, in P-1 messages per phase.
 *
 * Nonblocking: elbo_allreduce_start(b) posts bucket b's messages as soon as
 * its gradient is final; elbo_allreduce_progress() advances whatever has
 * arrived (MPI moves large messages only inside MPI calls, so a trainer calls
 * it between layers); elbo_allreduce_wait() finishes every started bucket. */
#ifndef ELBO_EXPERIMENTS_COMM_H
#define ELBO_EXPERIMENTS_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/error.h"

typedef struct elbo_comm elbo_comm;

/* MPI_Init_thread (funneled), a private duplicate of MPI_COMM_WORLD whose
 * errors come back as statuses. *out is freed by elbo_comm_finalize. */
elbo_status elbo_comm_init(int *argc, char ***argv, elbo_comm **out);
int elbo_comm_rank(const elbo_comm *c);
int elbo_comm_size(const elbo_comm *c);
/* MPI_Finalize, unless skip_mpi (a rank died: Open MPI 4.1's finalize would
 * wait for it forever); frees c. */
void elbo_comm_finalize(elbo_comm *c, int skip_mpi);
/* Stop every rank with exit code `code` (MPI_Abort). */
void elbo_comm_abort(elbo_comm *c, int code);

/* Collective. Every rank passes its own `text` (lines separated by '\n').
 * ELBO_OK when all equal rank 0's; otherwise ELBO_ERR_MISMATCH on every rank
 * with the one line "rank R disagrees on WHAT: 'its line' where rank 0 has
 * 'rank 0's line'" in elbo_last_error(). */
elbo_status elbo_comm_agree(elbo_comm *c, const char *what, const char *text);

/* FNV-1a over the bit patterns of x[0..n) (so -0.0 and NaN payloads count). */
uint64_t elbo_checksum_f32(const float *x, size_t n);

/* Collective. ELBO_OK when every rank's checksum of x[0..n) equals rank 0's;
 * otherwise ELBO_ERR_MISMATCH on every rank naming the lowest differing rank
 * and both checksums. */
elbo_status elbo_comm_check_params(elbo_comm *c, const char *what, const float *x, size_t n);

/* Bucketed, ordered, nonblocking sum of a float slab across ranks. */
typedef struct elbo_allreduce elbo_allreduce;

/* Slab x[0..n) split into nbuckets buckets, bucket b = x[starts[b] .. starts[b+1])
 * with starts[0] = 0 and starts[nbuckets] = n (increasing). starts NULL: equal
 * buckets. The slab and the layout must be the same on every rank; x stays
 * owned by the caller and is summed in place. */
elbo_status elbo_allreduce_new(elbo_comm *c, float *x, size_t n, int nbuckets, const size_t *starts,
                               elbo_allreduce **out);
/* The same sum through memory the ranks share, when they all run on one node
 * (collective; MPI_Comm_split_type decides): the ranks add pieces of a bucket
 * straight from every rank's slab, in rank order, and write the sums into all
 * of them: the same bits as elbo_allreduce_new's, without messages (the
 * scheme is at the shared-memory path in comm.c).
 * The slab is the window's: *x gets it (n floats, zeroed), and the caller sums
 * there, not in a slab of its own; it lives until elbo_allreduce_free. When
 * the ranks span nodes: ELBO_OK with *out and *x NULL (use elbo_allreduce_new). */
elbo_status elbo_allreduce_new_shared(elbo_comm *c, size_t n, int nbuckets, const size_t *starts,
                                      elbo_allreduce **out, float **x);
int elbo_allreduce_buckets(const elbo_allreduce *a);
/* Bucket b of x is final on this rank: post its messages. Each bucket is
 * started once per round (a round ends with elbo_allreduce_wait). */
elbo_status elbo_allreduce_start(elbo_allreduce *a, int b);
/* Advance started buckets without blocking (sum chunks whose contributions
 * have arrived, send the sums). */
elbo_status elbo_allreduce_progress(elbo_allreduce *a);
/* (local) Every started bucket is summed (after progress calls): a wait
 * would return at once. */
bool elbo_allreduce_done(const elbo_allreduce *a);
/* Block until every bucket of the round is summed (all must have been
 * started): x then holds the ordered sum on every rank. Ends the round. */
elbo_status elbo_allreduce_wait(elbo_allreduce *a);
void elbo_allreduce_free(elbo_allreduce *a);

/* The same ordered sum on one process: out[i] = ((x_0[i] + x_1[i]) + ...) over
 * p slabs (the reference the distributed sum is tested against); out may be
 * x[0] (the shared path sums in place). */
void elbo_sum_ordered_f32(float *out, const float *const *x, int p, size_t n);

#endif
