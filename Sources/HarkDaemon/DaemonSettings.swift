#if canImport(Glibc)
import Glibc
#endif
import HarkCommands
import HarkDevices
import HarkStore
import Logging

/// Everything harkd runs with, after the configuration file, the command line and the defaults.
public struct DaemonSettings: Sendable {
    /// nil: no audio (`--input none`).
    public var input: String?
    public var events: String?
    /// An actions script to dispatch (`--actions`).
    public var actions: String?
    public var logLevel: Logger.Level = .info
    public var wake = WakePipeline.Configuration(modelsDirectory: "models", wakeWords: [.init(model: "hey_jarvis_v0.1")])
    public var devices = DeviceSettings()
    /// The command stage after the wake word; nil: wake words only.
    public var commands: CommandStage.Configuration? = CommandStage.Configuration()
    /// Whisper as the commands' second pass; nil: the first pass decides alone.
    public var secondPass: WhisperSecondPass.Configuration? = WhisperSecondPass.Configuration()
    /// The default second-pass model directory when it was not there (for a notice at start).
    public var secondPassMissing: String?
    public var feedback = Feedback.Configuration.disabled

    public init() {}
}

public struct DeviceSettings: Sendable {
    /// The catalog file or directory; nil means `devices` if it exists, else no devices.
    public var catalog: String?
    public var database = "hark.sqlite"
    public var dryRun = false
    public var mqtt = DaemonConfig.MQTT()
    public init() {}
}

extension DeviceRuntime {
    /// Loads the catalog, opens the database and builds the transports the catalog uses; nil when no
    /// catalog was named and the default `devices` directory does not exist.
    public static func open(_ settings: DeviceSettings, sink: EventSink, logger: Logger) throws -> DeviceRuntime? {
        let path: String
        if let named = settings.catalog {
            path = named
        } else if access("devices", F_OK) == 0 {
            path = "devices"
        } else {
            logger.notice("no device catalog (no --catalog and no ./devices): actions are disabled")
            return nil
        }
        let catalog: Catalog
        do { catalog = try Catalog.load(path: path) } catch { throw DaemonError(error.description) }
        let store: Store
        do { store = try Store(path: settings.database) } catch { throw DaemonError(error.description) }
        logger.info("devices", metadata: ["catalog": "\(path)", "devices": "\(catalog.devices.count)", "database": "\(settings.database)"])
        return try DeviceRuntime(catalog: catalog, store: store, dryRun: settings.dryRun, sink: sink, logger: logger) { observer in
            try makeTransports(catalog: catalog, store: store, settings: settings, sink: sink, observer: observer, logger: logger)
        }
    }

    /// One transport per kind the catalog uses. In dry-run only the speaker is built, without audio
    /// I/O (its timers run silently); nothing else is sent.
    static func makeTransports(catalog: Catalog, store: Store, settings: DeviceSettings, sink: EventSink,
                               observer: @escaping StateObserver, logger: Logger) throws -> [any Transport] {
        var transports: [any Transport] = []
        if let speaker = catalog.devices.first(where: { $0.transport.via == "speaker" }), case let .speaker(spec) = speaker.transport {
            transports.append(SpeakerTransport(device: speaker.id, spec: spec, store: store, options: .init(dryRun: settings.dryRun),
                                               logger: logger, onState: observer) { timer in
                sink.emit(.timer(id: timer.id, state: timer.kind.rawValue, seconds: timer.seconds))
            })
        }
        guard !settings.dryRun else { return transports }
        let kinds = Set(catalog.devices.map(\.transport.via))
        if kinds.contains("exec") { transports.append(ExecTransport(logger: logger)) }
        if kinds.contains("file") { transports.append(FileTransport()) }
        if kinds.contains("home_assistant") { transports.append(HomeAssistantTransport(logger: logger)) }
        if catalog.usesMQTT {
            let mqtt = settings.mqtt
            let defaults = MQTTSettings()
            let broker = MQTTSettings(host: mqtt.host ?? defaults.host, port: mqtt.port ?? defaults.port,
                                      clientID: mqtt.clientID ?? defaults.clientID, keepalive: mqtt.keepalive ?? defaults.keepalive,
                                      username: mqtt.username, passwordFile: mqtt.passwordFile)
            do { transports.append(try MQTTTransport(catalog: catalog, settings: broker, observer: observer, logger: logger)) }
            catch { throw DaemonError(error.description) }
        }
        return transports
    }
}
