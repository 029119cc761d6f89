// Quantized rows: dequantize, activation quantization and dot products, each as a scalar reference
// (Quant+Reference.swift, ggml's generic C code restated) and a fast version (Quant+Fast.swift and,
// on x86-64, the AVX2 dot products of Quant+AVX2.swift). Rows are raw bytes in the formats of
// QuantType.swift, read unaligned, as they lie in a memory-mapped model file.
//
// A product of a weight row with an activation vector x goes as in ggml's CPU backend: x is first
// quantized once into `type.activationFormat` (`quantizeActivations`), then each weight row is
// dotted with it (`dot`), integer sums per block times float scales. Matrix products over many rows
// on a thread pool are in QuantMatrix.swift.

public enum Quant {
    /// How q8_0 and q8_1 activations are rounded. ggml has two: the portable reference that writes
    /// model files (`quantize_row_q8_0_ref`: 1/d, rounding halves away from zero; what gguf-py
    /// computes) and its CPU backend's SIMD version, which llama.cpp runs on activations
    /// (x86: 127/amax, rounding halves to even; arm64: 1/d, halves to even).
    public enum Q8Rounding: Sendable {
        case ggmlReference
        case ggmlCPU
    }

    static func checkRow(_ k: Int, _ blockLength: Int, _ what: String) {
        precondition(k >= 0 && k % blockLength == 0, "\(what): \(k) values is not a whole number of \(blockLength)-value blocks")
    }
}

extension UnsafeRawPointer {
    @inline(__always) func half(_ offset: Int) -> Float { halfToFloat(loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    @inline(__always) func byte(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
    @inline(__always) func int8(_ offset: Int) -> Int8 { load(fromByteOffset: offset, as: Int8.self) }
}
