// Prompt products of Q4_0 weights with AVX-512 VNNI: Y[n × rows] = X[n × k] · Wᵀ for n of a few rows
// or more (a prompt, the tokens routed to an expert). GGUF's layout keeps each row's blocks together,
// so a row-at-a-time dot product sums each block in 8 lanes and must add the lanes across before its
// float step; here each thread first packs 16 weight rows at a time (a panel) so that lane j of a
// 64-byte group holds 4 consecutive values of row j, and one vpdpbusd then adds 4 products into each
// of 16 rows' sums. A block's 8 groups give 16 rows' exact integer sums, then one float step for the
// 16. The packing (two gathers a group pair, into a scratch panel of unpacked nibbles) is paid once per
// 16 rows and used by every activation row.
//
// The arithmetic is Quant+AVX2.swift's Q4_0 (the scalar reference's): per block the integer
// Σ (q − 8)·y, then sum += (Float(sum) · x.d) · y.d in block order; so a panel's outputs are the
// single-row dot's floats bit for bit, and which kernel a product takes changes nothing. The −8·Σ y
// term comes from the activations' block totals (QuantActivations.blockTotals), once per row and block.

#if arch(x86_64) && HARK_X86_VNNI
import _Builtin_intrinsics.intel
import CIntrinsics

enum Q4_0Panels {
    /// From this many activation rows a product takes the panels (below it, the dot-product kernels).
    static let minimumRows = 4

    /// Bytes of one block in a packed panel: 8 groups of 64 (4 consecutive values of 16 rows, as
    /// unsigned nibbles 0–15: group g < 4 holds values 4g..<4g+4, group g ≥ 4 values 16 + 4(g − 4)...),
    /// then the 16 rows' scales as floats.
    static let blockBytes = 8 * 64 + 64

    /// Y = X · Wᵀ on `pool`, Y row-major `x.count × w.rows`.
    static func multiply(_ w: QuantMatrix, _ x: QuantActivations, into y: UnsafeMutablePointer<Float>, pool: KernelThreadPool) {
        let nb = w.columns / 32, n = x.count, rows = w.rows, rowBytes = w.rowBytes
        let totals = x.blockTotals(), xRowBytes = x.rowBytes
        let activations = x.row(0)
        pool.forEachRange(rows, granularity: 16) { range in
            withUnsafeTemporaryAllocation(byteCount: 2 * nb * blockBytes, alignment: 64) { scratch in
                let panel0 = scratch.baseAddress!, panel1 = panel0 + nb * blockBytes
                var i = range.lowerBound
                while i < range.upperBound {
                    let count = min(32, range.upperBound - i)
                    pack(w.row(i), rowBytes: rowBytes, rows: min(16, count), blocks: nb, into: panel0)
                    if count > 16 { pack(w.row(i + 16), rowBytes: rowBytes, rows: count - 16, blocks: nb, into: panel1) }
                    var j = 0
                    while j < n {
                        let m = min(4, n - j)
                        @inline(__always) func a(_ r: Int) -> UnsafeRawPointer { activations + (j + (r < m ? r : 0)) * xRowBytes }
                        @inline(__always) func t(_ r: Int) -> UnsafeRawPointer { totals + 8 * nb * (j + (r < m ? r : 0)) }
                        tile(panel0, count > 16 ? panel1 : panel0, blocks: nb, (a(0), a(1), a(2), a(3)), (t(0), t(1), t(2), t(3)),
                             into: y + j * rows + i, ldy: rows, activationRows: m, columns: count)
                        j += m
                    }
                    i += count
                }
            }
        }
    }

    /// Packs `rows` (≤ 16) weight rows from `w`, `rowBytes` apart, into a panel; missing rows repeat
    /// the first (their outputs are not stored).
    @inline(__always) static func pack(_ w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks nb: Int, into out: UnsafeMutableRawPointer) {
        let lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
        let present = _mm512_min_epi32(lane, _mm512_set1_epi32(Int32(rows - 1)))
        let offsets = _mm512_mullo_epi32(present, _mm512_set1_epi32(Int32(rowBytes)))
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
        let mask0 = __mmask16(truncatingIfNeeded: (1 << min(16, columns)) - 1)
        let mask1 = __mmask16(truncatingIfNeeded: (1 << max(0, columns - 16)) - 1)
        @inline(__always) func store(_ r: Int, _ f0: __m512, _ f1: __m512) {
            guard r < activationRows else { return }
            _mm512_mask_storeu_ps(y + r * ldy, mask0, f0)
            _mm512_mask_storeu_ps(y + r * ldy + 16, mask1, f1)
        }
        store(0, f00, f01); store(1, f10, f11); store(2, f20, f21); store(3, f30, f31)
    }
}
#endif
