/// One device of the catalog: what it is, where, what people call it, its limits and voice policy,
/// and how Hark reaches it.
public struct Device: Sendable, Equatable, Identifiable {
    /// Stable id, e.g. `kitchen_light`: lowercase letters, digits and `_`.
    public let id: String
    public let type: DeviceType
    /// The room's key in `rooms`, or nil (the speaker itself).
    public let room: String?
    /// Spoken names, lowercase words: "kitchen light", "lamp".
    public let names: [String]
    /// The speaker Hark runs on (adds the timer commands).
    public let thisDevice: Bool
    /// Allowed range of `set_temperature` (thermostats); the default is 5–35 °C.
    public let celsius: ClosedRange<Double>
    /// Commands whose voice policy differs from the default (`unlock` is refused from voice unless
    /// allowed here; any command can be denied to voice).
    public let voice: [String: VoicePolicy]
    /// Pronunciations for words of the spoken names that the recognizer's dictionary lacks (or says
    /// differently): word → ARPAbet phone strings, e.g. "unmute": ["AH N M Y UW T"].
    public let pronunciations: [String: [String]]
    public let transport: TransportSpec
    /// Where this entry was read from, for error messages: "devices/demo-home.yaml:12".
    public let origin: String

    public init(id: String, type: DeviceType, room: String? = nil, names: [String] = [], thisDevice: Bool = false,
                celsius: ClosedRange<Double> = Parameter.defaultCelsius, voice: [String: VoicePolicy] = [:],
                pronunciations: [String: [String]] = [:], transport: TransportSpec, origin: String = "") {
        self.id = id
        self.type = type
        self.room = room
        self.names = names
        self.thisDevice = thisDevice
        self.celsius = celsius
        self.voice = voice
        self.pronunciations = pronunciations
        self.transport = transport
        self.origin = origin
    }

    /// The commands this device accepts.
    public var commands: [CommandSpec] { type.commands(thisDevice: thisDevice) }

    public func command(named name: String) -> CommandSpec? { commands.first { $0.name == name } }

    /// Whether a spoken request may run `command`.
    public func voiceAllows(_ command: CommandSpec) -> Bool {
        switch voice[command.name] {
        case .allow?: true
        case .deny?: false
        case nil: !command.securitySensitive
        }
    }
}

public enum VoicePolicy: String, Sendable, Equatable {
    case allow, deny
}

/// How Hark reaches a device. Every parameter is checked when the catalog loads.
public enum TransportSpec: Sendable, Equatable {
    /// Zigbee2MQTT: JSON to `<base>/<name>/set`; state from `<base>/<name>`.
    case zigbee2mqtt(base: String, name: String)
    /// Tasmota: `cmnd/<topic>/<COMMAND>` with a plain payload; state from `stat/<topic>/RESULT`
    /// and `tele/<topic>/STATE`.
    case tasmota(topic: String)
    /// Any MQTT device: per command a topic and a payload template; optional JSON state topic.
    case mqtt(MQTTTemplate)
    /// A program run without a shell: per command an argv template, each placeholder one argument.
    case exec(ExecSpec)
    /// A value written to one declared path (a board LED under /sys/class/leds).
    case file(FileSpec)
    /// Home Assistant's REST API: `POST <url>/api/services/<domain>/<service>`.
    case homeAssistant(HomeAssistantSpec)
    /// The speaker Hark runs on: ALSA mixer volume and mute, timers, the chime.
    case speaker(SpeakerSpec)

    /// The `via` name of the catalog.
    public var via: String {
        switch self {
        case .zigbee2mqtt: "zigbee2mqtt"
        case .tasmota: "tasmota"
        case .mqtt: "mqtt"
        case .exec: "exec"
        case .file: "file"
        case .homeAssistant: "home_assistant"
        case .speaker: "speaker"
        }
    }

    public var usesMQTT: Bool {
        switch self {
        case .zigbee2mqtt, .tasmota, .mqtt: true
        default: false
        }
    }
}

/// A template: literal text with `{name}` placeholders for `device`, `command` and the arguments
/// (`percent`, `celsius`, `seconds`, `level`). Values substituted are validated numbers and words.
public struct Template: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }

    /// The placeholder names used, in order.
    public var placeholders: [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            names.append(String(after[..<close]))
            rest = after[after.index(after: close)...]
        }
        return names
    }

    /// Fills the placeholders; nil names one that has no value here.
    public func render(_ values: [String: String]) -> Result<String, MissingValue> {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { rest = rest[open...]; break }
            let name = String(after[..<close])
            guard let value = values[name] else { return .failure(MissingValue(name: name)) }
            out += value
            rest = after[after.index(after: close)...]
        }
        out += rest
        return .success(out)
    }

    public struct MissingValue: Error, Sendable { public let name: String }
}

public struct MQTTTemplate: Sendable, Equatable {
    public struct Publish: Sendable, Equatable {
        public let topic: String
        public let payload: Template
    }
    /// Per command name.
    public let commands: [String: Publish]
    /// A topic carrying the device's state as a JSON object in Hark's state vocabulary
    /// (`power`, `brightness`, …) or a bare `ON`/`OFF`.
    public let stateTopic: String?
}

public struct ExecSpec: Sendable, Equatable {
    /// argv per command name; `default` applies to commands without their own.
    public let argv: [String: [Template]]
    /// Seconds before the program is killed and the action fails.
    public let timeout: Double
}

public struct FileSpec: Sendable, Equatable {
    /// An absolute path, fixed in the catalog; nothing else is ever written.
    public let path: String
    /// The value written per command name, e.g. turn_on: "1", set_brightness: "{percent}".
    public let values: [String: Template]
}

public struct HomeAssistantSpec: Sendable, Equatable {
    /// Base URL of Home Assistant, e.g. http://homeassistant.local:8123.
    public let url: String
    /// The entity, e.g. light.kitchen; its domain picks the services.
    public let entityID: String
    /// Where the long-lived access token comes from.
    public let token: TokenSource
    public let timeout: Double

    public enum TokenSource: Sendable, Equatable {
        case file(String)
        case environment(String)
    }
}

public struct SpeakerSpec: Sendable, Equatable {
    /// ALSA mixer (ctl) device, e.g. "default" or "hw:0".
    public let mixer: String
    /// Simple mixer control, e.g. "Master" or "PCM".
    public let control: String
    /// ALSA playback device for the timer chime.
    public let playback: String
    /// Percent per volume_up / volume_down.
    public let volumeStep: Int

    public init(mixer: String = "default", control: String = "Master", playback: String = "default", volumeStep: Int = 10) {
        self.mixer = mixer
        self.control = control
        self.playback = playback
        self.volumeStep = volumeStep
    }
}
