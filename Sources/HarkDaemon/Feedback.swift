import HarkAudio
import Logging

/// Audible feedback through ALSA playback: a short blip when the wake word is heard, a soft "done"
/// when a command was carried out, a low falling tone when it was not (``FeedbackTones``).
///
/// ``play(_:)`` never waits: it hands the sound to a worker task and returns at once, so the
/// real-time audio thread may call it. The worker plays one sound at a time with ``ALSAPlayback``,
/// which opens the device for each sound and closes it afterwards, so Hark holds no playback device
/// between sounds. While one sound plays at most one waits: a newer request replaces the waiting
/// one (an `AsyncStream` buffering the newest 1), so feedback never piles up behind a slow device
/// and the last sound asked for is the last one heard. A playing sound is never cut short by a new one.
///
/// A sound that cannot be played is logged as a warning once per distinct error message (a missing
/// sound card would otherwise warn at every wake word) and never thrown: Hark works without feedback.
///
/// With ``Configuration/enabled`` false (``Configuration/disabled``, what a dry run passes) there is no
/// worker and no device is ever opened; ``play(_:)`` does nothing. A sound switched off on its own
/// (``Configuration/wake``, …) is dropped in ``play(_:)`` the same way.
///
/// ``shutdown()`` stops a playing sound (within about 50 ms, see ``ALSAPlayback``), drops the waiting
/// one and returns once the worker has ended; later calls to ``play(_:)`` do nothing.
public final class Feedback: Sendable {
    public enum Sound: Sendable, CaseIterable {
        /// The wake word was heard: ``FeedbackTones/wake``.
        case wake
        /// A command was carried out: ``FeedbackTones/confirm``.
        case confirm
        /// A command was not understood, refused or failed: ``FeedbackTones/error``.
        case error
    }

    public struct Configuration: Sendable, Equatable {
        /// The master switch: false plays nothing and opens no device.
        public var enabled: Bool
        /// The ALSA playback PCM (`aplay -L`): `default`, `plughw:1,0`, …
        public var device: String
        public var wake: Bool
        public var confirm: Bool
        public var error: Bool

        public init(enabled: Bool = true, device: String = "default", wake: Bool = true, confirm: Bool = true, error: Bool = true) {
            self.enabled = enabled
            self.device = device
            self.wake = wake
            self.confirm = confirm
            self.error = error
        }

        /// No feedback at all, no device opened: harkd's `--dry-run`.
        public static let disabled = Configuration(enabled: false)

        /// Whether `sound` is played: the master switch and the sound's own.
        public func plays(_ sound: Sound) -> Bool {
            guard enabled else { return false }
            switch sound {
            case .wake: return wake
            case .confirm: return confirm
            case .error: return error
            }
        }
    }

    /// Plays S16 mono samples at a rate to the end; ``ALSAPlayback/play(_:rate:)`` but for tests.
    typealias Player = @Sendable (_ samples: [Int16], _ rate: Int) async throws(AudioError) -> Void

    public let configuration: Configuration
    /// Requests to the worker; nil when disabled.
    private let requests: AsyncStream<Sound>.Continuation?
    private let worker: Task<Void, Never>?

    public convenience init(configuration: Configuration, logger: Logger) {
        let playback = ALSAPlayback(device: configuration.device)
        self.init(configuration: configuration, logger: logger) { samples, rate throws(AudioError) in
            try await playback.play(samples, rate: rate)
        }
    }

    init(configuration: Configuration, logger: Logger, player: @escaping Player) {
        self.configuration = configuration
        guard configuration.enabled else {
            requests = nil
            worker = nil
            return
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Sound.self, bufferingPolicy: .bufferingNewest(1))
        requests = continuation
        worker = Task { await Self.run(stream, player: player, logger: logger) }
    }

    deinit {
        // Lets the worker end after the sound it is playing.
        requests?.finish()
    }

    /// Plays `sound` in the background if the configuration allows it; returns at once.
    public func play(_ sound: Sound) {
        guard configuration.plays(sound) else { return }
        requests?.yield(sound)
    }

    /// Stops the sound playing, drops the one waiting and waits for the worker to end.
    public func shutdown() async {
        requests?.finish()
        worker?.cancel()
        await worker?.value
    }

    /// The worker: each sound in turn, failures logged once per message.
    private static func run(_ requests: AsyncStream<Sound>, player: Player, logger: Logger) async {
        var logged: Set<String> = []  // distinct messages: a handful (no device, busy, wrong format)
        for await sound in requests {
            // After shutdown the stream still hands out the sound it buffered: drop it.
            guard !Task.isCancelled else { return }
            do throws(AudioError) {
                try await player(sound.samples, FeedbackTones.rate)
            } catch {
                guard logged.insert(error.message).inserted else { continue }
                logger.warning("feedback sound not played; this error is not logged again", metadata: [
                    "sound": "\(sound)", "error": "\(error.message)",
                ])
            }
        }
    }
}

extension Feedback.Sound {
    var samples: [Int16] {
        switch self {
        case .wake: FeedbackTones.wake
        case .confirm: FeedbackTones.confirm
        case .error: FeedbackTones.error
        }
    }
}
