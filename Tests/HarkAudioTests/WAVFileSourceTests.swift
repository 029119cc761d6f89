import Foundation
import Testing
@testable import HarkAudio

/// A WAV layout to generate, and how faithfully a 1 kHz sine must survive it.
struct WAVCase: CustomStringConvertible, Sendable {
    var format: SampleFormat
    var tag: WAVWriter.Tag
    var channels: Int
    var rate: Int
    /// Largest residual (everything but the 1 kHz tone) allowed, in dB relative to the tone.
    var residualLimit: Double

    var description: String { "\(format) \(tag) \(channels)ch \(rate)Hz" }
}

extension WAVWriter.Tag: @unchecked Sendable {}

@Suite("WAV file input")
struct WAVFileSourceTests {
    static let cases: [WAVCase] = [
        WAVCase(format: .u8, tag: .pcm, channels: 1, rate: 8_000, residualLimit: -40),
        WAVCase(format: .s16, tag: .pcm, channels: 1, rate: 16_000, residualLimit: -80),
        WAVCase(format: .s16, tag: .pcm, channels: 2, rate: 44_100, residualLimit: -80),
        WAVCase(format: .s16, tag: .pcm, channels: 1, rate: 11_025, residualLimit: -80),
        WAVCase(format: .s24Packed, tag: .pcm, channels: 1, rate: 48_000, residualLimit: -80),
        WAVCase(format: .s32, tag: .pcm, channels: 2, rate: 22_050, residualLimit: -80),
        WAVCase(format: .float32, tag: .float, channels: 1, rate: 48_000, residualLimit: -80),
        WAVCase(format: .float64, tag: .float, channels: 1, rate: 32_000, residualLimit: -80),
        WAVCase(format: .s16, tag: .extensible(sub: 1), channels: 2, rate: 48_000, residualLimit: -80),
        WAVCase(format: .float32, tag: .extensible(sub: 3), channels: 1, rate: 44_100, residualLimit: -80),
        WAVCase(format: .s24Packed, tag: .extensible(sub: 1), channels: 6, rate: 48_000, residualLimit: -80),
    ]

    @Test("Given a WAV of a 1 kHz sine in each format, channel count and rate, when read, then 16 kHz mono keeps the tone's frequency and amplitude",
          arguments: cases)
    func decodesAndResamples(_ c: WAVCase) throws {
        // Given: 0.4 s of a 0.5-amplitude 1 kHz sine, the same on every channel.
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = c.rate * 2 / 5
        let mono = TestAudio.sine(frequency: 1000, rate: c.rate, count: frames, amplitude: 0.5)
        let interleaved = mono.flatMap { Array(repeating: $0, count: c.channels) }
        let url = try WAVWriter(format: c.format, channels: c.channels, rate: c.rate, tag: c.tag)
            .write(interleaved, to: dir.appendingPathComponent("tone.wav"))

        // When
        let source = try openAudioSource(.file(path: url.path), logger: TestAudio.logger)
        let samples = try TestAudio.readAll(source, chunk: 777)

        // Then
        #expect(!source.isLive)
        #expect(samples.count == (frames * 16_000 + c.rate - 1) / c.rate)
        #expect(source.counters.samplesDelivered == UInt64(samples.count))
        let middle = samples[200..<(samples.count - 200)].map { Double($0) / 32768 }
        let fit = TestAudio.fit(middle, frequency: 1000, rate: 16_000)
        #expect(abs(TestAudio.decibels(fit.amplitude / 0.5)) < 0.05, "amplitude \(fit.amplitude)")
        #expect(TestAudio.decibels(fit.residualRMS / 0.5) < c.residualLimit, "residual \(TestAudio.decibels(fit.residualRMS / 0.5)) dB")
    }

    @Test("Given a 16 kHz 16-bit mono WAV with unknown chunks (odd-sized too) before and after 'fmt ', when read in any chunk size, then samples pass through exactly",
          arguments: [1, 3, 1000, 5000])
    func passThroughExact(readSize: Int) throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = SystemRandomNumberGenerator()
        let values: [Int16] = [.min, .max, 0, -1, 1] + (0..<9_000).map { _ in Int16.random(in: .min ... .max, using: &generator) }
        var writer = WAVWriter(format: .s16, channels: 1, rate: 16_000)
        writer.leadingChunks = [("LIST", Array("INFOISFT\u{5}\0\0\0hark\0".utf8))]
        writer.middleChunks = [("junk", [1, 2, 3]), ("fact", WAVWriter.le32(values.count))]
        let url = try writer.write(values.map { Double($0) / 32768 }, to: dir.appendingPathComponent("exact.wav"))

        let samples = try TestAudio.readAll(try openAudioSource(.file(path: url.path), logger: TestAudio.logger), chunk: readSize)

        #expect(samples == values)
    }

    @Test("Given a WAV whose 'data' chunk comes before 'fmt ', when read, then the samples are found")
    func dataBeforeFmt() throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var writer = WAVWriter(format: .s16, channels: 1, rate: 16_000)
        writer.dataBeforeFmt = true
        writer.middleChunks = [("odd ", [9])]
        let values: [Int16] = [5, -5, 1000, -32768, 32767]
        let url = try writer.write(values.map { Double($0) / 32768 }, to: dir.appendingPathComponent("late-fmt.wav"))
        #expect(try TestAudio.readAll(try openAudioSource(.file(path: url.path), logger: TestAudio.logger)) == values)
    }

    @Test("Given a streamed WAV whose data size is a placeholder (0xFFFFFFFF, 0x7FFFFFFF, espeak-ng's 0x7FFFF000), when read, then samples run to the end of the file",
          arguments: [UInt32(0xFFFF_FFFF), 0x7FFF_FFFF, 0x7FFF_F000])
    func unknownDataSize(placeholder: UInt32) throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var writer = WAVWriter(format: .s16, channels: 1, rate: 16_000)
        writer.dataSizeOverride = placeholder
        let values: [Int16] = (0..<321).map { Int16($0 * 100 - 16000) }
        let url = try writer.write(values.map { Double($0) / 32768 }, to: dir.appendingPathComponent("stream.wav"))
        #expect(try TestAudio.readAll(try openAudioSource(.file(path: url.path), logger: TestAudio.logger)) == values)
    }

    @Test("Given an open WAV source, when cancelled, then read returns 0 at once")
    func cancel() throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try WAVWriter(format: .s16, channels: 1, rate: 16_000)
            .write([Double](repeating: 0.1, count: 16_000), to: dir.appendingPathComponent("c.wav"))
        let source = try openAudioSource(.file(path: url.path), logger: TestAudio.logger)
        var buffer = [Int16](repeating: 0, count: 100)
        #expect(try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) } == 100)
        source.cancel()
        #expect(try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) } == 0)
    }
}
