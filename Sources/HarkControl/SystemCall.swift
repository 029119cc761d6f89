#if canImport(Glibc)
import Glibc
#endif

/// Runs one system call that reports failure as `-1` with `errno` (the shape of swift-nio's
/// `NIOPosix/System.swift`): `EINTR` is retried; any other failure throws a ``ControlError`` naming
/// the function and the object, with the errno.
@inline(__always)
@discardableResult
func systemCall<Result: BinaryInteger>(_ function: StaticString, _ object: @autoclosure () -> String,
                                       _ body: () -> Result) throws(ControlError) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw ControlError(.system, "\(function) on \(object()) failed: \(errnoText(code))", systemErrorCode: code)
    }
}

/// Like ``systemCall(_:_:_:)`` but hands back the errno instead of throwing, for the calls whose
/// failures are ordinary (`EAGAIN` on a non-blocking socket, a peer gone).
@inline(__always)
func tryCall<Result: BinaryInteger>(_ body: () -> Result) -> (value: Result, errno: Int32) {
    while true {
        let result = body()
        if result >= 0 { return (result, 0) }
        let code = errno
        if code == EINTR { continue }
        return (result, code)
    }
}

func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Runs `body` on a new detached POSIX thread, off Swift's cooperative pool.
func startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body))
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { pointer in
        let box = Unmanaged<Box>.fromOpaque(pointer!).takeRetainedValue()
        box.body()
        return nil
    }, box.toOpaque())
    guard result == 0 else {
        box.release()
        return false
    }
    pthread_detach(thread)
    return true
}

/// Fills a `sockaddr_un` for `path`; nil when the path does not fit `sun_path` (107 bytes and a NUL).
func unixAddress(_ path: String) -> (sockaddr_un, socklen_t)? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    let length = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + 1
    return (address, socklen_t(length))
}
