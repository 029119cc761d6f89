// Scalar references, written like ggml's portable C (ggml-quants.c, ggml-cpu/quants.c `_generic`),
// including the order of the float operations, so they are the definition the fast versions and the
// gguf-py fixtures are held to. Shapes: a row of k values is `type.rowBytes(k)` bytes.

extension Quant {
    // MARK: Dequantize

    /// y[0..<k] = the values of one row of `type`.
    public static func referenceDequantize(_ type: QuantType, _ row: UnsafeRawPointer, count k: Int, into y: UnsafeMutablePointer<Float>) {
        checkRow(k, type.blockLength, "dequantize \(type)")
        let bb = type.blockBytes
        for i in 0..<(k / type.blockLength) {
            let b = row + i * bb
            switch type {
            case .f32: y[i] = b.loadUnaligned(as: Float.self)
            case .f16: y[i] = b.half(0)
            case .bf16: y[i] = bf16ToFloat(b.loadUnaligned(as: UInt16.self))
            case .q8_0:  // d: 0, qs: 2
                let d = b.half(0)
                for j in 0..<32 { y[32 * i + j] = Float(b.int8(2 + j)) * d }
            case .q4_0:  // d: 0, qs: 2
                let d = b.half(0)
                for j in 0..<16 {
                    y[32 * i + j] = Float(Int(b.byte(2 + j) & 0xF) - 8) * d
                    y[32 * i + j + 16] = Float(Int(b.byte(2 + j) >> 4) - 8) * d
                }
            case .q4_1:  // d: 0, m: 2, qs: 4
                let d = b.half(0), m = b.half(2)
                for j in 0..<16 {
                    y[32 * i + j] = Float(b.byte(4 + j) & 0xF) * d + m
                    y[32 * i + j + 16] = Float(b.byte(4 + j) >> 4) * d + m
                }
            case .q4_K, .q5_K:  // d: 0, dmin: 2, scales: 4, (q5_K: qh: 16), qs: 16 or 48
                let d = b.half(0), dmin = b.half(2)
                let scales = (b + 4).assumingMemoryBound(to: UInt8.self)
                let qs = type == .q4_K ? 16 : 48
                var out = y + 256 * i
                for c in 0..<4 {  // chunks of 64: sub-blocks 2c (low nibbles) and 2c + 1 (high)
                    let (s1, m1) = kQuantScaleMin(2 * c, scales), (s2, m2) = kQuantScaleMin(2 * c + 1, scales)
                    let d1 = d * Float(s1), min1 = dmin * Float(m1), d2 = d * Float(s2), min2 = dmin * Float(m2)
                    for l in 0..<32 {
                        let q = b.byte(qs + 32 * c + l)
                        let h = type == .q5_K ? b.byte(16 + l) : 0
                        let lo = Float(Int(q & 0xF) + (h & (1 << (2 * c)) != 0 ? 16 : 0))
                        let hi = Float(Int(q >> 4) + (h & (2 << (2 * c)) != 0 ? 16 : 0))
                        out[l] = d1 * lo - min1
                        out[l + 32] = d2 * hi - min2
                    }
                    out += 64
                }
            case .q6_K:  // ql: 0, qh: 128, scales: 192, d: 208
                let d = b.half(208)
                for half in 0..<2 {  // 128 values from 64 bytes of ql, 32 of qh, 8 scales
                    let ql = 64 * half, qh = 128 + 32 * half, sc = 192 + 8 * half
                    let out = y + 256 * i + 128 * half
                    for l in 0..<32 {
                        let s = l / 16, h = b.byte(qh + l)
                        let q1 = Int((b.byte(ql + l) & 0xF) | ((h >> 0) & 3) << 4) - 32
                        let q2 = Int((b.byte(ql + l + 32) & 0xF) | ((h >> 2) & 3) << 4) - 32
                        let q3 = Int((b.byte(ql + l) >> 4) | ((h >> 4) & 3) << 4) - 32
                        let q4 = Int((b.byte(ql + l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
                        out[l] = d * Float(b.int8(sc + s)) * Float(q1)
                        out[l + 32] = d * Float(b.int8(sc + s + 2)) * Float(q2)
                        out[l + 64] = d * Float(b.int8(sc + s + 4)) * Float(q3)
                        out[l + 96] = d * Float(b.int8(sc + s + 6)) * Float(q4)
                    }
                }
            }
        }
    }

    // MARK: Activations

    /// Quantizes x[0..<k] into `format` at `out` (`format.rowBytes(k)` bytes): ggml's
    /// quantize_row_q8_0 / q8_1 (with `rounding`) and quantize_row_q8_K_ref; f16 and bf16 round to
    /// nearest even; f32 copies.
    public static func referenceQuantizeActivations(_ format: ActivationFormat, _ x: UnsafePointer<Float>, count k: Int,
                                                    into out: UnsafeMutableRawPointer, rounding: Q8Rounding = .ggmlCPU) {
        checkRow(k, format.blockLength, "quantize \(format)")
        switch format {
        case .f32: for i in 0..<k { out.storeBytes(of: x[i], toByteOffset: 4 * i, as: Float.self) }
        case .f16: for i in 0..<k { out.storeBytes(of: floatToHalf(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16: for i in 0..<k { out.storeBytes(of: floatToBF16(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0, .q8_1:
            let bb = format.blockBytes, qs = format == .q8_0 ? 2 : 4
            for i in 0..<(k / 32) {
                let v = x + 32 * i, b = out + bb * i
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(v[j])) }
                let d = amax / 127
                let id: Float
                switch rounding {
                case .ggmlReference: id = d != 0 ? 1 / d : 0
                case .ggmlCPU:
                    #if arch(x86_64)
                    id = amax != 0 ? 127 / amax : 0
                    #else
                    id = d != 0 ? 1 / d : 0
                    #endif
                }
                var sum = 0
                for j in 0..<32 {
                    let r = rounding == .ggmlReference ? (v[j] * id).rounded() : (v[j] * id).rounded(.toNearestOrEven)
                    let q = Int8(r)
                    b.storeBytes(of: q, toByteOffset: qs + j, as: Int8.self)
                    sum += Int(q)
                }
                b.storeBytes(of: floatToHalf(d), as: UInt16.self)
                if format == .q8_1 { b.storeBytes(of: floatToHalf(Float(sum) * d), toByteOffset: 2, as: UInt16.self) }
            }
        case .q8_K:  // d: 0 (float32), qs: 4, bsums: 260
            for i in 0..<(k / 256) {
                let v = x + 256 * i, b = out + 292 * i
                var amax: Float = 0, maxValue: Float = 0
                for j in 0..<256 where abs(v[j]) > amax { amax = abs(v[j]); maxValue = v[j] }
                guard amax != 0 else {
                    // ggml leaves bsums as they were here; zeros are the sums of the zero quants.
                    (b).initializeMemory(as: UInt8.self, repeating: 0, count: 292)
                    continue
                }
                let iscale = -127 / maxValue
                for j in 0..<256 {
                    // nearest_int: round to nearest, ties to even.
                    b.storeBytes(of: Int8(min(127, Int((iscale * v[j]).rounded(.toNearestOrEven)))), toByteOffset: 4 + j, as: Int8.self)
                }
                for g in 0..<16 {
                    var s = 0
                    for j in 0..<16 { s += Int(b.load(fromByteOffset: 4 + 16 * g + j, as: Int8.self)) }
                    b.storeBytes(of: Int16(s), toByteOffset: 260 + 2 * g, as: Int16.self)
                }
                b.storeBytes(of: 1 / iscale, as: Float.self)
            }
        }
    }

    // MARK: Dot products

    /// Σ w·x over one row of k values: `weights` in `type`, `activations` in `type.activationFormat`.
    /// The float operations are ggml's `ggml_vec_dot_*_generic` in the same order.
    public static func referenceDot(_ type: QuantType, _ weights: UnsafeRawPointer, _ activations: UnsafeRawPointer, count k: Int) -> Float {
        checkRow(k, type.blockLength, "dot \(type)")
        let w = weights, a = activations
        var sumf: Float = 0
        switch type {
        case .f32:
            for i in 0..<k { sumf += w.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) * a.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<k { sumf += w.half(2 * i) * a.half(2 * i) }
        case .bf16:
            for i in 0..<k { sumf += bf16ToFloat(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) * bf16ToFloat(a.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q8_0:
            for i in 0..<(k / 32) {
                let x = w + 34 * i, y = a + 34 * i
                var sumi = 0
                for j in 0..<32 { sumi += Int(x.int8(2 + j)) * Int(y.int8(2 + j)) }
                sumf += Float(sumi) * (x.half(0) * y.half(0))
            }
        case .q4_0:
            for i in 0..<(k / 32) {
                let x = w + 18 * i, y = a + 34 * i
                var sumi0 = 0, sumi1 = 0
                for j in 0..<16 {
                    sumi0 += (Int(x.byte(2 + j) & 0xF) - 8) * Int(y.int8(2 + j))
                    sumi1 += (Int(x.byte(2 + j) >> 4) - 8) * Int(y.int8(2 + j + 16))
                }
                sumf += Float(sumi0 + sumi1) * x.half(0) * y.half(0)
            }
        case .q4_1:
            for i in 0..<(k / 32) {
                let x = w + 20 * i, y = a + 36 * i
                var sumi0 = 0, sumi1 = 0
                for j in 0..<16 {
                    sumi0 += Int(x.byte(4 + j) & 0xF) * Int(y.int8(4 + j))
                    sumi1 += Int(x.byte(4 + j) >> 4) * Int(y.int8(4 + j + 16))
                }
                sumf += (x.half(0) * y.half(0)) * Float(sumi0 + sumi1) + x.half(2) * y.half(2)
            }
        case .q4_K, .q5_K:
            // Per block: 8 lane sums of scale · q · y (lane = value index mod 8), as ggml's aux32.
            var sums = [Float](repeating: 0, count: 8)
            let bb = type.blockBytes, qs = type == .q4_K ? 16 : 48
            for i in 0..<(k / 256) {
                let x = w + bb * i, y = a + 292 * i
                let scales = (x + 4).assumingMemoryBound(to: UInt8.self)
                var aux32 = [Int](repeating: 0, count: 8)
                var sumi = 0
                for j in 0..<16 { sumi += Int(y.loadUnaligned(fromByteOffset: 260 + 2 * j, as: Int16.self)) * Int(kQuantScaleMin(j / 2, scales).min) }
                for v in 0..<256 {
                    let c = v / 64, l = v % 32, high = v % 64 >= 32
                    let byte = x.byte(qs + 32 * c + l)
                    var q = Int(high ? byte >> 4 : byte & 0xF)
                    if type == .q5_K, x.byte(16 + l) & (1 << (2 * c + (high ? 1 : 0))) != 0 { q += 16 }
                    aux32[v % 8] += Int(kQuantScaleMin(v / 32, scales).scale) * (q * Int(y.int8(4 + v)))
                }
                let d = x.half(0) * y.loadUnaligned(as: Float.self)
                for l in 0..<8 { sums[l] += d * Float(aux32[l]) }
                let dmin = x.half(2) * y.loadUnaligned(as: Float.self)
                sumf -= dmin * Float(sumi)
            }
            for l in 0..<8 { sumf += sums[l] }
        case .q6_K:
            var sums = [Float](repeating: 0, count: 8)
            for i in 0..<(k / 256) {
                let x = w + 210 * i, y = a + 292 * i
                var aux32 = [Int](repeating: 0, count: 8)
                for v in 0..<256 {
                    let half = v / 128, r = v % 128, quarter = r / 32, l = r % 32
                    let lowByte = x.byte(64 * half + l + (quarter & 1) * 32)
                    let low = quarter < 2 ? lowByte & 0xF : lowByte >> 4
                    let high = (x.byte(128 + 32 * half + l) >> (2 * quarter)) & 3
                    let q = Int(low | high << 4) - 32
                    aux32[v % 8] += Int(x.int8(192 + v / 16)) * (q * Int(y.int8(4 + v)))
                }
                let d = x.half(208) * y.loadUnaligned(as: Float.self)
                for l in 0..<8 { sums[l] += d * Float(aux32[l]) }
            }
            for l in 0..<8 { sumf += sums[l] }
        }
        return sumf
    }
}
