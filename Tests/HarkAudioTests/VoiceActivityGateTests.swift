import Foundation
import Testing
import HarkAudio

/// The gate in front of the wake-word models: closed in silence and steady noise, open for speech-like
/// bursts above the noise, held open a little after them.
@Suite struct VoiceActivityGateTests {
    /// Deterministic white noise at `rms` (full scale 32768).
    func noise(_ count: Int, rms: Double, seed: UInt64) -> [Int16] {
        var state = seed
        return (0..<count).map { _ in
            // Sum of uniforms ≈ Gaussian (Irwin–Hall, 12 terms, variance 1); wrapping is the LCG's definition.
            var sum = 0.0
            for _ in 0..<12 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                sum += Double(state >> 11) / Double(1 << 53)
            }
            return Int16(clamping: Int((sum - 6) * rms))
        }
    }

    /// A 300 Hz tone of peak `amplitude` with a syllable-like envelope (5 Hz).
    func burst(_ count: Int, amplitude: Double) -> [Int16] {
        (0..<count).map { k in
            let t = Double(k) / 16_000
            let envelope = 0.5 * (1 - cos(2 * .pi * 5 * t))
            return Int16(clamping: Int(amplitude * envelope * sin(2 * .pi * 300 * t)))
        }
    }

    func judge(_ gate: inout VoiceActivityGate, _ samples: [Int16]) -> [Bool] {
        var verdicts: [Bool] = []
        samples.withUnsafeBufferPointer { all in
            var start = 0
            while start + 1280 <= all.count {
                verdicts.append(gate.update(UnsafeBufferPointer(rebasing: all[start..<(start + 1280)])))
                start += 1280
            }
        }
        return verdicts
    }

    @Test func digitalSilenceNeverOpens() {
        var gate = VoiceActivityGate()
        #expect(judge(&gate, [Int16](repeating: 0, count: 16_000 * 5)).allSatisfy { !$0 })
    }

    @Test func steadyNoiseClosesWithinTwoSeconds() {
        // Given steady noise at -30 dBFS (a loud fan), the floor is learnt and the gate stays shut.
        var gate = VoiceActivityGate()
        let verdicts = judge(&gate, noise(16_000 * 10, rms: 1036, seed: 1))
        #expect(verdicts.dropFirst(25).allSatisfy { !$0 }, "open on \(verdicts.dropFirst(25).filter { $0 }.count) chunks after 2 s")
        #expect(gate.floorDBFS.map { abs($0 - -30) < 3 } == true, "floor \(String(describing: gate.floorDBFS))")
    }

    @Test func speechLikeBurstsOverNoiseOpenIt() {
        // Given 3 s of noise, then 1 s of syllable-like bursts 10 dB above it, then noise again:
        // the gate opens during the bursts and closes after the hangover.
        var gate = VoiceActivityGate()
        let background = noise(16_000 * 3, rms: 330, seed: 2)
        let loud = zip(burst(16_000, amplitude: 330 * 3.16 * 2), noise(16_000, rms: 330, seed: 3)).map { Int16(clamping: Int($0) + Int($1)) }
        let verdicts = judge(&gate, background + loud + noise(16_000 * 3, rms: 330, seed: 4))
        let during = verdicts[37..<50]
        #expect(during.filter { $0 }.count >= 10, "open on \(during.filter { $0 }.count) of \(during.count) burst chunks")
        #expect(verdicts[70...].allSatisfy { !$0 }, "still open long after the bursts")
    }

    @Test func quietSoundsBelowTheAbsoluteMinimumStayClosed() {
        // Bursts at -70 dBFS in digital silence: above the floor, but too quiet to be a talker.
        var gate = VoiceActivityGate()
        #expect(judge(&gate, burst(16_000 * 3, amplitude: 10)).allSatisfy { !$0 })
    }
}
