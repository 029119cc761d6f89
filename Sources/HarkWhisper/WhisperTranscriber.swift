#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HarkKernels

/// Speech to text with Whisper: 16 kHz samples in, text out, with each token's log-probability.
///
/// Decoding is faster-whisper's with `beam_size=1, temperature=0, without_timestamps=True`: the prompt
/// `<|startoftranscript|><|notimestamps|>`, then greedy choice of the most likely token with the
/// model's non-speech and task tokens suppressed throughout (`suppress_tokens=[-1]`), and the space and
/// end of text suppressed at the first step (`suppress_blank`), until end of text or 448 positions.
/// Audio is taken in 30 s windows as faster-whisper takes it (no timestamps: each window is one
/// segment, the next starts where it ended).
///
/// The encoder runs either on a full 30 s window, the audio zero-padded in the log-mel domain as
/// faster-whisper pads it (`.full`), or on only the frames present (`.present`): Whisper's encoder
/// is a stack of convolutions and attention over positions, so a 4 s command costs 200 positions
/// instead of 1 500. `make bench-whisper` and the parity tests measure both.
public struct WhisperTranscriber: Sendable {
    /// How much audio the encoder sees: the frames present, padded (in the log-mel domain, with
    /// zeros, as faster-whisper pads) to at least `minimumFrames`, at most a 30 s window.
    public struct AudioContext: Sendable, Equatable, CustomStringConvertible {
        public var minimumFrames: Int
        public init(minimumFrames: Int) { self.minimumFrames = min(max(0, minimumFrames), WhisperTranscriber.windowFrames) }
        /// Every window padded to 30 s (3 000 frames), as faster-whisper and OpenAI's Whisper run it.
        public static let full = AudioContext(minimumFrames: WhisperTranscriber.windowFrames)
        /// Only the frames of audio present.
        public static let present = AudioContext(minimumFrames: 0)
        public var description: String {
            self == .full ? "full" : self == .present ? "present" : "\(Double(minimumFrames) / 100) s"
        }
    }

    public struct Options: Sendable {
        public var threads: Int
        public var audioContext: AudioContext
        /// Drop windows Whisper judges silent (faster-whisper's default; its fixtures turn it off).
        public var skipsSilence: Bool
        /// Text before the speech, as token ids (`WhisperTextEncoder`): faster-whisper's
        /// `initial_prompt`, given to every window. Empty: none.
        public var previous: [Int]
        public init(threads: Int = 1, audioContext: AudioContext = .full, skipsSilence: Bool = true, previous: [Int] = []) {
            self.threads = max(1, threads)
            self.audioContext = audioContext
            self.skipsSilence = skipsSilence
            self.previous = previous
        }
    }

    public struct Transcript: Sendable, Equatable {
        /// The text as Whisper writes it (a leading space, capitals, punctuation).
        public var text: String
        /// The tokens generated, without the prompt and end of text.
        public var tokens: [Int]
        /// Each token's log-probability (natural log) under the suppression rules.
        public var logProbabilities: [Float]

        /// Mean token log-probability, the end of text included (faster-whisper's `avg_logprob`
        /// without its length penalty); 0 for an empty transcript.
        /// Whisper's probability that the window holds no speech (0 when not computed).
        public var noSpeechProbability: Float

        public init(text: String, tokens: [Int], logProbabilities: [Float], noSpeechProbability: Float = 0) {
            self.text = text
            self.tokens = tokens
            self.logProbabilities = logProbabilities
            self.noSpeechProbability = noSpeechProbability
        }

        public var averageLogProbability: Float {
            logProbabilities.isEmpty ? 0 : logProbabilities.reduce(0, +) / Float(logProbabilities.count)
        }
    }

    public let model: WhisperModel
    let logMel = LogMel()

    public init(model: WhisperModel) {
        self.model = model
    }

    public init(directory: String, computeType: WhisperModel.ComputeType = .float32) throws(WhisperError) {
        self.init(model: try WhisperModel(directory: directory, computeType: computeType))
    }

    /// 30 s of frames: one encoder window.
    public static let windowFrames = 3000

    /// The log-mel frames of each window of `samples`, as the encoder takes them.
    public func windows(_ samples: [Float], audioContext: AudioContext) -> [(frames: Int, mel: [Float])] {
        let features = logMel.compute(samples)
        // faster-whisper's content: the frames of the samples themselves, not the one its 160
        // samples of padding add.
        let content = LogMel.frames(samples: samples.count) - 1
        var out: [(Int, [Float])] = []
        var seek = 0
        while seek < content {
            let size = min(Self.windowFrames, content - seek)
            var mel = Array(features[(seek * LogMel.bins)..<((seek + size) * LogMel.bins)])
            var frames = size
            if size < audioContext.minimumFrames {
                mel += [Float](repeating: 0, count: (audioContext.minimumFrames - size) * LogMel.bins)
                frames = audioContext.minimumFrames
            }
            out.append((frames, mel))
            seek += size
        }
        return out
    }

    /// The transcript of `samples` (16 kHz mono, full scale ±1).
    public func transcribe(_ samples: [Float], options: Options = .init()) -> Transcript {
        var all = Transcript(text: "", tokens: [], logProbabilities: [])
        for window in windows(samples, audioContext: options.audioContext) {
            let encoded = model.encode(mel: window.mel, frames: window.frames, threads: options.threads)
            let part = greedy(encoded, threads: options.threads, previous: options.previous)
            // faster-whisper's rule (no_speech_threshold 0.6, log_prob_threshold −1): a window
            // Whisper thinks is silence, and whose text it is unsure of, says nothing.
            if options.skipsSilence && part.noSpeechProbability > 0.6 && part.averageLogProbability < -1 { continue }
            all.text += part.text
            all.tokens += part.tokens
            all.logProbabilities += part.logProbabilities
        }
        return all
    }

    /// The transcript of 16-bit samples.
    public func transcribe(_ samples: [Int16], options: Options = .init()) -> Transcript {
        transcribe(samples.map { Float($0) / 32768 }, options: options)
    }

    /// Greedy decoding of one encoded window (see the type's comment for the rules), after the text
    /// `previous` (token ids; empty: none) as faster-whisper's `initial_prompt` puts it before the speech.
    /// At most `maxTokens` tokens (the model's text context by default); when `shouldStop` says yes
    /// before a step, the transcript so far.
    public func greedy(_ encoded: EncodedAudio, threads: Int = 1, maxTokens: Int? = nil, previous: [Int] = [],
                       shouldStop: () -> Bool = { false }) -> Transcript {
        let (decoder, noSpeech) = primed(encoded, threads: threads, previous: previous)
        return greedy(from: decoder, noSpeech: noSpeech, maxTokens: maxTokens, shouldStop: shouldStop)
    }

    /// The most previous text a prompt holds (faster-whisper's `max_length // 2 - 1`): the rest of the
    /// model's text positions are the transcript's.
    public var maxPrevious: Int { model.textPositions / 2 - 1 }

    /// A decoding of `encoded` with the prompt fed (after `previous`), ready for the first token of
    /// the transcript; and Whisper's no-speech probability: <|nocaptions|> after
    /// <|startoftranscript|>, before any suppression (as CTranslate2 computes it).
    func primed(_ encoded: EncodedAudio, threads: Int, previous: [Int]) -> (Decoding, noSpeech: Float) {
        let vocabulary = model.vocabulary
        let prompt = vocabulary.prompt(previous: previous, maxPrevious: maxPrevious)
        var decoder = Decoding(model: model, encoded: encoded, threads: threads, capacity: prompt.count + 32)
        let transcriptStart = prompt.firstIndex(of: vocabulary.startOfTranscript)! + 1
        decoder.feed(Array(prompt[..<transcriptStart]), suppress: false)
        let noSpeech = expf(decoder.logits[vocabulary.noSpeech] - decoder.logSumExp())
        decoder.feed(Array(prompt[transcriptStart...]))
        return (decoder, noSpeech)
    }

    /// Greedy decoding from a primed decoding (`primed`).
    func greedy(from start: Decoding, noSpeech: Float, maxTokens: Int?, shouldStop: () -> Bool) -> Transcript {
        let vocabulary = model.vocabulary
        var decoder = start
        var tokens: [Int] = []
        var logProbabilities: [Float] = []
        let limit = min(maxTokens ?? .max, model.textPositions - decoder.cache.length)
        while tokens.count < limit && !shouldStop() {
            let first = tokens.isEmpty
            let (best, logProbability) = decoder.best(suppressBegin: first)
            logProbabilities.append(logProbability)
            if best == vocabulary.endOfText { break }
            tokens.append(best)
            if let cycle = Self.repetition(tokens) {
                // A loop ("Turn off the light Turn off the light …", ". . . ."): keep one turn.
                tokens.removeLast(cycle * (Self.repeats - 1))
                logProbabilities.removeLast(cycle * (Self.repeats - 1))
                break
            }
            if tokens.count == limit { break }
            decoder.feed([best])
        }
        return Transcript(text: vocabulary.text(tokens), tokens: tokens, logProbabilities: logProbabilities, noSpeechProbability: noSpeech)
    }

    /// A decoder that repeats the same 1–12 tokens this many times in a row has fallen into a loop.
    static let repeats = 4

    /// The length of the cycle the tokens end in, if their last `repeats` turns are one cycle repeated.
    static func repetition(_ tokens: [Int]) -> Int? {
        for length in 1...12 where tokens.count >= length * repeats {
            let tail = tokens.suffix(length)
            if (1..<repeats).allSatisfy({ turn in tokens[(tokens.count - length * (turn + 1))..<(tokens.count - length * turn)].elementsEqual(tail) }) {
                return length
            }
        }
        return nil
    }
}

/// One token sequence being decoded over an encoded window: its cache, the logits of its next token,
/// and the suppression rules applied to them.
struct Decoding {
    let model: WhisperModel
    let encoded: EncodedAudio
    let threads: Int
    var cache: DecoderCache
    let scratch: DecoderScratch
    /// The next token's logits, suppression applied (suppressed tokens are −∞).
    var logits: [Float]
    /// Tokens never produced (timestamps are not among them: CTranslate2 applies no timestamp rules
    /// when the prompt says <|notimestamps|>, and neither does this).
    let suppressed: [Int]

    init(model: WhisperModel, encoded: EncodedAudio, threads: Int, capacity: Int = 32) {
        self.model = model
        self.encoded = encoded
        self.threads = threads
        cache = model.makeCache(capacity: capacity)
        scratch = model.makeScratch(encoded: encoded)
        logits = [Float](repeating: 0, count: model.vocabularySize)
        suppressed = model.vocabulary.suppressed
    }

    /// Feeds tokens; afterwards `logits` are those of the token after the last one (only the last
    /// token's are computed).
    mutating func feed(_ tokens: [Int], suppress: Bool = true) {
        for (i, token) in tokens.enumerated() {
            logits.withUnsafeMutableBufferPointer { l in
                model.decode(token: token, cache: &cache, encoded: encoded, scratch: scratch,
                             logits: i == tokens.count - 1 ? l.baseAddress! : nil, threads: threads)
            }
        }
        if suppress {
            for id in suppressed { logits[id] = -.infinity }
        }
    }

    /// The most likely next token and its log-probability, normalised over the tokens allowed
    /// (with `suppressBegin`, not the space or end of text either: the first step's rule).
    func best(suppressBegin: Bool) -> (Int, Float) {
        let banned = suppressBegin ? model.vocabulary.suppressedAtBegin : []
        var top = -Float.infinity, best = 0
        logits.withUnsafeBufferPointer { l in
            for id in l.indices where l[id] > top && !banned.contains(id) {
                top = l[id]
                best = id
            }
        }
        return (best, logits[best] - logSumExp(excluding: banned))
    }

    /// log Σ exp(logit) over the tokens not suppressed nor in `excluding` (a handful of ids).
    func logSumExp(excluding: [Int] = []) -> Float {
        logits.withUnsafeBufferPointer { l in
            let top = VectorMath.maximum(l.baseAddress!, count: l.count)
            var sum = VectorMath.sumOfExponentials(l.baseAddress!, count: l.count, shift: top)
            // The same exponential as the sum's, so an excluded term leaves no residue.
            for id in excluding where l[id] > -.infinity { sum -= VectorMath.exp(l[id] - top) }
            return top + logf(max(sum, .leastNormalMagnitude))
        }
    }
}
