import Testing
@testable import HarkAudio

/// Decodes `bytes` (frames × channels samples of `format`) with HarkAudio's decoder.
private func decode(_ bytes: [UInt8], _ format: SampleFormat, channels: Int) -> [Float] {
    let frames = bytes.count / (format.bytesPerSample * channels)
    var out = [Float](repeating: .nan, count: frames)
    bytes.withUnsafeBytes { raw in
        out.withUnsafeMutableBufferPointer { format.decodeMono(raw.baseAddress!, frames: frames, channels: channels, into: $0.baseAddress!) }
    }
    return out
}

@Suite("Sample formats")
struct SampleFormatTests {
    static let values: [Double] = [0, 0.5, -0.5, 0.25, -1, 0.999, -0.001]
    /// Each format and the largest decoding error allowed (one quantisation step; 1e-7 for formats finer than Float).
    static let formats: [(SampleFormat, Double)] = [
        (.u8, 1.0 / 128), (.s16, 1.0 / 32768), (.s24, 1.0 / 8_388_608), (.s24Packed, 1.0 / 8_388_608),
        (.s32, 1e-7), (.float32, 1e-7), (.float64, 1e-7),
    ]

    @Test("Given values encoded in each format by the test's own encoder, when decoded, then they come back within one step of that format",
          arguments: Self.formats)
    func roundTrip(format: SampleFormat, step: Double) {
        let decoded = decode(encode(Self.values, as: format), format, channels: 1)
        for (want, got) in zip(Self.values, decoded) {
            #expect(abs(Double(got) - want) <= step, "\(format): \(want) → \(got)")
        }
    }

    @Test("Given extreme codes, when decoded, then the most negative is exactly -1 and the sign bit of 24-bit data is honoured")
    func extremes() {
        #expect(decode([0x00, 0x80], .s16, channels: 1) == [-1])
        #expect(decode([0x00, 0x00, 0x80], .s24Packed, channels: 1) == [-1])
        #expect(decode([0xFF, 0xFF, 0xFF], .s24Packed, channels: 1) == [-1 / 8_388_608])
        // S24_LE: the top byte of the 32-bit container is ignored.
        #expect(decode([0x00, 0x00, 0x80, 0x00], .s24, channels: 1) == [-1])
        #expect(decode([0x00, 0x00, 0x40, 0xFF], .s24, channels: 1) == [0.5])
        #expect(decode([0x00], .u8, channels: 1) == [-1])
        #expect(decode([0x80], .u8, channels: 1) == [0])
    }

    @Test("Given stereo and 6-channel frames, when decoded, then each output sample is the mean of its channels")
    func downmix() {
        let stereo = decode(encode([0.5, -0.25, 1.0 / 8, 1.0 / 8], as: .s16), .s16, channels: 2)
        #expect(stereo == [0.125, 0.125])
        let six = decode(encode([0.6, 0.6, 0, 0, -0.6, 0.6], as: .float32), .float32, channels: 6)
        #expect(abs(six[0] - 0.2) < 1e-6)
    }

    @Test("Given floats, when quantised to S16, then values round to nearest, clip at full scale, and NaN becomes 0")
    func quantise() {
        #expect(int16Sample(0) == 0)
        #expect(int16Sample(0.5) == 16384)
        #expect(int16Sample(1.4 / 32768) == 1)
        #expect(int16Sample(-1.6 / 32768) == -2)
        #expect(int16Sample(1) == 32767)
        #expect(int16Sample(3) == 32767)
        #expect(int16Sample(-1) == -32768)
        #expect(int16Sample(-7) == -32768)
        #expect(int16Sample(.infinity) == 32767)
        #expect(int16Sample(-.infinity) == -32768)
        #expect(int16Sample(.nan) == 0)
    }

    @Test("Given S16 mono 16 kHz frames, when converted, then every sample passes through exactly, across pushes")
    func passThroughIsExact() throws {
        let converter = try SampleConverter(format: .hark, maxFrames: 64)
        let samples: [Int16] = (0..<100).map { Int16(truncatingIfNeeded: $0 * 7919 - 32768) } + [.min, .max, 0, -1, 1]
        var out: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 10)
        var start = 0
        while start < samples.count {
            let n = min(64, samples.count - start)
            samples[start..<(start + n)].withUnsafeBytes { converter.push($0.baseAddress!, frames: n) }
            while converter.pendingCount > 0 {
                let got = buffer.withUnsafeMutableBufferPointer { converter.drain(into: $0) }
                out += buffer[..<got]
            }
            start += n
        }
        #expect(out == samples)
    }
}
