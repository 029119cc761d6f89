#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where events go: one JSON object per line, each written whole with one `write`, from any thread;
/// and to the observers (the control socket's subscribers, systemd's STATUS=), which must not block.
public final class EventSink: Sendable {
    /// The file descriptor, or -1 to drop events; guarded so lines never interleave.
    private let fd: Mutex<Int32>
    private let ownsDescriptor: Bool
    private let observers = Mutex<[@Sendable (Event) -> Void]>([])

    /// `destination`: "-" for standard output, a path to append to, or nil to drop events.
    public init(destination: String?) throws {
        switch destination {
        case nil:
            fd = Mutex(-1)
            ownsDescriptor = false
        case "-":
            fd = Mutex(STDOUT_FILENO)
            ownsDescriptor = false
        case let path?:
            let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else {
                throw DaemonError("cannot open events file '\(path)' for appending (\(String(cString: strerror(errno)))): check the directory exists and is writable")
            }
            fd = Mutex(descriptor)
            ownsDescriptor = true
        }
    }

    deinit {
        if ownsDescriptor { fd.withLock { _ = close($0) } }
    }

    /// `observer` sees every event from now on, on the thread that emits it: it must return quickly.
    public func observe(_ observer: @escaping @Sendable (Event) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    public func emit(_ event: Event) {
        writeLine(event)
        for observer in observers.withLock({ $0 }) { observer(event) }
    }

    private func writeLine(_ event: Event) {
        var line = event.jsonLine + "\n"
        fd.withLock { descriptor in
            guard descriptor >= 0 else { return }
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    // A closed reader (EPIPE) or a full disk loses this event, never the daemon.
                    guard n > 0 else { return }
                    offset += n
                }
            }
        }
    }
}

/// The one error type of `HarkDaemon`: a one-line message saying what failed and what to do.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
