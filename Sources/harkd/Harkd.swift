import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HarkCommands
import HarkControl
import HarkDaemon
import Logging

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
            harkd --socket /run/hark/control.sock ...    serve harkctl on a control socket
            """,
        version: harkVersion
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

    @Option(name: .customLong("stage2-model"), help: "Stage 2's language model (GGUF). Default stage2.model of the config, else MODELS/hark-moe-q4_0.gguf, stage 2 off with a notice if absent.")
    var stage2Model: String?

    @Flag(name: .customLong("no-stage2"), help: "No stage 2: what stage 1 rejects stays rejected.")
    var noStage2 = false

    @Option(name: .customLong("stage2-start"), help: "When stage 2's worker starts: on_handoff, on_wake or always. Default stage2.start of the config, else on_handoff.")
    var stage2Start: String?

    @Option(help: "Seconds of silence that end a command. Default 0.4.")
    var hangover: Double?

    @Option(help: "The longest command in seconds. Default 8.")
    var maxUtterance: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Default info.")
    var logLevel: Logger.Level?

    @Option(help: "The control socket for harkctl: a path, or none. Default control.socket of the config, else $RUNTIME_DIRECTORY/control.sock under systemd, else none.")
    var socket: String?

    @Option(help: "The board the power estimate is for (a profile in devices/boards, e.g. raspberry-pi-zero-2w). Default power.board of the config, else the generic profile.")
    var board: String?

    @Option(name: .customLong("power-budget"), help: "Milliwatts the always-on stage must stay under (the governor's budget). Default power.budget_mw of the config, else none (report only).")
    var powerBudget: Double?

    @Flag(help: "Print the ReadWritePaths= drop-in for the catalog's file-transport paths (see systemd/README.md), then exit.")
    var printReadWritePaths = false

    func run() async throws {
        do {
            let settings = try resolve()
            if printReadWritePaths {
                let paths = try DeviceRuntime.readWritePaths(settings.devices)
                print("# harkd.service drop-in: the catalog's file-transport paths, writable despite ProtectSystem=strict")
                print("[Service]")
                for path in paths { print("ReadWritePaths=\(path)") }
                return
            }
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = settings.logLevel
                return handler
            }
            let logger = Logger(label: "harkd")
            // config.reload reads the file again, with the same command line over it.
            let daemon = try Daemon(settings: settings, logger: logger, reload: { [self] in try self.resolve() })
            try await daemon.run()
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
        settings.control = try resolveControl(file.control)
        guard settings.input != nil || settings.actions != nil || settings.control != nil || printReadWritePaths else {
            throw DaemonError("--input none needs --actions or a control socket (--socket): there is nothing to do")
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
        try resolveStage2(file.stage2, models: modelsDirectory, into: &settings)

        settings.power.board = board ?? file.power.board
        if let board, !BoardProfiles.isName(board) {
            throw DaemonError("--board '\(board)': expected a board name of lower-case letters, digits and dashes, e.g. raspberry-pi-zero-2w")
        }
        settings.power.host = file.power.host
        if let powerBudget, !(powerBudget > 0 && powerBudget <= 1_000_000) {
            throw DaemonError("--power-budget \(powerBudget): must be a positive number of milliwatts (at most 1000000)")
        }
        settings.power.budgetMilliwatts = powerBudget ?? file.power.budgetMilliwatts
        settings.power.boards = file.power.boards ?? settings.power.boards

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

    /// Stage 2: off with --no-stage2 or `stage2: false`; a named model must exist, the default one
    /// missing switches it off with a notice (make model builds it).
    func resolveStage2(_ file: DaemonConfig.Stage2, models: String, into settings: inout DaemonSettings) throws {
        guard !noStage2, file.enabled != false else { return }
        let named = stage2Model ?? file.model
        let model = named ?? "\(models)/hark-moe-q4_0.gguf"
        if named == nil, access(model, R_OK) != 0 {
            settings.stage2Missing = "no model at \(model) (make model builds it; or --stage2-model FILE)"
            return
        }
        let whisperDefault = "\(models)/whisper-tiny.en"
        let whisper = file.whisper ?? (access(whisperDefault + "/model.bin", R_OK) == 0 ? whisperDefault : nil)
        var stage2 = Stage2Settings(worker: file.worker ?? Self.besideMe("hark-stage2"), model: model, whisper: whisper)
        if let start = stage2Start {
            guard let policy = Stage2Settings.Start(rawValue: start) else {
                throw DaemonError("--stage2-start '\(start)': expected on_handoff, on_wake or always")
            }
            stage2.start = policy
        } else if let start = file.start {
            stage2.start = start
        }
        if let value = file.idleUnload { stage2.idleUnload = value }
        if let value = file.threads { stage2.threads = value }
        if let value = file.context { stage2.context = value }
        if let value = file.maxTokens { stage2.maxTokens = value }
        if let value = file.maxActions { stage2.maxActions = value }
        if let value = file.requestTimeout { stage2.requestTimeout = value }
        stage2.memoryBudgetMegabytes = file.memoryBudgetMegabytes
        // An openai: section alone does nothing: backend: openai turns it on.
        if file.backend == "openai" { stage2.remote = file.remote }
        stage2.cacheDirectory = file.cacheDirectory
            ?? getenv("STATE_DIRECTORY").flatMap { String(cString: $0).split(separator: ":").first.map { "\($0)/stage2" } }
        settings.stage2 = stage2
    }

    /// A program installed beside harkd (the directory of /proc/self/exe).
    static func besideMe(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return name }
        let path = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return name }
        return String(path[..<slash]) + "/" + name
    }

    /// The control socket: --socket, else the config's control.socket, else the service's runtime directory.
    func resolveControl(_ file: DaemonConfig.Control) throws -> ControlSettings? {
        let runtimeDirectory = getenv("RUNTIME_DIRECTORY").map { String(cString: $0).split(separator: ":").first.map(String.init) ?? "" }
        let path = socket ?? file.socket ?? runtimeDirectory.flatMap { $0.isEmpty ? nil : "\($0)/control.sock" } ?? "none"
        guard path != "none" else { return nil }
        guard path.hasPrefix("/"), path.utf8.count < 108 else {
            throw DaemonError("--socket '\(path)': expected an absolute path of at most 107 bytes, or none")
        }
        var control = ControlSettings(path: path)
        control.server.group = file.group
        if let maxConnections = file.maxConnections { control.server.maxConnections = maxConnections }
        if let rate = file.requestsPerSecond {
            control.server.requestsPerSecond = rate
            control.server.burst = 2 * rate
        }
        control.roles = file.roles.map { ControlSettings.GroupRoles(group: $0.group, roles: Set($0.roles.compactMap(Role.init(rawValue:)))) }
        return control
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
