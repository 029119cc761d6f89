import CLinuxIO
#if canImport(Glibc)
import Glibc
#endif
import HarkDevices
import Logging

/// The control socket's loop: one thread, `epoll` (level-triggered) over the listening socket, the
/// wake-up eventfd and every connection, all non-blocking. See ``ControlServer`` for the limits.
final class EventLoop: @unchecked Sendable {
    static let listenerKey: UInt64 = 0
    static let wakeKey: UInt64 = 1
    static let readSize = 65_536

    let configuration: ControlServer.Configuration
    let shared: Shared
    let handler: any ControlHandler
    let logger: Logger
    let epfd: Int32
    var listener: Listener?
    var connections: [UInt64: Connection] = [:]
    var nextID: UInt64 = 2
    var subscribers = 0
    var throttled = Set<UInt64>()
    var draining = false
    var acceptPausedUntil: Double?
    var lastAcceptWarning = -Double.infinity
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: EventLoop.readSize, alignment: 16)

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

    static func control(_ epfd: Int32, _ operation: Int32, _ fd: Int32, key: UInt64, events: UInt32) throws(ControlError) {
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
    func nextTimeout(now: Double) -> Int32 {
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

    func drainWake() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(shared.wakeFD, $0.baseAddress, 8) }
    }

    /// Answers from handler tasks, events to subscribers, and shutdown; true when the loop must end.
    func processInbox(now: Double) -> Bool {
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
    func resume(now: Double) {
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

    func acceptConnections(now: Double) {
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
    func credentials(_ fd: Int32) -> PeerCredentials? {
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
    func evictIdle(now: Double) -> Bool {
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
    func reapHungUp() -> Int {
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

    func service(_ connection: Connection, flags: UInt32, now: Double) {
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

    func receive(_ connection: Connection, now: Double) {
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
    func processLines(_ connection: Connection, now: Double) {
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

    func takeToken(_ connection: Connection, now: Double) -> Bool {
        connection.refill(now: now, rate: configuration.requestsPerSecond, burst: configuration.burst)
        guard connection.tokens >= 1 else {
            throttled.insert(connection.id)
            return false
        }
        connection.tokens -= 1
        return true
    }

    // MARK: - Output and interest

    /// Sends what it can, closes a finished connection, and registers the events it now waits for.
    func settle(_ connection: Connection, now: Double) {
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

    func flush(_ connection: Connection) {
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

    func closeConnection(_ connection: Connection, reason: String?) {
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

    func closeListener() {
        guard let listener else { return }
        var unused = epoll_event()
        epoll_ctl(epfd, EPOLL_CTL_DEL, listener.fd, &unused)
        listener.close()
        self.listener = nil
    }
}
