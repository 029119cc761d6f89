import Foundation
import HarkTestSupport
import Testing
@testable import HarkAudio

/// ALSAPlayback through alsa-lib's `file` plugin over the `null` PCM, which writes what is played
/// to a raw file (``capturingPlaybackDevice(path:)``).
@Suite("ALSA playback through alsa-lib's file plugin")
struct PlaybackTests {
    @Test("Given a file-plugin playback device, when the chime is played, then the file holds the chime's samples, every non-silent one of them")
    func playsChime() async throws {
        let directory = URL(fileURLWithPath: makeTemporaryDirectory("hark-playback"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chime.raw").path

        try await ALSAPlayback(device: capturingPlaybackDevice(path: path)).play(Chime.samples, rate: Chime.rate)

        let written = try #require(try readRawSamples(path))
        let audible = written.filter { abs(Int($0)) > 32 }.count  // above −60 dBFS
        #expect(written.count == 28_800)
        #expect(written == Chime.samples)
        #expect(audible > 24_000, "\(audible) samples above −60 dBFS")
    }

    @Test("Given a task cancelled before it plays, when play is called, then nothing is opened and no file is written")
    func cancelledBeforeStart() async throws {
        let directory = URL(fileURLWithPath: makeTemporaryDirectory("hark-playback"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chime.raw").path
        let playback = ALSAPlayback(device: capturingPlaybackDevice(path: path))

        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await playback.play(Chime.samples, rate: Chime.rate)
        }
        try await task.value

        #expect(try readRawSamples(path) == nil)
    }

    @Test("Given a PCM name alsa-lib does not know, when played, then one line names the device, snd_pcm_open and what to do")
    func missingDevice() async {
        let error = await #expect(throws: AudioError.self) {
            try await ALSAPlayback(device: "hark_no_such_pcm").play(Chime.samples, rate: Chime.rate)
        }

        #expect(error?.code == .deviceUnavailable)
        let message = error?.message ?? ""
        #expect(message.hasPrefix("cannot open ALSA playback device 'hark_no_such_pcm' (snd_pcm_open: "), "\(message)")
        #expect(message.hasSuffix("): check the playback device name and 'aplay -L'"), "\(message)")
    }
}
