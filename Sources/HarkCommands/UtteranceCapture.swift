import HarkAudio

/// Where an utterance starts and ends after the wake word, from the voice-activity detector's
/// 10 ms sub-frames: it starts at the first active sub-frame after the wake event and ends when none
/// has been active for ``Configuration/hangover`` seconds, or at ``Configuration/maxLength``; if
/// nobody speaks within ``Configuration/noSpeechTimeout`` the capture gives up.
///
/// The capture starts with the chunk after the one the wake word fired in, in the same stream, so
/// no audio between the wake word and the command is lost. Times are seconds of audio from the start
/// of the input.
public struct UtteranceCapture: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Silence that ends an utterance (s).
        public var hangover = 0.4
        /// The longest utterance (s); longer speech is cut here.
        public var maxLength = 8.0
        /// How long to wait for speech after the wake word (s).
        public var noSpeechTimeout = 4.0
        /// Consecutive active 10 ms sub-frames needed before speech counts as started (clicks are shorter).
        public var onsetSubframes = 3
        /// The wake word may still be ending when it fires: speech counts only after this many
        /// consecutive quiet sub-frames, or after ``wakeTailLimit`` seconds, whichever comes first.
        public var wakeTailSubframes = 8
        public var wakeTailLimit = 0.5
        public init() {}
    }

    public enum Outcome: Sendable, Equatable {
        /// Still listening.
        case listening
        /// Speech from `start` to `end`; `endpoint` is when the capture decided it had ended.
        case ended(start: Double, end: Double, endpoint: Double, truncated: Bool)
        /// Nobody spoke.
        case timedOut(at: Double)
    }

    public let configuration: Configuration
    /// When the capture began (the end of the wake chunk).
    public let began: Double
    public private(set) var speechStart: Double?
    public private(set) var lastActiveEnd: Double?
    private var activeCount = 0
    private var quietCount = 0
    /// Whether the wake word's tail is over.
    private var settled = false

    public init(configuration: Configuration, began: Double) {
        self.configuration = configuration
        self.began = began
    }

    /// Takes one chunk's activity: `chunkStart` is the audio time of its first sample, `mask` its
    /// active sub-frames (bit k = sub-frame k), `subframes` how many it has.
    public mutating func update(chunkStart: Double, mask: UInt64, subframes: Int) -> Outcome {
        let step = Double(VoiceActivityGate.subframeSamples) / Double(VoiceActivityGate.sampleRate)
        for k in 0..<subframes {
            let t = chunkStart + Double(k) * step
            let active = mask & (1 << UInt64(k)) != 0
            if !settled {
                quietCount = active ? 0 : quietCount + 1
                settled = quietCount >= configuration.wakeTailSubframes || t - began >= configuration.wakeTailLimit
                if !settled { continue }
            }
            if active {
                activeCount += 1
                if speechStart == nil, activeCount >= configuration.onsetSubframes {
                    speechStart = t - Double(configuration.onsetSubframes - 1) * step
                }
                lastActiveEnd = t + step
            } else if speechStart == nil {
                activeCount = 0
            }
            let now = t + step
            if let start = speechStart, let last = lastActiveEnd {
                if now - last >= configuration.hangover - 1e-9 { return .ended(start: start, end: last, endpoint: now, truncated: false) }
                if now - start >= configuration.maxLength - 1e-9 { return .ended(start: start, end: last, endpoint: now, truncated: true) }
            } else if now - began >= configuration.noSpeechTimeout - 1e-9 {
                return .timedOut(at: now)
            }
        }
        return .listening
    }
}
