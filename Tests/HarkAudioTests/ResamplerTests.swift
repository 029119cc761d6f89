import Testing
@testable import HarkAudio

/// Runs `input` through a fresh resampler in chunks of the given sizes (cycled), then flushes.
private func resample(_ input: [Double], from inputRate: Int, to outputRate: Int = 16_000, chunks: [Int] = [4096]) throws -> [Double] {
    let resampler = try Resampler(inputRate: inputRate, outputRate: outputRate, maxInputCount: 4096)
    let floats = input.map { Float($0) }
    var output = [Float](repeating: 0, count: resampler.maxOutputCount(forInput: 4096))
    var result: [Double] = []
    var start = 0
    var c = 0
    while start < floats.count {
        let n = min(chunks[c % chunks.count], floats.count - start)
        c += 1
        let produced = floats[start..<(start + n)].withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { resampler.process(inBuf, into: $0) }
        }
        result += output[..<produced].map(Double.init)
        start += n
    }
    let tail = output.withUnsafeMutableBufferPointer { resampler.flush(into: $0) }
    result += output[..<tail].map(Double.init)
    return result
}

/// Drops `edge` samples at both ends, where the filter sees the silence before and after.
private func middle(_ x: [Double], edge: Int = 200) -> [Double] { Array(x[edge..<(x.count - edge)]) }

@Suite("Resampler")
struct ResamplerTests {
    @Test("Given a 1 kHz sine at 48k, 44.1k, 22.05k, 8k and 11.025k, when resampled to 16k, then frequency and amplitude are kept",
          arguments: [48_000, 44_100, 22_050, 11_025, 8_000, 32_000])
    func sineKeepsFrequencyAndAmplitude(rate: Int) throws {
        let input = TestAudio.sine(frequency: 1000, rate: rate, count: rate / 2, amplitude: 0.5)
        let output = try resample(input, from: rate)
        // Then: exactly ceil(n · 16000 / rate) samples come out,
        #expect(output.count == (input.count * 16_000 + rate - 1) / rate)
        // and the middle is a 1 kHz sine of amplitude 0.5 (±0.01 dB) with everything else ≥ 80 dB down.
        let fit = TestAudio.fit(middle(output), frequency: 1000, rate: 16_000)
        #expect(abs(TestAudio.decibels(fit.amplitude / 0.5)) < 0.01, "amplitude \(fit.amplitude)")
        #expect(TestAudio.decibels(fit.residualRMS / 0.5) < -80, "residual \(TestAudio.decibels(fit.residualRMS / 0.5)) dB")
    }

    @Test("Given a sine at zero phase, when resampled 48k→16k, then output sample n equals input sample 3n (zero delay)")
    func zeroDelay() throws {
        let input = TestAudio.sine(frequency: 440, rate: 48_000, count: 9600, amplitude: 0.5)
        let output = try resample(input, from: 48_000)
        for n in stride(from: 200, to: 3000, by: 97) {
            #expect(abs(output[n] - input[3 * n]) < 1e-4)
        }
    }

    @Test("Given tones above 8 kHz at 48k and 44.1k, when resampled to 16k, then their aliases are ≥ 75 dB down",
          arguments: [(48_000, 8_500.0), (48_000, 9_000.0), (48_000, 12_000.0), (48_000, 20_000.0), (44_100, 9_000.0), (44_100, 15_000.0)])
    func aliasesAreRejected(rate: Int, frequency: Double) throws {
        let input = TestAudio.sine(frequency: frequency, rate: rate, count: rate / 2, amplitude: 0.5)
        let output = try resample(input, from: rate)
        let attenuation = TestAudio.decibels(TestAudio.rms(middle(output)) * 2.squareRoot() / 0.5)
        print("alias rejection \(rate) Hz → 16 kHz, tone \(frequency) Hz: \(attenuation) dB")
        #expect(attenuation < -75)
    }

    @Test("Given tones inside the 0–7 kHz passband, when resampled 48k→16k, then their level changes by < 0.01 dB",
          arguments: [100.0, 3_000.0, 6_000.0, 7_000.0])
    func passbandIsFlat(frequency: Double) throws {
        let input = TestAudio.sine(frequency: frequency, rate: 48_000, count: 24_000, amplitude: 0.5)
        let output = try resample(input, from: 48_000)
        let fit = TestAudio.fit(middle(output), frequency: frequency, rate: 16_000)
        print("passband 48 kHz → 16 kHz, tone \(frequency) Hz: \(TestAudio.decibels(fit.amplitude / 0.5)) dB")
        #expect(abs(TestAudio.decibels(fit.amplitude / 0.5)) < 0.01)
    }

    @Test("Given the same signal, when fed in odd chunk sizes instead of one block, then the output is identical",
          arguments: [48_000, 44_100, 8_000])
    func chunkingDoesNotMatter(rate: Int) throws {
        let input = TestAudio.sine(frequency: 1234, rate: rate, count: 20_000, amplitude: 0.7)
        let whole = try resample(input, from: rate, chunks: [4096])
        let pieces = try resample(input, from: rate, chunks: [1, 7, 160, 3, 4096, 999, 2])
        #expect(whole == pieces)
    }

    @Test("Given a constant input, when resampled 44.1k→16k, then the output settles to the same constant (unit DC gain)")
    func dcGainIsOne() throws {
        let output = try resample([Double](repeating: 0.25, count: 44_100), from: 44_100)
        #expect(middle(output).allSatisfy { abs($0 - 0.25) < 1e-5 })
    }

    @Test("Given the rate pairs Hark meets, then the filter sizes are what the design formula gives")
    func filterSizes() throws {
        let r48 = try Resampler(inputRate: 48_000, outputRate: 16_000, maxInputCount: 1024)
        let r44 = try Resampler(inputRate: 44_100, outputRate: 16_000, maxInputCount: 1024)
        #expect((r48.up, r48.down, r48.taps) == (1, 3, 168))
        #expect((r44.up, r44.down) == (160, 441))
        print("taps: 48k→16k \(r48.taps) (×1 phase), 44.1k→16k \(r44.taps) (×\(r44.up) phases)")
    }

    @Test("Given a rate pair whose reduced ratio needs a huge table, then init throws a one-line error naming both rates")
    func pathologicalRatio() {
        #expect {
            _ = try Resampler(inputRate: 47_999, outputRate: 16_000, maxInputCount: 1024)
        } throws: { error in
            "\(error)".contains("47999 Hz") && "\(error)".contains("16000 Hz")
        }
    }
}
