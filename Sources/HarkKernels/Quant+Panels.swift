// Prompt products of Q4_0 and Q4_K weights with AVX-512 VNNI: Y[n × rows] = X[n × k] · Wᵀ for n of a
// few rows or more (a prompt, the tokens routed to an expert). GGUF's layout keeps each row's blocks
// together, so a row-at-a-time dot product sums each block in 8 lanes and must add the lanes across
// before its float step; here each thread first packs 16 weight rows at a time (a panel) so that lane j
// of a 64-byte group holds 4 consecutive values of row j, and one vpdpbusd then adds 4 products into
// each of 16 rows' sums. A block's groups give 16 rows' exact integer sums, then one float step for the
// 16. The packing (gathers of 16 rows' dwords into a scratch panel of unpacked nibbles) is paid once
// per 16 rows and used by every activation row.
//
// The arithmetic is each type's row kernels' in Quant+AVX2.swift (Q4_0: the scalar reference's; Q4_K:
// one float step per block), so a panel's outputs are the single-row dot's floats bit for bit, and
// which kernel a product takes changes nothing. What the activations add per block (Q4_0's −8·Σ y,
// Q4_K's sub-block sums of y for the minimums) comes from QuantActivations.blockTotals, once per row
// and block.

#if arch(x86_64) && HARK_X86_VNNI
import _Builtin_intrinsics.intel
import CIntrinsics

/// A weight type's panels: how a block of 16 rows is packed and how a tile of up to 4 activation rows
/// and `panels` panels is computed.
protocol PanelKernel {
    /// Bytes of one packed block of 16 rows.
    static var blockBytes: Int { get }
    /// Values in a block.
    static var blockLength: Int { get }
    /// Panels side by side in a tile.
    static var panels: Int { get }
    /// Bytes of blockTotals per activation row and block.
    static var totalsBytes: Int { get }
    static func pack(_ w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks nb: Int, into out: UnsafeMutableRawPointer)
    static func tile(_ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer, blocks nb: Int,
                     _ a: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                     _ t: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                     into y: UnsafeMutablePointer<Float>, ldy: Int, activationRows: Int, columns: Int)
}

enum Panels {
    /// From this many activation rows a product takes the panels (below it, the dot-product kernels).
    static let minimumRows = 4

    /// Y = X · Wᵀ on `pool` where `w`'s type has panels (true), Y row-major `x.count × w.rows`.
    static func multiply(_ w: QuantMatrix, _ x: QuantActivations, into y: UnsafeMutablePointer<Float>, pool: KernelThreadPool) -> Bool {
        guard x.count >= minimumRows else { return false }
        switch w.type {
        case .q4_0: multiply(Q4_0Panels.self, w, x, into: y, pool: pool)
        case .q4_K: multiply(Q4_KPanels.self, w, x, into: y, pool: pool)
        default: return false
        }
        return true
    }

    static func multiply<K: PanelKernel>(_: K.Type, _ w: QuantMatrix, _ x: QuantActivations, into y: UnsafeMutablePointer<Float>,
                                         pool: KernelThreadPool) {
        let nb = w.columns / K.blockLength, n = x.count, rows = w.rows, rowBytes = w.rowBytes
        let totals = x.blockTotals(), xRowBytes = x.rowBytes, totalsRowBytes = K.totalsBytes * nb
        let activations = x.row(0), width = 16 * K.panels
        pool.forEachRange(rows, granularity: 16) { range in
            withUnsafeTemporaryAllocation(byteCount: K.panels * nb * K.blockBytes, alignment: 64) { scratch in
                let panel0 = scratch.baseAddress!, panel1 = panel0 + (K.panels - 1) * nb * K.blockBytes
                var i = range.lowerBound
                while i < range.upperBound {
                    let count = min(width, range.upperBound - i)
                    K.pack(w.row(i), rowBytes: rowBytes, rows: min(16, count), blocks: nb, into: panel0)
                    if count > 16 { K.pack(w.row(i + 16), rowBytes: rowBytes, rows: count - 16, blocks: nb, into: panel1) }
                    var j = 0
                    while j < n {
                        let m = min(4, n - j)
                        @inline(__always) func a(_ r: Int) -> UnsafeRawPointer { activations + (j + (r < m ? r : 0)) * xRowBytes }
                        @inline(__always) func t(_ r: Int) -> UnsafeRawPointer { totals + (j + (r < m ? r : 0)) * totalsRowBytes }
                        K.tile(panel0, count > 16 ? panel1 : panel0, blocks: nb, (a(0), a(1), a(2), a(3)), (t(0), t(1), t(2), t(3)),
                               into: y + j * rows + i, ldy: rows, activationRows: m, columns: count)
                        j += m
                    }
                    i += count
                }
            }
        }
    }

    /// Lane r: `rowBytes` · min(r, rows − 1) (a missing row repeats the last present one).
    @inline(__always) static func rowOffsets(_ rowBytes: Int, rows: Int) -> __m512i {
        let lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
        return _mm512_mullo_epi32(_mm512_min_epi32(lane, _mm512_set1_epi32(Int32(rows - 1))), _mm512_set1_epi32(Int32(rowBytes)))
    }

    /// Stores a tile's first `rows` rows (`ldy` apart), each the `columns` (≤ 32) outputs of its two
    /// vectors.
    @inline(__always) static func store(_ y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, columns: Int,
                                        _ f: ((__m512, __m512), (__m512, __m512), (__m512, __m512), (__m512, __m512))) {
        let mask0 = __mmask16(truncatingIfNeeded: (1 << min(16, columns)) - 1), mask1 = __mmask16(truncatingIfNeeded: (1 << max(0, columns - 16)) - 1)
        @inline(__always) func row(_ r: Int, _ v: (__m512, __m512)) {
            guard r < rows else { return }
            _mm512_mask_storeu_ps(y + r * ldy, mask0, v.0)
            if columns > 16 { _mm512_mask_storeu_ps(y + r * ldy + 16, mask1, v.1) }
        }
        row(0, f.0); row(1, f.1); row(2, f.2); row(3, f.3)
    }
}

enum Q4_0Panels: PanelKernel {
    /// 8 groups of 64 bytes (4 consecutive values of 16 rows, as unsigned nibbles 0–15: group g < 4
    /// holds values 4g..<4g+4, group g ≥ 4 values 16 + 4(g − 4)...), then the 16 rows' scales as floats.
    static let blockBytes = 8 * 64 + 64
    static let blockLength = 32
    static let panels = 2
    static let totalsBytes = 8

    /// Packs `rows` (≤ 16) weight rows from `w`, `rowBytes` apart, into a panel; missing rows repeat
    /// the last (their outputs are not stored).
    @inline(__always) static func pack(_ w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks nb: Int, into out: UnsafeMutableRawPointer) {
        let offsets = Panels.rowOffsets(rowBytes, rows: rows)
        let low = _mm512_set1_epi8(0xF)
        for b in 0..<nb {
            let block = w + 18 * b, o = out + blockBytes * b
            for j in 0..<4 {
                // Bytes 4j..<4j+4 of each row's nibbles: low nibbles are values 4j..., high 16 + 4j...
                let v = hark_gather16(block + 2 + 4 * j, offsets)
                _mm512_store_si512(o + 64 * j, _mm512_and_si512(v, low))
                _mm512_store_si512(o + 64 * (j + 4), _mm512_and_si512(_mm512_srli_epi32(v, 4), low))
            }
            let d = hark_gather16(block, offsets)  // the scale in each dword's low 16 bits
            _mm512_store_ps(o + 512, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)))
        }
    }

    /// Up to 4 activation rows (`a`, block totals `t`; missing rows repeat the first) against two
    /// panels (or one, passed twice): Y[r][c] for r < activationRows and c < columns (≤ 32), `ldy` apart.
    @inline(__always) static func tile(_ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer, blocks nb: Int,
                                       _ a: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                       _ t: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                       into y: UnsafeMutablePointer<Float>, ldy: Int, activationRows: Int, columns: Int) {
        var f00 = _mm512_setzero_ps(), f01 = f00, f10 = f00, f11 = f00, f20 = f00, f21 = f00, f30 = f00, f31 = f00
        for b in 0..<nb {
            let p0 = w0 + blockBytes * b, p1 = w1 + blockBytes * b
            // Each row's integer sums start at −8·Σ y (the nibbles' offset).
            @inline(__always) func start(_ t: UnsafeRawPointer) -> __m512i {
                _mm512_set1_epi32(-8 &* t.loadUnaligned(fromByteOffset: 8 * b, as: Int32.self))
            }
            var c00 = start(t.0), c01 = c00, c10 = start(t.1), c11 = c10, c20 = start(t.2), c21 = c20, c30 = start(t.3), c31 = c30
            let q = 34 * b + 2
            for g in 0..<8 {
                let v0 = _mm512_load_si512(p0 + 64 * g), v1 = _mm512_load_si512(p1 + 64 * g)
                let x0 = _mm512_set1_epi32(a.0.loadUnaligned(fromByteOffset: q + 4 * g, as: Int32.self))
                c00 = _mm512_dpbusd_epi32(c00, v0, x0); c01 = _mm512_dpbusd_epi32(c01, v1, x0)
                let x1 = _mm512_set1_epi32(a.1.loadUnaligned(fromByteOffset: q + 4 * g, as: Int32.self))
                c10 = _mm512_dpbusd_epi32(c10, v0, x1); c11 = _mm512_dpbusd_epi32(c11, v1, x1)
                let x2 = _mm512_set1_epi32(a.2.loadUnaligned(fromByteOffset: q + 4 * g, as: Int32.self))
                c20 = _mm512_dpbusd_epi32(c20, v0, x2); c21 = _mm512_dpbusd_epi32(c21, v1, x2)
                let x3 = _mm512_set1_epi32(a.3.loadUnaligned(fromByteOffset: q + 4 * g, as: Int32.self))
                c30 = _mm512_dpbusd_epi32(c30, v0, x3); c31 = _mm512_dpbusd_epi32(c31, v1, x3)
            }
            let d0 = _mm512_load_ps(p0 + 512), d1 = _mm512_load_ps(p1 + 512)
            // f + (Float(c) · x.d) · y.d, two roundings as the reference.
            @inline(__always) func add(_ f: inout __m512, _ c: __m512i, _ d: __m512, _ t: UnsafeRawPointer) {
                let dy = _mm512_set1_ps(t.loadUnaligned(fromByteOffset: 8 * b + 4, as: Float.self))
                f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(c), d), dy))
            }
            add(&f00, c00, d0, t.0); add(&f01, c01, d1, t.0); add(&f10, c10, d0, t.1); add(&f11, c11, d1, t.1)
            add(&f20, c20, d0, t.2); add(&f21, c21, d1, t.2); add(&f30, c30, d0, t.3); add(&f31, c31, d1, t.3)
        }
        Panels.store(y, ldy: ldy, rows: activationRows, columns: columns, ((f00, f01), (f10, f11), (f20, f21), (f30, f31)))
    }
}

enum Q4_KPanels: PanelKernel {
    /// 64 groups of 64 bytes (group 8s + g: values 32s + 4g..<+4 of sub-block s, unsigned nibbles),
    /// the 8 sub-blocks' scales (16 Int32 each), their minimums as 4 × 16 Int32 lanes of two Int16
    /// (sub-blocks 2t and 2t + 1), d and dmin (16 floats each).
    static let blockBytes = 64 * 64 + 8 * 64 + 4 * 64 + 2 * 64
    static let blockLength = 256
    static let panels = 1
    static let totalsBytes = 16
    static let scalesOffset = 64 * 64, minsOffset = scalesOffset + 8 * 64, dOffset = minsOffset + 4 * 64

    @inline(__always) static func pack(_ w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks nb: Int, into out: UnsafeMutableRawPointer) {
        let offsets = Panels.rowOffsets(rowBytes, rows: rows), sixteen = Panels.rowOffsets(16, rows: rows)
        let low = _mm512_set1_epi8(0xF), byte = _mm512_set1_epi32(0xFF)
        withUnsafeTemporaryAllocation(byteCount: 16 * 16, alignment: 64) { unpacked in
            let scales = unpacked.baseAddress!
            for b in 0..<nb {
                let block = w + 144 * b, o = out + blockBytes * b
                // Bytes 32c + 4l..<+4 of the nibbles: low nibbles are values 64c + 4l... (sub-block
                // 2c, group l), high nibbles values 64c + 32 + 4l... (sub-block 2c + 1, group l).
                for c in 0..<4 {
                    for l in 0..<8 {
                        let v = hark_gather16(block + 16 + 32 * c + 4 * l, offsets)
                        _mm512_store_si512(o + 64 * (16 * c + l), _mm512_and_si512(v, low))
                        _mm512_store_si512(o + 64 * (16 * c + 8 + l), _mm512_and_si512(_mm512_srli_epi32(v, 4), low))
                    }
                }
                // Each row's 8 scales and 8 minimums as bytes (ggml's 6-bit unpacking), then across rows.
                for r in 0..<rows { _mm_storeu_si128((scales + 16 * r).assumingMemoryBound(to: __m128i.self), AVX2.scalesAndMins(block + r * rowBytes + 4)) }
                for q in 0..<2 {
                    let sc = hark_gather16(scales + 4 * q, sixteen), m = hark_gather16(scales + 8 + 4 * q, sixteen)
                    for s in 0..<4 {
                        _mm512_store_si512(o + scalesOffset + 64 * (4 * q + s), _mm512_and_si512(_mm512_srli_epi32(sc, UInt32(8 * s)), byte))
                    }
                    for h in 0..<2 {  // minimums 4q + 2h and 4q + 2h + 1 as a pair of Int16
                        let pair = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(m, UInt32(16 * h)), byte),
                                                   _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(m, UInt32(16 * h + 8)), byte), 16))
                        _mm512_store_si512(o + minsOffset + 64 * (2 * q + h), pair)
                    }
                }
                let d = hark_gather16(block, offsets)  // d and dmin in each dword
                _mm512_store_ps(o + dOffset, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)))
                _mm512_store_ps(o + dOffset + 64, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(d, 16))))
            }
        }
    }

    /// Up to 4 activation rows (Q8_K; `t` their sub-block sums) against one panel (`w1` unused).
    @inline(__always) static func tile(_ w: UnsafeRawPointer, _ w1: UnsafeRawPointer, blocks nb: Int,
                                       _ a: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                       _ t: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                       into y: UnsafeMutablePointer<Float>, ldy: Int, activationRows: Int, columns: Int) {
        var f0 = _mm512_setzero_ps(), f1 = f0, f2 = f0, f3 = f0
        for b in 0..<nb {
            let p = w + blockBytes * b, q = 292 * b
            var s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0
            for s in 0..<8 {
                var c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0
                for g in 0..<8 {
                    let v = _mm512_load_si512(p + 64 * (8 * s + g)), o = q + 4 + 32 * s + 4 * g
                    c0 = _mm512_dpbusd_epi32(c0, v, _mm512_set1_epi32(a.0.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                    c1 = _mm512_dpbusd_epi32(c1, v, _mm512_set1_epi32(a.1.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                    c2 = _mm512_dpbusd_epi32(c2, v, _mm512_set1_epi32(a.2.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                    c3 = _mm512_dpbusd_epi32(c3, v, _mm512_set1_epi32(a.3.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                }
                let scale = _mm512_load_si512(p + scalesOffset + 64 * s)
                s0 = _mm512_add_epi32(s0, _mm512_mullo_epi32(c0, scale)); s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(c1, scale))
                s2 = _mm512_add_epi32(s2, _mm512_mullo_epi32(c2, scale)); s3 = _mm512_add_epi32(s3, _mm512_mullo_epi32(c3, scale))
            }
            let d = _mm512_load_ps(p + dOffset), dmin = _mm512_load_ps(p + dOffset + 64)
            // f + ((x.d·y.d)·Float(Σ scale·q·y) − (x.dmin·y.d)·Float(Σ min·y)), as Q4_K's row kernels.
            @inline(__always) func add(_ f: inout __m512, _ sums: __m512i, _ a: UnsafeRawPointer, _ t: UnsafeRawPointer) {
                var mins = _mm512_setzero_si512()
                for h in 0..<4 {
                    let ys = _mm512_set1_epi32(t.loadUnaligned(fromByteOffset: 16 * b + 4 * h, as: Int32.self))
                    mins = _mm512_dpwssd_epi32(mins, _mm512_load_si512(p + minsOffset + 64 * h), ys)
                }
                let dy = _mm512_set1_ps(a.loadUnaligned(fromByteOffset: q, as: Float.self))
                f = _mm512_add_ps(f, _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(d, dy), _mm512_cvtepi32_ps(sums)),
                                                   _mm512_mul_ps(_mm512_mul_ps(dmin, dy), _mm512_cvtepi32_ps(mins))))
            }
            add(&f0, s0, a.0, t.0); add(&f1, s1, a.1, t.1); add(&f2, s2, a.2, t.2); add(&f3, s3, a.3, t.3)
        }
        Panels.store(y, ldy: ldy, rows: activationRows, columns: columns, ((f0, f0), (f1, f1), (f2, f2), (f3, f3)))
    }
}
#endif
