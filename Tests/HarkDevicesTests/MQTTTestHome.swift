import HarkDevices
import Logging
import Synchronization

/// A demo-home-like catalog reaching devices of every type through each MQTT convention.
enum MQTTTestHome {
    static let yaml = """
        rooms: {kitchen: kitchen, living_room: living room, bedroom: bedroom, hallway: hallway, study: study}
        devices:
          kitchen_light: {type: light, room: kitchen, names: [kitchen light], transport: {via: zigbee2mqtt, name: kitchen_light}}
          kitchen_fan: {type: fan, room: kitchen, names: [kitchen fan], transport: {via: tasmota, topic: kitchen_fan}}
          coffee_maker: {type: switch, room: kitchen, names: [coffee maker], transport: {via: tasmota, topic: coffee_maker}}
          living_room_tv:
            type: media
            room: living_room
            names: [tv]
            transport:
              via: mqtt
              state_topic: home/living_room_tv/state
              commands:
                turn_on:     {topic: home/living_room_tv/power, payload: "ON"}
                turn_off:    {topic: home/living_room_tv/power, payload: "OFF"}
                set_volume:  {topic: home/living_room_tv/volume, payload: "{percent}"}
                volume_up:   {topic: home/living_room_tv/volume/step, payload: "+5"}
                mute:        {topic: home/living_room_tv/mute, payload: "{device} {command}"}
          bedroom_thermostat: {type: thermostat, room: bedroom, names: [thermostat], limits: {celsius: {min: 10, max: 28}}, transport: {via: zigbee2mqtt, name: bedroom_thermostat}}
          bedroom_blinds: {type: cover, room: bedroom, names: [blinds], transport: {via: zigbee2mqtt, name: bedroom_blinds}}
          bedroom_fan: {type: fan, room: bedroom, names: [bedroom fan], transport: {via: zigbee2mqtt, base: z2m, name: bedroom_fan}}
          hallway_light: {type: light, room: hallway, names: [hallway light], transport: {via: tasmota, topic: hallway_light}}
          front_door: {type: lock, room: hallway, names: [front door], transport: {via: zigbee2mqtt, name: front_door}}
          garage_door: {type: lock, room: hallway, names: [garage door], transport: {via: tasmota, topic: garage_door}}
          study_blinds: {type: cover, room: study, names: [study blinds], transport: {via: tasmota, topic: study_blinds}}
          study_heater: {type: thermostat, room: study, names: [study heater], transport: {via: tasmota, topic: study_heater}}
          study_radio: {type: media, room: study, names: [radio], transport: {via: zigbee2mqtt, name: study_radio}}
        """

    static let catalog: Catalog = try! Catalog.parse(yaml: yaml, file: "mqtt-test-home.yaml")

    static func action(_ device: String, _ command: String, _ args: [String: JSONValue] = [:]) throws -> ValidatedAction {
        try Validator(catalog: catalog).validate(Action(device: device, command: command, args: args))
    }

    static func device(_ id: String) -> Device { catalog.device(id: id)! }
}

/// Log lines kept for assertions ("warning MQTT state on 'topic' ignored: …").
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }

    /// A logger writing into this list from `level` up.
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "hark.test") { _ in Handler(lines: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .info

        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append("\(event.level) \(event.message)\(metadata.isEmpty ? "" : " " + metadata)")
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
    }
}
