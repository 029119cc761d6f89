import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HarkAudio
import HarkCommands
import HarkDaemon
import HarkDevices
import Logging
import ServiceLifecycle

@main
struct Harkd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harkd",
        abstract: "Hark: an on-device voice daemon. Listens for the wake word, dispatches device actions, prints events.",
        discussion: """
            harkd --input alsa:default --events -        listen live, events on stdout
            harkd --input clip.wav --dry-run --events -  process a recording as fast as possible, then exit
            harkd --config /etc/hark/harkd.yaml          run the service
            harkd --input none --actions morning.jsonl   dispatch a script of actions, then exit
            """
    )

    @Option(help: "A configuration file (YAML); the options below override it.")
    var config: String?

    @Option(help: "alsa:DEVICE, a .wav file, - for raw S16_LE 16 kHz mono on stdin, or none. Default alsa:default.")
    var input: String?

    @Option(help: "Where to write events, one JSON object per line: - for stdout, or a file path to append to.")
    var events: String?

    @Flag(help: "Perform no device I/O (actions are validated and reported, not sent; the journal is in memory).")
    var dryRun = false

    @Option(help: "Directory holding the openWakeWord models (make models puts them in ./models). Default $HARK_MODELS or models.")
    var models: String?

    @Option(name: .customLong("wake-word"), help: "A wake-word model and optional threshold, e.g. hey_jarvis_v0.1:0.5 (repeatable). Default hey_jarvis_v0.1.")
    var wakeWords: [String] = []

    @Option(help: "Seconds after a wake event before the same word can fire again. Default 2.")
    var refractory: Double?

    @Flag(help: "Run the wake-word models on every chunk (disable the voice-activity gate).")
    var noGate = false

    @Option(help: "The device catalog: a YAML file or a directory of them. Default devices.")
    var catalog: String?

    @Option(help: "The SQLite database (action journal, device state, timers). Default $STATE_DIRECTORY/hark.sqlite or hark.sqlite; in memory with --dry-run.")
    var database: String?

    @Option(help: "The MQTT broker as HOST or HOST:PORT. Default 127.0.0.1:1883.")
    var mqtt: String?

    @Option(help: "Dispatch the actions in this file (- for stdin), one JSON object per line: an action, or {\"id\":…,\"action\":{…}}.")
    var actions: String?

    @Flag(help: "Wake words only: no command recognition after the wake word.")
    var noCommands = false

    @Flag(help: "Commands by the first pass (PocketSphinx) alone: no Whisper second pass on unsure utterances.")
    var noSecondPass = false

    @Option(help: "The Whisper model of the second pass (CTranslate2 directory). Default MODELS/whisper-tiny.en, skipped with a notice if absent.")
    var secondPassModel: String?

    @Option(help: "Seconds of silence that end a command. Default 0.4.")
    var hangover: Double?

    @Option(help: "The longest command in seconds. Default 8.")
    var maxUtterance: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Default info.")
    var logLevel: Logger.Level?

    func run() async throws {
        do {
            let settings = try resolve()
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = settings.logLevel
                return handler
            }
            let logger = Logger(label: "harkd")
            let sink = try EventSink(destination: settings.events)
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []

            let devices = try DeviceRuntime.open(settings.devices, sink: sink, logger: logger)
            if let devices {
                try await devices.dispatcher.start()
                services.append(.init(service: DispatcherService(dispatcher: devices.dispatcher)))
            }
            if let script = settings.actions {
                guard let devices else { throw DaemonError("--actions needs a device catalog (--catalog)") }
                services.append(.init(service: ActionScriptService(path: script, dispatcher: devices.dispatcher, sink: sink, logger: logger),
                                      successTerminationBehavior: settings.input == nil ? .gracefullyShutdownGroup : .ignore))
            }
            if let input = settings.input {
                let pipeline = try WakePipeline(configuration: settings.wake, logger: logger)
                let commands = try settings.commands.map { configuration in
                    guard let devices else { throw DaemonError("commands need a device catalog (--catalog), or --no-commands") }
                    return try CommandStage.build(catalog: devices.catalog, configuration: configuration, secondPass: settings.secondPass, logger: logger)
                }
                if let missing = settings.secondPassMissing, commands != nil {
                    logger.notice("no Whisper model at \(missing) (make models): commands by the first pass alone")
                }
                let feedback = settings.feedback.enabled ? Feedback(configuration: settings.feedback, logger: logger) : nil
                let source = try openAudioSource(try AudioInput(parsing: input), logger: logger)
                logger.info("listening", metadata: ["input": "\(input)", "wake_words": "\(settings.wake.wakeWords.map(\.word))",
                                                    "commands": "\(commands != nil)", "dry_run": "\(dryRun)"])
                services.append(.init(service: AudioPipelineService(source: source, pipeline: pipeline, commands: commands,
                                                                    dispatcher: devices?.dispatcher, feedback: feedback, sink: sink, logger: logger),
                                      successTerminationBehavior: .gracefullyShutdownGroup))
            }
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            var line = "harkd: \(Self.oneLine(error))\n"
            line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
            throw ExitCode.failure
        }
    }

    /// The configuration file, overridden by the command line, with defaults for the rest.
    func resolve() throws -> DaemonSettings {
        let file = try config.map(DaemonConfig.load(path:)) ?? DaemonConfig()
        var settings = DaemonSettings()
        let inputName = input ?? file.input ?? "alsa:default"
        settings.input = inputName == "none" ? nil : inputName
        settings.events = events ?? file.events
        settings.actions = actions
        guard settings.input != nil || settings.actions != nil else {
            throw DaemonError("--input none needs --actions: there is nothing to do")
        }
        guard !(settings.input == "-" && settings.actions == "-") else {
            throw DaemonError("--input - and --actions - cannot both read standard input: give the actions as a file")
        }
        settings.logLevel = try logLevel ?? file.logLevel.map { text in
            guard let level = Logger.Level(rawValue: text) else { throw DaemonError("log_level '\(text)': expected trace, debug, info, notice, warning, error or critical") }
            return level
        } ?? .info
        let modelsDirectory = models ?? file.models ?? getenv("HARK_MODELS").map { String(cString: $0) } ?? "models"
        let words = wakeWords.isEmpty ? (file.wakeWords ?? ["hey_jarvis_v0.1"]) : wakeWords
        settings.wake = WakePipeline.Configuration(modelsDirectory: modelsDirectory, wakeWords: try words.map(Self.parseWakeWord))
        settings.wake.refractorySeconds = refractory ?? file.refractory ?? 2.0
        if noGate || file.gate == false { settings.wake.gate = nil }

        if noCommands {
            settings.commands = nil
            settings.secondPass = nil
        } else {
            var commands = CommandStage.Configuration()
            commands.capture.hangover = try Self.seconds("--hangover", hangover, 0.1...2) ?? commands.capture.hangover
            commands.capture.maxLength = try Self.seconds("--max-utterance", maxUtterance, 1...30) ?? commands.capture.maxLength
            settings.commands = commands
            if noSecondPass {
                settings.secondPass = nil
            } else {
                var pass = WhisperSecondPass.Configuration()
                pass.model = secondPassModel ?? "\(modelsDirectory)/whisper-tiny.en"
                // The default model missing is not an error (the first pass decides alone); a named one is.
                if secondPassModel == nil, access(pass.model + "/model.bin", F_OK) != 0 {
                    settings.secondPassMissing = pass.model
                    settings.secondPass = nil
                } else {
                    settings.secondPass = pass
                }
            }
        }
        settings.feedback = dryRun ? .disabled : file.feedback.applied()

        settings.devices.catalog = catalog ?? file.catalog
        settings.devices.dryRun = dryRun
        settings.devices.database = dryRun ? ":memory:" : (database ?? file.database
            ?? getenv("STATE_DIRECTORY").map { String(cString: $0).split(separator: ":").first.map { "\($0)/hark.sqlite" } ?? "hark.sqlite" }
            ?? "hark.sqlite")
        settings.devices.mqtt = file.mqtt
        if let mqtt {
            let parts = mqtt.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), !parts[0].isEmpty, parts.count == 1 || Int(parts[1]).map({ (1...65_535).contains($0) }) == true else {
                throw DaemonError("--mqtt '\(mqtt)': expected HOST or HOST:PORT, e.g. 127.0.0.1:1883")
            }
            settings.devices.mqtt.host = String(parts[0])
            if parts.count == 2 { settings.devices.mqtt.port = Int(parts[1]) }
        }
        return settings
    }

    static func seconds(_ option: String, _ value: Double?, _ range: ClosedRange<Double>) throws -> Double? {
        guard let value else { return nil }
        guard range.contains(value) else { throw DaemonError("\(option) \(value): must be \(range.lowerBound)–\(range.upperBound) seconds") }
        return value
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
