// The register-blocked inner loops of Sgemm.run.
//
// A tile is 6 rows of C by a window of columns. For each p in 0..<k it loads the window of B row p
// as vectors, broadcasts A[i][p] for each of the 6 rows and does one fused multiply-add per row and
// vector; the accumulators stay in registers until the tile is stored. Every tile keeps 12
// independent FMA chains, enough to hide the FMA latency (4 cycles × 2 FMA ports on x86-64):
//   wide tile   — 6 rows × 2 vectors of `Wide` (12 accumulators);
//   narrow tile — 6 rows × 1 vector, two accumulators per row splitting k into even and odd p;
//   row tile    — 1 row × 4 vectors of `Wide` (for m == 1, nothing to share between rows).
// With `Wide` = SIMD16<Float> (AVX-512) the wide tile is 12 zmm + 2 for B + 1 broadcast of 32
// registers; with SIMD8<Float> (AVX2) 12 + 3 of 16 ymm.

extension Sgemm {
    /// The widest vector the tiles use: one register of the target. (SIMD32<Float> would not do for
    /// AVX-512: the standard library's lane-wise `addingProduct` stays a scalar loop at 32 lanes.)
    #if arch(x86_64) && HARK_X86_AVX512
    typealias Wide = SIMD16<Float>  // zmm
    #elseif arch(x86_64) && HARK_X86_FMA
    typealias Wide = SIMD8<Float>   // ymm
    #else
    typealias Wide = SIMD4<Float>   // xmm on baseline x86-64; a NEON q register on arm64
    #endif

    /// The operands shared by every tile of one call. A[i][p] is at a[i · lda + p · aStep]:
    /// aStep is 1 for a row-major A (all of `run`), the panel height in a `PackedMatrix` (then lda is 1).
    struct Operands {
        let k: Int
        let a: UnsafePointer<Float>, lda: Int, aStep: Int
        let b: UnsafePointer<Float>, ldb: Int
        let c: UnsafeMutablePointer<Float>, ldc: Int
        let bias: UnsafePointer<Float>?
        let accumulate: Bool
    }

    /// Rows of C per wide or narrow tile.
    static let tileRows = 6

    /// One 6-row tile of C over columns column..<column+width, storing only `lanes` (a subrange of
    /// 0..<width) of the window; width is 2 · Wide.scalarCount or a power of two from 4 to 16.
    /// rows (1...6) of the block are real; the others repeat the last real row and are not stored.
    @inline(__always)
    static func tile(width: Int, rows: Int, row: Int, column: Int, lanes: Range<Int>, _ o: Operands) {
        switch width {
        case 2 * Wide.scalarCount: wideTile(Wide.self, rows: rows, row: row, column: column, lanes: lanes, o)
        case 16: narrowTile(SIMD16<Float>.self, rows: rows, row: row, column: column, lanes: lanes, o)
        case 8: narrowTile(SIMD8<Float>.self, rows: rows, row: row, column: column, lanes: lanes, o)
        default: narrowTile(SIMD4<Float>.self, rows: rows, row: row, column: column, lanes: lanes, o)
        }
    }

    /// Wide tile: C[row..<row+rows][column..<column+2w] (w = V.scalarCount, lanes only) =
    /// A[row..<row+rows][0..<k] · B[0..<k][column..<column+2w] + bias / old C.
    /// Two accumulators per row, one for each half of the window.
    // Not inlined: one function per tile keeps the optimiser inlining the loads within it.
    static func wideTile<V: SIMD & BitwiseCopyable>(_: V.Type, rows: Int, row: Int, column: Int, lanes: Range<Int>,
                                  _ o: Operands) where V.Scalar == Float {
        let w = V.scalarCount
        let (a0, a1, a2, a3, a4, a5) = rowPointers(o.a, row: row, rows: rows, stride: o.lda)
        let c = rowPointers(o.c + column, row: row, rows: rows, stride: o.ldc)
        let bias = biasValues(o.bias, row: row, rows: rows)
        let lo = part(lanes, offset: 0, width: w), hi = part(lanes, offset: w, width: w)
        var x0 = start(V.self, c.0, lo, bias.0, o.accumulate), y0 = start(V.self, c.0 + w, hi, bias.0, o.accumulate)
        var x1 = start(V.self, c.1, lo, bias.1, o.accumulate), y1 = start(V.self, c.1 + w, hi, bias.1, o.accumulate)
        var x2 = start(V.self, c.2, lo, bias.2, o.accumulate), y2 = start(V.self, c.2 + w, hi, bias.2, o.accumulate)
        var x3 = start(V.self, c.3, lo, bias.3, o.accumulate), y3 = start(V.self, c.3 + w, hi, bias.3, o.accumulate)
        var x4 = start(V.self, c.4, lo, bias.4, o.accumulate), y4 = start(V.self, c.4 + w, hi, bias.4, o.accumulate)
        var x5 = start(V.self, c.5, lo, bias.5, o.accumulate), y5 = start(V.self, c.5 + w, hi, bias.5, o.accumulate)

        var b = o.b + column
        for p in 0..<o.k {
            let bx = load(V.self, b), by = load(V.self, b + w)
            x0 = x0.fusedAdding(a0[p], bx); y0 = y0.fusedAdding(a0[p], by)
            x1 = x1.fusedAdding(a1[p], bx); y1 = y1.fusedAdding(a1[p], by)
            x2 = x2.fusedAdding(a2[p], bx); y2 = y2.fusedAdding(a2[p], by)
            x3 = x3.fusedAdding(a3[p], bx); y3 = y3.fusedAdding(a3[p], by)
            x4 = x4.fusedAdding(a4[p], bx); y4 = y4.fusedAdding(a4[p], by)
            x5 = x5.fusedAdding(a5[p], bx); y5 = y5.fusedAdding(a5[p], by)
            b += o.ldb
        }

        store(x0, c.0, lo); store(y0, c.0 + w, hi)
        if rows > 1 { store(x1, c.1, lo); store(y1, c.1 + w, hi) }
        if rows > 2 { store(x2, c.2, lo); store(y2, c.2 + w, hi) }
        if rows > 3 { store(x3, c.3, lo); store(y3, c.3 + w, hi) }
        if rows > 4 { store(x4, c.4, lo); store(y4, c.4 + w, hi) }
        if rows > 5 { store(x5, c.5, lo); store(y5, c.5 + w, hi) }
    }

    /// Narrow tile: like `wideTile` over a window of w = V.scalarCount columns. The two accumulators
    /// of a row take the even and the odd p.
    // Not inlined: one function per tile keeps the optimiser inlining the loads within it.
    static func narrowTile<V: SIMD & BitwiseCopyable>(_: V.Type, rows: Int, row: Int, column: Int, lanes: Range<Int>,
                                    _ o: Operands) where V.Scalar == Float {
        let (a0, a1, a2, a3, a4, a5) = rowPointers(o.a, row: row, rows: rows, stride: o.lda)
        let c = rowPointers(o.c + column, row: row, rows: rows, stride: o.ldc)
        let bias = biasValues(o.bias, row: row, rows: rows)
        var x0 = start(V.self, c.0, lanes, bias.0, o.accumulate), y0 = V()
        var x1 = start(V.self, c.1, lanes, bias.1, o.accumulate), y1 = V()
        var x2 = start(V.self, c.2, lanes, bias.2, o.accumulate), y2 = V()
        var x3 = start(V.self, c.3, lanes, bias.3, o.accumulate), y3 = V()
        var x4 = start(V.self, c.4, lanes, bias.4, o.accumulate), y4 = V()
        var x5 = start(V.self, c.5, lanes, bias.5, o.accumulate), y5 = V()

        var b = o.b + column
        for q in 0..<(o.k / 2) {
            let p = 2 * q
            let bx = load(V.self, b), by = load(V.self, b + o.ldb)
            x0 = x0.fusedAdding(a0[p], bx); y0 = y0.fusedAdding(a0[p + 1], by)
            x1 = x1.fusedAdding(a1[p], bx); y1 = y1.fusedAdding(a1[p + 1], by)
            x2 = x2.fusedAdding(a2[p], bx); y2 = y2.fusedAdding(a2[p + 1], by)
            x3 = x3.fusedAdding(a3[p], bx); y3 = y3.fusedAdding(a3[p + 1], by)
            x4 = x4.fusedAdding(a4[p], bx); y4 = y4.fusedAdding(a4[p + 1], by)
            x5 = x5.fusedAdding(a5[p], bx); y5 = y5.fusedAdding(a5[p + 1], by)
            b += 2 * o.ldb
        }
        if o.k % 2 == 1 {
            let p = o.k - 1, bx = load(V.self, b)
            x0 = x0.fusedAdding(a0[p], bx); x1 = x1.fusedAdding(a1[p], bx); x2 = x2.fusedAdding(a2[p], bx)
            x3 = x3.fusedAdding(a3[p], bx); x4 = x4.fusedAdding(a4[p], bx); x5 = x5.fusedAdding(a5[p], bx)
        }

        store(x0 + y0, c.0, lanes)
        if rows > 1 { store(x1 + y1, c.1, lanes) }
        if rows > 2 { store(x2 + y2, c.2, lanes) }
        if rows > 3 { store(x3 + y3, c.3, lanes) }
        if rows > 4 { store(x4 + y4, c.4, lanes) }
        if rows > 5 { store(x5 + y5, c.5, lanes) }
    }

    /// Row tile, for m == 1: C[0][column..<column+4w] (lanes only) = A[0][0..<k] · B[0..<k][window].
    // Not inlined: one function per tile keeps the optimiser inlining the loads within it.
    static func rowTile<V: SIMD & BitwiseCopyable>(_: V.Type, column: Int, lanes: Range<Int>, _ o: Operands) where V.Scalar == Float {
        let w = V.scalarCount
        let c = o.c + column, bias = o.bias?.pointee ?? 0
        let l0 = part(lanes, offset: 0, width: w), l1 = part(lanes, offset: w, width: w)
        let l2 = part(lanes, offset: 2 * w, width: w), l3 = part(lanes, offset: 3 * w, width: w)
        var x0 = start(V.self, c, l0, bias, o.accumulate), x1 = start(V.self, c + w, l1, bias, o.accumulate)
        var x2 = start(V.self, c + 2 * w, l2, bias, o.accumulate), x3 = start(V.self, c + 3 * w, l3, bias, o.accumulate)
        var b = o.b + column
        for p in 0..<o.k {
            let a = o.a[p]
            x0 = x0.fusedAdding(a, load(V.self, b)); x1 = x1.fusedAdding(a, load(V.self, b + w))
            x2 = x2.fusedAdding(a, load(V.self, b + 2 * w)); x3 = x3.fusedAdding(a, load(V.self, b + 3 * w))
            b += o.ldb
        }
        store(x0, c, l0); store(x1, c + w, l1); store(x2, c + 2 * w, l2); store(x3, c + 3 * w, l3)
    }

    // MARK: - Pieces of a tile

    /// Pointers to rows row..<row+6 of a matrix; rows past row+rows-1 repeat the last real one.
    @inline(__always)
    static func rowPointers<P: Strideable>(_ base: P, row: Int, rows: Int, stride: Int) -> (P, P, P, P, P, P)
        where P.Stride == Int {
        let first = base.advanced(by: row * stride), last = rows - 1
        return (first, first.advanced(by: min(1, last) * stride), first.advanced(by: min(2, last) * stride),
                first.advanced(by: min(3, last) * stride), first.advanced(by: min(4, last) * stride),
                first.advanced(by: min(5, last) * stride))
    }

    /// bias[row..<row+6], repeating the last real row like `rowPointers`; zeros without a bias.
    @inline(__always)
    static func biasValues(_ bias: UnsafePointer<Float>?, row: Int, rows: Int) -> (Float, Float, Float, Float, Float, Float) {
        guard let bias else { return (0, 0, 0, 0, 0, 0) }
        let b = rowPointers(bias, row: row, rows: rows, stride: 1)
        return (b.0.pointee, b.1.pointee, b.2.pointee, b.3.pointee, b.4.pointee, b.5.pointee)
    }

    /// The part of the window's `lanes` that falls in the vector of `width` lanes starting `offset`
    /// lanes into the window, counted from that vector's first lane.
    @inline(__always)
    static func part(_ lanes: Range<Int>, offset: Int, width: Int) -> Range<Int> {
        let lower = min(max(lanes.lowerBound - offset, 0), width)
        let upper = min(max(lanes.upperBound - offset, lower), width)
        return lower..<upper
    }

    /// The value an accumulator starts from: old C (if accumulating, only `lanes` are read) plus bias.
    @inline(__always)
    static func start<V: SIMD & BitwiseCopyable>(_: V.Type, _ c: UnsafeMutablePointer<Float>, _ lanes: Range<Int>,
                                                 _ bias: Float, _ accumulate: Bool) -> V where V.Scalar == Float {
        var v = V(repeating: bias)
        if accumulate {
            v += lanes.count == V.scalarCount ? load(V.self, UnsafePointer(c)) : loadLanes(V.self, c, lanes)
        }
        return v
    }

    @inline(__always)
    static func load<V: SIMD & BitwiseCopyable>(_: V.Type, _ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    /// Stores `lanes` (within 0..<V.scalarCount) of v at the same lanes of p.
    @inline(__always)
    static func store<V: SIMD & BitwiseCopyable>(_ v: V, _ p: UnsafeMutablePointer<Float>, _ lanes: Range<Int>)
        where V.Scalar == Float {
        if lanes.count == V.scalarCount {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
        } else {
            storeLanes(v, p, lanes)
        }
    }

    // The lane-by-lane edges of `start` and `store`, out of line: once per tile at most, and kept
    // out of the tiles so that they stay small enough for the optimiser to inline every vector load
    // and store in them. (Past its size limit for a caller it leaves even `loadUnaligned` a call,
    // with the accumulators spilled around it: measured 27 instead of 74 GFLOP/s.)

    @inline(never)
    static func loadLanes<V: SIMD & BitwiseCopyable>(_: V.Type, _ c: UnsafeMutablePointer<Float>, _ lanes: Range<Int>) -> V
        where V.Scalar == Float {
        var v = V()
        for lane in lanes.clamped(to: 0..<V.scalarCount) { v[lane] = c[lane] }
        return v
    }

    @inline(never)
    static func storeLanes<V: SIMD & BitwiseCopyable>(_ v: V, _ p: UnsafeMutablePointer<Float>, _ lanes: Range<Int>)
        where V.Scalar == Float {
        for lane in lanes.clamped(to: 0..<V.scalarCount) { p[lane] = v[lane] }
    }
}
