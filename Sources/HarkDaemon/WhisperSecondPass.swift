import HarkCommands
import HarkWhisper
import Dispatch
import Logging
import Synchronization

/// Whisper as stage 1's second pass: on an utterance the first pass is unsure of, decode the speech
/// twice — freely, and constrained token by token to the command grammar — and decide:
///   1. the free transcript is itself a command → that command;
///   2. else the best in-grammar transcript is within `margin` nats of the free transcript's
///      log-probability → that command;
///   3. else, if the free transcript has at most `maxExtraWords` more words than the in-grammar one
///      (noise garbled a word into two, "turn it on if you think" for "turn on the heating"), and either the
///      gap is within `looseMargin` or the first pass would have given the same actions (two
///      recognizers agree) within `agreementMargin` → that command;
///   4. else not a command: the speech was something else (stage 2's business).
/// The word count is what rejects requests that begin like a command and go on ("turn off the
/// kitchen light and the fan": the grammar stops at "light", the free transcript does not).
/// The defaults were chosen on the command clips of tools/gen_command_audio.py (4 voices, clean and
/// 10 dB SNR, the stage-2 dev set's requests): see the issue 4 notes and `make bench-second-pass`.
public struct WhisperSecondPass: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The Whisper model directory (CTranslate2 layout).
        public var model = "models/whisper-tiny.en"
        /// Unloaded after this long unused (s); loaded again when next needed.
        public var idleUnload = 120.0
        /// Run when the first pass's confidence is below this (per frame, as `Recognizer` scores;
        /// its rejection threshold is −4).
        public var below = 4.0
        /// How many nats less likely than the free transcript an in-grammar one may be and still win.
        public var margin: Float = 1
        /// The same, when the free transcript has no more words than the in-grammar one.
        public var looseMargin: Float = 10
        /// The same, when moreover the first pass would have given the same actions.
        public var agreementMargin: Float = 40
        public var maxExtraWords = 2
        /// The most nats an in-grammar transcript may trail the free one by and still win (the search
        /// drops hypotheses further behind: `verdict` would refuse them).
        public var widestMargin: Float { max(margin, looseMargin, agreementMargin) }
        /// The widest that can matter given the first pass's command: without one (nil) nothing can
        /// agree with it, and hypotheses further behind than `looseMargin` can win nothing. For an
        /// out-of-grammar request this ends the search four times sooner, with the same verdict.
        public func widestMargin(firstPass: String?) -> Float { firstPass == nil ? max(margin, looseMargin) : widestMargin }
        /// The encoder's input: the speech present, padded to at least this many 10 ms frames.
        public var minimumFrames = 1000
        /// Hypotheses the in-grammar search keeps at each step (with 2, at 10 dB SNR, the search lost
        /// "turn off the hallway light" behind Whisper's "turn off the hold-way light").
        public var beam = 3
        public var threads = 2
        /// Whether Whisper hears the speech after the catalog's spoken names (`CommandGrammar.prompt`) as
        /// text said before it, faster-whisper's `initial_prompt`: it then writes the catalog's names as
        /// the catalog does where noise leaves it unsure.
        public var prompt = true
        public init() {}
    }

    public let transcriber: WhisperTranscriber
    public let grammar: CommandGrammar
    public let configuration: Configuration
    /// The prompt's text as token ids (empty: none).
    public let previous: [Int]

    /// `previous`: the prompt's token ids (`Self.prompt(for:configuration:vocabulary:)`); empty: none.
    public init(transcriber: WhisperTranscriber, grammar: CommandGrammar, configuration: Configuration = Configuration(),
                previous: [Int] = []) {
        self.transcriber = transcriber
        self.grammar = grammar
        self.configuration = configuration
        self.previous = previous
    }

    /// The token ids of the grammar's prompt text for Whisper, from the model directory's tokenizer;
    /// empty when the configuration asks for no prompt.
    public static func prompt(for grammar: CommandGrammar, configuration: Configuration,
                              vocabulary: WhisperVocabulary) throws(WhisperError) -> [Int] {
        guard configuration.prompt, !grammar.prompt.isEmpty else { return [] }
        return try WhisperTextEncoder(directory: configuration.model, vocabulary: vocabulary).encodePrompt(grammar.prompt)
    }

    /// What the second pass heard in `samples` and what it decided.
    public struct Decision: Sendable {
        public var verdict: CommandStage.SecondPass.Verdict
        public var constrained: WhisperTranscriber.Constrained
    }

    public func decide(_ samples: [Int16], firstPass: String? = nil) -> Decision {
        verdict(analyse(samples, within: configuration.widestMargin(firstPass: firstPass))!, firstPass: firstPass)
    }

    /// The heavy half of `decide`, which needs only the speech: Whisper's free and in-grammar
    /// transcripts of it. When the free transcript is itself a command, `verdict` takes it whatever
    /// the search would find, so there is none: the free transcript stands as the in-grammar one
    /// (for a clean command this halves the decoding). Nil when `shouldStop` said yes before the end.
    /// The in-grammar search keeps hypotheses no more than `within` nats behind the free transcript
    /// (`Configuration.widestMargin(firstPass:)` for a verdict on them); `encoded` is called when the
    /// encoder is done (the rest is decoding).
    public func analyse(_ samples: [Int16], within: Float, shouldStop: () -> Bool = { false },
                        encoded done: () -> Void = {}) -> WhisperTranscriber.Constrained? {
        let audio = samples.map { Float($0) / 32768 }
        let context = WhisperTranscriber.AudioContext(minimumFrames: configuration.minimumFrames)
        guard let window = transcriber.windows(audio, audioContext: context).first else {
            let empty = WhisperTranscriber.Transcript(text: "", tokens: [], logProbabilities: [])
            return .init(text: nil, tokens: [], logProbability: -.infinity, free: empty)
        }
        let encoded = transcriber.model.encode(mel: window.mel, frames: window.frames, threads: configuration.threads)
        done()
        let grammar = self.grammar
        return transcriber.constrained(encoded, viability: { text in
            switch grammar.progress(text) {
            case .none: .impossible
            case .prefix: .prefix
            case .complete: .complete
            }
        }, beam: configuration.beam, threads: configuration.threads, within: within, previous: previous,
           freeSuffices: { grammar.parse($0.text) != nil }, shouldStop: shouldStop)
    }

    /// The light half of `decide`: the rules above, applied to `analyse`'s result and what the first
    /// pass would have given.
    public func verdict(_ result: WhisperTranscriber.Constrained, firstPass: String?) -> Decision {
        // Whisper sometimes says a short command twice ("Volume down. Volume down."): once is what was said.
        let free = Self.once(result.free.text)
        let transcript = Self.handover(result.free)
        if grammar.parse(free) != nil {
            return Decision(verdict: .init(command: free, heard: free, transcript: transcript), constrained: result)
        }
        if let text = result.text {
            let gap = result.freeLogProbability - result.logProbability
            let extra = CommandGrammar.extraWords(free, beyond: text)
            let agrees = firstPass.flatMap { grammar.parse($0) }.map { first in
                grammar.parse(text).map { Set($0) == Set(first) && $0.count == first.count } ?? false
            } ?? false
            if gap <= configuration.margin
                || (extra <= configuration.maxExtraWords && (gap <= configuration.looseMargin || (agrees && gap <= configuration.agreementMargin))) {
                return Decision(verdict: .init(command: text, heard: free, transcript: transcript), constrained: result)
            }
        }
        return Decision(verdict: .init(command: nil, heard: free, transcript: transcript), constrained: result)
    }

    /// `text` said once when it is the same words two or more times over (Whisper's loop on a short
    /// command: "Close the blinds. Close the blinds."); otherwise `text` itself.
    public static func once(_ text: String) -> String {
        let words = CommandGrammar.tokens(text)
        guard words.count >= 2 else { return text }
        for period in 1...(words.count / 2) where words.count % period == 0 {
            let first = words[..<period]
            if stride(from: period, to: words.count, by: period).allSatisfy({ words[$0..<($0 + period)] == first }) {
                return first.joined(separator: " ")
            }
        }
        return text
    }

    /// The free transcript as stage 2's worker would have made it of the same speech: trimmed, and
    /// empty when Whisper judges the speech silent and is unsure of its words (faster-whisper's rule,
    /// as `WhisperTranscriber.transcribe` applies it); nil when decoding stopped before Whisper's end
    /// of text (the token limit, a loop), so it may not be all that was said.
    public static func handover(_ free: WhisperTranscriber.Transcript) -> String? {
        guard free.logProbabilities.count > free.tokens.count else { return nil }
        if free.noSpeechProbability > 0.6 && free.averageLogProbability < -1 { return "" }
        return String(free.text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// The second pass as the daemon runs it: the model is loaded when first needed (and checked at
/// start), kept while in use, and unloaded after `idleUnload` seconds without an unsure utterance,
/// so an always-on speaker does not hold Whisper's ~100 MB while nobody speaks to it.
///
/// Whisper starts early: the command stage hands over the speech as soon as it has it (`prepare`,
/// a quarter second into the silence after the last word), and a worker thread decodes it while
/// the capture waits out the rest of its hangover to be sure the speaker has finished. When the
/// first pass then turns out unsure, `decide` on the same speech waits for that result instead of
/// starting; when it is sure, or the speaker goes on, the early work is abandoned (decoding stops
/// at the next token; an encoder pass under way runs to its end).
public final class SecondPassLoader: Sendable {
    public let configuration: WhisperSecondPass.Configuration
    let grammar: CommandGrammar
    let logger: Logger
    /// The prompt's token ids, made once at start (`WhisperSecondPass.prompt`).
    let previous: [Int]
    /// Where each decision's CPU time and energy go (stage 2); nil: not measured.
    let energy: StageTwoEnergy?
    private struct State {
        var pass: WhisperSecondPass?
        var lastUse = ContinuousClock.now
        var failed = false
    }
    private let state = Mutex(State())
    /// The speech handed to `prepare` last, and its analysis (done or under way).
    private let early = Mutex<Early?>(nil)
    /// Runs the early analyses one after another.
    private let worker = DispatchQueue(label: "hark.second-pass")

    /// One early analysis: its speech, whether it is still wanted, and its result when done.
    private final class Early: Sendable {
        let samples: [Int16]
        /// How far behind the free transcript the search kept hypotheses.
        let within: Float
        let abandoned = Atomic(false)
        private let result = Mutex<WhisperTranscriber.Constrained?>(nil)
        private let done = DispatchSemaphore(value: 0)
        /// When it was handed over, began, had encoded the speech, and ended (for the log).
        let times = Mutex<(handed: ContinuousClock.Instant, began: ContinuousClock.Instant?, encoded: ContinuousClock.Instant?,
                           ended: ContinuousClock.Instant?)>((.now, nil, nil, nil))

        init(samples: [Int16], within: Float) {
            self.samples = samples
            self.within = within
        }

        func finish(_ value: WhisperTranscriber.Constrained?) {
            result.withLock { $0 = value }
            times.withLock { $0.ended = .now }
            done.signal()
        }

        /// Waits for the analysis; nil if it was abandoned before it ended.
        func wait() -> WhisperTranscriber.Constrained? {
            done.wait()
            done.signal()  // a second waiter does not block
            return result.withLock { $0 }
        }
    }

    /// Loads the model once to check it (a missing or corrupt model is an error here, not later).
    public init(configuration: WhisperSecondPass.Configuration, grammar: CommandGrammar, energy: StageTwoEnergy? = nil,
                logger: Logger) throws(DaemonError) {
        self.configuration = configuration
        self.grammar = grammar
        self.energy = energy
        self.logger = logger
        let transcriber = try Self.transcriber(configuration, logger: logger)
        do { previous = try WhisperSecondPass.prompt(for: grammar, configuration: configuration, vocabulary: transcriber.model.vocabulary) }
        catch { throw DaemonError("second pass: \(error.message)") }
        let pass = WhisperSecondPass(transcriber: transcriber, grammar: grammar, configuration: configuration, previous: previous)
        state.withLock { $0.pass = pass }
    }

    private static func transcriber(_ configuration: WhisperSecondPass.Configuration, logger: Logger) throws(DaemonError) -> WhisperTranscriber {
        let started = ContinuousClock.now
        do {
            let transcriber = try WhisperTranscriber(directory: configuration.model)
            logger.info("second pass loaded", metadata: ["model": "\(configuration.model)", "ms": "\((ContinuousClock.now - started) / .milliseconds(1))"])
            return transcriber
        } catch {
            throw DaemonError("second pass: \(error.message)")
        }
    }

    private func load() throws(DaemonError) -> WhisperSecondPass {
        WhisperSecondPass(transcriber: try Self.transcriber(configuration, logger: logger), grammar: grammar, configuration: configuration,
                          previous: previous)
    }

    /// Whether the model is in memory now.
    public var isLoaded: Bool { state.withLock { $0.pass != nil } }

    /// The model, loaded if it is not (nil if loading failed: the first pass decides alone).
    private func currentPass() -> WhisperSecondPass? {
        state.withLock { state in
            state.lastUse = .now
            if state.pass == nil && !state.failed {
                do { state.pass = try load() } catch {
                    logger.error("\(error): the first pass decides alone")
                    state.failed = true
                }
            }
            return state.pass
        }
    }

    /// Starts analysing `samples` on the worker thread, for a `decide` on the same speech; abandons
    /// the analysis of any other speech. Only while the model is loaded: loading it is `decide`'s
    /// business (an utterance the first pass is sure of neither loads Whisper nor keeps it loaded).
    public func prepare(_ samples: [Int16], firstPass: String?) {
        guard let pass = state.withLock({ $0.pass }) else { return }
        let within = configuration.widestMargin(firstPass: firstPass)
        let job = Early(samples: samples, within: within)
        early.withLock { current in
            current?.abandoned.store(true, ordering: .relaxed)
            current = job
        }
        let energy = self.energy
        worker.async {
            guard !job.abandoned.load(ordering: .relaxed) else { return job.finish(nil) }
            job.times.withLock { $0.began = .now }
            let analyse = {
                pass.analyse(samples, within: within, shouldStop: { job.abandoned.load(ordering: .relaxed) }, encoded: { job.times.withLock { $0.encoded = .now } })
            }
            job.finish(energy.map { $0.measure("second_pass", onAudioThread: false, analyse) } ?? analyse())
        }
    }

    /// The speech handed to `prepare` will not be asked about: stop its analysis.
    public func abandon() {
        early.withLock { current in
            current?.abandoned.store(true, ordering: .relaxed)
            current = nil
        }
    }

    public func decide(_ samples: [Int16], firstPass: String?) -> WhisperSecondPass.Decision? {
        let job = early.withLock { current in
            defer { current = nil }
            return current
        }
        let decision: WhisperSecondPass.Decision?
        let early: Bool
        let asked = ContinuousClock.now
        var timing: Logger.Metadata = [:]
        // The early analysis serves if it heard the same speech and searched as wide as this first
        // pass's command needs (the first pass seldom changes its mind after the speech ends).
        if let job, job.samples == samples, job.within >= configuration.widestMargin(firstPass: firstPass), let pass = currentPass(),
           let result = job.wait() {
            let answered = ContinuousClock.now
            decision = pass.verdict(result, firstPass: firstPass)
            early = true
            // Where the early analysis's time went, and how long the decision waited for it (ms).
            let t = job.times.withLock { $0 }
            func ms(_ from: ContinuousClock.Instant?, _ to: ContinuousClock.Instant?) -> Logger.MetadataValue {
                guard let from, let to else { return "-" }
                return "\(Int((to - from) / .milliseconds(1)))"
            }
            timing = ["queued_ms": ms(t.handed, t.began), "encoder_ms": ms(t.began, t.encoded), "decoding_ms": ms(t.encoded, t.ended),
                      "waited_ms": ms(asked, answered)]
        } else {
            job?.abandoned.store(true, ordering: .relaxed)
            decision = energy.map { $0.measure("second_pass") { decideUnmeasured(samples, firstPass: firstPass) } }
                ?? decideUnmeasured(samples, firstPass: firstPass)
            early = false
        }
        if let decision {
            logger.debug("second pass", metadata: ["free": "\(decision.constrained.free.text)", "in_grammar": "\(decision.constrained.text ?? "-")",
                                                   "command": "\(decision.verdict.command ?? "-")", "started_early": "\(early)"]
                                                   .merging(timing) { a, _ in a })
        }
        return decision
    }

    private func decideUnmeasured(_ samples: [Int16], firstPass: String?) -> WhisperSecondPass.Decision? {
        currentPass()?.decide(samples, firstPass: firstPass)
    }

    /// Drops the model when it has not been needed for `idleUnload` seconds.
    public func unloadIfIdle(now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard state.pass != nil, now - state.lastUse >= .seconds(configuration.idleUnload) else { return }
            state.pass = nil
            logger.info("second pass unloaded after \(Int(configuration.idleUnload)) s idle")
        }
    }

    /// The command stage's hook.
    public var secondPass: CommandStage.SecondPass {
        CommandStage.SecondPass(below: configuration.below, decide: { [self] samples, firstPass in decide(samples, firstPass: firstPass)?.verdict },
                                prepare: { [self] samples, firstPass in prepare(samples, firstPass: firstPass) }, abandon: { [self] in abandon() },
                                idle: { [self] in unloadIfIdle() })
    }
}
