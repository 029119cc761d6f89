import CLinuxIO
#if canImport(Glibc)
import Glibc
#endif
import HarkDevices
import Logging

/// The control socket's loop: one thread, `epoll` (level-triggered) over the listening socket, the
/// wake-up eventfd and every connection, all non-blocking. See ``ControlServer`` for the limits.
final class EventLoop: @unchecked Sendable {
    private static let listenerKey: UInt64 = 0
    private static let wakeKey: UInt64 = 1
    private static let readSize = 65_536

    let configuration: ControlServer.Configuration
    let shared: Shared
    let handler: any ControlHandler
    let logger: Logger
    private let epfd: Int32
    private var listener: Listener?
    private var connections: [UInt64: Connection] = [:]
    private var nextID: UInt64 = 2
    private var subscribers = 0
    private var throttled = Set<UInt64>()
    private var draining = false
    private var acceptPausedUntil: Double?
    private var lastAcceptWarning = -Double.infinity
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: EventLoop.readSize, alignment: 16)

    init(configuration: ControlServer.Configuration, listener: Listener, shared: Shared, handler: any ControlHandler,
         logger: Logger) throws(ControlError) {
        // Everything that can fail happens before the stored properties are set: a failed init runs no deinit.
        let epfd = try systemCall("epoll_create1", "control socket \(configuration.path)") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        do {
            try Self.control(epfd, EPOLL_CTL_ADD, listener.fd, key: Self.listenerKey, events: EPOLLIN.rawValue)
            try Self.control(epfd, EPOLL_CTL_ADD, shared.wakeFD, key: Self.wakeKey, events: EPOLLIN.rawValue)
        } catch {
            close(epfd)
            throw error
        }
        self.configuration = configuration
        self.listener = listener
        self.shared = shared
        self.handler = handler
        self.logger = logger
        self.epfd = epfd
    }

    deinit {
        for connection in connections.values { close(connection.fd) }
        listener?.close()
        close(epfd)
        readBuffer.deallocate()
    }

    private static func control(_ epfd: Int32, _ operation: Int32, _ fd: Int32, key: UInt64, events: UInt32) throws(ControlError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = key
        try systemCall("epoll_ctl", "descriptor \(fd)") { epoll_ctl(epfd, operation, fd, &event) }
    }

    // MARK: - The loop

    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let timeout = nextTimeout(now: monotonicSeconds())
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epfd, $0.baseAddress, Int32($0.count), timeout) }
            if count < 0 {
                if errno == EINTR { continue }
                logger.critical("control socket loop failed; the socket is closed", metadata: ["error": "epoll_wait: \(errnoText(errno))"])
                break
            }
            let now = monotonicSeconds()
            for index in 0..<Int(count) {
                let key = events[index].data.u64
                let flags = events[index].events
                switch key {
                case Self.listenerKey: acceptConnections(now: now)
                case Self.wakeKey: drainWake()
                default: if let connection = connections[key] { service(connection, flags: flags, now: now) }
                }
            }
            if processInbox(now: now) { break }
            resume(now: now)
        }
        for connection in Array(connections.values) {
            flush(connection)
            closeConnection(connection, reason: nil)
        }
        closeListener()
        shared.inbox.withLock { $0.closed = true }
        shared.markFinished()
    }

    /// Milliseconds until a throttled connection has a token again or accepting resumes; -1: none.
    private func nextTimeout(now: Double) -> Int32 {
        var soonest = Double.infinity
        for id in throttled {
            guard let connection = connections[id] else { continue }
            connection.refill(now: now, rate: configuration.requestsPerSecond, burst: configuration.burst)
            soonest = min(soonest, connection.secondsUntilToken(rate: configuration.requestsPerSecond))
        }
        if let paused = acceptPausedUntil { soonest = min(soonest, max(0, paused - now)) }
        guard soonest.isFinite else { return -1 }
        return Int32(min(60_000, max(1, (soonest * 1000).rounded(.up))))
    }

    private func drainWake() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(shared.wakeFD, $0.baseAddress, 8) }
    }

    /// Answers from handler tasks, events to subscribers, and shutdown; true when the loop must end.
    private func processInbox(now: Double) -> Bool {
        let taken = shared.inbox.withLock { inbox in
            defer {
                inbox.completions = []
                inbox.events = []
                inbox.droppedEvents = 0
            }
            return inbox
        }
        for (id, line) in taken.completions {
            guard let connection = connections[id] else { continue }
            connection.busy = false
            connection.lastActivity = now
            if let line { connection.append(line) }
            processLines(connection, now: now)
            settle(connection, now: now)
        }
        if taken.droppedEvents > 0 {
            shared.statistics.withLock { $0.droppedEvents += taken.droppedEvents }
            logger.warning("control socket fell behind; events were not delivered", metadata: ["dropped": "\(taken.droppedEvents)"])
        }
        if subscribers > 0 {
            for (type, json) in taken.events { deliver(type: type, line: Array((Wire.event(json) + "\n").utf8), now: now) }
        }
        if taken.stopAccepting && !draining {
            draining = true
            closeListener()
        }
        return taken.stop
    }

    /// Throttled connections whose tokens came back: their waiting lines, then reading again.
    private func resume(now: Double) {
        if let paused = acceptPausedUntil, now >= paused, let listener {
            acceptPausedUntil = nil
            try? Self.control(epfd, EPOLL_CTL_MOD, listener.fd, key: Self.listenerKey, events: EPOLLIN.rawValue)
        }
        for id in throttled {
            guard let connection = connections[id] else {
                throttled.remove(id)
                continue
            }
            connection.refill(now: now, rate: configuration.requestsPerSecond, burst: configuration.burst)
            guard connection.tokens >= 1 else { continue }
            processLines(connection, now: now)
            settle(connection, now: now)
        }
    }

    // MARK: - Connections

    private func acceptConnections(now: Double) {
        guard let listener, !draining else { return }
        for _ in 0..<64 {
            let (fd, error) = tryCall { hark_accept4(listener.fd, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)) }
            if fd < 0 {
                switch error {
                case EAGAIN, EWOULDBLOCK: return
                case ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: make room if an idle connection can go, else stop accepting briefly.
                    if evictIdle(now: now) { continue }
                    if now - lastAcceptWarning > 10 {
                        lastAcceptWarning = now
                        logger.warning("control socket cannot accept: \(errnoText(error)); pausing 100 ms", metadata: ["connections": "\(connections.count)"])
                    }
                    acceptPausedUntil = now + 0.1
                    try? Self.control(epfd, EPOLL_CTL_MOD, listener.fd, key: Self.listenerKey, events: 0)
                    return
                default:
                    logger.error("control socket accept failed", metadata: ["error": "\(errnoText(error))"])
                    return
                }
            }
            guard connections.count < configuration.maxConnections || evictIdle(now: now) else {
                // Nobody can make room: say why, then close.
                let line = Wire.error(id: .null, ControlError(.tooManyConnections, "harkd has \(connections.count) control connections, all busy: try again later")) + "\n"
                _ = line.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, line.utf8.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
                close(fd)
                shared.statistics.withLock { $0.errors += 1 }
                continue
            }
            guard let peer = credentials(fd) else {
                close(fd)
                continue
            }
            let id = nextID
            nextID += 1
            let connection = Connection(id: id, fd: fd, peer: peer, tokens: configuration.burst, now: now)
            let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            do { try Self.control(epfd, EPOLL_CTL_ADD, fd, key: id, events: events) }
            catch {
                logger.error("control connection not registered", metadata: ["error": "\(error)"])
                close(fd)
                continue
            }
            connection.interest = events
            connections[id] = connection
            shared.statistics.withLock {
                $0.accepted += 1
                $0.connections = connections.count
            }
            let roles = shared.policy.withLock { $0.roles(for: peer) }
            if roles.isEmpty {
                logger.warning("control connection from a peer with no role: its requests are refused",
                               metadata: ["uid": "\(peer.uid)", "gid": "\(peer.gid)", "pid": "\(peer.pid)"])
            } else {
                logger.debug("control connection", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)", "roles": "\(roles.sorted())"])
            }
        }
    }

    /// SO_PEERCRED and SO_PEERGROUPS: who connected, as the kernel saw it at connect().
    private func credentials(_ fd: Int32) -> PeerCredentials? {
        var credentials = hark_ucred()
        var length = socklen_t(MemoryLayout<hark_ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            logger.error("control connection without peer credentials: closed", metadata: ["error": "SO_PEERCRED: \(errnoText(errno))"])
            return nil
        }
        var groups = [gid_t](repeating: 0, count: 64)
        for _ in 0..<2 {
            var size = socklen_t(groups.count * MemoryLayout<gid_t>.size)
            let status = groups.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, $0.baseAddress, &size) }
            if status == 0 {
                groups.removeLast(groups.count - Int(size) / MemoryLayout<gid_t>.size)
                break
            }
            if errno == ERANGE {
                // The kernel says how much room the list needs.
                groups = [gid_t](repeating: 0, count: Int(size) / MemoryLayout<gid_t>.size + 1)
                continue
            }
            groups = []   // a kernel before 4.13: the primary group only
            break
        }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, groups: groups)
    }

    /// Makes room for one connection: first by closing connections whose peer has already gone (a
    /// reconnecting flood leaves many before their hang-up is read), else by closing one that is
    /// neither subscribed nor waiting for an answer: one that has not sent a single valid request
    /// (silent since connect, or only garbage), else the one idle longest; oldest first among
    /// equals. A flood of new or silent connections so pushes out its own kind, not clients in use.
    private func evictIdle(now: Double) -> Bool {
        if reapHungUp() > 0 { return true }
        let victim = connections.values.filter { !$0.busy && $0.subscription == nil }
            .min { ($0.validRequests > 0 ? 1 : 0, $0.lastActivity, $0.id) < ($1.validRequests > 0 ? 1 : 0, $1.lastActivity, $1.id) }
        guard let victim else { return false }
        logger.debug("control connection closed to make room", metadata: ["uid": "\(victim.peer.uid)", "idle_s": "\(Int(now - victim.lastActivity))"])
        closeConnection(victim, reason: nil)
        shared.statistics.withLock { $0.evicted += 1 }
        return true
    }

    /// Closes the connections whose peer closed both directions (POLLHUP; a peer that only shut
    /// down its sending side still gets its answers). One poll over all of them.
    private func reapHungUp() -> Int {
        var polled = connections.values.map { pollfd(fd: $0.fd, events: 0, revents: 0) }
        guard !polled.isEmpty, poll(&polled, nfds_t(polled.count), 0) > 0 else { return 0 }
        var reaped = 0
        for entry in polled where entry.revents & Int16(POLLHUP | POLLERR) != 0 {
            guard let connection = connections.values.first(where: { $0.fd == entry.fd }) else { continue }
            closeConnection(connection, reason: nil)
            reaped += 1
        }
        return reaped
    }

    private func service(_ connection: Connection, flags: UInt32, now: Double) {
        if flags & EPOLLIN.rawValue != 0 {
            receive(connection, now: now)
            guard connections[connection.id] != nil else { return }
        }
        // The peer closed both directions (or the socket failed): nobody is left to answer.
        if flags & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            closeConnection(connection, reason: nil)
            return
        }
        settle(connection, now: now)
    }

    private func receive(_ connection: Connection, now: Double) {
        let (count, error) = tryCall { recv(connection.fd, readBuffer.baseAddress, readBuffer.count, Int32(MSG_DONTWAIT)) }
        if count < 0 {
            if error == EAGAIN || error == EWOULDBLOCK { return }
            closeConnection(connection, reason: nil)
            return
        }
        if count == 0 {
            connection.readClosed = true
            processLines(connection, now: now)
            return
        }
        connection.lastActivity = now
        var chunk = UnsafeRawBufferPointer(rebasing: readBuffer[0..<count])
        if connection.discarding {
            // The rest of a line that was too long: dropped up to its newline.
            guard let newline = chunk.firstIndex(of: UInt8(ascii: "\n")) else { return }
            connection.discarding = false
            chunk = UnsafeRawBufferPointer(rebasing: chunk[(newline + 1)...])
        }
        connection.input.append(contentsOf: chunk)
        processLines(connection, now: now)
    }

    /// Takes complete lines while the connection is not waiting for an answer and has tokens.
    private func processLines(_ connection: Connection, now: Double) {
        defer { connection.compactInput() }
        let limit = configuration.maxMessageBytes
        while !connection.busy, connections[connection.id] != nil {
            let newline = connection.input.withUnsafeBytes { bytes -> Int? in
                let from = max(connection.scanFrom, connection.inputStart)
                guard from < bytes.count else { return nil }
                return UnsafeRawBufferPointer(rebasing: bytes[from...]).firstIndex(of: UInt8(ascii: "\n")).map { $0 + from }
            }
            let end: Int
            if let newline {
                end = newline
            } else {
                connection.scanFrom = connection.input.count
                if connection.bufferedInput > limit {
                    guard takeToken(connection, now: now) else { return }
                    // Too long and still going: answered now, the rest skipped as it arrives.
                    connection.inputStart = connection.input.count
                    connection.discarding = true
                    answerError(connection, id: .null, ControlError(.messageTooLarge, "message too large: over \(limit) bytes without a newline; send one request per line"))
                    continue
                }
                // At the end of input, an unterminated last line is still a message.
                guard connection.readClosed, connection.bufferedInput > 0 else { return }
                end = connection.input.count
            }
            guard takeToken(connection, now: now) else { return }
            let start = connection.inputStart
            connection.inputStart = min(end + 1, connection.input.count)
            connection.scanFrom = connection.inputStart
            if end - start > limit {
                answerError(connection, id: .null, ControlError(.messageTooLarge, "message too large: \(end - start) bytes; at most \(limit) per line"))
                continue
            }
            let line = Array(connection.input[start..<end])
            handle(line, on: connection)
        }
    }

    private func takeToken(_ connection: Connection, now: Double) -> Bool {
        connection.refill(now: now, rate: configuration.requestsPerSecond, burst: configuration.burst)
        guard connection.tokens >= 1 else {
            throttled.insert(connection.id)
            return false
        }
        connection.tokens -= 1
        return true
    }

    // MARK: - Requests

    private func handle(_ bytes: [UInt8], on connection: Connection) {
        shared.statistics.withLock { $0.requests += 1 }
        var line = bytes[...]
        while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { line = line.dropLast() }
        while let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { line = line.dropFirst() }
        guard !line.isEmpty else { return }
        guard let text = String(validating: line, as: UTF8.self) else {
            answerError(connection, id: .null, ControlError(.parseError, "parse error: the message is not valid UTF-8"))
            return
        }
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch {
            answerError(connection, id: .null, ControlError(.parseError, "parse error: the message is not valid JSON"))
            return
        }
        if case let .array(items) = value {
            handleBatch(items, on: connection)
            return
        }
        switch Wire.parse(value) {
        case let .invalid(id, error, notification):
            if notification { shared.statistics.withLock { $0.errors += 1 } } else { answerError(connection, id: id, error) }
        case let .request(id, method, params):
            if let refusal = refusal(method, on: connection) {
                if let id { answerError(connection, id: id, refusal) } else { shared.statistics.withLock { $0.errors += 1 } }
                return
            }
            connection.validRequests += 1
            if method == .eventsSubscribe {
                subscribe(connection, id: id, params: params)
                return
            }
            let request = ControlRequest(method: method, params: params, peer: connection.peer)
            run(on: connection) { handler in
                do throws(ControlError) {
                    let result = try await handler.handle(request)
                    return (id.map { Wire.result(id: $0, result) }, 0)
                } catch {
                    return (id.map { Wire.error(id: $0, error) }, 1)
                }
            }
        }
    }

    /// A batch (JSON-RPC 2.0 §6): each request in order, one array of answers (none if all were notifications).
    private func handleBatch(_ items: [JSONValue], on connection: Connection) {
        guard !items.isEmpty, items.count <= configuration.maxBatch else {
            answerError(connection, id: .null, ControlError(.invalidRequest, "a batch must hold 1–\(configuration.maxBatch) requests, not \(items.count)"))
            return
        }
        // A batch costs one token per request.
        connection.tokens -= Double(items.count - 1)
        var steps: [(id: JSONValue?, outcome: Result<ControlRequest, ControlError>)] = []
        for item in items {
            switch Wire.parse(item) {
            case let .invalid(id, error, notification):
                steps.append((notification ? nil : id, .failure(error)))
            case let .request(id, method, params):
                if let refusal = refusal(method, on: connection) {
                    steps.append((id, .failure(refusal)))
                } else if method == .eventsSubscribe {
                    steps.append((id, .failure(ControlError(.invalidRequest, "events.subscribe cannot be part of a batch: send it on its own line"))))
                } else {
                    connection.validRequests += 1
                    steps.append((id, .success(ControlRequest(method: method, params: params, peer: connection.peer))))
                }
            }
        }
        run(on: connection) { [steps] handler in
            var answers: [String] = []
            var errors = 0
            for step in steps {
                switch step.outcome {
                case let .failure(error):
                    errors += 1
                    if let id = step.id { answers.append(Wire.error(id: id, error)) }
                case let .success(request):
                    do throws(ControlError) {
                        let result = try await handler.handle(request)
                        if let id = step.id { answers.append(Wire.result(id: id, result)) }
                    } catch {
                        errors += 1
                        if let id = step.id { answers.append(Wire.error(id: id, error)) }
                    }
                }
            }
            return (answers.isEmpty ? nil : "[" + answers.joined(separator: ",") + "]", errors)
        }
    }

    /// Why the connection may not call `method` now (shutting down, or missing the role); nil if it may.
    private func refusal(_ method: ControlMethod, on connection: Connection) -> ControlError? {
        if draining { return ControlError(.shuttingDown, "harkd is shutting down: \(method.rawValue) not run") }
        let roles = shared.policy.withLock { $0.roles(for: connection.peer) }
        guard !roles.contains(method.role) else { return nil }
        let peer = connection.peer
        if !connection.refusalLogged {
            connection.refusalLogged = true
            logger.warning("control request refused", metadata: ["uid": "\(peer.uid)", "gid": "\(peer.gid)", "pid": "\(peer.pid)",
                                                                 "method": "\(method.rawValue)", "roles": "\(roles.map(\.rawValue).sorted())"])
        }
        let held = roles.isEmpty ? "no role" : "only the \(roles.map(\.rawValue).sorted().joined(separator: " and ")) role"
        return ControlError(.permissionDenied, "permission denied: \(method.rawValue) needs the \(method.role.rawValue) role; uid \(peer.uid) has \(held)")
    }

    /// Runs `work` as a task; its answer comes back through the inbox. The connection reads no
    /// further request until then.
    private func run(on connection: Connection, _ work: @escaping @Sendable (any ControlHandler) async -> (line: String?, errors: Int)) {
        connection.busy = true
        let id = connection.id
        let shared = self.shared
        let handler = self.handler
        shared.inFlight.add(1, ordering: .acquiringAndReleasing)
        Task {
            let (line, errors) = await work(handler)
            if errors > 0 { shared.statistics.withLock { $0.errors += errors } }
            shared.post { $0.completions.append((id, line)) }
            shared.inFlight.subtract(1, ordering: .acquiringAndReleasing)
        }
    }

    private func subscribe(_ connection: Connection, id: JSONValue?, params: [String: JSONValue]) {
        var types: Set<String> = []
        if let extra = params.keys.first(where: { $0 != "types" }) {
            if let id { answerError(connection, id: id, ControlError(.invalidParams, "events.subscribe: unknown parameter '\(Wire.shown(extra))' (it takes types)")) }
            return
        }
        switch params["types"] {
        case nil, .null?: break
        case let .array(items)?:
            for item in items {
                guard case let .string(type) = item, Wire.eventTypes.contains(type) else {
                    if let id {
                        answerError(connection, id: id, ControlError(.invalidParams, "events.subscribe: unknown event type \(Wire.shown(item.jsonText)) (types: \(Wire.eventTypes.joined(separator: ", ")))"))
                    }
                    return
                }
                types.insert(type)
            }
        default:
            if let id { answerError(connection, id: id, ControlError(.invalidParams, "events.subscribe: 'types' must be a list of event types")) }
            return
        }
        if connection.subscription == nil {
            subscribers += 1
            shared.statistics.withLock { $0.subscribers = subscribers }
        }
        connection.subscription = types
        if let id {
            let listed: JSONValue = types.isEmpty ? .string("all") : .array(types.sorted().map(JSONValue.string))
            connection.append(Wire.result(id: id, .object(["subscribed": .bool(true), "types": listed])))
        }
    }

    private func answerError(_ connection: Connection, id: JSONValue, _ error: ControlError) {
        shared.statistics.withLock { $0.errors += 1 }
        connection.append(Wire.error(id: id, error))
    }

    // MARK: - Events

    private func deliver(type: String, line: [UInt8], now: Double) {
        for connection in Array(connections.values) {
            guard let subscription = connection.subscription, subscription.isEmpty || subscription.contains(type) else { continue }
            if connection.pendingOutput + line.count > configuration.subscriberBacklogBytes {
                logger.warning("event subscriber not reading: dropped", metadata: ["uid": "\(connection.peer.uid)", "pid": "\(connection.peer.pid)",
                                                                                   "unread_bytes": "\(connection.pendingOutput)"])
                closeConnection(connection, reason: nil)
                shared.statistics.withLock { $0.droppedSubscribers += 1 }
                continue
            }
            connection.output.append(contentsOf: line)
            settle(connection, now: now)
        }
    }

    // MARK: - Output and interest

    /// Sends what it can, closes a finished connection, and registers the events it now waits for.
    private func settle(_ connection: Connection, now: Double) {
        guard connections[connection.id] != nil else { return }
        if connection.pendingOutput > 0 {
            flush(connection)
            guard connections[connection.id] != nil else { return }
        }
        if connection.readClosed && !connection.busy && connection.bufferedInput == 0 && connection.pendingOutput == 0 {
            closeConnection(connection, reason: nil)
            return
        }
        connection.refill(now: now, rate: configuration.requestsPerSecond, burst: configuration.burst)
        let limited = connection.tokens < 1
        if limited { throttled.insert(connection.id) } else { throttled.remove(connection.id) }
        let backlogged = connection.subscription == nil && connection.pendingOutput >= configuration.responseBacklogBytes
        let wantRead = !connection.readClosed && !connection.busy && !limited && !backlogged
        var interest: UInt32 = wantRead ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0
        if connection.pendingOutput > 0 { interest |= EPOLLOUT.rawValue }
        if interest != connection.interest {
            do {
                try Self.control(epfd, EPOLL_CTL_MOD, connection.fd, key: connection.id, events: interest)
                connection.interest = interest
            } catch {
                closeConnection(connection, reason: "\(error)")
            }
        }
    }

    private func flush(_ connection: Connection) {
        while connection.pendingOutput > 0 {
            let (sent, error) = connection.output.withUnsafeBytes { bytes in
                tryCall { send(connection.fd, bytes.baseAddress! + connection.outputStart, connection.pendingOutput, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            }
            if sent < 0 {
                if error == EAGAIN || error == EWOULDBLOCK { break }
                closeConnection(connection, reason: nil)
                return
            }
            connection.outputStart += sent
        }
        connection.compactOutput()
    }

    private func closeConnection(_ connection: Connection, reason: String?) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        if let reason { logger.warning("control connection closed", metadata: ["uid": "\(connection.peer.uid)", "reason": "\(reason)"]) }
        var unused = epoll_event()
        epoll_ctl(epfd, EPOLL_CTL_DEL, connection.fd, &unused)
        close(connection.fd)
        throttled.remove(connection.id)
        if connection.subscription != nil { subscribers -= 1 }
        shared.statistics.withLock {
            $0.connections = connections.count
            $0.subscribers = subscribers
        }
    }

    private func closeListener() {
        guard let listener else { return }
        var unused = epoll_event()
        epoll_ctl(epfd, EPOLL_CTL_DEL, listener.fd, &unused)
        listener.close()
        self.listener = nil
    }
}
