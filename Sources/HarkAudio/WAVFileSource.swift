import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Audio from a WAV file (see ``WAVHeader`` for the accepted layouts), streamed in chunks
/// with `pread` and converted to 16 kHz mono S16. Not live: reads as fast as the caller asks.
///
/// `@unchecked Sendable`: the descriptor, position and converter are touched only by the one
/// thread that calls ``read(into:)``; `delivered` is a `Mutex` because ``counters`` reads it
/// from anywhere; cancellation is a ``CancellationLatch``.
final class WAVFileSource: AudioSource, @unchecked Sendable {
    /// Frames read from the file per chunk.
    static let chunkFrames = 4096

    let isLive = false
    let path: String
    let header: WAVHeader
    private let fd: Int32
    private let converter: SampleConverter
    private let chunk: UnsafeMutableRawBufferPointer
    private let latch = CancellationLatch()
    private let delivered = Mutex<UInt64>(0)
    private var position = 0
    private var finished = false
    private let logger: Logger

    init(path: String, logger: Logger) throws(AudioError) {
        self.path = path
        self.logger = logger
        let opened = posixCall { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        guard opened.errno == 0 else {
            throw AudioError.posix(
                "open", on: "WAV file '\(path)'", code: opened.errno, kind: .fileUnreadable,
                advice: "check the --input path and its permissions")
        }
        fd = opened.value
        var info = stat()
        let statted = posixCall { fstat(opened.value, &info) }
        guard statted.errno == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(opened.value)
            throw AudioError(
                code: .fileUnreadable,
                message: "cannot read WAV file '\(path)': it is not a regular file: give a .wav file, or '-' for raw audio on stdin",
                systemErrorCode: statted.errno == 0 ? nil : statted.errno)
        }
        let fileSize = Int(info.st_size)
        let fd = opened.value
        do {
            header = try WAVHeader.parse(path: path, fileSize: fileSize) { (offset, count) throws(AudioError) in
                try Self.bytes(fd, path, count: count, at: offset)
            }
            converter = try SampleConverter(format: header.format, maxFrames: Self.chunkFrames)
        } catch {
            Glibc.close(fd)
            if error.code == .unsupportedFormat, !error.message.contains(path) {
                throw AudioError(code: error.code, message: "cannot read WAV file '\(path)': \(error.message)", underlying: error)
            }
            throw error
        }
        chunk = .allocate(byteCount: Self.chunkFrames * header.format.bytesPerFrame, alignment: 16)
        logger.debug("WAV file '\(path)': \(header.format), \(header.dataSize) bytes of samples")
    }

    deinit {
        Glibc.close(fd)
        chunk.deallocate()
    }

    var counters: AudioCounters {
        AudioCounters(samplesDelivered: delivered.withLock { $0 })
    }

    func cancel() { latch.cancel() }

    func read(into buffer: UnsafeMutableBufferPointer<Int16>) throws -> Int {
        guard !buffer.isEmpty else { return 0 }
        while true {
            if latch.isCancelled { return 0 }
            if converter.pendingCount > 0 {
                let count = converter.drain(into: buffer)
                delivered.withLock { $0 += UInt64(count) }
                return count
            }
            if finished { return 0 }
            let frameBytes = header.format.bytesPerFrame
            let wanted = min(Self.chunkFrames, (header.dataSize - position) / frameBytes)
            var frames = 0
            if wanted > 0 {
                let got = try Self.pread(fd, path, into: chunk.baseAddress!, count: wanted * frameBytes, at: header.dataOffset + position)
                frames = got / frameBytes
                if frames == 0 {
                    logger.warning("WAV file '\(path)' ended \(header.dataSize - position) bytes early (it shrank while being read)")
                }
            }
            if frames > 0 {
                position += frames * frameBytes
                converter.push(chunk.baseAddress!, frames: frames)
            } else {
                finished = true
                converter.finish()
            }
        }
    }

    /// `pread` until `count` bytes or end of file; returns the bytes read.
    private static func pread(_ fd: Int32, _ path: String, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws(AudioError) -> Int {
        var total = 0
        while total < count {
            let result = posixCall { Glibc.pread(fd, buffer + total, count - total, off_t(offset + total)) }
            guard result.errno == 0 else {
                throw AudioError.posix("pread", on: "WAV file '\(path)'", code: result.errno, kind: .fileUnreadable, advice: "check the file and the disk")
            }
            if result.value == 0 { break }
            total += result.value
        }
        return total
    }

    /// Up to `count` bytes at `offset` (header parsing only: allocates).
    private static func bytes(_ fd: Int32, _ path: String, count: Int, at offset: Int) throws(AudioError) -> [UInt8] {
        if count <= 0 { return [] }
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { raw.deallocate() }
        let got = try pread(fd, path, into: raw.baseAddress!, count: count, at: offset)
        return Array(raw[..<got])
    }
}
