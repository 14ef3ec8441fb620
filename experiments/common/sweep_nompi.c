/* sweep --mpi in a build without MPI: one line on how to get it, exit 2. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "sweep_mpi.h"

elbo_comm *sweep_mpi_begin(int *argc, char ***argv, const char *prog, const char *spec)
{
    (void)argc, (void)argv, (void)spec;
    fprintf(stderr,
            "%s: --mpi: this build has no MPI; install it (scripts/install-deps.sh mpi) and rebuild "
            "(meson setup --reconfigure build -Dmpi=enabled)\n",
            prog);
    exit(ELBO_EXIT_USAGE);
}

/* Without MPI no elbo_comm exists: every caller holds NULL, the root. */
bool sweep_mpi_is_root(const elbo_comm *c) { return c == NULL; }
void sweep_mpi_end(elbo_comm *c) { (void)c; }
void sweep_mpi(sweep_plan *p, elbo_comm *c, int root_jobs, double rank_timeout)
{
    (void)c, (void)root_jobs, (void)rank_timeout;
    sweep_local(p);
}
