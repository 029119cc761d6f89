import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HarkAudio
import HarkDaemon
import Logging
import ServiceLifecycle

@main
struct Harkd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harkd",
        abstract: "Hark: an on-device voice daemon. Listens for the wake word and prints events.",
        discussion: """
            harkd --input alsa:default --events -        listen live, events on stdout
            harkd --input clip.wav --dry-run --events -  process a recording as fast as possible, then exit
            """
    )

    @Option(help: "alsa:DEVICE, a .wav file, or - for raw S16_LE 16 kHz mono on stdin.")
    var input = "alsa:default"

    @Option(help: "Where to write events, one JSON object per line: - for stdout, or a file path to append to.")
    var events: String?

    @Flag(help: "Perform no device I/O (actions are reported, not sent).")
    var dryRun = false

    @Option(help: "Directory holding the openWakeWord models (make models puts them in ./models).")
    var models = getenv("HARK_MODELS").map { String(cString: $0) } ?? "models"

    @Option(name: .customLong("wake-word"), help: "A wake-word model and optional threshold, e.g. hey_jarvis_v0.1:0.5 (repeatable).")
    var wakeWords: [String] = ["hey_jarvis_v0.1"]

    @Option(help: "Seconds after a wake event before the same word can fire again.")
    var refractory = 2.0

    @Flag(help: "Run the wake-word models on every chunk (disable the voice-activity gate).")
    var noGate = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "harkd")
        do {
            var configuration = WakePipeline.Configuration(modelsDirectory: models, wakeWords: try wakeWords.map(Self.parseWakeWord))
            configuration.refractorySeconds = refractory
            if noGate { configuration.gate = nil }
            let pipeline = try WakePipeline(configuration: configuration, logger: logger)
            let sink = try EventSink(destination: events)
            let source = try openAudioSource(try AudioInput(parsing: input), logger: logger)
            logger.info("listening", metadata: ["input": "\(input)", "wake_words": "\(configuration.wakeWords.map(\.word))", "dry_run": "\(dryRun)"])
            let service = AudioPipelineService(source: source, pipeline: pipeline, sink: sink, logger: logger)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
            try await group.run()
        } catch {
            var line = "harkd: \(Self.oneLine(error))\n"
            line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
            throw ExitCode.failure
        }
    }

    static func parseWakeWord(_ text: String) throws -> WakePipeline.WakeWord {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.first, !name.isEmpty, !name.contains(where: { $0 == "/" }) else {
            throw DaemonError("--wake-word '\(text)': expected MODEL or MODEL:THRESHOLD, e.g. hey_jarvis_v0.1:0.5")
        }
        var word = WakePipeline.WakeWord(model: String(name))
        if parts.count == 2 {
            guard let threshold = Float(parts[1]), threshold > 0, threshold < 1 else {
                throw DaemonError("--wake-word '\(text)': the threshold must be a number between 0 and 1")
            }
            word.threshold = threshold
        }
        return word
    }

    /// Errors are reported on one line.
    static func oneLine(_ error: any Error) -> String {
        return "\(error)".split(separator: "\n").joined(separator: " ")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
