#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cheap energy gate in front of the neural models: it answers "could someone be speaking?" for each
/// chunk, so that in silence or steady background noise the wake-word models do not run.
///
/// Per 10 ms sub-frame (160 samples at 16 kHz) it computes the energy in dBFS after a first-order DC
/// blocker, and tracks the noise floor as a running minimum that falls at once and rises slowly
/// (`floorRiseDBPerSecond`), so steady noise (fans, hum, hiss) becomes the floor within seconds while the
/// dips between syllables keep it from following speech. A sub-frame is active when it is
/// `onsetDB` above the floor and above `minimumDBFS`; a chunk is speech when at least
/// `activeSubframes` of its sub-frames are active, and the gate stays open `hangoverChunks` chunks after
/// the last speech chunk. Cost: a multiply-add and a compare per sample.
public struct VoiceActivityGate: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// How far above the noise floor a sub-frame must be to count as active (dB).
        public var onsetDB: Float = 9
        /// Sub-frames quieter than this never count, however low the floor (dBFS).
        public var minimumDBFS: Float = -62
        /// How fast the floor may rise when the level rises (dB per second).
        public var floorRiseDBPerSecond: Float = 1.5
        /// Active 10 ms sub-frames needed to call a chunk speech.
        public var activeSubframes: Int = 2
        /// Chunks the gate stays open after the last speech chunk.
        public var hangoverChunks: Int = 6
        /// Further dB a sub-frame must rise above `onsetDB` to count towards opening the gate (a
        /// stricter gate, the power governor's lever); `activeMask`, which ends utterances, still
        /// uses `onsetDB` alone.
        public var gateMarginDB: Float = 0

        public init() {}
    }

    public static let subframeSamples = 160
    public static let sampleRate: Float = 16_000

    public var configuration: Configuration
    /// The current noise-floor estimate (dBFS), or nil before the first sub-frame.
    public private(set) var floorDBFS: Float?
    /// Chunks judged so far, and how many of them the gate let through.
    public private(set) var chunks = 0
    public private(set) var openChunks = 0
    /// Which 10 ms sub-frames of the last chunk were active: bit k is sub-frame k (up to 64).
    public private(set) var activeMask: UInt64 = 0
    private var hangover = 0
    private var previousInput: Float = 0
    private var previousOutput: Float = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Judges one chunk of 16 kHz samples (any multiple of 160; 1280 for 80 ms). Returns true if the
    /// neural stages should run on it.
    public mutating func update(_ chunk: UnsafeBufferPointer<Int16>) -> Bool {
        let c = configuration
        let rise = c.floorRiseDBPerSecond * Float(Self.subframeSamples) / Self.sampleRate
        var active = 0
        var start = 0
        var mask: UInt64 = 0
        while start + Self.subframeSamples <= chunk.count {
            var energy: Float = 0
            for k in start..<(start + Self.subframeSamples) {
                // DC blocker y[n] = x[n] − x[n−1] + 0.995·y[n−1] (pole at 12.8 Hz for 16 kHz).
                let x = Float(chunk[k])
                let y = x - previousInput + 0.995 * previousOutput
                previousInput = x
                previousOutput = y
                energy += y * y
            }
            // dBFS of the mean square against a full-scale square wave (32768²); +1 avoids log(0).
            let level = 10 * log10f(energy / Float(Self.subframeSamples) + 1) - 90.309
            if let floor = floorDBFS {
                floorDBFS = level < floor ? level : floor + rise
            } else {
                floorDBFS = level
            }
            if level > c.minimumDBFS, level > floorDBFS! + c.onsetDB {
                let index = start / Self.subframeSamples
                if index < 64 { mask |= 1 << UInt64(index) }
                if level > floorDBFS! + c.onsetDB + c.gateMarginDB { active += 1 }
            }
            start += Self.subframeSamples
        }
        chunks += 1
        activeMask = mask
        if active >= c.activeSubframes {
            hangover = c.hangoverChunks
        } else if hangover > 0 {
            hangover -= 1
        } else {
            return false
        }
        openChunks += 1
        return true
    }
}
