#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of one GGUF file: a read-only private `mmap` of it (tensor data is never copied), or an
/// aligned heap copy for files built in memory. Unmapped or freed on deinit.
///
/// `@unchecked Sendable`: the pointer and count are set once in `init` and never change, and the
/// memory behind them is never written (the mapping is `PROT_READ`; the heap copy is filled before
/// `init` returns), so sharing it between threads is a read-only share.
final class GGUFStorage: @unchecked Sendable {
    enum Kind { case mapped, owned, borrowed }

    let base: UnsafeRawPointer
    let count: Int
    private let kind: Kind
    var isMapped: Bool { kind == .mapped }

    /// Maps `path` read-only.
    init(path: String) throws(GGUFError) {
        let fd = try Self.check("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var info = stat()
        _ = try Self.check("fstat", path) { fstat(fd, &info) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.fileUnreadable, "\(path): not a regular file: give the path of a .gguf model file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            throw GGUFError(.corrupt, "\(path): the file is empty (0 bytes): not a GGUF model file")
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            let code = errno
            throw GGUFError(.fileUnreadable, "\(path): mmap of \(size) bytes failed (\(String(cString: strerror(code)))): check the file and the memory limits")
        }
        base = UnsafeRawPointer(address)
        count = size
        kind = .mapped
    }

    /// An aligned copy of `bytes` (page alignment, as a mapping would give, so tensor data keeps the
    /// file's alignment in memory).
    init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 4096)
        bytes.withUnsafeBytes { source in
            if let from = source.baseAddress { memory.copyMemory(from: from, byteCount: source.count) }
        }
        base = UnsafeRawPointer(memory)
        count = bytes.count
        kind = .owned
    }

    /// Memory the caller owns and keeps alive for as long as any file read from it (tests that mutate
    /// one large buffer in place).
    init(borrowing buffer: UnsafeRawBufferPointer) {
        base = buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 0x1000)!
        count = buffer.count
        kind = .borrowed
    }

    deinit {
        switch kind {
        case .mapped: munmap(UnsafeMutableRawPointer(mutating: base), count)
        case .owned: UnsafeMutableRawPointer(mutating: base).deallocate()
        case .borrowed: break
        }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Runs one C call, retrying on EINTR; a negative return becomes a `GGUFError` naming the call,
    /// the file and errno's text.
    private static func check(_ function: String, _ path: String, _ call: () -> Int32) throws(GGUFError) -> Int32 {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            let hint = code == ENOENT ? ": run `make models` or check the path" : ""
            throw GGUFError(.fileUnreadable, "\(path): \(function) failed (\(String(cString: strerror(code))))\(hint)")
        }
    }
}
