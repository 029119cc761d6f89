#if canImport(Glibc)
import Glibc
#endif
import HarkDevices
import Logging
import ServiceLifecycle

/// Dispatches actions read from a file or standard input, one JSON object per line: an action
/// (`{"device":"kitchen_light","command":"turn_on"}`) or an action with a caller-chosen id
/// (`{"id":"morning-1","action":{…}}`), which makes re-running the same script safe: an id already in
/// the journal is not dispatched again. Blank lines and lines starting with `#` are skipped; a bad line
/// is an `error` event naming the line, and the script goes on.
public struct ActionScriptService: Service {
    let path: String
    let submit: ActionSubmitter
    let sink: EventSink
    let logger: Logger

    public init(path: String, submit: @escaping ActionSubmitter, sink: EventSink, logger: Logger) {
        self.path = path
        self.submit = submit
        self.sink = sink
        self.logger = logger
    }

    public func run() async throws {
        let fd: Int32 = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DaemonError("cannot open the actions script '\(path)': \(String(cString: strerror(errno)))")
        }
        let lines = LineReader.lines(of: fd, closeWhenDone: path != "-")
        var number = 0
        var count = 0
        for await line in lines.cancelOnGracefulShutdown() {
            number += 1
            let text = line.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            if text.isEmpty || text.hasPrefix("#") { continue }
            do {
                let request = try Self.request(from: String(text))
                _ = await submit([request], .script, nil)
                count += 1
            } catch {
                sink.emit(.error(kind: "actions", message: "\(path == "-" ? "stdin" : path):\(number): \(error)", t: nil))
            }
        }
        logger.info("actions script done", metadata: ["path": "\(path)", "actions": "\(count)"])
    }

    static func request(from line: String) throws -> ActionDispatcher.Request {
        let json: JSONValue
        do { json = try JSONValue.parse(line) }
        catch { throw DaemonError("not valid JSON") }
        if case let .object(members) = json, let action = members["action"] {
            guard case let .string(id)? = members["id"], !id.isEmpty, id.utf8.count <= 128, !ConfigReader.hasControl(id) else {
                throw DaemonError("an {\"id\",\"action\"} line needs an \"id\" string of 1–128 printable characters")
            }
            if let extra = members.keys.first(where: { $0 != "id" && $0 != "action" }) {
                throw DaemonError("unknown key \"\(extra)\" (expected id and action)")
            }
            return .init(id: id, action: try Action(json: action))
        }
        return .init(action: try Action(json: json))
    }
}

/// Lines of a file descriptor, read on a dedicated thread (reads may block: a pipe, a terminal).
enum LineReader {
    static let maxLine = 1 << 20

    static func lines(of fd: Int32, closeWhenDone: Bool) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(256))
        startThread {
            defer { if closeWhenDone { close(fd) } }
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                var start = 0
                for i in 0..<n where buffer[i] == UInt8(ascii: "\n") {
                    pending += buffer[start..<i]
                    if !yield(String(decoding: pending, as: UTF8.self), to: continuation) { return }
                    pending.removeAll(keepingCapacity: true)
                    start = i + 1
                }
                pending += buffer[start..<n]
                // An endless line is cut into pieces rather than growing without bound; each piece is
                // then reported as a bad line.
                if pending.count > maxLine {
                    if !yield(String(decoding: pending, as: UTF8.self), to: continuation) { return }
                    pending.removeAll(keepingCapacity: true)
                }
            }
            if !pending.isEmpty { _ = yield(String(decoding: pending, as: UTF8.self), to: continuation) }
            continuation.finish()
        }
        return stream
    }

    /// Yields, waiting while the consumer's buffer is full; false once the consumer is gone.
    private static func yield(_ line: String, to continuation: AsyncStream<String>.Continuation) -> Bool {
        while true {
            switch continuation.yield(line) {
            case .enqueued: return true
            case .terminated: return false
            case .dropped:
                usleep(2_000)
            @unknown default: return false
            }
        }
    }
}
