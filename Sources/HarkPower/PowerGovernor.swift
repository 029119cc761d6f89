/// Holds the always-on stage under a power budget by stepping through levers, in this order:
///
///   1. `stricter_gate`    the voice-activity gate asks for more before the models run: sub-frames 3 dB
///                         further over the noise floor (12 dB instead of 9), 3 of the chunk's 8
///                         instead of 2, 4 chunks of hangover instead of 6, and once it closes the
///                         models stop unless a head's score is at least 0.01 (instead of 0.001);
///   2. `strictest_gate`   more again (15 dB, 4 sub-frames, 2 chunks, 0.1);
///   3. `silent_gaps`      the strictest gate, and the chunks it kept from the models count as silence
///                         when it reopens (their wake-word embeddings are the embedding of silence,
///                         as openWakeWord's buffer starts) instead of being computed then: on speech
///                         the gate opens and closes every few hundred milliseconds, and each
///                         reopening otherwise recomputes up to 16 embeddings and 26 mel chunks. Scores
///                         right after a gap are then approximate (the gap's true embeddings are those
///                         of the room's quiet);
///   4. `wake_stride_2`    the wake-word heads score every 2nd chunk (160 ms) instead of every 80 ms
///                         chunk; the features of the chunks between are still computed, exactly, so
///                         scores stay openWakeWord's, only fewer of them;
///   5. `wake_stride_3`    every 3rd chunk (240 ms);
///   6. `fewer_wake_words` only the first configured wake word stays active;
///   7. `lower_capture_rate` never available: openWakeWord's melspectrogram model and the command
///                         recognizer's acoustic model are 16 kHz models, so audio captured at a lower
///                         rate would have to be resampled back up (more CPU, and without the 4–8 kHz
///                         band the models were trained on). It is listed, and skipped with a log line.
///
/// A lever that cannot apply (the gate switched off in the configuration, a single wake word) is
/// skipped the same way. The governor judges the estimate over `window` seconds of audio. Above the
/// budget it takes the next lever, then waits `dwell` seconds (by default the window's length, so the
/// next judgement sees only the new setting) before another. With every lever taken and still over,
/// it says so once (with the figure) and keeps working. Below `relaxBelow` × budget for `relaxAfter`
/// seconds it gives one lever back; a lever given back that has to be taken again within
/// `relaxAfter` + 2 × dwell doubles that wait (up to 15 min), so it does not oscillate.
public struct PowerGovernor: Sendable {
    public enum Lever: String, Sendable, CaseIterable {
        case stricterGate = "stricter_gate"
        case strictestGate = "strictest_gate"
        case silentGaps = "silent_gaps"
        case wakeStride2 = "wake_stride_2"
        case wakeStride3 = "wake_stride_3"
        case fewerWakeWords = "fewer_wake_words"
        case lowerCaptureRate = "lower_capture_rate"
    }

    public struct Step: Sendable, Equatable {
        public let lever: Lever
        /// Why it cannot apply; nil when it can.
        public let unavailable: String?
    }

    public struct Configuration: Sendable, Equatable {
        /// nil: measure and report only.
        public var budgetMilliwatts: Double?
        /// Seconds of audio the estimate is averaged over.
        public var window = 10.0
        /// Seconds after a change before the next.
        public var dwell = 10.0
        public var relaxBelow = 0.6
        public var relaxAfter = 30.0
        public init(budgetMilliwatts: Double? = nil) { self.budgetMilliwatts = budgetMilliwatts }
    }

    /// What the levers taken so far mean for the pipeline.
    public struct Throttle: Sendable, Equatable {
        /// 0 the configured gate, 1 stricter, 2 strictest, 3 strictest and the gaps it makes count as silence.
        public var gate = 0
        /// The wake-word heads score every `stride`-th chunk.
        public var stride = 1
        /// Only the first wake word is active.
        public var singleWakeWord = false
        public init() {}
    }

    public enum Change: Sendable, Equatable {
        case throttle(lever: Lever, level: Int, estimate: Double)
        case relax(lever: Lever, level: Int, estimate: Double)
        /// Every lever is taken and the estimate is still over the budget.
        case cannotMeet(estimate: Double)
    }

    public let configuration: Configuration
    /// The levers that can apply, in order.
    public let ladder: [Lever]
    /// Those that cannot, with the reason.
    public let skipped: [Step]
    /// How many levers of the ladder are taken.
    public private(set) var level = 0
    private var lastChange = -Double.infinity
    private var underSince: Double?
    private var lastRelax: Double?
    public private(set) var relaxWait: Double
    /// Whether "cannot meet" has been said in this episode (until a lever is given back).
    public private(set) var saidCannotMeet = false

    /// `gate`: whether the voice-activity gate is on; `wakeWords`: how many are configured.
    public init(configuration: Configuration, gate: Bool, wakeWords: Int) {
        self.configuration = configuration
        relaxWait = configuration.relaxAfter
        var steps: [Step] = []
        for lever in Lever.allCases {
            var why: String?
            switch lever {
            case .stricterGate, .strictestGate, .silentGaps:
                if !gate { why = "the voice-activity gate is switched off in the configuration (gate: false)" }
            case .wakeStride2, .wakeStride3:
                break
            case .fewerWakeWords:
                if wakeWords < 2 { why = "only one wake word is configured" }
            case .lowerCaptureRate:
                why = "the wake-word and command models take 16 kHz audio; a lower capture rate would have to be resampled back up"
            }
            steps.append(Step(lever: lever, unavailable: why))
        }
        ladder = steps.filter { $0.unavailable == nil }.map(\.lever)
        skipped = steps.filter { $0.unavailable != nil }
    }

    public var budget: Double? { configuration.budgetMilliwatts }

    /// The levers taken, in order.
    public var taken: [Lever] { Array(ladder.prefix(level)) }

    public var throttle: Throttle {
        var throttle = Throttle()
        for lever in taken {
            switch lever {
            case .stricterGate: throttle.gate = max(throttle.gate, 1)
            case .strictestGate: throttle.gate = max(throttle.gate, 2)
            case .silentGaps: throttle.gate = 3
            case .wakeStride2: throttle.stride = max(throttle.stride, 2)
            case .wakeStride3: throttle.stride = 3
            case .fewerWakeWords: throttle.singleWakeWord = true
            case .lowerCaptureRate: break
            }
        }
        return throttle
    }

    /// Judges the estimate (mW over `configuration.window`) at audio time `t`; a change to apply, or nil.
    public mutating func update(estimate: Double, at t: Double) -> Change? {
        guard let budget = configuration.budgetMilliwatts else { return nil }
        if estimate > budget {
            underSince = nil
            guard t - lastChange >= configuration.dwell else { return nil }
            if level < ladder.count {
                if let relaxed = lastRelax, t - relaxed <= relaxWait + 2 * configuration.dwell {
                    relaxWait = min(2 * relaxWait, 900)
                }
                lastRelax = nil
                level += 1
                lastChange = t
                return .throttle(lever: ladder[level - 1], level: level, estimate: estimate)
            }
            guard !saidCannotMeet else { return nil }
            saidCannotMeet = true
            return .cannotMeet(estimate: estimate)
        }
        // Dips under the budget do not reset "cannot meet": it is said again only after a lever has
        // been given back (a new episode), not every time the 10 s estimate wobbles across the budget.
        guard level > 0, estimate < configuration.relaxBelow * budget else {
            underSince = nil
            return nil
        }
        let since = underSince ?? t
        underSince = since
        guard t - since >= relaxWait, t - lastChange >= configuration.dwell else { return nil }
        level -= 1
        lastChange = t
        lastRelax = t
        underSince = nil
        saidCannotMeet = false
        return .relax(lever: ladder[level], level: level, estimate: estimate)
    }
}
