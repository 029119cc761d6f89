import HarkKernels

/// One utterance's encoder output, with what every decoder layer's cross-attention needs of it: the
/// keys, transposed per head, and the values. Computed once; shared by every decoding of the utterance.
public struct EncodedAudio: Sendable {
    /// Encoder positions (one per 20 ms of audio).
    public let positions: Int
    /// [positions × d].
    public let output: [Float]
    /// Per decoder layer: [heads × 64 × positions], keys of head h at h·64·positions (row = channel).
    let crossKeysT: [[Float]]
    /// Per decoder layer: [positions × d].
    let crossValues: [[Float]]
}

extension WhisperModel {
    /// Runs the encoder over `frames` log-mel frames ([frames × 80], time-major) — at most twice the
    /// model's audio positions (30 s) — and prepares the decoder's cross-attention inputs.
    public func encode(mel: [Float], frames: Int, threads: Int = 1) -> EncodedAudio {
        precondition(frames >= 1 && frames <= 2 * audioPositions && mel.count == frames * LogMel.bins,
                     "encode: \(frames) frames (1...\(2 * audioPositions)) with \(mel.count) values")
        let d = width, mels = LogMel.bins
        let positions = (frames - 1) / 2 + 1

        // conv1 (k 3, pad 1) as im2col rows [frames × 80·3]: column c·3 + j is mel[t + j − 1][c].
        var cols1 = [Float](repeating: 0, count: frames * mels * 3)
        for t in 0..<frames {
            for j in 0..<3 where t + j - 1 >= 0 && t + j - 1 < frames {
                let source = (t + j - 1) * mels
                for c in 0..<mels { cols1[t * mels * 3 + c * 3 + j] = mel[source + c] }
            }
        }
        var hidden = [Float](repeating: 0, count: frames * d)
        cols1.withUnsafeBufferPointer { x in
            hidden.withUnsafeMutableBufferPointer { y in
                conv1.apply(x.baseAddress!, ldx: mels * 3, rows: frames, into: y.baseAddress!, ldy: d, threads: threads)
                VectorMath.gelu(y.baseAddress!, count: frames * d)
            }
        }
        // conv2 (k 3, stride 2, pad 1): column c·3 + j of row t is hidden[2t + j − 1][c].
        var cols2 = [Float](repeating: 0, count: positions * d * 3)
        for t in 0..<positions {
            for j in 0..<3 where 2 * t + j - 1 >= 0 && 2 * t + j - 1 < frames {
                let source = (2 * t + j - 1) * d
                for c in 0..<d { cols2[t * d * 3 + c * 3 + j] = hidden[source + c] }
            }
        }
        var x = [Float](repeating: 0, count: positions * d)
        cols2.withUnsafeBufferPointer { c in
            x.withUnsafeMutableBufferPointer { y in
                conv2.apply(c.baseAddress!, ldx: d * 3, rows: positions, into: y.baseAddress!, ldy: d, threads: threads)
                VectorMath.gelu(y.baseAddress!, count: positions * d)
            }
        }
        for i in 0..<(positions * d) { x[i] += encoderPositions[i] }

        var normed = [Float](repeating: 0, count: positions * d)
        var qkv = [Float](repeating: 0, count: positions * 3 * d)
        var attended = [Float](repeating: 0, count: positions * d)
        var inner = [Float](repeating: 0, count: positions * 4 * d)
        for layer in encoderLayers {
            x.withUnsafeMutableBufferPointer { x in
                let x = x.baseAddress!
                normed.withUnsafeMutableBufferPointer { n in
                    let n = n.baseAddress!
                    qkv.withUnsafeMutableBufferPointer { qkv in
                        attended.withUnsafeMutableBufferPointer { a in
                            inner.withUnsafeMutableBufferPointer { f in
                                layer.attentionNorm.apply(x, rows: positions, into: n)
                                layer.qkv.apply(n, ldx: d, rows: positions, into: qkv.baseAddress!, ldy: 3 * d, threads: threads)
                                selfAttention(qkv: qkv.baseAddress!, positions: positions, into: a.baseAddress!, threads: threads)
                                // x += out(a): the projection accumulates onto the residual.
                                layer.attentionOut.apply(a.baseAddress!, ldx: d, rows: positions, into: x, ldy: d, threads: threads, residual: true)
                                layer.ffnNorm.apply(x, rows: positions, into: n)
                                layer.ffn1.apply(n, ldx: d, rows: positions, into: f.baseAddress!, ldy: 4 * d, threads: threads)
                                VectorMath.gelu(f.baseAddress!, count: positions * 4 * d)
                                layer.ffn2.apply(f.baseAddress!, ldx: 4 * d, rows: positions, into: x, ldy: d, threads: threads, residual: true)
                            }
                        }
                    }
                }
            }
        }
        var output = [Float](repeating: 0, count: positions * d)
        x.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { o in encoderNorm.apply(x.baseAddress!, rows: positions, into: o.baseAddress!) }
        }

        // Cross-attention keys and values of every decoder layer.
        var keysT: [[Float]] = []
        var values: [[Float]] = []
        var kv = [Float](repeating: 0, count: positions * 2 * d)
        for layer in decoderLayers {
            output.withUnsafeBufferPointer { o in
                kv.withUnsafeMutableBufferPointer { kv in
                    layer.crossKV.apply(o.baseAddress!, ldx: d, rows: positions, into: kv.baseAddress!, ldy: 2 * d, threads: threads)
                }
            }
            var kt = [Float](repeating: 0, count: d * positions)
            var v = [Float](repeating: 0, count: positions * d)
            for t in 0..<positions {
                for c in 0..<d {
                    kt[c * positions + t] = kv[t * 2 * d + c]
                    v[t * d + c] = kv[t * 2 * d + d + c]
                }
            }
            keysT.append(kt)
            values.append(v)
        }
        return EncodedAudio(positions: positions, output: output, crossKeysT: keysT, crossValues: values)
    }

    /// Queries per block of `selfAttention`: a block's scores (96 × 1 500 floats, 576 KB) stay in L2
    /// between the two products, where whole-head scores (9 MB) went out to memory and back.
    static let attentionBlock = 96

    /// Bidirectional multi-head attention over `positions` rows of fused [query | key | value]
    /// ([positions × 3d]); writes the heads' outputs side by side into `out` [positions × d].
    /// Per head and block of queries: scores = Q·Kᵀ, each row exponentiated against its maximum
    /// (softmax without the division), then out = scores·V with each row divided by its sum.
    func selfAttention(qkv: UnsafeMutablePointer<Float>, positions: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let d = width, ld = 3 * d
        let scale = Float(1) / Float(64).squareRoot()
        let block = min(Self.attentionBlock, positions)
        parallel(threads: threads, count: heads) { range in
            var keysT = [Float](repeating: 0, count: 64 * positions)
            var scores = [Float](repeating: 0, count: block * positions)
            var sums = [Float](repeating: 0, count: block)
            keysT.withUnsafeMutableBufferPointer { kt in
                scores.withUnsafeMutableBufferPointer { s in
                    let kt = kt.baseAddress!, s = s.baseAddress!
                    for h in range {
                        for t in 0..<positions {
                            for c in 0..<64 { kt[c * positions + t] = qkv[t * ld + d + h * 64 + c] }
                        }
                        var first = 0
                        while first < positions {
                            let rows = min(block, positions - first)
                            Sgemm.run(m: rows, n: positions, k: 64, a: qkv + first * ld + h * 64, lda: ld, b: kt, ldb: positions,
                                      c: s, ldc: positions, bias: nil, accumulate: false)
                            for r in 0..<rows {
                                sums[r] = VectorMath.exponentiateShifted(s + r * positions, count: positions, scale: scale)
                            }
                            let o = out + first * d + h * 64
                            Sgemm.run(m: rows, n: 64, k: positions, a: s, lda: positions, b: qkv + 2 * d + h * 64, ldb: ld,
                                      c: o, ldc: d, bias: nil, accumulate: false)
                            for r in 0..<rows { VectorMath.scale(o + r * d, count: 64, by: 1 / sums[r]) }
                            first += rows
                        }
                    }
                }
            }
        }
    }
}
