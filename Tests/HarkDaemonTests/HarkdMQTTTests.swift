import Foundation
import HarkDevices
import HarkStore
import HarkTestSupport
import Logging
import Synchronization
import Testing

/// The whole daemon against a real broker: harkd listening (audio on stdin) with the demo home, a
/// script of actions, a simulated Zigbee2MQTT/Tasmota home on a real mosquitto.
@Suite struct HarkdMQTTTests {
    final class Inbox: Sendable {
        let messages = Mutex<[MQTTClient.Message]>([])
        func texts(_ topic: String) -> [String] { messages.withLock { $0.filter { $0.topic == topic }.map(\.text) } }
    }

    func events(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func waitFor(_ timeout: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    @Test func givenTheDemoHomeOnARealBroker_whenHarkdRunsAScript_thenDevicesGetTheirCommandsAndTheirStateComesBack() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: broker.port, clientID: "simulated-home", timeout: .seconds(20))
        let inbox = Inbox()
        let home = try MQTTClient(settings: settings, logger: Logger(label: "home")) { message in inbox.messages.withLock { $0.append(message) } }
        try home.start()
        try await home.subscribe(["zigbee2mqtt/kitchen_light/set", "cmnd/coffee_maker/POWER", "zigbee2mqtt/front_door/set", "hark/hark/availability"])
        // The bedroom light said what it is before Hark started (Zigbee2MQTT retains device state).
        try await home.publish(topic: "zigbee2mqtt/bedroom_light", payload: #"{"state":"ON","brightness":254}"#, retain: true)

        let dir = makeTemporaryDirectory("harkd-mqtt")
        writeFile(dir + "/actions.jsonl", """
            {"id":"k1","action":{"device":"kitchen_light","command":"set_brightness","args":{"percent":40}}}
            {"id":"c1","action":{"device":"coffee_maker","command":"turn_on"}}
            {"id":"d1","action":{"device":"front_door","command":"unlock"}}
            {"device":"kitchen_light","command":"set_brightness","args":{"percent":140}}

            """)
        let eventsPath = dir + "/events.jsonl"
        let database = dir + "/hark.sqlite"
        // harkd is waited for on a Dispatch thread: the waits below must not hold a thread of Swift's
        // cooperative pool, which the simulated home's publishes need.
        let run = try await offThePool { try harkd(["--input", "-", "--actions", dir + "/actions.jsonl", "--mqtt", "127.0.0.1:\(broker.port)",
                             "--database", database, "--events", eventsPath, "--log-level", "warning"], timeout: 60) { process in
            // The commands arrive at the devices, the retained state becomes a state event …
            _ = waitFor { events(eventsPath).filter { $0["type"] as? String == "actions" }.count == 4 }
            _ = waitFor { inbox.texts("zigbee2mqtt/front_door/set").count == 1 }
            _ = waitFor { events(eventsPath).contains { $0["type"] as? String == "state" && $0["device"] as? String == "bedroom_light" } }
            // … and the kitchen light reporting its new state is one too.
            let semaphore = DispatchSemaphore(value: 0)
            Task {
                try? await home.publish(topic: "zigbee2mqtt/kitchen_light", payload: #"{"state":"ON","brightness":102,"linkquality":87}"#)
                semaphore.signal()
            }
            semaphore.wait()
            _ = waitFor { events(eventsPath).contains { $0["type"] as? String == "state" && $0["device"] as? String == "kitchen_light" } }
            process.terminate()
        } }
        #expect(run.reason == .exit && run.status == 0, "\(run.stderr)")

        let all = events(eventsPath)
        let actions = all.filter { $0["type"] as? String == "actions" }.compactMap { ($0["actions"] as? [[String: Any]])?.first }
        #expect(actions.map { $0["status"] as? String ?? "" } == ["ok", "ok", "ok", "invalid"], "\(all)")
        #expect(actions.first?["detail"] as? String == "puback zigbee2mqtt/kitchen_light/set")
        // 40 % of Zigbee2MQTT's 0–254.
        #expect(inbox.texts("zigbee2mqtt/kitchen_light/set") == [#"{"brightness":102,"state":"ON"}"#])
        #expect(inbox.texts("cmnd/coffee_maker/POWER") == ["ON"])
        #expect(inbox.texts("zigbee2mqtt/front_door/set") == [#"{"state":"UNLOCK"}"#])
        let states = all.filter { $0["type"] as? String == "state" }
        let bedroom = states.first { $0["device"] as? String == "bedroom_light" }?["state"] as? [String: AnyHashable]
        #expect(bedroom?["power"] as? String == "on" && bedroom?["brightness"] as? Int == 100)
        let kitchen = states.first { $0["device"] as? String == "kitchen_light" }?["state"] as? [String: AnyHashable]
        #expect(kitchen?["brightness"] as? Int == 40, "\(states)")
        // Hark announced itself and said goodbye (retained), and journaled every action.
        #expect(inbox.texts("hark/hark/availability") == ["online", "offline"])
        let store = try Store(path: database)
        #expect(try store.actionCount(status: .ok) == 3 && store.actionCount(status: .invalid) == 1)
        #expect(try store.loadStates()["kitchen_light"]?.json.contains(#""brightness":40"#) == true)
        await home.shutdown()
    }

    @Test func givenNoBroker_whenHarkdDispatches_thenTheActionFailsWithOneLineAndHarkdKeepsGoing() throws {
        let dir = makeTemporaryDirectory("harkd-nobroker")
        writeFile(dir + "/actions.jsonl", #"{"device":"coffee_maker","command":"turn_on"}"# + "\n" + #"{"device":"speaker","command":"set_volume","args":{"percent":30}}"# + "\n")
        // A port nobody listens on.
        let run = try harkd(["--input", "none", "--actions", dir + "/actions.jsonl", "--mqtt", "127.0.0.1:9", "--database", dir + "/hark.sqlite",
                             "--events", "-", "--log-level", "critical"], timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        let actions = run.events.filter { $0["type"] as? String == "actions" }.compactMap { ($0["actions"] as? [[String: Any]])?.first }
        #expect(actions.first?["status"] as? String == "failed")
        #expect((actions.first?["detail"] as? String)?.contains("127.0.0.1:9") == true, "\(actions)")
        #expect(actions.count == 2)
    }
}
