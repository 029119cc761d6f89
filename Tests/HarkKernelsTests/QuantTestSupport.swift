import HarkKernels
import HarkTestSupport

/// Random rows of each weight type for tests: random quant bits, with finite scales of sane size in
/// the float16 fields (random bits there would make infinities and NaNs no model holds).
func randomRow(_ type: QuantType, count k: Int, _ rng: inout SplitMix64) -> [UInt8] {
    var bytes = (0..<type.rowBytes(k)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    func setHalf(_ offset: Int, _ value: Float) {
        let h = floatToHalf(value)
        bytes[offset] = UInt8(truncatingIfNeeded: h)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: h >> 8)
    }
    let bb = type.blockBytes
    for b in 0..<(k / type.blockLength) {
        let o = b * bb
        switch type {
        case .f32:
            let f = rng.nextFloat().bitPattern
            for i in 0..<4 { bytes[o + i] = UInt8(truncatingIfNeeded: f >> (8 * i)) }
        case .f16: setHalf(o, rng.nextFloat() * 2)
        case .bf16:
            let v = floatToBF16(rng.nextFloat() * 2)
            bytes[o] = UInt8(truncatingIfNeeded: v); bytes[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
        case .q8_0, .q4_0: setHalf(o, rng.nextFloat() * 0.05)
        case .q4_1: setHalf(o, abs(rng.nextFloat()) * 0.05); setHalf(o + 2, rng.nextFloat() * 0.4)
        case .q4_K, .q5_K: setHalf(o, abs(rng.nextFloat()) * 0.01); setHalf(o + 2, abs(rng.nextFloat()) * 0.01)
        case .q6_K: setHalf(o + 208, rng.nextFloat() * 0.002)
        }
    }
    return bytes
}

/// The byte ranges of a block that hold quants (not scales), for `offsetMagnitudes`.
func quantByteRanges(_ type: QuantType) -> [Range<Int>] {
    switch type {
    case .f32, .f16, .bf16: []
    case .q8_0, .q4_0: [2..<type.blockBytes]
    case .q4_1: [4..<20]
    case .q4_K, .q5_K: [16..<type.blockBytes]
    case .q6_K: [0..<192]
    }
}

/// |the value each weight would have with all its quants zero|: the min/offset part of a value,
/// which products compute apart from the rest, so error bounds must count it.
func offsetMagnitudes(_ type: QuantType, _ row: [UInt8], count k: Int) -> [Float] {
    var zeroed = row
    for b in 0..<(k / type.blockLength) {
        for r in quantByteRanges(type) { for i in r { zeroed[b * type.blockBytes + i] = 0 } }
    }
    if quantByteRanges(type).isEmpty { return [Float](repeating: 0, count: k) }
    return dequantized(type, zeroed, count: k, reference: true).map(abs)
}

func dequantized(_ type: QuantType, _ row: [UInt8], count k: Int, reference: Bool) -> [Float] {
    var y = [Float](repeating: .nan, count: k)
    row.withUnsafeBytes { r in
        y.withUnsafeMutableBufferPointer {
            if reference { Quant.referenceDequantize(type, r.baseAddress!, count: k, into: $0.baseAddress!) }
            else { Quant.dequantize(type, r.baseAddress!, count: k, into: $0.baseAddress!) }
        }
    }
    return y
}

func quantizedActivations(_ format: ActivationFormat, _ x: [Float], reference: Bool, rounding: Quant.Q8Rounding = .ggmlCPU) -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: format.rowBytes(x.count))
    x.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBytes {
            if reference { Quant.referenceQuantizeActivations(format, x.baseAddress!, count: x.count, into: $0.baseAddress!, rounding: rounding) }
            else { Quant.quantizeActivations(format, x.baseAddress!, count: x.count, into: $0.baseAddress!) }
        }
    }
    return out
}

/// The values a quantized activation row stands for (d · q per block; the float formats widened).
func activationValues(_ format: ActivationFormat, _ bytes: [UInt8], count k: Int) -> [Float] {
    bytes.withUnsafeBytes { b in
        (0..<k).map { i -> Float in
            switch format {
            case .f32: b.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
            case .f16: halfToFloat(b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            case .bf16: bf16ToFloat(b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            case .q8_0: halfToFloat(b.loadUnaligned(fromByteOffset: 34 * (i / 32), as: UInt16.self)) * Float(Int8(bitPattern: b[34 * (i / 32) + 2 + i % 32]))
            case .q8_1: halfToFloat(b.loadUnaligned(fromByteOffset: 36 * (i / 32), as: UInt16.self)) * Float(Int8(bitPattern: b[36 * (i / 32) + 4 + i % 32]))
            case .q8_K: b.loadUnaligned(fromByteOffset: 292 * (i / 256), as: Float.self) * Float(Int8(bitPattern: b[292 * (i / 256) + 4 + i % 256]))
            }
        }
    }
}

func dot(_ type: QuantType, _ w: [UInt8], _ a: [UInt8], count k: Int, reference: Bool) -> Float {
    w.withUnsafeBytes { w in
        a.withUnsafeBytes { a in
            reference ? Quant.referenceDot(type, w.baseAddress!, a.baseAddress!, count: k)
                : Quant.dot(type, w.baseAddress!, a.baseAddress!, count: k)
        }
    }
}

/// Values in [-scale, scale) with a few exact ties for rounding (halves of the q8 step) and a zero block.
func randomActivations(count k: Int, _ rng: inout SplitMix64, scale: Float = 2) -> [Float] {
    (0..<k).map { _ in rng.nextFloat() * scale }
}

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count / 2)
    var it = s.utf8.makeIterator()
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
    while let hi = it.next(), let lo = it.next() { out.append(nibble(hi) << 4 | nibble(lo)) }
    return out
}

/// Big-endian hex float32 bit patterns (8 digits each) → floats.
func hexFloats(_ s: String) -> [Float] {
    let b = hexBytes(s)
    return stride(from: 0, to: b.count, by: 4).map { i in
        Float(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
    }
}
