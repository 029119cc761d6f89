/// A device action (DESIGN §4): `{"device":"kitchen_light","command":"set_brightness","args":{"percent":40}}`.
/// As received it is untrusted; `Validator` turns it into a `ValidatedAction` or says why not.
public struct Action: Sendable, Equatable, Hashable, Codable {
    public var device: String
    public var command: String
    public var args: [String: JSONValue]

    public init(device: String, command: String, args: [String: JSONValue] = [:]) {
        self.device = device
        self.command = command
        self.args = args
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        device = try container.decode(String.self, forKey: .device)
        command = try container.decode(String.self, forKey: .command)
        args = try container.decodeIfPresent([String: JSONValue].self, forKey: .args) ?? [:]
    }

    /// The contract's JSON object, keys in contract order.
    public var jsonText: String {
        #"{"device":\#(JSONValue.quote(device)),"command":\#(JSONValue.quote(command)),"args":\#(JSONValue.object(args).jsonText)}"#
    }

    /// Reads an action from a JSON value; a one-line reason when it is not shaped like one.
    public init(json: JSONValue) throws(DeviceError) {
        guard let object = json.objectValue else { throw DeviceError(.invalidAction, "an action must be a JSON object with device, command and args") }
        guard let device = object["device"]?.stringValue else { throw DeviceError(.invalidAction, "the action has no \"device\" string") }
        guard let command = object["command"]?.stringValue else { throw DeviceError(.invalidAction, "the action for '\(device)' has no \"command\" string") }
        var args: [String: JSONValue] = [:]
        switch object["args"] {
        case nil, .null?: break
        case let .object(members)?: args = members
        default: throw DeviceError(.invalidAction, "the \"args\" of '\(device).\(command)' must be a JSON object")
        }
        if let extra = object.keys.first(where: { !["device", "command", "args"].contains($0) }) {
            throw DeviceError(.invalidAction, "the action for '\(device)' has an unknown key \"\(extra)\"")
        }
        self.init(device: device, command: command, args: args)
    }
}

/// Where an action came from; voice sources are held to the catalog's `voice` policy.
public enum ActionSource: Sendable, Equatable {
    /// Recognised speech: stage 1 (grammar) or stage 2 (the language model).
    case voice(stage: Int)
    /// The control socket or `harkctl`.
    case socket
    /// A script of actions given to harkd (`--actions`).
    case script
    /// Hark itself (an expiring timer).
    case system

    public var isVoice: Bool { if case .voice = self { true } else { false } }

    /// The name stored in the journal: "voice1", "voice2", "socket", "script", "system".
    public var name: String {
        switch self {
        case let .voice(stage): "voice\(stage)"
        case .socket: "socket"
        case .script: "script"
        case .system: "system"
        }
    }

    public init?(name: String) {
        switch name {
        case "voice1": self = .voice(stage: 1)
        case "voice2": self = .voice(stage: 2)
        case "socket": self = .socket
        case "script": self = .script
        case "system": self = .system
        default: return nil
        }
    }
}

/// A typed argument value after validation.
public enum ArgumentValue: Sendable, Equatable, Hashable {
    case integer(Int)
    case decimal(Double)
    case word(String)

    /// The text a template substitutes: "40", "21.5", "low".
    public var text: String {
        switch self {
        case let .integer(value): String(value)
        case let .decimal(value): JSONValue.formatNumber(value)
        case let .word(value): value
        }
    }

    public var json: JSONValue {
        switch self {
        case let .integer(value): .number(Double(value))
        case let .decimal(value): .number(value)
        case let .word(value): .string(value)
        }
    }
}

/// An action that passed validation and policy: the device exists, the command belongs to its type,
/// and every argument is present, typed and in range. Only these reach a transport.
public struct ValidatedAction: Sendable, Equatable {
    public let device: Device
    public let command: CommandSpec
    public let arguments: [Parameter: ArgumentValue]

    public var action: Action {
        var args: [String: JSONValue] = [:]
        for (parameter, value) in arguments { args[parameter.rawValue] = value.json }
        return Action(device: device.id, command: command.name, args: args)
    }

    public func integer(_ parameter: Parameter) -> Int? {
        if case let .integer(value)? = arguments[parameter] { value } else { nil }
    }
    public func decimal(_ parameter: Parameter) -> Double? {
        switch arguments[parameter] {
        case let .decimal(value)?: value
        case let .integer(value)?: Double(value)
        default: nil
        }
    }
    public func word(_ parameter: Parameter) -> String? {
        if case let .word(value)? = arguments[parameter] { value } else { nil }
    }
}
