import Glibc
import HarkKernels

/// The element-wise pieces every architecture shares, computed as ggml's CPU backend computes them
/// (so logits stay within float rounding of llama.cpp's): shapes in the comments, all row-major.
enum Numerics {
    /// y[n] = x[n] / sqrt(mean(x²) + eps) * weight[n]   (ggml_rms_norm: the sum of squares in double)
    static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        count n: Int, epsilon: Float) {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i] * x[i]) }
        let mean = Float(sum / Double(n))
        let scale = 1 / sqrtf(mean + epsilon)
        for i in 0..<n { y[i] = (x[i] * scale) * weight[i] }
    }

    /// The rotary embedding's cos/sin for position `position`: pairs i = 0, 1, … dimensions/2 − 1 turn by
    /// position · base^(−2i/dimensions), the angle taken as ggml does (multiplied up in float).
    static func rotaryTable(position: Int, dimensions: Int, base: Float, cos: UnsafeMutablePointer<Float>,
                            sin: UnsafeMutablePointer<Float>) {
        let step = powf(base, -2 / Float(dimensions))
        var theta = Float(position)
        for i in 0..<(dimensions / 2) {
            cos[i] = cosf(theta)
            sin[i] = sinf(theta)
            theta *= step
        }
    }

    /// Rotates each head of x[heads × headSize] in place. `adjacent` (llama's "normal" RoPE) pairs
    /// (2i, 2i+1); otherwise (GPT-NeoX style) pairs (i, i + dimensions/2). Dimensions past
    /// `dimensions` stay as they are.
    static func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int, dimensions: Int, adjacent: Bool,
                       cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = dimensions / 2
        for h in 0..<heads {
            let v = x + h * headSize
            for i in 0..<half {
                let (a, b) = adjacent ? (2 * i, 2 * i + 1) : (i, i + half)
                let x0 = v[a], x1 = v[b]
                v[a] = x0 * cos[i] - x1 * sin[i]
                v[b] = x0 * sin[i] + x1 * cos[i]
            }
        }
    }

    /// x[n] = softmax(x[n] · scale) in place (ggml_soft_max_ext without mask: the sum in double).
    static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int, scale: Float) {
        // Scaled and its maximum taken a register at a time (each product, and the maximum, are the
        // same in any order); the sum below stays in order, in double.
        VectorMath.scale(x, count: n, by: scale)
        let top = VectorMath.maximum(x, count: n)
        var sum: Double = 0
        for i in 0..<n {
            let e = expf(x[i] - top)
            x[i] = e
            sum += Double(e)
        }
        let inverse = Float(1 / sum)
        for i in 0..<n { x[i] *= inverse }
    }

    /// gate[n] = silu(gate[n]) · up[n]   (SwiGLU: silu(x) = x / (1 + e^−x))
    static func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }
}
