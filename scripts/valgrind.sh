#!/usr/bin/env bash
# valgrind memcheck on one short run (--quick) of each driver: invalid reads
# and writes, uses of uninitialised values, bad frees and definite leaks are
# errors. Not part of the default test suite (it takes minutes).
#   scripts/valgrind.sh [DRIVER...]     default: every driver in build-rel-valgrind/experiments
#   VALGRIND_TIMEOUT=S                  per-driver limit in seconds (default 900)
# Data-reading drivers get a small generated MNIST-layout set (256 + 64 images),
# so the runs stay short under valgrind's ~50x slowdown. Exits 1 if any run
# reports an error, fails or times out.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build check

dir=build-rel-valgrind
opts=(--buildtype=debugoptimized -Dtests=false -Dbench=disabled)
if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
    meson setup "$dir" "${opts[@]}" >/dev/null
fi
meson compile -C "$dir" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/elbo-valgrind-XXXXXX")
trap 'rm -rf "$work"' EXIT

# idx FILE MAGIC_RANK DIMS... : an IDX u8 header; the payload is appended by the caller.
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
images() { # FILE N
    { printf '\x00\x00\x08\x03'; be32 "$2"; be32 28; be32 28
      head -c $(($2 * 784)) /dev/zero | tr '\0' '\100'; } >"$1"
}
labels() { # FILE N
    { printf '\x00\x00\x08\x01'; be32 "$2"
      for ((i = 0; i < $2; i++)); do printf "\\x0$((i % 10))"; done; } >"$1"
}
data=$work/data
mkdir -p "$data"
images "$data/train-images-idx3-ubyte" 256
labels "$data/train-labels-idx1-ubyte" 256
images "$data/t10k-images-idx3-ubyte" 64
labels "$data/t10k-labels-idx1-ubyte" 64

drivers=("$@")
if [ ${#drivers[@]} -eq 0 ]; then
    for src in experiments/*.c; do
        d=$(basename "$src" .c)
        [ -x "$dir/experiments/$d" ] && drivers+=("$d")
    done
fi
[ ${#drivers[@]} -gt 0 ] || { echo "valgrind.sh: no drivers built in $dir/experiments" >&2; exit 2; }

failed=()
printf '%-24s %8s %8s  %s\n' driver seconds exit result
for d in "${drivers[@]}"; do
    args=(--quick --threads 2 --seed 1 --out "$work/out-$d" --data "$data")
    case "$d" in
    sweep) args=(--driver jensen --grid 'seed=1,2' --args '--quick' --jobs 1 --out "$work/out-$d") ;;
    mog_em) args=(--quick --synthetic 400,2,3 --threads 2 --seed 1 --out "$work/out-$d") ;;
    esac
    log=$work/$d.log
    start=$(date +%s)
    set +e
    timeout "${VALGRIND_TIMEOUT:-900}" valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes \
        --log-file="$log" "$dir/experiments/$d" "${args[@]}" >/dev/null 2>"$work/$d.stderr"
    rc=$?
    set -e
    secs=$(($(date +%s) - start))
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    if [ $rc = 0 ] && [ "${errors:-1}" = 0 ]; then
        result="clean"
    else
        result="FAILED (${errors:-?} errors)"
        [ $rc = 124 ] && result="TIMEOUT"
        failed+=("$d")
        mkdir -p "$dir/valgrind-logs"
        cp "$log" "$work/$d.stderr" "$dir/valgrind-logs/"
    fi
    printf '%-24s %8s %8s  %s\n' "$d" "$secs" "$rc" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "valgrind.sh: ${failed[*]}: see $dir/valgrind-logs/" >&2
    exit 1
fi
echo "valgrind.sh: all ${#drivers[@]} drivers clean"
