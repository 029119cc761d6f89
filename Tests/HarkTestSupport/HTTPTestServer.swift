#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A small HTTP/1.1 server on a free loopback port, for tests of HTTP clients: it records each
/// request (method, path, headers, body) and answers as `reply` says, or never answers.
///
/// One connection at a time on one POSIX thread; each answer closes its connection
/// (`Connection: close`). Bodies are read by `Content-Length` only (no chunked requests).
public final class HTTPTestServer: Sendable {
    public struct Request: Sendable, Equatable {
        public let method: String
        /// The request target as sent: "/api/services/light/turn_on".
        public let path: String
        /// Header names lowercased; a repeated header keeps its last value.
        public let headers: [String: String]
        public let body: String
    }

    public enum Reply: Sendable {
        /// Answer with this status, body and extra headers.
        case respond(status: Int, body: String = "", headers: [String: String] = [:])
        /// Read the request, record it, and keep the connection open without a byte of answer
        /// until the server stops.
        case silent
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The port it listens on, on 127.0.0.1.
    public let port: UInt16
    /// "http://127.0.0.1:<port>".
    public var url: String { "http://127.0.0.1:\(port)" }

    private struct State {
        var requests: [Request] = []
        var stopping = false
        /// Connections held open by `.silent`, closed at stop.
        var held: [Int32] = []
        var thread: pthread_t?
    }
    private let state = Mutex(State())
    private let listener: Int32
    private let reply: @Sendable (Request) -> Reply

    /// Starts listening; `reply` is called on the server's thread for every request.
    public init(reply: @escaping @Sendable (Request) -> Reply = { _ in .respond(status: 200, body: "[]") }) throws {
        self.reply = reply
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else {
            let text = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "bind/listen on 127.0.0.1: \(text)")
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)

        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { pointer in
            let server = Unmanaged<HTTPTestServer>.fromOpaque(pointer!).takeRetainedValue()
            server.serve()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<HTTPTestServer>.fromOpaque(box).release()
            close(fd)
            throw Failure(description: "pthread_create: \(String(cString: strerror(result)))")
        }
        state.withLock { $0.thread = thread }
    }

    /// Every request received so far, in order.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// Stops accepting, closes held connections and waits for the server's thread. Idempotent.
    public func stop() {
        let thread: pthread_t? = state.withLock { state in
            state.stopping = true
            defer { state.thread = nil }
            return state.thread
        }
        guard let thread else { return }
        pthread_join(thread, nil)
        let held = state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
        for fd in held { close(fd) }
        close(listener)
    }

    // MARK: The server's thread

    private var stopping: Bool { state.withLock { $0.stopping } }

    private func serve() {
        while !stopping {
            var pollFD = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pollFD, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            // accept4 (atomic close-on-exec) is a GNU extension Swift's Glibc does not declare.
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            handle(connection)
        }
    }

    private func handle(_ connection: Int32) {
        guard let request = read(connection) else { close(connection); return }
        state.withLock { $0.requests.append(request) }
        switch reply(request) {
        case .silent:
            state.withLock { $0.held.append(connection) }
        case let .respond(status, body, headers):
            var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n"
            if headers["Content-Type"] == nil { head += "Content-Type: application/json\r\n" }
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
            send(connection, head + "\r\n" + body)
            close(connection)
        }
    }

    /// Reads one request; nil if the client goes away, sends garbage, or stalls for 10 s.
    private func read(_ connection: Int32) -> Request? {
        var bytes: [UInt8] = []
        var headEnd: Int?
        var contentLength = 0
        var sentContinue = false
        var request: (method: String, path: String, headers: [String: String])?
        var waited = 0
        while true {
            if let end = headEnd, bytes.count >= end + contentLength, let request {
                let body = String(decoding: bytes[end..<(end + contentLength)], as: UTF8.self)
                return Request(method: request.method, path: request.path, headers: request.headers, body: body)
            }
            var pollFD = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollFD, 1, 50)
            if ready == 0 {
                waited += 50
                if waited >= 10_000 || stopping { return nil }
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            bytes += chunk[..<n]
            if headEnd == nil, let end = Self.find([13, 10, 13, 10], in: bytes) {
                headEnd = end + 4
                let lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
                let first = lines[0].split(separator: " ")
                guard first.count == 3 else { return nil }
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...].drop { $0 == " " })
                }
                contentLength = Int(headers["content-length"] ?? "0") ?? 0
                request = (String(first[0]), String(first[1]), headers)
                if headers["expect"]?.lowercased() == "100-continue" && !sentContinue {
                    sentContinue = true
                    send(connection, "HTTP/1.1 100 Continue\r\n\r\n")
                }
            }
        }
    }

    private func send(_ connection: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        return (0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 302: "Found"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 500: "Internal Server Error"
        default: "Status"
        }
    }
}
