/// How far a text is from being a sentence of a grammar.
public enum TextViability: Sendable, Equatable {
    /// No continuation of it is a sentence.
    case impossible
    /// Some continuation of it is a sentence (it may end inside a word).
    case prefix
    /// It is a sentence (and may also go on to a longer one).
    case complete
}

extension WhisperTranscriber {
    /// The best transcript within a grammar, and what the unconstrained model thought of the audio.
    public struct Constrained: Sendable {
        /// The in-grammar transcript (nil when decoding found none within the step limit).
        public var text: String?
        public var tokens: [Int]
        /// Σ log-probability of its tokens and the end of text, each normalised over all tokens the
        /// unconstrained model allows (so it compares with `free`'s).
        public var logProbability: Float
        /// The unconstrained greedy transcript of the same audio.
        public var free: Transcript
        public var freeLogProbability: Float { free.logProbabilities.reduce(0, +) }

        public init(text: String?, tokens: [Int], logProbability: Float, free: Transcript) {
            self.text = text
            self.tokens = tokens
            self.logProbability = logProbability
            self.free = free
        }
    }

    /// Decodes `encoded` twice: freely (greedy, as `greedy`) and constrained, token by token, to texts
    /// `viability` accepts: a beam search of `beam` hypotheses in which a token may follow a hypothesis
    /// only if the text so far stays a prefix of a sentence, and end of text only after a complete one.
    /// Tokens are tried from the most likely down, so the search stays cheap: it looks at no more than
    /// `candidates` tokens per hypothesis and step. `shouldStop` is asked before each step of both
    /// decodings; when it says yes, decoding ends and the result is nil (the caller no longer wants it).
    /// When `freeSuffices` says yes of the free transcript (its caller needs no search when the
    /// transcript is itself a sentence), there is no search: the free transcript is the result. With
    /// `within`, a hypothesis more than that many nats less likely than the free transcript is dropped
    /// (scores only fall, so it could never come closer): for a caller that has no use for one.
    public func constrained(_ encoded: EncodedAudio, viability: (String) -> TextViability, beam: Int = 2,
                            candidates: Int = 400, maxTokens: Int = 24, threads: Int = 1, within: Float = .infinity,
                            previous: [Int] = [], freeSuffices: (Transcript) -> Bool = { _ in false },
                            shouldStop: () -> Bool) -> Constrained? {
        // Both decodings start from the same prompt, fed once.
        let (start, noSpeech) = primed(encoded, threads: threads, previous: previous)
        let free = greedy(from: start, noSpeech: noSpeech, maxTokens: maxTokens, shouldStop: shouldStop)
        if shouldStop() { return nil }
        if freeSuffices(free) {
            return Constrained(text: free.text, tokens: free.tokens, logProbability: free.logProbabilities.reduce(0, +), free: free)
        }
        let floor = free.logProbabilities.reduce(0, +) - within
        let vocabulary = model.vocabulary
        struct Hypothesis {
            var decoding: Decoding
            var tokens: [Int]
            var score: Float
        }
        var live = [Hypothesis(decoding: start, tokens: [], score: 0)]
        var finished: [(tokens: [Int], score: Float)] = []
        // Hypotheses share prefixes, and a text is asked about again at the next step.
        var known: [String: TextViability] = [:]
        func check(_ text: String) -> TextViability {
            if let answer = known[text] { return answer }
            let answer = viability(text)
            known[text] = answer
            return answer
        }
        for _ in 0..<maxTokens where !live.isEmpty {
            if shouldStop() { return nil }
            // Every allowed continuation of every live hypothesis, best first.
            var next: [(from: Int, token: Int, score: Float)] = []
            for (index, hypothesis) in live.enumerated() {
                let first = hypothesis.tokens.isEmpty
                let banned = first ? vocabulary.suppressedAtBegin : []
                let normaliser = hypothesis.decoding.logSumExp(excluding: banned)
                let logits = hypothesis.decoding.logits
                // Ending here, if the text is a sentence.
                if !banned.contains(vocabulary.endOfText), check(vocabulary.text(hypothesis.tokens)) == .complete {
                    let score = hypothesis.score + logits[vocabulary.endOfText] - normaliser
                    if score >= floor { finished.append((hypothesis.tokens, score)) }
                }
                // Its best `beam` other allowed tokens are all it can contribute: scan down from the top.
                var found = 0
                var ranked = Ranking(logits, window: 30)
                var looked = 0
                while found < beam, looked < candidates, let token = ranked.next() {
                    looked += 1
                    guard token < vocabulary.endOfText && !banned.contains(token) else { continue }
                    let score = hypothesis.score + logits[token] - normaliser
                    // Punctuation and other wordless tokens say nothing a grammar can check: they may
                    // only close a sentence ("… fan."), or "kitchen, … … …" would stay a prefix forever.
                    if !Self.hasWords(vocabulary.bytes(of: token)), check(vocabulary.text(hypothesis.tokens)) != .complete { continue }
                    if check(vocabulary.text(hypothesis.tokens + [token])) != .impossible {
                        next.append((index, token, score))
                        found += 1
                    }
                }
            }
            next.sort { $0.score > $1.score }
            // A hypothesis worse than the best finished one cannot overtake it: scores only fall.
            let bar = max(floor, finished.map(\.score).max() ?? -.infinity)
            var kept: [Hypothesis] = []
            for candidate in next.prefix(beam) where candidate.score > bar {
                var h = live[candidate.from]
                h.tokens.append(candidate.token)
                h.score = candidate.score
                h.decoding.feed([candidate.token])
                kept.append(h)
            }
            live = kept
        }
        guard let best = finished.max(by: { $0.score < $1.score }) else {
            return Constrained(text: nil, tokens: [], logProbability: -.infinity, free: free)
        }
        return Constrained(text: vocabulary.text(best.tokens), tokens: best.tokens, logProbability: best.score, free: free)
    }

    /// `constrained(_:viability:beam:candidates:maxTokens:threads:within:previous:freeSuffices:shouldStop:)`
    /// run to the end.
    public func constrained(_ encoded: EncodedAudio, viability: (String) -> TextViability, beam: Int = 2,
                            candidates: Int = 400, maxTokens: Int = 24, threads: Int = 1, previous: [Int] = []) -> Constrained {
        constrained(encoded, viability: viability, beam: beam, candidates: candidates, maxTokens: maxTokens, threads: threads,
                    previous: previous, shouldStop: { false })!
    }

    /// Whether a token's bytes hold a letter, a digit, "%" or any non-ASCII character (°, accented letters).
    static func hasWords(_ bytes: [UInt8]) -> Bool {
        bytes.contains { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x25 || $0 >= 0x80 }
    }

    /// The tokens with the largest logits, largest first (the lower id first among equals, −∞ ones left
    /// out), one at a time: a heap, so a search that needs only the first few does not sort the
    /// thousands within reach. Only tokens within `window` nats of the best are considered: anything
    /// further is e^-window less likely than it.
    struct Ranking {
        private let logits: [Float]
        private var heap: [Int] = []

        init(_ logits: [Float], window: Float) {
            self.logits = logits
            var top = -Float.infinity
            for v in logits { top = max(top, v) }
            let floor = top - window
            for id in logits.indices where logits[id] >= floor && logits[id] > -.infinity { heap.append(id) }
            var i = heap.count / 2
            while i > 0 {
                i -= 1
                sink(i)
            }
        }

        /// Whether token a ranks before token b.
        private func before(_ a: Int, _ b: Int) -> Bool { logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }

        private mutating func sink(_ start: Int) {
            var i = start
            while true {
                let left = 2 * i + 1, right = left + 1
                var best = i
                if left < heap.count, before(heap[left], heap[best]) { best = left }
                if right < heap.count, before(heap[right], heap[best]) { best = right }
                if best == i { return }
                heap.swapAt(i, best)
                i = best
            }
        }

        mutating func next() -> Int? {
            guard let first = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                sink(0)
            }
            return first
        }
    }
}
