#!/bin/sh
# Builds and runs the quantized matrix-vector benchmark: bench/quant/run.sh [-- THREADS...]
# Compiled with the package's kernel settings from Sources/HarkKernels: on x86-64, FMA and x86-64-v4
# where this machine has AVX-512 (as Package.swift decides), with VNNI where it has that too, else
# x86-64-v3; HARK_CPU and HARK_VNNI=0 override.
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
    # VNNI as Package.swift decides it: v4, the build machine lists avx512_vnni, HARK_VNNI is not 0.
    if [ "$level" = x86-64-v4 ] && [ "${HARK_VNNI:-1}" != 0 ] && grep -m1 '^flags' /proc/cpuinfo | grep -qw avx512_vnni; then
        flags="$flags -Xcc -mavx512vnni -DHARK_X86_VNNI"
    fi
    ;;
esac
[ "$1" = "--" ] && shift
swiftc -O -wmo -module-name QuantBench $flags -I "$root"/Sources/CIntrinsics "$root"/Sources/HarkKernels/*.swift "$root"/bench/quant/main.swift -o "$out"
"$out" "$@"
