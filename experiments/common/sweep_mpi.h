/* A sweep over MPI ranks (sweep_mpi.c, built when meson finds MPI; without
 * it sweep_nompi.c, whose sweep_mpi_begin says how to build with MPI and
 * exits 2).
 *
 * Rank 0 schedules: it hands configurations to ranks as their slots free up
 * (dynamic, so long and short runs balance), runs its own share of drivers
 * unless --root-jobs 0, records each result as it arrives (sweep_runs.h:
 * OUT/sweep_runs.json rewritten atomically) and retries a failed run on
 * another rank. Every rank forks its drivers itself, so each run gets the
 * threads of the rank it lands on. Nothing blocks in MPI: every rank polls
 * (MPI_Iprobe, waitpid WNOHANG) and sleeps a few milliseconds, because a
 * blocking MPI receive spins a core that the drivers need.
 *
 * Heartbeats: every rank and rank 0 exchange a small message each second. A
 * rank silent for --rank-timeout seconds is presumed dead: its runs are
 * retried elsewhere and nothing is sent to it again. Plain `mpirun` kills
 * the whole job when one rank dies; under `mpirun --enable-recovery` the
 * other ranks carry on and the sweep finishes (docs/MPI.md). */
#ifndef ELBO_EXPERIMENTS_SWEEP_MPI_H
#define ELBO_EXPERIMENTS_SWEEP_MPI_H

#include <stdbool.h>

#include "comm.h"
#include "sweep_runs.h"

/* MPI_Init, then every rank's spec (the sweep's flags, one per line) must
 * equal rank 0's: on a mismatch rank 0 prints the one line naming the rank
 * and the flag, and every rank exits 2. */
elbo_comm *sweep_mpi_begin(int *argc, char ***argv, const char *prog, const char *spec);

/* Rank 0 (or no MPI at all: c NULL) prints and collects. */
bool sweep_mpi_is_root(const elbo_comm *c);
/* MPI_Finalize for a sweep that runs nothing (--dry-run); NULL: nothing. */
void sweep_mpi_end(elbo_comm *c);

/* Run the plan across the ranks of c. Rank 0 returns when every run is
 * settled (or SIGINT/SIGTERM stopped it), MPI finalized; every other rank
 * exits inside. root_jobs: runs at once on rank 0 (0: it only schedules,
 * unless it is the only rank). */
void sweep_mpi(sweep_plan *p, elbo_comm *c, int root_jobs, double rank_timeout);

#endif
