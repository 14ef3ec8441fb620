#!/usr/bin/env bash
# Run a test program under `mpirun --oversubscribe -np P` for each P given.
#   run_mpi.sh "2 3" PROGRAM [ARGS...]
# Without MPI (mpirun not found at configure time: PROGRAM is "none") the
# test is skipped (exit 77) with the reason printed.
set -u
nps=$1
shift
if [ "${1:-none}" = none ]; then
    echo "SKIP: this build has no MPI (scripts/install-deps.sh mpi; meson setup -Dmpi=enabled)"
    exit 77
fi
# Containers run tests as root; Open MPI refuses that unless told twice.
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rc=0
for np in $nps; do
    echo "== mpirun -np $np $*"
    timeout 120 mpirun --oversubscribe -np "$np" "$@" || rc=1
done
exit $rc
