// The fast versions of Quant+Reference.swift, chosen per type: AVX2 on x86-64 (Quant+AVX2.swift),
// float SIMD for the float formats everywhere. Where no fast version exists for an architecture
// (the quantized formats on arm64, for now) the reference runs. Tests hold each to its reference at
// odd sizes.

#if arch(x86_64) && HARK_X86_FMA
import _Builtin_intrinsics.intel
#endif

extension Quant {
    /// Σ w·x over one row of k values: `weights` in `type`, `activations` in `type.activationFormat`
    /// (from `quantizeActivations`).
    @inline(__always)
    public static func dot(_ type: QuantType, _ weights: UnsafeRawPointer, _ activations: UnsafeRawPointer, count k: Int) -> Float {
        #if arch(x86_64) && HARK_X86_FMA
        switch type {
        case .f32: return dotF32(weights, activations, k)
        case .f16: return AVX2.dotF16(weights, activations, k)
        case .bf16: return AVX2.dotBF16(weights, activations, k)
        case .q8_0: return AVX2.Q8_0.dot(weights, activations, k / 32)
        case .q4_0: return AVX2.Q4_0.dot(weights, activations, k / 32)
        case .q4_1: return AVX2.Q4_1.dot(weights, activations, k / 32)
        case .q4_K: return AVX2.Q4_K.dot(weights, activations, k / 256)
        case .q5_K: return AVX2.Q5_K.dot(weights, activations, k / 256)
        case .q6_K: return AVX2.Q6_K.dot(weights, activations, k / 256)
        }
        #else
        switch type {
        case .f32: return dotF32(weights, activations, k)
        default: return referenceDot(type, weights, activations, count: k)
        }
        #endif
    }

    /// out[r · stride] = dot(row r, activations) for the `rows` (≤ 4) weight rows from `weights`, each
    /// `rowBytes` after the last: the same floats as `dot` row by row, computed together (Kernel.dot4).
    @inline(__always)
    static func dotRows(_ type: QuantType, _ weights: UnsafeRawPointer, rowBytes: Int, rows: Int, _ activations: UnsafeRawPointer,
                        count k: Int, into out: UnsafeMutablePointer<Float>, stride: Int) {
        #if arch(x86_64) && HARK_X86_FMA
        if rows == 4 {
            @inline(__always) func store(_ v: SIMD4<Float>) { for r in 0..<4 { out[r * stride] = v[r] } }
            switch type {
            case .q8_0: return store(AVX2.Q8_0.dot4(weights, rowBytes, activations, k / 32))
            case .q4_0: return store(AVX2.Q4_0.dot4(weights, rowBytes, activations, k / 32))
            case .q4_1: return store(AVX2.Q4_1.dot4(weights, rowBytes, activations, k / 32))
            case .q4_K: return store(AVX2.Q4_K.dot4(weights, rowBytes, activations, k / 256))
            case .q5_K: return store(AVX2.Q5_K.dot4(weights, rowBytes, activations, k / 256))
            case .q6_K: return store(AVX2.Q6_K.dot4(weights, rowBytes, activations, k / 256))
            case .f32, .f16, .bf16: break
            }
        }
        #endif
        for r in 0..<rows { out[r * stride] = dot(type, weights + r * rowBytes, activations, count: k) }
    }

    /// `dotRows` for 4 weight rows against four activation rows (out[a][r] = out.a[r]), where a
    /// kernel for it exists (Q4_0, Q4_1, Q8_0, Q4_K on x86-64); false, and nothing written, where not.
    @inline(__always)
    static func dotRows4x4(_ type: QuantType, _ weights: UnsafeRawPointer, rowBytes: Int,
                           _ a: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer), count k: Int,
                           into out: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)) -> Bool {
        #if arch(x86_64) && HARK_X86_FMA
        let r: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)
        switch type {
        case .q8_0: r = AVX2.Q8_0.dot4x4(weights, rowBytes, a, k / 32)
        case .q4_0: r = AVX2.Q4_0.dot4x4(weights, rowBytes, a, k / 32)
        case .q4_1: r = AVX2.Q4_1.dot4x4(weights, rowBytes, a, k / 32)
        case .q4_K: r = AVX2.Q4_K.dot4x4(weights, rowBytes, a, k / 256)
        default: return false
        }
        for i in 0..<4 { out.0[i] = r.0[i]; out.1[i] = r.1[i]; out.2[i] = r.2[i]; out.3[i] = r.3[i] }
        return true
        #else
        return false
        #endif
    }

    /// `dotRows` for 4 weight rows against two activation rows (out0[r], out1[r] for r in 0..<4),
    /// where a kernel for it exists (Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K on x86-64); false, and nothing
    /// written, where not. (On the MoE bench file's prompt, Q4_K's took prefill from about 800 to 865
    /// tokens/s at 1 thread.)
    @inline(__always)
    static func dotRows4x2(_ type: QuantType, _ weights: UnsafeRawPointer, rowBytes: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer,
                           count k: Int, into out0: UnsafeMutablePointer<Float>, _ out1: UnsafeMutablePointer<Float>) -> Bool {
        #if arch(x86_64) && HARK_X86_FMA
        let r: (SIMD4<Float>, SIMD4<Float>)
        switch type {
        case .q8_0: r = AVX2.Q8_0.dot4x2(weights, rowBytes, a0, a1, k / 32)
        case .q4_0: r = AVX2.Q4_0.dot4x2(weights, rowBytes, a0, a1, k / 32)
        case .q4_1: r = AVX2.Q4_1.dot4x2(weights, rowBytes, a0, a1, k / 32)
        case .q4_K: r = AVX2.Q4_K.dot4x2(weights, rowBytes, a0, a1, k / 256)
        case .q5_K: r = AVX2.Q5_K.dot4x2(weights, rowBytes, a0, a1, k / 256)
        case .q6_K: r = AVX2.Q6_K.dot4x2(weights, rowBytes, a0, a1, k / 256)
        default: return false
        }
        for i in 0..<4 { out0[i] = r.0[i]; out1[i] = r.1[i] }
        return true
        #else
        return false
        #endif
    }

    /// f32 · f32 with four accumulators of 8 lanes.
    static func dotF32(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ k: Int) -> Float {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ p: UnsafeRawPointer, _ i: Int) -> V { p.loadUnaligned(fromByteOffset: 4 * i, as: V.self) }
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        var i = 0
        while i + 32 <= k {
            s0 = s0.fusedAdding(load(x, i), load(y, i))
            s1 = s1.fusedAdding(load(x, i + 8), load(y, i + 8))
            s2 = s2.fusedAdding(load(x, i + 16), load(y, i + 16))
            s3 = s3.fusedAdding(load(x, i + 24), load(y, i + 24))
            i += 32
        }
        var sum = ((s0 + s1) + (s2 + s3)).sum()
        while i < k {
            sum += x.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) * y.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
            i += 1
        }
        return sum
    }

    // MARK: Activations

    /// Quantizes x[0..<k] into `format` as ggml's CPU backend does (`Q8Rounding.ggmlCPU`); the same
    /// bytes as `referenceQuantizeActivations(format, x, count: k, into: out)`.
    public static func quantizeActivations(_ format: ActivationFormat, _ x: UnsafePointer<Float>, count k: Int, into out: UnsafeMutableRawPointer) {
        checkRow(k, format.blockLength, "quantize \(format)")
        switch format {
        case .f32: out.copyMemory(from: x, byteCount: 4 * k)
        case .f16: for i in 0..<k { out.storeBytes(of: floatToHalf(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16: for i in 0..<k { out.storeBytes(of: floatToBF16(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0, .q8_1:
            #if arch(x86_64) && HARK_X86_FMA
            AVX2.quantizeQ8(x, k / 32, out, withSums: format == .q8_1)
            #else
            referenceQuantizeActivations(format, x, count: k, into: out)
            #endif
        case .q8_K:
            #if arch(x86_64) && HARK_X86_FMA
            for i in 0..<(k / 256) { AVX2.quantizeQ8_K(x + 256 * i, out + 292 * i) }
            #else
            referenceQuantizeActivations(format, x, count: k, into: out)
            #endif
        }
    }

    /// Σ q over 32 int8 (a Q8_0 block's values).
    @inline(__always) static func sumQ8(_ q: UnsafeRawPointer) -> Int32 {
        #if arch(x86_64) && HARK_X86_FMA
        AVX2.total(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), AVX2.load256(q)), _mm256_set1_epi16(1)))
        #else
        var sum: Int32 = 0
        for j in 0..<32 { sum += Int32(q.int8(j)) }
        return sum
        #endif
    }

    // MARK: Dequantize

    /// y[0..<k] = the values of one row of `type`; the same floats as `referenceDequantize`.
    public static func dequantize(_ type: QuantType, _ row: UnsafeRawPointer, count k: Int, into y: UnsafeMutablePointer<Float>) {
        checkRow(k, type.blockLength, "dequantize \(type)")
        #if arch(x86_64) && HARK_X86_FMA
        let out = UnsafeMutableRawPointer(y)
        switch type {
        case .f32: out.copyMemory(from: row, byteCount: 4 * k)
        case .f16:
            var i = 0
            while i + 8 <= k { _mm256_storeu_ps(y + i, _mm256_cvtph_ps(AVX2.load128(row + 2 * i))); i += 8 }
            while i < k { y[i] = row.half(2 * i); i += 1 }
        case .bf16:
            var i = 0
            while i + 8 <= k {
                _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(AVX2.load128(row + 2 * i)), 16)))
                i += 8
            }
            while i < k { y[i] = bf16ToFloat(row.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)); i += 1 }
        case .q8_0:
            for i in 0..<(k / 32) {
                let b = row + 34 * i
                AVX2.storeScaled(AVX2.load256(b + 2), _mm256_set1_ps(b.half(0)), _mm256_setzero_ps(), y + 32 * i)
            }
        case .q4_0:
            for i in 0..<(k / 32) {
                let b = row + 18 * i
                let q = _mm256_sub_epi8(AVX2.nibbles(b + 2), _mm256_set1_epi8(8))
                AVX2.storeScaled(q, _mm256_set1_ps(b.half(0)), _mm256_setzero_ps(), y + 32 * i)
            }
        case .q4_1:
            for i in 0..<(k / 32) {
                let b = row + 20 * i
                AVX2.storeScaled(AVX2.nibbles(b + 4), _mm256_set1_ps(b.half(0)), _mm256_set1_ps(-b.half(2)), y + 32 * i)
            }
        case .q4_K, .q5_K:
            let bb = type.blockBytes, qsOffset = type == .q4_K ? 16 : 48
            for i in 0..<(k / 256) {
                let b = row + bb * i
                let d = b.half(0), dmin = b.half(2)
                let scales = (b + 4).assumingMemoryBound(to: UInt8.self)
                let hbits = type == .q5_K ? AVX2.load256(b + 16) : _mm256_setzero_si256()
                for c in 0..<4 {
                    let (s1, m1) = kQuantScaleMin(2 * c, scales), (s2, m2) = kQuantScaleMin(2 * c + 1, scales)
                    let bits = AVX2.load256(b + qsOffset + 32 * c)
                    var lo = _mm256_and_si256(bits, _mm256_set1_epi8(0xF))
                    var hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), _mm256_set1_epi8(0xF))
                    if type == .q5_K {
                        let bitLo = _mm256_set1_epi8(Int8(bitPattern: UInt8(1 << (2 * c)))), bitHi = _mm256_set1_epi8(Int8(bitPattern: UInt8(2 << (2 * c))))
                        // 16 where the bit is set: compare to the bit, keep 16.
                        lo = _mm256_add_epi8(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, bitLo), bitLo), _mm256_set1_epi8(16)))
                        hi = _mm256_add_epi8(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, bitHi), bitHi), _mm256_set1_epi8(16)))
                    }
                    let out = y + 256 * i + 64 * c
                    AVX2.storeScaled(lo, _mm256_set1_ps(d * Float(s1)), _mm256_set1_ps(dmin * Float(m1)), out)
                    AVX2.storeScaled(hi, _mm256_set1_ps(d * Float(s2)), _mm256_set1_ps(dmin * Float(m2)), out + 32)
                }
            }
        case .q6_K:
            for i in 0..<(k / 256) {
                let b = row + 210 * i
                let d = b.half(208)
                for half in 0..<2 {
                    let bits1 = AVX2.load256(b + 64 * half), bits2 = AVX2.load256(b + 64 * half + 32)
                    let bitsH = AVX2.load256(b + 128 + 32 * half)
                    let m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15), off = _mm256_set1_epi8(32)
                    @inline(__always) func quarter(_ s: Int) -> __m256i {
                        let low = s & 1 == 0 ? bits1 : bits2
                        let nibble = s < 2 ? _mm256_and_si256(low, m15) : _mm256_and_si256(_mm256_srli_epi16(low, 4), m15)
                        let high = _mm256_and_si256(_mm256_srl_epi16(bitsH, _mm_cvtsi32_si128(Int32(2 * s))), m3)
                        return _mm256_or_si256(nibble, _mm256_slli_epi16(high, 4))
                    }
                    for s in 0..<4 {
                        let sc = 192 + 8 * half + 2 * s
                        let out = y + 256 * i + 128 * half + 32 * s
                        let values = _mm256_sub_epi8(quarter(s), off)
                        AVX2.storeScaled16(values, d * Float(b.int8(sc)), d * Float(b.int8(sc + 1)), out)
                    }
                }
            }
        }
        #else
        referenceDequantize(type, row, count: k, into: y)
        #endif
    }
}

#if arch(x86_64) && HARK_X86_FMA
extension AVX2 {
    /// ggml's x86 quantize_row_q8_0 / q8_1: d = amax/127, q = round-to-even(x · 127/amax).
    static func quantizeQ8(_ x: UnsafePointer<Float>, _ nb: Int, _ out: UnsafeMutableRawPointer, withSums: Bool) {
        let bb = withSums ? 36 : 34, qs = withSums ? 4 : 2
        let signBit = _mm256_set1_ps(-0.0)
        for i in 0..<nb {
            let v = x + 32 * i, b = out + bb * i
            var v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16), v3 = _mm256_loadu_ps(v + 24)
            var maxAbs = _mm256_andnot_ps(signBit, v0)
            maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(signBit, v1))
            maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(signBit, v2))
            maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(signBit, v3))
            var max4 = _mm_max_ps(maxAbs.highHalf, maxAbs.lowHalf)
            max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4))
            max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4))
            let amax = _mm_cvtss_f32(max4)
            let d = amax / 127
            b.storeBytes(of: floatToHalf(d), as: UInt16.self)
            let mul = _mm256_set1_ps(amax != 0 ? 127 / amax : 0)
            // _MM_FROUND_TO_NEAREST_INT (0): ties to even. Then exact conversions of |q| ≤ 127.
            v0 = (_mm256_mul_ps(v0, mul)).rounded(.toNearestOrEven); v1 = (_mm256_mul_ps(v1, mul)).rounded(.toNearestOrEven)
            v2 = (_mm256_mul_ps(v2, mul)).rounded(.toNearestOrEven); v3 = (_mm256_mul_ps(v3, mul)).rounded(.toNearestOrEven)
            let i0 = _mm256_cvtps_epi32(v0), i1 = _mm256_cvtps_epi32(v1), i2 = _mm256_cvtps_epi32(v2), i3 = _mm256_cvtps_epi32(v3)
            if withSums {
                let sum = unsafeBitCast(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)), to: SIMD8<Int32>.self)
                b.storeBytes(of: floatToHalf(d * Float(sum.wrappedSum())), toByteOffset: 2, as: UInt16.self)  // |Σ| ≤ 32·127
            }
            // Packing works within 128-bit halves; the permute puts the four groups of 4 back in order.
            let packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3))
            let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
            _mm256_storeu_si256((b + qs).assumingMemoryBound(to: __m256i.self), ordered)
        }
    }

    /// ggml's quantize_row_q8_K_ref for one block of 256: iscale = −127 / (the first value of largest
    /// magnitude), q = min(127, round-to-even(iscale · x)), bsums over each 16, d = 1 / iscale.
    static func quantizeQ8_K(_ v: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let signBit = _mm256_set1_ps(-0.0)
        var maxAbs = _mm256_setzero_ps()
        for j in stride(from: 0, to: 256, by: 8) { maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(signBit, _mm256_loadu_ps(v + j))) }
        var max4 = _mm_max_ps(maxAbs.highHalf, maxAbs.lowHalf)
        max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4))
        max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4))
        let amax = _mm_cvtss_f32(max4)
        guard amax != 0 else { b.initializeMemory(as: UInt8.self, repeating: 0, count: 292); return }
        var first = 0
        while abs(v[first]) != amax { first += 1 }
        let iscale = -127 / v[first]
        let mul = _mm256_set1_ps(iscale), top = _mm256_set1_epi32(127)
        for g in 0..<8 {  // 32 values a step
            let p = v + 32 * g
            var i0 = _mm256_cvtps_epi32((_mm256_mul_ps(_mm256_loadu_ps(p), mul)).rounded(.toNearestOrEven))
            var i1 = _mm256_cvtps_epi32((_mm256_mul_ps(_mm256_loadu_ps(p + 8), mul)).rounded(.toNearestOrEven))
            var i2 = _mm256_cvtps_epi32((_mm256_mul_ps(_mm256_loadu_ps(p + 16), mul)).rounded(.toNearestOrEven))
            var i3 = _mm256_cvtps_epi32((_mm256_mul_ps(_mm256_loadu_ps(p + 24), mul)).rounded(.toNearestOrEven))
            i0 = _mm256_min_epi32(i0, top); i1 = _mm256_min_epi32(i1, top); i2 = _mm256_min_epi32(i2, top); i3 = _mm256_min_epi32(i3, top)
            let s0 = unsafeBitCast(_mm256_add_epi32(i0, i1), to: SIMD8<Int32>.self).wrappedSum()
            let s1 = unsafeBitCast(_mm256_add_epi32(i2, i3), to: SIMD8<Int32>.self).wrappedSum()
            b.storeBytes(of: Int16(s0), toByteOffset: 260 + 4 * g, as: Int16.self)  // |Σ| ≤ 16·127
            b.storeBytes(of: Int16(s1), toByteOffset: 262 + 4 * g, as: Int16.self)
            let packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3))
            let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
            _mm256_storeu_si256((b + 4 + 32 * g).assumingMemoryBound(to: __m256i.self), ordered)
        }
        b.storeBytes(of: 1 / iscale, as: Float.self)
    }

    /// The four quarters of 32 int8 as 8 int32 each.
    @inline(__always)
    static func widen(_ q: __m256i, _ quarter: Int) -> __m256i {
        let half = quarter < 2 ? q.lowHalf : q.highHalf
        return _mm256_cvtepi8_epi32(quarter & 1 == 0 ? half : _mm_unpackhi_epi64(half, half))
    }

    /// out[0..<32] = Float(q[j]) · scale − bias, q 32 int8: a multiply then a subtraction, not a
    /// fused multiply-add, to give the reference's roundings.
    @inline(__always)
    static func storeScaled(_ q: __m256i, _ scale: __m256, _ bias: __m256, _ out: UnsafeMutablePointer<Float>) {
        for p in 0..<4 {
            _mm256_storeu_ps(out + 8 * p, _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(widen(q, p)), scale), bias))
        }
    }

    /// out[0..<16] = scale0 · q[j], out[16..<32] = scale1 · q[j], q 32 int8 (q6_K's (d·sc)·q).
    @inline(__always)
    static func storeScaled16(_ q: __m256i, _ scale0: Float, _ scale1: Float, _ out: UnsafeMutablePointer<Float>) {
        for p in 0..<4 {
            _mm256_storeu_ps(out + 8 * p, _mm256_mul_ps(_mm256_set1_ps(p < 2 ? scale0 : scale1), _mm256_cvtepi32_ps(widen(q, p))))
        }
    }
}
#endif
