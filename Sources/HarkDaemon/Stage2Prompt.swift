import HarkDevices
import HarkStage2

/// The stage-2 model's prompt and answer, byte for byte as training/prompt.py makes them (the model
/// was trained on that text; tests compare the two on the demo home):
///
///     <|im_start|>system
///     Devices (id type room: names):
///     kitchen_light light kitchen: kitchen light
///     …
///     Commands: light turn_on turn_off set_brightness(percent) | … | speaker +start_timer(seconds) cancel_timer
///     Answer: JSON actions, then a short reply.<|im_end|>
///     <|im_start|>user
///     REQUEST<|im_end|>
///     <|im_start|>assistant
///
/// The answer's first line is the action list, constrained by ``grammar`` to the catalog.
public struct Stage2Prompt: Sendable {
    /// The system message for the catalog: the same for every request, so the worker's cache keeps it.
    public let catalogText: String
    /// The action grammar the answer is held to.
    public let grammar: ActionGrammar.Spec

    /// `maxActions` bounds the answer's list (a model repeating itself must close it).
    public init(catalog: Catalog, maxActions: Int? = nil) {
        catalogText = Self.render(catalog)
        grammar = ActionGrammar.Spec(devices: catalog.devices.map { device in
            ActionGrammar.Spec.Device(id: device.id, commands: device.commands.map { command in
                let argument = command.parameters.first
                return ActionGrammar.Spec.Command(name: command.name, argument: argument?.rawValue,
                                                  minimum: argument == .celsius ? device.celsius.lowerBound : nil,
                                                  maximum: argument == .celsius ? device.celsius.upperBound : nil)
            })
        }, maxActions: maxActions)
    }

    /// Everything before the answer.
    public func prompt(for request: String) -> String {
        prefix + "<|im_start|>user\n\(request)<|im_end|>\n<|im_start|>assistant\n"
    }

    /// The part of every prompt that depends on the catalog only (the worker computes it once).
    public var prefix: String { "<|im_start|>system\n\(catalogText)<|im_end|>\n" }

    /// The action list of an answer (its first line); a one-line error when it is not one.
    public static func actions(in answer: String) throws(DaemonError) -> [Action] {
        let line = answer.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let value: JSONValue
        do { value = try JSONValue.parse(line) } catch {
            throw DaemonError("stage 2: the model's answer is not a JSON action list: \(Self.head(line))")
        }
        guard case let .array(items) = value else { throw DaemonError("stage 2: the model's answer is not a list: \(Self.head(line))") }
        var actions: [Action] = []
        for item in items {
            do { actions.append(try Action(json: item)) }
            catch { throw DaemonError("stage 2: the model's answer has a malformed action (\(error.message)): \(Self.head(line))") }
        }
        return actions
    }

    static func head(_ text: String) -> String {
        text.count > 120 ? String(text.prefix(120)) + "…" : text
    }

    /// training/prompt.py's COMMANDS order of types.
    static let typeOrder: [DeviceType] = [.light, .switch, .fan, .thermostat, .cover, .media, .lock]

    static func render(_ catalog: Catalog) -> String {
        var lines = ["Devices (id type room: names):"]
        var types: [DeviceType] = []
        for device in catalog.devices {
            if !types.contains(device.type) { types.append(device.type) }
            if device.thisDevice {
                lines.append("\(device.id) \(device.type.rawValue) this: speaker")
                continue
            }
            var head = "\(device.id) \(device.type.rawValue)"
            if let room = device.room.flatMap({ catalog.rooms[$0] }), !room.isEmpty { head += " \(room)" }
            if device.type == .thermostat {
                head += " \(number(device.celsius.lowerBound))-\(number(device.celsius.upperBound))C"
            }
            lines.append(head + ": " + device.names.joined(separator: ", "))
        }
        var parts: [String] = []
        for type in typeOrder where types.contains(type) {
            parts.append(([type.rawValue] + type.commands().map(signature)).joined(separator: " "))
        }
        if catalog.devices.contains(where: \.thisDevice) {
            let extra = DeviceType.media.commands(thisDevice: true).dropFirst(DeviceType.media.commands().count)
            parts.append("speaker +" + extra.map(signature).joined(separator: " "))
        }
        lines.append("Commands: " + parts.joined(separator: " | "))
        lines.append("Answer: JSON actions, then a short reply.")
        return lines.joined(separator: "\n")
    }

    static func signature(_ command: CommandSpec) -> String {
        command.parameters.isEmpty ? command.name : "\(command.name)(\(command.parameters.map(\.rawValue).joined(separator: ",")))"
    }

    /// Python's `_num`: an integral value without a decimal point, else its shortest form.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
