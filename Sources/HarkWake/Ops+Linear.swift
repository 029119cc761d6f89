import HarkKernels

/// Matrix products on `Sgemm` (row-major C = A·B + bias per row).
extension Ops {
    /// `MatMul` where B is a matrix: A's leading dimensions are flattened into rows.
    /// (openWakeWord: [1,1,T,257]·[257,32] in the melspectrogram, [1,64]·[64,1] in LSTM heads.)
    static func matMul(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        let a = try c.floatInput(0), b = try c.floatInput(1)
        guard a.rank >= 2 else { throw OpError(.unsupportedModel, "MatMul of a rank-\(a.rank) input is not supported") }
        guard b.rank == 2 else { throw OpError(.unsupportedModel, "MatMul with a rank-\(b.rank) right operand is not supported (Hark takes a matrix)") }
        let k = a.shape[a.rank - 1], n = b.shape[1]
        guard b.shape[0] == k else { throw OpError(.shapeMismatch, "cannot multiply \(describe(a.shape)) by \(describe(b.shape))") }
        let m = a.count / max(k, 1)
        let out = try OnnxValue.checked(type: .float32, shape: Array(a.shape.dropLast()) + [n])
        return Planned([out], kernel: {
            Sgemm.run(m: m, n: n, k: k, a: a.f, lda: k, b: b.f, ldb: n, c: out.f, ldc: n, bias: nil, accumulate: false)
        })
    }

    /// `Gemm`: Y = alpha·A'·B' + beta·C with A' = A or Aᵀ, B' = B or Bᵀ, C broadcast to [M, N].
    /// With transB (PyTorch's Linear: weights [N, K]) each row of Y is computed as W·x, so the weight
    /// rows are read contiguously and C becomes the per-row bias.
    static func gemm(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["alpha", "beta", "transA", "transB"])
        let a = try c.floatInput(0), b = try c.floatInput(1)
        let bias = c.optionalInput(2)
        guard a.rank == 2, b.rank == 2 else { throw OpError(.shapeMismatch, "Gemm takes matrices, got \(describe(a.shape)) and \(describe(b.shape))") }
        let alpha = try c.float("alpha", default: 1), beta = try c.float("beta", default: 1)
        let transA = try c.int("transA", default: 0) != 0, transB = try c.int("transB", default: 0) != 0
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        guard (transB ? b.shape[1] : b.shape[0]) == k else {
            throw OpError(.shapeMismatch, "cannot multiply \(describe(a.shape)) by \(describe(b.shape)) (transA=\(transA), transB=\(transB))")
        }
        var biasMap: [Int32]?
        if let bias {
            guard bias.type.isFloat else { throw OpError(.invalidGraph, "C must be float32") }
            biasMap = try broadcastMap(from: bias.shape, to: [m, n])
        }
        let out = try OnnxValue.checked(type: .float32, shape: [m, n])
        // Aᵀ is copied into a row-major scratch once per run; Gemm with transA is rare.
        let aRows = transA ? try OnnxValue.checked(type: .float32, shape: [m, k]) : a
        // A per-row bias (C of shape [N] or [1, N]) can ride along in the transB product.
        let rowBias = transB && alpha == 1 && beta == 1 && bias.map { $0.count == n } == true ? bias : nil
        return Planned([out], kernel: {
            if transA {
                for i in 0..<m { for j in 0..<k { aRows.f[i * k + j] = a.f[j * m + i] } }
            }
            if transB {
                for i in 0..<m {
                    Sgemm.run(m: n, n: 1, k: k, a: b.f, lda: k, b: aRows.f + i * k, ldb: 1,
                              c: out.f + i * n, ldc: 1, bias: rowBias.map { UnsafePointer($0.f) }, accumulate: false)
                }
            } else {
                Sgemm.run(m: m, n: n, k: k, a: aRows.f, lda: k, b: b.f, ldb: n, c: out.f, ldc: n, bias: nil, accumulate: false)
            }
            if rowBias == nil {
                for idx in 0..<(m * n) {
                    var y = alpha * out.f[idx]
                    if let bias, let map = biasMap { y += beta * bias.f[Int(map[idx])] }
                    out.f[idx] = y
                }
            }
        })
    }
}
