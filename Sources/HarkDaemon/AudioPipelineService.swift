#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HarkAudio
import HarkCommands
import HarkDevices
import HarkPower
import Logging
import ServiceLifecycle
import Synchronization

/// How the pipeline hands commands to the devices: runs the requests as one batch from `source` and
/// returns the results; nil when there is no device catalog. The daemon's goes through its dispatch
/// gate, so a configuration reload never swaps the dispatcher under a running action.
public typealias ActionSubmitter = @Sendable (_ requests: [ActionDispatcher.Request], _ source: ActionSource,
                                              _ since: ContinuousClock.Instant?) async -> [ActionDispatcher.Result]?

/// Runs stage 1 on a dedicated thread: blocking reads from the audio source, 80 ms chunks through the
/// wake pipeline and, after a wake event, the command stage; events to the sink. Commands go to the
/// dispatcher as voice actions (stage 1) from a task of their own, so the audio thread never waits
/// for a device; at end of input, the commands already heard are dispatched before `run` returns. With a file or stdin it runs as fast as it can and returns at end
/// of input; with a live device it runs until graceful shutdown (SIGINT/SIGTERM) cancels the source.
///
/// Other threads talk to the audio thread only through ``status``, ``requestListen(source:)`` and
/// ``replaceCommands(_:)``, which it picks up at the next chunk. It feeds systemd's watchdog for
/// every chunk read, so the pings stop when frames stop moving.
public final class AudioPipelineService: Service, Sendable {
    /// Everything the audio thread touches; only that thread uses it once `run` starts.
    private final class State: @unchecked Sendable {
        let source: any AudioSource
        let stage: Stage1
        var pipeline: WakePipeline { stage.pipeline }
        init(source: any AudioSource, stage: Stage1) {
            self.source = source
            self.stage = stage
        }
    }

    /// A command stage on its way to the audio thread, which owns it from then on.
    private final class StageBox: @unchecked Sendable {
        let stage: CommandStage
        init(_ stage: CommandStage) { self.stage = stage }
    }

    /// What other threads asked the audio thread to do at its next chunk.
    private struct Requests {
        var listen: String?
        var commands: StageBox?
    }

    /// What the pipeline is doing, for `status`.
    public struct Status: Sendable, Equatable {
        public enum State: String, Sendable { case starting, running, ended, failed }
        public struct Wake: Sendable, Equatable {
            public let word: String
            public let score: Double
            public let t: Double
        }
        public var state = State.starting
        public var input: String
        /// Seconds of audio processed.
        public var seconds = 0.0
        public var chunks = 0
        /// Chunks the wake-word models ran on (the others were skipped as silence).
        public var chunksComputed = 0
        /// Chunks the voice-activity detector judged speech (nil when it does not gate).
        public var gateOpenChunks: Int?
        public var counters = AudioCounters()
        public var lastFrame: ContinuousClock.Instant?
        /// An utterance is being captured (after a wake word or `listen`).
        public var listening = false
        public var wakes = 0
        public var lastWake: Wake?
        public var commands = 0
        public var rejected = 0
        /// The command stage exists (harkd runs without --no-commands).
        public var hasCommands = false

        /// Frames arrived within the last second.
        public var framesMoving: Bool { lastFrame.map { ContinuousClock.now - $0 < .seconds(1) } ?? false }
    }

    /// A command heard, on its way to the dispatcher.
    struct Heard: Sendable {
        let actions: [Action]
        let endedAt: ContinuousClock.Instant
    }

    private let state: State
    private let sink: EventSink
    private let logger: Logger
    private let submit: ActionSubmitter?
    private let feedback: Feedback?
    private let notifier: SystemdNotifier?
    private let statusState: Mutex<Status>
    private let requests = Mutex(Requests())
    /// The always-on stage's CPU account and governor; nil: not measured.
    public let power: PowerMeter?
    private let energy: StageTwoEnergy?

    /// `commands` listens after each wake word (nil: wake words only); its actions go to `submit`.
    /// `input` names the source in `status`.
    public init(source: any AudioSource, input: String, pipeline: WakePipeline, commands: CommandStage? = nil,
                submit: ActionSubmitter? = nil, feedback: Feedback? = nil, notifier: SystemdNotifier? = nil,
                power: PowerMeter? = nil, energy: StageTwoEnergy? = nil, sink: EventSink, logger: Logger) {
        self.state = State(source: source, stage: Stage1(pipeline: pipeline, commands: commands, feedback: feedback, logger: logger))
        self.power = power
        self.energy = energy
        self.sink = sink
        self.logger = logger
        self.submit = submit
        self.feedback = feedback
        self.notifier = notifier
        var status = Status(input: input)
        status.hasCommands = commands != nil
        status.gateOpenChunks = pipeline.gates ? 0 : nil
        statusState = Mutex(status)
    }

    public var status: Status { statusState.withLock { $0 } }

    /// Push-to-talk: the command stage listens from the next chunk on, as if the wake word had
    /// fired. False when there is no command stage.
    public func requestListen(source: String) -> Bool {
        guard statusState.withLock({ $0.hasCommands }) else { return false }
        requests.withLock { $0.listen = source }
        return true
    }

    /// Hands a command stage built for a new catalog to the audio thread; it takes it at the next
    /// chunk, or after the command being heard.
    public func replaceCommands(_ stage: CommandStage) {
        requests.withLock { $0.commands = StageBox(stage) }
    }

    public func run() async throws {
        let source = state.source
        let (heard, commands) = AsyncStream.makeStream(of: Heard.self)
        let dispatching = Task { [submit, feedback, sink] in
            for await command in heard {
                guard let results = await submit?(command.actions.map { ActionDispatcher.Request(action: $0) }, .voice(stage: 1), command.endedAt) else {
                    sink.emit(.error(kind: "commands", message: "no device catalog: the command was not dispatched", t: nil))
                    continue
                }
                feedback?.play(results.allSatisfy { $0.status == .ok } ? .confirm : .error)
            }
        }
        // However the audio ends, the commands already heard are dispatched and the sounds stopped.
        var failure: (any Error)?
        do {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    startThread { [self] in
                        do {
                            try self.loop(commands: commands)
                            continuation.resume()
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                }
            } onGracefulShutdown: {
                source.cancel()
            }
        } catch {
            failure = error
        }
        commands.finish()
        await dispatching.value
        await feedback?.shutdown()
        if let failure { throw failure }
    }

    /// Applies what other threads asked for (before the chunk is processed).
    private func takeRequests() -> [Stage1.Output] {
        let pending = requests.withLock { requests -> Requests in
            defer { requests.listen = nil }
            return requests
        }
        if let box = pending.commands, state.stage.replaceCommands(box.stage) {
            requests.withLock { if $0.commands === box { $0.commands = nil } }
            statusState.withLock { $0.hasCommands = true }
            logger.info("command stage replaced (configuration reloaded)")
        }
        guard let source = pending.listen, let output = state.stage.listenNow(source: source) else { return [] }
        return [output]
    }

    /// Records a chunk's results in the status.
    private func account(_ outputs: [Stage1.Output]) {
        let pipeline = state.pipeline
        let counters = state.source.counters
        let listening = state.stage.commands?.isListening ?? false
        statusState.withLock { status in
            status.state = .running
            status.seconds = pipeline.time
            status.chunks = pipeline.engine.chunkIndex
            status.chunksComputed = pipeline.engine.chunksComputed
            if pipeline.gates { status.gateOpenChunks = pipeline.activity.openChunks }
            status.counters = counters
            status.lastFrame = .now
            status.listening = listening
            for output in outputs {
                switch output {
                case let .event(.wake(word, score, t)):
                    status.wakes += 1
                    status.lastWake = Status.Wake(word: word, score: score, t: t)
                case .event(.rejected): status.rejected += 1
                case .command: status.commands += 1
                default: break
                }
            }
        }
    }

    private let chunkSamples = 1280

    /// After each chunk: its CPU into the account (less the second pass, which is stage 2), the
    /// governor's verdict applied, a power report every 10 s of audio.
    private func govern(_ power: PowerMeter, clock: inout StageClock) {
        if let taken = energy?.takeAudioThreadCPU(), taken > 0 { clock.remove(taken, from: \.commands) }
        let t = state.pipeline.time
        let outcome = power.record(clock.take(), seconds: Double(chunkSamples) / Double(VoiceActivityGate.sampleRate), at: t)
        if let change = outcome.change {
            let snapshot = power.snapshot
            if case .cannotMeet = change {} else { state.pipeline.apply(snapshot.throttle) }
            let event = GovernorChange(change, budget: snapshot.budgetMilliwatts ?? 0, level: snapshot.level, t: t)
            let metadata: Logger.Metadata = ["lever": "\(event.lever ?? "-")", "level": "\(event.level)",
                                             "stage_mw": "\(Event.number(event.stageMilliwatts, digits: 2))",
                                             "budget_mw": "\(Event.number(event.budgetMilliwatts, digits: 3))", "t": "\(Event.number(t, digits: 2))"]
            switch change {
            case .throttle: logger.notice("power over budget: lever taken", metadata: metadata)
            case .relax: logger.notice("power under budget: lever given back", metadata: metadata)
            case .cannotMeet:
                logger.warning("power: every lever is taken and the always-on stage still needs \(Event.number(event.stageMilliwatts, digits: 1)) mW, over the \(Event.number(event.budgetMilliwatts, digits: 3)) mW budget; going on", metadata: metadata)
            }
            sink.emit(.governor(event))
        }
        if outcome.report { sink.emit(.power(PowerReport(power.snapshot, t: t))) }
    }

    private func loop(commands: AsyncStream<Heard>.Continuation) throws {
        let chunk = UnsafeMutableBufferPointer<Int16>.allocate(capacity: chunkSamples)
        defer { chunk.deallocate() }
        var filled = 0
        var live = false
        let started = ContinuousClock.now
        let sink = self.sink
        // The always-on stage's CPU, by part, from this thread's CPU clock.
        var clock = StageClock()
        if let power {
            clock.start()
            for step in power.skipped {
                logger.info("power lever not available", metadata: ["lever": "\(step.lever.rawValue)", "why": "\(step.unavailable ?? "")"])
            }
        }
        func deliver(_ outputs: [Stage1.Output]) {
            for output in outputs {
                switch output {
                case let .event(event): sink.emit(event)
                case let .command(actions, endedAt): commands.yield(Heard(actions: actions, endedAt: endedAt))
                }
            }
        }
        while true {
            let n: Int
            do {
                n = try state.source.read(into: UnsafeMutableBufferPointer(rebasing: chunk[filled...]))
            } catch {
                statusState.withLock { $0.state = .failed }
                sink.emit(.error(kind: "audio", message: "\(error)", t: state.pipeline.time))
                throw error
            }
            if n == 0 { break }
            if power != nil { clock.lap(\.capture) }
            filled += n
            guard filled == chunkSamples else { continue }
            filled = 0
            if !live {
                live = true
                notifier?.markLive(.audio)
            }
            notifier?.watchdog()
            let requested = takeRequests()
            deliver(requested)
            let outputs = power == nil ? state.stage.process(UnsafeBufferPointer(chunk))
                : state.stage.process(UnsafeBufferPointer(chunk), clock: &clock)
            account(requested + outputs)
            deliver(outputs)
            if let power { govern(power, clock: &clock) }
        }
        let last = state.stage.finish()
        account(last)
        statusState.withLock { $0.state = .ended; $0.listening = false }
        deliver(last)
        let audio = state.pipeline.time
        let elapsed = started.duration(to: .now)
        let pipeline = state.pipeline
        logger.info("audio input ended", metadata: [
            "audio_s": "\(audio)",
            "wall_s": "\(elapsed / .seconds(1))",
            "chunks": "\(state.pipeline.engine.chunkIndex)",
            "chunks_computed": "\(state.pipeline.engine.chunksComputed)",
            "gate_open_chunks": "\(pipeline.gates ? "\(pipeline.activity.openChunks)" : "off")",
            "overruns": "\(state.source.counters.overruns)",
        ])
    }
}

/// Runs `body` on a new detached POSIX thread (the blocking audio loop must not occupy a thread of
/// Swift's cooperative pool); a process that cannot make a thread cannot run at all.
func startThread(_ body: @escaping @Sendable () -> Void) {
    precondition(startDetachedThread(body), "pthread_create failed")
}
