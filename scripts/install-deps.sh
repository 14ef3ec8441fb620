#!/usr/bin/env bash
# Install whatever the project needs and the machine lacks (Debian packages).
#   scripts/install-deps.sh [build] [data] [check] [cross] [io] [peers] [mpi]
# build: compilers, meson, Criterion, Google Benchmark   data: Fashion-MNIST
# check: clang + sanitizer/fuzzer runtimes, llvm-symbolizer, valgrind, NumPy (the metrics' reference)
# cross: aarch64 gcc + qemu-user
# io: headless Chromium (the report test), NumPy and PIL (files other tools write, read back by the tests)
# peers: OpenBLAS, PyTorch, scikit-learn (comparison scripts only)
# mpi: Open MPI (optional: sweep --mpi and the MPI tests; docs/MPI.md)
# With no argument: build and data. apt-get update runs once, only if something is missing.
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build data)

want=()
for g in "${groups[@]}"; do
    case "$g" in
    build) want+=(gcc g++ meson ninja-build pkg-config libcriterion-dev libbenchmark-dev git) ;;
    data) want+=(dataset-fashion-mnist gzip) ;;
    check) want+=(clang libclang-rt-14-dev llvm-14 valgrind python3-numpy) ;;
    cross) want+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
    io) want+=(chromium python3-numpy python3-pil) ;;
    peers) want+=(libopenblas-dev python3-torch python3-sklearn python3-numpy) ;;
    mpi) want+=(openmpi-bin libopenmpi-dev) ;;
    *) echo "install-deps: unknown group '$g' (expected build, data, check, cross, io, peers or mpi)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
