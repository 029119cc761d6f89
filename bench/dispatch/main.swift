// make bench-dispatch: validated action → MQTT PUBACK on loopback, and journal writes per second.
//
//   hark-bench-dispatch --port PORT [--count 10000] [--catalog devices/demo-home.yaml]
//
// Needs a mosquitto listening on 127.0.0.1:PORT (`make bench-dispatch` starts one). Two measurements,
// each against a reference run in the same process on the same input, in alternating blocks so that
// load from elsewhere on the machine falls on both alike:
//
// 1. Dispatch latency: `count` actions on the demo home's MQTT devices through the real
//    ActionDispatcher (validation, policy, journal in an on-disk WAL Store) and the real MQTTTransport,
//    each timed from submit to its result, which comes after the broker's PUBACK. The reference publishes
//    the same topics and payloads with libmosquitto directly, QoS 1, waiting for each PUBACK in its own
//    loop (no validation, no journal, no thread hop).
//    For the breakdown, MQTTTransport.perform alone (no dispatcher, no journal) is timed as well.
// 2. Journal throughput: `count` actions journaled (Store.begin + Store.finish, one transaction each)
//    against plain GRDB INSERT + UPDATE on the same table with the same pragmas.
//
// The last two lines are the summary: `dispatch_p99_ms: N` and `journal_actions_per_s: N`.
import CMosquitto
import FoundationEssentials
import GRDB
import HarkDevices
import HarkStore
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var port = 0
    var count = 10_000
    var catalog = "devices/demo-home.yaml"
    var block = 500

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { fail("\(flag) needs a value") }
            switch flag {
            case "--port": port = Int(value) ?? 0
            case "--count": count = Int(value) ?? 0
            case "--catalog": catalog = value
            default: fail("unknown option \(flag) (expected --port, --count, --catalog)")
            }
        }
        guard (1...65_535).contains(port) else { fail("--port PORT of a mosquitto on 127.0.0.1 is required") }
        guard count >= 100 else { fail("--count must be at least 100") }
    }
}

func fail(_ message: String) -> Never {
    let line = "hark-bench-dispatch: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// The value below which `fraction` of the sorted samples lie (nearest rank).
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    sorted[max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1)]
}

func format(_ value: Double, _ digits: Int = 3) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(rounded)"
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    }
    return text
}

/// The input: a deterministic mix of commands on the demo home's MQTT devices (Zigbee2MQTT, Tasmota,
/// generic), every one valid.
func makeActions(_ catalog: Catalog, count: Int) -> [Action] {
    var actions: [Action] = []
    actions.reserveCapacity(count)
    let levels = ["low", "medium", "high"]
    for index in 0..<count {
        let percent = JSONValue.number(Double(index % 101))
        switch index % 8 {
        case 0: actions.append(Action(device: "kitchen_light", command: "set_brightness", args: ["percent": percent]))
        case 1: actions.append(Action(device: "hallway_light", command: "set_brightness", args: ["percent": percent]))
        case 2: actions.append(Action(device: "living_room_tv", command: "set_volume", args: ["percent": percent]))
        case 3: actions.append(Action(device: "kitchen_fan", command: "set_speed", args: ["level": .string(levels[index % 3])]))
        case 4: actions.append(Action(device: "bedroom_thermostat", command: "set_temperature", args: ["celsius": .number(Double(16 + index % 10))]))
        case 5: actions.append(Action(device: "bedroom_blinds", command: "set_position", args: ["percent": percent]))
        case 6: actions.append(Action(device: "coffee_maker", command: index % 16 < 8 ? "turn_on" : "turn_off"))
        default: actions.append(Action(device: "living_room_lamp", command: index % 16 < 8 ? "turn_on" : "turn_off"))
        }
    }
    return actions
}

// MARK: Reference: libmosquitto, QoS 1, PUBACK awaited in the caller's own loop

/// A libmosquitto client driven by `mosquitto_loop` on the calling thread: publish, then run the loop
/// until on_publish reports that message id.
final class ReferencePublisher {
    let handle: OpaquePointer
    var acknowledged: Int32 = -1

    init(port: Int) {
        guard let handle = mosquitto_new("hark-bench-reference", true, nil) else { fail("mosquitto_new failed") }
        self.handle = handle
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_publish_callback_set(handle) { _, context, mid in
            Unmanaged<ReferencePublisher>.fromOpaque(context!).takeUnretainedValue().acknowledged = mid
        }
        let rc = mosquitto_connect(handle, "127.0.0.1", Int32(port), 30)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { fail("reference mosquitto_connect: \(String(cString: mosquitto_strerror(rc)))") }
    }

    func publish(topic: String, payload: [UInt8]) {
        var mid: Int32 = 0
        let rc = mosquitto_publish(handle, &mid, topic, Int32(payload.count), payload, 1, false)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { fail("reference mosquitto_publish: \(String(cString: mosquitto_strerror(rc)))") }
        while acknowledged != mid {
            let rc = mosquitto_loop(handle, 1000, 1)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { fail("reference mosquitto_loop: \(String(cString: mosquitto_strerror(rc)))") }
        }
    }

    deinit {
        mosquitto_disconnect(handle)
        mosquitto_destroy(handle)
    }
}

// MARK: Reference: plain GRDB insert + update

/// The journal's table and pragmas, written to with the plainest GRDB calls.
func plainQueue(path: String) throws -> DatabaseQueue {
    var configuration = Configuration()
    configuration.journalMode = .wal
    configuration.busyMode = .timeout(5)
    configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
    let queue = try DatabaseQueue(path: path, configuration: configuration)
    try queue.write { db in
        try db.execute(sql: """
            CREATE TABLE action (
                id TEXT PRIMARY KEY NOT NULL, created_at REAL NOT NULL, source TEXT NOT NULL, device TEXT NOT NULL,
                command TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL, detail TEXT, finished_at REAL);
            CREATE INDEX action_created_at ON action(created_at);
            CREATE INDEX action_status ON action(status);
            """)
    }
    return queue
}

/// Seconds to journal `range` of the actions with Hark's Store: begin, then finish, as the dispatcher does.
func timeJournal(_ store: Store, _ actions: [Action], _ messages: [MQTTMessages.Publish], _ range: Range<Int>) throws -> Double {
    let started = ContinuousClock.now
    for index in range {
        let action = actions[index]
        let entry = Store.NewAction(id: "journal-\(index)", source: "socket", device: action.device, command: action.command,
                                    args: JSONValue.object(action.args).jsonText)
        _ = try store.begin(entry)
        try store.finish(id: entry.id, status: .ok, detail: "puback \(messages[index].topic)")
    }
    return milliseconds(ContinuousClock.now - started) / 1000
}

/// Seconds for the same rows written with plain GRDB: one INSERT and one UPDATE transaction per action.
func timePlain(_ queue: DatabaseQueue, _ actions: [Action], _ messages: [MQTTMessages.Publish], _ range: Range<Int>) throws -> Double {
    let started = ContinuousClock.now
    for index in range {
        let action = actions[index]
        let id = "plain-\(index)"
        let args = JSONValue.object(action.args).jsonText
        try queue.write { db in
            try db.execute(sql: "INSERT INTO action (id, created_at, source, device, command, args, status) VALUES (?, ?, ?, ?, ?, ?, 'dispatching')",
                           arguments: [id, Store.now(), "socket", action.device, action.command, args])
        }
        try queue.write { db in
            try db.execute(sql: "UPDATE action SET status = 'ok', detail = ?, finished_at = ? WHERE id = ?",
                           arguments: ["puback \(messages[index].topic)", Store.now(), id])
        }
    }
    return milliseconds(ContinuousClock.now - started) / 1000
}

// MARK: Main

enum BenchDispatch {
    static func run() async throws {
        let options = Options(CommandLine.arguments)
        var logger = Logger(label: "hark.bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning

        let catalog: Catalog
        do { catalog = try Catalog.load(path: options.catalog) } catch { fail("\(error)") }
        let actions = makeActions(catalog, count: options.count)
        let validator = Validator(catalog: catalog)
        let messages: [MQTTMessages.Publish] = actions.map { action in
            do { return try MQTTMessages.command(for: validator.validate(action)) } catch { fail("\(error)") }
        }

        var template = Array("/tmp/hark-bench-dispatch-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { fail("mkdtemp failed") }
        let directory = String(cString: made)
        defer {
            for name in ["dispatch.sqlite", "journal.sqlite", "plain.sqlite"] {
                for suffix in ["", "-wal", "-shm"] { unlink("\(directory)/\(name)\(suffix)") }
            }
            rmdir(directory)
        }

        // Hark: the dispatcher over the real transport and an on-disk store.
        let store = try Store(path: "\(directory)/dispatch.sqlite")
        let states = DeviceStates(store: store, logger: logger, onChange: { _ in })
        let settings = MQTTSettings(port: options.port, clientID: "hark-bench", timeout: .seconds(10))
        let transport = try MQTTTransport(catalog: catalog, settings: settings, observer: states.apply, logger: logger)
        let dispatcher = ActionDispatcher(catalog: catalog, store: store, transports: [transport], states: states,
                                          logger: logger, report: { _ in })
        try await dispatcher.start()
        try await transport.client.waitForConnection(timeout: .seconds(30))
        let reference = ReferencePublisher(port: options.port)
        let payloads = messages.map { Array($0.payload.utf8) }

        func hark(_ index: Int, id: String) async -> Double {
            let started = ContinuousClock.now
            let results = await dispatcher.submit([.init(id: id, action: actions[index])], source: .socket)
            let elapsed = milliseconds(ContinuousClock.now - started)
            guard results.first?.status == .ok else { fail("action \(index) failed: \(results.first?.detail ?? "no result")") }
            return elapsed
        }
        let validated = actions.map { action in
            do { return try validator.validate(action) } catch { fail("\(error)") }
        }
        func transportOnly(_ index: Int) async -> Double {
            let started = ContinuousClock.now
            do { _ = try await transport.perform(validated[index]) } catch { fail("transport: \(error)") }
            return milliseconds(ContinuousClock.now - started)
        }
        func direct(_ index: Int) -> Double {
            let started = ContinuousClock.now
            reference.publish(topic: messages[index].topic, payload: payloads[index])
            return milliseconds(ContinuousClock.now - started)
        }

        // Warm-up: connections, SQLite caches, code paths.
        for index in 0..<200 {
            _ = await hark(index, id: "warmup-\(index)")
            _ = await transportOnly(index)
            _ = direct(index)
        }

        var harkTimes: [Double] = []
        var referenceTimes: [Double] = []
        var transportTimes: [Double] = []
        harkTimes.reserveCapacity(options.count)
        transportTimes.reserveCapacity(options.count)
        referenceTimes.reserveCapacity(options.count)
        var start = 0
        while start < options.count {
            let end = min(start + options.block, options.count)
            for index in start..<end { harkTimes.append(await hark(index, id: "bench-\(index)")) }
            for index in start..<end { transportTimes.append(await transportOnly(index)) }
            for index in start..<end { referenceTimes.append(direct(index)) }
            start = end
        }
        await dispatcher.shutdown()
        withExtendedLifetime(reference) {}

        // Journal throughput.
        let journal = try Store(path: "\(directory)/journal.sqlite")
        let plain = try plainQueue(path: "\(directory)/plain.sqlite")
        var journalSeconds = 0.0
        var plainSeconds = 0.0
        start = 0
        while start < options.count {
            let end = min(start + options.block * 2, options.count)
            journalSeconds += try timeJournal(journal, actions, messages, start..<end)
            plainSeconds += try timePlain(plain, actions, messages, start..<end)
            start = end
        }

        harkTimes.sort()
        referenceTimes.sort()
        transportTimes.sort()
        let harkP50 = percentile(harkTimes, 0.50), harkP99 = percentile(harkTimes, 0.99)
        let refP50 = percentile(referenceTimes, 0.50), refP99 = percentile(referenceTimes, 0.99)
        let journalRate = Double(options.count) / journalSeconds
        let plainRate = Double(options.count) / plainSeconds

        print("bench-dispatch: \(options.count) actions on the demo home's MQTT devices, mosquitto on 127.0.0.1:\(options.port), QoS 1")
        print("dispatch latency, submit → PUBACK (ms)       p50       p99       max")
        print("  hark (validate, journal, MQTTTransport)  \(format(harkP50))     \(format(harkP99))    \(format(harkTimes.last!))")
        print("  reference (libmosquitto publish+PUBACK)  \(format(refP50))     \(format(refP99))    \(format(referenceTimes.last!))")
        print("  ratio hark/reference                     \(format(harkP50 / refP50, 2))      \(format(harkP99 / refP99, 2))")
        print("  of which MQTTTransport.perform alone     \(format(percentile(transportTimes, 0.5)))     \(format(percentile(transportTimes, 0.99)))    \(format(transportTimes.last!))")
        print("journal (begin + finish, WAL, synchronous=NORMAL), actions/s")
        print("  hark Store                               \(Int(journalRate.rounded()))")
        print("  reference (plain GRDB insert + update)   \(Int(plainRate.rounded()))")
        print("  ratio hark/reference                     \(format(journalRate / plainRate, 2))")
        print("targets: p99 ≤ 5 ms \(harkP99 <= 5 ? "met" : "NOT met"); ≥ 2000 journaled actions/s \(journalRate >= 2000 ? "met" : "NOT met")")
        print("dispatch_p99_ms: \(format(harkP99))")
        print("journal_actions_per_s: \(Int(journalRate.rounded()))")
    }
}

try await BenchDispatch.run()
