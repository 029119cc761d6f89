#!/bin/sh
# Builds and runs the quantized matrix-vector benchmark: bench/quant/run.sh [-- THREADS...]
# Compiled with the package's kernel settings from Sources/HarkKernels: on x86-64, FMA and x86-64-v4
# where this machine has AVX-512 (as Package.swift decides), else x86-64-v3; HARK_CPU overrides.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/hark-quant-bench
flags=""
case $(uname -m) in
x86_64)
    level=${HARK_CPU:-x86-64-v4}
    if [ -z "$HARK_CPU" ]; then
        for feature in avx512f avx512bw avx512cd avx512dq avx512vl; do
            grep -m1 '^flags' /proc/cpuinfo | grep -qw "$feature" || level=x86-64-v3
        done
    fi
    flags="-Xcc -march=$level -DHARK_X86_FMA"
    [ "$level" = x86-64-v4 ] && flags="$flags -DHARK_X86_AVX512"
    ;;
esac
[ "$1" = "--" ] && shift
swiftc -O -wmo -module-name QuantBench $flags "$root"/Sources/HarkKernels/*.swift "$root"/bench/quant/main.swift -o "$out"
"$out" "$@"
