import HarkKernels
import Testing

struct QuantBlockTests {
    @Test("Given ggml's block layouts (ggml-common.h static_asserts), then the Swift block structs have exactly their sizes")
    func blockSizes() {
        #expect(MemoryLayout<BlockQ4_0>.size == 18)    // sizeof(ggml_half) + QK4_0/2
        #expect(MemoryLayout<BlockQ4_1>.size == 20)    // 2·sizeof(ggml_half) + QK4_1/2
        #expect(MemoryLayout<BlockQ8_0>.size == 34)    // sizeof(ggml_half) + QK8_0
        #expect(MemoryLayout<BlockQ8_1>.size == 36)    // 2·sizeof(ggml_half) + QK8_1
        #expect(MemoryLayout<BlockQ4_K>.size == 144)   // 2·sizeof(ggml_half) + K_SCALE_SIZE + QK_K/2
        #expect(MemoryLayout<BlockQ5_K>.size == 176)   // … + QK_K/8
        #expect(MemoryLayout<BlockQ6_K>.size == 210)   // sizeof(ggml_half) + QK_K/16 + 3·QK_K/4
        #expect(MemoryLayout<BlockQ8_K>.size == 292)   // sizeof(float) + QK_K + QK_K/16·sizeof(int16_t)
        // Strides equal sizes: arrays of blocks have no padding either.
        #expect(MemoryLayout<BlockQ4_0>.stride == 18 && MemoryLayout<BlockQ6_K>.stride == 210 && MemoryLayout<BlockQ8_K>.stride == 292)
    }

    @Test("Given the block structs, then the fields the kernels read by offset lie at ggml's offsets")
    func fieldOffsets() {
        #expect(MemoryLayout<BlockQ4_1>.offset(of: \.m) == 2 && MemoryLayout<BlockQ4_1>.offset(of: \.qs) == 4)
        #expect(MemoryLayout<BlockQ8_1>.offset(of: \.qs) == 4)
        #expect(MemoryLayout<BlockQ4_K>.offset(of: \.scales) == 4 && MemoryLayout<BlockQ4_K>.offset(of: \.qs) == 16)
        #expect(MemoryLayout<BlockQ5_K>.offset(of: \.qh) == 16 && MemoryLayout<BlockQ5_K>.offset(of: \.qs) == 48)
        #expect(MemoryLayout<BlockQ6_K>.offset(of: \.qh) == 128 && MemoryLayout<BlockQ6_K>.offset(of: \.scales) == 192 && MemoryLayout<BlockQ6_K>.offset(of: \.d) == 208)
        #expect(MemoryLayout<BlockQ8_K>.offset(of: \.qs) == 4 && MemoryLayout<BlockQ8_K>.offset(of: \.bsums) == 260)
    }

    @Test("Given each type, then block length, block bytes, row bytes and activation format are ggml's")
    func typeTable() {
        let expected: [(QuantType, Int, Int, ActivationFormat)] = [
            (.f32, 1, 4, .f32), (.f16, 1, 2, .f16), (.bf16, 1, 2, .bf16), (.q8_0, 32, 34, .q8_0), (.q4_0, 32, 18, .q8_0),
            (.q4_1, 32, 20, .q8_1), (.q4_K, 256, 144, .q8_K), (.q5_K, 256, 176, .q8_K), (.q6_K, 256, 210, .q8_K),
        ]
        for (type, length, bytes, activation) in expected {
            #expect(type.blockLength == length && type.blockBytes == bytes && type.activationFormat == activation, "\(type)")
            #expect(type.rowBytes(768) == 768 / length * bytes)
        }
        #expect(QuantType.allCases.count == 9)
        #expect(ActivationFormat.q8_K.rowBytes(512) == 584 && ActivationFormat.q8_1.rowBytes(64) == 72)
    }

    @Test("Given float16 and bfloat16 conversions, then rounding is to nearest even as ggml's")
    func halfConversions() {
        #expect(floatToHalf(1) == 0x3c00 && halfToFloat(0x3c00) == 1)
        #expect(floatToHalf(1 + 0x1p-11) == 0x3c00)            // a tie rounds to the even 1.0
        #expect(floatToHalf(1 + 3 * 0x1p-11) == 0x3c02)        // a tie rounds up to the even mantissa
        #expect(halfToFloat(0x0001) == 0x1p-24)
        #expect(floatToBF16(1) == 0x3f80 && bf16ToFloat(0x3f80) == 1)
        #expect(floatToBF16(Float(bitPattern: 0x3f80_8000)) == 0x3f80)  // tie → even
        #expect(floatToBF16(Float(bitPattern: 0x3f81_8000)) == 0x3f82)  // tie → even (up)
        #expect(floatToBF16(Float(bitPattern: 0x3f80_8001)) == 0x3f81)
        #expect(bf16ToFloat(floatToBF16(.nan)).isNaN)
    }

    @Test("Given q4_K scale bytes, then each sub-block's 6-bit scale and min unpack as get_scale_min_k4")
    func kScales() {
        // Sub-block 5: scale = low nibble of byte 9 | top 2 bits of byte 1 << 4; min = high nibble of byte 9 | top 2 bits of byte 5 << 4.
        var bytes: [UInt8] = [0, 0b1100_0000, 0, 0, 0, 0b0100_0011, 0, 0, 0, 0xA7, 0, 0]
        bytes.withUnsafeMutableBufferPointer { p in
            let (s5, m5) = kQuantScaleMin(5, p.baseAddress!)
            #expect(s5 == 0x7 | 0b11 << 4 && m5 == 0xA | 0b01 << 4)
            let (s1, m1) = kQuantScaleMin(1, p.baseAddress!)
            #expect(s1 == 0 && m1 == 3)
        }
    }
}
