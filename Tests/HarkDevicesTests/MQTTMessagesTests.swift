import Testing
@testable import HarkDevices

/// `MQTTMessages`: actions → (topic, payload) per convention, and state payloads → Hark's vocabulary.
@Suite struct MQTTMessagesTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let device: String
        let command: String
        let args: [String: JSONValue]
        let topic: String
        let payload: String
        init(_ device: String, _ command: String, _ topic: String, _ payload: String) {
            self.init(device, command, [:], topic, payload)
        }
        init(_ device: String, _ command: String, _ args: [String: JSONValue], _ topic: String, _ payload: String) {
            self.device = device
            self.command = command
            self.args = args
            self.topic = topic
            self.payload = payload
        }
        var testDescription: String { "\(device).\(command)\(args.isEmpty ? "" : JSONValue.object(args).jsonText)" }
    }

    static let commands: [Case] = [
        // Zigbee2MQTT
        Case("kitchen_light", "turn_on", "zigbee2mqtt/kitchen_light/set", #"{"state":"ON"}"#),
        Case("kitchen_light", "turn_off", "zigbee2mqtt/kitchen_light/set", #"{"state":"OFF"}"#),
        Case("kitchen_light", "set_brightness", ["percent": .number(50)], "zigbee2mqtt/kitchen_light/set", #"{"brightness":127,"state":"ON"}"#),
        Case("kitchen_light", "set_brightness", ["percent": .number(40)], "zigbee2mqtt/kitchen_light/set", #"{"brightness":102,"state":"ON"}"#),
        Case("kitchen_light", "set_brightness", ["percent": .number(100)], "zigbee2mqtt/kitchen_light/set", #"{"brightness":254,"state":"ON"}"#),
        Case("bedroom_fan", "turn_on", "z2m/bedroom_fan/set", #"{"fan_state":"ON"}"#),
        Case("bedroom_fan", "turn_off", "z2m/bedroom_fan/set", #"{"fan_state":"OFF"}"#),
        Case("bedroom_fan", "set_speed", ["level": .string("medium")], "z2m/bedroom_fan/set", #"{"fan_mode":"medium"}"#),
        Case("bedroom_thermostat", "turn_on", "zigbee2mqtt/bedroom_thermostat/set", #"{"system_mode":"heat"}"#),
        Case("bedroom_thermostat", "turn_off", "zigbee2mqtt/bedroom_thermostat/set", #"{"system_mode":"off"}"#),
        Case("bedroom_thermostat", "set_temperature", ["celsius": .number(21.5)], "zigbee2mqtt/bedroom_thermostat/set", #"{"current_heating_setpoint":21.5}"#),
        Case("bedroom_blinds", "open", "zigbee2mqtt/bedroom_blinds/set", #"{"state":"OPEN"}"#),
        Case("bedroom_blinds", "close", "zigbee2mqtt/bedroom_blinds/set", #"{"state":"CLOSE"}"#),
        Case("bedroom_blinds", "set_position", ["percent": .number(30)], "zigbee2mqtt/bedroom_blinds/set", #"{"position":30}"#),
        Case("front_door", "lock", "zigbee2mqtt/front_door/set", #"{"state":"LOCK"}"#),
        Case("front_door", "unlock", "zigbee2mqtt/front_door/set", #"{"state":"UNLOCK"}"#),
        Case("study_radio", "turn_on", "zigbee2mqtt/study_radio/set", #"{"state":"ON"}"#),
        Case("study_radio", "set_volume", ["percent": .number(35)], "zigbee2mqtt/study_radio/set", #"{"volume":35}"#),
        Case("study_radio", "mute", "zigbee2mqtt/study_radio/set", #"{"mute":"ON"}"#),
        Case("study_radio", "unmute", "zigbee2mqtt/study_radio/set", #"{"mute":"OFF"}"#),
        // Tasmota
        Case("coffee_maker", "turn_on", "cmnd/coffee_maker/POWER", "ON"),
        Case("coffee_maker", "turn_off", "cmnd/coffee_maker/POWER", "OFF"),
        Case("hallway_light", "set_brightness", ["percent": .number(40)], "cmnd/hallway_light/Dimmer", "40"),
        Case("kitchen_fan", "turn_on", "cmnd/kitchen_fan/FanSpeed", "1"),
        Case("kitchen_fan", "turn_off", "cmnd/kitchen_fan/FanSpeed", "0"),
        Case("kitchen_fan", "set_speed", ["level": .string("low")], "cmnd/kitchen_fan/FanSpeed", "1"),
        Case("kitchen_fan", "set_speed", ["level": .string("high")], "cmnd/kitchen_fan/FanSpeed", "3"),
        Case("study_blinds", "open", "cmnd/study_blinds/ShutterOpen", ""),
        Case("study_blinds", "close", "cmnd/study_blinds/ShutterClose", ""),
        Case("study_blinds", "set_position", ["percent": .number(75)], "cmnd/study_blinds/ShutterPosition", "75"),
        Case("study_heater", "turn_on", "cmnd/study_heater/ThermostatModeSet", "1"),
        Case("study_heater", "turn_off", "cmnd/study_heater/ThermostatModeSet", "0"),
        Case("study_heater", "set_temperature", ["celsius": .number(19.5)], "cmnd/study_heater/TempTargetSet", "19.5"),
        // Generic mqtt: the catalog's topic and template
        Case("living_room_tv", "turn_on", "home/living_room_tv/power", "ON"),
        Case("living_room_tv", "set_volume", ["percent": .number(30)], "home/living_room_tv/volume", "30"),
        Case("living_room_tv", "volume_up", "home/living_room_tv/volume/step", "+5"),
        Case("living_room_tv", "mute", "home/living_room_tv/mute", "living_room_tv mute"),
    ]

    @Test("Given a validated action, when it is turned into an MQTT message, then topic and payload follow the device's convention",
          arguments: commands)
    func command(_ expected: Case) throws {
        let action = try MQTTTestHome.action(expected.device, expected.command, expected.args)
        let publish = try MQTTMessages.command(for: action)
        #expect(publish == MQTTMessages.Publish(topic: expected.topic, payload: expected.payload))
    }

    @Test("Given a command the convention cannot express, when it is turned into a message, then an unavailable error names the device and command",
          arguments: [("garage_door", "lock"), ("garage_door", "unlock"), ("study_radio", "volume_up"), ("living_room_tv", "volume_down")])
    func unsupported(device: String, command: String) throws {
        let action = try MQTTTestHome.action(device, command)
        let error = #expect(throws: DeviceError.self) { try MQTTMessages.command(for: action) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("\(device).\(command)") == true)
    }

    @Test("Given each MQTT device, then its state topics are those of its convention")
    func stateTopics() {
        #expect(MQTTMessages.stateTopics(for: MQTTTestHome.device("kitchen_light")) == ["zigbee2mqtt/kitchen_light", "zigbee2mqtt/kitchen_light/availability"])
        #expect(MQTTMessages.stateTopics(for: MQTTTestHome.device("bedroom_fan")) == ["z2m/bedroom_fan", "z2m/bedroom_fan/availability"])
        #expect(MQTTMessages.stateTopics(for: MQTTTestHome.device("kitchen_fan")) == ["stat/kitchen_fan/RESULT", "tele/kitchen_fan/STATE", "tele/kitchen_fan/LWT"])
        #expect(MQTTMessages.stateTopics(for: MQTTTestHome.device("living_room_tv")) == ["home/living_room_tv/state"])
    }

    // MARK: State

    static func state(_ device: String, _ topic: String, _ payload: String) -> MQTTMessages.StateReading {
        MQTTMessages.state(of: MQTTTestHome.device(device), topic: topic, payload: Array(payload.utf8))
    }

    struct StateCase: Sendable, CustomTestStringConvertible {
        let device: String
        let topic: String
        let payload: String
        let values: [String: JSONValue]
        var testDescription: String { "\(topic) \(payload)" }
    }

    static let states: [StateCase] = [
        StateCase(device: "kitchen_light", topic: "zigbee2mqtt/kitchen_light", payload: #"{"state":"ON","brightness":127,"linkquality":90}"#,
                  values: ["power": .string("on"), "brightness": .number(50)]),
        StateCase(device: "kitchen_light", topic: "zigbee2mqtt/kitchen_light", payload: #"{"state":"OFF","brightness":254}"#,
                  values: ["power": .string("off"), "brightness": .number(100)]),
        StateCase(device: "kitchen_light", topic: "zigbee2mqtt/kitchen_light/availability", payload: "offline", values: ["available": .bool(false)]),
        StateCase(device: "kitchen_light", topic: "zigbee2mqtt/kitchen_light/availability", payload: #"{"state":"online"}"#, values: ["available": .bool(true)]),
        StateCase(device: "bedroom_fan", topic: "z2m/bedroom_fan", payload: #"{"fan_state":"ON","fan_mode":"high"}"#,
                  values: ["power": .string("on"), "speed": .string("high")]),
        StateCase(device: "bedroom_fan", topic: "z2m/bedroom_fan", payload: #"{"fan_mode":"off"}"#, values: ["power": .string("off")]),
        StateCase(device: "bedroom_thermostat", topic: "zigbee2mqtt/bedroom_thermostat",
                  payload: #"{"current_heating_setpoint":21.5,"local_temperature":19.25,"system_mode":"heat"}"#,
                  values: ["target_celsius": .number(21.5), "current_celsius": .number(19.25), "power": .string("on")]),
        StateCase(device: "bedroom_blinds", topic: "zigbee2mqtt/bedroom_blinds", payload: #"{"position":30,"state":"OPEN"}"#, values: ["position": .number(30)]),
        StateCase(device: "bedroom_blinds", topic: "zigbee2mqtt/bedroom_blinds", payload: #"{"state":"CLOSE"}"#, values: ["position": .number(0)]),
        StateCase(device: "front_door", topic: "zigbee2mqtt/front_door", payload: #"{"lock_state":"locked","state":"LOCK"}"#, values: ["locked": .bool(true)]),
        StateCase(device: "front_door", topic: "zigbee2mqtt/front_door", payload: #"{"state":"UNLOCK"}"#, values: ["locked": .bool(false)]),
        StateCase(device: "study_radio", topic: "zigbee2mqtt/study_radio", payload: #"{"state":"ON","volume":35,"mute":true}"#,
                  values: ["power": .string("on"), "volume": .number(35), "muted": .bool(true)]),
        StateCase(device: "hallway_light", topic: "stat/hallway_light/RESULT", payload: #"{"POWER":"ON","Dimmer":40}"#,
                  values: ["power": .string("on"), "brightness": .number(40)]),
        StateCase(device: "coffee_maker", topic: "tele/coffee_maker/STATE", payload: #"{"Time":"2024-01-01T00:00:00","POWER1":"OFF"}"#,
                  values: ["power": .string("off")]),
        StateCase(device: "kitchen_fan", topic: "stat/kitchen_fan/RESULT", payload: #"{"FanSpeed":2}"#, values: ["power": .string("on"), "speed": .string("medium")]),
        StateCase(device: "kitchen_fan", topic: "tele/kitchen_fan/STATE", payload: #"{"POWER":"ON","FanSpeed":0}"#, values: ["power": .string("off")]),
        StateCase(device: "study_blinds", topic: "stat/study_blinds/RESULT", payload: #"{"Shutter1":{"Position":75,"Direction":0,"Target":75}}"#,
                  values: ["position": .number(75)]),
        StateCase(device: "study_heater", topic: "tele/study_heater/STATE", payload: #"{"Thermostat0":{"ThermostatModeSet":1,"TempTargetSet":19.5}}"#,
                  values: ["power": .string("on"), "target_celsius": .number(19.5)]),
        StateCase(device: "kitchen_fan", topic: "tele/kitchen_fan/LWT", payload: "Offline", values: ["available": .bool(false)]),
        StateCase(device: "living_room_tv", topic: "home/living_room_tv/state", payload: "ON", values: ["power": .string("on")]),
        StateCase(device: "living_room_tv", topic: "home/living_room_tv/state", payload: #"{"power":"off","volume":25,"muted":false,"extra":"x"}"#,
                  values: ["power": .string("off"), "volume": .number(25), "muted": .bool(false)]),
    ]

    @Test("Given a device's state message, when it is mapped, then Hark's vocabulary comes out and nothing is flagged",
          arguments: states)
    func stateMapping(_ expected: StateCase) {
        let reading = Self.state(expected.device, expected.topic, expected.payload)
        #expect(reading.values == expected.values)
        #expect(reading.problems == [])
    }

    struct Hostile: Sendable, CustomTestStringConvertible {
        let what: String
        let payload: String
        init(_ what: String, _ payload: String) {
            self.what = what
            self.payload = payload
        }
        var testDescription: String { what }
    }

    static let hostile: [Hostile] = [
        Hostile("not JSON", "definitely not json"),
        Hostile("truncated JSON", #"{"state":"ON""#),
        Hostile("a JSON array", "[1,2,3]"),
        Hostile("a bare number", "42"),
        Hostile("brightness as text", #"{"brightness":"bright"}"#),
        Hostile("brightness out of range", #"{"brightness":999}"#),
        Hostile("negative brightness", #"{"brightness":-1}"#),
        Hostile("huge number", #"{"brightness":1e308}"#),
        Hostile("unrepresentable number", #"{"brightness":1e999}"#),
        Hostile("state as an object", #"{"state":{"nested":true}}"#),
        Hostile("unknown state word", #"{"state":"TOGGLE"}"#),
        Hostile("deep nesting", String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)),
        Hostile("deep nesting in an object", #"{"state":"# + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000) + "}"),
        Hostile("control characters", "{\"state\":\"\u{1}\u{7f}\"}"),
    ]

    @Test("Given a hostile or malformed state payload, when it is mapped, then nothing is taken from it and the problem is named",
          arguments: hostile)
    func hostileState(_ hostile: Hostile) {
        let (what, payload) = (hostile.what, hostile.payload)
        let reading = Self.state("kitchen_light", "zigbee2mqtt/kitchen_light", payload)
        #expect(reading.values == [:], "\(what)")
        #expect(!reading.problems.isEmpty, "\(what)")
        #expect(reading.problems.allSatisfy { $0.count < 200 && !$0.contains("\n") }, "\(what): problems stay short, one line")
    }

    @Test("Given payloads that are too large or not UTF-8, when mapped, then they are refused whole")
    func oversizedAndBinary() {
        let device = MQTTTestHome.device("living_room_tv")
        let huge = MQTTMessages.state(of: device, topic: "home/living_room_tv/state", payload: Array(repeating: UInt8(ascii: "A"), count: 1 << 20))
        #expect(huge.values == [:])
        #expect(huge.problems.first?.contains("over the 64 KiB limit") == true)
        let binary = MQTTMessages.state(of: device, topic: "home/living_room_tv/state", payload: [0xFF, 0xFE, 0x00, 0x80])
        #expect(binary.values == [:])
        #expect(binary.problems == ["payload is not UTF-8"])
    }

    @Test("Given a message with good and bad keys, when mapped, then the good keys are kept and the bad ones named")
    func partlyGood() {
        let reading = Self.state("hallway_light", "tele/hallway_light/STATE", #"{"POWER":"ON","Dimmer":400}"#)
        #expect(reading.values == ["power": .string("on")])
        #expect(reading.problems == ["Dimmer 400 is outside 0–100"])
    }
}
