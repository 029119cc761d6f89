#if canImport(Glibc)
import Glibc
#endif
import HarkCommands
import HarkControl
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
    /// The control socket; nil: none.
    public var control: ControlSettings?
    /// The board, the budget and where the profiles are.
    public var power = PowerSettings()
    /// Stage 2 (the worker with Whisper and the language model); nil: off.
    public var stage2: Stage2Settings?
    /// Why stage 2 is off when it was not switched off (no model yet), for a notice at start.
    public var stage2Missing: String?

    public init() {}
}

/// The control socket's settings: where, the limits, and which groups get which roles.
public struct ControlSettings: Sendable, Equatable {
    public var server: ControlServer.Configuration
    /// Group name or number → roles, in the order configured.
    public var roles: [GroupRoles] = []

    public struct GroupRoles: Sendable, Equatable {
        public var group: String
        public var roles: Set<Role>
        public init(group: String, roles: Set<Role>) {
            self.group = group
            self.roles = roles
        }
    }

    public init(path: String) { server = ControlServer.Configuration(path: path) }

    /// Root and harkd's own user get every role; each configured group what it is given. A group
    /// that does not exist is an error.
    public func policy() throws(DaemonError) -> AccessPolicy {
        var groupRoles: [UInt32: Set<Role>] = [:]
        for entry in roles {
            guard let gid = Self.groupID(entry.group) else {
                throw DaemonError("control.roles: group '\(entry.group)' does not exist (create it, or remove it from control.roles)")
            }
            groupRoles[gid, default: []].formUnion(entry.roles)
        }
        return AccessPolicy(fullAccessUIDs: [0, geteuid()], groupRoles: groupRoles)
    }

    static func groupID(_ name: String) -> UInt32? {
        if let number = UInt32(name) { return number }
        var entry = group()
        var buffer = [CChar](repeating: 0, count: 16_384)
        var result: UnsafeMutablePointer<group>?
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
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
        guard let path = catalogPath(settings) else {
            logger.notice("no device catalog (no --catalog and no ./devices): actions are disabled")
            return nil
        }
        let catalog: Catalog
        do { catalog = try Catalog.load(path: path) } catch { throw DaemonError(error.description) }
        let store: Store
        do { store = try Store(path: settings.database) } catch { throw DaemonError(error.description) }
        logger.info("devices", metadata: ["catalog": "\(path)", "devices": "\(catalog.devices.count)", "database": "\(settings.database)"])
        return try DeviceRuntime(catalog: catalog, catalogPath: path, store: store, dryRun: settings.dryRun, sink: sink, logger: logger) { observer in
            try makeTransports(catalog: catalog, store: store, settings: settings, sink: sink, observer: observer, logger: logger)
        }
    }

    /// The catalog named in the settings, else `devices` when it exists; nil: no catalog.
    public static func catalogPath(_ settings: DeviceSettings) -> String? {
        if let named = settings.catalog { return named }
        return access("devices", F_OK) == 0 ? "devices" : nil
    }

    /// A runtime for a new catalog (and MQTT settings) over the same database and device states:
    /// everything is read and checked and the transports are built, none started. Throws, with
    /// nothing changed, when the catalog or the transports' settings are wrong.
    public static func reopen(_ settings: DeviceSettings, replacing old: DeviceRuntime, sink: EventSink, logger: Logger) throws -> DeviceRuntime {
        guard let path = catalogPath(settings) else { throw DaemonError("no device catalog is configured any more (catalog:, or ./devices)") }
        let catalog: Catalog
        do { catalog = try Catalog.load(path: path) } catch { throw DaemonError(error.description) }
        return try DeviceRuntime(catalog: catalog, catalogPath: path, store: old.store, states: old.states, dryRun: settings.dryRun,
                                 sink: sink, logger: logger) { observer in
            try makeTransports(catalog: catalog, store: old.store, settings: settings, sink: sink, observer: observer, logger: logger)
        }
    }

    /// `ReadWritePaths=` for the unit: the directories of the catalog's file-transport paths, which
    /// `ProtectSystem=strict` would otherwise leave read-only (systemd/README in the repository).
    public static func readWritePaths(_ settings: DeviceSettings) throws -> [String] {
        guard let path = catalogPath(settings) else { return [] }
        let catalog: Catalog
        do { catalog = try Catalog.load(path: path) } catch { throw DaemonError(error.description) }
        var paths: [String] = []
        for device in catalog.devices {
            guard case let .file(spec) = device.transport else { continue }
            // The real file behind /sys/class/... links, which is what the mount namespace must open up.
            let resolved = resolvedPath(spec.path)
            if !paths.contains(resolved) { paths.append(resolved) }
        }
        return paths
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

/// The path with its links resolved (realpath(3)); the path as given when that fails.
func resolvedPath(_ path: String) -> String {
    realpath(path, nil).map { pointer in
        defer { free(pointer) }
        return String(cString: pointer)
    } ?? path
}
