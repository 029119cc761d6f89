import HarkKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ONNX `LSTM` (opsets 7–13 semantics, default activations, no peepholes), as used by heads such as
/// hey_mycroft_v0.1 (two bidirectional layers exported from Keras).
///
/// Inputs: X [T, B, I], W [D, 4H, I], R [D, 4H, H], B [D, 8H] (Wb then Rb), sequence_lens, initial_h and
/// initial_c [D, B, H]. Gate rows are ordered i, o, f, c. For each direction and step t:
///   i = σ(W_i x + R_i h + b_i), o = σ(…), f = σ(…), g = tanh(…),  c = f ⊙ c + i ⊙ g,  h = o ⊙ tanh(c)
/// Outputs: Y [T, D, B, H], Y_h [D, B, H], Y_c [D, B, H]; the reverse direction walks t from T−1 down.
extension Ops {
    static func lstm(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly(["activations", "direction", "hidden_size", "clip", "input_forget", "layout", "activation_alpha", "activation_beta"])
        if let activations = try c.ints("activations") ?? nil, !activations.isEmpty {
            throw OpError(.unsupportedModel, "custom activations are not supported")
        }
        guard !c.has("clip"), try c.int("input_forget", default: 0) == 0, try c.int("layout", default: 0) == 0,
              !c.has("activation_alpha"), !c.has("activation_beta") else {
            throw OpError(.unsupportedModel, "clip, input_forget, layout and activation parameters are not supported")
        }
        guard c.optionalInput(7) == nil else { throw OpError(.unsupportedModel, "peephole weights (P) are not supported") }
        let x = try c.floatInput(0), w = try c.floatInput(1), r = try c.floatInput(2)
        let hidden = try c.int("hidden_size")
        let direction = try c.string("direction") ?? "forward"
        let directions = direction == "bidirectional" ? 2 : 1
        guard ["forward", "reverse", "bidirectional"].contains(direction) else { throw OpError(.invalidGraph, "direction '\(direction)'") }
        guard x.rank == 3 else { throw OpError(.shapeMismatch, "X \(describe(x.shape)) should be [seq, batch, input]") }
        let (steps, batch, inputSize) = (x.shape[0], x.shape[1], x.shape[2])
        guard hidden > 0, w.shape == [directions, 4 * hidden, inputSize], r.shape == [directions, 4 * hidden, hidden] else {
            throw OpError(.shapeMismatch, "W \(describe(w.shape)) or R \(describe(r.shape)) do not fit \(directions) direction(s), hidden size \(hidden), input \(inputSize)")
        }
        if let lengths = c.optionalInput(4) {
            guard try lengths.intValues("sequence_lens").allSatisfy({ $0 == steps }) else {
                throw OpError(.unsupportedModel, "sequence_lens shorter than the sequence are not supported")
            }
        }
        // Bias: Wb + Rb folded into one vector per direction.
        let bias = try OnnxValue.checked(type: .float32, shape: [directions, 4 * hidden])
        if let b = c.optionalInput(3) {
            guard b.shape == [directions, 8 * hidden], b.type.isFloat else { throw OpError(.shapeMismatch, "B \(describe(b.shape)) does not fit") }
            guard b.isConstant else { throw OpError(.unsupportedModel, "B must be a constant") }
            for d in 0..<directions {
                for g in 0..<(4 * hidden) { bias.f[d * 4 * hidden + g] = b.f[d * 8 * hidden + g] + b.f[d * 8 * hidden + 4 * hidden + g] }
            }
        }
        let initialH = c.optionalInput(5), initialC = c.optionalInput(6)
        for state in [initialH, initialC] {
            if let state, state.shape != [directions, batch, hidden] || !state.type.isFloat {
                throw OpError(.shapeMismatch, "initial state \(describe(state.shape)) should be [\(directions),\(batch),\(hidden)]")
            }
        }
        let y = try OnnxValue.checked(type: .float32, shape: [steps, directions, batch, hidden])
        let yh = try OnnxValue.checked(type: .float32, shape: [directions, batch, hidden])
        let yc = try OnnxValue.checked(type: .float32, shape: [directions, batch, hidden])
        let gates = try OnnxValue.checked(type: .float32, shape: [4 * hidden])
        let reverseOnly = direction == "reverse"
        return Planned([y, yh, yc], kernel: {
            for d in 0..<directions {
                let backwards = reverseOnly || d == 1
                let wd = w.f + d * 4 * hidden * inputSize, rd = r.f + d * 4 * hidden * hidden
                for b in 0..<batch {
                    let h = yh.f + (d * batch + b) * hidden, cell = yc.f + (d * batch + b) * hidden
                    for k in 0..<hidden {
                        h[k] = initialH?.f[(d * batch + b) * hidden + k] ?? 0
                        cell[k] = initialC?.f[(d * batch + b) * hidden + k] ?? 0
                    }
                    for s in 0..<steps {
                        let t = backwards ? steps - 1 - s : s
                        let g = gates.f
                        Sgemm.run(m: 4 * hidden, n: 1, k: inputSize, a: wd, lda: inputSize, b: x.f + (t * batch + b) * inputSize, ldb: 1,
                                  c: g, ldc: 1, bias: bias.f + d * 4 * hidden, accumulate: false)
                        Sgemm.run(m: 4 * hidden, n: 1, k: hidden, a: rd, lda: hidden, b: h, ldb: 1,
                                  c: g, ldc: 1, bias: nil, accumulate: true)
                        for k in 0..<hidden {
                            let input = 1 / (1 + expf(-g[k]))
                            let output = 1 / (1 + expf(-g[hidden + k]))
                            let forget = 1 / (1 + expf(-g[2 * hidden + k]))
                            let candidate = tanhf(g[3 * hidden + k])
                            cell[k] = forget * cell[k] + input * candidate
                            h[k] = output * tanhf(cell[k])
                        }
                        (y.f + ((t * directions + d) * batch + b) * hidden).update(from: h, count: hidden)
                    }
                }
            }
        })
    }
}
