#!/usr/bin/env bash
# Regenerates Sources/HarkWake/ONNX/onnx.pb.swift from tools/onnx.proto (ONNX 1.23, proto2).
# Run once by hand when onnx.proto changes; the output is committed so builds never need protoc.
# Needs Debian's protobuf-compiler and protoc-gen-swift built from swift-protobuf at the same
# version Package.swift depends on (1.39.0):
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
set -euo pipefail
cd "$(dirname "$0")"
plugin=${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=../Sources/HarkWake/ONNX \
       --swift_opt=Visibility=Internal onnx.proto
