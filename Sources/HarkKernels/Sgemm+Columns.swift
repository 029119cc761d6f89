// How `run` covers the columns and rows of C with tiles, and the zero-padded copy of a narrow B.

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
}
