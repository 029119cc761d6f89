#if canImport(Glibc)
import Glibc
#endif
import HarkDevices

/// A blocking client of the control socket, for `harkctl`, scripts written in Swift, and tests: one
/// connection, requests answered in order, event notifications read as they come.
public final class ControlClient {
    /// The socket harkd listens on as a service.
    public static let defaultPath = "/run/hark/control.sock"

    public let path: String
    /// Seconds to wait for an answer; nil waits for ever.
    public var timeout: Double?
    private let fd: Int32
    private var received: [UInt8] = []
    private var nextID = 1
    /// Event notifications (the event objects' text) that arrived while waiting for an answer.
    private var queuedEvents: [String] = []

    public init(path: String = ControlClient.defaultPath, timeout: Double? = 10) throws(ControlError) {
        guard let (address, length) = unixAddress(path) else {
            throw ControlError(.unreachable, "control socket path '\(Wire.shown(path))' is not a valid socket path (at most 107 bytes)")
        }
        let (fd, socketError) = tryCall { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        guard fd >= 0 else { throw ControlError(.unreachable, "cannot make a socket: \(errnoText(socketError))", systemErrorCode: socketError) }
        var target = address
        let (status, error) = tryCall {
            withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        }
        guard status == 0 else {
            close(fd)
            switch error {
            case ENOENT, ENOTDIR:
                throw ControlError(.unreachable, "no control socket at \(path): is harkd running with a control socket? (--socket PATH, $HARK_SOCKET)", systemErrorCode: error)
            case ECONNREFUSED:
                throw ControlError(.unreachable, "nothing listens on \(path): harkd is not running", systemErrorCode: error)
            case EACCES, EPERM:
                throw ControlError(.permissionDenied, "no permission to connect to \(path): join the socket's group (hark) or run as its user", systemErrorCode: error)
            default:
                throw ControlError(.unreachable, "cannot connect to \(path): \(errnoText(error))", systemErrorCode: error)
            }
        }
        self.path = path
        self.timeout = timeout
        self.fd = fd
    }

    deinit { close(fd) }

    /// Calls `method` and returns its result; an error answer is thrown with its code and message.
    public func call(_ method: String, _ params: [String: JSONValue] = [:]) throws(ControlError) -> JSONValue {
        let id = nextID
        nextID += 1
        try send(line: Wire.request(id: .number(Double(id)), method: method, params: params))
        let deadline = timeout.map { monotonicSeconds() + $0 }
        while true {
            guard let line = try readLine(deadline: deadline) else {
                throw ControlError(.protocolError, "harkd closed the connection before answering \(method)")
            }
            if let event = Self.eventText(line) {
                queuedEvents.append(event)
                continue
            }
            let message: JSONValue
            do { message = try JSONValue.parse(line) }
            catch { throw ControlError(.protocolError, "harkd sent a line that is not JSON: \(Wire.shown(line))") }
            guard case let .object(members) = message else {
                throw ControlError(.protocolError, "harkd answered \(method) with something that is not a JSON-RPC object")
            }
            // An answer to a line the server could not read carries a null id.
            guard members["id"] == .number(Double(id)) || members["id"] == .null else { continue }
            if case let .object(error)? = members["error"] {
                let code = error["code"]?.numberValue.map { Int($0) } ?? ControlError.Code.internalError.rpcCode
                throw ControlError(ControlError.Code(rpcCode: code), error["message"]?.stringValue ?? "harkd answered with an error")
            }
            guard let result = members["result"] else {
                throw ControlError(.protocolError, "harkd's answer to \(method) has neither result nor error")
            }
            return result
        }
    }

    /// The next event notification's event object; nil when harkd closed the connection, or when
    /// `timeout` seconds passed without one.
    public func nextEvent(timeout seconds: Double? = nil) throws(ControlError) -> JSONValue? {
        guard let text = try nextEventText(timeout: seconds) else { return nil }
        do { return try JSONValue.parse(text) }
        catch { throw ControlError(.protocolError, "harkd sent an event that is not JSON: \(Wire.shown(text))") }
    }

    /// The next event exactly as harkd wrote it (one JSON object, `type` first, as on its event
    /// stream); nil when harkd closed the connection or `timeout` seconds passed without one.
    public func nextEventText(timeout seconds: Double? = nil) throws(ControlError) -> String? {
        if !queuedEvents.isEmpty { return queuedEvents.removeFirst() }
        let deadline = seconds.map { monotonicSeconds() + $0 }
        while true {
            let line: String?
            do { line = try readLine(deadline: deadline) } catch {
                if error.code == .timeout { return nil }
                throw error
            }
            guard let line else { return nil }
            if let event = Self.eventText(line) { return event }
        }
    }

    /// The event object inside an event notification line (``Wire/event(_:)``), else nil.
    static func eventText(_ line: String) -> String? {
        let prefix = #"{"jsonrpc":"2.0","method":"event","params":"#
        guard line.hasPrefix(prefix), line.hasSuffix("}") else { return nil }
        return String(line.dropFirst(prefix.count).dropLast())
    }

    /// Sends one line (a newline is added).
    public func send(line: String) throws(ControlError) {
        try send(bytes: Array(line.utf8) + [UInt8(ascii: "\n")])
    }

    /// Sends raw bytes, for tests that speak the protocol badly on purpose.
    public func send(bytes: [UInt8]) throws(ControlError) {
        var offset = 0
        while offset < bytes.count {
            let (sent, error) = bytes.withUnsafeBytes { raw in
                tryCall { Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            guard sent > 0 else {
                throw ControlError(.protocolError, "lost the connection to harkd at \(path): \(errnoText(error))", systemErrorCode: error)
            }
            offset += sent
        }
    }

    /// The next line parsed as JSON; nil at the end of the connection.
    public func readMessage(timeout seconds: Double? = nil) throws(ControlError) -> JSONValue? {
        try readMessage(deadline: (seconds ?? timeout).map { monotonicSeconds() + $0 })
    }

    private func readMessage(deadline: Double?) throws(ControlError) -> JSONValue? {
        guard let line = try readLine(deadline: deadline) else { return nil }
        do { return try JSONValue.parse(line) }
        catch { throw ControlError(.protocolError, "harkd sent a line that is not JSON: \(Wire.shown(line))") }
    }

    /// The next line; nil at the end of the connection.
    public func readLine(timeout seconds: Double? = nil) throws(ControlError) -> String? {
        try readLine(deadline: (seconds ?? timeout).map { monotonicSeconds() + $0 })
    }

    private func readLine(deadline: Double?) throws(ControlError) -> String? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: received[..<newline], as: UTF8.self)
                received.removeSubrange(...newline)
                return line
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = deadline.map { Int32(max(0, min(Double(Int32.max), (($0 - monotonicSeconds()) * 1000).rounded(.up)))) } ?? -1
            let (ready, pollError) = tryCall { poll(&poller, 1, wait) }
            guard ready >= 0 else { throw ControlError(.protocolError, "poll on \(path) failed: \(errnoText(pollError))") }
            if ready == 0 { throw ControlError(.timeout, "no answer from harkd on \(path) in time") }
            let (count, error) = chunk.withUnsafeMutableBytes { raw in tryCall { recv(fd, raw.baseAddress, raw.count, 0) } }
            if count < 0 {
                throw ControlError(.protocolError, "lost the connection to harkd at \(path): \(errnoText(error))", systemErrorCode: error)
            }
            if count == 0 {
                guard !received.isEmpty else { return nil }
                let line = String(decoding: received, as: UTF8.self)
                received = []
                return line
            }
            received += chunk[..<count]
        }
    }

    /// Half-closes the connection: harkd answers what it has, then closes.
    public func finishSending() { shutdown(fd, Int32(SHUT_WR)) }
}
