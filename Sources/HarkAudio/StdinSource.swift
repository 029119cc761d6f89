import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Raw S16_LE, 16 kHz, mono samples from a file descriptor (standard input for `--input -`),
/// until end of file.
///
/// Reads may end on any byte: an odd byte left over is carried to the next read, and one left
/// at end of file is dropped. The descriptor is polled with a 100 ms timeout so ``cancel()``
/// ends a read that is waiting on a quiet pipe. The descriptor is not closed by the source.
///
/// `@unchecked Sendable`: `bytes` and `carried` are touched only by the one thread that calls
/// ``read(into:)``; `delivered` is a `Mutex`; cancellation is a ``CancellationLatch``.
public final class StdinSource: AudioSource, @unchecked Sendable {
    /// Bytes read per `read(2)` at most.
    static let chunkBytes = 8192
    static let pollMilliseconds: Int32 = 100

    public let isLive = false
    private let fd: Int32
    private let logger: Logger
    private let latch = CancellationLatch()
    private let delivered = Mutex<UInt64>(0)
    /// Room for one carried byte plus a chunk.
    private let bytes: UnsafeMutableRawBufferPointer
    /// 0 or 1: a byte of a sample split across two reads, kept at `bytes[0]`.
    private var carried = 0
    private var ended = false

    /// Reads standard input.
    public convenience init(logger: Logger) {
        self.init(fileDescriptor: STDIN_FILENO, logger: logger)
    }

    /// Reads `fileDescriptor` (a pipe in tests), which stays open and owned by the caller.
    public init(fileDescriptor: Int32, logger: Logger) {
        fd = fileDescriptor
        self.logger = logger
        bytes = .allocate(byteCount: Self.chunkBytes + 1, alignment: 2)
    }

    deinit { bytes.deallocate() }

    public var counters: AudioCounters { AudioCounters(samplesDelivered: delivered.withLock { $0 }) }

    public func cancel() { latch.cancel() }

    public func read(into buffer: UnsafeMutableBufferPointer<Int16>) throws -> Int {
        guard !buffer.isEmpty else { return 0 }
        while !ended {
            if latch.isCancelled { return 0 }
            var request = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let polled = posixCall { poll(&request, 1, Self.pollMilliseconds) }
            guard polled.errno == 0 else {
                throw AudioError.posix("poll", on: "audio input fd \(fd)", code: polled.errno, kind: .inputFailed, advice: "check what feeds standard input")
            }
            if polled.value == 0 { continue }

            let room = min(Self.chunkBytes, buffer.count * 2 - carried)
            let got = posixCall { Glibc.read(fd, bytes.baseAddress! + carried, room) }
            if got.errno == EAGAIN || got.errno == EWOULDBLOCK { continue }
            guard got.errno == 0 else {
                throw AudioError.posix("read", on: "audio input fd \(fd)", code: got.errno, kind: .inputFailed, advice: "check what feeds standard input")
            }
            if got.value == 0 {
                ended = true
                if carried == 1 {
                    logger.debug("audio input ended with an odd byte; dropped it")
                }
                break
            }
            let total = carried + got.value
            let samples = total / 2
            for i in 0..<samples {
                buffer[i] = Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
            }
            carried = total & 1
            if carried == 1 {
                bytes[0] = bytes[total - 1]
            }
            if samples > 0 {
                delivered.withLock { $0 += UInt64(samples) }
                return samples
            }
        }
        return 0
    }
}
