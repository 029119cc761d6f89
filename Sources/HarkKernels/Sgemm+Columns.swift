// How `run` covers the columns and rows of C with tiles, and the copies of B it makes for some shapes.

extension Sgemm {
    /// Calls `body(column, width, lanes)` for column windows [column, column + width) that cover
    /// 0..<n (n >= narrowest), each inside 0..<n, of a power-of-two width from `narrowest` to `widest`.
    /// A window owns its `lanes` (columns column + lanes); only the last one may own fewer than all,
    /// when it is placed flush with column n and so overlaps the window before it.
    @inline(__always)
    static func forEachWindow(n: Int, widest: Int, narrowest: Int,
                              _ body: (_ column: Int, _ width: Int, _ lanes: Range<Int>) -> Void) {
        var column = 0
        while column < n {
            let remaining = n - column
            // The narrowest window that holds the rest, flush with column n, if it fits in 0..<n.
            var flush = narrowest
            while flush < remaining && flush < widest { flush *= 2 }
            if flush >= remaining && flush <= n {
                body(n - flush, flush, (flush - remaining)..<flush)
                return
            }
            // Otherwise the widest window that fits in the rest. It is at least `narrowest`: either
            // remaining > flush == widest, or flush grew past narrowest only while below remaining.
            var width = widest
            while width > remaining { width /= 2 }
            body(column, width, 0..<width)
            column += width
        }
    }

    /// Calls `body(row, rows)` for blocks of `tileRows` rows (fewer in the last) covering 0..<m.
    @inline(__always)
    static func forEachRowBlock(m: Int, _ body: (_ row: Int, _ rows: Int) -> Void) {
        var row = 0
        while row < m {
            let rows = min(tileRows, m - row)
            body(row, rows)
            row += rows
        }
    }

    /// padded[p][0..<width] = B[p][0..<n] followed by zeros, for width = pieces · V.scalarCount with
    /// n < width < 2n. (Two SIMD16 rather than one SIMD32: SIMD32's lane-wise operations are scalar loops.)
    @inline(__always)
    static func padColumns<V: SIMD & BitwiseCopyable>(_: V.Type, pieces: Int, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int,
                                    into padded: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let w = V.scalarCount, width = pieces * w
        // Reading `width` floats from row p stays inside B while row p + 1 exists: width < 2n <= n + ldb.
        for p in 0..<max(k - 1, 0) {
            for piece in 0..<pieces {
                var keep = SIMDMask<V.MaskStorage>()
                for lane in 0..<w { keep[lane] = piece * w + lane < n }
                let part = load(V.self, b + p * ldb + piece * w)
                let out = UnsafeMutableRawPointer(padded + p * width + piece * w)
                out.storeBytes(of: V().replacing(with: part, where: keep), as: V.self)
            }
        }
        if k > 0 {
            let last = padded + (k - 1) * width
            for j in 0..<width { last[j] = j < n ? b[(k - 1) * ldb + j] : 0 }
        }
    }

    /// The windows of `run` with each full-width window of B first copied to `panel`
    /// (k × 2·Wide.scalarCount floats), which every row block then reads contiguously.
    static func copiedWindows(m: Int, n: Int, panel: UnsafeMutablePointer<Float>, _ o: Operands) {
        let w = Wide.scalarCount
        forEachWindow(n: n, widest: 2 * w, narrowest: 4) { column, width, lanes in
            guard width == 2 * w else {
                forEachRowBlock(m: m) { row, rows in
                    tile(width: width, rows: rows, row: row, column: column, lanes: lanes, o)
                }
                return
            }
            for p in 0..<o.k {
                let row = o.b + p * o.ldb + column, out = UnsafeMutableRawPointer(panel + p * 2 * w)
                out.storeBytes(of: load(Wide.self, row), as: Wide.self)
                out.storeBytes(of: load(Wide.self, row + w), toByteOffset: w * MemoryLayout<Float>.stride, as: Wide.self)
            }
            let copied = Operands(k: o.k, a: o.a, lda: o.lda, aStep: 1, b: UnsafePointer(panel), ldb: 2 * w,
                                  c: o.c + column, ldc: o.ldc, bias: o.bias, accumulate: o.accumulate)
            forEachRowBlock(m: m) { row, rows in
                tile(width: width, rows: rows, row: row, column: 0, lanes: lanes, copied)
            }
        }
    }
}
