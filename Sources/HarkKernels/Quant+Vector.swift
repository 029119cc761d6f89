// Matrix-vector products of Q4_0 weights with AVX-512 VNNI (decoding a token, 1–3
// activation rows), 16 weight rows at a time, straight from the file's layout. The dot-product
// kernels of Quant+AVX2.swift spend most of their instructions outside the multiply: per row and
// block they unpack 16 bytes of nibbles into a 256-bit vector, and four rows' 8 lanes are added
// across (vphaddd) before the float step; a product was bound by instruction throughput, about
// 56 GFLOP/s a core (Q4_0; Q4_K 67) whether its weights were in L2 or in memory (bench/quant). Here
// each 128-bit lane of a 512-bit vector holds one row's 16 bytes, so one and + shift + and unpacks
// four rows, vpdpbusd against the activations broadcast to every lane multiplies them, and a 4 × 4
// transpose of four such vectors (unpack and add) gives 16 rows' exact block sums in one vector for
// one float step.
//
// The arithmetic is Q4_0's everywhere else (the scalar reference's: the block's integer Σ (q − 8)·y,
// then sum += (Float(sum) · x.d) · y.d in block order), so an output does not depend on which kernel
// computed it. Packing rows first (Quant+Panels.swift) would cost as much as the product itself with
// one activation row. (A Q4_K kernel built the same way ran 67 -> 106 GFLOP/s in bench/quant but
// slowed the MoE Q4_K file's decoding from about 361 to 274 tokens/s, its experts read from memory;
// not understood yet, so Q4_K keeps the four-row dots.)

#if arch(x86_64) && HARK_X86_VNNI
import _Builtin_intrinsics.intel
import CIntrinsics

enum VectorKernels {
    /// Weight rows a kernel call computes.
    static let rows = 16

    /// Lane L of `rowSums`' result holds row 4·(L % 4) + L / 4; permuting by the same map (a 4 × 4
    /// transpose, its own inverse) puts rows in order.
    @inline(__always) static var transposed: __m512i {
        _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0)
    }

    /// The totals of each 128-bit lane of c0…c3 (rows 4g + k of c_g in lane k): lane 4k + g of the
    /// result is the sum of c_g's lane k.
    @inline(__always) static func rowSums(_ c0: __m512i, _ c1: __m512i, _ c2: __m512i, _ c3: __m512i) -> __m512i {
        let s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(c0, c1), _mm512_unpackhi_epi32(c0, c1))
        let s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(c2, c3), _mm512_unpackhi_epi32(c2, c3))
        return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23))
    }

    /// The 16 bytes at `offset` in the blocks at `block` of rows 4g..<4g+4 (`rowBytes` apart), one
    /// row a 128-bit lane.
    @inline(__always) static func rows4(_ block: UnsafeRawPointer, _ rowBytes: Int, _ g: Int, _ offset: Int) -> __m512i {
        let x = block + 4 * g * rowBytes + offset
        return hark_load4x16(x, x + rowBytes, x + 2 * rowBytes, x + 3 * rowBytes)
    }

    /// Block b's share of the 16 rows after those at `w` (blocks of `blockBytes`): the next call's
    /// rows, streamed in at the rate this call reads its own.
    @inline(__always) static func prefetchNext(_ w: UnsafeRawPointer, rowBytes: Int, blockBytes: Int, _ b: Int) {
        let p = w + 16 * rowBytes + 16 * blockBytes * b
        for o in Swift.stride(from: 0, to: 16 * blockBytes, by: 64) { hark_prefetch(p + o) }
    }

    /// Lane 0 of each 128-bit lane of h0…h3, in `rowSums`' order: lane 4k + g is h_g's lane 4k.
    @inline(__always) static func firstDwords(_ h0: __m512i, _ h1: __m512i, _ h2: __m512i, _ h3: __m512i) -> __m512i {
        _mm512_unpacklo_epi64(_mm512_unpacklo_epi32(h0, h1), _mm512_unpacklo_epi32(h2, h3))
    }

    /// y[0..<16] = the 16 Q4_0 rows at `w` (`rowBytes` apart, `nb` blocks) · the Q8_0 activation row
    /// `a`, whose block totals (QuantActivations.blockTotals: Σ q as Int32, d as Float) are `t`.
    @inline(__always) static func q4_0(_ w: UnsafeRawPointer, rowBytes: Int, blocks nb: Int, _ a: UnsafeRawPointer, _ t: UnsafeRawPointer,
                                       into y: UnsafeMutablePointer<Float>) {
        let order = transposed
        let low = _mm512_set1_epi8(0xF)
        var f = _mm512_setzero_ps()
        for b in 0..<nb {
            let block = w + 18 * b
            prefetchNext(w, rowBytes: rowBytes, blockBytes: 18, b)
            let ylo = _mm512_broadcast_i32x4(AVX2.load128(a + 34 * b + 2)), yhi = _mm512_broadcast_i32x4(AVX2.load128(a + 34 * b + 18))
            @inline(__always) func rows4(_ g: Int, _ offset: Int) -> __m512i { Self.rows4(block, rowBytes, g, offset) }
            // Rows 4g..<4g+4: Σ q·y in 4 lanes each (low nibbles are values 0–15, high 16–31).
            @inline(__always) func group(_ g: Int) -> __m512i {
                let v = rows4(g, 2)
                let c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, low), ylo)
                return _mm512_dpbusd_epi32(c, _mm512_and_si512(_mm512_srli_epi16(v, 4), low), yhi)
            }
            let offset = _mm512_set1_epi32(8 &* t.loadUnaligned(fromByteOffset: 8 * b, as: Int32.self))
            let sums = _mm512_sub_epi32(rowSums(group(0), group(1), group(2), group(3)), offset)
            // Each row's scale: the first dword of its block, transposed as the sums are (16 rows'
            // block heads loaded again cost less than one vpgatherdd of them).
            let dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(firstDwords(rows4(0, 0), rows4(1, 0), rows4(2, 0), rows4(3, 0))))
            let dy = _mm512_set1_ps(t.loadUnaligned(fromByteOffset: 8 * b + 4, as: Float.self))
            f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sums), dx), dy))
        }
        _mm512_storeu_ps(y, _mm512_permutexvar_ps(order, f))
    }
}
#endif
