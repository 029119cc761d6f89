#if canImport(Glibc)
import Glibc
#endif

/// A short sound made of bell-like notes, the shape shared by the timer ``Chime`` and the
/// ``FeedbackTones``, rendered to S16 mono samples.
///
/// Each note sounds from its onset to the end of the sound: a sine at its fundamental plus an octave
/// partial ``overtone`` times as loud, with a linear attack over ``attack`` seconds and an
/// exponential decay (time constant ``decay`` for the fundamental, half that for the partial). The
/// sum fades out linearly over the last ``fadeOut`` seconds to exactly zero and is scaled so that its
/// loudest sample is ``peak`` of full scale. Every note starts at phase 0 under a zero envelope, so
/// the first sample is zero too: no click at either end.
struct Tone: Sendable {
    /// Onset (s) and fundamental (Hz) of each note.
    var notes: [(onset: Double, frequency: Double)]
    /// Length of the whole sound (s).
    var duration: Double
    /// Rise time of each note (s).
    var attack: Double
    /// Decay time constant of a fundamental (s); its octave partial decays twice as fast.
    var decay: Double
    /// Amplitude of the octave partial relative to the fundamental; 0 for a pure sine.
    var overtone: Double
    /// The closing linear fade (s).
    var fadeOut: Double
    /// Peak amplitude as a fraction of full scale.
    var peak: Double

    /// The sound's samples at `rate` Hz.
    func render(rate: Int) -> [Int16] {
        let count = Int(duration * Double(rate))
        var signal = [Double](repeating: 0, count: count)
        for (onset, frequency) in notes {
            for n in Int(onset * Double(rate))..<count {
                let t = Double(n) / Double(rate) - onset
                let envelope = min(1, t / attack)
                let phase = 2 * Double.pi * frequency * t
                signal[n] += envelope * (exp(-t / decay) * sin(phase) + overtone * exp(-2 * t / decay) * sin(2 * phase))
            }
        }
        let fadeStart = count - Int(fadeOut * Double(rate))
        for n in fadeStart..<count {
            signal[n] *= Double(count - 1 - n) / Double(count - 1 - fadeStart)
        }
        let loudest = signal.reduce(0) { max($0, abs($1)) }
        let scale = peak * 32767 / loudest
        return signal.map { Int16(($0 * scale).rounded()) }
    }
}
