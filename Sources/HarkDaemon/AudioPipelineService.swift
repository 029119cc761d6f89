#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HarkAudio
import HarkCommands
import HarkDevices
import Logging
import ServiceLifecycle

/// Runs stage 1 on a dedicated thread: blocking reads from the audio source, 80 ms chunks through the
/// wake pipeline and, after a wake event, the command stage; events to the sink. Commands go to the
/// dispatcher as voice actions (stage 1) from a task of their own, so the audio thread never waits
/// for a device; at end of input, the commands already heard are dispatched before `run` returns. With a file or stdin it runs as fast as it can and returns at end
/// of input; with a live device it runs until graceful shutdown (SIGINT/SIGTERM) cancels the source.
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

    /// A command heard, on its way to the dispatcher.
    struct Heard: Sendable {
        let actions: [Action]
        let endedAt: ContinuousClock.Instant
    }

    private let state: State
    private let sink: EventSink
    private let logger: Logger
    private let dispatcher: ActionDispatcher?
    private let feedback: Feedback?

    /// `commands` listens after each wake word (nil: wake words only); its actions go to `dispatcher`.
    public init(source: any AudioSource, pipeline: WakePipeline, commands: CommandStage? = nil, dispatcher: ActionDispatcher? = nil,
                feedback: Feedback? = nil, sink: EventSink, logger: Logger) {
        self.state = State(source: source, stage: Stage1(pipeline: pipeline, commands: commands, feedback: feedback, logger: logger))
        self.sink = sink
        self.logger = logger
        self.dispatcher = dispatcher
        self.feedback = feedback
    }

    public func run() async throws {
        let source = state.source
        let (heard, commands) = AsyncStream.makeStream(of: Heard.self)
        let dispatching = Task { [dispatcher, feedback, sink] in
            for await command in heard {
                guard let dispatcher else {
                    sink.emit(.error(kind: "commands", message: "no device catalog: the command was not dispatched", t: nil))
                    continue
                }
                let results = await dispatcher.submit(command.actions.map { ActionDispatcher.Request(action: $0) }, source: .voice(stage: 1),
                                                      since: command.endedAt)
                feedback?.play(results.allSatisfy { $0.status == .ok } ? .confirm : .error)
            }
        }
        // However the audio ends, the commands already heard are dispatched and the sounds stopped.
        var failure: (any Error)?
        do {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    startThread { [state, sink, logger] in
                        do {
                            try Self.loop(state, sink: sink, commands: commands, logger: logger)
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

    private static func loop(_ state: State, sink: EventSink, commands: AsyncStream<Heard>.Continuation,
                             logger: Logger) throws {
        let chunkSamples = 1280
        let chunk = UnsafeMutableBufferPointer<Int16>.allocate(capacity: chunkSamples)
        defer { chunk.deallocate() }
        var filled = 0
        let started = ContinuousClock.now
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
                sink.emit(.error(kind: "audio", message: "\(error)", t: state.pipeline.time))
                throw error
            }
            if n == 0 { break }
            filled += n
            guard filled == chunkSamples else { continue }
            filled = 0
            deliver(state.stage.process(UnsafeBufferPointer(chunk)))
        }
        deliver(state.stage.finish())
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
