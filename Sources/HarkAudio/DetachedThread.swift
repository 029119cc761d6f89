#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` on a new detached POSIX thread, off Swift's cooperative pool: for work that blocks
/// (ALSA reads and writes, a libcurl request, reading a pipe). False if no thread could be made.
@discardableResult
public func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
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
