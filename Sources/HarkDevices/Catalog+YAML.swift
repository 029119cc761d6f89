#if canImport(Glibc)
import Glibc
#endif
import Yams

/// Reading the catalog from YAML (the format is documented in devices/README.md).
///
/// Every problem is one line naming the file, the line, the entry and what is wrong:
/// `devices/home.yaml:14: device 'kitchen_light': unknown type 'lamp' (expected light, switch, …)`.
extension Catalog {
    /// Loads a catalog from a YAML file, or from every `*.yaml`/`*.yml` file of a directory (sorted by
    /// name, merged; an id or spoken name may appear only once across them).
    public static func load(path: String) throws(DeviceError) -> Catalog {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DeviceError(.catalog, "cannot read the device catalog '\(path)': \(String(cString: strerror(errno)))")
        }
        var files: [String] = []
        if (info.st_mode & S_IFMT) == S_IFDIR {
            guard let dir = opendir(path) else {
                throw DeviceError(.catalog, "cannot list the device catalog directory '\(path)': \(String(cString: strerror(errno)))")
            }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                    files.append(path.hasSuffix("/") ? path + name : path + "/" + name)
                }
            }
            files.sort()
            guard !files.isEmpty else { throw DeviceError(.catalog, "the device catalog directory '\(path)' has no .yaml files") }
        } else {
            files = [path]
        }
        var rooms: [String: String] = [:]
        var devices: [Device] = []
        for file in files {
            let text = try CatalogReader(file: file).readFile(what: "the device catalog")
            let part = try CatalogReader(file: file).read(yaml: text)
            for (key, name) in part.rooms {
                if let other = rooms[key], other != name {
                    throw DeviceError(.catalog, "\(file): room '\(key)' is named '\(name)' here and '\(other)' in another file")
                }
                rooms[key] = name
            }
            devices += part.devices
        }
        return try Catalog(rooms: rooms, devices: devices)
    }

    /// Parses one YAML text; `file` names it in errors.
    public static func parse(yaml: String, file: String = "<catalog>") throws(DeviceError) -> Catalog {
        let part = try CatalogReader(file: file).read(yaml: yaml)
        return try Catalog(rooms: part.rooms, devices: part.devices)
    }

}

/// Walks the YAML tree of one catalog file.
struct CatalogReader: YAMLNodeReader {
    let file: String

    func read(yaml: String) throws(DeviceError) -> (rooms: [String: String], devices: [Device]) {
        guard let root = try compose(yaml) else { throw DeviceError(.catalog, "\(file): the catalog is empty") }
        let top = try self.fields(root, "the catalog", allowed: ["rooms", "devices"])
        var rooms: [String: String] = [:]
        if let node = top["rooms"] {
            for (key, value) in try self.pairs(node, "rooms") {
                guard Self.isIdentifier(key) else { throw error(node, "rooms", "room key '\(key)' must be lowercase letters, digits and _") }
                rooms[key] = try spokenName(value, "room '\(key)'")
            }
        }
        guard let devicesNode = top["devices"] else { throw error(root, "the catalog", "has no 'devices' section") }
        var devices: [Device] = []
        guard case let .mapping(map) = devicesNode else { throw error(devicesNode, "devices", "expected a mapping of device id: entry") }
        for (keyNode, node) in map {
            devices.append(try device(id: try scalar(keyNode, "devices"), node, at: keyNode))
        }
        return (rooms, devices)
    }

    // MARK: Devices

    /// `key` is the id's node: its line is the entry's origin.
    func device(id: String, _ node: Node, at key: Node) throws(DeviceError) -> Device {
        let what = "device '\(id)'"
        guard Self.isIdentifier(id) else { throw error(node, what, "the id must start with a lowercase letter and hold only lowercase letters, digits and _") }
        let fields = try self.fields(node, what, allowed: ["type", "room", "names", "this_device", "limits", "voice", "pronunciations", "transport"])
        guard let typeNode = fields["type"] else { throw error(node, what, "missing parameter 'type'") }
        let typeName = try scalar(typeNode, what)
        guard let type = DeviceType(rawValue: typeName) else {
            throw error(typeNode, what, "unknown type '\(typeName)' (expected \(DeviceType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let thisDevice = try fields["this_device"].map { (node: Node) throws(DeviceError) in try bool(node, what + " this_device") } ?? false
        if thisDevice && type != DeviceType.media { throw error(node, what, "this_device must be of type media") }
        let room = try fields["room"].map { (node: Node) throws(DeviceError) in try scalar(node, what) }
        var names: [String] = []
        if let namesNode = fields["names"] {
            for item in try sequence(namesNode, what + " names") {
                let name = try spokenName(item, what)
                if names.contains(name) { throw error(item, what, "spoken name '\(name)' is listed twice") }
                names.append(name)
            }
        }
        if names.isEmpty && !thisDevice { throw error(node, what, "missing parameter 'names': at least one spoken name") }

        var celsius = Parameter.defaultCelsius
        if let limits = fields["limits"] {
            let limitFields = try self.fields(limits, what + " limits", allowed: ["celsius"])
            if let range = limitFields["celsius"] {
                guard type == .thermostat else { throw error(range, what, "limits.celsius applies to thermostats only") }
                let bounds = try self.fields(range, what + " limits.celsius", allowed: ["min", "max"])
                guard let minNode = bounds["min"], let maxNode = bounds["max"] else { throw error(range, what, "limits.celsius needs min and max") }
                let low = try number(minNode, what + " limits.celsius.min"), high = try number(maxNode, what + " limits.celsius.max")
                guard low < high, low >= -50, high <= 100 else { throw error(range, what, "limits.celsius must have min < max, within -50…100 (got \(low)…\(high))") }
                celsius = low...high
            }
        }

        let commandNames = type.commands(thisDevice: thisDevice).map(\.name)
        var voice: [String: VoicePolicy] = [:]
        if let voiceNode = fields["voice"] {
            for (command, value) in try self.pairs(voiceNode, what + " voice") {
                guard commandNames.contains(command) else {
                    throw error(voiceNode, what, "voice policy for unknown command '\(command)' (a \(type.rawValue) has \(commandNames.joined(separator: ", ")))")
                }
                let text = try scalar(value, what + " voice." + command)
                guard let policy = VoicePolicy(rawValue: text) else { throw error(value, what, "voice.\(command) must be allow or deny, not '\(text)'") }
                voice[command] = policy
            }
        }

        var pronunciations: [String: [String]] = [:]
        if let node = fields["pronunciations"] {
            for (word, value) in try self.pairs(node, what + " pronunciations") {
                guard !word.isEmpty, word.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || $0 == "'" }) else {
                    throw error(node, what, "pronunciations: '\(Self.escaped(word))' must be one lowercase word (a–z)")
                }
                let items: [Node]
                if case .sequence = value { items = try sequence(value, what + " pronunciations." + word) } else { items = [value] }
                var variants: [String] = []
                for item in items {
                    let text = try scalar(item, what + " pronunciations." + word)
                    let phones = text.split(separator: " ")
                    guard !phones.isEmpty, phones.count <= 40,
                          phones.allSatisfy({ $0.count <= 3 && $0.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) } }) else {
                        throw error(item, what, "pronunciations.\(word) must be ARPAbet phones separated by spaces, e.g. \"AH N M Y UW T\", not '\(Self.escaped(text))'")
                    }
                    variants.append(phones.joined(separator: " "))
                }
                pronunciations[word] = variants
            }
        }

        guard let transportNode = fields["transport"] else {
            throw error(node, what, "missing parameter 'transport' (via: zigbee2mqtt, tasmota, mqtt, exec, file, home_assistant or speaker)")
        }
        let transport = try self.transport(transportNode, id: id, type: type, thisDevice: thisDevice, what: what)
        return Device(id: id, type: type, room: room, names: names, thisDevice: thisDevice, celsius: celsius, voice: voice,
                      pronunciations: pronunciations, transport: transport, origin: origin(key))
    }

    // MARK: Transports

    func transport(_ node: Node, id: String, type: DeviceType, thisDevice: Bool, what: String) throws(DeviceError) -> TransportSpec {
        let fields = try self.fields(node, what + " transport")
        guard let viaNode = fields["via"] else { throw error(node, what, "transport: missing parameter 'via'") }
        let via = try scalar(viaNode, what + " transport.via")
        let commands = type.commands(thisDevice: thisDevice)
        func only(_ allowed: Set<String>) throws(DeviceError) -> [String: Node] {
            try self.fields(node, what + " transport (via \(via))", allowed: allowed.union(["via"]))
        }
        switch via {
        case "zigbee2mqtt":
            let fields = try only(["name", "base"])
            let name = try fields["name"].map { (node: Node) throws(DeviceError) in try topic(node, what + " transport.name") } ?? id
            let base = try fields["base"].map { (node: Node) throws(DeviceError) in try topic(node, what + " transport.base") } ?? "zigbee2mqtt"
            return .zigbee2mqtt(base: base, name: name)
        case "tasmota":
            let fields = try only(["topic"])
            guard let topicNode = fields["topic"] else { throw error(node, what, "transport (via tasmota): missing parameter 'topic'") }
            let name = try topic(topicNode, what + " transport.topic")
            guard !name.contains("/") else { throw error(topicNode, what, "bad topic '\(name)': a Tasmota topic is one level, without '/'") }
            return .tasmota(topic: name)
        case "mqtt":
            let fields = try only(["commands", "state_topic"])
            guard let commandsNode = fields["commands"] else { throw error(node, what, "transport (via mqtt): missing parameter 'commands'") }
            var publishes: [String: MQTTTemplate.Publish] = [:]
            for (command, value) in try self.pairs(commandsNode, what + " transport.commands") {
                let spec = try commandSpec(command, in: commands, type: type, at: commandsNode, what: what)
                let publish = try self.fields(value, what + " transport.commands.\(command)", allowed: ["topic", "payload"])
                guard let topicNode = publish["topic"], let payloadNode = publish["payload"] else {
                    throw error(value, what, "transport.commands.\(command): missing parameter 'topic' or 'payload'")
                }
                let payload = try template(payloadNode, for: spec, what: what + " transport.commands.\(command).payload")
                publishes[command] = .init(topic: try topic(topicNode, what + " transport.commands.\(command).topic"), payload: payload)
            }
            let stateTopic = try fields["state_topic"].map { (node: Node) throws(DeviceError) in try topic(node, what + " transport.state_topic") }
            return .mqtt(MQTTTemplate(commands: publishes, stateTopic: stateTopic))
        case "exec":
            let fields = try only(["argv", "commands", "timeout"])
            var argv: [String: [Template]] = [:]
            if let commandsNode = fields["commands"] {
                for (command, value) in try self.pairs(commandsNode, what + " transport.commands") {
                    let spec = try commandSpec(command, in: commands, type: type, at: commandsNode, what: what)
                    argv[command] = try argvTemplate(value, for: [spec], what: what + " transport.commands.\(command)")
                }
            }
            if let argvNode = fields["argv"] {
                let rest = commands.filter { argv[$0.name] == nil }
                argv["default"] = try argvTemplate(argvNode, for: rest, what: what + " transport.argv")
            }
            guard !argv.isEmpty else { throw error(node, what, "transport (via exec): missing parameter 'argv' (or per-command 'commands')") }
            let timeout = try fields["timeout"].map { (node: Node) throws(DeviceError) in try seconds(node, what + " transport.timeout") } ?? 10
            return .exec(ExecSpec(argv: argv, timeout: timeout))
        case "file":
            let fields = try only(["path", "values"])
            guard let pathNode = fields["path"] else { throw error(node, what, "transport (via file): missing parameter 'path'") }
            let path = try scalar(pathNode, what + " transport.path")
            guard path.hasPrefix("/"), !path.split(separator: "/").contains(".."), !Self.hasControl(path) else {
                throw error(pathNode, what, "transport.path must be an absolute path without '..' or control characters, got '\(path)'")
            }
            guard let valuesNode = fields["values"] else { throw error(node, what, "transport (via file): missing parameter 'values'") }
            var values: [String: Template] = [:]
            for (command, value) in try self.pairs(valuesNode, what + " transport.values") {
                let spec = try commandSpec(command, in: commands, type: type, at: valuesNode, what: what)
                values[command] = try template(value, for: spec, what: what + " transport.values.\(command)")
            }
            return .file(FileSpec(path: path, values: values))
        case "home_assistant":
            let fields = try only(["url", "entity_id", "token_file", "token_env", "timeout"])
            guard let urlNode = fields["url"] else { throw error(node, what, "transport (via home_assistant): missing parameter 'url'") }
            var url = try scalar(urlNode, what + " transport.url")
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8, !Self.hasControl(url), !url.contains(" ") else {
                throw error(urlNode, what, "transport.url must be an http:// or https:// URL, got '\(url)'")
            }
            while url.hasSuffix("/") { url.removeLast() }
            guard let entityNode = fields["entity_id"] else { throw error(node, what, "transport (via home_assistant): missing parameter 'entity_id'") }
            let entity = try scalar(entityNode, what + " transport.entity_id")
            let parts = entity.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && Self.isIdentifier(String($0)) }) else {
                throw error(entityNode, what, "transport.entity_id must look like domain.object_id (e.g. light.kitchen), got '\(entity)'")
            }
            let token: HomeAssistantSpec.TokenSource
            switch (fields["token_file"], fields["token_env"]) {
            case let (fileNode?, nil):
                let path = try scalar(fileNode, what + " transport.token_file")
                guard path.hasPrefix("/"), !Self.hasControl(path) else { throw error(fileNode, what, "transport.token_file must be an absolute path, got '\(path)'") }
                token = .file(path)
            case let (nil, envNode?):
                let name = try scalar(envNode, what + " transport.token_env")
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }), !(name.first!.isNumber) else {
                    throw error(envNode, what, "transport.token_env must be an environment variable name like HA_TOKEN, got '\(name)'")
                }
                token = .environment(name)
            default:
                throw error(node, what, "transport (via home_assistant): give exactly one of 'token_file' or 'token_env'")
            }
            let timeout = try fields["timeout"].map { (node: Node) throws(DeviceError) in try seconds(node, what + " transport.timeout") } ?? 5
            return .homeAssistant(HomeAssistantSpec(url: url, entityID: entity, token: token, timeout: timeout))
        case "speaker":
            guard thisDevice else { throw error(node, what, "transport via speaker is for the device with this_device: true") }
            let fields = try only(["mixer", "control", "playback", "volume_step"])
            var spec = SpeakerSpec()
            let mixer = try fields["mixer"].map { (node: Node) throws(DeviceError) in try alsaName(node, what + " transport.mixer") } ?? spec.mixer
            let control = try fields["control"].map { (node: Node) throws(DeviceError) in try alsaName(node, what + " transport.control") } ?? spec.control
            let playback = try fields["playback"].map { (node: Node) throws(DeviceError) in try alsaName(node, what + " transport.playback") } ?? spec.playback
            var step = spec.volumeStep
            if let stepNode = fields["volume_step"] {
                let value = try number(stepNode, what + " transport.volume_step")
                guard value == value.rounded(), value >= 1, value <= 50 else { throw error(stepNode, what, "transport.volume_step must be a whole number 1–50") }
                step = Int(value)
            }
            spec = SpeakerSpec(mixer: mixer, control: control, playback: playback, volumeStep: step)
            return .speaker(spec)
        default:
            throw error(viaNode, what, "unknown transport '\(via)' (expected zigbee2mqtt, tasmota, mqtt, exec, file, home_assistant or speaker)")
        }
    }

    func commandSpec(_ name: String, in commands: [CommandSpec], type: DeviceType, at node: Node, what: String) throws(DeviceError) -> CommandSpec {
        guard let spec = commands.first(where: { $0.name == name }) else {
            throw error(node, what, "unknown command '\(name)' for a \(type.rawValue) (expected \(commands.map(\.name).joined(separator: ", ")))")
        }
        return spec
    }

    /// A template whose placeholders are `device`, `command` or arguments of every command in `specs`.
    func template(_ node: Node, for spec: CommandSpec, what: String) throws(DeviceError) -> Template {
        let text = try scalar(node, what)
        guard !Self.hasControl(text) else { throw error(node, what, "control characters are not allowed in '\(Self.escaped(text))'") }
        let template = Template(text)
        try checkPlaceholders(template, for: [spec], at: node, what: what)
        return template
    }

    func argvTemplate(_ node: Node, for specs: [CommandSpec], what: String) throws(DeviceError) -> [Template] {
        let items = try sequence(node, what)
        guard !items.isEmpty else { throw error(node, what, "argv is empty") }
        var argv: [Template] = []
        for (index, item) in items.enumerated() {
            let text = try scalar(item, what)
            guard !text.utf8.contains(0) else { throw error(item, what, "argv[\(index)] contains a NUL byte, which no argument can carry") }
            if index == 0 {
                guard text.hasPrefix("/"), Template(text).placeholders.isEmpty else {
                    throw error(item, what, "argv[0] must be an absolute program path without placeholders (no shell, no PATH search), got '\(Self.escaped(text))'")
                }
            }
            let template = Template(text)
            try checkPlaceholders(template, for: specs, at: item, what: what)
            argv.append(template)
        }
        return argv
    }

    func checkPlaceholders(_ template: Template, for specs: [CommandSpec], at node: Node, what: String) throws(DeviceError) {
        for name in template.placeholders where name != "device" && name != "command" {
            guard let parameter = Parameter(rawValue: name) else {
                throw error(node, what, "unknown placeholder '{\(name)}' (expected {device}, {command} or an argument: {percent}, {celsius}, {seconds}, {level})")
            }
            if let spec = specs.first(where: { !$0.parameters.contains(parameter) }) {
                throw error(node, what, "placeholder '{\(name)}' has no value for command '\(spec.name)'; give that command its own entry under 'commands'")
            }
        }
    }

    func topic(_ node: Node, _ what: String) throws(DeviceError) -> String {
        let text = try scalar(node, what)
        guard !text.isEmpty, text.utf8.count <= 65_535 else { throw error(node, what, "bad topic: empty or longer than 65535 bytes") }
        guard !text.contains("+"), !text.contains("#") else { throw error(node, what, "bad topic '\(text)': wildcards + and # cannot be published to") }
        guard !Self.hasControl(text) else { throw error(node, what, "bad topic '\(Self.escaped(text))': control characters") }
        return text
    }

    func alsaName(_ node: Node, _ what: String) throws(DeviceError) -> String {
        let text = try scalar(node, what)
        guard !text.isEmpty, !Self.hasControl(text) else { throw error(node, what, "must be a non-empty ALSA name") }
        return text
    }

    func spokenName(_ node: Node, _ what: String) throws(DeviceError) -> String {
        let text = Catalog.normalize(name: try scalar(node, what))
        guard !text.isEmpty, text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == " " || $0 == "'" || $0 == "-" }) else {
            throw error(node, what, "spoken name '\(Self.escaped(text))' must be words: letters, digits, spaces, ' and -")
        }
        return text
    }

    func seconds(_ node: Node, _ what: String) throws(DeviceError) -> Double {
        let value = try number(node, what)
        guard value >= 0.1, value <= 300 else { throw error(node, what, "must be 0.1–300 seconds, got \(value)") }
        return value
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}
