import HarkTestSupport
import Logging
import Synchronization
import Testing
@testable import HarkDevices

/// `MQTTClient` and `MQTTTransport` against a real Mosquitto broker that each test starts on a free
/// loopback port. Serialized: brokers and clients share a small, busy machine; every wait is for a
/// condition, with a generous limit.
@Suite(.serialized) struct MQTTBrokerTests {
    /// What a simulated device or watcher received, in order.
    final class Inbox: Sendable {
        private let messages = Mutex<[MQTTClient.Message]>([])
        func append(_ message: MQTTClient.Message) { messages.withLock { $0.append(message) } }
        var all: [MQTTClient.Message] { messages.withLock { $0 } }
        func on(_ topic: String) -> [MQTTClient.Message] { all.filter { $0.topic == topic } }
        func texts(_ topic: String) -> [String] { on(topic).map(\.text) }
    }

    /// What a StateObserver was given, in order.
    final class Updates: Sendable {
        private let list = Mutex<[StateUpdate]>([])
        func append(_ update: StateUpdate) { list.withLock { $0.append(update) } }
        var all: [StateUpdate] { list.withLock { $0 } }
    }

    /// A one-way signal between a test and the task it drives.
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    static let quiet = Logger(label: "hark.test") { _ in SwiftLogNoOpLogHandler() }

    static func settings(_ broker: MosquittoBroker, _ clientID: String, clean: Bool = true, timeout: Duration = .seconds(20)) -> MQTTSettings {
        MQTTSettings(port: broker.port, clientID: clientID, keepalive: 10, reconnectDelayMin: 1, reconnectDelayMax: 2,
                     timeout: timeout, cleanSession: clean)
    }

    /// A connected client recording what arrives on `topics`.
    static func listener(_ broker: MosquittoBroker, _ clientID: String, topics: [String], clean: Bool = true) async throws -> (MQTTClient, Inbox) {
        let inbox = Inbox()
        let client = try MQTTClient(settings: settings(broker, clientID, clean: clean), logger: quiet) { inbox.append($0) }
        try client.start()
        try await client.subscribe(topics)
        return (client, inbox)
    }

    // MARK: Availability

    @Test("Given a connected client, then its availability topic holds a retained online; when it dies without DISCONNECT, then the last will makes it a retained offline")
    func availabilityAndLastWill() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let hark = try MQTTClient(settings: Self.settings(broker, "hark-will"), logger: Self.quiet)
        try hark.start()
        try await hark.waitForConnection()
        let topic = "hark/hark-will/availability"

        let (watcher, seen) = try await Self.listener(broker, "watcher", topics: [topic])
        #expect(await eventually { seen.texts(topic).last == "online" })
        // Given the broker has it, a newcomer is handed the retained copy.
        let (late, lateSeen) = try await Self.listener(broker, "late-online", topics: [topic])
        #expect(await eventually { !lateSeen.on(topic).isEmpty })
        #expect(lateSeen.on(topic).map(\.text) == ["online"])
        #expect(lateSeen.on(topic).first?.retain == true)

        // When the client dies without a word.
        hark.simulateCrash()
        #expect(await eventually { seen.texts(topic).last == "offline" }, "the broker publishes the will")
        let (later, laterSeen) = try await Self.listener(broker, "late-offline", topics: [topic])
        #expect(await eventually { !laterSeen.on(topic).isEmpty })
        #expect(laterSeen.on(topic).map(\.text) == ["offline"])
        #expect(laterSeen.on(topic).first?.retain == true)

        for client in [hark, watcher, late, later] { await client.shutdown() }
    }

    // MARK: Broker down

    @Test("Given the broker is down when the client starts, when it publishes, then it fails unavailable after its timeout and hands nothing to libmosquitto; when the broker comes up, the client connects by itself and the earlier message never arrives")
    func brokerDownAtStart() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let topic = "cmnd/kitchen_fan/FanSpeed"
        // A persistent device session, so the broker would queue anything Hark sent while the device is away.
        let (device, inbox) = try await Self.listener(broker, "device-fan", topics: [topic], clean: false)
        await device.shutdown()
        broker.stop()

        let hark = try MQTTClient(settings: Self.settings(broker, "hark-down", timeout: .seconds(2)), logger: Self.quiet)
        try hark.start()
        let started = ContinuousClock.now
        let error = await #expect(throws: DeviceError.self) { try await hark.publish(topic: topic, payload: "1") }
        #expect(error?.code == .unavailable)
        #expect(ContinuousClock.now - started >= .seconds(2) - .milliseconds(50))

        try broker.start()
        try await hark.waitForConnection(timeout: .seconds(30))
        let (device2, inbox2) = try await Self.listener(broker, "device-fan", topics: [topic], clean: false)
        try await hark.publish(topic: topic, payload: "2")
        #expect(await eventually { !inbox2.on(topic).isEmpty })
        // Anything queued in libmosquitto would have been resent before "2" on the new connection.
        #expect(inbox2.texts(topic) == ["2"])
        #expect(inbox.all.isEmpty)
        await hark.shutdown()
        await device2.shutdown()
    }

    @Test("Given no broker, when the transport starts, then start succeeds and an action fails unavailable after the timeout; when the broker comes up, then actions go through")
    func transportWithoutBroker() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        broker.stop()
        let transport = try MQTTTransport(catalog: MQTTTestHome.catalog, settings: Self.settings(broker, "hark-nobroker", timeout: .seconds(1)),
                                          observer: { _ in }, logger: Self.quiet)
        try await transport.start()
        let action = try MQTTTestHome.action("coffee_maker", "turn_on")
        let error = await #expect(throws: DeviceError.self) { _ = try await transport.perform(action) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("127.0.0.1:\(broker.port)") == true)
        #expect(error?.message.contains("Connection refused") == true, "\(error?.message ?? "")")

        try broker.start()
        try await transport.client.waitForConnection(timeout: .seconds(30))
        #expect(try await transport.perform(action) == "puback cmnd/coffee_maker/POWER")
        await transport.shutdown()
    }

    // MARK: Commands

    struct RoundTrip: Sendable, CustomTestStringConvertible {
        let style: String
        let device: String
        let command: String
        let args: [String: JSONValue]
        let topic: String
        let payload: String
        var testDescription: String { "\(style): \(device).\(command)" }
    }

    static let roundTrips = [
        RoundTrip(style: "zigbee2mqtt", device: "kitchen_light", command: "set_brightness", args: ["percent": .number(40)],
                  topic: "zigbee2mqtt/kitchen_light/set", payload: #"{"brightness":102,"state":"ON"}"#),
        RoundTrip(style: "tasmota", device: "kitchen_fan", command: "set_speed", args: ["level": .string("high")],
                  topic: "cmnd/kitchen_fan/FanSpeed", payload: "3"),
        RoundTrip(style: "mqtt", device: "living_room_tv", command: "set_volume", args: ["percent": .number(30)],
                  topic: "home/living_room_tv/volume", payload: "30"),
    ]

    @Test("Given a transport and a simulated device, when an action is performed, then the device receives exactly the expected topic and payload at QoS 1, not retained",
          arguments: roundTrips)
    func commandRoundTrip(_ expected: RoundTrip) async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let prefix = String(expected.topic.prefix { $0 != "/" })
        let (device, inbox) = try await Self.listener(broker, "device", topics: [prefix + "/#"])
        let transport = try MQTTTransport(catalog: MQTTTestHome.catalog, settings: Self.settings(broker, "hark-\(expected.style)"),
                                          observer: { _ in }, logger: Self.quiet)
        try await transport.start()

        let receipt = try await transport.perform(MQTTTestHome.action(expected.device, expected.command, expected.args))
        #expect(receipt == "puback \(expected.topic)")
        // The broker keeps one publisher's order: once the marker is in, everything sent before it is too.
        let marker = prefix + "/zz_marker"
        try await transport.client.publish(topic: marker, payload: "end")
        #expect(await eventually { !inbox.on(marker).isEmpty })
        let received = inbox.all.filter { $0.topic != marker }
        #expect(received.map(\.topic) == [expected.topic])
        #expect(received.map(\.text) == [expected.payload])
        #expect(received.first?.qos == 1)
        #expect(received.first?.retain == false)

        await transport.shutdown()
        await device.shutdown()
    }

    @Test("Given the broker restarts (SIGTERM, start again on the same port) while 100 actions are performed and one is in flight, then libmosquitto resends that one, every action is acknowledged and the device receives each command exactly once, in order")
    func brokerRestartMidStream() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let topic = "cmnd/hallway_light/Dimmer"
        // A persistent session: the broker queues commands for the device while it reconnects.
        let (device, inbox) = try await Self.listener(broker, "device-dimmer", topics: [topic], clean: false)
        let transport = try MQTTTransport(catalog: MQTTTestHome.catalog, settings: Self.settings(broker, "hark-restart", timeout: .seconds(60)),
                                          observer: { _ in }, logger: Self.quiet)
        try await transport.start()
        try await transport.client.waitForConnection()

        let actions = try (0..<100).map { try MQTTTestHome.action("hallway_light", "set_brightness", ["percent": .number(Double($0))]) }
        // Mid-stream, whatever the machine's pace: the stream stops before action 30 until the broker is frozen.
        let atThirty = Flag(), frozen = Flag()
        let performing = Task {
            var receipts: [String] = []
            for (index, action) in actions.enumerated() {
                if index == 30 {
                    atThirty.set()
                    _ = await eventually(timeout: .seconds(60)) { frozen.isSet }
                }
                receipts.append(try await transport.perform(action))
            }
            return receipts
        }
        #expect(await eventually { atThirty.isSet })
        // Frozen, the broker answers nothing: action 30 is surely in flight, unacknowledged, when the
        // broker goes down without ever reading it.
        broker.pause()
        frozen.set()
        #expect(await eventually { transport.client.pendingAcknowledgements == 1 })
        broker.stop()
        try broker.start()
        let receipts = try await performing.value
        #expect(receipts == Array(repeating: "puback \(topic)", count: 100))

        let expected = (0..<100).map(String.init)
        // QoS 1 lets the broker hand a message to the device again when the device's PUBACK was still
        // unread at the SIGTERM: the same broker message id and payload. That is a redelivery by the
        // broker, told apart here; a second send by Hark would carry a new message id.
        func delivered() -> (unique: [String], redelivered: Int) {
            var seen = Set<String>()
            var unique: [String] = []
            var redelivered = 0
            for message in inbox.on(topic) {
                if seen.insert("\(message.mid) \(message.text)").inserted { unique.append(message.text) } else { redelivered += 1 }
            }
            return (unique, redelivered)
        }
        #expect(await eventually(timeout: .seconds(60)) { delivered().unique.count >= 100 })
        // Once the marker is in, nothing sent before it is still on its way.
        try await transport.client.publish(topic: topic, payload: "marker")
        #expect(await eventually { inbox.texts(topic).last == "marker" })
        var (unique, redelivered) = delivered()
        unique.removeLast()
        #expect(unique == expected, "every command once, in order")
        // libmosquitto resent the command in flight after reconnecting, with DUP set.
        let resent = broker.log().split(separator: "\n").filter { $0.contains("Received PUBLISH from hark-restart (d1, q1") }
        #expect(resent.count == 1, "\(resent)")
        if redelivered > 0 { print("brokerRestartMidStream: the broker redelivered \(redelivered) message(s) whose PUBACK from the device it had not read (QoS 1)") }

        await transport.shutdown()
        await device.shutdown()
    }

    // MARK: State

    @Test("Given a simulated Zigbee2MQTT light, Tasmota dimmer and generic TV, when they publish state, then the StateObserver receives it in Hark's vocabulary (brightness 127 → 50)")
    func stateUpdates() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let updates = Updates()
        let transport = try MQTTTransport(catalog: MQTTTestHome.catalog, settings: Self.settings(broker, "hark-state"),
                                          observer: updates.append, logger: Self.quiet)
        try await transport.start()
        try await transport.client.subscribe(transport.stateTopics)
        let (devices, _) = try await Self.listener(broker, "devices", topics: [])

        try await devices.publish(topic: "zigbee2mqtt/kitchen_light", payload: #"{"state":"ON","brightness":127,"linkquality":87}"#)
        try await devices.publish(topic: "zigbee2mqtt/kitchen_light/availability", payload: "offline")
        try await devices.publish(topic: "tele/hallway_light/STATE", payload: #"{"Time":"2025-01-01T00:00:00","POWER":"ON","Dimmer":30}"#)
        try await devices.publish(topic: "home/living_room_tv/state", payload: #"{"power":"on","volume":25}"#)
        #expect(await eventually { updates.all.count >= 4 })
        #expect(updates.all == [
            StateUpdate(device: "kitchen_light", values: ["power": .string("on"), "brightness": .number(50)], origin: "mqtt"),
            StateUpdate(device: "kitchen_light", values: ["available": .bool(false)], origin: "mqtt"),
            StateUpdate(device: "hallway_light", values: ["power": .string("on"), "brightness": .number(30)], origin: "mqtt"),
            StateUpdate(device: "living_room_tv", values: ["power": .string("on"), "volume": .number(25)], origin: "mqtt"),
        ])
        await transport.shutdown()
        await devices.shutdown()
    }

    @Test("Given hostile state payloads, when a device publishes them, then each is ignored with a one-line warning naming the topic, and the transport keeps working")
    func hostileStatePayloads() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let updates = Updates()
        let log = LogLines()
        let transport = try MQTTTransport(catalog: MQTTTestHome.catalog, settings: Self.settings(broker, "hark-hostile"),
                                          observer: updates.append, logger: log.logger(level: .warning))
        try await transport.start()
        try await transport.client.subscribe(transport.stateTopics)
        let (devices, _) = try await Self.listener(broker, "evil-devices", topics: [])

        let topic = "zigbee2mqtt/kitchen_light"
        let hostile: [[UInt8]] = [
            Array("not json at all".utf8),
            Array(#"{"brightness":"#.utf8),
            Array(#"{"brightness":"very"}"#.utf8),
            Array(#"{"brightness":1e308}"#.utf8),
            Array(#"{"brightness":-40}"#.utf8),
            Array(#"{"state":["ON"]}"#.utf8),
            Array((String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)).utf8),
            [0xC3, 0x28, 0xFF],
            Array(repeating: UInt8(ascii: "{"), count: 1 << 20),
            Array("\"\u{1B}[2J\"".utf8),
        ]
        for payload in hostile { try await devices.publish(topic: topic, payload: payload) }
        try await devices.publish(topic: topic, payload: #"{"state":"OFF","brightness":0}"#)
        #expect(await eventually { !updates.all.isEmpty })
        #expect(updates.all == [StateUpdate(device: "kitchen_light", values: ["power": .string("off"), "brightness": .number(0)], origin: "mqtt")])
        let warnings = log.all.filter { $0.hasPrefix("warning MQTT state on '\(topic)'") }
        #expect(warnings.count == hostile.count, "\(log.all)")
        #expect(log.all.allSatisfy { !$0.contains("\n") && $0.count < 400 })

        let (device, inbox) = try await Self.listener(broker, "device", topics: ["zigbee2mqtt/kitchen_light/set"])
        let receipt = try await transport.perform(MQTTTestHome.action("kitchen_light", "turn_on"))
        #expect(receipt == "puback zigbee2mqtt/kitchen_light/set")
        #expect(await eventually { inbox.texts("zigbee2mqtt/kitchen_light/set") == [#"{"state":"ON"}"#] })

        await transport.shutdown()
        await devices.shutdown()
        await device.shutdown()
    }
}
