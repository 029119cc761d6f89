/// The block layouts of the quantized types Hark computes, as ggml's `ggml-common.h` declares them
/// (`QK_K` = 256, `K_SCALE_SIZE` = 12; `ggml_half` is an IEEE binary16 bit pattern). A tensor's data is
/// an array of these, `ne0 / blockSize` blocks per row. Tests pin each `MemoryLayout` size and stride
/// to `GGMLType.bytesPerBlock`, as ggml's `static_assert`s do, so a tensor's bytes can be viewed as
/// `UnsafeBufferPointer<Block>` (the data offsets are aligned to at least 32 bytes; every block's
/// alignment is at most 4).
public enum GGMLBlock {
    /// Q4_0: `x = d · (q − 8)`, 32 four-bit values; `qs[j]` holds element j (low nibble) and j + 16 (high).
    public struct Q4_0: Sendable {
        public var d: UInt16
        public var qs: InlineArray<16, UInt8>
    }

    /// Q4_1: `x = d · q + m`, 32 four-bit values, nibbles as Q4_0.
    public struct Q4_1: Sendable {
        public var d: UInt16
        public var m: UInt16
        public var qs: InlineArray<16, UInt8>
    }

    /// Q8_0: `x = d · q`, 32 signed bytes.
    public struct Q8_0: Sendable {
        public var d: UInt16
        public var qs: InlineArray<32, Int8>
    }

    /// Q4_K: 8 sub-blocks of 32; 6-bit scales and mins packed in `scales`; `x = d · sc · q − dmin · m`.
    public struct Q4_K: Sendable {
        public var d: UInt16
        public var dmin: UInt16
        public var scales: InlineArray<12, UInt8>
        public var qs: InlineArray<128, UInt8>
    }

    /// Q5_K: as Q4_K with a fifth bit per element in `qh`.
    public struct Q5_K: Sendable {
        public var d: UInt16
        public var dmin: UInt16
        public var scales: InlineArray<12, UInt8>
        public var qh: InlineArray<32, UInt8>
        public var qs: InlineArray<128, UInt8>
    }

    /// Q6_K: 16 sub-blocks of 16; low 4 bits in `ql`, high 2 in `qh`, 8-bit scales; `x = d · sc · (q − 32)`.
    public struct Q6_K: Sendable {
        public var ql: InlineArray<128, UInt8>
        public var qh: InlineArray<64, UInt8>
        public var scales: InlineArray<16, Int8>
        public var d: UInt16
    }

    /// Q8_K: the activations' format for k-quant dot products; float scale and per-16 sums.
    public struct Q8_K: Sendable {
        public var d: Float
        public var qs: InlineArray<256, Int8>
        public var bsums: InlineArray<16, Int16>
    }
}
