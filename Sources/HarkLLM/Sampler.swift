import Glibc

/// Picks the next token from a row of logits, as llama.cpp's default sampler chain orders its steps:
///
///   1. repetition penalty over the last `penaltyWindow` tokens: a positive logit is divided by
///      `repetitionPenalty`, a negative one multiplied (CTRL's rule, llama.cpp's `penalty_repeat`);
///   2. top-k: only the k highest logits stay (0 = all);
///   3. top-p: of those, by descending probability, the fewest whose probabilities sum to ≥ p stay;
///   4. temperature: logits / T; T = 0 is greedy (the highest logit, the lowest id of equals);
///   5. a draw from the softmax of what is left, with a seeded generator (the same seed, the same text).
public struct Sampler: Sendable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var repetitionPenalty: Float
    public var penaltyWindow: Int
    private var generator: SplitMix64
    /// Scratch, kept between calls so a token costs no allocation once the vocabulary's size is reached.
    private var candidates: [(id: Int32, logit: Float)] = []

    /// Greedy decoding: always the most likely token.
    public static var greedy: Sampler { Sampler(temperature: 0) }

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95,
                repetitionPenalty: Float = 1.0, penaltyWindow: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.penaltyWindow = penaltyWindow
        self.generator = SplitMix64(seed: seed)
    }

    /// The next token for `logits` (one per vocabulary entry) after `history` (the tokens so far).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int32] = []) -> Int32 {
        precondition(!logits.isEmpty, "sampling from an empty row of logits")
        let penalised = repetitionPenalty != 1 && penaltyWindow > 0 && !history.isEmpty
        if temperature <= 0 && !penalised {
            // Greedy without a penalty: the highest logit, the lowest id of equals, with no copy.
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        candidates.removeAll(keepingCapacity: true)
        for (i, l) in logits.enumerated() { candidates.append((Int32(i), l)) }
        if penalised {
            var seen = Set<Int32>()
            for t in history.suffix(penaltyWindow) where t >= 0 && Int(t) < logits.count && seen.insert(t).inserted {
                let l = candidates[Int(t)].logit
                candidates[Int(t)].logit = l > 0 ? l / repetitionPenalty : l * repetitionPenalty
            }
        }
        if temperature <= 0 {
            var best = 0
            for i in 1..<candidates.count where candidates[i].logit > candidates[best].logit { best = i }
            return candidates[best].id
        }
        // Highest first; equal logits by id, so the order (and the draw) is reproducible.
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if topK > 0 && topK < candidates.count { candidates.removeLast(candidates.count - topK) }
        if topP < 1 {
            let probabilities = Self.softmax(candidates.map(\.logit), temperature: 1)
            var sum: Float = 0
            var keep = candidates.count
            for (i, p) in probabilities.enumerated() {
                sum += p
                if sum >= topP { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - max(keep, 1))
        }
        let probabilities = Self.softmax(candidates.map(\.logit), temperature: temperature)
        let u = Float(generator.next() >> 40) / Float(1 << 24)
        var sum: Float = 0
        for (i, p) in probabilities.enumerated() {
            sum += p
            if u < sum { return candidates[i].id }
        }
        return candidates[candidates.count - 1].id
    }

    static func softmax(_ logits: [Float], temperature: Float) -> [Float] {
        guard let top = logits.max() else { return [] }
        let e = logits.map { expf(($0 - top) / temperature) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, plenty for sampling.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        // Wrapping on purpose: the generator is arithmetic modulo 2^64.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
