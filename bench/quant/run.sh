#!/bin/sh
# Builds and runs the quantized matrix-vector benchmark: bench/quant/run.sh [-- THREADS...]
# Compiled with the package's kernel settings (x86-64-v3 + FMA on x86-64) from Sources/HarkKernels.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/hark-quant-bench
flags=""
case $(uname -m) in x86_64) flags="-Xcc -march=${HARK_CPU:-x86-64-v3} -DHARK_X86_FMA" ;; esac
[ "$1" = "--" ] && shift
swiftc -O -wmo -module-name QuantBench $flags "$root"/Sources/HarkKernels/*.swift "$root"/bench/quant/main.swift -o "$out"
"$out" "$@"
