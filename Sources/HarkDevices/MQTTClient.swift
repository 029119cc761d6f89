import CMosquitto
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An MQTT client over libmosquitto 2.0: QoS 1 publishes that return when the broker's PUBACK
/// arrives, QoS 1 subscriptions kept across reconnections, and Hark's availability topic.
///
/// Threads: libmosquitto runs one network thread per client (`mosquitto_loop_start`); every callback
/// (connect, disconnect, PUBACK, SUBACK, message) comes from it. `onMessage` runs there too, so it
/// must be quick and must not wait on this client.
///
/// What libmosquitto 2.0.11 does, and what this class does about it:
/// - `mosquitto_threaded_set(true)` tells libmosquitto the application drives the network loop from its
///   own thread; `mosquitto_loop_start` then refuses with MOSQ_ERR_INVAL. This class uses
///   `mosquitto_loop_start` and so never calls `mosquitto_threaded_set`.
/// - If the first `mosquitto_connect_async` fails (broker down), the network thread started afterwards
///   waits for the client to leave its initial state and never tries again (lib/thread_mosq.c). So the
///   loop thread is started only once a `mosquitto_connect_async` succeeded; until then a background
///   task retries with the same backoff. Once the thread runs, libmosquitto reconnects by itself.
/// - `mosquitto_publish` at QoS 1 while disconnected returns MOSQ_ERR_NO_CONN yet keeps the message and
///   sends it on the next connection, however late. So `publish` first waits (up to its timeout) for
///   the connection and hands libmosquitto nothing before.
/// - Messages in flight when the connection drops stay queued in the client and are resent (DUP set)
///   after the next CONNACK (`message__retry_check`): an action sent just before a broker restart is
///   delivered once the broker is back, and its `publish` returns on that PUBACK.
/// - A PUBACK can arrive before `mosquitto_publish` has returned its message id to the caller. The
///   waiter table's lock is held across `mosquitto_publish`, so the PUBACK callback, which takes the
///   same lock, always finds the waiter registered.
public final class MQTTClient: Sendable {
    /// One message received on a subscribed topic.
    public struct Message: Sendable, Equatable {
        public let topic: String
        public let payload: [UInt8]
        public let qos: Int
        public let retain: Bool
        /// The broker's message id for this client (0 for QoS 0).
        public let mid: Int32

        public var text: String { String(decoding: payload, as: UTF8.self) }
    }

    public let settings: MQTTSettings
    let handle: MosquittoHandle
    private let logger: Logger
    private let onMessage: @Sendable (Message) -> Void
    /// Connection flag, subscriptions and everyone waiting on the broker. Held across the libmosquitto
    /// calls that start a wait (publish, subscribe), never across a wait.
    private let state = Mutex(State())
    /// Connecting, running, stopping: serialises the calls that change the handle's life.
    private let lifecycle = Mutex(Lifecycle())

    private struct State {
        var connected = false
        /// Counts successful connections: a subscription acknowledged on an older one may be gone.
        var connection: UInt64 = 0
        /// Why the last connection attempt failed or the connection ended, for error messages.
        var lastProblem: String?
        var closed = false
        /// Topics subscribed on every connection, in the order first asked for.
        var subscriptions: [String] = []
        var waiters: [WaitKey: Waiter] = [:]
        var nextSerial: UInt64 = 0
    }

    private enum WaitKey: Hashable {
        /// A PUBACK or SUBACK for this message id.
        case ack(Int32)
        /// The next successful connection.
        case connection(UInt64)
    }

    private struct Waiter {
        let serial: UInt64
        let continuation: CheckedContinuation<Void, any Error>
        var timer: Task<Void, Never>?
        /// What is waited for, in the error a failed subscription gives.
        let what: String
    }

    private struct Lifecycle {
        enum Phase { case idle, connecting, running, crashed, closed }
        var phase = Phase.idle
        var retry: Task<Void, Never>?
    }

    /// Makes the client and configures it (will, credentials, backoff); nothing connects before `start`.
    /// `onMessage` receives every message of the subscribed topics, on libmosquitto's network thread.
    ///
    /// The client keeps itself alive until `shutdown()` (libmosquitto holds a reference for its callbacks).
    public init(settings: MQTTSettings, logger: Logger, onMessage: @escaping @Sendable (Message) -> Void = { _ in }) throws(DeviceError) {
        try settings.validate()
        let password = try settings.password()
        _ = mosquittoLibrary
        guard let pointer = mosquitto_new(settings.clientID, settings.cleanSession, nil) else {
            throw DeviceError(.unavailable, "mosquitto_new failed for MQTT client '\(settings.clientID)': \(String(cString: strerror(errno)))")
        }
        self.settings = settings
        self.handle = MosquittoHandle(pointer: pointer)
        self.logger = logger
        self.onMessage = onMessage
        do throws(DeviceError) {
            let offline = Array("offline".utf8)
            try mosquittoCall("mosquitto_will_set", on: settings.availabilityTopic) {
                mosquitto_will_set(pointer, settings.availabilityTopic, Int32(offline.count), offline, 1, true)
            }
            if let username = settings.username {
                try mosquittoCall("mosquitto_username_pw_set", on: "user '\(username)'") {
                    mosquitto_username_pw_set(pointer, username, password)
                }
            }
            try mosquittoCall("mosquitto_reconnect_delay_set", on: settings.broker) {
                mosquitto_reconnect_delay_set(pointer, UInt32(settings.reconnectDelayMin), UInt32(settings.reconnectDelayMax), true)
            }
        } catch {
            mosquitto_destroy(pointer)
            throw error
        }
        mosquitto_connect_callback_set(pointer) { _, context, rc in MQTTClient.from(context)?.didConnect(rc) }
        mosquitto_disconnect_callback_set(pointer) { _, context, rc in MQTTClient.from(context)?.didDisconnect(rc) }
        mosquitto_publish_callback_set(pointer) { _, context, mid in MQTTClient.from(context)?.acknowledged(mid, refused: false) }
        mosquitto_subscribe_callback_set(pointer) { _, context, mid, count, granted in
            // 0x80 in a SUBACK is "failure" (MQTT 3.1.1 §3.9.3).
            let refused = (0..<Int(max(count, 0))).contains { granted?[$0] == 0x80 }
            MQTTClient.from(context)?.acknowledged(mid, refused: refused)
        }
        mosquitto_message_callback_set(pointer) { _, context, message in
            guard let message, let client = MQTTClient.from(context) else { return }
            client.received(message.pointee)
        }
        // Released in `shutdown` after the network thread has stopped and the handle is destroyed.
        mosquitto_user_data_set(pointer, Unmanaged.passRetained(self).toOpaque())
    }

    private static func from(_ context: UnsafeMutableRawPointer?) -> MQTTClient? {
        context.map { Unmanaged<MQTTClient>.fromOpaque($0).takeUnretainedValue() }
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Publishes and subscriptions handed to libmosquitto whose acknowledgement is awaited.
    var pendingAcknowledgements: Int {
        state.withLock { $0.waiters.keys.count { if case .ack = $0 { true } else { false } } }
    }

    // MARK: Connecting

    /// Connects in the background. A broker that is down is not an error: the client keeps trying
    /// (reconnect delays from the settings) and `publish` waits for it up to its timeout.
    public func start() throws(DeviceError) {
        try lifecycle.withLock { (life: inout Lifecycle) throws(DeviceError) in
            guard life.phase == .idle else { return }
            life.phase = .connecting
            if try connectOnce() {
                life.phase = .running
                return
            }
            life.retry = Task.detached { [self] in await retryConnecting() }
        }
    }

    /// One `mosquitto_connect_async`; on success the network thread takes over. Called under `lifecycle`.
    private func connectOnce() throws(DeviceError) -> Bool {
        let rc = mosquitto_connect_async(handle.pointer, settings.host, Int32(settings.port), Int32(settings.keepalive))
        if rc == MOSQ_ERR_INVAL.rawValue {
            throw MQTTClient.error("mosquitto_connect_async", rc, on: "broker \(settings.broker)")
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            let problem = MQTTClient.describe(rc)
            state.withLock { $0.lastProblem = problem }
            logger.warning("MQTT broker not reachable yet; retrying", metadata: ["broker": "\(settings.broker)", "error": "\(problem)"])
            return false
        }
        try mosquittoCall("mosquitto_loop_start", on: "broker \(settings.broker)") { mosquitto_loop_start(handle.pointer) }
        return true
    }

    /// Until the first connection attempt gets through, with libmosquitto's own backoff schedule.
    private func retryConnecting() async {
        var attempt = 0
        while true {
            let delay = min(settings.reconnectDelayMin * (attempt + 1) * (attempt + 1), settings.reconnectDelayMax)
            attempt = min(attempt + 1, 1_000)
            do { try await Task.sleep(for: .seconds(delay)) } catch { return }
            let done: Bool = lifecycle.withLock { life in
                guard life.phase == .connecting else { return true }
                do {
                    guard try connectOnce() else { return false }
                    life.phase = .running
                } catch {
                    logger.error("MQTT client cannot start; not retrying", metadata: ["error": "\(error)"])
                }
                return true
            }
            if done { return }
        }
    }

    private func didConnect(_ rc: Int32) {
        guard rc == 0 else {
            let reason = String(cString: mosquitto_connack_string(rc))
            state.withLock { $0.lastProblem = "the broker refused the connection: \(reason)" }
            logger.warning("MQTT broker refused the connection", metadata: ["broker": "\(settings.broker)", "reason": "\(reason)"])
            return
        }
        // Retained, so whoever subscribes later sees Hark is up; the will says the opposite.
        let online = Array("online".utf8)
        let rc = mosquitto_publish(handle.pointer, nil, settings.availabilityTopic, Int32(online.count), online, 1, true)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            logger.warning("availability not published", metadata: ["topic": "\(settings.availabilityTopic)", "error": "\(MQTTClient.describe(rc))"])
        }
        let (topics, waiters) = state.withLock { state in
            state.connected = true
            state.connection &+= 1
            state.lastProblem = nil
            let keys = state.waiters.keys.filter { if case .connection = $0 { true } else { false } }
            return (state.subscriptions, keys.compactMap { state.waiters.removeValue(forKey: $0) })
        }
        for topic in topics { subscribeNow(topic) }
        logger.info("MQTT connected", metadata: ["broker": "\(settings.broker)", "client": "\(settings.clientID)"])
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume()
        }
    }

    private func didDisconnect(_ rc: Int32) {
        state.withLock { state in
            state.connected = false
            if rc != 0 { state.lastProblem = "connection lost: \(MQTTClient.describe(rc))" }
        }
        if rc == 0 {
            logger.debug("MQTT disconnected", metadata: ["broker": "\(settings.broker)"])
        } else {
            logger.warning("MQTT connection lost; reconnecting", metadata: ["broker": "\(settings.broker)", "error": "\(MQTTClient.describe(rc))"])
        }
    }

    // MARK: Publishing and subscribing

    /// Publishes at QoS 1 and returns when the broker's PUBACK arrives. Waits first for the connection;
    /// throws `unavailable` when there is none within `timeout` (default: the settings'), `transport` when
    /// libmosquitto refuses the message or no PUBACK comes in time.
    public func publish(topic: String, payload: [UInt8], retain: Bool = false, timeout: Duration? = nil) async throws(DeviceError) {
        let deadline = ContinuousClock.now + (timeout ?? settings.timeout)
        try await waitForConnection(until: deadline, purpose: "publish to '\(topic)'")
        let limit = MQTTClient.seconds(timeout ?? settings.timeout)
        try await wait(until: deadline, what: "publish to '\(topic)'", timeoutError: { [settings] in
            DeviceError(.transport, "no PUBACK from the MQTT broker \(settings.broker) within \(limit) s for '\(topic)'; libmosquitto keeps the message and resends it when the connection returns, so the device may still act on it")
        }) { (state: inout State) throws(DeviceError) -> WaitKey? in
            guard !state.closed else { throw MQTTClient.closedError(settings) }
            var mid: Int32 = 0
            let rc = payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle.pointer, &mid, topic, Int32(bytes.count), bytes.baseAddress, 1, retain)
            }
            // NO_CONN: the connection dropped since the check above; libmosquitto queued the message
            // and sends it after reconnecting, so it is in flight like any other.
            guard rc == MOSQ_ERR_SUCCESS.rawValue || rc == MOSQ_ERR_NO_CONN.rawValue else {
                throw MQTTClient.error("mosquitto_publish", rc, on: "topic '\(CatalogReader.escaped(topic))'")
            }
            return .ack(mid)
        }
    }

    public func publish(topic: String, payload: String, retain: Bool = false, timeout: Duration? = nil) async throws(DeviceError) {
        try await publish(topic: topic, payload: Array(payload.utf8), retain: retain, timeout: timeout)
    }

    /// Subscribes at QoS 1, now and after every reconnection, and returns when the broker's SUBACK
    /// for each topic arrived (within `timeout`, default the settings').
    public func subscribe(_ topics: [String], timeout: Duration? = nil) async throws(DeviceError) {
        let deadline = ContinuousClock.now + (timeout ?? settings.timeout)
        for topic in topics {
            try await waitForConnection(until: deadline, purpose: "subscribe to '\(topic)'")
            let connection = Mutex<UInt64>(0)
            try await wait(until: deadline, what: "subscription to '\(topic)'", timeoutError: { [settings] in
                DeviceError(.transport, "no SUBACK from the MQTT broker \(settings.broker) for '\(topic)' in time")
            }) { (state: inout State) throws(DeviceError) -> WaitKey? in
                guard !state.closed else { throw MQTTClient.closedError(settings) }
                var mid: Int32 = 0
                try mosquittoCall("mosquitto_subscribe", on: "topic '\(CatalogReader.escaped(topic))'") {
                    mosquitto_subscribe(handle.pointer, &mid, topic, 1)
                }
                let current = state.connection
                connection.withLock { $0 = current }
                return .ack(mid)
            }
            // Remembered only now, so a connection made meanwhile did not subscribe it a second time
            // (a retained message would arrive twice); if that connection is not the one that
            // acknowledged, subscribe again on it.
            let (new, connected) = remember([topic])
            let stale = state.withLock { $0.connection } != connection.withLock { $0 }
            if !new.isEmpty && connected && stale { subscribeNow(topic) }
        }
    }

    /// Subscribes at QoS 1 whenever connected, from now on, without waiting for the broker.
    public func keepSubscribed(to topics: [String]) {
        let (new, connected) = remember(topics)
        if connected { for topic in new { subscribeNow(topic) } }
    }

    @discardableResult
    private func remember(_ topics: [String]) -> (new: [String], connected: Bool) {
        state.withLock { state in
            let new = topics.filter { !state.subscriptions.contains($0) }
            state.subscriptions += new
            return (new, state.connected && !state.closed)
        }
    }

    private func subscribeNow(_ topic: String) {
        let rc = mosquitto_subscribe(handle.pointer, nil, topic, 1)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            logger.warning("MQTT subscription not sent", metadata: ["topic": "\(CatalogReader.escaped(topic))", "error": "\(MQTTClient.describe(rc))"])
        }
    }

    /// Returns at once when connected, else when the next connection succeeds; `unavailable` at the deadline.
    public func waitForConnection(timeout: Duration? = nil) async throws(DeviceError) {
        try await waitForConnection(until: ContinuousClock.now + (timeout ?? settings.timeout), purpose: "connect")
    }

    private func waitForConnection(until deadline: ContinuousClock.Instant, purpose: String) async throws(DeviceError) {
        // Connected (the usual case): no suspension.
        let (connected, closed, serial) = state.withLock { state in
            state.nextSerial &+= 1
            return (state.connected, state.closed, state.nextSerial)
        }
        guard !closed else { throw MQTTClient.closedError(settings) }
        if connected { return }
        try await wait(until: deadline, what: "connection", serial: serial, timeoutError: { [self] in
            let problem = state.withLock { $0.lastProblem }.map { " (\($0))" } ?? ""
            return DeviceError(.unavailable, "not connected to the MQTT broker \(settings.broker) in time to \(purpose)\(problem); check that the broker runs and accepts this client (the client keeps retrying)")
        }) { (state: inout State) throws(DeviceError) -> WaitKey? in
            guard !state.closed else { throw MQTTClient.closedError(settings) }
            return state.connected ? nil : .connection(serial)
        }
    }

    // MARK: Waiting

    /// Registers a waiter under the state lock (`register` returns its key, or nil when there is nothing
    /// to wait for) and suspends until it is resumed, fails, times out at `deadline` or is cancelled.
    private func wait(until deadline: ContinuousClock.Instant, what: String, serial given: UInt64? = nil,
                      timeoutError: @escaping @Sendable () -> DeviceError,
                      register: (inout State) throws(DeviceError) -> WaitKey?) async throws(DeviceError) {
        let serial = given ?? state.withLock { $0.nextSerial &+= 1; return $0.nextSerial }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let registered: Result<WaitKey?, DeviceError> = state.withLock { state in
                        do throws(DeviceError) {
                            guard let key = try register(&state) else { return .success(nil) }
                            state.waiters[key] = Waiter(serial: serial, continuation: continuation, timer: nil, what: what)
                            return .success(key)
                        } catch {
                            return .failure(error)
                        }
                    }
                    switch registered {
                    case let .failure(error): continuation.resume(throwing: error)
                    case .success(nil): continuation.resume()
                    case let .success(key?):
                        let timer = Task { [self] in
                            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
                            finish(key, serial: serial, with: timeoutError())
                        }
                        let keep = state.withLock { state in
                            guard state.waiters[key]?.serial == serial else { return false }
                            state.waiters[key]?.timer = timer
                            return true
                        }
                        if !keep { timer.cancel() }
                    }
                }
            } onCancel: {
                cancelWaiter(serial: serial)
            }
        } catch let error as DeviceError {
            throw error
        } catch {
            throw DeviceError(.transport, "\(what) on the MQTT broker \(settings.broker) cancelled")
        }
    }

    /// Ends one wait: success when `error` is nil. Only the waiter with `serial` (any, if nil) is ended.
    private func finish(_ key: WaitKey, serial: UInt64?, with error: DeviceError?) {
        let waiter: Waiter? = state.withLock { state in
            guard let waiter = state.waiters[key], serial == nil || waiter.serial == serial else { return nil }
            state.waiters[key] = nil
            return waiter
        }
        guard let waiter else { return }
        waiter.timer?.cancel()
        if let error { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume() }
    }

    private func cancelWaiter(serial: UInt64) {
        let key = state.withLock { state in state.waiters.first { $0.value.serial == serial }?.key }
        if let key { finish(key, serial: serial, with: DeviceError(.transport, "MQTT wait cancelled")) }
    }

    /// A PUBACK or SUBACK (libmosquitto calls on_publish only for PUBACK/PUBCOMP of QoS 1/2).
    private func acknowledged(_ mid: Int32, refused: Bool) {
        let what = state.withLock { $0.waiters[.ack(mid)]?.what } ?? "message \(mid)"
        finish(.ack(mid), serial: nil, with: refused ? DeviceError(.transport, "the MQTT broker \(settings.broker) refused the \(what)") : nil)
    }

    private func received(_ message: mosquitto_message) {
        let topic = message.topic.map { String(cString: $0) } ?? ""
        let count = Int(max(message.payloadlen, 0))
        let payload = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
        onMessage(Message(topic: topic, payload: payload, qos: Int(message.qos), retain: message.retain, mid: message.mid))
    }

    // MARK: Stopping

    /// Says `offline` (retained: a clean DISCONNECT does not fire the will), disconnects, stops the
    /// network thread and frees the handle. Waits still pending fail with `unavailable`. Idempotent.
    public func shutdown() async {
        if isConnected {
            do { try await publish(topic: settings.availabilityTopic, payload: "offline", retain: true, timeout: .seconds(2)) }
            catch { logger.warning("offline availability not published", metadata: ["error": "\(error)"]) }
        }
        let waiters = state.withLock { state in
            state.closed = true
            state.connected = false
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: MQTTClient.closedError(settings))
        }
        lifecycle.withLock { life in
            let phase = life.phase
            guard phase != .closed else { return }
            life.phase = .closed
            life.retry?.cancel()
            if phase == .running {
                mosquitto_disconnect(handle.pointer)
                mosquitto_loop_stop(handle.pointer, false)
            }
            mosquitto_destroy(handle.pointer)
            Unmanaged.passUnretained(self).release()
        }
    }

    /// Test hook: the client dies as if its process were killed. Stops the network thread without a
    /// DISCONNECT and shuts the socket down, so the broker publishes the last will. Only `shutdown()`
    /// may follow. (Cancelling the thread is safe here because an idle client's thread waits in select.)
    func simulateCrash() {
        lifecycle.withLock { life in
            guard life.phase == .running else { return }
            mosquitto_loop_stop(handle.pointer, true)
            let socket = mosquitto_socket(handle.pointer)
            if socket >= 0 { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }
            life.phase = .crashed
        }
        state.withLock { $0.connected = false }
    }

    // MARK: Errors

    static func describe(_ rc: Int32) -> String { String(cString: mosquitto_strerror(rc)) }

    static func error(_ function: StaticString, _ rc: Int32, on what: String) -> DeviceError {
        DeviceError(.transport, "\(function) failed on \(what): \(describe(rc))", cause: "libmosquitto error \(rc)")
    }

    static func closedError(_ settings: MQTTSettings) -> DeviceError {
        DeviceError(.unavailable, "the MQTT client for \(settings.broker) is shut down")
    }

    static func seconds(_ duration: Duration) -> String {
        JSONValue.formatNumber(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

/// libmosquitto is initialised once per process: `mosquitto_lib_init` is not thread-safe, and a global
/// is initialised exactly once, on first use, under the runtime's lock.
private let mosquittoLibrary: Int32 = mosquitto_lib_init()

/// The `struct mosquitto *` of one client.
///
/// `@unchecked Sendable`: once its network thread runs, libmosquitto guards the handle with its own
/// mutexes, so publish, subscribe and disconnect may come from any thread. The handle is destroyed once,
/// in `MQTTClient.shutdown()`, after the network thread is joined and after `closed` is set under the
/// lock that every publish and subscribe holds while calling libmosquitto; no call follows.
struct MosquittoHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Runs one libmosquitto call: anything but MOSQ_ERR_SUCCESS becomes a `DeviceError` naming the
/// function, the object and `mosquitto_strerror`'s text.
@inline(__always)
func mosquittoCall(_ function: StaticString, on what: String, _ body: () -> Int32) throws(DeviceError) {
    let rc = body()
    guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTClient.error(function, rc, on: what) }
}
