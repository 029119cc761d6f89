import HarkDevices
import Yams

/// harkd's configuration file (`harkd --config /etc/hark/harkd.yaml`); command-line options override it.
///
///     input: alsa:default              # alsa:DEVICE, a .wav file, -, or none
///     events: /run/hark/events.jsonl   # where events go; - for stdout
///     models: /var/lib/hark/models
///     wake_words: [hey_jarvis_v0.1:0.5]
///     refractory: 2.0
///     gate: true
///     catalog: /etc/hark/devices       # a catalog file or directory
///     database: /var/lib/hark/hark.sqlite
///     mqtt: {host: 127.0.0.1, port: 1883, client_id: hark, username: hark, password_file: /etc/hark/mqtt-password, keepalive: 30}
///     feedback: {device: "plughw:1,0", wake: true, confirm: true, error: true}   # or false: no sounds
///     control:                         # the control socket (harkctl); socket: none switches it off
///       socket: /run/hark/control.sock
///       group: hark                    # the socket's group (default: harkd's own)
///       roles: {hark: [read, control], hark-viewers: [read]}   # group → roles
///       max_connections: 64
///       requests_per_second: 50        # per connection, bursts of twice that
///     power:                           # the always-on stage's power estimate and budget (README: Power)
///       board: raspberry-pi-zero-2w    # a profile in boards/ (unknown: the generic profile, with a warning)
///       budget_mw: 50                  # the governor holds the always-on stage under this; absent: report only
///       host: generic-x86              # the machine harkd runs on, when it is not the board (benchmarks)
///       boards: /usr/local/share/hark/boards   # where the profiles are (default devices/boards)
///     stage2:                          # free-form requests (README: Stage 2); false switches it off
///       model: /var/lib/hark/models/hark-moe-q4_0.gguf   # GGUF (default MODELS/hark-moe-q4_0.gguf; absent: off, with a notice)
///       whisper: /var/lib/hark/models/whisper-tiny.en    # default MODELS/whisper-tiny.en; absent: `say` only
///       worker: /usr/local/bin/hark-stage2               # default: beside harkd
///       start: on_handoff              # on_handoff, on_wake (load while the user speaks) or always
///       idle_unload: 60                # seconds without a request before the worker is stopped
///       threads: 2
///       context: 1024                  # the worker's context (tokens)
///       max_tokens: 160                # the longest answer line
///       max_actions: 8                 # the most actions in one answer
///       request_timeout: 30            # seconds; the worker is killed past it
///       cache_dir: /var/lib/hark/stage2   # computed catalog prefixes (default $STATE_DIRECTORY/stage2; else none)
///       memory_budget_mb: 600          # the model's resident MB: a larger mixture of experts pages experts from the file
///       backend: local                 # local (the worker) or openai (the server below, the worker when it fails)
///       openai:                        # an OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp, Ollama)
///         url: http://192.168.1.20:8000/v1   # the base URL; requests go to URL/chat/completions
///         model: qwen2.5-7b-instruct
///         api_key_env: HARK_OPENAI_KEY # the environment variable with the API key (default: none sent)
///         timeout: 10                  # seconds, then the local worker answers
///         response_format: json_schema # or json_object (llama-cpp-python's server)
///     log_level: info
public struct DaemonConfig: Sendable, Equatable {
    public var input: String?
    public var events: String?
    public var models: String?
    public var wakeWords: [String]?
    public var refractory: Double?
    public var gate: Bool?
    public var catalog: String?
    public var database: String?
    public var mqtt = MQTT()
    public var feedback = FeedbackOptions()
    public var control = Control()
    public var power = Power()
    public var stage2 = Stage2()
    public var logLevel: String?

    /// The `stage2:` section.
    public struct Stage2: Sendable, Equatable {
        public var enabled: Bool?
        public var model: String?
        public var whisper: String?
        public var worker: String?
        public var start: Stage2Settings.Start?
        public var idleUnload: Double?
        public var threads: Int?
        public var context: Int?
        public var maxTokens: Int?
        public var maxActions: Int?
        public var requestTimeout: Double?
        public var cacheDirectory: String?
        public var memoryBudgetMegabytes: Int?
        public var backend: String?
        public var remote: Stage2Remote?
        public init() {}
    }

    /// The `power:` section.
    public struct Power: Sendable, Equatable {
        public var board: String?
        public var host: String?
        public var budgetMilliwatts: Double?
        public var boards: String?
        public init() {}
    }

    /// The `control:` section.
    public struct Control: Sendable, Equatable {
        /// A path, or "none".
        public var socket: String?
        public var group: String?
        /// Group name (or number) → role names, in file order.
        public var roles: [(group: String, roles: [String])] = []
        public var maxConnections: Int?
        public var requestsPerSecond: Double?
        public init() {}

        public static func == (lhs: Control, rhs: Control) -> Bool {
            lhs.socket == rhs.socket && lhs.group == rhs.group && lhs.maxConnections == rhs.maxConnections
                && lhs.requestsPerSecond == rhs.requestsPerSecond
                && lhs.roles.map(\.group) == rhs.roles.map(\.group) && lhs.roles.map(\.roles) == rhs.roles.map(\.roles)
        }
    }

    public struct MQTT: Sendable, Equatable {
        public var host: String?
        public var port: Int?
        public var clientID: String?
        public var username: String?
        public var passwordFile: String?
        public var keepalive: Int?
        public init() {}
    }

    /// The `feedback:` section: `false` (or `true`) sets only the master switch; a mapping names the
    /// device and switches single sounds, and leaves the master switch on.
    public struct FeedbackOptions: Sendable, Equatable {
        public var enabled: Bool?
        public var device: String?
        public var wake: Bool?
        public var confirm: Bool?
        public var error: Bool?
        public init() {}

        /// `base` with what the file sets; `base` is Feedback's defaults unless given.
        public func applied(to base: Feedback.Configuration = .init()) -> Feedback.Configuration {
            var configuration = base
            if let enabled { configuration.enabled = enabled }
            if let device { configuration.device = device }
            if let wake { configuration.wake = wake }
            if let confirm { configuration.confirm = confirm }
            if let error { configuration.error = error }
            return configuration
        }
    }

    public init() {}

    /// Reads and checks a configuration file; errors are one line naming the file, line and key.
    public static func load(path: String) throws -> DaemonConfig {
        do {
            let reader = ConfigReader(file: path)
            return try reader.read(try reader.readFile(what: "the configuration"))
        } catch { throw DaemonError(error.message) }
    }

    public static func parse(yaml: String, file: String = "<config>") throws -> DaemonConfig {
        do { return try ConfigReader(file: file).read(yaml) }
        catch { throw DaemonError(error.message) }
    }
}

struct ConfigReader: YAMLNodeReader {
    let file: String

    func read(_ yaml: String) throws(DeviceError) -> DaemonConfig {
        var config = DaemonConfig()
        guard let root = try compose(yaml) else { return config }
        let top = try fields(root, "the configuration", allowed: [
            "input", "events", "models", "wake_words", "refractory", "gate", "catalog", "database", "mqtt", "feedback", "control", "power", "stage2", "log_level",
        ])
        func text(_ key: String) throws(DeviceError) -> String? {
            guard let node = top[key] else { return nil }
            let value = try scalar(node, key)
            guard !value.isEmpty, !Self.hasControl(value) else { throw error(node, key, "must be a non-empty value without control characters") }
            return value
        }
        config.input = try text("input")
        config.events = try text("events")
        config.models = try text("models")
        config.catalog = try text("catalog")
        config.database = try text("database")
        config.logLevel = try text("log_level")
        if let node = top["wake_words"] {
            config.wakeWords = try sequence(node, "wake_words").map { (item: Node) throws(DeviceError) in try scalar(item, "wake_words") }
        }
        if let node = top["refractory"] {
            let value = try number(node, "refractory")
            guard value >= 0, value <= 60 else { throw error(node, "refractory", "must be 0–60 seconds") }
            config.refractory = value
        }
        if let node = top["gate"] { config.gate = try bool(node, "gate") }
        if let node = top["mqtt"] {
            let mqtt = try fields(node, "mqtt", allowed: ["host", "port", "client_id", "username", "password_file", "keepalive"])
            func mqttText(_ key: String) throws(DeviceError) -> String? {
                guard let node = mqtt[key] else { return nil }
                let value = try scalar(node, "mqtt." + key)
                guard !value.isEmpty, !Self.hasControl(value), !value.contains(" ") else { throw error(node, "mqtt." + key, "must be a non-empty value without spaces or control characters") }
                return value
            }
            config.mqtt.host = try mqttText("host")
            config.mqtt.clientID = try mqttText("client_id")
            config.mqtt.username = try mqttText("username")
            config.mqtt.passwordFile = try mqttText("password_file")
            if let node = mqtt["port"] {
                let value = try number(node, "mqtt.port")
                guard value == value.rounded(), (1...65_535).contains(value) else { throw error(node, "mqtt.port", "must be a port number 1–65535") }
                config.mqtt.port = Int(value)
            }
            if let node = mqtt["keepalive"] {
                let value = try number(node, "mqtt.keepalive")
                guard value == value.rounded(), (5...3600).contains(value) else { throw error(node, "mqtt.keepalive", "must be 5–3600 seconds") }
                config.mqtt.keepalive = Int(value)
            }
        }
        if let node = top["feedback"] {
            if case .scalar = node {
                config.feedback.enabled = try bool(node, "feedback")
            } else {
                let feedback = try fields(node, "feedback", allowed: ["device", "wake", "confirm", "error"])
                if let node = feedback["device"] {
                    let value = try scalar(node, "feedback.device")
                    guard !value.isEmpty, !Self.hasControl(value) else { throw error(node, "feedback.device", "must be a non-empty ALSA device name without control characters") }
                    config.feedback.device = value
                }
                if let node = feedback["wake"] { config.feedback.wake = try bool(node, "feedback.wake") }
                if let node = feedback["confirm"] { config.feedback.confirm = try bool(node, "feedback.confirm") }
                if let node = feedback["error"] { config.feedback.error = try bool(node, "feedback.error") }
            }
        }
        if let node = top["control"] { config.control = try readControl(node) }
        if let node = top["power"] { config.power = try readPower(node) }
        if let node = top["stage2"] { config.stage2 = try readStage2(node) }
        return config
    }

    func readStage2(_ node: Node) throws(DeviceError) -> DaemonConfig.Stage2 {
        var stage2 = DaemonConfig.Stage2()
        if case .scalar = node {
            stage2.enabled = try bool(node, "stage2")
            return stage2
        }
        let members = try fields(node, "stage2", allowed: ["model", "whisper", "worker", "start", "idle_unload", "threads", "context",
                                                           "max_tokens", "max_actions", "request_timeout", "cache_dir", "backend", "openai",
                                                           "memory_budget_mb"])
        func path(_ key: String) throws(DeviceError) -> String? {
            guard let node = members[key] else { return nil }
            let value = try scalar(node, "stage2." + key)
            guard !value.isEmpty, !Self.hasControl(value) else { throw error(node, "stage2." + key, "must be a path without control characters") }
            return value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(DeviceError) -> Int? {
            guard let node = members[key] else { return nil }
            let value = try number(node, "stage2." + key)
            guard value == value.rounded(), Double(range.lowerBound) <= value, value <= Double(range.upperBound) else {
                throw error(node, "stage2." + key, "must be a whole number \(range.lowerBound)–\(range.upperBound)")
            }
            return Int(value)
        }
        func seconds(_ key: String, _ range: ClosedRange<Double>) throws(DeviceError) -> Double? {
            guard let node = members[key] else { return nil }
            let value = try number(node, "stage2." + key)
            guard range.contains(value) else { throw error(node, "stage2." + key, "must be \(Int(range.lowerBound))–\(Int(range.upperBound)) seconds") }
            return value
        }
        stage2.model = try path("model")
        stage2.whisper = try path("whisper")
        stage2.worker = try path("worker")
        stage2.cacheDirectory = try path("cache_dir")
        if let node = members["start"] {
            let value = try scalar(node, "stage2.start")
            guard let start = Stage2Settings.Start(rawValue: value) else {
                throw error(node, "stage2.start", "'\(Self.escaped(value))' is not a start policy (on_handoff, on_wake, always)")
            }
            stage2.start = start
        }
        stage2.idleUnload = try seconds("idle_unload", 1...86_400)
        stage2.threads = try integer("threads", 1...64)
        stage2.context = try integer("context", 256...32_768)
        stage2.maxTokens = try integer("max_tokens", 16...4096)
        stage2.maxActions = try integer("max_actions", 1...64)
        stage2.requestTimeout = try seconds("request_timeout", 1...600)
        stage2.memoryBudgetMegabytes = try integer("memory_budget_mb", 16...1_048_576)
        if let node = members["backend"] {
            let value = try scalar(node, "stage2.backend")
            guard value == "local" || value == "openai" else {
                throw error(node, "stage2.backend", "'\(Self.escaped(value))' is not a backend (local, openai)")
            }
            stage2.backend = value
        }
        if let node = members["openai"] { stage2.remote = try readRemote(node) }
        if stage2.backend == "openai", stage2.remote == nil {
            throw error(node, "stage2", "backend: openai needs an openai: section with url and model")
        }
        return stage2
    }

    func readRemote(_ node: Node) throws(DeviceError) -> Stage2Remote {
        let members = try fields(node, "stage2.openai", allowed: ["url", "model", "api_key_env", "timeout", "response_format"])
        guard let urlNode = members["url"] else { throw error(node, "stage2.openai", "missing 'url' (the server's base URL, e.g. http://127.0.0.1:8080/v1)") }
        var url = try scalar(urlNode, "stage2.openai.url")
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8, !Self.hasControl(url), !url.contains(" ") else {
            throw error(urlNode, "stage2.openai.url", "must be an http:// or https:// URL, got '\(Self.escaped(url))'")
        }
        while url.hasSuffix("/") { url.removeLast() }
        guard let modelNode = members["model"] else { throw error(node, "stage2.openai", "missing 'model' (the model name the server serves)") }
        let model = try scalar(modelNode, "stage2.openai.model")
        guard !model.isEmpty, !Self.hasControl(model) else { throw error(modelNode, "stage2.openai.model", "must be a model name without control characters") }
        var remote = Stage2Remote(url: url, model: model)
        if let envNode = members["api_key_env"] {
            let name = try scalar(envNode, "stage2.openai.api_key_env")
            guard let first = name.first, !first.isNumber, name.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }) else {
                throw error(envNode, "stage2.openai.api_key_env", "must be an environment variable name like HARK_OPENAI_KEY, got '\(Self.escaped(name))'")
            }
            remote.apiKeyEnvironment = name
        }
        if let timeoutNode = members["timeout"] {
            let value = try number(timeoutNode, "stage2.openai.timeout")
            guard (0.1...600).contains(value) else { throw error(timeoutNode, "stage2.openai.timeout", "must be 0.1–600 seconds") }
            remote.timeout = value
        }
        if let formatNode = members["response_format"] {
            let value = try scalar(formatNode, "stage2.openai.response_format")
            guard let format = Stage2Remote.ResponseFormat(rawValue: value) else {
                throw error(formatNode, "stage2.openai.response_format", "'\(Self.escaped(value))' is not a response format (json_schema, json_object)")
            }
            remote.responseFormat = format
        }
        return remote
    }

    func readPower(_ node: Node) throws(DeviceError) -> DaemonConfig.Power {
        var power = DaemonConfig.Power()
        let members = try fields(node, "power", allowed: ["board", "host", "budget_mw", "boards"])
        for key in ["board", "host"] {
            guard let node = members[key] else { continue }
            let value = try scalar(node, "power." + key)
            guard BoardProfiles.isName(value) else {
                throw error(node, "power." + key, "'\(Self.escaped(value))' is not a board name (lower-case letters, digits and dashes, e.g. raspberry-pi-zero-2w)")
            }
            if key == "board" { power.board = value } else { power.host = value }
        }
        if let node = members["budget_mw"] {
            let value = try number(node, "power.budget_mw")
            guard value > 0, value <= 1_000_000 else { throw error(node, "power.budget_mw", "must be a positive number of milliwatts (at most 1000000), got \(value)") }
            power.budgetMilliwatts = value
        }
        if let node = members["boards"] {
            let value = try scalar(node, "power.boards")
            guard !value.isEmpty, !Self.hasControl(value) else { throw error(node, "power.boards", "must be a directory path without control characters") }
            power.boards = value
        }
        return power
    }

    func readControl(_ node: Node) throws(DeviceError) -> DaemonConfig.Control {
        var control = DaemonConfig.Control()
        let members = try fields(node, "control", allowed: ["socket", "group", "roles", "max_connections", "requests_per_second"])
        if let node = members["socket"] {
            let value = try scalar(node, "control.socket")
            guard value == "none" || (value.hasPrefix("/") && value.utf8.count < 108 && !Self.hasControl(value)) else {
                throw error(node, "control.socket", "must be an absolute path of at most 107 bytes, or none")
            }
            control.socket = value
        }
        if let node = members["group"] {
            let value = try scalar(node, "control.group")
            guard !value.isEmpty, !Self.hasControl(value), !value.contains(" ") else { throw error(node, "control.group", "must be a group name or number") }
            control.group = value
        }
        if let node = members["roles"] {
            for (group, rolesNode) in try pairs(node, "control.roles") {
                guard !group.isEmpty, !Self.hasControl(group), !group.contains(" ") else {
                    throw error(rolesNode, "control.roles", "'\(Self.escaped(group))' is not a group name or number")
                }
                let names: [String]
                if case .scalar = rolesNode {
                    names = [try scalar(rolesNode, "control.roles.\(group)")]
                } else {
                    names = try sequence(rolesNode, "control.roles.\(group)").map { (item: Node) throws(DeviceError) in try scalar(item, "control.roles.\(group)") }
                }
                for name in names where !["read", "control"].contains(name) {
                    throw error(rolesNode, "control.roles.\(group)", "unknown role '\(Self.escaped(name))' (roles: read, control)")
                }
                control.roles.append((group, names))
            }
        }
        if let node = members["max_connections"] {
            let value = try number(node, "control.max_connections")
            guard value == value.rounded(), (1...4096).contains(value) else { throw error(node, "control.max_connections", "must be 1–4096") }
            control.maxConnections = Int(value)
        }
        if let node = members["requests_per_second"] {
            let value = try number(node, "control.requests_per_second")
            guard value >= 1, value <= 100_000 else { throw error(node, "control.requests_per_second", "must be 1–100000") }
            control.requestsPerSecond = value
        }
        return control
    }
}
