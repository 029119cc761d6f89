// ggml's quantized blocks as Swift structs, field for field (ggml-common.h, QK_K = 256, K_SCALE_SIZE = 12).
// Swift lays a struct's stored properties out in declaration order; fixed arrays are tuples of bytes
// (alignment 1), so each struct has ggml's size with no padding, which QuantBlockTests pins, as ggml's
// static_asserts do. The kernels read blocks through raw pointers at these offsets; the structs are
// the layout's definition and let tests build blocks by field.

public typealias Bytes4 = (UInt8, UInt8, UInt8, UInt8)
public typealias Bytes12 = (Bytes4, Bytes4, Bytes4)
public typealias Bytes16 = (Bytes4, Bytes4, Bytes4, Bytes4)
public typealias Bytes32 = (Bytes16, Bytes16)
public typealias Bytes64 = (Bytes32, Bytes32)
public typealias Bytes128 = (Bytes64, Bytes64)
public typealias Bytes256 = (Bytes128, Bytes128)

/// block_q4_0: 18 bytes for 32 values.
public struct BlockQ4_0 {
    public var d: UInt16        // float16 scale
    public var qs: Bytes16      // value j in the low nibble of byte j, value j + 16 in its high nibble
}

/// block_q4_1: 20 bytes for 32 values.
public struct BlockQ4_1 {
    public var d: UInt16        // float16 scale
    public var m: UInt16        // float16 minimum
    public var qs: Bytes16
}

/// block_q8_0: 34 bytes for 32 values.
public struct BlockQ8_0 {
    public var d: UInt16        // float16 scale
    public var qs: Bytes32      // int8
}

/// block_q8_1: 36 bytes for 32 values (activations of Q4_1 products).
public struct BlockQ8_1 {
    public var d: UInt16        // float16 scale
    public var s: UInt16        // float16 d · Σ qs
    public var qs: Bytes32      // int8
}

/// block_q4_K: 144 bytes for 256 values.
public struct BlockQ4_K {
    public var d: UInt16        // float16 scale of the 6-bit scales
    public var dmin: UInt16     // float16 scale of the 6-bit mins
    public var scales: Bytes12  // 8 scales and 8 mins, 6 bits each (see `kQuantScaleMin`)
    public var qs: Bytes128     // 4 chunks of 64 values: 32 bytes, low nibbles values 0–31, high 32–63
}

/// block_q5_K: 176 bytes for 256 values.
public struct BlockQ5_K {
    public var d: UInt16
    public var dmin: UInt16
    public var scales: Bytes12
    public var qh: Bytes32      // bit 2c of byte l: value 64c + l's fifth bit; bit 2c+1: value 64c + 32 + l's
    public var qs: Bytes128     // low 4 bits, as in q4_K
}

/// block_q6_K: 210 bytes for 256 values.
public struct BlockQ6_K {
    public var ql: Bytes128     // low 4 bits
    public var qh: Bytes64      // high 2 bits
    public var scales: Bytes16  // int8 scale per 16 values
    public var d: UInt16        // float16 super-block scale
}

/// block_q8_K: 292 bytes for 256 values (activations of K-quant products).
public struct BlockQ8_K {
    public var d: Float         // float32 scale
    public var qs: Bytes256     // int8
    public var bsums: (Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16,
                       Int16, Int16, Int16, Int16, Int16, Int16, Int16, Int16) // Σ qs over each 16
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..<8) of a q4_K/q5_K block
/// from its 12 scale bytes. Sub-blocks 0–3 keep theirs in the low 6 bits of bytes j and j + 4; 4–7 in
/// the nibbles of byte j + 4 with their top two bits in the spare bits of bytes j − 4 and j.
@inline(__always)
public func kQuantScaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
    if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
    return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
}
