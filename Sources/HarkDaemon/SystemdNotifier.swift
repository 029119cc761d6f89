#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The sd_notify protocol (sd_notify(3)), written directly: each message is one datagram of
/// newline-separated `KEY=VALUE` lines sent to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a path,
/// or an abstract name written with a leading `@`). Without `$NOTIFY_SOCKET` every call does nothing.
///
/// - `READY=1` goes out once, when every part named by ``require(_:)`` is live (``markLive(_:)``):
///   audio frames moving, the database open, the control socket listening.
/// - `STATUS=…` says what the pipeline is doing.
/// - `WATCHDOG=1` is sent by ``watchdog()``, which the audio loop calls for every chunk it reads: at
///   most every half `$WATCHDOG_USEC`, only after READY, never after STOPPING. Frames that stop
///   moving stop the pings, and systemd restarts the hung daemon (`WatchdogSec=`).
/// - `STOPPING=1` when graceful shutdown begins.
///
/// The variables are removed from the environment so that programs harkd starts (the exec
/// transport) cannot speak for it.
public final class SystemdNotifier: Sendable {
    public enum Part: String, Sendable, Hashable, Comparable {
        case audio, database, socket
        public static func < (lhs: Part, rhs: Part) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private struct State {
        var required: Set<Part> = []
        var live: Set<Part> = []
        var ready = false
        var stopping = false
        var lastPing: ContinuousClock.Instant?
        var readyStatus = "running"
    }

    private let fd: Int32
    private let address: [UInt8]
    /// Half of `$WATCHDOG_USEC`, when systemd asked for pings (and `$WATCHDOG_PID`, if set, is ours).
    public let watchdogInterval: Duration?
    private let state = Mutex(State())

    /// Reads (and removes) `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    public init() {
        func take(_ name: String) -> String? {
            guard let value = getenv(name).map({ String(cString: $0) }) else { return nil }
            unsetenv(name)
            return value
        }
        let socketName = take("NOTIFY_SOCKET")
        let usec = take("WATCHDOG_USEC").flatMap { UInt64($0) }
        let watchdogPID = take("WATCHDOG_PID").flatMap { Int32($0) }
        if let usec, usec > 0, watchdogPID == nil || watchdogPID == getpid() {
            watchdogInterval = .microseconds(Int64(clamping: usec / 2))
        } else {
            watchdogInterval = nil
        }
        var name = Array((socketName ?? "").utf8)
        if name.first == UInt8(ascii: "@") { name[0] = 0 }   // the abstract namespace
        let valid = !name.isEmpty && name.count < 108 && (name[0] == UInt8(ascii: "/") || name[0] == 0)
        address = valid ? name : []
        fd = valid ? socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) : -1
    }

    deinit { if fd >= 0 { close(fd) } }

    public var isEnabled: Bool { fd >= 0 }

    /// The parts that must be live before READY=1.
    public func require(_ parts: Set<Part>) {
        let send = state.withLock { state -> String? in
            state.required = parts
            return readyIfComplete(&state)
        }
        if let send { self.send(send) }
    }

    /// A part is live; READY=1 (with `status`) goes out with the last one.
    public func markLive(_ part: Part) {
        let send = state.withLock { state -> String? in
            guard !state.live.contains(part) else { return nil }
            state.live.insert(part)
            return readyIfComplete(&state)
        }
        if let send { self.send(send) }
    }

    /// The STATUS= sent with READY=1.
    public func setReadyStatus(_ text: String) { state.withLock { $0.readyStatus = text } }

    private func readyIfComplete(_ state: inout State) -> String? {
        guard !state.ready, !state.stopping, !state.required.isEmpty, state.required.isSubset(of: state.live) else { return nil }
        state.ready = true
        return "READY=1\nSTATUS=\(oneLine(state.readyStatus))"
    }

    public var isReady: Bool { state.withLock { $0.ready } }

    /// `STATUS=…` (after READY only, so the first status systemd shows is the ready one).
    public func status(_ text: String) {
        guard state.withLock({ $0.ready && !$0.stopping }) else { return }
        send("STATUS=\(oneLine(text))")
    }

    /// Called by the audio loop for every chunk: `WATCHDOG=1` when half the watchdog interval has passed.
    public func watchdog() {
        guard let interval = watchdogInterval, fd >= 0 else { return }
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            guard state.ready, !state.stopping else { return false }
            if let last = state.lastPing, now - last < interval { return false }
            state.lastPing = now
            return true
        }
        if due { send("WATCHDOG=1") }
    }

    /// `STOPPING=1`: graceful shutdown has begun; no READY or WATCHDOG after it.
    public func stopping() {
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        if first { send("STOPPING=1\nSTATUS=stopping") }
    }

    /// Sends one datagram; a failure loses that message only (systemd may be gone).
    public func send(_ message: String) {
        guard fd >= 0 else { return }
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &target.sun_path) { raw in
            for (index, byte) in address.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + address.count)
        var text = message
        text.withUTF8 { bytes in
            _ = withUnsafePointer(to: &target) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, length)
                }
            }
        }
    }

    private func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
