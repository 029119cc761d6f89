// Sgemm.run(packed:): C = A · B for A packed as a `PackedMatrix` (see PackedMatrix.swift).

extension Sgemm {
    /// C[m×n] = A · B[k×n] (+ bias[i] on row i, + old C if accumulate) for A packed as a
    /// `PackedMatrix` (m = a.rows, k = a.columns): the same result as `run` on the unpacked A.
    public static func run(packed a: PackedMatrix, n: Int,
                           b: UnsafePointer<Float>, ldb: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int,
                           bias: UnsafePointer<Float>?, accumulate: Bool) {
        let m = a.rows, k = a.columns
        precondition(n >= 0 && ldb >= n && ldc >= n,
                     "Sgemm.run(packed:): bad n=\(n) ldb=\(ldb) ldc=\(ldc)")
        if m == 0 || n == 0 { return }
        let w = Wide.scalarCount
        if n >= 2 * w || n == w || m < w {
            // Many columns, exactly one vector of them, or a few rows: the 6-row tiles on the
            // row-major A are faster (measured: n = 16 on AVX-512, 82 against 74 GFLOP/s).
            a.rowMajor.withUnsafeBufferPointer { rowMajor in
                run(m: m, n: n, k: k, a: rowMajor.baseAddress!, lda: k, b: b, ldb: ldb, c: c, ldc: ldc,
                    bias: bias, accumulate: accumulate)
            }
            return
        }
        // Few columns: vectors run down each panel's rows, B is broadcast.
        let height = PackedMatrix.panelRows
        a.panels.withUnsafeBufferPointer { panels in
            for panel in 0..<((m + height - 1) / height) {
                let row = panel * height
                let start = panels.baseAddress! + PackedMatrix.panelOffset(panels.baseAddress!)
                let o = Operands(k: k, a: start + panel * height * k, lda: 1, aStep: height,
                                 b: b, ldb: ldb, c: c + row * ldc, ldc: ldc,
                                 bias: bias.map { $0 + row }, accumulate: accumulate)
                let rows = min(height, m - row)
                if n == 1 {
                    columnTile(Wide.self, rows: rows, column: 0, columns: 1, splitK: true, o)
                } else {
                    var column = 0
                    while column < n {
                        let columns = min(4, n - column)
                        columnTile(Wide.self, rows: rows, column: column, columns: columns, splitK: false, o)
                        column += columns
                    }
                }
            }
        }
    }

    /// Column tile over one panel: C[0..<rows][column..<column+columns] for 3w panel rows
    /// (w = V.scalarCount) and up to 4 columns; 12 accumulators, each a vector down the rows of one
    /// column. With splitK (one column) the 4 accumulators per vector take p mod 4 instead.
    /// The accumulators run down C's columns, so storing them transposes: see `storeColumns`.
    // Not inlined: one function per tile keeps the optimiser inlining the loads within it.
    static func columnTile<V: SIMD & BitwiseCopyable>(_: V.Type, rows: Int, column: Int, columns: Int,
                                                      splitK: Bool, _ o: Operands) where V.Scalar == Float {
        let w = V.scalarCount
        // Accumulator (v, j): rows v·w..<(v+1)·w of column j (or, with splitK, of p ≡ j mod 4).
        var c00 = V(), c01 = V(), c02 = V(), c03 = V()
        var c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var c20 = V(), c21 = V(), c22 = V(), c23 = V()
        var a = o.a
        if splitK {
            var b = o.b + column
            var p = 0
            while p + 4 <= o.k {
                // Four consecutive p, one per accumulator set: A rows at a, a + step, a + 2·step, ….
                let step = o.aStep
                let b0 = b[0], b1 = b[o.ldb], b2 = b[2 * o.ldb], b3 = b[3 * o.ldb]
                let p0 = a, p1 = a + step, p2 = a + 2 * step, p3 = a + 3 * step
                c00 = c00.fusedAdding(b0, load(V.self, p0))
                c10 = c10.fusedAdding(b0, load(V.self, p0 + w))
                c20 = c20.fusedAdding(b0, load(V.self, p0 + 2 * w))
                c01 = c01.fusedAdding(b1, load(V.self, p1))
                c11 = c11.fusedAdding(b1, load(V.self, p1 + w))
                c21 = c21.fusedAdding(b1, load(V.self, p1 + 2 * w))
                c02 = c02.fusedAdding(b2, load(V.self, p2))
                c12 = c12.fusedAdding(b2, load(V.self, p2 + w))
                c22 = c22.fusedAdding(b2, load(V.self, p2 + 2 * w))
                c03 = c03.fusedAdding(b3, load(V.self, p3))
                c13 = c13.fusedAdding(b3, load(V.self, p3 + w))
                c23 = c23.fusedAdding(b3, load(V.self, p3 + 2 * w))
                a += 4 * step
                b += 4 * o.ldb
                p += 4
            }
            while p < o.k {
                let b0 = b[0]
                c00 = c00.fusedAdding(b0, load(V.self, a))
                c10 = c10.fusedAdding(b0, load(V.self, a + w))
                c20 = c20.fusedAdding(b0, load(V.self, a + 2 * w))
                a += o.aStep
                b += o.ldb
                p += 1
            }
            c00 += c01 + c02 + c03
            c10 += c11 + c12 + c13
            c20 += c21 + c22 + c23
        } else {
            // Columns past `columns` repeat the last real one and are not stored.
            let last = columns - 1
            var b = o.b + column
            let j1 = min(1, last), j2 = min(2, last), j3 = min(3, last)
            for _ in 0..<o.k {
                let b0 = b[0], b1 = b[j1], b2 = b[j2], b3 = b[j3]
                let a0 = load(V.self, a), a1 = load(V.self, a + w), a2 = load(V.self, a + 2 * w)
                c00 = c00.fusedAdding(b0, a0); c10 = c10.fusedAdding(b0, a1); c20 = c20.fusedAdding(b0, a2)
                c01 = c01.fusedAdding(b1, a0); c11 = c11.fusedAdding(b1, a1); c21 = c21.fusedAdding(b1, a2)
                c02 = c02.fusedAdding(b2, a0); c12 = c12.fusedAdding(b2, a1); c22 = c22.fusedAdding(b2, a2)
                c03 = c03.fusedAdding(b3, a0); c13 = c13.fusedAdding(b3, a1); c23 = c23.fusedAdding(b3, a2)
                a += o.aStep
                b += o.ldb
            }
        }
        if splitK {
            storeColumn(c00, c10, c20, rows: rows, o)
        } else {
            storeColumns((c00, c10, c20, c01, c11, c21, c02, c12, c22, c03, c13, c23),
                         column: column, columns: columns, rows: rows, o)
        }
    }

    /// C[r][0] for r in 0..<rows from the three vectors (x, y, z) down the rows, plus bias and old C.
    @inline(__always)
    static func storeColumn<V: SIMD & BitwiseCopyable>(_ x: V, _ y: V, _ z: V, rows: Int, _ o: Operands)
        where V.Scalar == Float {
        let w = V.scalarCount
        if o.ldc == 1 && rows == 3 * w {
            // Contiguous: a matrix times a vector into a vector.
            var (x, y, z) = (x, y, z)
            if let bias = o.bias {
                x += load(V.self, bias); y += load(V.self, bias + w); z += load(V.self, bias + 2 * w)
            }
            if o.accumulate {
                x += load(V.self, UnsafePointer(o.c)); y += load(V.self, UnsafePointer(o.c + w))
                z += load(V.self, UnsafePointer(o.c + 2 * w))
            }
            store(x, o.c, 0..<w); store(y, o.c + w, 0..<w); store(z, o.c + 2 * w, 0..<w)
        } else {
            storeColumns((x, y, z, x, y, z, x, y, z, x, y, z), column: 0, columns: 1, rows: rows, o)
        }
    }

    /// C[r][column + j] for r in 0..<rows, j in 0..<columns, from accumulators (v, j) in the order
    /// of `columnTile`: (0,0), (1,0), (2,0), (0,1), … — through a stack copy, then row by row.
    @inline(__always)
    static func storeColumns<V: SIMD & BitwiseCopyable>(_ acc: (V, V, V, V, V, V, V, V, V, V, V, V),
                                                        column: Int, columns: Int, rows: Int, _ o: Operands)
        where V.Scalar == Float {
        withUnsafeBytes(of: acc) { raw in
            let values = raw.assumingMemoryBound(to: Float.self).baseAddress!
            let height = 3 * V.scalarCount
            for r in 0..<rows {
                let bias = o.bias?[r] ?? 0
                let c = o.c + r * o.ldc + column
                if columns == 4 {
                    // Row r of the four columns is contiguous in C: one 4-wide store.
                    var row = SIMD4(values[r], values[height + r], values[2 * height + r], values[3 * height + r]) + bias
                    if o.accumulate { row += load(SIMD4<Float>.self, UnsafePointer(c)) }
                    store(row, c, 0..<4)
                } else {
                    for j in 0..<columns {
                        let value = values[j * height + r] + bias
                        c[j] = o.accumulate ? c[j] + value : value
                    }
                }
            }
        }
    }
}
