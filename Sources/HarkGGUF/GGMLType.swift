/// A tensor's element type: ggml's `enum ggml_type` (ggml.h), stored as `uint32` in a tensor's info.
///
/// Each type stores `blockSize` elements in `bytesPerBlock` bytes (gguf-py `GGML_QUANT_SIZES`, ggml's
/// `type_traits`; `QK_K` = 256). Ids 4, 5 (Q4_2, Q4_3) and 31–33, 36–38 (the repacked Q4_0_x_x and
/// IQ4_NL_x_x) were removed from ggml and are not valid in GGUF files.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// Elements per block: 1 for plain types, 32 for the legacy quants, 256 (`QK_K`) for k-quants.
    public var blockSize: Int { Self.layout(self).block }
    /// Bytes one block takes.
    public var bytesPerBlock: Int { Self.layout(self).bytes }

    /// ggml's name: "F32", "Q4_K", "IQ2_XXS", …
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_XXS: "IQ2_XXS"
        case .iq2_XS: "IQ2_XS"
        case .iq3_XXS: "IQ3_XXS"
        case .iq1_S: "IQ1_S"
        case .iq4_NL: "IQ4_NL"
        case .iq3_S: "IQ3_S"
        case .iq2_S: "IQ2_S"
        case .iq4_XS: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_M: "IQ1_M"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .mxfp4: "MXFP4"
        case .nvfp4: "NVFP4"
        case .q1_0: "Q1_0"
        }
    }

    /// The types Hark's kernels compute. Every other type is read (sizes and offsets checked) but a
    /// model that uses one is refused by `GGUFFile.requireComputableTypes()`.
    public static let computed: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K]

    /// Whether Hark's kernels compute this type.
    public var isComputed: Bool { Self.computed.contains(self) }

    /// Whether elements are stored in blocks with scales (not plain numbers).
    public var isQuantized: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: false
        default: true
        }
    }

    /// The bytes of `elements` elements, or nil when `elements` is not a whole number of blocks or the
    /// size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }

    private static let qkK = 256

    private static func layout(_ type: GGMLType) -> (block: Int, bytes: Int) {
        switch type {
        case .f32: (1, 4)
        case .f16: (1, 2)
        case .q4_0: (32, 2 + 16)
        case .q4_1: (32, 2 + 2 + 16)
        case .q5_0: (32, 2 + 4 + 16)
        case .q5_1: (32, 2 + 2 + 4 + 16)
        case .q8_0: (32, 2 + 32)
        case .q8_1: (32, 4 + 4 + 32)
        case .q2_K: (qkK, 2 + 2 + qkK / 16 + qkK / 4)
        case .q3_K: (qkK, 2 + qkK / 4 + qkK / 8 + 12)
        case .q4_K: (qkK, 2 + 2 + qkK / 2 + 12)
        case .q5_K: (qkK, 2 + 2 + qkK / 2 + qkK / 8 + 12)
        case .q6_K: (qkK, 2 + qkK / 2 + qkK / 4 + qkK / 16)
        case .q8_K: (qkK, 4 + qkK + qkK / 8)
        case .iq2_XXS: (qkK, 2 + qkK / 4)
        case .iq2_XS: (qkK, 2 + qkK / 4 + qkK / 32)
        case .iq3_XXS: (qkK, 2 + qkK / 4 + qkK / 8)
        case .iq1_S: (qkK, 2 + qkK / 8 + qkK / 16)
        case .iq4_NL: (32, 2 + 16)
        case .iq3_S: (qkK, 2 + qkK / 4 + qkK / 8 + qkK / 32 + 4)
        case .iq2_S: (qkK, 2 + qkK / 4 + qkK / 16)
        case .iq4_XS: (qkK, 2 + 2 + qkK / 2 + qkK / 64)
        case .i8: (1, 1)
        case .i16: (1, 2)
        case .i32: (1, 4)
        case .i64: (1, 8)
        case .f64: (1, 8)
        case .iq1_M: (qkK, qkK / 8 + qkK / 16 + qkK / 32)
        case .bf16: (1, 2)
        case .tq1_0: (qkK, 2 + 4 * 13)
        case .tq2_0: (qkK, 2 + 64)
        case .mxfp4: (32, 1 + 16)
        case .nvfp4: (64, 4 + 32)
        case .q1_0: (128, 2 + 16)
        }
    }
}
