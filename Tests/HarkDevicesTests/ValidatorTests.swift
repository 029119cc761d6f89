import HarkTestSupport
import Testing
@testable import HarkDevices

@Suite struct ValidatorTests {
    let validator = Validator(catalog: try! Catalog.load(path: repositoryRoot + "/devices/demo-home.yaml"))

    func outcome(_ device: String, _ command: String, _ args: [String: JSONValue] = [:], from source: ActionSource = .socket) -> Validator.Outcome {
        validator.check(Action(device: device, command: command, args: args), source: source)
    }

    func error(_ device: String, _ command: String, _ args: [String: JSONValue] = [:]) -> DeviceError? {
        if case let .invalid(error) = outcome(device, command, args) { return error }
        return nil
    }

    @Test func givenWellFormedActions_thenTheyAreValidWithTypedArguments() throws {
        guard case let .valid(dim) = outcome("kitchen_light", "set_brightness", ["percent": .number(40)]) else { Issue.record("dim"); return }
        #expect(dim.integer(.percent) == 40)
        guard case let .valid(heat) = outcome("bedroom_thermostat", "set_temperature", ["celsius": .number(21.5)]) else { Issue.record("heat"); return }
        #expect(heat.decimal(.celsius) == 21.5)
        guard case let .valid(fan) = outcome("kitchen_fan", "set_speed", ["level": .string("high")]) else { Issue.record("fan"); return }
        #expect(fan.word(.level) == "high")
        guard case let .valid(timer) = outcome("speaker", "start_timer", ["seconds": .number(300)]) else { Issue.record("timer"); return }
        #expect(timer.integer(.seconds) == 300)
        #expect(dim.action == Action(device: "kitchen_light", command: "set_brightness", args: ["percent": .number(40)]))
    }

    @Test(arguments: [
        ("attic_light", "turn_on", [:], DeviceError.Code.unknownDevice, "unknown device 'attic_light'"),
        ("kitchen_light", "open", [:], .unknownCommand, "'kitchen_light' (a light) has no command 'open'"),
        ("coffee_maker", "start_timer", ["seconds": .number(60)], .unknownCommand, "has no command 'start_timer'"),
        ("kitchen_light", "set_brightness", [:], .badArgument, "missing argument 'percent'"),
        ("kitchen_light", "set_brightness", ["percent": .number(101)], .badArgument, "'percent' must be a whole number 0–100, got 101"),
        ("kitchen_light", "set_brightness", ["percent": .number(-1)], .badArgument, "got -1"),
        ("kitchen_light", "set_brightness", ["percent": .number(40.5)], .badArgument, "got 40.5"),
        ("kitchen_light", "set_brightness", ["percent": .string("40")], .badArgument, #"got "40""#),
        ("kitchen_light", "turn_on", ["percent": .number(40)], .badArgument, "unexpected argument 'percent' (takes no arguments)"),
        ("bedroom_thermostat", "set_temperature", ["celsius": .number(35)], .badArgument, "from 10 to 28 for this device, got 35"),
        ("bedroom_thermostat", "set_temperature", ["celsius": .number(9.5)], .badArgument, "got 9.5"),
        ("kitchen_fan", "set_speed", ["level": .string("turbo")], .badArgument, "one of low, medium, high"),
        ("kitchen_fan", "set_speed", ["level": .string("low; rm -rf /")], .badArgument, "got \"low; rm -rf /\""),
        ("speaker", "start_timer", ["seconds": .number(0)], .badArgument, "from 1 to 86400"),
        ("speaker", "start_timer", ["seconds": .number(86_401)], .badArgument, "from 1 to 86400"),
        ("bedroom_blinds", "set_position", ["percent": .null], .badArgument, "missing argument 'percent'"),
        ("kitchen_light\n", "turn_on", [:], .unknownDevice, "unknown device 'kitchen_light\\xa'"),
    ] as [(String, String, [String: JSONValue], DeviceError.Code, String)])
    func givenABadAction_thenItIsInvalidWithOneLineSayingWhy(device: String, command: String, args: [String: JSONValue], code: DeviceError.Code, expected: String) {
        let error = error(device, command, args)
        #expect(error?.code == code)
        #expect(error?.message.contains(expected) == true, "got: \(error?.message ?? "valid")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test func givenTheBoundaries_thenTheyAreAccepted() {
        for (device, command, args) in [
            ("kitchen_light", "set_brightness", ["percent": JSONValue.number(0)]),
            ("kitchen_light", "set_brightness", ["percent": .number(100)]),
            ("bedroom_thermostat", "set_temperature", ["celsius": .number(10)]),
            ("bedroom_thermostat", "set_temperature", ["celsius": .number(28)]),
            ("speaker", "start_timer", ["seconds": .number(1)]),
            ("speaker", "start_timer", ["seconds": .number(86_400)]),
        ] {
            guard case .valid = outcome(device, command, args) else { Issue.record("\(device).\(command) \(args) refused"); continue }
        }
    }

    @Test func givenUnlockFromVoice_thenItIsRefusedByPolicyButAllowedFromTheSocket() {
        guard case let .refused(action, reason) = outcome("front_door", "unlock", from: .voice(stage: 1)) else { Issue.record("voice unlock not refused"); return }
        #expect(reason == "voice_not_allowed" && action.command.name == "unlock")
        guard case .refused = outcome("front_door", "unlock", from: .voice(stage: 2)) else { Issue.record("stage 2 unlock not refused"); return }
        guard case .valid = outcome("front_door", "lock", from: .voice(stage: 1)) else { Issue.record("voice lock refused"); return }
        guard case .valid = outcome("front_door", "unlock", from: .socket) else { Issue.record("socket unlock refused"); return }
    }

    @Test func givenACatalogThatOptsIn_thenVoiceMayUnlockAndAnyCommandMayBeDenied() throws {
        let catalog = try Catalog.parse(yaml: """
            devices:
              back_door:
                type: lock
                names: [back door]
                voice: {unlock: allow, lock: deny}
                transport: {via: zigbee2mqtt}
            """)
        let validator = Validator(catalog: catalog)
        guard case .valid = validator.check(Action(device: "back_door", command: "unlock"), source: .voice(stage: 1)) else { Issue.record("opt-in ignored"); return }
        guard case .refused = validator.check(Action(device: "back_door", command: "lock"), source: .voice(stage: 2)) else { Issue.record("deny ignored"); return }
    }

    @Test(arguments: [
        (#"{"device":"kitchen_light","command":"set_brightness","args":{"percent":40}}"#, nil),
        (#"{"device":"kitchen_light","command":"turn_on"}"#, nil),
        (#"[1,2]"#, "must be a JSON object"),
        (#"{"command":"turn_on"}"#, "has no \"device\" string"),
        (#"{"device":7,"command":"turn_on"}"#, "has no \"device\" string"),
        (#"{"device":"a","command":"turn_on","args":[40]}"#, "must be a JSON object"),
        (#"{"device":"a","command":"turn_on","extra":1}"#, "unknown key \"extra\""),
    ] as [(String, String?)])
    func givenJSON_whenReadAsAnAction_thenShapeErrorsAreOneLine(json: String, expected: String?) throws {
        let value = try JSONValue.parse(json)
        if let expected {
            let error = #expect(throws: DeviceError.self) { try Action(json: value) }
            #expect(error?.message.contains(expected) == true, "got: \(error?.message ?? "")")
        } else {
            let action = try Action(json: value)
            #expect(JSONValue.object(["device": .string(action.device), "command": .string(action.command), "args": .object(action.args)]) == (try JSONValue.parse(action.jsonText)))
        }
    }
}
