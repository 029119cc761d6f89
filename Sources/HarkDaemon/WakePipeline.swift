import HarkAudio
import HarkPower
import HarkWake
import Logging

/// Stage 1 up to the wake word: the voice-activity gate, the wake-word engine, and the threshold and
/// refractory logic that turns scores into `wake` events (one event per spoken wake word).
public final class WakePipeline {
    public struct WakeWord: Sendable, Equatable {
        /// The model file's name without `.onnx`, e.g. "hey_jarvis_v0.1".
        public var model: String
        public var threshold: Float
        public init(model: String, threshold: Float = 0.5) {
            self.model = model
            self.threshold = threshold
        }
        /// The word as events name it: the model name without its version ("hey_jarvis").
        public var word: String {
            guard let match = model.firstMatch(of: /_v[0-9]+(\.[0-9]+)*$/) else { return model }
            return String(model[..<match.range.lowerBound])
        }
    }

    public struct Configuration: Sendable {
        public var modelsDirectory: String
        public var wakeWords: [WakeWord]
        /// After a wake event, the same word cannot fire again for this long, and not before its score
        /// has fallen back below the threshold.
        public var refractorySeconds: Double = 2.0
        /// nil runs the models on every chunk, as openWakeWord does.
        public var gate: VoiceActivityGate.Configuration? = VoiceActivityGate.Configuration()

        public init(modelsDirectory: String, wakeWords: [WakeWord]) {
            self.modelsDirectory = modelsDirectory
            self.wakeWords = wakeWords
        }
    }

    public let configuration: Configuration
    public let engine: WakeWordEngine
    /// The voice-activity detector, run on every chunk: it gates the models (unless
    /// `configuration.gate` is nil) and its sub-frame activity ends the utterances of the command stage.
    public private(set) var activity: VoiceActivityGate
    /// Whether the models skip chunks the detector judges silent.
    public var gates: Bool { configuration.gate != nil }
    private var lastWake: [Double?]
    private var armed: [Bool]
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let heads = configuration.wakeWords.map { word in
            (name: word.model, path: "\(configuration.modelsDirectory)/\(word.model).onnx", threshold: word.threshold)
        }
        engine = try WakeWordEngine(directory: configuration.modelsDirectory, heads: heads)
        activity = VoiceActivityGate(configuration: configuration.gate ?? VoiceActivityGate.Configuration())
        lastWake = Array(repeating: nil, count: heads.count)
        armed = Array(repeating: true, count: heads.count)
    }

    /// Seconds of audio processed so far.
    public var time: Double { Double(engine.chunkIndex * WakeWordEngine.chunkSamples) / Double(WakeWordEngine.sampleRate) }

    /// What the power governor's levers currently ask of the pipeline.
    public private(set) var throttle = PowerGovernor.Throttle()
    private lazy var baseHoldScore = engine.holdScore

    /// Applies the governor's levers: the gate's strictness (over the configured gate: sub-frames must
    /// rise 3 dB more to open it, 3 of them, at most 4 chunks of hangover, and the models stop once it
    /// closes unless a head scores at least 0.01; strictest 6 dB more, 4 sub-frames, 2 chunks, 0.1;
    /// then the same with the chunks the gate kept from the models counted as silence when it reopens;
    /// the activity mask that ends utterances is not changed), the heads' stride, and whether only the
    /// first wake word is scored.
    public func apply(_ throttle: PowerGovernor.Throttle) {
        self.throttle = throttle
        if let base = configuration.gate {
            activity.configuration = Self.gate(base, level: throttle.gate)
            // After the gate closes the models keep running while a head's score is at least this:
            // 0.001 by default, 0.01 and 0.1 at the stricter levels.
            engine.holdScore = [baseHoldScore, 0.01, 0.1][min(throttle.gate, 2)]
            engine.gapsAsSilence = throttle.gate >= 3
        }
        engine.stride = throttle.stride
        for k in engine.activeHeads.indices { engine.activeHeads[k] = k == 0 || !throttle.singleWakeWord }
    }

    /// The gate at a governor level: 0 the configured one, 1 stricter, 2 strictest (and 3).
    public static func gate(_ base: VoiceActivityGate.Configuration, level: Int) -> VoiceActivityGate.Configuration {
        guard level > 0 else { return base }
        var gate = base
        let (margin, subframes, hangover): (Float, Int, Int) = level == 1 ? (3, 3, 4) : (6, 4, 2)
        gate.gateMarginDB = base.gateMarginDB + margin
        gate.activeSubframes = max(base.activeSubframes, subframes)
        gate.hangoverChunks = min(base.hangoverChunks, hangover)
        return gate
    }

    /// Processes one 80 ms chunk and returns the wake events it produced.
    public func process(_ chunk: UnsafeBufferPointer<Int16>) -> [Event] {
        var clock = StageClock()
        return process(chunk, clock: &clock)
    }

    /// The same, with the gate's and the models' CPU time added to `clock`'s `vad` and `wake`.
    public func process(_ chunk: UnsafeBufferPointer<Int16>, clock: inout StageClock) -> [Event] {
        let speech = activity.update(chunk) || !gates
        clock.lap(\.vad)
        let crossed = engine.process(chunk, speech: speech)
        clock.lap(\.wake)
        let now = time
        var events: [Event] = []
        for k in engine.heads.indices {
            let score = engine.scores[k]
            if score < engine.heads[k].threshold, let last = lastWake[k], now - last >= configuration.refractorySeconds {
                armed[k] = true
            }
            guard crossed.contains(k), armed[k] else { continue }
            armed[k] = false
            lastWake[k] = now
            let word = configuration.wakeWords[k].word
            logger.info("wake word", metadata: ["word": "\(word)", "score": "\(score)", "t": "\(now)"])
            events.append(.wake(word: word, score: Double(score), t: now))
        }
        return events
    }
}
