// Int8 matrix products with int8 activations quantized on the fly, CTranslate2's "int8" compute type
// on CPU: weights quantized per output row (scale 127 / max |w|), each activation row quantized when
// it is multiplied (scale 127 / max |x|), the integer products summed in int32, the sum divided by
// both scales. Whisper's encoder spends most of its time in these products; in int8 they read a
// quarter of the bytes and, with AVX-512 VNNI, do 64 byte products per instruction where float32 does
// 16 multiply-adds.
//
// vpdpbusd multiplies unsigned bytes by signed bytes, so the activations are stored shifted by 128
// (as unsigned q + 128) and each output's Σ_k 128·w is subtracted once (the "u8 shift and
// compensation" of oneDNN and CTranslate2). The integers are exact either way: the portable loop and
// the VNNI one give the same int32 sums and then the same floats.

#if arch(x86_64) && HARK_X86_VNNI
import _Builtin_intrinsics.intel
#endif

/// A weight matrix W [outputs × inputs] in int8, packed for products with quantized activation rows:
/// panels of 16 outputs, each a run of 64-byte groups holding 4 consecutive inputs of its 16 outputs
/// (vpdpbusd's operand: lane j sums the 4 bytes of output j).
public struct Int8Matrix: Sendable {
    public let inputs: Int
    public let outputs: Int
    /// `inputs` rounded up to a multiple of 4 (an activation row's stored length).
    public let depth: Int
    /// Per output: 127 / max |w| (1 for a row of zeros).
    public let scales: [Float]
    /// Per output (padded to whole panels): Σ_k q[k], for the activations' shift by 128.
    let sums: [Int32]
    /// [panels][depth / 4][16][4].
    let packed: [Int8]

    /// Whether the products run on VNNI instructions; otherwise on the portable integer loop, many
    /// times slower than the float32 kernels (prefer float32 on such machines: ARM boards, AVX2-only x86).
    public static var isAccelerated: Bool {
        #if arch(x86_64) && HARK_X86_VNNI
        true
        #else
        false
        #endif
    }

    var panels: Int { (outputs + 15) / 16 }
    var panelBytes: Int { depth * 16 }

    /// Quantizes `weights` ([outputs × inputs] row-major) row by row.
    public init(weights: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        precondition(outputs > 0 && inputs > 0, "Int8Matrix: \(outputs) × \(inputs)")
        self.inputs = inputs
        self.outputs = outputs
        let depth = (inputs + 3) / 4 * 4
        self.depth = depth
        let panels = (outputs + 15) / 16
        var scales = [Float](repeating: 1, count: outputs)
        var sums = [Int32](repeating: 0, count: panels * 16)
        var packed = [Int8](repeating: 0, count: panels * depth * 16)
        packed.withUnsafeMutableBufferPointer { packed in
            let out = UnsafeMutableRawPointer(packed.baseAddress!)
            for o in 0..<outputs {
                let w = weights + o * inputs
                let scale = Int8Matrix.scale(w, count: inputs)
                scales[o] = scale
                var sum: Int32 = 0
                // Four inputs at a time: one 32-bit store into the output's lane of the group.
                let base = (o / 16) * depth * 16 + (o % 16) * 4
                var k = 0
                while k < inputs {
                    var word: UInt32 = 0
                    for t in 0..<min(4, inputs - k) {
                        let q = Int32((w[k + t] * scale).rounded(.toNearestOrEven)).clamped(-127, 127)
                        sum += q
                        word |= UInt32(UInt8(bitPattern: Int8(truncatingIfNeeded: q))) << (8 * t)
                    }
                    out.storeBytes(of: word, toByteOffset: base + (k / 4) * 64, as: UInt32.self)
                    k += 4
                }
                sums[o] = sum
            }
        }
        self.scales = scales
        self.sums = sums
        self.packed = packed
    }

    /// 127 / max |x| over `count` values, or 1 when they are all zero.
    @inline(__always) static func scale(_ x: UnsafePointer<Float>, count: Int) -> Float {
        // Compare-and-select rather than pointwiseMax and max(), which keep Float.maximum's NaN rules
        // and compile to a loop over the lanes.
        var peaks = SIMD16<Float>.zero
        var k = 0
        while k + 16 <= count {
            let v = UnsafeRawPointer(x + k).loadUnaligned(as: SIMD16<Float>.self)
            let a = v.replacing(with: -v, where: v .< 0)
            peaks = peaks.replacing(with: a, where: a .> peaks)
            k += 16
        }
        let p8 = peaks.lowHalf.replacing(with: peaks.highHalf, where: peaks.highHalf .> peaks.lowHalf)
        let p4 = p8.lowHalf.replacing(with: p8.highHalf, where: p8.highHalf .> p8.lowHalf)
        var peak = max(max(p4[0], p4[1]), max(p4[2], p4[3]))
        while k < count { peak = max(peak, abs(x[k])); k += 1 }
        return peak > 0 ? 127 / peak : 1
    }

    /// Quantizes `rows` activation rows (`inputs` values each, `ldx` apart) into `bytes` ([rows ×
    /// depth], each value q + 128, the padding 128: a zero) and their scales.
    public func quantize(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, into bytes: UnsafeMutablePointer<UInt8>,
                         scales rowScales: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * ldx, out = bytes + r * depth
            let scale = Int8Matrix.scale(xr, count: inputs)
            rowScales[r] = scale
            var k = 0
            #if arch(x86_64) && HARK_X86_VNNI
            let s = _mm512_set1_ps(scale), shift = _mm512_set1_epi32(128)
            while k + 16 <= inputs {
                // vcvtps2dq rounds to nearest even (the default MXCSR mode), as `rounded` below.
                let q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xr + k), s)), shift)
                _mm_storeu_si128(UnsafeMutableRawPointer(out + k).assumingMemoryBound(to: __m128i.self), _mm512_cvtusepi32_epi8(q))
                k += 16
            }
            #endif
            while k < inputs {
                out[k] = UInt8(Int32((xr[k] * scale).rounded(.toNearestOrEven)).clamped(-127, 127) + 128)
                k += 1
            }
            for p in inputs..<depth { out[p] = 128 }
        }
    }

    /// c[r][o] = Σ_k x[r][k]·w[o][k] + bias[o] for rows 0..<rows and outputs in `columns` (its bounds
    /// multiples of 16, or the end), `x` quantized by `quantize`; added onto c when `accumulate`.
    public func multiply(_ bytes: UnsafePointer<UInt8>, scales rowScales: UnsafePointer<Float>, rows: Int,
                         columns: Range<Int>, bias: UnsafePointer<Float>?, into c: UnsafeMutablePointer<Float>, ldc: Int,
                         accumulate: Bool) {
        precondition(columns.lowerBound % 16 == 0 && columns.upperBound <= outputs
                     && (columns.upperBound % 16 == 0 || columns.upperBound == outputs), "Int8Matrix.multiply: columns \(columns)")
        let firstPanel = columns.lowerBound / 16, endPanel = (columns.upperBound + 15) / 16
        if rows == 1 {
            // One row (a decoder step): up to four panels per pass, each weight byte used once.
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { tile in
                packed.withUnsafeBufferPointer { packed in
                    var p = firstPanel
                    while p < endPanel {
                        let count = min(4, endPanel - p)
                        Int8Matrix.row(bytes, depth: depth, panel: packed.baseAddress! + p * panelBytes, panels: count, into: tile.baseAddress!)
                        for q in 0..<count {
                            finish(tile.baseAddress! + 16 * q, rows: 0..<1, firstColumn: (p + q) * 16, columns: min(16, outputs - (p + q) * 16),
                                   rowScales: rowScales, bias: bias, c: c, ldc: ldc, accumulate: accumulate)
                        }
                        p += count
                    }
                }
            }
            return
        }
        let rowBlock = 192
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 4 * 32) { tile in
            let tile = tile.baseAddress!
            packed.withUnsafeBufferPointer { packed in
                var r0 = 0
                while r0 < rows {
                    let r1 = min(rows, r0 + rowBlock)
                    var p = firstPanel
                    while p < endPanel {
                        let pair = p + 1 < endPanel ? 2 : 1
                        var r = r0
                        while r < r1 {
                            let n = min(4, r1 - r)
                            Int8Matrix.tile(bytes + r * depth, depth: depth, rows: n, panel: packed.baseAddress! + p * panelBytes,
                                            panels: pair, into: tile)
                            finish(tile, rows: r..<(r + n), firstColumn: p * 16, columns: min(pair * 16, outputs - p * 16),
                                   rowScales: rowScales, bias: bias, c: c, ldc: ldc, accumulate: accumulate)
                            r += n
                        }
                        p += pair
                    }
                    r0 = r1
                }
            }
        }
    }

    /// The int32 sums of `rows` (≤ 4) activation rows against one or two panels, as tile[row · 32 + j].
    @inline(__always) static func tile(_ a: UnsafePointer<UInt8>, depth: Int, rows: Int, panel: UnsafePointer<Int8>,
                                       panels: Int, into tile: UnsafeMutablePointer<Int32>) {
        let steps = depth / 4
        #if arch(x86_64) && HARK_X86_VNNI
        // Missing rows read row 0 again; their sums are not used.
        let a0 = UnsafeRawPointer(a), a1 = UnsafeRawPointer(a + (rows > 1 ? depth : 0))
        let a2 = UnsafeRawPointer(a + (rows > 2 ? 2 * depth : 0)), a3 = UnsafeRawPointer(a + (rows > 3 ? 3 * depth : 0))
        let b0 = UnsafeRawPointer(panel), b1 = UnsafeRawPointer(panel + (panels > 1 ? depth * 16 : 0))
        var c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512(), c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512()
        var c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512(), c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512()
        for s in 0..<steps {
            let w0 = _mm512_loadu_si512(b0 + 64 * s), w1 = _mm512_loadu_si512(b1 + 64 * s)
            let x0 = _mm512_set1_epi32(a0.loadUnaligned(fromByteOffset: 4 * s, as: Int32.self))
            c00 = _mm512_dpbusd_epi32(c00, x0, w0); c01 = _mm512_dpbusd_epi32(c01, x0, w1)
            let x1 = _mm512_set1_epi32(a1.loadUnaligned(fromByteOffset: 4 * s, as: Int32.self))
            c10 = _mm512_dpbusd_epi32(c10, x1, w0); c11 = _mm512_dpbusd_epi32(c11, x1, w1)
            let x2 = _mm512_set1_epi32(a2.loadUnaligned(fromByteOffset: 4 * s, as: Int32.self))
            c20 = _mm512_dpbusd_epi32(c20, x2, w0); c21 = _mm512_dpbusd_epi32(c21, x2, w1)
            let x3 = _mm512_set1_epi32(a3.loadUnaligned(fromByteOffset: 4 * s, as: Int32.self))
            c30 = _mm512_dpbusd_epi32(c30, x3, w0); c31 = _mm512_dpbusd_epi32(c31, x3, w1)
        }
        let t = UnsafeMutableRawPointer(tile)
        _mm512_storeu_si512(t, c00); _mm512_storeu_si512(t + 64, c01)
        _mm512_storeu_si512(t + 128, c10); _mm512_storeu_si512(t + 192, c11)
        _mm512_storeu_si512(t + 256, c20); _mm512_storeu_si512(t + 320, c21)
        _mm512_storeu_si512(t + 384, c30); _mm512_storeu_si512(t + 448, c31)
        #else
        portableTile(a, depth: depth, rows: rows, panel: panel, panels: panels, into: tile)
        #endif
    }

    /// The int32 sums of one activation row against 1–4 consecutive panels, as tile[16 · panel + j].
    @inline(__always) static func row(_ a: UnsafePointer<UInt8>, depth: Int, panel: UnsafePointer<Int8>, panels: Int,
                                      into tile: UnsafeMutablePointer<Int32>) {
        #if arch(x86_64) && HARK_X86_VNNI
        let steps = depth / 4, a0 = UnsafeRawPointer(a)
        // Missing panels read the first again; their sums are not used.
        let b0 = UnsafeRawPointer(panel), b1 = UnsafeRawPointer(panel + (panels > 1 ? depth * 16 : 0))
        let b2 = UnsafeRawPointer(panel + (panels > 2 ? 2 * depth * 16 : 0)), b3 = UnsafeRawPointer(panel + (panels > 3 ? 3 * depth * 16 : 0))
        var c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512(), c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512()
        for s in 0..<steps {
            let x = _mm512_set1_epi32(a0.loadUnaligned(fromByteOffset: 4 * s, as: Int32.self))
            c0 = _mm512_dpbusd_epi32(c0, x, _mm512_loadu_si512(b0 + 64 * s))
            c1 = _mm512_dpbusd_epi32(c1, x, _mm512_loadu_si512(b1 + 64 * s))
            c2 = _mm512_dpbusd_epi32(c2, x, _mm512_loadu_si512(b2 + 64 * s))
            c3 = _mm512_dpbusd_epi32(c3, x, _mm512_loadu_si512(b3 + 64 * s))
        }
        let t = UnsafeMutableRawPointer(tile)
        _mm512_storeu_si512(t, c0); _mm512_storeu_si512(t + 64, c1); _mm512_storeu_si512(t + 128, c2); _mm512_storeu_si512(t + 192, c3)
        #else
        portableTile(a, depth: depth, rows: 1, panel: panel, panels: panels, into: tile)
        #endif
    }

    /// `tile` and `row` in plain integer arithmetic (tile[r · 32 + 16 · panel + j]; one row may take up
    /// to four panels): the product on machines without VNNI.
    static func portableTile(_ a: UnsafePointer<UInt8>, depth: Int, rows: Int, panel: UnsafePointer<Int8>,
                             panels: Int, into tile: UnsafeMutablePointer<Int32>) {
        for r in 0..<rows {
            for q in 0..<panels {
                let w = panel + q * depth * 16
                for j in 0..<16 {
                    var sum: Int32 = 0
                    for s in 0..<(depth / 4) {
                        for t in 0..<4 { sum &+= Int32(a[r * depth + 4 * s + t]) * Int32(w[s * 64 + j * 4 + t]) }
                    }
                    tile[r * 32 + q * 16 + j] = sum
                }
            }
        }
    }

    /// Writes a tile's outputs: (sum − 128·Σw) / (row scale · output scale) + bias, 16 at a time.
    @inline(__always) func finish(_ tile: UnsafePointer<Int32>, rows: Range<Int>, firstColumn: Int, columns: Int,
                                  rowScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>,
                                  ldc: Int, accumulate: Bool) {
        scales.withUnsafeBufferPointer { ws in
            sums.withUnsafeBufferPointer { sums in
                var j = 0
                while j < columns {
                    let o = firstColumn + j
                    if j + 16 <= columns {
                        let shift = 128 &* UnsafeRawPointer(sums.baseAddress! + o).loadUnaligned(as: SIMD16<Int32>.self)
                        let weightScale = UnsafeRawPointer(ws.baseAddress! + o).loadUnaligned(as: SIMD16<Float>.self)
                        let b = bias.map { UnsafeRawPointer($0 + o).loadUnaligned(as: SIMD16<Float>.self) } ?? .zero
                        for (i, r) in rows.enumerated() {
                            let sum = UnsafeRawPointer(tile + i * 32 + j).loadUnaligned(as: SIMD16<Int32>.self) &- shift
                            var v = SIMD16<Float>(sum) / (rowScales[r] * weightScale) + b
                            let out = UnsafeMutableRawPointer(c + r * ldc + o)
                            if accumulate { v += out.loadUnaligned(as: SIMD16<Float>.self) }
                            out.storeBytes(of: v, as: SIMD16<Float>.self)
                        }
                        j += 16
                    } else {
                        for (i, r) in rows.enumerated() {
                            var v = Float(tile[i * 32 + j] &- 128 &* sums[o]) / (rowScales[r] * ws[o])
                            if let bias { v += bias[o] }
                            if accumulate { c[r * ldc + o] += v } else { c[r * ldc + o] = v }
                        }
                        j += 1
                    }
                }
            }
        }
    }
}

extension Int32 {
    @inline(__always) fileprivate func clamped(_ low: Int32, _ high: Int32) -> Int32 { Swift.min(Swift.max(self, low), high) }
}
