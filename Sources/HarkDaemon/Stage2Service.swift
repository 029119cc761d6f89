#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import HarkCommands
import HarkDevices
import HarkStage2
import Logging
import ServiceLifecycle
import Synchronization

/// A `stage2` event: the worker's life (`loading`, `ready`, `unloaded`, `failed`), each request's
/// answer (`answered`, with the latency breakdown), and `fallback` when the OpenAI-compatible server
/// failed and the local worker answers instead.
public struct Stage2Report: Sendable, Equatable {
    public var state: String
    public var milliseconds: Double?
    /// Text fields, in order (`via`, `reason`, `message`, `audio`).
    public var strings: [Pair<String>] = []
    /// Numeric fields, in order (`load_ms`, `transcribe_ms`, …).
    public var numbers: [Pair<Double>] = []
    /// `answered`: the actions the answer holds (before validation), as JSON objects.
    public var actions: [String]?

    public struct Pair<Value: Sendable & Equatable>: Sendable, Equatable {
        public let key: String
        public let value: Value
        public init(_ key: String, _ value: Value) {
            self.key = key
            self.value = value
        }
    }

    public init(state: String, milliseconds: Double? = nil, strings: [Pair<String>] = [], numbers: [Pair<Double>] = []) {
        self.state = state
        self.milliseconds = milliseconds
        self.strings = strings
        self.numbers = numbers
    }

    var jsonLine: String {
        var line = #"{"type":"stage2","state":\#(Event.quote(state))"#
        if let milliseconds { line += #","ms":\#(Event.number(milliseconds, digits: 1))"# }
        for pair in strings { line += #",\#(Event.quote(pair.key)):\#(Event.quote(pair.value))"# }
        for pair in numbers { line += #",\#(Event.quote(pair.key)):\#(Event.number(pair.value, digits: 2))"# }
        if let actions { line += #","actions":[\#(actions.joined(separator: ","))]"# }
        return line + "}"
    }
}

/// Stage 2 as harkd runs it (the `stage2:` section of the configuration).
public struct Stage2Settings: Sendable, Equatable {
    /// When the worker is started: at the first request, as soon as the wake word is heard (it
    /// loads while the user is still speaking), or at harkd's start and kept.
    public enum Start: String, Sendable, CaseIterable {
        case onHandoff = "on_handoff", onWake = "on_wake", always
    }

    /// The worker executable (hark-stage2).
    public var worker: String
    /// The language model (GGUF) and the Whisper model directory (CTranslate2); nil: `say` only.
    public var model: String
    public var whisper: String?
    public var start = Start.onHandoff
    /// The worker is stopped after this many seconds without a request (not with `always`).
    public var idleUnload = 60.0
    public var threads = 2
    public var context = 1024
    /// The longest answer line (tokens), and the most actions in it.
    public var maxTokens = 160
    public var maxActions = 8
    public var requestTimeout = 30.0
    public var startTimeout = 60.0
    /// Where the worker saves computed catalog prefixes (nil: in its memory only).
    public var cacheDirectory: String?
    /// The language model's resident megabytes (nil: no limit): a mixture of experts larger than
    /// that keeps its hot experts and reads the others from the file.
    public var memoryBudgetMegabytes: Int?
    /// `backend: openai`: the model's part goes to this server first, the worker answering when it
    /// fails (nil: `backend: local`, the worker only).
    public var remote: Stage2Remote?

    public init(worker: String, model: String, whisper: String?) {
        self.worker = worker
        self.model = model
        self.whisper = whisper
    }

    /// The worker's command line.
    var arguments: [String] {
        var arguments = ["--llm", model, "--threads", "\(threads)", "--context", "\(context)"]
        if let whisper { arguments += ["--whisper", whisper] }
        if let cacheDirectory { arguments += ["--cache", cacheDirectory] }
        if let memoryBudgetMegabytes { arguments += ["--memory-budget", "\(memoryBudgetMegabytes)"] }
        return arguments
    }
}

/// Stage 2 in harkd: what stage 1 could not understand — a rejected utterance, or a `say` text
/// outside the grammar — goes to the worker (HarkStage2's loader): Whisper's transcript, the stage-1
/// text grammar on it (cheap), else the language model constrained to the catalog's actions; then
/// the actions are validated and dispatched as stage-2 voice actions.
///
/// Requests run one at a time on a queue of their own (the loader blocks while the worker works), so
/// the audio thread only hands them over. On graceful shutdown the queued requests finish (their
/// actions are dispatched) before the worker is stopped and the devices after it.
public final class Stage2Service: Service, Sendable {
    /// What a request came to.
    public struct Outcome: Sendable {
        /// The text understood (the transcript, or the `say` text).
        public var text: String
        public var actions: [Action]
        /// `grammar` (the stage-1 text grammar matched it), `openai` (the remote server) or `model`.
        public var via: String
        /// The dispatch results (nil: not dispatched, `dry_run`).
        public var results: [ActionDispatcher.Result]?
    }

    public let settings: Stage2Settings
    let loader: Stage2Loader
    private let queue = DispatchQueue(label: "hark.stage2")
    private let sink: EventSink
    private let logger: Logger
    /// Where stage 1 leaves the audio of rejected utterances.
    public let handoff: UtteranceHandoff
    /// The current catalog and its stage-1 grammar (they change on reload).
    private let current: @Sendable () -> (catalog: Catalog?, grammar: CommandGrammar?)
    private let submit: ActionSubmitter
    /// Set at shutdown: the idle checks stop.
    private let stopping = Atomic<Bool>(false)

    /// Whether a transcript stage 1's second pass made is taken instead of transcribing the audio:
    /// only when the second pass runs the worker's Whisper model.
    let takesSecondPassTranscripts: Bool

    public init(settings: Stage2Settings, handoff: UtteranceHandoff, sink: EventSink, logger: Logger, secondPassModel: String? = nil,
                current: @escaping @Sendable () -> (catalog: Catalog?, grammar: CommandGrammar?), submit: @escaping ActionSubmitter) {
        self.settings = settings
        takesSecondPassTranscripts = secondPassModel.map { model in
            settings.whisper.map { resolvedPath(model) == resolvedPath($0) } ?? false
        } ?? false
        self.handoff = handoff
        self.sink = sink
        self.logger = logger
        self.current = current
        self.submit = submit
        var configuration = Stage2Loader.Configuration(executable: settings.worker, arguments: settings.arguments)
        configuration.idleUnloadSeconds = settings.start == .always ? 0 : settings.idleUnload
        configuration.requestTimeout = settings.requestTimeout
        configuration.startTimeout = settings.startTimeout
        loader = Stage2Loader(configuration: configuration) { event in
            let report: Stage2Report
            switch event {
            case .loading:
                report = Stage2Report(state: "loading")
                logger.info("stage 2: starting the worker")
            case let .ready(ms, timings):
                report = Stage2Report(state: "ready", milliseconds: ms,
                                      numbers: ["whisper_ms", "llm_ms", "rss_mb", "expert_slots"].compactMap { key in timings[key].map { .init(key, $0) } })
                logger.info("stage 2: worker ready", metadata: ["ms": "\(Int(ms))", "rss_mb": "\(Int(timings["rss_mb"] ?? 0))"])
            case let .unloaded(reason):
                report = Stage2Report(state: "unloaded", strings: [.init("reason", reason)])
                logger.info("stage 2: worker stopped (\(reason))")
            case let .failed(message):
                report = Stage2Report(state: "failed", strings: [.init("message", message)])
                logger.error("stage 2: \(message)")
            }
            sink.emit(.stage2(report))
        }
    }

    /// Checks what can be checked before the first request: the worker and the model files exist.
    public static func check(_ settings: Stage2Settings) throws(DaemonError) {
        guard access(settings.worker, X_OK) == 0 else {
            throw DaemonError("stage2.worker: \(settings.worker) is not an executable (make build puts hark-stage2 beside harkd)")
        }
        guard access(settings.model, R_OK) == 0 else { throw DaemonError("stage2.model: cannot read \(settings.model)") }
        if let whisper = settings.whisper, access(whisper + "/model.bin", R_OK) != 0 {
            throw DaemonError("stage2.whisper: no model.bin in \(whisper)")
        }
        if let name = settings.remote?.apiKeyEnvironment, getenv(name) == nil {
            throw DaemonError("stage2.openai.api_key_env: \(name) is not set in harkd's environment")
        }
        if let directory = settings.cacheDirectory {
            if access(directory, F_OK) != 0, mkdir(directory, 0o700) != 0 {
                throw DaemonError("stage2.cache_dir: cannot create \(directory): \(String(cString: strerror(errno)))")
            }
            guard access(directory, W_OK) == 0 else { throw DaemonError("stage2.cache_dir: \(directory) is not writable") }
        }
    }

    // MARK: Service

    public func run() async throws {
        if settings.start == .always { prewarm() }
        scheduleIdleCheck()
        try? await gracefulShutdown()
        await drain()
        stopping.store(true, ordering: .relaxed)
        queue.sync { loader.stop() }
    }

    /// Waits for the requests queued so far.
    func drain() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in queue.async { done.resume() } }
    }

    /// Every few seconds on the queue (between requests), the worker is stopped if it has been idle.
    private func scheduleIdleCheck() {
        guard settings.start != .always else { return }
        let every = max(0.5, min(5, settings.idleUnload / 4))
        queue.asyncAfter(deadline: .now() + every) { [self] in
            guard !stopping.load(ordering: .relaxed) else { return }
            loader.unloadIfIdle()
            scheduleIdleCheck()
        }
    }

    // MARK: Requests

    /// The wake word was heard: with `on_wake` the worker starts loading now.
    public func heardWake() {
        guard settings.start == .onWake else { return }
        prewarm()
    }

    /// Starts the worker and primes it with the catalog (on the queue, ahead of any request).
    private func prewarm() {
        queue.async { [self] in
            do throws(Stage2Error) {
                _ = try load()
                if let catalog = current().catalog { _ = try prime(Stage2Prompt(catalog: catalog, maxActions: settings.maxActions)) }
            } catch { logger.debug("stage 2: prewarm failed: \(error.message)") }
        }
    }

    /// The catalog part of the prompt into the worker's cache; its milliseconds (0 when it was there).
    private func prime(_ prompt: Stage2Prompt) throws(Stage2Error) -> Double {
        let primed = try loader.prime(prefix: prompt.prefix)
        guard primed.source != "cached" else { return 0 }
        var numbers: [Stage2Report.Pair<Double>] = [.init("tokens", Double(primed.tokens))]
        if let saved = primed.savedMilliseconds { numbers.append(.init("saved_ms", saved)) }
        sink.emit(.stage2(Stage2Report(state: "primed", milliseconds: primed.milliseconds, strings: [.init("from", primed.source)], numbers: numbers)))
        logger.info("stage 2: catalog prefix \(primed.source)", metadata: ["tokens": "\(primed.tokens)", "ms": "\(Int(primed.milliseconds))"])
        return primed.milliseconds
    }

    /// Stage 1 rejected an utterance whose audio is in the handoff under `id`. The actions' latency
    /// counts from its end-of-speech decision, which the handoff keeps with it.
    public func handle(rejected id: String) {
        queue.async { [self] in spoken(id: id) }
    }

    /// A text stage 1's grammar did not match (`say`): understood and, unless `dryRun`, dispatched.
    public func understand(text: String, dryRun: Bool) async throws(DaemonError) -> Outcome {
        let started = ContinuousClock.now
        let result: Result<Outcome, DaemonError> = await withCheckedContinuation { done in
            queue.async { [self] in
                do throws(DaemonError) {
                    var timings = Timings()
                    let outcome = try answer(text, timings: &timings)
                    report(outcome, timings: timings, started: started, audio: nil)
                    done.resume(returning: .success(outcome))
                } catch {
                    done.resume(returning: .failure(error))
                }
            }
        }
        var outcome = try result.get()
        if !dryRun, !outcome.actions.isEmpty {
            outcome.results = await submit(outcome.actions.map { ActionDispatcher.Request(action: $0) }, .voice(stage: 2), started)
        }
        return outcome
    }

    struct Timings {
        var loadMilliseconds = 0.0
        var primeMilliseconds = 0.0
        var transcribeMilliseconds = 0.0
        var generation: Stage2Generation?
        var remote: Stage2Remote.Answer?
        /// Who transcribed a spoken request: `worker`, or stage 1's `second_pass`.
        var transcriptBy: String?
    }

    /// On the queue: one rejected utterance, end to end.
    private func spoken(id: String) {
        guard let utterance = handoff.take(id: id) else {
            logger.warning("stage 2: utterance \(id) is no longer kept (more were rejected while it waited)")
            return
        }
        var timings = Timings()
        let text: String
        do throws(Stage2Error) {
            timings.loadMilliseconds = try load()
            if takesSecondPassTranscripts, let transcript = utterance.transcript {
                // Stage 1's second pass ran the same Whisper on the utterance's speech (from the
                // voice-activity detector's onset to its end, where the worker hears all of it).
                text = transcript
                timings.transcriptBy = "second_pass"
            } else {
                let transcript = try loader.transcribe(utterance.samples)
                timings.transcribeMilliseconds = transcript.milliseconds
                text = transcript.text
                timings.transcriptBy = "worker"
            }
        } catch {
            sink.emit(.error(kind: "stage2", message: error.message, t: nil))
            return
        }
        sink.emit(.transcript(stage: 2, text: text))
        guard text.contains(where: { $0.isLetter || $0.isNumber }) else {
            sink.emit(.rejected(stage: 2, reason: "no_speech", audio: id))
            return
        }
        let outcome: Outcome
        do { outcome = try answer(text, timings: &timings) } catch {
            sink.emit(.error(kind: "stage2", message: error.message, t: nil))
            return
        }
        report(outcome, timings: timings, started: utterance.endedAt, audio: id)
        guard !outcome.actions.isEmpty else {
            sink.emit(.rejected(stage: 2, reason: "no_actions", audio: id))
            return
        }
        // Dispatched before the queue moves on: draining the queue at shutdown then means every
        // answer's actions went out before the transports stop (a detached dispatch could still be
        // waiting to enter the dispatch gate when they stopped).
        let submit = self.submit, sink = self.sink
        let done = DispatchSemaphore(value: 0)
        Task {
            if await submit(outcome.actions.map { ActionDispatcher.Request(action: $0) }, .voice(stage: 2), utterance.endedAt) == nil {
                sink.emit(.error(kind: "stage2", message: "no device catalog: the actions were not dispatched", t: nil))
            }
            done.signal()
        }
        done.wait()
    }

    /// Starts the worker if it is not running; the milliseconds it took (0: it was running).
    private func load() throws(Stage2Error) -> Double {
        guard !loader.isLoaded else { return 0 }
        let t0 = ContinuousClock.now
        try loader.prewarm()
        return (ContinuousClock.now - t0) / .milliseconds(1)
    }

    /// On the queue: the actions for a text — the stage-1 grammar's, else the model's.
    private func answer(_ text: String, timings: inout Timings) throws(DaemonError) -> Outcome {
        let (catalog, grammar) = current()
        guard let catalog else { throw DaemonError("stage 2: harkd has no device catalog (--catalog)") }
        if let actions = grammar?.parse(text) {
            return Outcome(text: text, actions: actions, via: "grammar")
        }
        let prompt = Stage2Prompt(catalog: catalog, maxActions: settings.maxActions)
        if let remote = settings.remote {
            do throws(DaemonError) {
                let answer = try remote.answer(text, prompt: prompt, maxTokens: settings.maxTokens)
                timings.remote = answer
                return Outcome(text: text, actions: answer.actions, via: "openai")
            } catch {
                // The server's trouble is reported, and the local worker answers instead.
                sink.emit(.stage2(Stage2Report(state: "fallback", strings: [.init("message", error.message)])))
                logger.warning("stage 2: the OpenAI-compatible server failed, the local worker answers: \(error.message)")
            }
        }
        do {
            timings.loadMilliseconds += try load()
            timings.primeMilliseconds = try prime(prompt)
            let generation = try loader.generate(prompt: prompt.prompt(for: text), maxTokens: settings.maxTokens, grammar: prompt.grammar)
            timings.generation = generation
            guard generation.text.hasSuffix("\n") else {
                throw DaemonError("stage 2: the model's answer did not end within \(settings.maxTokens) tokens (stage2.max_tokens): \(Stage2Prompt.head(generation.text))")
            }
            return Outcome(text: text, actions: try Stage2Prompt.actions(in: generation.text), via: "model")
        } catch let error as Stage2Error {
            throw DaemonError("stage 2: \(error.message)")
        } catch let error as DaemonError {
            throw error
        } catch {
            throw DaemonError("stage 2: \(error)")
        }
    }

    private func report(_ outcome: Outcome, timings: Timings, started: ContinuousClock.Instant, audio: String?) {
        var numbers: [Stage2Report.Pair<Double>] = [.init("load_ms", timings.loadMilliseconds)]
        if audio != nil { numbers.append(.init("transcribe_ms", timings.transcribeMilliseconds)) }
        if let generation = timings.generation {
            numbers += [.init("prime_ms", timings.primeMilliseconds),.init("prefill_ms", generation.prefillMilliseconds), .init("decode_ms", generation.decodeMilliseconds),
                        .init("prompt_tokens", Double(generation.promptTokens)), .init("reused_tokens", Double(generation.reusedTokens)),
                        .init("tokens", Double(generation.tokens))]
            if let constraint = generation.constraintMicroseconds { numbers.append(.init("constraint_us", constraint)) }
            if let passes = generation.passes { numbers.append(.init("decode_passes", Double(passes))) }
            if let rate = generation.expertHitRate { numbers.append(.init("expert_hit_rate", rate)) }
        }
        if let remote = timings.remote {
            numbers.append(.init("remote_ms", remote.milliseconds))
            if let tokens = remote.promptTokens { numbers.append(.init("prompt_tokens", Double(tokens))) }
            if let tokens = remote.completionTokens { numbers.append(.init("tokens", Double(tokens))) }
        }
        var strings: [Stage2Report.Pair<String>] = [.init("via", outcome.via), .init("text", outcome.text)]
        if let audio { strings.append(.init("audio", audio)) }
        if let by = timings.transcriptBy { strings.append(.init("transcript_by", by)) }
        var report = Stage2Report(state: "answered", milliseconds: (ContinuousClock.now - started) / .milliseconds(1),
                                  strings: strings, numbers: numbers)
        report.actions = outcome.actions.map(\.jsonText)
        sink.emit(.stage2(report))
    }
}
