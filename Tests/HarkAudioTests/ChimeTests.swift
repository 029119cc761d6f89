import Testing
@testable import HarkAudio

@Suite("The timer chime")
struct ChimeTests {
    @Test("Given the chime, then it is 0.6 s of 48 kHz samples peaking at half of full scale, starting and ending at zero")
    func shape() {
        let samples = Chime.samples

        #expect(Chime.rate == 48_000)
        #expect(samples.count == 28_800)
        #expect(abs(Int(samples.map { abs(Int($0)) }.max()!) - 16_384) <= 1)
        #expect(samples.first == 0)
        #expect(samples.last == 0)
    }

    @Test("Given the chime, when each note's window is fitted at its frequency, then the note sounds there and not before its onset")
    func notesRise() {
        let signal = Chime.samples.map { Double($0) / 32768 }
        func window(_ start: Double) -> [Double] {
            let first = Int(start * Double(Chime.rate))
            return Array(signal[first..<first + 960])  // 20 ms
        }
        for (onset, frequency) in Chime.notes {
            let during = TestAudio.fit(window(onset + 0.01), frequency: frequency, rate: Chime.rate).amplitude
            #expect(during > 0.1, "\(frequency) Hz at \(onset) s: \(during)")
            if onset > 0 {
                let before = TestAudio.fit(window(onset - 0.03), frequency: frequency, rate: Chime.rate).amplitude
                #expect(before < 0.02, "\(frequency) Hz before \(onset) s: \(before)")
            }
        }
    }

    @Test("Given three repetitions, then they are three chimes with 0.25 s of silence between them")
    func repeated() {
        let ring = Chime.repeated(3)

        #expect(ring.count == 3 * 28_800 + 2 * 12_000)
        #expect(Array(ring[0..<28_800]) == Chime.samples)
        #expect(ring[28_800..<40_800].allSatisfy { $0 == 0 })
        #expect(Array(ring[(2 * 28_800 + 2 * 12_000)...]) == Chime.samples)
    }
}
