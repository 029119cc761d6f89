import Testing
@testable import HarkDaemon

@Suite struct DaemonConfigTests {
    @Test func givenAFullConfiguration_thenEveryKeyIsRead() throws {
        let config = try DaemonConfig.parse(yaml: """
            input: alsa:hw:1
            events: /run/hark/events.jsonl
            models: /var/lib/hark/models
            wake_words: [hey_jarvis_v0.1:0.6, alexa_v0.1]
            refractory: 1.5
            gate: false
            catalog: /etc/hark/devices
            database: /var/lib/hark/hark.sqlite
            mqtt: {host: broker.lan, port: 8883, client_id: kitchen-speaker, username: hark, password_file: /etc/hark/mqtt-password, keepalive: 30}
            feedback: {device: "plughw:1,0", wake: false, confirm: true, error: true}
            log_level: debug
            """)
        #expect(config.input == "alsa:hw:1" && config.events == "/run/hark/events.jsonl" && config.models == "/var/lib/hark/models")
        #expect(config.wakeWords == ["hey_jarvis_v0.1:0.6", "alexa_v0.1"] && config.refractory == 1.5 && config.gate == false)
        #expect(config.catalog == "/etc/hark/devices" && config.database == "/var/lib/hark/hark.sqlite" && config.logLevel == "debug")
        #expect(config.mqtt.host == "broker.lan" && config.mqtt.port == 8883 && config.mqtt.clientID == "kitchen-speaker")
        #expect(config.mqtt.username == "hark" && config.mqtt.passwordFile == "/etc/hark/mqtt-password" && config.mqtt.keepalive == 30)
        #expect(config.feedback.device == "plughw:1,0" && config.feedback.wake == false && config.feedback.confirm == true && config.feedback.error == true)
        #expect(config.feedback.enabled == nil)
    }

    @Test func givenFeedbackFalse_thenEverySoundIsOffAndTheRestDefault() throws {
        let config = try DaemonConfig.parse(yaml: "feedback: false\n")

        #expect(config.feedback.enabled == false && config.feedback.device == nil && config.feedback.wake == nil)
        #expect(config.feedback.applied() == Feedback.Configuration(enabled: false))
        #expect(Feedback.Sound.allCases.allSatisfy { !config.feedback.applied().plays($0) })
    }

    @Test func givenAFeedbackMapping_thenItSetsWhatItNamesOverTheDefaults() throws {
        let config = try DaemonConfig.parse(yaml: """
            feedback:
              device: "plughw:1,0"
              error: false
            """)

        #expect(config.feedback.applied() == Feedback.Configuration(enabled: true, device: "plughw:1,0", wake: true, confirm: true, error: false))
        #expect(try DaemonConfig.parse(yaml: "feedback: {}\n").feedback.applied() == Feedback.Configuration())
        #expect(try DaemonConfig.parse(yaml: "").feedback.applied() == Feedback.Configuration())
    }

    @Test func givenAnEmptyFile_thenEverythingIsDefault() throws {
        #expect(try DaemonConfig.parse(yaml: "") == DaemonConfig())
    }

    @Test(arguments: [
        ("inptu: alsa:default\n", "harkd.yaml:1: the configuration: unknown key 'inptu'"),
        ("mqtt: {port: 99999}\n", "harkd.yaml:1: mqtt.port: must be a port number 1–65535"),
        ("mqtt: {host: \"a b\"}\n", "mqtt.host: must be a non-empty value without spaces"),
        ("gate: yes\n", "gate: expected true or false, got 'yes'"),
        ("refractory: soon\n", "refractory: expected a number, got 'soon'"),
        ("wake_words: hey_jarvis\n", "wake_words: expected a list"),
        ("input: [a\n", "harkd.yaml: not valid YAML"),
        ("feedback: {volume: 3}\n", "harkd.yaml:1: feedback: unknown key 'volume' (expected confirm, device, error, wake)"),
        ("feedback:\n  device: default\n  confirm: no\n", "harkd.yaml:3: feedback.confirm: expected true or false, got 'no'"),
        ("feedback: maybe\n", "harkd.yaml:1: feedback: expected true or false, got 'maybe'"),
        ("feedback: [wake]\n", "harkd.yaml:1: feedback: expected a mapping of key: value"),
        ("feedback: {device: \"\"}\n", "harkd.yaml:1: feedback.device: must be a non-empty ALSA device name"),
        ("feedback: {wake: [true]}\n", "harkd.yaml:1: feedback.wake: expected a single value"),
    ])
    func givenABrokenConfiguration_thenOneLineNamesFileLineAndKey(yaml: String, expected: String) {
        let error = #expect(throws: DaemonError.self) { try DaemonConfig.parse(yaml: yaml, file: "harkd.yaml") }
        #expect(error?.message.contains(expected) == true, "got: \(error?.message ?? "no error")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test func givenAMissingFile_thenTheErrorNamesIt() {
        let error = #expect(throws: DaemonError.self) { try DaemonConfig.load(path: "/nonexistent/harkd.yaml") }
        #expect(error?.message.contains("cannot read the configuration '/nonexistent/harkd.yaml'") == true)
    }
}

@Suite struct DeviceEventTests {
    @Test func givenAnActionsEvent_thenTheJSONFollowsTheContractWithJournalFields() {
        let event = Event.actions(source: "voice1", stage: 1, actions: [
            .init(actionJSON: #"{"device":"kitchen_light","command":"set_brightness","args":{"percent":40}}"#, id: "a1", status: "ok", detail: "puback"),
        ], latencyMs: 3.456)
        #expect(event.jsonLine == #"{"type":"actions","stage":1,"source":"voice1","actions":[{"device":"kitchen_light","command":"set_brightness","args":{"percent":40},"id":"a1","status":"ok","detail":"puback"}],"latency_ms":3.46}"#)
    }

    @Test func givenASocketBatch_thenThereIsNoStage() {
        let event = Event.actions(source: "socket", stage: nil, actions: [], latencyMs: 0)
        #expect(event.jsonLine == #"{"type":"actions","source":"socket","actions":[],"latency_ms":0}"#)
    }

    @Test func givenARefusalAStateChangeAndATimer_thenEachIsOneJSONObject() {
        #expect(Event.refused(source: "voice2", stage: 2, device: "front_door", command: "unlock", reason: "voice_not_allowed", id: "r1").jsonLine
                == #"{"type":"refused","stage":2,"source":"voice2","device":"front_door","command":"unlock","reason":"voice_not_allowed","id":"r1"}"#)
        #expect(Event.state(device: "kitchen_light", stateJSON: #"{"brightness":50}"#, origin: "mqtt").jsonLine
                == #"{"type":"state","device":"kitchen_light","state":{"brightness":50},"origin":"mqtt"}"#)
        #expect(Event.timer(id: "t1", state: "rang", seconds: 300).jsonLine == #"{"type":"timer","id":"t1","state":"rang","seconds":300}"#)
    }
}

@Suite struct ShippedConfigTests {
    @Test func givenTheShippedServiceConfiguration_thenItParses() throws {
        let config = try DaemonConfig.load(path: Repo.root.appendingPathComponent("systemd/harkd.yaml").path)
        #expect(config.catalog == "/etc/hark/devices" && config.database == "/var/lib/hark/hark.sqlite" && config.mqtt.port == 1883)
        #expect(config.feedback.applied() == Feedback.Configuration())
    }
}
