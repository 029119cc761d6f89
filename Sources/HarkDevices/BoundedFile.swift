#if canImport(Glibc)
import Glibc
#endif

/// Reading a small file Hark is told about (the catalog, a token, a password) whole, with a size cap.
/// Opened non-blocking and without a controlling terminal, so a FIFO or a device at the path fails or
/// ends at once instead of hanging harkd. Callers turn a failure into their own one-line message.
package enum BoundedFile {
    package enum Failure: Error {
        /// `call` failed with `code` (errno).
        case system(call: String, code: Int32)
        /// The file holds more than the limit.
        case tooLarge

        /// "open: No such file or directory"; "larger than N bytes" for `tooLarge`.
        package func describe(limit: Int) -> String {
            switch self {
            case let .system(call, code): "\(call): \(String(cString: strerror(code)))"
            case .tooLarge: "larger than \(limit) bytes"
            }
        }

        var code: Int32? { if case let .system(_, code) = self { code } else { nil } }
    }

    package static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .system(call: "open", code: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(65_536, limit + 1))
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .system(call: "read", code: errno) }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
            guard bytes.count <= limit else { throw .tooLarge }
        }
    }
}
