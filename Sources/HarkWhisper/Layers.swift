#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import HarkKernels

/// A dense layer y = x·Wᵀ + b over blocks of rows (the encoder's positions). In float32, W is kept
/// transposed ([in × out], row-major) so that a block of row-major activations [rows × in] is the left
/// operand of one SGEMM and the result is row-major too; in int8 (CTranslate2's int8 compute type), W
/// is quantized per output and each block of activations per row as it is multiplied.
struct Linear: Sendable {
    let inputs: Int
    let outputs: Int
    let weights: Weights
    let bias: [Float]

    enum Weights: Sendable {
        /// Wᵀ: [inputs × outputs].
        case float32([Float])
        case int8(Int8Matrix)
    }

    /// From CTranslate2's `<prefix>/weight` [out × in] and `<prefix>/bias` [out] (a zero bias if absent).
    /// `storedShape` is the weight's shape in the file when it is not [outputs, inputs] but flattens
    /// to it row-major (a convolution's [out, in, k]).
    init(_ model: CTranslate2Model, _ prefix: String, inputs: Int, outputs: Int, storedShape: [Int]? = nil,
         computeType: WhisperModel.ComputeType = .float32) throws(WhisperError) {
        let w = try model.floats(prefix + "/weight", shape: storedShape ?? [outputs, inputs])
        switch computeType {
        case .float32:
            var t = [Float](repeating: 0, count: inputs * outputs)
            for o in 0..<outputs {
                for i in 0..<inputs { t[i * outputs + o] = w[o * inputs + i] }
            }
            weights = .float32(t)
        case .int8:
            weights = .int8(w.withUnsafeBufferPointer { Int8Matrix(weights: $0.baseAddress!, outputs: outputs, inputs: inputs) })
        }
        self.inputs = inputs
        self.outputs = outputs
        self.bias = model.variables[prefix + "/bias"] == nil ? [Float](repeating: 0, count: outputs)
            : try model.floats(prefix + "/bias", shape: [outputs])
    }

    /// y[rows × outputs] (leading dimension ldy) = x[rows × inputs] (leading dimension ldx) · Wᵀ + b,
    /// or y += x · Wᵀ + b when `residual` (the projection added onto a residual stream), split over
    /// `threads` column blocks.
    func apply(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
               threads: Int, residual: Bool = false) {
        switch weights {
        case .float32(let weightT):
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    let row = y + r * ldy
                    if residual {
                        for o in 0..<outputs { row[o] += b[o] }
                    } else {
                        row.update(from: b.baseAddress!, count: outputs)
                    }
                }
            }
            weightT.withUnsafeBufferPointer { w in
                let w = w.baseAddress!
                parallel(threads: threads, count: outputs, align: 16) { range in
                    blockedSgemm(m: rows, n: range.count, k: inputs, a: x, lda: ldx, b: w + range.lowerBound, ldb: outputs,
                                 c: y + range.lowerBound, ldc: ldy)
                }
            }
        case .int8(let matrix):
            let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: rows * matrix.depth)
            let scales = UnsafeMutablePointer<Float>.allocate(capacity: rows)
            defer { bytes.deallocate(); scales.deallocate() }
            parallel(threads: threads, count: rows) { range in
                matrix.quantize(x + range.lowerBound * ldx, ldx: ldx, rows: range.count, into: bytes + range.lowerBound * matrix.depth,
                                scales: scales + range.lowerBound)
            }
            bias.withUnsafeBufferPointer { b in
                parallel(threads: threads, count: outputs, align: 32) { range in
                    matrix.multiply(bytes, scales: scales, rows: rows, columns: range, bias: b.baseAddress!, into: y, ldc: ldy,
                                    accumulate: residual)
                }
            }
        }
    }
}

/// C += A·B in cache-sized blocks: Sgemm.run streams all of A's rows for every 16-column window of B,
/// which for the encoder (A = 1 500 positions × 384…1 536) means A comes from L3 each time. Blocks of
/// 240 rows × 256 of k keep A's block in L2 while B's windows pass through L1.
func blockedSgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  c: UnsafeMutablePointer<Float>, ldc: Int) {
    let mc = 240, kc = 256, nc = 512
    var j = 0
    while j < n {
        let nb = min(nc, n - j)
        var p = 0
        while p < k {
            let kb = min(kc, k - p)
            var i = 0
            while i < m {
                let mb = min(mc, m - i)
                Sgemm.run(m: mb, n: nb, k: kb, a: a + i * lda + p, lda: lda, b: b + p * ldb + j, ldb: ldb,
                          c: c + i * ldc + j, ldc: ldc, bias: nil, accumulate: true)
                i += mb
            }
            p += kb
        }
        j += nb
    }
}

/// A dense layer for one row at a time (decoding a token), y = W·x + b, with W in float16 as the
/// file holds it (each product reads half the bytes of float32 for the same values), or in int8 under
/// the int8 compute type (a quarter).
struct HalfLinear: Sendable {
    let weights: Weights
    let bias: [Float]
    let outputs: Int

    enum Weights: Sendable {
        case float16(HalfMatrix)
        case int8(Int8Matrix)
    }

    init(_ model: CTranslate2Model, _ prefix: String, inputs: Int, outputs: Int,
         computeType: WhisperModel.ComputeType = .float32) throws(WhisperError) {
        switch computeType {
        case .float32:
            weights = .float16(HalfMatrix(rows: outputs, columns: inputs, bits: try model.halves(prefix + "/weight", shape: [outputs, inputs])))
        case .int8:
            weights = .int8(try model.floats(prefix + "/weight", shape: [outputs, inputs]).withUnsafeBufferPointer {
                Int8Matrix(weights: $0.baseAddress!, outputs: outputs, inputs: inputs)
            })
        }
        self.outputs = outputs
        bias = model.variables[prefix + "/bias"] == nil ? [Float](repeating: 0, count: outputs)
            : try model.floats(prefix + "/bias", shape: [outputs])
    }

    /// y = W·x + b, or y += W·x + b when `residual`; rows split over `threads`.
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, threads: Int, residual: Bool = false,
                scratch: UnsafeMutablePointer<Float>) {
        switch weights {
        case .int8(let matrix):
            matrix.multiplyRow(x, bias: bias, into: y, threads: threads, accumulate: residual)
        case .float16(let weight):
            let out = residual ? scratch : y
            parallel(threads: threads, count: outputs, align: 64) { rows in
                weight.multiply(x, into: out, rowRange: rows)
            }
            bias.withUnsafeBufferPointer { b in
                if residual {
                    for o in 0..<outputs { y[o] += scratch[o] + b[o] }
                } else {
                    for o in 0..<outputs { y[o] += b[o] }
                }
            }
        }
    }
}

extension Int8Matrix {
    /// y = W·x (+ bias) for one activation row, or y += that when `accumulate`, outputs split over `threads`.
    func multiplyRow(_ x: UnsafePointer<Float>, bias: [Float]?, into y: UnsafeMutablePointer<Float>, threads: Int, accumulate: Bool) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: depth) { bytes in
            var scale: Float = 0
            quantize(x, ldx: inputs, rows: 1, into: bytes.baseAddress!, scales: &scale)
            let b = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: UInt8.self)
            withUnsafePointer(to: scale) { scale in
                func run(_ bias: UnsafePointer<Float>?) {
                    parallel(threads: threads, count: outputs, align: 64) { range in
                        multiply(b, scales: scale, rows: 1, columns: range, bias: bias, into: y, ldc: outputs, accumulate: accumulate)
                    }
                }
                if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            }
        }
    }
}

/// Layer normalisation over the last axis (ε = 1e-5, as Whisper's).
struct LayerNorm: Sendable {
    let gamma: [Float]
    let beta: [Float]

    init(_ model: CTranslate2Model, _ prefix: String, width: Int) throws(WhisperError) {
        gamma = try model.floats(prefix + "/gamma", shape: [width])
        beta = try model.floats(prefix + "/beta", shape: [width])
    }

    /// y[r] = (x[r] − mean) / sqrt(var + ε) · γ + β for each of `rows` rows of `gamma.count` values.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let n = gamma.count
        gamma.withUnsafeBufferPointer { g in
            beta.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    let row = x + r * n, out = y + r * n
                    var sum: Float = 0
                    for i in 0..<n { sum += row[i] }
                    let mean = sum / Float(n)
                    var squares: Float = 0
                    for i in 0..<n { let d = row[i] - mean; squares += d * d }
                    let scale = 1 / (squares / Float(n) + 1e-5).squareRoot()
                    for i in 0..<n { out[i] = (row[i] - mean) * scale * g[i] + b[i] }
                }
            }
        }
    }
}

/// Runs `body` on `threads` contiguous parts of 0..<count (part boundaries on multiples of `align`),
/// the calling thread taking one; one thread runs the whole range inline.
func parallel(threads: Int, count: Int, align: Int = 1, _ body: (Range<Int>) -> Void) {
    let parts = max(1, min(threads, count / max(align, 1)))
    if parts <= 1 {
        body(0..<count)
        return
    }
    let step = ((count + parts - 1) / parts + align - 1) / align * align
    withoutActuallyEscaping(body) { body in
        // The parts write disjoint ranges, and concurrentPerform returns only when all have run.
        let shared = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let start = part * step
            let end = min(count, start + step)
            if start < end { shared.value(start..<end) }
        }
    }
}

/// A value handed to the threads of `parallel`, which use it only while the caller waits.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
