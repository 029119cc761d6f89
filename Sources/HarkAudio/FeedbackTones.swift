/// The feedback sounds harkd plays as it listens and acts, S16 mono at 48 kHz, each a ``Tone`` that
/// starts and ends at exactly zero and peaks at half of full scale (−6 dBFS), like the ``Chime``,
/// so the mixer volume decides how loud they are. Frequencies are equal-tempered (A4 = 440 Hz) and
/// none is a note of the chime, which stays the one sound that means "a timer rang".
///
/// | sound | notes | length | character |
/// |---|---|---|---|
/// | ``wake`` | D6 → A6, 50 ms apart | 120 ms | a bright rising blip, short because the user is already speaking |
/// | ``confirm`` | F5 → A5, 70 ms apart | 180 ms | a soft rising third: pure sines, a slower attack |
/// | ``error`` | A4 → E♭4, 150 ms apart | 320 ms | a lower falling tritone |
///
/// Computed once, on first use.
public enum FeedbackTones {
    public static let rate = 48_000

    /// D6 (1174.66 Hz) then A6 (1760 Hz), a rising fifth with the chime's octave partial, decaying fast.
    static let wakeTone = Tone(notes: [(0.0, 1174.66), (0.05, 1760.00)], duration: 0.12,
                               attack: 0.003, decay: 0.035, overtone: 0.3, fadeOut: 0.02, peak: 0.5)
    /// F5 (698.46 Hz) then A5 (880 Hz), a rising major third of pure sines with a 10 ms attack.
    static let confirmTone = Tone(notes: [(0.0, 698.46), (0.07, 880.00)], duration: 0.18,
                                  attack: 0.01, decay: 0.05, overtone: 0, fadeOut: 0.03, peak: 0.5)
    /// A4 (440 Hz) then E♭4 (311.13 Hz), a falling tritone with the octave partial, so small
    /// speakers that barely play 300 Hz still sound it.
    static let errorTone = Tone(notes: [(0.0, 440.00), (0.15, 311.13)], duration: 0.32,
                                attack: 0.005, decay: 0.08, overtone: 0.3, fadeOut: 0.04, peak: 0.5)

    /// Played when the wake word is heard.
    public static let wake: [Int16] = wakeTone.render(rate: rate)
    /// Played when a command was carried out.
    public static let confirm: [Int16] = confirmTone.render(rate: rate)
    /// Played when a command was not understood or failed.
    public static let error: [Int16] = errorTone.render(rate: rate)
}
