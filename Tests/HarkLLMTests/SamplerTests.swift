import Testing
@testable import HarkLLM

@Suite struct SamplerTests {
    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 3.0, 0.5]

    @Test func greedyTakesTheHighestLogitAndTheLowestIdOfEquals() {
        var s = Sampler.greedy
        #expect(logits.withUnsafeBufferPointer { s.sample($0) } == 1)
    }

    @Test func theSameSeedGivesTheSameDrawsAndAnotherSeedOthers() {
        func draws(_ seed: UInt64) -> [Int32] {
            var s = Sampler(temperature: 1.5, topK: 0, topP: 1, seed: seed)
            return (0..<200).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } }
        }
        #expect(draws(7) == draws(7))
        #expect(draws(7) != draws(8))
    }

    @Test func drawsFollowTheSoftmaxOfTheTemperedLogits() {
        // Given temperature 2 and no truncation, when 40 000 tokens are drawn, then each token's
        // frequency is its softmax probability within 0.01 (4.5 standard errors at p = 0.25).
        var s = Sampler(temperature: 2, topK: 0, topP: 1, seed: 42)
        var counts = [Int](repeating: 0, count: logits.count)
        let n = 40_000
        for _ in 0..<n { counts[Int(logits.withUnsafeBufferPointer { s.sample($0) })] += 1 }
        let p = Sampler.softmax(logits, temperature: 2)
        for i in logits.indices { #expect(abs(Double(counts[i]) / Double(n) - Double(p[i])) < 0.01, "token \(i)") }
    }

    @Test func topKAndTopPKeepOnlyTheBestTokens() {
        // top-k 2 over [1, 3, 2.5, -1, 3, 0.5]: ids 1 and 4 (3.0 each) only.
        var k = Sampler(temperature: 1, topK: 2, topP: 1, seed: 1)
        let kDraws = Set((0..<500).map { _ in logits.withUnsafeBufferPointer { k.sample($0) } })
        #expect(kDraws == [1, 4])
        // top-p 0.5: the two 3.0s already hold 2 · e³ / Σ ≈ 0.61 ≥ 0.5, so nothing else.
        var p = Sampler(temperature: 1, topK: 0, topP: 0.5, seed: 1)
        let pDraws = Set((0..<500).map { _ in logits.withUnsafeBufferPointer { p.sample($0) } })
        #expect(pDraws == [1, 4])
        // top-p 0.9 lets id 2 (2.5) in, and still not 0, 3 or 5.
        var wide = Sampler(temperature: 1, topK: 0, topP: 0.9, seed: 1)
        let wideDraws = Set((0..<2000).map { _ in logits.withUnsafeBufferPointer { wide.sample($0) } })
        #expect(wideDraws == [1, 2, 4])
    }

    @Test func repetitionPenaltyPushesRecentTokensDown() {
        // Given ids 1 and 4 were just generated, a penalty of 1.5 turns their 3.0 into 2.0, so greedy
        // picks id 2 (2.5); a negative logit is multiplied instead (−1 → −1.5, still last).
        var s = Sampler(temperature: 0, repetitionPenalty: 1.5, penaltyWindow: 8)
        #expect(logits.withUnsafeBufferPointer { s.sample($0, history: [4, 1, 3]) } == 2)
        // Outside the window the penalty no longer applies.
        var short = Sampler(temperature: 0, repetitionPenalty: 1.5, penaltyWindow: 1)
        #expect(logits.withUnsafeBufferPointer { short.sample($0, history: [1, 4]) } == 1)
    }
}
