import Foundation
import Testing
import HarkWake

/// Given the embedding model planned to slide 8 frames along time, when consecutive windows of a real
/// utterance's mel frames run incrementally (only the newest rows of each layer), then every output
/// equals a full run on the same window.
@Suite struct SlidingPlanTests {
    @Test func incrementalEmbeddingEqualsFullRuns() throws {
        let fixture = try loadJSON(Repo.fixture("onnx-models.json")).dict("embedding")
        // 76 frames of a real utterance, extended to 76 + 8·12 frames by re-using rows so there is
        // something new in every window.
        let frames = fixture.floats("input")
        let rows = 76 + 8 * 12
        var stream = [Float](repeating: 0, count: rows * 32)
        for r in 0..<rows { for b in 0..<32 { stream[r * 32 + b] = frames[((r * 7) % 76) * 32 + b] - Float(r % 5) * 0.1 } }

        let model = try OnnxModel(path: Repo.model("embedding_model"))
        let sliding = try model.plan(inputShape: [1, 76, 32, 1], slidingAxis: 1, slidingStep: 8)
        let full = try model.plan(inputShape: [1, 76, 32, 1])
        #expect(sliding.supportsIncremental)
        #expect(!full.supportsIncremental)
        var worst: Float = 0
        for window in 0...12 {
            let input = Array(stream[(window * 8 * 32)..<((window * 8 + 76) * 32)])
            for k in 0..<input.count { sliding.inputBuffer[k] = input[k] }
            if window == 0 { sliding.run() } else { sliding.runIncremental() }
            let expected = try full(input)
            let got = Array(sliding.output().values)
            #expect(got.count == 96)
            worst = max(worst, maxDifference(got, expected))
        }
        #expect(worst < 1e-4, "largest difference \(worst)")
    }

    @Test func wakeEngineSlidesTheEmbedding() throws {
        #expect(try jarvisEngine().embeddingSlides)
    }

    @Test func planWithoutSlidingAxisDoesNotSlide() throws {
        // A plan built without a sliding axis never runs incrementally.
        let plan = try OnnxModel(path: Repo.model("hey_jarvis_v0.1")).plan(inputShape: [1, 16, 96])
        #expect(!plan.supportsIncremental)
    }
}
