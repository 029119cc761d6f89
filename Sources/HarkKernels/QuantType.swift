// The weight formats the stage-2 engine multiplies, with ggml's block layouts (ggml-common.h), and
// the activation formats ggml's CPU backend quantizes the other operand into before a dot product.
//
// HarkKernels knows nothing of GGUF: the reader's type ids are mapped to `QuantType` by HarkLLM.
// Every format stores a row of `k` values as `k / blockLength` blocks laid end to end, so a row is
// `rowBytes(k)` bytes and an `r × k` matrix is `r · rowBytes(k)` bytes with no padding between rows.

/// A tensor format for weights (and embeddings): the nine the engine reads.
public enum QuantType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16
    /// 32 values: float16 scale d, 32 int8 q; x = d · q.
    case q8_0
    /// 32 values: float16 scale d, 16 bytes of nibbles (low nibbles are values 0–15, high 16–31); x = d · (q − 8).
    case q4_0
    /// 32 values: float16 scale d and min m, 16 bytes of nibbles; x = d · q + m.
    case q4_1
    /// 256 values in 8 sub-blocks of 32: float16 d and dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles; x = d·sc·q − dmin·m.
    case q4_K
    /// As q4_K with a fifth bit per value in 32 bytes of qh: x = d·sc·(q + 16·h) − dmin·m.
    case q5_K
    /// 256 values in 16 sub-blocks of 16: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales, float16 d; x = d·sc·(q − 32).
    case q6_K

    public var description: String { rawValue.uppercased() }

    /// Values per block.
    public var blockLength: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block (ggml's `ggml_type_size`).
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: MemoryLayout<BlockQ8_0>.size
        case .q4_0: MemoryLayout<BlockQ4_0>.size
        case .q4_1: MemoryLayout<BlockQ4_1>.size
        case .q4_K: MemoryLayout<BlockQ4_K>.size
        case .q5_K: MemoryLayout<BlockQ5_K>.size
        case .q6_K: MemoryLayout<BlockQ6_K>.size
        }
    }

    /// The format ggml's CPU backend converts the activation vector to before a dot with this weight
    /// type (its `vec_dot_type`).
    public var activationFormat: ActivationFormat {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0, .q4_0: .q8_0
        case .q4_1: .q8_1
        case .q4_K, .q5_K, .q6_K: .q8_K
        }
    }
}

/// A format activations are converted to, once per vector, before the dot products of a product.
public enum ActivationFormat: Sendable, CaseIterable {
    case f32, f16, bf16
    /// 32 values: float16 d, 32 int8.
    case q8_0
    /// 32 values: float16 d and s = d · Σq, 32 int8.
    case q8_1
    /// 256 values: float32 d, 256 int8, 16 int16 sums of 16 values.
    case q8_K

    public var blockLength: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q8_1: 32
        case .q8_K: 256
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: MemoryLayout<BlockQ8_0>.size
        case .q8_1: MemoryLayout<BlockQ8_1>.size
        case .q8_K: MemoryLayout<BlockQ8_K>.size
        }
    }
}

/// A format stored as blocks of `blockLength` values in `blockBytes` bytes each.
public protocol BlockFormat {
    var blockLength: Int { get }
    var blockBytes: Int { get }
}

extension BlockFormat {
    /// Bytes of one row of `k` values; `k` must be a multiple of `blockLength`.
    public func rowBytes(_ k: Int) -> Int {
        precondition(k >= 0 && k % blockLength == 0, "\(self): a row of \(k) values is not a whole number of \(blockLength)-value blocks")
        return k / blockLength * blockBytes
    }
}

extension QuantType: BlockFormat {}
extension ActivationFormat: BlockFormat {}

// MARK: - Half and brain-float conversions, as ggml's CPU backend does them

/// IEEE binary16 ↔ binary32. ggml converts with F16C on x86 (`_cvtss_sh(x, 0)`: round to nearest,
/// ties to even) and with the hardware on arm64; Swift's `Float16` conversions are the same operation.
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float { Float(Float16(bitPattern: h)) }

@inline(__always)
public func floatToHalf(_ f: Float) -> UInt16 { Float16(f).bitPattern }

/// bfloat16 → float32: the bf16 bits are a float's high half.
@inline(__always)
public func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// float32 → bfloat16 as ggml's `GGML_FP32_TO_BF16`: round to nearest even; NaN stays a (quiet) NaN.
@inline(__always)
public func floatToBF16(_ f: Float) -> UInt16 {
    let u = f.bitPattern
    if u & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
    // u ≤ 0xffff_ffff and the bias ≤ 0x8000: the sum can exceed UInt32 only for NaN payloads, handled above
    // (the largest non-NaN pattern 0xff80_0000 + 0x8000 fits).
    return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
}
