/// The device types of the catalog and the commands each accepts (DESIGN §4, a public contract):
///
///     light       turn_on, turn_off, set_brightness{percent}
///     switch      turn_on, turn_off
///     fan         turn_on, turn_off, set_speed{level: low|medium|high}
///     thermostat  turn_on, turn_off, set_temperature{celsius}
///     cover       open, close, set_position{percent}
///     media       turn_on, turn_off, set_volume{percent}, volume_up, volume_down, mute, unmute
///     lock        lock, unlock
///     (the speaker Hark runs on: media plus start_timer{seconds}, cancel_timer)
public enum DeviceType: String, Sendable, CaseIterable, Codable {
    case light, `switch`, fan, thermostat, cover, media, lock

    /// The commands of this type; `thisDevice` adds the speaker's timers to `media`.
    public func commands(thisDevice: Bool = false) -> [CommandSpec] {
        switch self {
        case .light: return [.turnOn, .turnOff, .setBrightness]
        case .switch: return [.turnOn, .turnOff]
        case .fan: return [.turnOn, .turnOff, .setSpeed]
        case .thermostat: return [.turnOn, .turnOff, .setTemperature]
        case .cover: return [.open, .close, .setPosition]
        case .media:
            let media: [CommandSpec] = [.turnOn, .turnOff, .setVolume, .volumeUp, .volumeDown, .mute, .unmute]
            return thisDevice ? media + [.startTimer, .cancelTimer] : media
        case .lock: return [.lock, .unlock]
        }
    }
}

/// One command: its name and its arguments.
public struct CommandSpec: Sendable, Equatable {
    public let name: String
    public let parameters: [Parameter]
    /// Commands that open the house to someone: refused from voice unless the catalog opts in.
    public let securitySensitive: Bool

    init(_ name: String, _ parameters: [Parameter] = [], securitySensitive: Bool = false) {
        self.name = name
        self.parameters = parameters
        self.securitySensitive = securitySensitive
    }

    public static let turnOn = CommandSpec("turn_on")
    public static let turnOff = CommandSpec("turn_off")
    public static let setBrightness = CommandSpec("set_brightness", [.percent])
    public static let setSpeed = CommandSpec("set_speed", [.level])
    public static let setTemperature = CommandSpec("set_temperature", [.celsius])
    public static let open = CommandSpec("open")
    public static let close = CommandSpec("close")
    public static let setPosition = CommandSpec("set_position", [.percent])
    public static let setVolume = CommandSpec("set_volume", [.percent])
    public static let volumeUp = CommandSpec("volume_up")
    public static let volumeDown = CommandSpec("volume_down")
    public static let mute = CommandSpec("mute")
    public static let unmute = CommandSpec("unmute")
    public static let lock = CommandSpec("lock")
    public static let unlock = CommandSpec("unlock", securitySensitive: true)
    public static let startTimer = CommandSpec("start_timer", [.seconds])
    public static let cancelTimer = CommandSpec("cancel_timer")
}

/// An argument of a command, with its type and range.
public enum Parameter: String, Sendable, Equatable, CaseIterable {
    /// An integer 0–100 (brightness, position, volume).
    case percent
    /// A temperature in °C within the device's `limits.celsius` (default 5–35).
    case celsius
    /// A timer length: an integer number of seconds, 1 s to 24 h.
    case seconds
    /// A fan speed: low, medium or high.
    case level

    public static let fanLevels = ["low", "medium", "high"]
    public static let timerRange: ClosedRange<Int> = 1...86_400
    public static let defaultCelsius: ClosedRange<Double> = 5...35
}
