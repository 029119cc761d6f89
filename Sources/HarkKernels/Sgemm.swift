// Single-precision matrix multiply (SGEMM) for the wake-word models.
//
// What runs on it (openWakeWord 0.4.0, every 80 ms, on one core), as HarkWake calls it:
//   embedding CNN — 20 Conv lowered to im2col, C[Cout × Hout·Wout] = W[Cout × Cin·kh·kw] · cols:
//     M ∈ {24, 48, 72, 96}, K ∈ {9, 72, 144, 216, 288}, N = 2368, 2304, 576 … 20, 16, 12, 1;
//   melspectrogram — two Conv1d as M = 257, K = 512, N = 8 frames; a MatMul M = 8, K = 257, N = 32;
//   heads (Gemm with transB) and LSTM gates — weights × vector: M = 128…512, K = 32…1536, N = 1.
// All of it fits in L2, so there is no cache blocking. `run` tiles C into register blocks
// (Sgemm+MicroKernel.swift) over column windows of B read in place (Sgemm+Columns.swift); n = 1 is
// a set of dot products (Sgemm+MatrixVector.swift). With weights packed once (PackedMatrix),
// narrow C runs down the rows instead (Sgemm+Packed.swift).

public enum Sgemm {
    /// C[m×n] = A[m×k] · B[k×n] (+ bias[i] added to every element of row i, if bias != nil),
    /// row-major with leading dimensions. accumulate == true → C += A·B instead of C = A·B
    /// (bias still added once if given).
    ///
    /// The scalar definition the fast version is tested against:
    ///   a: [m][lda] (first k used), b: [k][ldb] (first n used), c: [m][ldc] (first n used), bias: [m]
    public static func reference(m: Int, n: Int, k: Int,
                                 a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int,
                                 c: UnsafeMutablePointer<Float>, ldc: Int,
                                 bias: UnsafePointer<Float>?, accumulate: Bool) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k { sum += a[i * lda + p] * b[p * ldb + j] }
                if let bias { sum += bias[i] }
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum
            }
        }
    }

    /// The fast version of `reference`: same parameters, same result up to float rounding
    /// (the sum over k is taken in a different order and with fused multiply-adds).
    public static func run(m: Int, n: Int, k: Int,
                           a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int,
                           bias: UnsafePointer<Float>?, accumulate: Bool) {
        precondition(m >= 0 && n >= 0 && k >= 0, "Sgemm.run: negative size m=\(m) n=\(n) k=\(k)")
        precondition(lda >= k && ldb >= n && ldc >= n,
                     "Sgemm.run: leading dimension below row length (lda=\(lda) k=\(k), ldb=\(ldb) n=\(n), ldc=\(ldc) n=\(n))")
        if m == 0 || n == 0 { return }
        let o = Operands(k: k, a: a, lda: lda, aStep: 1, b: b, ldb: ldb, c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        let wide = 2 * Wide.scalarCount

        if m == 1 && n >= 2 * wide {
            // A row vector times a matrix: no rows to share B with, so one row, four vectors wide.
            forEachWindow(n: n, widest: 2 * wide, narrowest: 2 * wide) { column, _, lanes in
                rowTile(Wide.self, column: column, lanes: lanes, o)
            }
        } else if n >= wide {
            // Windows of B's columns; the last may overlap the one before it.
            let rowsAligned = Int(bitPattern: b) % 64 == 0 && ldb % 16 == 0
            if wide >= 32 && !rowsAligned && m > tileRows && k * wide <= 16384 {
                // AVX-512 (zmm loads) with B's rows off cache-line boundaries: every load of a window
                // would straddle two lines, so each window is first copied to an aligned panel that
                // all row blocks read (embedding convs, B 16 bytes off: 479 µs in place, 427 copied;
                // aligned B in place: 348). With AVX2 the copy does not pay (1154 → 1211 µs).
                withAlignedScratch(floats: k * wide) { panel in
                    copiedWindows(m: m, n: n, panel: panel, o)
                }
            } else {
                forEachWindow(n: n, widest: wide, narrowest: 4) { column, width, lanes in
                    forEachRowBlock(m: m) { row, rows in
                        tile(width: width, rows: rows, row: row, column: column, lanes: lanes, o)
                    }
                }
            }
        } else if n == 1 {
            // A matrix times a column: dot products along k.
            dotColumn(m: m, o)
        } else {
            // Fewer columns than a wide tile: copy B into a window of the next power of two, zero
            // beyond column n, so one tile covers all columns (k × 32 floats at most, on the stack).
            var width = 4
            while width < n { width *= 2 }
            withAlignedScratch(floats: k * width) { base in
                switch width {
                case 32: padColumns(SIMD16<Float>.self, pieces: 2, n: n, k: k, b: b, ldb: ldb, into: base)
                case 16: padColumns(SIMD16<Float>.self, pieces: 1, n: n, k: k, b: b, ldb: ldb, into: base)
                case 8: padColumns(SIMD8<Float>.self, pieces: 1, n: n, k: k, b: b, ldb: ldb, into: base)
                default: padColumns(SIMD4<Float>.self, pieces: 1, n: n, k: k, b: b, ldb: ldb, into: base)
                }
                let narrow = Operands(k: k, a: a, lda: lda, aStep: 1, b: UnsafePointer(base), ldb: width,
                                      c: c, ldc: ldc, bias: bias, accumulate: accumulate)
                forEachRowBlock(m: m) { row, rows in
                    tile(width: width, rows: rows, row: row, column: 0, lanes: 0..<n, narrow)
                }
            }
        }
    }

    /// Runs `body` on `floats` floats of scratch on the stack (or the heap, if the stack has no room
    /// for them), starting on a 64-byte boundary: vector loads that straddle cache lines are slow.
    @inline(__always)
    static func withAlignedScratch(floats: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: max(floats, 1) * MemoryLayout<Float>.stride, alignment: 64) { raw in
            body(raw.bindMemory(to: Float.self).baseAddress!)
        }
    }
}
