#!/usr/bin/env bash
# dSprites generation (models/data/dsprites.h): all 737,280 images rendered
# in minibatches of 256 on one thread, in each layout (bits, bytes, floats),
# REPEAT passes interleaved across layouts, median wall and CPU seconds per
# pass (CPU time is the steadier figure on a shared machine); the
# checksum of the whole set on 1 and 2 threads against the recorded one; the
# factor table written, read back and compared; a PNG grid of samples.
#
#   bench/dsprites_gen.sh [BUILD_DIR]        (default BUILD_DIR: build)
#   REPEAT=5 OUT=runs/dsprites_gen
#
# The bar (issue 14): the whole set in under 10 s on one thread.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[[ $build = /* ]] || build=$root/$build
exe=$build/bench/data/dsprites_gen
repeat=${REPEAT:-5}
out=${OUT:-$root/runs/dsprites_gen}
[ -x "$exe" ] || { echo "dsprites_gen.sh: $exe not built (meson compile -C $build)" >&2; exit 2; }
mkdir -p "$out"

# CRC-32 of the set in each layout, recorded when the outlines were fixed.
declare -A recorded=([bits]=93dfed22 [u8]=ffcd64dd [f32]=aa6f44ed)
formats=(bits u8 f32)
declare -A times cpus
for ((r = 0; r < repeat; r++)); do
    for f in "${formats[@]}"; do
        line=$("$exe" --format "$f" --threads 1 | grep '^format')
        times[$f]+="$(echo "$line" | sed -n 's/.*: \([0-9.]*\) s,.*/\1/p') "
        cpus[$f]+="$(echo "$line" | sed -n 's/.*cpu \([0-9.]*\) s.*/\1/p') "
    done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

status=0
printf '%-6s %14s %12s %14s %10s %10s  %s\n' layout "median s/set" "median cpu s" "images/s" "crc 1 thr" \
    "crc 2 thr" checksum
for f in "${formats[@]}"; do
    med=$(echo "${times[$f]}" | median)
    cpu=$(echo "${cpus[$f]}" | median)
    c1=$("$exe" --format "$f" --threads 1 --checksum | sed -n 's/.*checksum \([0-9a-f]*\)/\1/p')
    c2=$("$exe" --format "$f" --threads 2 --checksum | sed -n 's/.*checksum \([0-9a-f]*\)/\1/p')
    verdict="same on 1 and 2 threads, equal to the recorded ${recorded[$f]}"
    if [ "$c1" != "$c2" ] || [ "$c1" != "${recorded[$f]}" ]; then
        verdict="MISMATCH (recorded ${recorded[$f]})"
        status=1
    fi
    printf '%-6s %14s %12s %14s %10s %10s  %s\n' "$f" "$med" "$cpu" \
        "$(awk -v t="$med" 'BEGIN {printf "%.3g", 737280 / t}')" "$c1" "$c2" "$verdict"
    awk -v t="$med" 'BEGIN {exit !(t < 10)}' || { echo "  $f: above the 10 s bar"; status=1; }
done
"$exe" --png "$out/dsprites_grid.png" --factors "$out/dsprites_factors.csv" | grep -v '^format'
echo "grid of samples: $out/dsprites_grid.png; factor table: $out/dsprites_factors.csv"
exit $status
