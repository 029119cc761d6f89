/// What Hark publishes for each action, per MQTT convention. Pure functions; the state side is in
/// `MQTTMessages+State.swift`.
///
/// Zigbee2MQTT — JSON to `<base>/<name>/set` (keys sorted):
///
///     light, switch  turn_on/off        {"state":"ON"} / {"state":"OFF"}
///     light          set_brightness p   {"brightness":round(p·254/100),"state":"ON"}   (Z2M brightness is 0–254)
///     fan            turn_on/off        {"fan_state":"ON"} / {"fan_state":"OFF"}   (Z2M's fan expose: fan_state + fan_mode)
///     fan            set_speed l        {"fan_mode":"low|medium|high"}
///     thermostat     turn_on/off        {"system_mode":"heat"} / {"system_mode":"off"}
///     thermostat     set_temperature c  {"current_heating_setpoint":c}
///     cover          open/close         {"state":"OPEN"} / {"state":"CLOSE"}
///     cover          set_position p     {"position":p}
///     lock           lock/unlock        {"state":"LOCK"} / {"state":"UNLOCK"}
///     media          turn_on/off        {"state":"ON"} / {"state":"OFF"}
///     media          set_volume p       {"volume":p}
///     media          mute/unmute        {"mute":"ON"} / {"mute":"OFF"}
///     media          volume_up/down     not sent: Zigbee2MQTT has no relative volume (an `unavailable` error)
///
/// Tasmota — `cmnd/<topic>/<COMMAND>` with a plain payload:
///
///     light, switch  turn_on/off        POWER ON / POWER OFF
///     light          set_brightness p   Dimmer p
///     fan            turn_on/off        FanSpeed 1 (low) / FanSpeed 0   (an iFan: POWER is its light)
///     fan            set_speed l        FanSpeed 1|2|3
///     cover          open/close         ShutterOpen / ShutterClose (empty payload: shutter 1)
///     cover          set_position p     ShutterPosition p
///     thermostat     turn_on/off        ThermostatModeSet 1 (automatic) / ThermostatModeSet 0 (off)
///     thermostat     set_temperature c  TempTargetSet c
///     media, lock    not sent: Tasmota has no such commands (an `unavailable` error naming the device)
///
/// Generic `mqtt` — the catalog's topic and its payload template, filled with the validated arguments.
public enum MQTTMessages {
    /// One MQTT publish: where and what.
    public struct Publish: Sendable, Equatable {
        public let topic: String
        public let payload: String

        public init(topic: String, payload: String) {
            self.topic = topic
            self.payload = payload
        }
    }

    /// The publish that carries out `action`.
    public static func command(for action: ValidatedAction) throws(DeviceError) -> Publish {
        switch action.device.transport {
        case let .zigbee2mqtt(base, name): try zigbee2mqtt(action, topic: "\(base)/\(name)/set")
        case let .tasmota(topic): try tasmota(action, topic: topic)
        case let .mqtt(template): try generic(action, template)
        default:
            throw DeviceError(.unavailable, "'\(action.device.id)' is reached via \(action.device.transport.via), not MQTT")
        }
    }

    /// Zigbee2MQTT brightness (0–254) for a percentage, rounded to nearest.
    public static func zigbeeBrightness(percent: Int) -> Int { (percent * 254 + 50) / 100 }

    static func zigbee2mqtt(_ action: ValidatedAction, topic: String) throws(DeviceError) -> Publish {
        let type = action.device.type
        let object: [String: JSONValue]
        switch (type, action.command.name) {
        case (.fan, "turn_on"): object = ["fan_state": .string("ON")]
        case (.fan, "turn_off"): object = ["fan_state": .string("OFF")]
        case (.fan, "set_speed"): object = ["fan_mode": .string(action.word(.level) ?? "")]
        case (.thermostat, "turn_on"): object = ["system_mode": .string("heat")]
        case (.thermostat, "turn_off"): object = ["system_mode": .string("off")]
        case (.thermostat, "set_temperature"): object = ["current_heating_setpoint": .number(action.decimal(.celsius) ?? 0)]
        case (_, "turn_on"): object = ["state": .string("ON")]
        case (_, "turn_off"): object = ["state": .string("OFF")]
        case (_, "set_brightness"):
            object = ["state": .string("ON"), "brightness": .number(Double(zigbeeBrightness(percent: action.integer(.percent) ?? 0)))]
        case (_, "open"): object = ["state": .string("OPEN")]
        case (_, "close"): object = ["state": .string("CLOSE")]
        case (_, "set_position"): object = ["position": .number(Double(action.integer(.percent) ?? 0))]
        case (_, "lock"): object = ["state": .string("LOCK")]
        case (_, "unlock"): object = ["state": .string("UNLOCK")]
        case (_, "set_volume"): object = ["volume": .number(Double(action.integer(.percent) ?? 0))]
        case (_, "mute"): object = ["mute": .string("ON")]
        case (_, "unmute"): object = ["mute": .string("OFF")]
        default:
            throw unsupported(action, "Zigbee2MQTT has no such command (no relative volume, no timers); use set_volume, or reach the device through a generic mqtt transport")
        }
        return Publish(topic: topic, payload: JSONValue.object(object).jsonText)
    }

    static func tasmota(_ action: ValidatedAction, topic: String) throws(DeviceError) -> Publish {
        func command(_ name: String, _ payload: String) -> Publish { Publish(topic: "cmnd/\(topic)/\(name)", payload: payload) }
        switch (action.device.type, action.command.name) {
        case (.fan, "turn_on"): return command("FanSpeed", "1")
        case (.fan, "turn_off"): return command("FanSpeed", "0")
        case (.fan, "set_speed"):
            let level = action.word(.level) ?? ""
            guard let speed = Parameter.fanLevels.firstIndex(of: level) else { throw unsupported(action, "unknown fan level '\(level)'") }
            return command("FanSpeed", String(speed + 1))
        case (.thermostat, "turn_on"): return command("ThermostatModeSet", "1")
        case (.thermostat, "turn_off"): return command("ThermostatModeSet", "0")
        case (.thermostat, "set_temperature"): return command("TempTargetSet", JSONValue.formatNumber(action.decimal(.celsius) ?? 0))
        case (.light, "turn_on"), (.switch, "turn_on"): return command("POWER", "ON")
        case (.light, "turn_off"), (.switch, "turn_off"): return command("POWER", "OFF")
        case (.light, "set_brightness"): return command("Dimmer", String(action.integer(.percent) ?? 0))
        case (.cover, "open"): return command("ShutterOpen", "")
        case (.cover, "close"): return command("ShutterClose", "")
        case (.cover, "set_position"): return command("ShutterPosition", String(action.integer(.percent) ?? 0))
        default:
            throw unsupported(action, "Tasmota has no \(action.device.type.rawValue) commands; reach this device through zigbee2mqtt or a generic mqtt transport")
        }
    }

    static func generic(_ action: ValidatedAction, _ template: MQTTTemplate) throws(DeviceError) -> Publish {
        guard let publish = template.commands[action.command.name] else {
            throw unsupported(action, "the catalog gives no topic for this command under transport.commands")
        }
        switch publish.payload.render(action.templateValues) {
        case let .success(payload): return Publish(topic: publish.topic, payload: payload)
        case let .failure(missing):
            throw unsupported(action, "the payload template uses '{\(missing.name)}', which this command does not have")
        }
    }

    static func unsupported(_ action: ValidatedAction, _ why: String) -> DeviceError {
        DeviceError(.unavailable, "cannot send \(action.device.id).\(action.command.name) over \(action.device.transport.via): \(why)")
    }

    /// The topics a device reports its state and availability on.
    public static func stateTopics(for device: Device) -> [String] {
        switch device.transport {
        case let .zigbee2mqtt(base, name): ["\(base)/\(name)", "\(base)/\(name)/availability"]
        case let .tasmota(topic): ["stat/\(topic)/RESULT", "tele/\(topic)/STATE", "tele/\(topic)/LWT"]
        case let .mqtt(template): template.stateTopic.map { [$0] } ?? []
        default: []
        }
    }
}
