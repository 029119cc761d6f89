import Foundation
import HarkDaemon
import Logging
import Testing
import HarkTestSupport

/// Given generated recordings (tools/gen_test_audio.py: 160 "hey jarvis" clips by 8 voices of 3
/// synthesizers, clean and at 10 dB SNR, and 19.6 minutes of ordinary speech without the wake word),
/// when each goes through the stage-1 wake pipeline as harkd runs it (gate on, threshold 0.5,
/// refractory 2 s), then at most 5 % of wake clips are missed and nothing fires on ordinary speech.
@Suite(.serialized) struct WakeAccuracyTests {
    func wakeEvents(_ path: String) throws -> [(score: Double, t: Double)] {
        let pipeline = try WakePipeline(
            configuration: .init(modelsDirectory: Repo.models, wakeWords: [.init(model: "hey_jarvis_v0.1")]),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let samples = try readSamples(Repo.testData.appendingPathComponent(path).path)
        var events: [(Double, Double)] = []
        samples.withUnsafeBufferPointer { all in
            var start = 0
            while start + 1280 <= all.count {
                for case let .wake(_, score, t) in pipeline.process(UnsafeBufferPointer(rebasing: all[start..<(start + 1280)])) {
                    events.append((score, t))
                }
                start += 1280
            }
        }
        return events
    }

    @Test func falseRejectsAtMostFivePercent() throws {
        let clips = try Manifest().entries.filter { $0.path.hasPrefix("accuracy/wake/") }
        #expect(clips.count >= 40)
        #expect(Set(clips.map(\.synth)).count >= 3)
        #expect(clips.contains { $0.snr == 10 } && clips.contains { $0.snr == nil })
        var missed: [String] = []
        var extra: [String] = []
        for clip in clips {
            let truth = try #require(clip.wakeWords.first)
            let events = try wakeEvents(clip.path)
            // A detection counts if it comes while or within 1 s after the wake phrase is spoken.
            let hits = events.filter { $0.t >= truth.start && $0.t <= truth.end + 1.0 }
            if hits.isEmpty { missed.append(clip.path) }
            if events.count > 1 { extra.append("\(clip.path): \(events.count) events") }
        }
        let rate = Double(missed.count) / Double(clips.count)
        print("wake accuracy: \(clips.count - missed.count)/\(clips.count) detected, false-reject rate \(String(format: "%.1f", 100 * rate)) %; missed: \(missed)")
        #expect(rate <= 0.05, "missed \(missed.count) of \(clips.count): \(missed)")
        #expect(extra.isEmpty, "one wake phrase gave several events: \(extra)")
    }

    @Test func noFalseAcceptsInOrdinarySpeech() throws {
        let files = try Manifest().entries.filter { $0.path.hasPrefix("accuracy/negative/") }
        let minutes = files.map(\.duration).reduce(0, +) / 60
        #expect(minutes >= 10)
        var accepts: [String] = []
        for file in files {
            for event in try wakeEvents(file.path) { accepts.append("\(file.path) at \(event.t) s (\(event.score))") }
        }
        print("false accepts: \(accepts.count) in \(String(format: "%.1f", minutes)) minutes of ordinary speech")
        #expect(accepts.isEmpty, "\(accepts)")
    }
}
