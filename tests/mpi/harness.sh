# Sourced by the MPI test scripts: the pass/fail counters, mpirun on
# loopback, and the tolerance comparison of two runs' figures.
pass=0
fails=0
ok() { pass=$((pass + 1)); printf '  ok    %s\n' "$1"; }
bad() { fails=$((fails + 1)); printf '  FAIL  %s\n' "$1"; }
expect() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
finish() {
    echo "$pass passed, $fails failed"
    [ $fails = 0 ] || exit 1
}
# Containers run tests as root; Open MPI refuses that unless told twice.
mpi_as_root() { if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi; }
run_mpi() { timeout 120 mpirun --oversubscribe "$@"; }
# close A B TOL: every number of `figures A` (a function of the caller's)
# within TOL (relative) of B's.
close() {
    paste -d, <(figures "$1" | tr -c '0-9.e+\n-' ',') <(figures "$2" | tr -c '0-9.e+\n-' ',') | awk -F, -v tol="$3" '
        { n = NF / 2; for (i = 1; i <= n; i++) if ($i != "" && $(i + n) != "") {
              a = $i + 0; b = $(i + n) + 0; d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b
              if (d > tol * (s > 1 ? s : 1)) { print "  differ: " $i " vs " $(i + n); bad = 1 } } }
        END { exit bad }'
}
