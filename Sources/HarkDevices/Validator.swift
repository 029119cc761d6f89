/// Validation and policy for every action, whatever its source: the device exists, the command belongs
/// to its type, every argument is present, typed and in range, nothing unexpected is passed, and voice
/// may not run security-sensitive commands unless the device's catalog entry allows it.
public struct Validator: Sendable {
    public let catalog: Catalog

    public init(catalog: Catalog) { self.catalog = catalog }

    public enum Outcome: Sendable, Equatable {
        case valid(ValidatedAction)
        /// The action is wrong: an error for whoever sent it.
        case invalid(DeviceError)
        /// The action is well-formed but policy forbids it from this source: an event, not an error.
        case refused(ValidatedAction, reason: String)
    }

    public func check(_ action: Action, source: ActionSource) -> Outcome {
        let validated: ValidatedAction
        do { validated = try validate(action) }
        catch { return .invalid(error) }
        if source.isVoice && !validated.device.voiceAllows(validated.command) {
            return .refused(validated, reason: "voice_not_allowed")
        }
        return .valid(validated)
    }

    /// Types and range-checks the action against the catalog.
    public func validate(_ action: Action) throws(DeviceError) -> ValidatedAction {
        guard let device = catalog.device(id: action.device) else {
            throw DeviceError(.unknownDevice, "unknown device '\(Self.shown(action.device))'")
        }
        guard let command = device.command(named: action.command) else {
            throw DeviceError(.unknownCommand, "'\(device.id)' (a \(device.type.rawValue)) has no command '\(Self.shown(action.command))'; it has \(device.commands.map(\.name).joined(separator: ", "))")
        }
        let what = "\(device.id).\(command.name)"
        if let extra = action.args.keys.sorted().first(where: { name in !command.parameters.contains { $0.rawValue == name } }) {
            let expected = command.parameters.isEmpty ? "no arguments" : command.parameters.map(\.rawValue).joined(separator: ", ")
            throw DeviceError(.badArgument, "\(what): unexpected argument '\(Self.shown(extra))' (takes \(expected))")
        }
        var arguments: [Parameter: ArgumentValue] = [:]
        for parameter in command.parameters {
            guard let value = action.args[parameter.rawValue], value != .null else {
                throw DeviceError(.badArgument, "\(what): missing argument '\(parameter.rawValue)'")
            }
            arguments[parameter] = try typed(value, parameter, device: device, what: what)
        }
        return ValidatedAction(device: device, command: command, arguments: arguments)
    }

    func typed(_ value: JSONValue, _ parameter: Parameter, device: Device, what: String) throws(DeviceError) -> ArgumentValue {
        let name = parameter.rawValue
        switch parameter {
        case .percent:
            guard let number = value.numberValue, number == number.rounded(), (0...100).contains(number) else {
                throw DeviceError(.badArgument, "\(what): '\(name)' must be a whole number 0–100, got \(Self.shown(value))")
            }
            return .integer(Int(number))
        case .seconds:
            guard let number = value.numberValue, number == number.rounded(),
                  Double(Parameter.timerRange.lowerBound)...Double(Parameter.timerRange.upperBound) ~= number else {
                throw DeviceError(.badArgument, "\(what): '\(name)' must be a whole number of seconds from 1 to 86400 (24 h), got \(Self.shown(value))")
            }
            return .integer(Int(number))
        case .celsius:
            guard let number = value.numberValue, device.celsius.contains(number) else {
                throw DeviceError(.badArgument, "\(what): '\(name)' must be a number from \(JSONValue.formatNumber(device.celsius.lowerBound)) to \(JSONValue.formatNumber(device.celsius.upperBound)) for this device, got \(Self.shown(value))")
            }
            return .decimal(number)
        case .level:
            guard let word = value.stringValue, Parameter.fanLevels.contains(word) else {
                throw DeviceError(.badArgument, "\(what): '\(name)' must be one of \(Parameter.fanLevels.joined(separator: ", ")), got \(Self.shown(value))")
            }
            return .word(word)
        }
    }

    /// Untrusted text shown in a one-line message: escaped and cut to 60 characters.
    static func shown(_ text: String) -> String {
        let escaped = CatalogReader.escaped(text)
        return escaped.count > 60 ? String(escaped.prefix(60)) + "…" : escaped
    }

    static func shown(_ value: JSONValue) -> String { shown(value.jsonText) }
}
