/// State messages from devices, mapped into Hark's state vocabulary (see `StateUpdate`).
///
/// Payloads come from the network and are not trusted: anything not understood (not UTF-8, not JSON,
/// a wrong type, a number out of range, more than `maxStatePayload` bytes) is left out and named in
/// `problems`; nothing here traps. Keys a device sends that Hark has no use for (linkquality, …) are
/// ignored silently.
///
/// Zigbee2MQTT, `<base>/<name>` (a JSON object), by device type:
///
///     state               "ON"/"OFF" → power (light, switch, media; fans without fan_state)
///                         "OPEN"/"CLOSE" → position 100/0 (covers that send no position)
///                         "LOCK"/"UNLOCK" → locked (locks that send no lock_state)
///     brightness          0–254 → brightness 0–100 (rounded: 127 → 50)
///     fan_state           "ON"/"OFF" → power
///     fan_mode            "low|medium|high" → speed (and power on); "off" → power off; "on|auto|smart" → power on
///     system_mode         "off" → power off; any other mode → power on
///     current_heating_setpoint (or occupied_heating_setpoint) → target_celsius; local_temperature → current_celsius
///     position            0–100 → position
///     lock_state          "locked"/"unlocked" → locked
///     volume              0–100 → volume; mute "ON"/"OFF" or true/false → muted
///
/// `<base>/<name>/availability`: `online`/`offline`, or `{"state":"online"}` → available.
///
/// Tasmota, `stat/<topic>/RESULT` and `tele/<topic>/STATE` (JSON objects): POWER or POWER1 "ON"/"OFF" →
/// power (not for fans, where POWER is the iFan's light), Dimmer 0–100 → brightness, FanSpeed 0–3 →
/// power and speed, Shutter1.Position 0–100 → position, TempTargetSet → target_celsius and
/// ThermostatModeSet 0 → power off, else on (at the top level or under Thermostat0/Thermostat1).
/// `tele/<topic>/LWT`: `Online`/`Offline` → available.
///
/// Generic mqtt, the catalog's `state_topic`: a bare `ON`/`OFF` → power, or a JSON object already in
/// Hark's vocabulary (power, brightness, speed, target_celsius, current_celsius, position, volume,
/// muted, locked, available), each value checked.
extension MQTTMessages {
    /// Larger state payloads are ignored whole: no device state needs more.
    public static let maxStatePayload = 64 * 1024

    public struct StateReading: Sendable, Equatable {
        /// Hark's state keys and values; empty when nothing was understood.
        public var values: [String: JSONValue] = [:]
        /// What was left out and why, one short phrase each.
        public var problems: [String] = []
    }

    /// Maps a message on one of `stateTopics(for: device)`.
    public static func state(of device: Device, topic: String, payload: [UInt8]) -> StateReading {
        var reader = StateReader()
        guard payload.count <= maxStatePayload else {
            reader.problems.append("payload of \(payload.count) bytes is over the \(maxStatePayload / 1024) KiB limit")
            return reader.reading
        }
        guard let text = String(validating: payload, as: UTF8.self) else {
            reader.problems.append("payload is not UTF-8")
            return reader.reading
        }
        let trimmed = trim(text)
        switch device.transport {
        case let .zigbee2mqtt(base, name):
            if topic == "\(base)/\(name)/availability" {
                var word = String(trimmed)
                if trimmed.hasPrefix("{"), let object = reader.object(trimmed) { word = object["state"]?.stringValue ?? "" }
                reader.availability(word, online: "online", offline: "offline")
            } else if let object = reader.object(trimmed) {
                reader.zigbee2mqtt(object, type: device.type)
            }
        case let .tasmota(name):
            if topic == "tele/\(name)/LWT" {
                reader.availability(trimmed, online: "online", offline: "offline")
            } else if let object = reader.object(trimmed) {
                reader.tasmota(object, type: device.type)
            }
        case .mqtt:
            switch trimmed.uppercased() {
            case "ON": reader.values["power"] = .string("on")
            case "OFF": reader.values["power"] = .string("off")
            default: if let object = reader.object(trimmed) { reader.vocabulary(object) }
            }
        default:
            reader.problems.append("\(device.id) is not an MQTT device")
        }
        return reader.reading
    }

    static func trim(_ text: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return text[first...last]
    }
}

/// Collects mapped values and the problems met, key by key.
struct StateReader {
    var values: [String: JSONValue] = [:]
    var problems: [String] = []
    var reading: MQTTMessages.StateReading { .init(values: values, problems: problems) }

    static let celsius: ClosedRange<Double> = -50...100
    static let percent: ClosedRange<Double> = 0...100

    mutating func object(_ text: Substring) -> [String: JSONValue]? {
        guard let value = try? JSONValue.parse(text) else {
            problems.append("payload is not JSON: \(Validator.shown(String(text)))")
            return nil
        }
        guard let object = value.objectValue else {
            problems.append("payload is not a JSON object: \(Validator.shown(value))")
            return nil
        }
        return object
    }

    mutating func availability(_ word: some StringProtocol, online: String, offline: String) {
        switch word.lowercased() {
        case online: values["available"] = .bool(true)
        case offline: values["available"] = .bool(false)
        default: problems.append("availability \(Validator.shown(String(word))) is neither \(online) nor \(offline)")
        }
    }

    /// A finite number in `range`, else nil (and a problem when the key is present).
    mutating func number(_ object: [String: JSONValue], _ key: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = object[key], value != .null else { return nil }
        guard let number = value.numberValue, number.isFinite else {
            problems.append("\(key) is not a number: \(Validator.shown(value))")
            return nil
        }
        guard range.contains(number) else {
            problems.append("\(key) \(JSONValue.formatNumber(number)) is outside \(JSONValue.formatNumber(range.lowerBound))–\(JSONValue.formatNumber(range.upperBound))")
            return nil
        }
        return number
    }

    /// One of `words` (compared case-insensitively), else nil (and a problem when the key is present).
    mutating func word<T>(_ object: [String: JSONValue], _ key: String, _ words: [String: T]) -> T? {
        guard let value = object[key], value != .null else { return nil }
        guard let text = value.stringValue, let mapped = words[text.lowercased()] else {
            problems.append("\(key) \(Validator.shown(value)) is not one of \(words.keys.sorted().joined(separator: ", "))")
            return nil
        }
        return mapped
    }

    mutating func flag(_ object: [String: JSONValue], _ key: String) -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        switch value {
        case let .bool(flag): return flag
        case let .string(text) where ["on", "true"].contains(text.lowercased()): return true
        case let .string(text) where ["off", "false"].contains(text.lowercased()): return false
        default:
            problems.append("\(key) is not true/false or ON/OFF: \(Validator.shown(value))")
            return nil
        }
    }

    mutating func percent(_ object: [String: JSONValue], _ key: String, as name: String) {
        if let value = number(object, key, in: Self.percent) { values[name] = .number(value.rounded()) }
    }

    mutating func celsius(_ object: [String: JSONValue], _ key: String, as name: String) {
        if let value = number(object, key, in: Self.celsius) { values[name] = .number(value) }
    }

    static let onOff: [String: JSONValue] = ["on": .string("on"), "off": .string("off")]

    // MARK: Zigbee2MQTT

    mutating func zigbee2mqtt(_ object: [String: JSONValue], type: DeviceType) {
        switch type {
        case .light, .switch, .media:
            if let power = word(object, "state", Self.onOff) { values["power"] = power }
            if type == .light, let brightness = number(object, "brightness", in: 0...254) {
                values["brightness"] = .number((brightness * 100 / 254).rounded())
            }
            if type == .media {
                percent(object, "volume", as: "volume")
                if let muted = flag(object, "mute") { values["muted"] = .bool(muted) }
            }
        case .fan:
            let hasFanState = object["fan_state"] != nil
            if let power = word(object, hasFanState ? "fan_state" : "state", Self.onOff) { values["power"] = power }
            let modes: [String: String] = ["off": "", "on": "", "auto": "", "smart": "", "low": "low", "medium": "medium", "high": "high"]
            if let text = object["fan_mode"]?.stringValue?.lowercased(), let speed = modes[text] {
                values["power"] = .string(text == "off" ? "off" : "on")
                if !speed.isEmpty { values["speed"] = .string(speed) }
            } else if object["fan_mode"] != nil, object["fan_mode"] != .null {
                _ = word(object, "fan_mode", modes)
            }
        case .thermostat:
            let setpoint = object["current_heating_setpoint"] != nil ? "current_heating_setpoint" : "occupied_heating_setpoint"
            celsius(object, setpoint, as: "target_celsius")
            celsius(object, "local_temperature", as: "current_celsius")
            if let mode = object["system_mode"], mode != .null {
                if let text = mode.stringValue, !text.isEmpty, text.count <= 32 {
                    values["power"] = .string(text.lowercased() == "off" ? "off" : "on")
                } else {
                    problems.append("system_mode is not a mode name: \(Validator.shown(mode))")
                }
            }
        case .cover:
            percent(object, "position", as: "position")
            if values["position"] == nil, object["position"] == nil,
               let position = word(object, "state", ["open": 100.0, "close": 0, "closed": 0, "stop": -1]), position >= 0 {
                values["position"] = .number(position)
            }
        case .lock:
            if object["lock_state"] != nil {
                if let locked = word(object, "lock_state", ["locked": Optional(true), "unlocked": false, "not_fully_locked": nil]),
                   let locked { values["locked"] = .bool(locked) }
            } else if let locked = word(object, "state", ["lock": true, "unlock": false]) {
                values["locked"] = .bool(locked)
            }
        }
    }

    // MARK: Tasmota

    mutating func tasmota(_ object: [String: JSONValue], type: DeviceType) {
        switch type {
        case .light, .switch:
            let key = object["POWER"] != nil ? "POWER" : "POWER1"
            if let power = word(object, key, Self.onOff) { values["power"] = power }
            if type == .light { percent(object, "Dimmer", as: "brightness") }
        case .fan:
            if let speed = number(object, "FanSpeed", in: 0...3) {
                let level = Int(speed)
                guard Double(level) == speed else { problems.append("FanSpeed \(JSONValue.formatNumber(speed)) is not 0, 1, 2 or 3"); return }
                values["power"] = .string(level == 0 ? "off" : "on")
                if level > 0 { values["speed"] = .string(Parameter.fanLevels[level - 1]) }
            }
        case .cover:
            if let shutter = object["Shutter1"] {
                if let fields = shutter.objectValue { percent(fields, "Position", as: "position") }
                else { problems.append("Shutter1 is not an object: \(Validator.shown(shutter))") }
            }
        case .thermostat:
            var fields = object
            for key in ["Thermostat0", "Thermostat1"] { if let nested = object[key]?.objectValue { fields = nested; break } }
            celsius(fields, "TempTargetSet", as: "target_celsius")
            if let mode = number(fields, "ThermostatModeSet", in: 0...2) { values["power"] = .string(mode == 0 ? "off" : "on") }
        case .media, .lock:
            break
        }
    }

    // MARK: Hark's vocabulary (generic mqtt)

    mutating func vocabulary(_ object: [String: JSONValue]) {
        if let power = word(object, "power", Self.onOff) { values["power"] = power }
        for key in ["brightness", "position", "volume"] { percent(object, key, as: key) }
        if let speed = word(object, "speed", ["low": "low", "medium": "medium", "high": "high"]) { values["speed"] = .string(speed) }
        for key in ["target_celsius", "current_celsius"] { celsius(object, key, as: key) }
        for key in ["muted", "locked", "available"] {
            guard let value = object[key], value != .null else { continue }
            if case let .bool(flag) = value { values[key] = .bool(flag) } else { problems.append("\(key) is not true/false: \(Validator.shown(value))") }
        }
    }
}
