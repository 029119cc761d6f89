import HarkKernels
import HarkTestSupport
import Testing

/// Attention's loops over the float16 cache (HalfVector.dots, HalfVector.combinePartials) against the
/// one-at-a-time forms whose order follows ggml: the same floats, bit for bit, since logits must not
/// depend on how many keys or dimensions a loop takes at once.
struct HalfVectorTests {
    static func halves(_ count: Int, _ rng: inout SplitMix64) -> [Float16] {
        (0..<count).map { _ in Float16(rng.nextFloat() * 4 - 2) }
    }

    @Test("Given keys `stride` apart, when one query is dotted with n of them, then each score is HalfVector.dot's, bit for bit", arguments: [
        (1, 64), (3, 64), (4, 64), (5, 64), (9, 64), (17, 64), (8, 128), (6, 32), (5, 40), (4, 7),
    ])
    func dotsEqualDot(keys n: Int, count: Int) {
        var rng = SplitMix64(seed: UInt64(n * 1000 + count))
        let stride = 3 * count + 5
        let rows = Self.halves(n * stride, &rng), query = Self.halves(count, &rng)
        var scores = [Float](repeating: .nan, count: n + 1)
        rows.withUnsafeBufferPointer { rows in
            query.withUnsafeBufferPointer { query in
                scores.withUnsafeMutableBufferPointer {
                    HalfVector.dots(rows.baseAddress! + 2, stride: stride, n, query.baseAddress!, count: count, into: $0.baseAddress!)
                }
                for r in 0..<n {
                    let expected = HalfVector.dot(rows.baseAddress! + 2 + r * stride, query.baseAddress!, count: count)
                    #expect(scores[r].bitPattern == expected.bitPattern, "key \(r): \(scores[r]) vs \(expected)")
                }
            }
        }
        #expect(scores[n].isNaN, "wrote past the last key")
    }

    @Test("Given 32 interleaved partial sums, when combined, then each output is the lanes' sum in reduce's order, bit for bit", arguments: [64, 128, 20, 3])
    func combinePartialsInReduceOrder(count: Int) {
        var rng = SplitMix64(seed: UInt64(count))
        // Magnitudes far apart, so that another order of additions gives other floats.
        let partial = (0..<(32 * count)).map { _ in (rng.nextFloat() - 0.5) * Float(1 << (rng.next() % 20)) }
        var out = [Float](repeating: .nan, count: count + 1)
        partial.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { HalfVector.combinePartials(p.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        for d in 0..<count {
            var lanes = SIMD8<Float>()
            for l in 0..<8 {
                lanes[l] = (partial[l * count + d] + partial[(16 + l) * count + d]) + (partial[(8 + l) * count + d] + partial[(24 + l) * count + d])
            }
            let expected = HalfVector.reduce(lanes)
            #expect(out[d].bitPattern == expected.bitPattern, "d \(d): \(out[d]) vs \(expected)")
        }
        #expect(out[count].isNaN, "wrote past the last output")
    }
}
