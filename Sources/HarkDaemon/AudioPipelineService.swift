#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HarkAudio
import Logging
import ServiceLifecycle

/// Runs stage 1 on a dedicated thread: blocking reads from the audio source, 80 ms chunks through the
/// wake pipeline, events to the sink. With a file or stdin it runs as fast as it can and returns at end
/// of input; with a live device it runs until graceful shutdown (SIGINT/SIGTERM) cancels the source.
public final class AudioPipelineService: Service, Sendable {
    /// Everything the audio thread touches; only that thread uses it once `run` starts.
    private final class State: @unchecked Sendable {
        let source: any AudioSource
        let pipeline: WakePipeline
        init(source: any AudioSource, pipeline: WakePipeline) {
            self.source = source
            self.pipeline = pipeline
        }
    }

    private let state: State
    private let sink: EventSink
    private let logger: Logger

    public init(source: any AudioSource, pipeline: WakePipeline, sink: EventSink, logger: Logger) {
        self.state = State(source: source, pipeline: pipeline)
        self.sink = sink
        self.logger = logger
    }

    public func run() async throws {
        let source = state.source
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                startThread { [state, sink, logger] in
                    do {
                        try Self.loop(state, sink: sink, logger: logger)
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } onGracefulShutdown: {
            source.cancel()
        }
    }

    private static func loop(_ state: State, sink: EventSink, logger: Logger) throws {
        let chunkSamples = 1280
        let chunk = UnsafeMutableBufferPointer<Int16>.allocate(capacity: chunkSamples)
        defer { chunk.deallocate() }
        var filled = 0
        let started = ContinuousClock.now
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
            for event in state.pipeline.process(UnsafeBufferPointer(chunk)) { sink.emit(event) }
        }
        let audio = state.pipeline.time
        let elapsed = started.duration(to: .now)
        let gate = state.pipeline.gate
        logger.info("audio input ended", metadata: [
            "audio_s": "\(audio)",
            "wall_s": "\(elapsed / .seconds(1))",
            "chunks": "\(state.pipeline.engine.chunkIndex)",
            "chunks_computed": "\(state.pipeline.engine.chunksComputed)",
            "gate_open_chunks": "\(gate.map { "\($0.openChunks)" } ?? "off")",
            "overruns": "\(state.source.counters.overruns)",
        ])
    }
}

/// Runs `body` on a new detached POSIX thread (the blocking audio loop must not occupy a thread of
/// Swift's cooperative pool); a process that cannot make a thread cannot run at all.
func startThread(_ body: @escaping @Sendable () -> Void) {
    precondition(startDetachedThread(body), "pthread_create failed")
}
