@testable import HarkKernels
import HarkTestSupport
import Testing

/// Int8Matrix (CTranslate2's int8 scheme) against the same scheme written out here in scalar code:
/// per-row quantization of both operands, int32 sums, one division by both scales. The integers are
/// exact, and the float operations are the same, so the results must be equal, not merely close;
/// and within the quantization steps' bound of the float32 product.
@Suite struct Int8MatrixTests {
    struct Problem {
        let rows: Int, inputs: Int, outputs: Int
        var ldx: Int { inputs + 3 }
        var ldc: Int { outputs + 5 }
    }

    static func quantized(_ v: ArraySlice<Float>) -> (q: [Int32], scale: Float) {
        let peak = v.map(abs).max() ?? 0
        let scale: Float = peak > 0 ? 127 / peak : 1
        return (v.map { Int32(($0 * scale).rounded(.toNearestOrEven)) }, scale)
    }

    /// Runs `multiply` over `columns` (all of them in `split` parts, as threads would) and checks every
    /// output, and the padding between rows of c, which must be left alone.
    func check(_ p: Problem, seed: UInt64, bias useBias: Bool, accumulate: Bool, split: Int = 1) {
        var random = SplitMix64(seed: seed)
        // Weights with a few large values per row (as trained weights have), activations likewise.
        let w = (0..<(p.outputs * p.inputs)).map { i in random.nextFloat() * (i % 17 == 0 ? 6 : 1) }
        let x = (0..<(p.rows * p.ldx)).map { _ in 3 * random.nextFloat() }
        let bias = (0..<p.outputs).map { _ in random.nextFloat() }
        let start = (0..<(p.rows * p.ldc)).map { _ in 2 * random.nextFloat() }

        let matrix = w.withUnsafeBufferPointer { Int8Matrix(weights: $0.baseAddress!, outputs: p.outputs, inputs: p.inputs) }
        #expect(matrix.depth == (p.inputs + 3) / 4 * 4)
        var bytes = [UInt8](repeating: 0, count: p.rows * matrix.depth)
        var scales = [Float](repeating: 0, count: p.rows)
        x.withUnsafeBufferPointer { x in
            matrix.quantize(x.baseAddress!, ldx: p.ldx, rows: p.rows, into: &bytes, scales: &scales)
        }
        var c = start
        let step = ((p.outputs + split - 1) / split + 15) / 16 * 16
        bias.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
                var first = 0
                while first < p.outputs {
                    let range = first..<min(p.outputs, first + step)
                    matrix.multiply(bytes, scales: scales, rows: p.rows, columns: range, bias: useBias ? b.baseAddress! : nil,
                                    into: c.baseAddress!, ldc: p.ldc, accumulate: accumulate)
                    first = range.upperBound
                }
            }
        }

        let weightRows = (0..<p.outputs).map { o in Self.quantized(w[(o * p.inputs)..<((o + 1) * p.inputs)]) }
        var mismatches = 0, far = 0
        for r in 0..<p.rows {
            let xr = Self.quantized(x[(r * p.ldx)..<(r * p.ldx + p.inputs)])
            #expect(scales[r] == xr.scale, "row \(r)'s scale")
            for k in 0..<p.inputs where Int32(bytes[r * matrix.depth + k]) != xr.q[k] + 128 { mismatches += 1 }
            for o in 0..<p.outputs {
                var sum: Int32 = 0, magnitude: Float = 0, exact: Float = 0
                for k in 0..<p.inputs {
                    sum += xr.q[k] * weightRows[o].q[k]
                    magnitude += abs(x[r * p.ldx + k] * w[o * p.inputs + k])
                    exact += x[r * p.ldx + k] * w[o * p.inputs + k]
                }
                var expected = Float(sum) / (xr.scale * weightRows[o].scale)
                if useBias { expected += bias[o] }
                if accumulate { expected += start[r * p.ldc + o] }
                if c[r * p.ldc + o] != expected { mismatches += 1 }
                // Rounding both operands to 1/127 of their largest value: well within 2 % of Σ|x·w|.
                let product: Float = Float(sum) / (xr.scale * weightRows[o].scale)
                let error: Float = abs((c[r * p.ldc + o] - expected) + product - exact)
                // Each operand is off by at most half its quantization step.
                let dx: Float = 0.5 / xr.scale, dw: Float = 0.5 / weightRows[o].scale
                var bound: Float = 0
                for k in 0..<p.inputs { bound += abs(x[r * p.ldx + k]) * dw + abs(w[o * p.inputs + k]) * dx + dx * dw }
                if error > bound * 1.001 + 1e-5 * magnitude { far += 1 }
            }
            for pad in p.outputs..<p.ldc where c[r * p.ldc + pad] != start[r * p.ldc + pad] { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(mismatches) values differ from the scalar int8 product for \(p)")
        #expect(far == 0, "\(far) outputs further from the float32 product than the quantization steps allow for \(p)")
    }

    @Test("Given odd shapes (inputs not a multiple of 4, outputs not of 16, rows not of 4), when multiplied, then every output is the scalar int8 product's",
          arguments: [1, 3, 4, 5, 9, 197])
    func oddShapes(rows: Int) {
        for (inputs, outputs) in [(1, 1), (3, 16), (5, 17), (37, 33), (64, 48), (243, 40), (384, 64)] {
            check(Problem(rows: rows, inputs: inputs, outputs: outputs), seed: UInt64(rows * 1000 + inputs), bias: true, accumulate: false)
        }
    }

    @Test("Given bias on or off and a residual to add onto, when multiplied in column parts as threads take them, then the results are the whole product's")
    func biasAccumulateAndParts() {
        for bias in [false, true] {
            for accumulate in [false, true] {
                for split in [1, 2, 3] {
                    check(Problem(rows: 13, inputs: 96, outputs: 80), seed: 7, bias: bias, accumulate: accumulate, split: split)
                }
            }
        }
    }

    @Test("Given a row of zeros in the weights or the activations, when multiplied, then its outputs are the bias and nothing is NaN")
    func zeroRows() {
        let inputs = 8, outputs = 16
        var w = [Float](repeating: 0.5, count: outputs * inputs)
        for k in 0..<inputs { w[3 * inputs + k] = 0 }
        let matrix = w.withUnsafeBufferPointer { Int8Matrix(weights: $0.baseAddress!, outputs: outputs, inputs: inputs) }
        let x = [Float](repeating: 0, count: inputs) + [Float](repeating: 2, count: inputs)
        var bytes = [UInt8](repeating: 0, count: 2 * matrix.depth), scales = [Float](repeating: 0, count: 2)
        matrix.quantize(x, ldx: inputs, rows: 2, into: &bytes, scales: &scales)
        let bias = (0..<outputs).map(Float.init)
        var c = [Float](repeating: .nan, count: 2 * outputs)
        matrix.multiply(bytes, scales: scales, rows: 2, columns: 0..<outputs, bias: bias, into: &c, ldc: outputs, accumulate: false)
        #expect(Array(c[0..<outputs]) == bias)
        #expect(c[outputs + 3] == 3)
        #expect(c[outputs + 5] == 5 + 8)
    }

    @Test("Given the portable integer loop (machines without VNNI), when it sums the same tiles as the products use, then its int32 sums are theirs")
    func portableLoopAgrees() {
        let inputs = 70, outputs = 64, rows = 4
        var random = SplitMix64(seed: 11)
        let w = (0..<(outputs * inputs)).map { _ in random.nextFloat() }
        let x = (0..<(rows * inputs)).map { _ in 3 * random.nextFloat() }
        let matrix = w.withUnsafeBufferPointer { Int8Matrix(weights: $0.baseAddress!, outputs: outputs, inputs: inputs) }
        var bytes = [UInt8](repeating: 0, count: rows * matrix.depth), scales = [Float](repeating: 0, count: rows)
        matrix.quantize(x, ldx: inputs, rows: rows, into: &bytes, scales: &scales)
        var fast = [Int32](repeating: 0, count: 128), portable = [Int32](repeating: 0, count: 128)
        matrix.packed.withUnsafeBufferPointer { packed in
            let panel = packed.baseAddress!
            for n in 1...4 {
                for panels in 1...2 {
                    Int8Matrix.tile(bytes, depth: matrix.depth, rows: n, panel: panel, panels: panels, into: &fast)
                    Int8Matrix.portableTile(bytes, depth: matrix.depth, rows: n, panel: panel, panels: panels, into: &portable)
                    let used = (0..<n).flatMap { r in (0..<(16 * panels)).map { r * 32 + $0 } }
                    #expect(used.map { fast[$0] } == used.map { portable[$0] }, "tile of \(n) rows, \(panels) panels")
                }
            }
            for panels in 1...4 {
                Int8Matrix.row(bytes, depth: matrix.depth, panel: panel, panels: panels, into: &fast)
                Int8Matrix.portableTile(bytes, depth: matrix.depth, rows: 1, panel: panel, panels: panels, into: &portable)
                #expect(Array(fast[0..<(16 * panels)]) == Array(portable[0..<(16 * panels)]), "row against \(panels) panels")
            }
        }
    }
}
