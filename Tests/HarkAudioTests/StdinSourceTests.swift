import Foundation
import Testing
@testable import HarkAudio

#if canImport(Glibc)
import Glibc
#endif

/// A pipe whose write end is fed from another thread in the given byte splits, with pauses.
private final class FedPipe: @unchecked Sendable {
    // readEnd/writeEnd are set once in init and only read afterwards.
    let readEnd: Int32
    let writeEnd: Int32

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    /// Writes `bytes` in pieces of `splits` (cycled) from a new thread, then closes the write end
    /// if `close` is true.
    func feed(_ bytes: [UInt8], splits: [Int], pauseMicroseconds: UInt32 = 200, close: Bool = true) -> Thread {
        let thread = Thread { [writeEnd] in
            var offset = 0
            var i = 0
            while offset < bytes.count {
                let n = min(splits[i % splits.count], bytes.count - offset)
                i += 1
                let written = bytes[offset..<(offset + n)].withUnsafeBytes { Glibc.write(writeEnd, $0.baseAddress!, n) }
                precondition(written == n)
                offset += n
                usleep(pauseMicroseconds)
            }
            if close { Glibc.close(writeEnd) }
        }
        thread.start()
        return thread
    }

    deinit { Glibc.close(readEnd) }
}

private func s16le(_ samples: [Int16]) -> [UInt8] {
    samples.flatMap { v -> [UInt8] in [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)] }
}

@Suite("stdin input")
struct StdinSourceTests {
    static let samples: [Int16] = [.min, .max, 0, -1, 1, 256, -256, 0x1234] + (0..<3000).map { Int16(truncatingIfNeeded: $0 &* 2654435761 >> 7) }

    @Test("Given S16_LE bytes written to a pipe in odd splits, when read through StdinSource, then every sample arrives intact",
          arguments: [[1], [3], [1, 2, 5, 7], [4095], [8193, 1]])
    func oddSplits(splits: [Int]) throws {
        let pipe = FedPipe()
        let source = StdinSource(fileDescriptor: pipe.readEnd, logger: TestAudio.logger)
        _ = pipe.feed(s16le(Self.samples), splits: splits, pauseMicroseconds: splits == [1] ? 0 : 100)

        let got = try TestAudio.readAll(source, chunk: 333)

        #expect(got == Self.samples)
        #expect(source.counters.samplesDelivered == UInt64(Self.samples.count))
        #expect(!source.isLive)
    }

    @Test("Given input that ends on an odd byte, when read, then whole samples arrive and the stray byte is dropped at EOF")
    func oddTrailingByte() throws {
        let pipe = FedPipe()
        let source = StdinSource(fileDescriptor: pipe.readEnd, logger: TestAudio.logger)
        _ = pipe.feed(s16le([7, -7, 300]) + [0x55], splits: [3])
        #expect(try TestAudio.readAll(source, chunk: 1) == [7, -7, 300])
    }

    @Test("Given a pipe that stays open and silent, when cancel() is called from another thread, then the blocked read returns 0 within 300 ms")
    func cancelUnblocksRead() async throws {
        let pipe = FedPipe()
        let source = StdinSource(fileDescriptor: pipe.readEnd, logger: TestAudio.logger)
        let started = ContinuousClock.now
        Thread { usleep(150_000); source.cancel() }.start()
        var buffer = [Int16](repeating: 0, count: 10)
        let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
        let elapsed = ContinuousClock.now - started
        #expect(n == 0)
        #expect(elapsed < .milliseconds(450))
        #expect(elapsed >= .milliseconds(140))
        Glibc.close(pipe.writeEnd)
    }

    @Test("Given an empty input, when read, then the first read returns 0 (end of input)")
    func emptyInput() throws {
        let pipe = FedPipe()
        Glibc.close(pipe.writeEnd)
        let source = try openAudioSourceForTest(fd: pipe.readEnd)
        #expect(try TestAudio.readAll(source).isEmpty)
    }

    private func openAudioSourceForTest(fd: Int32) throws -> any AudioSource {
        StdinSource(fileDescriptor: fd, logger: TestAudio.logger)
    }
}
