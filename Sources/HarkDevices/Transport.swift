/// Delivers validated actions to devices of one kind of transport.
///
/// A transport is given only `ValidatedAction`s: the device exists, the command belongs to its type,
/// and every argument is typed and in range. It returns a short receipt for the journal
/// ("puback", "exit 0", "HTTP 200") or throws a `DeviceError` saying what failed.
public protocol Transport: Sendable {
    /// Which `TransportSpec` cases this transport serves (their `via` names).
    var serves: Set<String> { get }
    /// Starts connections and background work; called once before the first `perform`.
    func start() async throws
    /// Sends one action and waits for the device side to confirm it (PUBACK, exit status, HTTP status).
    func perform(_ action: ValidatedAction) async throws -> String
    /// Stops background work; pending actions fail.
    func shutdown() async
    /// True for a transport built to do no device I/O (the speaker keeping timers silently): the
    /// dispatcher calls it even in dry-run. Every other transport is skipped in dry-run.
    var performsInDryRun: Bool { get }
}

extension Transport {
    public func start() async throws {}
    public func shutdown() async {}
    public var performsInDryRun: Bool { false }
}

/// A change of a device's state, as reported by the device (MQTT state topics) or by Hark itself
/// (the speaker's volume, an action acknowledged by a transport without state feedback).
/// Keys are Hark's state vocabulary:
///
///     power          "on" | "off"
///     brightness     0–100 (lights)
///     speed          "low" | "medium" | "high" (fans)
///     target_celsius number (thermostats)
///     current_celsius number (thermostats that report it)
///     position       0–100 (covers; 100 = open)
///     volume         0–100 (media, the speaker)
///     muted          true | false
///     locked         true | false
///     available      true | false (devices that report availability)
public struct StateUpdate: Sendable, Equatable {
    public let device: String
    public let values: [String: JSONValue]
    /// "mqtt", "speaker", "action".
    public let origin: String

    public init(device: String, values: [String: JSONValue], origin: String) {
        self.device = device
        self.values = values
        self.origin = origin
    }
}

/// Where transports report device state; called from any thread.
public typealias StateObserver = @Sendable (StateUpdate) -> Void

extension ValidatedAction {
    /// The values a template may use: `device`, `command` and each argument by name.
    public var templateValues: [String: String] {
        var values = ["device": device.id, "command": command.name]
        for (parameter, value) in arguments { values[parameter.rawValue] = value.text }
        return values
    }

    /// The state this action should leave the device in, for devices that do not report state.
    public var expectedState: [String: JSONValue] {
        switch command.name {
        case "turn_on": ["power": .string("on")]
        case "turn_off": ["power": .string("off")]
        case "set_brightness": ["power": .string("on"), "brightness": .number(Double(integer(.percent) ?? 0))]
        case "set_speed": ["power": .string("on"), "speed": .string(word(.level) ?? "")]
        case "set_temperature": ["target_celsius": .number(decimal(.celsius) ?? 0)]
        case "open": ["position": .number(100)]
        case "close": ["position": .number(0)]
        case "set_position": ["position": .number(Double(integer(.percent) ?? 0))]
        case "set_volume": ["volume": .number(Double(integer(.percent) ?? 0))]
        case "mute": ["muted": .bool(true)]
        case "unmute": ["muted": .bool(false)]
        case "lock": ["locked": .bool(true)]
        case "unlock": ["locked": .bool(false)]
        default: [:]
        }
    }
}
