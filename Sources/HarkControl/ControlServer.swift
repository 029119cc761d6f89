import CLinuxIO
#if canImport(Glibc)
import Glibc
#endif
import HarkDevices
import Logging
import Synchronization

/// What the daemon answers the socket's methods with (all but `events.subscribe`, which the server
/// keeps itself). Called on Swift's concurrency pool, one request per connection at a time.
public protocol ControlHandler: Sendable {
    func handle(_ request: ControlRequest) async throws(ControlError) -> JSONValue
}

/// The control socket: a Unix stream socket speaking JSON-RPC 2.0, one message per line (``Wire``).
///
/// One thread runs an `epoll` loop over every connection with non-blocking sockets; requests go to
/// the ``ControlHandler`` as tasks, and their answers come back to the loop through a mutex-guarded
/// inbox and an `eventfd`. The loop thread never waits for the handler, and nothing waits for the
/// loop: ``publish(type:json:)`` (called by the audio thread) only appends under a lock.
///
/// Limits, each a defence against a misbehaving or hostile local client:
/// - a message is at most ``Configuration/maxMessageBytes``; a longer line is answered with
///   `message_too_large` and skipped up to its newline, without being buffered;
/// - each connection runs one request at a time, in order, and is read only while it has tokens
///   (``Configuration/requestsPerSecond``, ``Configuration/burst``) and its unread answers are few:
///   a flood fills the flooder's own socket buffer, not harkd's memory or time;
/// - at ``Configuration/maxConnections`` a new connection makes room by closing the one idle for
///   longest (never an event subscriber or one with a request running);
/// - an event subscriber whose unread events exceed ``Configuration/subscriberBacklogBytes`` is
///   dropped.
public final class ControlServer: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The socket's path (`/run/hark/control.sock` for the service).
        public var path: String
        /// The group the socket is given (a name or a number); nil keeps harkd's own group.
        public var group: String?
        public var maxConnections = 64
        public var maxMessageBytes = 65_536
        public var requestsPerSecond = 50.0
        public var burst = 100.0
        /// Unread event bytes after which a subscriber is dropped.
        public var subscriberBacklogBytes = 1 << 20
        /// Unread answer bytes after which a connection is not read until its peer catches up.
        public var responseBacklogBytes = 256 << 10
        public var maxBatch = 32
        /// How long shutdown waits for requests already running (actions being dispatched).
        public var drainSeconds = 10.0

        public init(path: String) { self.path = path }
    }

    public struct Statistics: Sendable, Equatable {
        public var connections = 0
        public var subscribers = 0
        public var accepted = 0
        public var requests = 0
        /// Error answers: malformed JSON, oversized lines, unknown methods, bad params, refusals.
        public var errors = 0
        /// Idle connections closed to make room for new ones.
        public var evicted = 0
        /// Subscribers dropped for not reading their events.
        public var droppedSubscribers = 0
        /// Events lost because the loop fell behind (its inbox is bounded).
        public var droppedEvents = 0
    }

    public let configuration: Configuration
    private let shared: Shared
    private let loop: EventLoop

    /// Binds and listens at `configuration.path` (the socket 0660, in a directory created 0750 if
    /// missing). A stale socket of a stopped harkd is replaced; a live one, or a file that is not a
    /// socket, is an error. Nothing is served until ``start()``.
    public init(configuration: Configuration, policy: AccessPolicy, handler: any ControlHandler, logger: Logger) throws(ControlError) {
        let listener = try Listener.open(configuration)
        let shared: Shared
        do { shared = try Shared(policy: policy) }
        catch { listener.close(); throw error }
        let loop: EventLoop
        do { loop = try EventLoop(configuration: configuration, listener: listener, shared: shared, handler: handler, logger: logger) }
        catch { listener.close(); throw error }
        self.configuration = configuration
        self.shared = shared
        self.loop = loop
    }

    /// Starts the loop thread.
    public func start() throws(ControlError) {
        let loop = self.loop
        guard startThread({ loop.run() }) else { throw ControlError(.system, "cannot start the control socket's thread (pthread_create failed)") }
    }

    /// Sends an event to the subscribers whose filter takes `type`; `json` is the event's object.
    /// Never blocks: it appends to the loop's inbox (bounded) under a lock.
    public func publish(type: String, json: String) {
        shared.post { inbox in
            if inbox.events.count >= Shared.maxQueuedEvents {
                inbox.events.removeFirst()
                inbox.droppedEvents += 1
            }
            inbox.events.append((type, json))
        }
    }

    /// New roles apply from the next request on (a reload).
    public func updatePolicy(_ policy: AccessPolicy) { shared.policy.withLock { $0 = policy } }

    public var statistics: Statistics { shared.statistics.withLock { $0 } }

    /// Graceful shutdown: stops accepting (the socket file is removed), answers new requests with
    /// `shutting_down`, waits up to ``Configuration/drainSeconds`` for the requests already running,
    /// then closes every connection and ends the loop thread.
    public func shutdown() async {
        shared.post { $0.stopAccepting = true }
        let deadline = monotonicSeconds() + configuration.drainSeconds
        while shared.inFlight.load(ordering: .acquiring) > 0 && monotonicSeconds() < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        shared.post { $0.stop = true }
        await shared.waitUntilFinished()
    }
}

/// What the loop thread and everyone else share.
final class Shared: Sendable {
    static let maxQueuedEvents = 4096

    struct Inbox {
        /// Answers from handler tasks: the connection and the line (nil: a notification, no answer).
        var completions: [(connection: UInt64, line: String?)] = []
        var events: [(type: String, json: String)] = []
        var droppedEvents = 0
        var stopAccepting = false
        var stop = false
        /// The loop has ended: nothing is posted any more.
        var closed = false
    }

    let wakeFD: Int32
    let inbox = Mutex(Inbox())
    let policy: Mutex<AccessPolicy>
    let statistics = Mutex(ControlServer.Statistics())
    /// Handler tasks running.
    let inFlight = Atomic<Int>(0)
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(policy: AccessPolicy) throws(ControlError) {
        wakeFD = try systemCall("eventfd", "the control socket's wake-up") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
        self.policy = Mutex(policy)
    }

    deinit { Glibc.close(wakeFD) }

    /// Changes the inbox and wakes the loop (the eventfd is written under the lock, so it is never
    /// written after the loop has ended).
    func post(_ change: (inout Inbox) -> Void) {
        inbox.withLock { inbox in
            guard !inbox.closed else { return }
            change(&inbox)
            var one: UInt64 = 1
            // EAGAIN (the counter is saturated) still leaves the loop woken.
            _ = withUnsafeBytes(of: &one) { write(wakeFD, $0.baseAddress, 8) }
        }
    }

    func markFinished() {
        let waiters = finished.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }
}

/// The listening socket, and the identity of its file so that only our own is ever removed.
struct Listener: Sendable {
    let fd: Int32
    let path: String
    let device: UInt64
    let inode: UInt64

    static func open(_ configuration: ControlServer.Configuration) throws(ControlError) -> Listener {
        let path = configuration.path
        guard path.hasPrefix("/"), let (address, length) = unixAddress(path) else {
            throw ControlError(.system, "control socket path '\(Wire.shown(path))' must be absolute and at most 107 bytes")
        }
        try prepareDirectory(of: path)
        try removeStale(path)
        let fd = try systemCall("socket", "control socket \(path)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        do {
            var bound = address
            try systemCall("bind", "control socket \(path)") {
                withUnsafePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            }
            try systemCall("chmod", "control socket \(path)") { chmod(path, 0o660) }
            if let group = configuration.group {
                let gid = try groupID(group)
                try systemCall("chown", "control socket \(path) (group \(group))") { chown(path, uid_t.max, gid) }
            }
            try systemCall("listen", "control socket \(path)") { listen(fd, 128) }
            var info = stat()
            try systemCall("stat", "control socket \(path)") { stat(path, &info) }
            return Listener(fd: fd, path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        } catch {
            Glibc.close(fd)
            unlink(path)
            throw error
        }
    }

    /// Creates the socket's directory 0750 when it does not exist (one level; systemd's
    /// RuntimeDirectory= makes it for the service).
    static func prepareDirectory(of path: String) throws(ControlError) {
        let directory = String(path[..<path.lastIndex(of: "/")!])
        guard !directory.isEmpty else { return }
        var info = stat()
        if stat(directory, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw ControlError(.system, "the control socket's directory '\(directory)' is not a directory")
            }
            return
        }
        try systemCall("mkdir", "the control socket's directory \(directory) (create its parent, or set control.socket)") { mkdir(directory, 0o750) }
    }

    /// A socket file left by a harkd that is gone is removed; one that answers belongs to a running
    /// harkd; anything else at the path is not ours to remove.
    static func removeStale(_ path: String) throws(ControlError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ControlError(.system, "'\(path)' exists and is not a socket: move it away or set control.socket to another path")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { Glibc.close(probe) }
        guard let (target, length) = unixAddress(path) else { return }
        var address = target
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) } }
        if connected == 0 {
            throw ControlError(.system, "another harkd is listening on \(path): stop it first, or give this one another control.socket")
        }
        unlink(path)
    }

    static func groupID(_ name: String) throws(ControlError) -> gid_t {
        if let number = UInt32(name) { return number }
        var entry = Glibc.group()
        var buffer = [CChar](repeating: 0, count: 16_384)
        var result: UnsafeMutablePointer<Glibc.group>?
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else {
            throw ControlError(.system, "control socket group '\(Wire.shown(name))' does not exist: create it (systemd/hark.sysusers) or change control.group")
        }
        return entry.gr_gid
    }

    /// Closes the socket and removes its file if it is still the one we bound.
    func close() {
        Glibc.close(fd)
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode { unlink(path) }
    }
}
