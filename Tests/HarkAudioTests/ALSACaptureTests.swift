import Foundation
import Testing
import HarkTestSupport
@testable import HarkAudio

#if canImport(Glibc)
import Glibc
#endif

/// Virtual ALSA capture devices built from alsa-lib's `file` plugin (DESIGN §5): `infile`
/// supplies the frames `snd_pcm_readi` returns, `slave.pcm "null"` stands in for hardware.
///
/// alsa-lib reads its configuration once and caches it, so every test PCM lives in one file,
/// written and named in `ALSA_CONFIG_PATH` before this process first opens a PCM. It includes
/// the system `alsa.conf` first so the standard PCMs (`null`, …) stay defined.
enum ALSAFixture {
    /// `hark_test_in`: S16_LE 16 kHz mono, 0.5 s of pseudo-random samples.
    static let in16: [Int16] = {
        var rng = SplitMix64(seed: 16)
        return (0..<8_000).map { _ in Int16(truncatingIfNeeded: rng.next()) }
    }()
    /// `hark_test_in48`: S32_LE 48 kHz stereo, 0.5 s of a 1 kHz sine of amplitude 0.5 on both channels.
    static let in48 = TestAudio.sine(frequency: 1000, rate: 48_000, count: 24_000, amplitude: 0.5)

    static let directory: URL = {
        let dir = try! TestAudio.temporaryDirectory()
        let raw16 = dir.appendingPathComponent("in16.raw")
        let raw48 = dir.appendingPathComponent("in48.raw")
        try! Data(in16.withUnsafeBytes { Array($0) }).write(to: raw16)
        try! Data(encode(in48.flatMap { [$0, $0] }, as: .s32)).write(to: raw48)
        let config = """
            </usr/share/alsa/alsa.conf>
            pcm.hark_test_in { type file; slave.pcm "null"; file "/dev/null"; infile "\(raw16.path)"; format "raw" }
            pcm.hark_test_in48 { type file; slave.pcm "null"; file "/dev/null"; infile "\(raw48.path)"; format "raw" }
            """
        let configURL = dir.appendingPathComponent("asound.conf")
        try! config.write(to: configURL, atomically: true, encoding: .utf8)
        setenv("ALSA_CONFIG_PATH", configURL.path, 1)
        return dir
    }()

    /// Makes sure the configuration is in place; call before any ALSA open.
    static func setUp() { _ = directory }
}

/// Reads exactly `count` samples (the file plugin may pad with zeros after its file ends).
private func read(_ source: any AudioSource, count: Int, chunk: Int = 500) throws -> [Int16] {
    var out: [Int16] = []
    var buffer = [Int16](repeating: 0, count: chunk)
    while out.count < count {
        let want = min(chunk, count - out.count)
        let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: UnsafeMutableBufferPointer(rebasing: $0[..<want])) }
        if n == 0 { break }
        out += buffer[..<n]
    }
    return out
}

@Suite("ALSA capture through alsa-lib's file plugin", .serialized)
struct ALSACaptureTests {
    init() { ALSAFixture.setUp() }

    @Test("Given a file-plugin PCM over a raw S16_LE 16 kHz mono file, when opened as alsa:hark_test_in and read, then snd_pcm_readi delivers the file's samples exactly")
    func readsRawFileThroughALSA() throws {
        let source = try openAudioSource(try AudioInput(parsing: "alsa:hark_test_in"), logger: TestAudio.logger)

        let samples = try read(source, count: ALSAFixture.in16.count)

        #expect(source.isLive)
        #expect((source as? ALSACaptureSource)?.captureFormat == .hark)
        #expect(samples == ALSAFixture.in16)
        #expect(source.counters == AudioCounters(samplesDelivered: UInt64(ALSAFixture.in16.count)))
    }

    @Test("Given a file-plugin PCM holding 48 kHz stereo S32_LE, when captured as S32_LE/2ch/48 kHz, then the converter delivers the 1 kHz tone at 16 kHz mono")
    func convertsThroughALSA() throws {
        var options = AudioSourceOptions()
        options.captureFormat = CaptureFormat(sampleFormat: .s32, channels: 2, rate: 48_000)
        let source = try openAudioSource(.alsa(device: "hark_test_in48"), options: options, logger: TestAudio.logger)

        let samples = try read(source, count: 7_500)

        #expect((source as? ALSACaptureSource)?.captureFormat == options.captureFormat)
        #expect(samples.count == 7_500)
        // Zero-delay resampling: sample n is the sine at n / 16000 s, within 2 LSB after the filter's start-up.
        let expected = TestAudio.sine(frequency: 1000, rate: 16_000, count: 7_500, amplitude: 0.5)
        let worst = (200..<7_500).map { abs(Double(samples[$0]) - expected[$0] * 32768) }.max()!
        #expect(worst <= 2, "worst error \(worst) LSB")
    }

    @Test("Given a PCM name alsa-lib does not know, when opened, then a one-line AudioError names the device, snd_pcm_open and what to do",
          arguments: ["hark_no_such_pcm", "hw:9"])
    func nonexistentDevice(device: String) {
        let error = #expect(throws: AudioError.self) {
            try openAudioSource(.alsa(device: device), logger: TestAudio.logger)
        }
        #expect(error?.code == .deviceUnavailable)
        let message = error?.message ?? ""
        #expect(message.hasPrefix("cannot open ALSA capture device '\(device)' (snd_pcm_open: "), "\(message)")
        #expect(message.hasSuffix("): check --input and 'arecord -L'"), "\(message)")
        #expect(!message.contains("\n"))
        #expect(error?.systemErrorCode != nil)
    }

    @Test("Given retryOpen and a device that does not exist, when read, then it keeps retrying with backoff until cancel() makes read return 0")
    func retryOpenUntilCancelled() throws {
        var options = AudioSourceOptions(retryOpen: true)
        options.reopenInitialDelayMilliseconds = 20
        let source = try openAudioSource(.alsa(device: "hark_no_such_pcm"), options: options, logger: TestAudio.logger)
        Thread { usleep(300_000); source.cancel() }.start()
        let started = ContinuousClock.now

        let samples = try read(source, count: 100)

        #expect(samples.isEmpty)
        #expect(ContinuousClock.now - started < .milliseconds(700))
        #expect(source.counters.reopens == 0)
    }

    @Test("Given a live ALSA source, when cancel() is called, then the next read returns 0")
    func cancelLiveSource() throws {
        let source = try openAudioSource(.alsa(device: "hark_test_in"), logger: TestAudio.logger)
        #expect(try read(source, count: 100).count == 100)
        source.cancel()
        #expect(try read(source, count: 100).isEmpty)
    }
}
