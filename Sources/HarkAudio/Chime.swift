/// The timer chime: three bell-like tones rising through a major triad (C6, E6, G6, onsets 0.15 s
/// apart), each a sine with a softer octave partial, a 5 ms attack and an exponential decay, 0.6 s
/// in all, S16 mono at 48 kHz, peaking at half of full scale (−6 dBFS) so the mixer volume decides
/// how loud it is. It starts and ends at exactly zero (a 50 ms fade-out closes it), so no click.
///
/// Computed once, on first use.
public enum Chime {
    public static let rate = 48_000
    public static let duration = 0.6
    /// Onset (s) and fundamental (Hz) of each tone: C6, E6, G6 in equal temperament (A4 = 440 Hz).
    static let notes: [(onset: Double, frequency: Double)] = [(0.0, 1046.50), (0.15, 1318.51), (0.30, 1567.98)]
    /// Attack 5 ms, decay 0.11 s, octave partial at 0.3, 50 ms fade-out, peak −6 dBFS.
    static let tone = Tone(notes: notes, duration: duration, attack: 0.005, decay: 0.11, overtone: 0.3, fadeOut: 0.05, peak: 0.5)

    /// The chime's samples.
    public static let samples: [Int16] = tone.render(rate: rate)

    /// `times` chimes, each followed by `gap` seconds of silence but the last.
    public static func repeated(_ times: Int, gap: Double = 0.25) -> [Int16] {
        let silence = [Int16](repeating: 0, count: Int(gap * Double(rate)))
        var out: [Int16] = []
        for index in 0..<max(0, times) {
            if index > 0 { out += silence }
            out += samples
        }
        return out
    }
}
