#!/usr/bin/env bash
# The whole test suite: install what is missing, build, and pass every test
# in a release build (with Open MPI: the MPI tests run under mpirun -np 2 and
# 3), the NEON path cross-built for aarch64 and run under qemu, and the MPI
# suite of a build without MPI (`--mpi` refused in one line). --full runs
# that build's drivers suite too, then the whole suite again under
# AddressSanitizer + UBSan (about 15 minutes more on 2 cores).
#   scripts/test.sh            release + NEON + no-MPI refusal (what CI runs; under 10 minutes)
#   scripts/test.sh --full     release + NEON + no-MPI + sanitizer builds
#   scripts/test.sh --fast     release build only
#   ELBO_LONG_TESTS=1          also the slow tests (full trainings)
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0 full=0
for a in "$@"; do
    case "$a" in
    --fast) fast=1 ;;
    --full) full=1 ;;
    *) echo "test.sh: unknown flag '$a' (expected --fast or --full)" >&2; exit 2 ;;
    esac
done

scripts/install-deps.sh build data check cross mpi io
scripts/fetch-data.sh data/fashion-mnist >/dev/null

long=false
[ "${ELBO_LONG_TESTS:-0}" = 1 ] && long=true

# setup DIR ARGS...: configure a build directory, reconfiguring if it exists.
setup() {
    local dir=$1
    shift
    if [ -d "$dir" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

echo "== release build =="
setup build-test --buildtype=release -Dlong_tests=$long -Dmpi=enabled
meson compile -C build-test
meson test -C build-test --print-errorlogs
ran=(build-test)

if [ $fast = 0 ]; then
    scripts/test-neon.sh
    ran+=(build-rel-neon)

    setup build-nompi --buildtype=release -Dmpi=disabled -Dbench=disabled
    if [ $full = 1 ]; then
        echo "== build without MPI (-Dmpi=disabled): drivers and the MPI suite =="
        meson compile -C build-nompi
        meson test -C build-nompi --print-errorlogs --suite experiments --suite mpi
    else
        echo "== build without MPI (-Dmpi=disabled): the MPI suite =="
        meson compile -C build-nompi experiments/vae experiments/sweep experiments/vae_variants experiments/disentangle \
            experiments/vqvae experiments/disentangle_dsprites
        meson test -C build-nompi --no-rebuild --print-errorlogs --suite mpi
    fi
    ran+=(build-nompi)
fi

if [ $full = 1 ]; then
    echo "== address + undefined sanitizer build =="
    setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dbench=disabled -Dmpi=enabled
    meson compile -C build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --print-errorlogs --timeout-multiplier 4
    ran+=(build-asan)
fi
# One closing line over every build's meson test log.
python3 - "${ran[@]}" <<'PY'
import json, os, sys
ok = bad = 0
for d in sys.argv[1:]:
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        continue
    for line in open(log):
        r = json.loads(line)["result"]
        ok += r == "OK"
        bad += r not in ("OK", "SKIP", "EXPECTEDFAIL")
print(f"{ok} passed, {bad} failed")
PY
