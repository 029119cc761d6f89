import HarkAudio
import HarkCommands
import HarkDevices
import HarkPower
import Logging

/// The always-on stage for one stream of audio: the wake pipeline on every 80 ms chunk and, after a
/// wake event, the command stage on the chunks that follow (from the next one on, so nothing between
/// the wake word and the command is lost). Owned by the audio thread.
public final class Stage1 {
    public enum Output: Sendable, Equatable {
        case event(Event)
        /// A command to dispatch as a stage-1 voice action; `endedAt` is the end-of-speech decision.
        case command([Action], endedAt: ContinuousClock.Instant)
    }

    public let pipeline: WakePipeline
    /// Replaced by ``replaceCommands(_:)`` after a configuration reload.
    public private(set) var commands: CommandStage?
    private let feedback: Feedback?
    private let logger: Logger

    public init(pipeline: WakePipeline, commands: CommandStage?, feedback: Feedback? = nil, logger: Logger) {
        self.pipeline = pipeline
        self.commands = commands
        self.feedback = feedback
        self.logger = logger
    }

    /// Seconds of audio processed so far.
    public var time: Double { pipeline.time }

    public func process(_ chunk: UnsafeBufferPointer<Int16>) -> [Output] {
        var clock = StageClock()
        return process(chunk, clock: &clock)
    }

    /// The same, with each part's CPU time added to `clock` (the gate, the models, the command stage).
    public func process(_ chunk: UnsafeBufferPointer<Int16>, clock: inout StageClock) -> [Output] {
        let chunkStart = pipeline.time
        let wakes = pipeline.process(chunk, clock: &clock)
        var outputs: [Output] = []
        let heard = commands?.process(chunk, chunkStart: chunkStart, activity: pipeline.activity.activeMask) ?? []
        clock.lap(\.commands)
        for wake in wakes {
            outputs.append(.event(wake))
            if let commands, !commands.isListening {
                feedback?.play(.wake)
                commands.listen(at: pipeline.time)
            }
        }
        return outputs + translate(heard)
    }

    /// Push-to-talk: the command stage listens from the next chunk on, as after a wake word. Nil
    /// (nothing happens) when there is no command stage or it is already listening.
    public func listenNow(source: String) -> Output? {
        guard let commands, !commands.isListening else { return nil }
        feedback?.play(.wake)
        commands.listen(at: pipeline.time)
        return .event(.listen(source: source, t: pipeline.time))
    }

    /// Takes a command stage built for a new catalog; false (keep trying) while a command is being
    /// heard, so that utterance ends with the grammar it began with.
    public func replaceCommands(_ stage: CommandStage) -> Bool {
        guard commands?.isListening != true else { return false }
        commands = stage
        return true
    }

    /// The end of the input: a command being spoken ends here.
    public func finish() -> [Output] {
        translate(commands?.endOfInput(at: pipeline.time) ?? [])
    }

    /// What decided the last utterance, for the log: the first pass's confidence, the speech its words
    /// left uncovered (s), and whether the second pass was asked.
    private var scores: Logger.Metadata {
        ["confidence": "\(commands?.lastConfidence.map { "\($0)" } ?? "-")",
         "uncovered_s": "\(commands?.lastUncovered.map { "\($0)" } ?? "-")",
         "second_pass": "\(commands?.lastUsedSecondPass ?? false)"]
    }

    private func translate(_ heard: [CommandStage.Output]) -> [Output] {
        var outputs: [Output] = []
        for output in heard {
            switch output {
            case let .utterance(start, end, endpoint):
                outputs.append(.event(.utterance(tStart: start, tEnd: end, tEndpoint: endpoint)))
            case let .transcript(text):
                outputs.append(.event(.transcript(stage: 1, text: text)))
            case let .command(actions, endedAt):
                logger.debug("command", metadata: scores)
                outputs.append(.command(actions, endedAt: endedAt))
            case let .rejected(reason, audio):
                logger.info("rejected", metadata: scores.merging(["reason": "\(reason)", "audio": "\(audio ?? "-")"]) { $1 })
                outputs.append(.event(.rejected(stage: 1, reason: reason, audio: audio)))
            }
        }
        return outputs
    }
}
