import Foundation
import Testing
import HarkTestSupport
@testable import HarkAudio

/// A broken file and the words its error must contain (besides the path).
struct BadWAV: CustomStringConvertible, Sendable {
    var name: String
    var bytes: @Sendable () -> [UInt8]
    var expected: [String]
    var code: AudioError.Code
    var description: String { name }
}

private let tone = TestAudio.sine(frequency: 440, rate: 16_000, count: 100, amplitude: 0.3)

private func wav(_ change: (inout WAVWriter) -> Void = { _ in }) -> [UInt8] {
    var writer = WAVWriter(format: .s16, channels: 1, rate: 16_000)
    change(&writer)
    return writer.bytes(interleaved: tone)
}

@Suite("WAV file errors")
struct WAVErrorTests {
    static let cases: [BadWAV] = [
        BadWAV(name: "ID3 tag (an MP3)", bytes: { Array("ID3\u{3}\0\0\0\0\0\u{1}xxxxxxxxxx".utf8) },
               expected: ["not a RIFF/WAVE file", "ID3"], code: .malformedFile),
        BadWAV(name: "RIFF but AVI", bytes: { Array("RIFF").map { $0.asciiValue! } + WAVWriter.le32(4) + Array("AVI ".utf8) },
               expected: ["not a RIFF/WAVE file"], code: .malformedFile),
        BadWAV(name: "empty", bytes: { [] }, expected: ["0 bytes, too short"], code: .malformedFile),
        BadWAV(name: "no fmt chunk", bytes: { Array("RIFF".utf8) + WAVWriter.le32(16) + Array("WAVE".utf8) + WAVWriter.chunk("data", [0, 0, 1, 0]) },
               expected: ["no 'fmt ' chunk"], code: .malformedFile),
        BadWAV(name: "no data chunk", bytes: { Array("RIFF".utf8) + WAVWriter.le32(28) + Array("WAVE".utf8) + WAVWriter.chunk("fmt ", WAVWriter(format: .s16, channels: 1, rate: 16_000).fmtBody()) },
               expected: ["no 'data' chunk"], code: .malformedFile),
        BadWAV(name: "MP3 in WAV", bytes: { wav { $0.tag = .raw(0x0055) } },
               expected: ["format tag 0x0055 (MP3) is not PCM", "sox in.mp3 -b 16 out.wav"], code: .unsupportedFormat),
        BadWAV(name: "A-law", bytes: { wav { $0.tag = .raw(0x0006); $0.format = .u8 } },
               expected: ["format tag 0x0006 (A-law) is not PCM", "sox in.wav -e signed-integer -b 16 out.wav"], code: .unsupportedFormat),
        BadWAV(name: "truncated just below the streaming placeholders", bytes: { wav { $0.dataSizeOverride = 0x7FFF_EFFF } },
               expected: ["data chunk says 2147479551 bytes but only 200 remain: the file is truncated"], code: .malformedFile),
        BadWAV(name: "EXTENSIBLE with MP3 subformat", bytes: { wav { $0.tag = .extensible(sub: 0x0055) } },
               expected: ["format tag 0x0055 (MP3) is not PCM"], code: .unsupportedFormat),
        BadWAV(name: "12-bit PCM", bytes: { wav { $0.bitsOverride = 12 } },
               expected: ["unsupported bit depth 12"], code: .unsupportedFormat),
        BadWAV(name: "16-bit float", bytes: { wav { $0.tag = .float } },
               expected: ["unsupported bit depth 16 for float"], code: .unsupportedFormat),
        BadWAV(name: "zero channels", bytes: { wav { $0.channels = 0 } }, expected: ["0 channels"], code: .malformedFile),
        BadWAV(name: "zero rate", bytes: { wav { $0.rate = 0 } }, expected: ["sample rate of 0 Hz"], code: .malformedFile),
        BadWAV(name: "truncated data", bytes: { wav { $0.dataSizeOverride = 1000 } },
               expected: ["data chunk says 1000 bytes but only 200 remain: the file is truncated"], code: .malformedFile),
        BadWAV(name: "truncated fmt", bytes: { Array(wav().prefix(30)) },
               expected: ["'fmt ' chunk says 16 bytes but only 10 remain: the file is truncated"], code: .malformedFile),
    ]

    @Test("Given a broken WAV file, when opened, then an AudioError names the file and the problem in one line", arguments: cases)
    func badFile(_ bad: BadWAV) throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.wav").path
        try Data(bad.bytes()).write(to: URL(fileURLWithPath: path))

        let error = #expect(throws: AudioError.self) { try openAudioSource(.file(path: path), logger: TestAudio.logger) }

        #expect(error?.code == bad.code)
        let message = error?.message ?? ""
        #expect(message.contains("'\(path)'"), "\(message)")
        for words in bad.expected { #expect(message.contains(words), "\(message)") }
        #expect(!message.contains("\n"))
    }

    @Test("Given a path that does not exist, when opened, then the error names the path and says so")
    func missingFile() {
        let error = #expect(throws: AudioError.self) {
            try openAudioSource(.file(path: "/nonexistent/hark/x.wav"), logger: TestAudio.logger)
        }
        #expect(error?.code == .fileUnreadable)
        #expect(error?.message.contains("'/nonexistent/hark/x.wav'") == true)
        #expect(error?.message.contains("No such file or directory") == true)
    }

    @Test("Given a directory, when opened as a WAV file, then the error says it is not a regular file")
    func directory() throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: AudioError.self) { try openAudioSource(.file(path: dir.path), logger: TestAudio.logger) }
        #expect(error?.message.contains("not a regular file") == true)
    }

    @Test("Given 400 randomly corrupted WAV headers, when opened and read to the end, then each either reads or throws AudioError (no crash, no hang)")
    func corruptedHeaders() throws {
        let dir = try TestAudio.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SplitMix64(seed: 0x4841524B)
        let original = wav { $0.middleChunks = [("junk", [1, 2, 3])] }
        var opened = 0
        for i in 0..<400 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % 64)
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if i % 5 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            let path = dir.appendingPathComponent("fuzz\(i).wav").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let source = try openAudioSource(.file(path: path), logger: TestAudio.logger)
                _ = try TestAudio.readAll(source, chunk: 512, limit: 1_000_000)
                opened += 1
            } catch let error as AudioError {
                #expect(error.message.contains(path))
            }
        }
        #expect(opened > 0)
    }
}

