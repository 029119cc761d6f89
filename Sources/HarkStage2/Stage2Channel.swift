#if canImport(Glibc)
import Glibc
#endif

/// One end of the stream socket between harkd and its worker: whole frames out, whole frames in.
/// Writes use `send(MSG_NOSIGNAL)`, so a worker that has died is an error here, not a SIGPIPE.
final class Stage2Channel {
    let fd: Int32
    private var reader: Stage2FrameReader
    /// What one `recv` reads into.
    private var chunk = [UInt8](repeating: 0, count: 65_536)

    init(fd: Int32, source: String) {
        self.fd = fd
        reader = Stage2FrameReader(source: source)
    }

    deinit { close(fd) }

    func send(_ frame: Stage2Frame) throws(Stage2Error) {
        let bytes = try frame.encoded()
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN, wait(for: Int16(POLLOUT), until: monotonicNow() + 10) { continue }
                throw Stage2Error(errno == EPIPE || errno == ECONNRESET ? .workerEnded : .io,
                                  "\(reader.source): write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// The next frame, waiting until `deadline` (monotonic seconds) at most.
    func receive(until deadline: Double) throws(Stage2Error) -> Stage2Frame {
        while true {
            if let frame = try reader.next() { return frame }
            guard wait(for: Int16(POLLIN), until: deadline) else {
                throw Stage2Error(.timedOut, "\(reader.source): no answer in time")
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Stage2Error(.io, "\(reader.source): read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw Stage2Error(.workerEnded, "\(reader.source): closed\(reader.pending > 0 ? " in the middle of a frame" : "")")
            }
            reader.append(chunk[..<n])
        }
    }

    /// Polls for `events`; false when `deadline` passes first.
    private func wait(for events: Int16, until deadline: Double) -> Bool {
        while true {
            let left = deadline - monotonicNow()
            guard left > 0 else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&entry, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if result > 0 { return true }
            if result < 0 && errno != EINTR { return true }  // the read or write reports the error
        }
    }
}

/// Monotonic seconds (CLOCK_MONOTONIC).
public func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
