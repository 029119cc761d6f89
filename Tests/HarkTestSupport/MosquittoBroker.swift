import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real Mosquitto broker for tests: `/usr/sbin/mosquitto` (Debian's `mosquitto`) on a free loopback
/// port, with its configuration, persistence file and log in a fresh temporary directory. It can be
/// stopped (SIGTERM, as systemd does) and started again on the same port, keeping its persisted
/// sessions. `stop()` it at the end; the directory is removed when the object goes away.
public final class MosquittoBroker: Sendable {
    public static let binary = "/usr/sbin/mosquitto"

    public let port: Int
    public let directory: String
    public var logPath: String { directory + "/mosquitto.log" }
    private let pid = Mutex<pid_t?>(nil)

    /// Writes the configuration and starts the broker; returns once it accepts connections.
    public init() throws {
        directory = makeTemporaryDirectory("hark-mosquitto")
        port = try Self.freePort()
        let config = """
            listener \(port) 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location \(directory)/
            log_dest file \(directory)/mosquitto.log
            log_type all
            log_timestamp_format %H:%M:%S

            """ + (getuid() == 0 ? "# as root mosquitto would switch to the user 'mosquitto', which cannot write here\nuser root\n" : "")
        try Self.write(config, to: directory + "/mosquitto.conf")
        try start()
    }

    deinit {
        stop()
        for name in ["mosquitto.conf", "mosquitto.db", "mosquitto.db.new", "mosquitto.log"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    public var isRunning: Bool { pid.withLock { $0 != nil } }

    /// Starts the broker (again) on `port`; returns once it accepts connections (within 20 s).
    public func start() throws {
        guard !isRunning else { return }
        var child: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/mosquitto.log", O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The child inherits the spawning thread's signal mask, and the threads of Swift's executor block
        // most signals: without this, SIGTERM would never reach mosquitto.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = [Self.binary, "-c", directory + "/mosquitto.conf"]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        let rc = posix_spawn(&child, Self.binary, &actions, &attributes, &cArgs, environ)
        guard rc == 0 else { throw BrokerError("cannot start \(Self.binary): \(String(cString: strerror(rc)))") }
        pid.withLock { $0 = child }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            if waitpid(child, &status, WNOHANG) == child {
                pid.withLock { $0 = nil }
                throw BrokerError("mosquitto exited at start (status \(status)); see \(logPath)")
            }
            if Self.accepts(port: port) { return }
            usleep(20_000)
        }
        stop()
        throw BrokerError("mosquitto did not accept connections on 127.0.0.1:\(port) within 20 s; see \(logPath)")
    }

    /// SIGTERM and wait for the exit (mosquitto saves its persistence file on the way out); SIGKILL if it
    /// is still there after 20 s.
    public func stop() {
        guard let child = pid.withLock({ $0 }) else { return }
        kill(child, SIGTERM)
        kill(child, SIGCONT)
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(20)
        while waitpid(child, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline {
                kill(child, SIGKILL)
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(5_000)
        }
        pid.withLock { $0 = nil }
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is read or answered. `stop()` ends it.
    public func pause() {
        if let child = pid.withLock({ $0 }) { kill(child, SIGSTOP) }
    }

    /// The broker's log so far (for failure messages).
    public func log() -> String {
        guard let file = fopen(logPath, "r") else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A port the kernel just handed out for 127.0.0.1 (then released for the broker to take).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BrokerError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw BrokerError("bind: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    static func write(_ text: String, to path: String) throws {
        guard let file = fopen(path, "w") else { throw BrokerError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else { throw BrokerError("cannot write \(path)") }
    }
}

public struct BrokerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held. For
/// waiting on asynchronous effects without fixed sleeps (the timeout is generous, the poll cheap).
public func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
