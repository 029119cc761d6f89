#!/bin/sh
# Builds and runs the Sgemm benchmark: bench/kernels/run.sh [extra swiftc flags...] [-- M K N ...]
# e.g. bench/kernels/run.sh -Xcc -march=x86-64-v3 -DHARK_X86_FMA
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/hark-sgemm-bench
flags=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags="$flags $1"; shift; done
[ "$1" = "--" ] && shift
swiftc -O -wmo -module-name SgemmBench $flags "$root"/Sources/HarkKernels/*.swift "$root"/bench/kernels/main.swift -o "$out"
"$out" "$@"
