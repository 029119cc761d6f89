import Foundation
import HarkAudio
import HarkTestSupport
import Logging
import Synchronization
import Testing
@testable import HarkDaemon

/// Feedback through alsa-lib's `file` plugin (``capturingPlaybackDevice(path:)``), which writes what
/// is played to a raw file, created (or truncated) each time a sound opens the device.
@Suite struct FeedbackTests {
    @Test func givenAFilePluginDevice_whenWakeIsPlayed_thenTheFileHoldsExactlyTheWakeSamples() async throws {
        let directory = makeTemporaryDirectory("hark-feedback")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/feedback.raw"
        let log = FeedbackLog()
        let feedback = Feedback(configuration: .init(device: capturingPlaybackDevice(path: path)), logger: log.logger)

        feedback.play(.wake)

        #expect(await eventually(timeout: .seconds(10)) { written(path) == FeedbackTones.wake }, "\(written(path)?.count ?? -1) samples")
        await feedback.shutdown()
        #expect(log.warnings.isEmpty, "\(log.warnings)")
    }

    @Test func givenWakeSwitchedOff_whenWakeIsPlayed_thenNothingIsWritten_andConfirmStillIs() async throws {
        let directory = makeTemporaryDirectory("hark-feedback")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/feedback.raw"
        let feedback = Feedback(configuration: .init(device: capturingPlaybackDevice(path: path), wake: false), logger: FeedbackLog().logger)

        feedback.play(.wake)
        try await Task.sleep(for: .milliseconds(300))  // a queued sound would have been written by now

        #expect(!FileManager.default.fileExists(atPath: path))
        feedback.play(.confirm)
        #expect(await eventually(timeout: .seconds(10)) { written(path) == FeedbackTones.confirm })
        await feedback.shutdown()
    }

    @Test func givenFeedbackDisabled_whenEverySoundIsPlayed_thenTheDeviceIsNeverOpened() async throws {
        let directory = makeTemporaryDirectory("hark-feedback")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/feedback.raw"
        let log = FeedbackLog()
        var configuration = Feedback.Configuration.disabled
        configuration.device = capturingPlaybackDevice(path: path)
        let feedback = Feedback(configuration: configuration, logger: log.logger)

        for sound in Feedback.Sound.allCases { feedback.play(sound) }
        try await Task.sleep(for: .milliseconds(300))
        await feedback.shutdown()

        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(log.warnings.isEmpty)
    }

    @Test func givenASoundPlaying_whenFourMoreArePlayedInARow_thenOnlyTheLastOfThemFollows() async throws {
        let directory = makeTemporaryDirectory("hark-feedback")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/feedback.raw"
        let player = RecordingPlayer(device: capturingPlaybackDevice(path: path), holding: true)
        let feedback = Feedback(configuration: .init(), logger: FeedbackLog().logger, player: player.play)

        // Given: wake has reached the player and is held there, i.e. it is playing.
        feedback.play(.wake)
        #expect(await eventually(timeout: .seconds(10)) { player.played == [.wake] })
        // When: four more, faster than a sound lasts.
        for sound: Feedback.Sound in [.confirm, .error, .confirm, .error] { feedback.play(sound) }
        player.release()

        // Then: after wake, only the last (error) plays, and it is what the device was given last.
        #expect(await eventually(timeout: .seconds(10)) { written(path) == FeedbackTones.error })
        try await Task.sleep(for: .milliseconds(300))
        #expect(player.played == [.wake, .error])
        await feedback.shutdown()
    }

    @Test func givenAnIdleWorker_whenFiveSoundsArePlayedInARow_thenAtMostTwoPlayAndTheLastIsTheLastRequested() async throws {
        let directory = makeTemporaryDirectory("hark-feedback")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/feedback.raw"
        // Held, so a first sound the worker takes at once cannot end before the fifth is requested.
        let player = RecordingPlayer(device: capturingPlaybackDevice(path: path), holding: true)
        let feedback = Feedback(configuration: .init(), logger: FeedbackLog().logger, player: player.play)

        for sound: Feedback.Sound in [.error, .wake, .error, .wake, .confirm] { feedback.play(sound) }
        player.release()

        #expect(await eventually(timeout: .seconds(10)) { written(path) == FeedbackTones.confirm })
        try await Task.sleep(for: .milliseconds(300))
        let played = player.played
        #expect(played == [.confirm] || played == [.error, .confirm], "\(played)")
        await feedback.shutdown()
    }

    @Test func givenASoundPlayingAndOneWaiting_whenShutDown_thenBothStop_andLaterSoundsAreIgnored() async throws {
        let directory = makeTemporaryDirectory("hark-feedback")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/feedback.raw"
        let player = RecordingPlayer(device: capturingPlaybackDevice(path: path), holding: true)
        let feedback = Feedback(configuration: .init(), logger: FeedbackLog().logger, player: player.play)
        feedback.play(.wake)
        #expect(await eventually(timeout: .seconds(10)) { player.played == [.wake] })
        feedback.play(.error)

        // Returns only once the worker has ended: the held wake is cancelled (ALSAPlayback opens
        // nothing for a cancelled task) and the waiting error is dropped.
        await feedback.shutdown()
        feedback.play(.confirm)
        try await Task.sleep(for: .milliseconds(300))

        #expect(player.played == [.wake])
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func givenAPCMNameALSADoesNotKnow_whenSoundsArePlayed_thenOneWarningNamesTheError_andNothingIsThrown() async throws {
        let log = FeedbackLog()
        let feedback = Feedback(configuration: .init(device: "hark_no_such_pcm"), logger: log.logger)

        feedback.play(.wake)

        #expect(await eventually(timeout: .seconds(10)) { !log.warnings.isEmpty })
        let warning = log.warnings.first ?? ""
        #expect(warning.contains("feedback sound not played"), "\(warning)")
        #expect(warning.contains("cannot open ALSA playback device 'hark_no_such_pcm' (snd_pcm_open: "), "\(warning)")
        #expect(warning.contains("sound=wake"), "\(warning)")
        await feedback.shutdown()
    }

    @Test func givenTheSameFailureThreeTimes_thenItIsLoggedOnce() async throws {
        let log = FeedbackLog()
        let player = RecordingPlayer(device: "hark_no_such_pcm", holding: false)
        let feedback = Feedback(configuration: .init(), logger: log.logger, player: player.play)

        // One at a time: the worker takes a sound only after the one before has failed and been logged.
        feedback.play(.wake)
        #expect(await eventually(timeout: .seconds(10)) { player.played.count == 1 })
        feedback.play(.confirm)
        #expect(await eventually(timeout: .seconds(10)) { player.played.count == 2 })
        feedback.play(.error)
        #expect(await eventually(timeout: .seconds(10)) { player.played.count == 3 })

        #expect(log.warnings.count == 1, "\(log.warnings)")
        #expect(log.warnings.first?.contains("sound=wake") == true)
        await feedback.shutdown()
    }
}

/// What the file plugin wrote to `path`, nil if nothing opened it.
private func written(_ path: String) -> [Int16]? {
    (try? readRawSamples(path)) ?? nil
}

/// Stands between Feedback and the real ``ALSAPlayback``: records which sound each call plays and,
/// while holding, keeps the call waiting before it plays (a sound that lasts until ``release()`` or
/// until its task is cancelled).
private final class RecordingPlayer: Sendable {
    let playback: ALSAPlayback
    private let calls = Mutex<[Feedback.Sound]>([])
    private let holding: Atomic<Bool>

    init(device: String, holding: Bool) {
        playback = ALSAPlayback(device: device)
        self.holding = Atomic(holding)
    }

    var played: [Feedback.Sound] { calls.withLock { $0 } }

    func release() { holding.store(false, ordering: .releasing) }

    func play(_ samples: [Int16], rate: Int) async throws(AudioError) {
        let sound = Feedback.Sound.allCases.first { $0.samples == samples }!
        calls.withLock { $0.append(sound) }
        while holding.load(ordering: .acquiring), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
        try await playback.play(samples, rate: rate)
    }
}

/// Keeps the warnings logged, with their metadata as `key=value`.
private final class FeedbackLog: Sendable {
    private let lines = Mutex<[String]>([])
    var warnings: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "hark.test.feedback") { _ in Handler(records: self) }
    }

    struct Handler: LogHandler {
        let records: FeedbackLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning

        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            records.lines.withLock { $0.append("\(event.message) \(metadata)") }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
    }
}
