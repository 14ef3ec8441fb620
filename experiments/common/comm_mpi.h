/* The MPI communicator behind an elbo_comm, for driver-side modules that
 * speak MPI themselves (the distributed sweep). Include only from files that
 * meson compiles when MPI is found. */
#ifndef ELBO_EXPERIMENTS_COMM_MPI_H
#define ELBO_EXPERIMENTS_COMM_MPI_H

#include <mpi.h>

#include "comm.h"

MPI_Comm elbo_comm_mpi(const elbo_comm *c);

#endif
