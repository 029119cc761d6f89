// n == 1 on a row-major A: C = A · x as dot products along the rows of A.

extension Sgemm {
    /// n == 1, a matrix times a vector: C[i][0] = Σp A[i][p] · x[p] with x = B's column, a dot
    /// product along each row of A. (The heads' Gemm with transB and the LSTM gates come here.)
    /// Four rows at a time share each load of x; two accumulators per row: 8 FMA chains.
    static func dotColumn(m: Int, _ o: Operands) {
        if o.ldb == 1 {
            dotRows(m: m, x: o.b, o)
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: o.k) { column in
                let x = column.baseAddress!
                for p in 0..<o.k { x[p] = o.b[p * o.ldb] }
                dotRows(m: m, x: UnsafePointer(x), o)
            }
        }
    }

    @inline(__always)
    static func dotRows(m: Int, x: UnsafePointer<Float>, _ o: Operands) {
        let w = Wide.scalarCount, vectorEnd = o.k - o.k % (2 * w)
        var i = 0
        while i < m {
            let rows = min(4, m - i)
            // Rows past the last real one repeat it and are not stored.
            let a0 = o.a + i * o.lda, a1 = a0 + min(1, rows - 1) * o.lda
            let a2 = a0 + min(2, rows - 1) * o.lda, a3 = a0 + min(3, rows - 1) * o.lda
            var s0 = Wide(), s1 = Wide(), s2 = Wide(), s3 = Wide()
            var t0 = Wide(), t1 = Wide(), t2 = Wide(), t3 = Wide()
            var p = 0
            while p < vectorEnd {
                let x0 = load(Wide.self, x + p), x1 = load(Wide.self, x + p + w)
                s0 = s0.fusedAdding(load(Wide.self, a0 + p), x0); t0 = t0.fusedAdding(load(Wide.self, a0 + p + w), x1)
                s1 = s1.fusedAdding(load(Wide.self, a1 + p), x0); t1 = t1.fusedAdding(load(Wide.self, a1 + p + w), x1)
                s2 = s2.fusedAdding(load(Wide.self, a2 + p), x0); t2 = t2.fusedAdding(load(Wide.self, a2 + p + w), x1)
                s3 = s3.fusedAdding(load(Wide.self, a3 + p), x0); t3 = t3.fusedAdding(load(Wide.self, a3 + p + w), x1)
                p += 2 * w
            }
            var sums = SIMD4<Float>(horizontalSum(s0 + t0), horizontalSum(s1 + t1),
                                    horizontalSum(s2 + t2), horizontalSum(s3 + t3))
            while p < o.k {
                sums = sums.fusedAdding(SIMD4(a0[p], a1[p], a2[p], a3[p]), SIMD4(repeating: x[p]))
                p += 1
            }
            for r in 0..<rows {
                var value = sums[r]
                if let bias = o.bias { value += bias[i + r] }
                let c = o.c + (i + r) * o.ldc
                c.pointee = o.accumulate ? c.pointee + value : value
            }
            i += rows
        }
    }

    /// The sum of v's lanes, as a tree of vector adds. (`SIMD.sum()` adds the lanes one after another.)
    @inline(__always)
    static func horizontalSum(_ v: Wide) -> Float {
        #if arch(x86_64) && HARK_X86_AVX512
        let v4 = (v.lowHalf + v.highHalf).lowHalf + (v.lowHalf + v.highHalf).highHalf
        #elseif arch(x86_64) && HARK_X86_FMA
        let v4 = v.lowHalf + v.highHalf
        #else
        let v4 = v
        #endif
        let v2 = v4.lowHalf + v4.highHalf
        return v2[0] + v2[1]
    }
}
