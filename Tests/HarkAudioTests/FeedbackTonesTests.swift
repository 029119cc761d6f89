import Testing
@testable import HarkAudio

@Suite("The feedback sounds")
struct FeedbackTonesTests {
    static let sounds: [(name: String, samples: [Int16], tone: Tone, longest: Double)] = [
        ("wake", FeedbackTones.wake, FeedbackTones.wakeTone, 0.15),
        ("confirm", FeedbackTones.confirm, FeedbackTones.confirmTone, 0.2),
        ("error", FeedbackTones.error, FeedbackTones.errorTone, 0.35),
    ]

    /// Every fundamental of the three sounds and the chime: the candidates for "the loudest note".
    static let candidates = (sounds.map(\.tone) + [Chime.tone]).flatMap { $0.notes.map(\.frequency) }

    /// The candidate frequency that `samples` (or the window from `start` s, `length` s long) holds most of.
    static func dominant(_ samples: [Int16], start: Double = 0, length: Double? = nil) -> Double {
        let first = Int(start * Double(FeedbackTones.rate))
        let last = length.map { first + Int($0 * Double(FeedbackTones.rate)) } ?? samples.count
        let signal = samples[first..<last].map { Double($0) / 32768 }
        return candidates.max { TestAudio.fit(signal, frequency: $0, rate: FeedbackTones.rate).amplitude < TestAudio.fit(signal, frequency: $1, rate: FeedbackTones.rate).amplitude }!
    }

    @Test("Given each feedback sound, then it is 48 kHz, no longer than its limit, starts and ends at zero and peaks at −6 dBFS", arguments: sounds.indices)
    func shape(index: Int) {
        let (name, samples, _, longest) = Self.sounds[index]

        #expect(FeedbackTones.rate == 48_000)
        #expect(samples.count > 0 && samples.count <= Int(longest * 48_000), "\(name): \(samples.count) samples")
        #expect(samples.first == 0 && samples.last == 0, "\(name)")
        #expect(abs(Int(samples.map { abs(Int($0)) }.max()!) - 16_384) <= 1, "\(name)")
    }

    @Test("Given the three feedback sounds and the chime, when the loudest candidate note of each is found, then all four differ and each is one of its own notes")
    func distinct() {
        let dominants = Self.sounds.map { Self.dominant($0.samples) } + [Self.dominant(Chime.samples)]

        #expect(Set(dominants).count == 4, "\(dominants)")
        for (sound, dominant) in zip(Self.sounds, dominants) {
            #expect(sound.tone.notes.contains { $0.frequency == dominant }, "\(sound.name): \(dominant) Hz")
        }
        #expect(Chime.notes.contains { $0.frequency == dominants[3] })
    }

    @Test("Given wake and confirm, then their second note is higher than the first; given error, lower; and error sits below both")
    func contours() {
        for (name, samples, tone, _) in Self.sounds {
            let (first, second) = (tone.notes[0], tone.notes[1])
            // 20 ms windows 5 ms after each onset: the note just struck is the loudest there.
            #expect(Self.dominant(samples, start: first.onset + 0.005, length: 0.02) == first.frequency, "\(name)")
            #expect(Self.dominant(samples, start: second.onset + 0.005, length: 0.02) == second.frequency, "\(name)")
            #expect((second.frequency > first.frequency) == (name != "error"), "\(name)")
        }
        let highestError = FeedbackTones.errorTone.notes.map(\.frequency).max()!
        #expect(FeedbackTones.wakeTone.notes.allSatisfy { $0.frequency > highestError })
        #expect(FeedbackTones.confirmTone.notes.allSatisfy { $0.frequency > highestError })
    }
}
