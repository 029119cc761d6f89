#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What the worker heard.
public struct Stage2Transcript: Sendable, Equatable {
    public let text: String
    public let logProbability: Double
    public let milliseconds: Double
}

/// What the worker's language model wrote.
public struct Stage2Generation: Sendable, Equatable {
    public let text: String
    public let promptTokens: Int
    /// How many of the prompt's first tokens the worker had computed already (its cache).
    public let reusedTokens: Int
    public let tokens: Int
    public let prefillMilliseconds: Double
    public let decodeMilliseconds: Double
    /// With a grammar: the constraint's cost per generated token (µs).
    public let constraintMicroseconds: Double?
    /// Under a memory budget (`--memory-budget`): the expert cache's hit rate since the worker started.
    public var expertHitRate: Double? = nil
    /// With a grammar: the model's passes over generated tokens (fewer than `tokens` when the tokens
    /// the grammar forces were speculated), and how many tokens were speculated and kept.
    public var passes: Int? = nil
    public var draftedTokens: Int? = nil
    public var acceptedTokens: Int? = nil
}

/// What `prime` did with a prompt's fixed start.
public struct Stage2Prime: Sendable, Equatable {
    /// `computed`, `disk` (restored from the worker's cache directory) or `cached` (already there).
    public let source: String
    public let tokens: Int
    /// Computing it (`computed`), or restoring it and what that saved against computing (`disk`).
    public let milliseconds: Double
    public let savedMilliseconds: Double?
}

/// Brings the stage-2 worker up on demand, talks to it, and drops it when idle.
///
/// The worker is a separate process (`hark-stage2`), so a crash, a bad model file or a runaway request
/// costs only the worker: the request fails with a one-line error, a `failed` event says what
/// happened, and the next request starts a fresh worker. Its models are mapped by the worker, not
/// copied, and all its memory goes back to the system when it exits.
///
/// Every call blocks its thread until the worker answers (or the time limit passes, when the worker is
/// killed): call it from a thread of its own, not from the cooperative pool. Calls are serialised.
/// `onEvent` runs inside the loader's lock and must not call back into it.
public final class Stage2Loader: Sendable {
    public struct Configuration: Sendable {
        /// The worker executable (absolute path) and its arguments (model paths, threads).
        public var executable: String
        public var arguments: [String]
        public var environment: [String] = []
        /// The worker is stopped after this many seconds without a request (0: never).
        public var idleUnloadSeconds: Double = 60
        /// Time allowed for starting and loading the models.
        public var startTimeout: Double = 60
        /// Time allowed for one request.
        public var requestTimeout: Double = 30

        public init(executable: String, arguments: [String]) {
            self.executable = executable
            self.arguments = arguments
        }
    }

    public enum Event: Sendable, Equatable {
        /// A worker is being started.
        case loading
        /// It has loaded its models: the time since `loading`, and the worker's own timings.
        case ready(milliseconds: Double, timings: [String: Double])
        /// It was stopped: `idle` or `stopped`.
        case unloaded(reason: String)
        /// It failed (crashed, timed out, refused its models); the message says how.
        case failed(message: String)
    }

    private struct State {
        var process: Stage2Process?
        var lastUsed = 0.0
        var nextId = 1
    }

    public let configuration: Configuration
    private let state = Mutex(State())
    private let onEvent: @Sendable (Event) -> Void

    public init(configuration: Configuration, onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.configuration = configuration
        self.onEvent = onEvent
    }

    deinit { stop() }

    /// Whether a worker is running.
    public var isLoaded: Bool { state.withLock { $0.process != nil } }

    /// The running worker's process id.
    public var workerPID: Int32? { state.withLock { $0.process?.pid } }

    /// Starts the worker if it is not running (the `on_wake` and `always` policies).
    public func prewarm() throws(Stage2Error) {
        try state.withLock { (s: inout State) throws(Stage2Error) in
            _ = try start(&s)
            s.lastUsed = monotonicNow()
        }
    }

    /// Transcribes 16 kHz mono samples.
    public func transcribe(_ samples: [Int16]) throws(Stage2Error) -> Stage2Transcript {
        let answer = try exchange(Stage2Message(op: "transcribe"), audio: samples, expecting: "transcript")
        return Stage2Transcript(text: answer.text ?? "", logProbability: answer.logProbability ?? 0,
                                milliseconds: answer.timings?["transcribe_ms"] ?? 0)
    }

    /// Greedy generation from `prompt` (special tokens in it are parsed), up to `maxTokens` or the
    /// first of `stop`; with `grammar`, every token is held to it and generation ends with its line.
    public func generate(prompt: String, maxTokens: Int, stop: [String] = [],
                         grammar: ActionGrammar.Spec? = nil, speculate: Bool = true) throws(Stage2Error) -> Stage2Generation {
        var request = Stage2Message(op: "generate")
        request.prompt = prompt
        request.maxTokens = maxTokens
        request.stop = stop.isEmpty ? nil : stop
        request.grammar = grammar
        request.speculate = speculate ? nil : false
        let answer = try exchange(request, audio: nil, expecting: "generated")
        return Stage2Generation(text: answer.text ?? "", promptTokens: answer.promptTokens ?? 0,
                                reusedTokens: answer.reusedTokens ?? 0, tokens: answer.tokens ?? 0,
                                prefillMilliseconds: answer.timings?["prefill_ms"] ?? 0,
                                decodeMilliseconds: answer.timings?["decode_ms"] ?? 0,
                                constraintMicroseconds: answer.timings?["constraint_us"], expertHitRate: answer.timings?["expert_hit_rate"],
                                passes: answer.timings?["decode_passes"].map { Int($0) },
                                draftedTokens: answer.timings?["drafted_tokens"].map { Int($0) },
                                acceptedTokens: answer.timings?["accepted_tokens"].map { Int($0) })
    }

    /// Puts the fixed start of the prompts to come (the catalog part) into the worker's cache.
    public func prime(prefix: String) throws(Stage2Error) -> Stage2Prime {
        var request = Stage2Message(op: "prime")
        request.prompt = prefix
        let answer = try exchange(request, audio: nil, expecting: "primed")
        let timings = answer.timings ?? [:]
        return Stage2Prime(source: answer.text ?? "", tokens: answer.promptTokens ?? 0,
                           milliseconds: timings["prefill_ms"] ?? timings["restore_ms"] ?? 0, savedMilliseconds: timings["saved_ms"])
    }

    /// Stops the worker if it has been idle for `idleUnloadSeconds`; call it now and then.
    public func unloadIfIdle() {
        state.withLock { s in
            guard configuration.idleUnloadSeconds > 0, s.process != nil,
                  monotonicNow() - s.lastUsed >= configuration.idleUnloadSeconds else { return }
            shutDown(&s, reason: "idle")
        }
    }

    /// Stops the worker (harkd's shutdown).
    public func stop() {
        state.withLock { s in
            if s.process != nil { shutDown(&s, reason: "stopped") }
        }
    }

    // MARK: Inside the lock

    private func shutDown(_ s: inout State, reason: String) {
        guard let process = s.process else { return }
        s.process = nil
        try? process.channel.send(.message(Stage2Message(op: "quit")))
        process.finish(within: 2)
        onEvent(.unloaded(reason: reason))
    }

    private func start(_ s: inout State) throws(Stage2Error) -> Stage2Process {
        if let process = s.process {
            guard let ended = process.reap(block: false) else { return process }
            s.process = nil
            onEvent(.failed(message: "stage-2 worker (pid \(process.pid)) \(ended) while idle"))
        }
        onEvent(.loading)
        let t0 = monotonicNow()
        let process: Stage2Process
        do {
            process = try Stage2Process(executable: configuration.executable, arguments: configuration.arguments,
                                        environment: configuration.environment)
        } catch {
            onEvent(.failed(message: error.message))
            throw error
        }
        do throws(Stage2Error) {
            let frame = try process.channel.receive(until: t0 + configuration.startTimeout)
            guard case let .message(ready) = frame, ready.op == "ready" else {
                if case let .message(answer) = frame, answer.op == "error" {
                    throw Stage2Error(.workerError, answer.message ?? "stage-2 worker failed to start")
                }
                throw Stage2Error(.badFrame, "stage-2 worker (pid \(process.pid)): expected 'ready' first")
            }
            s.process = process
            s.lastUsed = monotonicNow()
            onEvent(.ready(milliseconds: (s.lastUsed - t0) * 1000, timings: ready.timings ?? [:]))
            return process
        } catch {
            let how = error.code == .workerError ? process.finish(within: 2) : process.kill()
            let failure = Stage2Error(error.code, "\(error.message) (the worker \(how))")
            onEvent(.failed(message: failure.message))
            throw failure
        }
    }

    private func exchange(_ request: Stage2Message, audio: [Int16]?, expecting op: String) throws(Stage2Error) -> Stage2Message {
        try state.withLock { (s: inout State) throws(Stage2Error) -> Stage2Message in
            // A worker that died while idle (killed, out of memory) may not have been reaped yet when
            // the request comes: the request cannot even be written to it. That is reported, and the
            // request goes to a fresh worker, once.
            var retried = false
            while true {
                let wasRunning = s.process != nil
                let process = try start(&s)
                var request = request
                request.id = s.nextId
                s.nextId += 1
                var sent = false
                do throws(Stage2Error) {
                    try process.channel.send(.message(request))
                    sent = true
                    if let audio { try process.channel.send(.audio(audio)) }
                    let deadline = monotonicNow() + configuration.requestTimeout
                    while true {
                        guard case let .message(answer) = try process.channel.receive(until: deadline) else {
                            throw Stage2Error(.badFrame, "stage-2 worker (pid \(process.pid)): sent audio, which only harkd sends")
                        }
                        if answer.op == "error" && (answer.id == request.id || answer.id == nil) {
                            let refused = Stage2Error(.workerError, answer.message ?? "stage-2 worker: '\(request.op)' failed")
                            // A request it refuses leaves the worker running; an error without an id ends it.
                            if answer.id != nil {
                                s.lastUsed = monotonicNow()
                                throw refused
                            }
                            throw Stage2Error(.workerEnded, refused.message)
                        }
                        guard answer.id == request.id else { continue }
                        guard answer.op == op else {
                            throw Stage2Error(.badFrame, "stage-2 worker (pid \(process.pid)): answered '\(request.op)' with '\(answer.op)'")
                        }
                        s.lastUsed = monotonicNow()
                        return answer
                    }
                } catch {
                    if error.code == .workerError { throw error }
                    s.process = nil
                    let how = error.code == .workerEnded ? process.finish(within: 1) : process.kill()
                    if wasRunning && !sent && !retried && (error.code == .workerEnded || error.code == .io) {
                        onEvent(.failed(message: "stage-2 worker (pid \(process.pid)) \(how) while idle (\(error.message))"))
                        retried = true
                        continue
                    }
                    let failure = Stage2Error(error.code, "\(error.message); the worker \(how)")
                    onEvent(.failed(message: failure.message))
                    throw failure
                }
            }
        }
    }
}
