import HarkKernels

/// The decoder's self-attention cache for one token sequence: each layer's keys (transposed per head)
/// and values of the tokens fed so far. A value type: a search that branches copies it.
public struct DecoderCache: Sendable {
    /// Tokens fed so far (the next token's position).
    public private(set) var length = 0
    /// Tokens it can hold before it must grow.
    private(set) var capacity: Int
    /// Per layer: [heads × 64 × capacity].
    var keysT: [[Float]]
    /// Per layer: [capacity × d].
    var values: [[Float]]

    init(layers: Int, width: Int, capacity: Int) {
        self.capacity = capacity
        keysT = Array(repeating: [Float](repeating: 0, count: width * capacity), count: layers)
        values = Array(repeating: [Float](repeating: 0, count: capacity * width), count: layers)
    }

    /// Doubles the capacity, keeping what is there.
    mutating func grow(width: Int) {
        let bigger = capacity * 2
        for l in keysT.indices {
            var kt = [Float](repeating: 0, count: width * bigger)
            for row in 0..<width {
                for t in 0..<length { kt[row * bigger + t] = keysT[l][row * capacity + t] }
            }
            keysT[l] = kt
            values[l] += [Float](repeating: 0, count: (bigger - capacity) * width)
        }
        capacity = bigger
    }

    mutating func advance() { length += 1 }
}

/// Working buffers for decoding one token at a time (allocated once per decoder, not per token).
final class DecoderScratch {
    let x, normed, qkv, attended, query, inner, residual: UnsafeMutablePointer<Float>
    let scores: UnsafeMutablePointer<Float>
    let scoreCapacity: Int

    init(width d: Int, maxPositions: Int) {
        func make(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        x = make(d); normed = make(d); qkv = make(3 * d); attended = make(d); query = make(d); inner = make(4 * d); residual = make(d)
        scoreCapacity = maxPositions
        scores = make(maxPositions)
    }

    deinit {
        for p in [x, normed, qkv, attended, query, inner, residual, scores] { p.deallocate() }
    }
}

extension WhisperModel {
    /// An empty self-attention cache with room for `capacity` tokens (it grows when needed).
    public func makeCache(capacity: Int = 32) -> DecoderCache {
        DecoderCache(layers: decoderLayers.count, width: width, capacity: max(capacity, 4))
    }

    func makeScratch(encoded: EncodedAudio) -> DecoderScratch {
        DecoderScratch(width: width, maxPositions: max(encoded.positions, textPositions))
    }

    /// Feeds `token` at the cache's next position and writes the next token's logits into `logits`
    /// [vocabulary]; with nil, only the cache (a prompt token whose successor is known: the logits,
    /// a product with the whole vocabulary, are most of a step's work). The cache must hold fewer than
    /// `textPositions` tokens.
    func decode(token: Int, cache: inout DecoderCache, encoded: EncodedAudio, scratch: DecoderScratch,
                logits: UnsafeMutablePointer<Float>?, threads: Int) {
        let d = width
        let position = cache.length
        precondition(position < textPositions && token >= 0 && token < vocabularySize, "decode: token \(token) at \(position)")
        if position == cache.capacity { cache.grow(width: d) }
        let capacity = cache.capacity
        let scale = Float(1) / Float(64).squareRoot()
        let x = scratch.x, n = scratch.normed, qkv = scratch.qkv, a = scratch.attended, s = scratch.scores
        embedding.bits.withUnsafeBufferPointer { e in
            for c in 0..<d { x[c] = HalfMatrix.float(e[token * d + c]) + decoderPositions[position * d + c] }
        }
        let r = scratch.residual

        for (l, layer) in decoderLayers.enumerated() {
            // Without logits the last layer's keys and values are all that is wanted of it.
            let cacheOnly = logits == nil && l == decoderLayers.count - 1
            // Causal self-attention over the cached tokens and this one.
            layer.selfNorm.apply(x, rows: 1, into: n)
            layer.selfQKV.apply(n, into: qkv, threads: threads, scratch: r)
            cache.keysT[l].withUnsafeMutableBufferPointer { kt in
                cache.values[l].withUnsafeMutableBufferPointer { v in
                    let kt = kt.baseAddress!, v = v.baseAddress!
                    for c in 0..<d {
                        kt[c * capacity + position] = qkv[d + c]
                        v[position * d + c] = qkv[2 * d + c]
                    }
                    guard !cacheOnly else { return }
                    for h in 0..<heads {
                        attend(query: qkv + h * 64, keysT: kt + h * 64 * capacity, ldk: capacity, values: v + h * 64, ldv: d,
                               count: position + 1, scale: scale, scores: s, into: a + h * 64)
                    }
                }
            }
            if cacheOnly { break }
            layer.selfOut.apply(a, into: x, threads: threads, residual: true, scratch: r)

            // Cross-attention over the encoder output.
            layer.crossNorm.apply(x, rows: 1, into: n)
            layer.crossQuery.apply(n, into: scratch.query, threads: threads, scratch: r)
            let positions = encoded.positions
            encoded.crossKeysT[l].withUnsafeBufferPointer { kt in
                encoded.crossValues[l].withUnsafeBufferPointer { v in
                    for h in 0..<heads {
                        attend(query: scratch.query + h * 64, keysT: kt.baseAddress! + h * 64 * positions, ldk: positions,
                               values: v.baseAddress! + h * 64, ldv: d, count: positions, scale: scale, scores: s, into: a + h * 64)
                    }
                }
            }
            layer.crossOut.apply(a, into: x, threads: threads, residual: true, scratch: r)

            layer.ffnNorm.apply(x, rows: 1, into: n)
            layer.ffn1.apply(n, into: scratch.inner, threads: threads, scratch: r)
            VectorMath.gelu(scratch.inner, count: 4 * d)
            layer.ffn2.apply(scratch.inner, into: x, threads: threads, residual: true, scratch: r)
        }
        cache.advance()
        guard let logits else { return }

        // Logits: the tied embedding matrix times the normalised state, split over row blocks.
        decoderNorm.apply(x, rows: 1, into: n)
        if let projection8 {
            projection8.multiplyRow(n, bias: nil, into: logits, threads: threads, accumulate: false)
        } else {
            parallel(threads: threads, count: vocabularySize, align: 64) { rows in
                embedding.multiply(n, into: logits, rowRange: rows)
            }
        }
    }

    /// One head's attention for one query: softmax(q · K / 8) · V over `count` keys.
    /// keysT: [64 × ldk] (row = channel), values: rows of ldv, the head's 64 columns from `values`.
    private func attend(query: UnsafePointer<Float>, keysT: UnsafePointer<Float>, ldk: Int, values: UnsafePointer<Float>, ldv: Int,
                        count: Int, scale: Float, scores: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        scores.update(repeating: 0, count: count)
        for c in 0..<64 { VectorMath.addProduct(scores, query[c] * scale, keysT + c * ldk, count: count) }
        VectorMath.softmax(scores, count: count)
        out.update(repeating: 0, count: 64)
        for t in 0..<count { VectorMath.addProduct(out, scores[t], values + t * ldv, count: 64) }
    }
}
