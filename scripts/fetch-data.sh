#!/bin/sh
# Unpack Fashion-MNIST from the Debian package dataset-fashion-mnist into DIR
# (default ./data/fashion-mnist, ignored by git) as the raw IDX files the
# drivers read with --data DIR. Idempotent: files already unpacked and
# complete are left alone; each file is written to a temp name and renamed.
set -eu

SRC=${ELBO_FASHION_MNIST_SRC:-/usr/share/datasets/fashion-mnist}
DIR=${1:-data/fashion-mnist}
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

die() { echo "fetch-data.sh: $*" >&2; exit 1; }

[ "$#" -le 1 ] || die "usage: scripts/fetch-data.sh [DIR]"
command -v gzip >/dev/null 2>&1 || die "gzip not found (apt-get install gzip)"
for f in $FILES; do
    [ -r "$SRC/$f.gz" ] || die "$SRC/$f.gz not found: install the Debian package (sudo apt-get install dataset-fashion-mnist) or set ELBO_FASHION_MNIST_SRC"
done
mkdir -p "$DIR" || die "cannot create $DIR"

for f in $FILES; do
    out="$DIR/$f"
    # gzip -l reports the uncompressed size (mod 2^32; these files are far smaller).
    want=$(gzip -l "$SRC/$f.gz" | awk 'NR == 2 { print $2 }')
    if [ -f "$out" ] && [ "$(wc -c < "$out" | tr -d ' ')" = "$want" ]; then
        echo "$out: up to date"
        continue
    fi
    tmp="$out.tmp.$$"
    trap 'rm -f "$tmp"' EXIT INT TERM
    gzip -dc "$SRC/$f.gz" > "$tmp" || die "cannot decompress $SRC/$f.gz"
    mv -f "$tmp" "$out"
    trap - EXIT INT TERM
    echo "$out: $want bytes"
done
