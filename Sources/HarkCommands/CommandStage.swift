import HarkAudio
import HarkDevices
import Synchronization

/// Stage 1 after the wake word: captures the utterance from the same audio stream, recognises it
/// with the catalog's grammar while it is spoken, and says what it meant — actions, or a rejection
/// whose audio is kept for stage 2.
///
/// The audio thread calls ``process(_:chunkStart:activity:)`` with every chunk and the voice-activity
/// detector's sub-frame mask for it (the wake pipeline's detector: one per stream), which keeps the
/// pre-roll, and ``listen(at:)`` when the wake word fires. Not thread-safe: the audio thread owns it.
public final class CommandStage {
    public struct Configuration: Sendable, Equatable {
        public var capture = UtteranceCapture.Configuration()
        public var recognizer = Recognizer.Configuration()
        /// Audio before the wake event run through the recognizer first, so its cepstral mean
        /// matches the speaker and the room (s).
        public var primeSeconds = 2.0
        /// Speech the grammar's words may leave uncovered before the first word or after the last (s)
        /// when the first pass is sure. More, and it may have heard a command inside a longer request
        /// ("close the blinds | and turn on the bedroom light"), or the voice-activity detector took
        /// noise for speech (at 10 dB SNR most commands leave 1 s or more): the second pass listens. A
        /// command it hears stands (the first pass's or another); else if it hears `uncoveredExtraWords`
        /// or more words than the command has, the utterance goes to stage 2. Without a second pass the
        /// command stands. Clean commands leave at most 0.4 s.
        public var uncoveredSpeech = 0.5
        public var uncoveredExtraWords = 2
        public init() {}
    }

    public enum Output: Sendable, Equatable {
        /// Speech from `start` to `end` (s); the capture decided it had ended at `endpoint`.
        case utterance(start: Double, end: Double, endpoint: Double)
        /// What the recognizer heard (its best path through the grammar, even when rejected).
        case transcript(String)
        /// A command: its actions; `endedAt` is when the end of speech was decided (wall clock).
        case command([Action], endedAt: ContinuousClock.Instant)
        /// Not a command: `reason` is `out_of_grammar` or `no_speech`; the audio is in the handoff
        /// under `audio` (nil for no speech).
        case rejected(reason: String, audio: String?)
    }

    /// A slower, stronger recognizer consulted when the first pass is unsure (the daemon wires Whisper
    /// constrained to the grammar): it runs on the utterance's speech when the first pass's confidence
    /// is below `below`, whether or not the first pass would have rejected it, and its verdict stands.
    public struct SecondPass: Sendable {
        public struct Verdict: Sendable, Equatable {
            /// The in-grammar text it heard, or nil: not a command.
            public var command: String?
            /// What it transcribed (for the transcript event and logs).
            public var heard: String
            /// What it transcribed as stage 2 may take it instead of transcribing the audio again:
            /// trimmed, empty when it judged the speech silent; nil when it is not the whole of what
            /// was said (cut at a length limit) or is not what stage 2 would hear.
            public var transcript: String?
            public init(command: String?, heard: String, transcript: String? = nil) {
                self.command = command
                self.heard = heard
                self.transcript = transcript
            }
        }
        public var below: Double
        /// Given the speech and the command the first pass would have given (nil: it would have
        /// rejected it); nil: no verdict (the second pass could not run), the first pass decides.
        public let decide: @Sendable (_ samples: [Int16], _ firstPass: String?) -> Verdict?
        /// Given the speech as soon as the capture has it, before the end of speech is decided, and the
        /// command the first pass would give so far (as `decide` gets it: nil when it would reject): it
        /// may start working on them (elsewhere; it must return at once) for a `decide` on the same samples.
        public let prepare: (@Sendable (_ samples: [Int16], _ firstPass: String?) -> Void)?
        /// The speech last given to `prepare` will not be asked about (the first pass was sure, the
        /// speaker went on, nobody spoke).
        public let abandon: (@Sendable () -> Void)?
        /// Called about once a second of audio while no utterance is being heard (to unload a model
        /// nobody has needed for a while).
        public let idle: (@Sendable () -> Void)?
        public init(below: Double, decide: @escaping @Sendable (_ samples: [Int16], _ firstPass: String?) -> Verdict?,
                    prepare: (@Sendable (_ samples: [Int16], _ firstPass: String?) -> Void)? = nil, abandon: (@Sendable () -> Void)? = nil,
                    idle: (@Sendable () -> Void)? = nil) {
            self.below = below
            self.decide = decide
            self.prepare = prepare
            self.abandon = abandon
            self.idle = idle
        }
    }

    public let grammar: CommandGrammar
    public let configuration: Configuration
    /// Consulted when the first pass is unsure; nil: the first pass decides alone.
    public var secondPass: SecondPass?
    /// Whether the second pass decided the last utterance.
    public private(set) var lastUsedSecondPass = false
    /// What the first pass heard in the last utterance.
    public private(set) var lastFirstPass: String?
    public let handoff: UtteranceHandoff
    private let recognizer: Recognizer
    private var capture: UtteranceCapture?
    /// The last `primeSeconds` of audio, a ring.
    private var preroll: [Int16]
    private var prerollNext = 0
    private var prerollFilled = 0
    /// The utterance's audio from the wake event on, for the handoff.
    private var heard: [Int16] = []
    private var rejectedCount = 0
    /// Audio since the second pass's idle hook last ran.
    private var idleSamples = 0
    /// Whether the recognizer is decoding the current utterance (from its speech onset on).
    private var recognizing = false
    /// Whether the second pass's `prepare` has speech it was not told to drop yet.
    private var handedOver = false
    /// The part of `heard` last considered for `prepare` (given or not).
    private var considered: Range<Int>?
    /// Audio before the speech onset that the recognizer hears too (s).
    static let leadIn = 0.25
    /// The confidence of the last utterance (``Recognizer/Hypothesis/confidence``), for tuning and logs.
    public private(set) var lastConfidence: Double?
    /// The speech the grammar's words left uncovered in the last utterance, before its first word plus
    /// after its last (s; nil: no word), for tuning and logs.
    public private(set) var lastUncovered: Double?

    public init(grammar: CommandGrammar, pronunciations: Pronunciations, configuration: Configuration = Configuration(),
                handoff: UtteranceHandoff = UtteranceHandoff()) throws(CommandError) {
        self.grammar = grammar
        self.configuration = configuration
        self.handoff = handoff
        recognizer = try Recognizer(grammar: grammar, pronunciations: pronunciations, configuration: configuration.recognizer)
        preroll = [Int16](repeating: 0, count: max(1, Int(configuration.primeSeconds * Double(VoiceActivityGate.sampleRate))))
    }

    /// Whether an utterance is being captured.
    public var isListening: Bool { capture != nil }

    /// The wake word fired at audio time `time` (the end of its chunk): the next chunk starts the utterance.
    public func listen(at time: Double) {
        guard capture == nil else { return }
        if configuration.primeSeconds > 0, prerollFilled > 0 {
            var ordered = [Int16]()
            ordered.reserveCapacity(prerollFilled)
            if prerollFilled == preroll.count { ordered += preroll[prerollNext...] }
            ordered += preroll[..<prerollNext]
            ordered.withUnsafeBufferPointer { recognizer.prime($0) }
        }
        capture = UtteranceCapture(configuration: configuration.capture, began: time)
        heard.removeAll(keepingCapacity: true)
        recognizing = false
        handedOver = false
        considered = nil
    }

    /// Takes the next chunk of 16 kHz audio starting at audio time `chunkStart`, with its active
    /// 10 ms sub-frames (``VoiceActivityGate/activeMask``).
    public func process(_ chunk: UnsafeBufferPointer<Int16>, chunkStart: Double, activity: UInt64) -> [Output] {
        defer { remember(chunk) }
        guard var capture else {
            if let idle = secondPass?.idle {
                idleSamples += chunk.count
                if idleSamples >= Int(VoiceActivityGate.sampleRate) {
                    idleSamples -= Int(VoiceActivityGate.sampleRate)
                    idle()
                }
            }
            return []
        }
        if heard.count < Int(configuration.capture.maxLength + configuration.capture.noSpeechTimeout) * 16_000 { heard += chunk }
        let outcome = capture.update(chunkStart: chunkStart, mask: activity, subframes: chunk.count / VoiceActivityGate.subframeSamples)
        self.capture = capture
        if recognizing {
            recognizer.process(chunk)
        } else if let start = capture.speechStart {
            // Speech began: decode from a little before it, out of the audio kept since the wake word.
            let offset = max(0, Int((start - Self.leadIn - capture.began) * Double(VoiceActivityGate.sampleRate)))
            recognizer.start()
            recognizing = true
            heard.withUnsafeBufferPointer { recognizer.process(UnsafeBufferPointer(rebasing: $0[min(offset, $0.count)...])) }
        }
        switch outcome {
        case .listening:
            prepareSecondPass(capture)
            return []
        case .timedOut:
            self.capture = nil
            if recognizing { _ = recognizer.finish() }
            recognizing = false
            abandonSecondPass()
            return [.rejected(reason: "no_speech", audio: nil)]
        case let .ended(start, end, endpoint, _):
            return conclude(start: start, end: end, endpoint: endpoint)
        }
    }

    /// The input ended: an utterance in progress ends here.
    public func endOfInput(at time: Double) -> [Output] {
        guard let capture else { return [] }
        guard let start = capture.speechStart, let end = capture.lastActiveEnd else {
            self.capture = nil
            if recognizing { _ = recognizer.finish() }
            recognizing = false
            abandonSecondPass()
            return [.rejected(reason: "no_speech", audio: nil)]
        }
        return conclude(start: start, end: end, endpoint: time)
    }

    private func conclude(start: Double, end: Double, endpoint: Double) -> [Output] {
        let endedAt = ContinuousClock.now
        let began = capture?.began ?? start
        capture = nil
        let hypothesis = recognizer.finish()
        recognizing = false
        var words = hypothesis.text
        let confidence = hypothesis.confidence ?? -.infinity
        let uncovered = self.uncovered(hypothesis, start: start, end: end, began: began)
        var confident = isSure(hypothesis)
        lastConfidence = hypothesis.confidence
        lastUncovered = uncovered
        lastUsedSecondPass = false
        lastFirstPass = words
        // What the second pass transcribed when it sent the utterance on: stage 2 need not again.
        var transcript: String?
        if let secondPass, confidence < secondPass.below {
            let firstPass = standingCommand(hypothesis)
            handedOver = false
            if let verdict = secondPass.decide(Array(heard[speech(start: start, end: end, began: began)]), firstPass) {
                lastUsedSecondPass = true
                words = verdict.command ?? verdict.heard
                confident = verdict.command != nil
                transcript = verdict.transcript
            }
        } else if let secondPass, (uncovered ?? 0) > configuration.uncoveredSpeech, grammar.parse(words) != nil {
            // Sure of a command that leaves speech uncovered: a longer request, or noise the voice-
            // activity detector took for speech. Whisper tells them apart by what it hears: words
            // beyond the command's, and stage 2 gets the request; about as many, and the command stands.
            // Whisper's own command, when it hears one (its free transcript, or an in-grammar reading as
            // close to it as an unsure utterance's must be), is the stronger recognizer's: it stands even
            // where it differs from the first pass's ("switch the fan off" for "… on" in noise).
            handedOver = false
            if let verdict = secondPass.decide(Array(heard[speech(start: start, end: end, began: began)]), words) {
                if let command = verdict.command {
                    lastUsedSecondPass = true
                    words = command
                    transcript = verdict.transcript
                } else if CommandGrammar.extraWords(verdict.heard, beyond: words) >= configuration.uncoveredExtraWords {
                    lastUsedSecondPass = true
                    words = verdict.heard
                    confident = false
                    transcript = verdict.transcript
                }
            }
        } else {
            abandonSecondPass()
        }
        var outputs: [Output] = [.utterance(start: start, end: end, endpoint: endpoint), .transcript(words)]
        if confident, let actions = grammar.parse(words) {
            outputs.append(.command(actions, endedAt: endedAt))
        } else {
            rejectedCount += 1
            let id = "utt-\(rejectedCount)"
            handoff.put(id: id, samples: heard, text: words, transcript: transcript, endedAt: endedAt)
            outputs.append(.rejected(reason: "out_of_grammar", audio: id))
        }
        return outputs
    }

    /// How much of the speech from `start` to `end` (s) lies before the hypothesis's first word or
    /// after its last; nil when it has no word. The recognizer's first frame is where `speech` begins.
    private func uncovered(_ hypothesis: Recognizer.Hypothesis, start: Double, end: Double, began: Double) -> Double? {
        guard let words = hypothesis.words else { return nil }
        let origin = began + Double(speech(start: start, end: end, began: began).lowerBound) / Double(VoiceActivityGate.sampleRate)
        let first = origin + Double(words.lowerBound) / 100, last = origin + Double(words.upperBound + 1) / 100
        return max(0, first - start) + max(0, end - last)
    }

    /// The speech as the recognizer heard it, in `heard`: from the lead-in before its onset to a
    /// little (`leadIn`) after its last active frame.
    private func speech(start: Double, end: Double, began: Double) -> Range<Int> {
        let from = min(heard.count, max(0, Int((start - Self.leadIn - began) * Double(VoiceActivityGate.sampleRate))))
        return from..<min(heard.count, max(from, speechEnd(end: end, began: began)))
    }

    /// Where `speech` ends in `heard` when `heard` is long enough.
    private func speechEnd(end: Double, began: Double) -> Int {
        Int((end + Self.leadIn - began) * Double(VoiceActivityGate.sampleRate))
    }

    /// While the capture waits out its hangover: once `heard` holds the speech through the little
    /// after its last active frame that `conclude` gives the second pass, and the first pass's
    /// partial result is unsure, hand the speech over to start on. (A sure partial result leaves
    /// Whisper idle: most clean commands.) If the speaker goes on, the speech grows and is
    /// considered again when they next pause.
    private func prepareSecondPass(_ capture: UtteranceCapture) {
        guard let secondPass, let prepare = secondPass.prepare, let start = capture.speechStart, let end = capture.lastActiveEnd,
              heard.count >= speechEnd(end: end, began: capture.began) else { return }
        let range = speech(start: start, end: end, began: capture.began)
        guard range != considered, !range.isEmpty else { return }
        considered = range
        let provisional = recognizer.provisional()
        guard (provisional.confidence ?? -.infinity) < secondPass.below
                || (uncovered(provisional, start: start, end: end, began: capture.began) ?? 0) > configuration.uncoveredSpeech else {
            abandonSecondPass()
            return
        }
        handedOver = true
        // With the command `conclude` would give `decide` if the speech ended here.
        prepare(Array(heard[range]), standingCommand(provisional))
    }

    /// Whether the first pass is sure enough of `hypothesis` for it to stand (its rejection threshold).
    private func isSure(_ hypothesis: Recognizer.Hypothesis) -> Bool {
        configuration.recognizer.rejectBelow.map { (hypothesis.confidence ?? -.infinity) >= $0 } ?? true
    }

    /// The first pass's command, as the second pass is told of it: the hypothesis's words when it is
    /// sure of them and they are a command; nil when it would reject.
    private func standingCommand(_ hypothesis: Recognizer.Hypothesis) -> String? {
        isSure(hypothesis) && grammar.parse(hypothesis.text) != nil ? hypothesis.text : nil
    }

    private func abandonSecondPass() {
        guard handedOver else { return }
        handedOver = false
        secondPass?.abandon?()
    }

    /// Copies the chunk into the pre-roll ring (at most two block copies).
    private func remember(_ chunk: UnsafeBufferPointer<Int16>) {
        guard configuration.primeSeconds > 0 else { return }
        var rest = chunk.suffix(preroll.count)
        preroll.withUnsafeMutableBufferPointer { ring in
            while !rest.isEmpty {
                let n = min(rest.count, ring.count - prerollNext)
                _ = UnsafeMutableBufferPointer(rebasing: ring[prerollNext..<(prerollNext + n)]).update(fromContentsOf: rest.prefix(n))
                rest = rest.dropFirst(n)
                prerollNext = (prerollNext + n) % ring.count
            }
        }
        prerollFilled = min(preroll.count, prerollFilled + chunk.count)
    }
}

/// Rejected utterances waiting for stage 2: the most recent few, each with its audio and what
/// stage 1 heard. Shared between the audio thread and whoever picks them up.
public final class UtteranceHandoff: Sendable {
    public struct Utterance: Sendable, Equatable {
        public let id: String
        public let samples: [Int16]
        public let text: String
        /// The second pass's free transcript of its speech, when the second pass ran (Whisper's, in
        /// harkd): stage 2 uses it instead of transcribing the audio again.
        public let transcript: String?
        /// When its end of speech was decided (wall clock): stage 2's latency counts from here, so the
        /// time stage 1 spent on it (a second pass) is in it.
        public let endedAt: ContinuousClock.Instant
    }

    public let capacity: Int
    private let pending = Mutex<[Utterance]>([])

    public init(capacity: Int = 4) {
        self.capacity = capacity
    }

    func put(id: String, samples: [Int16], text: String, transcript: String?, endedAt: ContinuousClock.Instant) {
        pending.withLock { list in
            list.append(Utterance(id: id, samples: samples, text: text, transcript: transcript, endedAt: endedAt))
            if list.count > capacity { list.removeFirst(list.count - capacity) }
        }
    }

    /// Takes the utterance with this id out of the handoff.
    public func take(id: String) -> Utterance? {
        pending.withLock { list in
            guard let index = list.firstIndex(where: { $0.id == id }) else { return nil }
            return list.remove(at: index)
        }
    }

    /// The ids waiting, oldest first.
    public var ids: [String] { pending.withLock { $0.map(\.id) } }
}
