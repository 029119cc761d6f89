import HarkStore
import HarkTestSupport
import Logging
import Synchronization
import Testing
@testable import HarkDevices

/// A transport that records what reaches it and answers as told: the dispatcher's collaborator in
/// these tests of validation, policy, journaling and reporting. Real transports have their own tests.
final class RecordingTransport: Transport {
    let serves: Set<String>
    let performed = Mutex<[Action]>([])
    let failWith: String?
    init(serves: Set<String>, failWith: String? = nil) {
        self.serves = serves
        self.failWith = failWith
    }
    func perform(_ action: ValidatedAction) async throws -> String {
        performed.withLock { $0.append(action.action) }
        if let failWith { throw DeviceError(.transport, failWith) }
        return "recorded"
    }
}

final class Reports: Sendable {
    let items = Mutex<[ActionDispatcher.Report]>([])
    func add(_ report: ActionDispatcher.Report) { items.withLock { $0.append(report) } }
    var refusals: [String] { items.withLock { $0.compactMap { if case let .refused(_, result, reason) = $0 { "\(result.action.device).\(result.action.command):\(reason)" } else { nil } } } }
    var states: [StateUpdate] { items.withLock { $0.compactMap { if case let .state(update) = $0 { update } else { nil } } } }
    var batches: [[ActionDispatcher.Result]] { items.withLock { $0.compactMap { if case let .actions(_, results, _) = $0 { results } else { nil } } } }
}

@Suite struct DispatcherTests {
    let catalog = try! Catalog.parse(yaml: """
        devices:
          lamp:
            type: light
            names: [lamp]
            transport: {via: zigbee2mqtt}
          plug:
            type: switch
            names: [plug]
            transport: {via: exec, argv: [/bin/true]}
          door:
            type: lock
            names: [door]
            transport: {via: zigbee2mqtt}
        """)

    func make(store: Store, transports: [any Transport], dryRun: Bool = false) -> (ActionDispatcher, Reports) {
        let reports = Reports()
        let logger = Logger(label: "test")
        let states = DeviceStates(store: store, logger: logger) { reports.add(.state($0)) }
        let dispatcher = ActionDispatcher(catalog: catalog, store: store, transports: transports, states: states, dryRun: dryRun,
                                          logger: logger) { reports.add($0) }
        return (dispatcher, reports)
    }

    @Test func givenValidActions_whenSubmitted_thenEachIsDispatchedJournaledAndReportedAsOneBatch() async throws {
        let store = try Store(path: ":memory:")
        let mqtt = RecordingTransport(serves: ["zigbee2mqtt"])
        let (dispatcher, reports) = make(store: store, transports: [mqtt])
        try await dispatcher.start()
        let results = await dispatcher.submit([
            .init(id: "1", action: Action(device: "lamp", command: "set_brightness", args: ["percent": .number(40)])),
            .init(id: "2", action: Action(device: "lamp", command: "turn_off")),
        ], source: .voice(stage: 1))
        #expect(results.map(\.status) == [.ok, .ok])
        #expect(mqtt.performed.withLock { $0.map(\.command) } == ["set_brightness", "turn_off"])
        #expect(try store.entry(id: "1")?.status == .ok)
        #expect(try store.entry(id: "1")?.args == #"{"percent":40}"#)
        #expect(try store.entry(id: "2")?.source == "voice1")
        #expect(reports.batches.map { $0.map(\.id) } == [["1", "2"]])
    }

    @Test func givenAnIdAlreadyJournaled_whenSubmittedAgain_thenItIsNotDispatchedTwice() async throws {
        let store = try Store(path: ":memory:")
        let mqtt = RecordingTransport(serves: ["zigbee2mqtt"])
        let (dispatcher, _) = make(store: store, transports: [mqtt])
        let request = ActionDispatcher.Request(id: "same", action: Action(device: "lamp", command: "turn_on"))
        let first = await dispatcher.perform(request, source: .socket)
        let second = await dispatcher.perform(request, source: .socket)
        #expect(first.status == .ok && !first.replayed)
        #expect(second.status == .ok && second.replayed)
        #expect(mqtt.performed.withLock { $0.count } == 1)
    }

    @Test func givenAnInvalidAction_thenNothingIsDispatchedAndTheJournalSaysWhy() async throws {
        let store = try Store(path: ":memory:")
        let mqtt = RecordingTransport(serves: ["zigbee2mqtt"])
        let (dispatcher, _) = make(store: store, transports: [mqtt])
        let result = await dispatcher.perform(.init(id: "bad", action: Action(device: "lamp", command: "set_brightness", args: ["percent": .number(400)])), source: .voice(stage: 2))
        #expect(result.status == .invalid)
        #expect(mqtt.performed.withLock { $0.isEmpty })
        #expect(try store.entry(id: "bad")?.detail?.contains("0–100") == true)
    }

    @Test func givenVoiceUnlock_thenItIsRefusedAsAnEventAndJournaled() async throws {
        let store = try Store(path: ":memory:")
        let mqtt = RecordingTransport(serves: ["zigbee2mqtt"])
        let (dispatcher, reports) = make(store: store, transports: [mqtt])
        let result = await dispatcher.perform(.init(id: "u", action: Action(device: "door", command: "unlock")), source: .voice(stage: 1))
        #expect(result.status == .refused && result.detail == "voice_not_allowed")
        #expect(reports.refusals == ["door.unlock:voice_not_allowed"])
        #expect(mqtt.performed.withLock { $0.isEmpty })
        #expect(try store.entry(id: "u")?.status == .refused)
    }

    @Test func givenAFailingTransport_thenTheFailureIsJournaledWithItsMessage() async throws {
        let store = try Store(path: ":memory:")
        let (dispatcher, _) = make(store: store, transports: [RecordingTransport(serves: ["zigbee2mqtt"], failWith: "broker unreachable")])
        let result = await dispatcher.perform(.init(id: "f", action: Action(device: "lamp", command: "turn_on")), source: .socket)
        #expect(result.status == .failed && result.detail == "broker unreachable")
        #expect(try store.entry(id: "f")?.status == .failed)
    }

    @Test func givenNoTransportForADevice_thenTheActionFailsNamingIt() async throws {
        let store = try Store(path: ":memory:")
        let (dispatcher, _) = make(store: store, transports: [])
        let result = await dispatcher.perform(.init(action: Action(device: "plug", command: "turn_on")), source: .socket)
        #expect(result.status == .failed && result.detail == "no exec transport is running for 'plug'")
    }

    @Test func givenDryRun_thenNoTransportIsCalledButTheActionIsJournaledAndReported() async throws {
        let store = try Store(path: ":memory:")
        let mqtt = RecordingTransport(serves: ["zigbee2mqtt"])
        let (dispatcher, reports) = make(store: store, transports: [mqtt], dryRun: true)
        try await dispatcher.start()
        let results = await dispatcher.submit([.init(action: Action(device: "lamp", command: "turn_on"))], source: .voice(stage: 1))
        #expect(results.first?.status == .ok && results.first?.detail == "dry run: not sent")
        #expect(mqtt.performed.withLock { $0.isEmpty })
        #expect(reports.batches.count == 1)
    }

    @Test func givenADeviceWithoutStateFeedback_whenAnActionSucceeds_thenItsExpectedStateIsKeptAndPersisted() async throws {
        let path = makeTemporaryDirectory() + "/hark.sqlite"
        let store = try Store(path: path)
        let (dispatcher, reports) = make(store: store, transports: [RecordingTransport(serves: ["exec", "zigbee2mqtt"])])
        _ = await dispatcher.perform(.init(action: Action(device: "plug", command: "turn_on")), source: .socket)
        _ = await dispatcher.perform(.init(action: Action(device: "plug", command: "turn_on")), source: .socket)
        _ = await dispatcher.perform(.init(action: Action(device: "lamp", command: "turn_on")), source: .socket)
        // One change for the plug (the second turn_on changes nothing); the lamp reports its own state over MQTT.
        #expect(reports.states == [StateUpdate(device: "plug", values: ["power": .string("on")], origin: "action")])
        let reopened = DeviceStates(store: try Store(path: path), logger: Logger(label: "test")) { _ in }
        #expect(reopened.state(of: "plug") == ["power": .string("on")])
    }

    @Test func givenActionsLeftInFlight_whenTheDispatcherStarts_thenTheyAreInterruptedAndNotRetried() async throws {
        let store = try Store(path: ":memory:")
        _ = try store.begin(.init(id: "crashed", source: "socket", device: "lamp", command: "turn_on", args: "{}"))
        let mqtt = RecordingTransport(serves: ["zigbee2mqtt"])
        let (dispatcher, _) = make(store: store, transports: [mqtt])
        try await dispatcher.start()
        let retry = await dispatcher.perform(.init(id: "crashed", action: Action(device: "lamp", command: "turn_on")), source: .socket)
        #expect(retry.status == .interrupted && retry.replayed)
        #expect(mqtt.performed.withLock { $0.isEmpty })
    }
}
