import Foundation
import HarkAudio
import HarkWake
import HarkTestSupport
import Testing

/// Given test recordings (3 synthesizers, clean and at 10 dB SNR, noise, ordinary speech, the other wake
/// words) and openwakeword 0.4.0 + onnxruntime's score for every 80 ms chunk of each
/// (Fixtures/oww_reference, captured by tools/capture_wake_fixtures.py), when Hark streams the same audio
/// with its voice-activity gate on, then every chunk's score is within 0.005 of the reference and the
/// same chunks cross the threshold.
@Suite struct WakeParityTests {
    struct Fixture: Sendable, CustomTestStringConvertible {
        let file: String
        let clip: String
        let sha256: String
        let model: String
        let scores: [Float]
        let threshold: Float
        let aboveThreshold: [Int]
        var testDescription: String { file }
    }

    static let fixtures: [Fixture] = {
        let directory = Repo.fixture("oww_reference/scores")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()) ?? []
        return files.compactMap { name in
            guard let json = try? loadJSON(directory.appendingPathComponent(name)) else { return nil }
            return Fixture(file: name, clip: json["clip"] as? String ?? "", sha256: json["sha256"] as? String ?? "",
                           model: json["model"] as? String ?? "", scores: json.floats("scores"),
                           threshold: (json["threshold"] as? NSNumber)?.floatValue ?? 0.5,
                           aboveThreshold: json.ints("above_threshold_chunks"))
        }
    }()

    @Test func fixturesCoverThreeSynthesizersCleanAndNoisy() {
        let clips = Set(Self.fixtures.filter { $0.model == "hey_jarvis_v0.1" }.map(\.clip))
        #expect(Self.fixtures.count >= 15)
        for synth in ["piper", "flite", "espeak"] {
            #expect(clips.contains { $0.contains(synth) && $0.contains("clean") }, "no clean \(synth) clip")
            #expect(clips.contains { $0.contains(synth) && $0.contains("snr10") }, "no noisy \(synth) clip")
        }
        for model in ["alexa_v0.1", "hey_mycroft_v0.1", "hey_marvin_v0.1"] {
            #expect(Self.fixtures.contains { $0.model == model && !$0.aboveThreshold.isEmpty }, "\(model) never fires in the fixtures")
        }
    }

    /// The fixture's clip, checked to be the audio the reference scored.
    private func samples(_ fixture: Fixture) throws -> [Int16] {
        let path = Repo.testData.appendingPathComponent(fixture.clip).path
        let digest = try sha256(of: path)
        try #require(digest == fixture.sha256, "\(fixture.clip) differs from the audio the fixture was captured on (sha256 \(digest)); regenerate with `make test-data` or re-capture with `make fixtures`")
        return try readSamples(path)
    }

    @Test(arguments: fixtures)
    func everyChunkMatchesReferenceWithGateOff(_ fixture: Fixture) throws {
        // The models run on every chunk, as openWakeWord does: every score must match.
        let engine = try jarvisEngine(fixture.model)
        let scores = streamScores(engine, try samples(fixture))
        #expect(scores.count == fixture.scores.count)
        let (worst, chunk) = largestDifference(scores, fixture.scores, where: { _ in true })
        print("parity \(fixture.file): \(scores.count) chunks, largest |difference| \(worst) at chunk \(chunk)")
        #expect(worst <= 0.005, "chunk \(chunk): \(scores[chunk]) vs reference \(fixture.scores[chunk])")
        #expect(scores.indices.filter { scores[$0] >= fixture.threshold } == fixture.aboveThreshold)
    }

    @Test(arguments: fixtures)
    func gatedScoresMatchReferenceAndDetectionsAreUnchanged(_ fixture: Fixture) throws {
        // With the gate on, every chunk the models ran on (thanks to the pre-roll, also the first
        // chunks after silence) matches the reference; a skipped chunk reports 0, and the reference
        // never crosses the threshold on a skipped chunk, so the same chunks cross it.
        let engine = try jarvisEngine(fixture.model)
        var gate = VoiceActivityGate()
        let (scores, ran) = streamChunks(engine, try samples(fixture)) { gate.update($0) }
        #expect(scores.count == fixture.scores.count)
        let (worst, chunk) = largestDifference(scores, fixture.scores, where: { ran[$0] })
        #expect(worst <= 0.005, "chunk \(chunk): \(scores[chunk]) vs reference \(fixture.scores[chunk])")
        for k in scores.indices where !ran[k] {
            #expect(scores[k] == 0)
            #expect(fixture.scores[k] < fixture.threshold, "the gate skipped chunk \(k) where the reference scores \(fixture.scores[k])")
        }
        #expect(scores.indices.filter { scores[$0] >= fixture.threshold } == fixture.aboveThreshold)
    }

    @Test(arguments: fixtures)
    func gapsAsSilenceComputeLessAndStayExactOnceTheGapHasPassed(_ fixture: Fixture) throws {
        // The power governor's `silent_gaps` lever: when the gate reopens, the chunks it kept from the
        // models count as silence instead of being computed. Once a head's whole window (16 chunks)
        // has run since the last gap, scores are the reference's again; the reference's detections
        // are still made, within 0.4 s.
        let exact = try jarvisEngine(fixture.model)
        var exactGate = VoiceActivityGate()
        _ = streamChunks(exact, try samples(fixture)) { exactGate.update($0) }
        let engine = try jarvisEngine(fixture.model)
        engine.gapsAsSilence = true
        var gate = VoiceActivityGate()
        let (scores, ran) = streamChunks(engine, try samples(fixture)) { gate.update($0) }
        #expect(engine.chunksComputed == exact.chunksComputed)
        #expect(engine.embeddingsComputed <= exact.embeddingsComputed)
        let settled = scores.indices.filter { k in k >= 16 && (k - 15...k).allSatisfy { ran[$0] } }
        let (worst, chunk) = largestDifference(scores, fixture.scores, where: { settled.contains($0) })
        #expect(worst <= 0.005, "chunk \(chunk): \(scores[chunk]) vs reference \(fixture.scores[chunk])")
        let detected = scores.indices.filter { scores[$0] >= fixture.threshold }
        for k in fixture.aboveThreshold {
            #expect(detected.contains { abs($0 - k) <= 5 }, "the reference detects at chunk \(k); with silent gaps: \(detected)")
        }
        print("silent gaps \(fixture.file): \(engine.embeddingsComputed) embeddings computed, \(exact.embeddingsComputed) exactly; \(settled.count) settled chunks")
    }

    @Test func gateSkipsTheModelsOnSteadyNoise() throws {
        // Given 6 s of steady pink noise, when streamed with the gate on, then once the noise floor is
        // learnt the models stop running (and the scores still match, per the parity test above).
        let engine = try jarvisEngine()
        var gate = VoiceActivityGate()
        _ = streamScores(engine, try readSamples(Repo.testData.appendingPathComponent("parity/noise_pink_6s.wav").path)) { gate.update($0) }
        #expect(engine.chunkIndex == 75)
        #expect(engine.chunksComputed <= 15, "models ran on \(engine.chunksComputed) of \(engine.chunkIndex) chunks of steady noise")
    }
}

func sha256(of path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
}

func largestDifference(_ a: [Float], _ b: [Float], where include: (Int) -> Bool) -> (Float, Int) {
    var worst: Float = 0, chunk = 0
    for k in 0..<min(a.count, b.count) where include(k) && abs(a[k] - b[k]) > worst {
        worst = abs(a[k] - b[k])
        chunk = k
    }
    return (worst, chunk)
}
