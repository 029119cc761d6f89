import HarkTestSupport
import Testing
@testable import HarkLLM

/// A model's logits do not depend on its thread count: decoding splits each token's attention heads
/// and runs several products on one dispatch across threads, and every head and every output row
/// keeps the arithmetic it has on one thread.
@Suite struct ThreadCountTests {
    /// The prompt's logits, then those of 4 tokens decoded one at a time (each the previous argmax).
    static func decode(_ path: String, threads: Int, prompt: [Int32]) throws -> [[Float]] {
        let model = try LanguageModel(path: path, threads: threads, contextLength: 64)
        let t = model.transformer
        var logits = [Float](repeating: 0, count: t.hyper.vocabulary)
        var rows: [[Float]] = []
        var next = prompt
        for _ in 0..<5 {
            try logits.withUnsafeMutableBufferPointer { try t.evaluate(next, logits: $0.baseAddress!) }
            rows.append(logits)
            next = [Int32(logits.indices.max { logits[$0] < logits[$1] }!)]
        }
        return rows
    }

    @Test("Given each tiny architecture and the stage-2 model, when a prompt is decoded on 1 and on 2 threads, then every logit is the same float",
          arguments: ["llama", "qwen2moe", "qwen3moe", "olmoe", "granitemoe", "llama-swa", "stage2"])
    func logitsIndependentOfThreads(model name: String) throws {
        let path: String
        if name == "stage2" {
            // 9 heads over 2 threads, products large enough for the pool.
            path = repositoryRoot + "/models/hark-moe-q4_0.gguf"
        } else {
            let fixture = try loadFixture("tiny-moe.json", as: TinyMoEFixture.self)
            path = repositoryRoot + "/Tests/HarkLLMTests/Fixtures/" + (try #require(fixture.models[name])).file
        }
        let prompt: [Int32] = [1, 5, 9, 14, 3, 7, 2]
        let one = try Self.decode(path, threads: 1, prompt: prompt)
        let two = try Self.decode(path, threads: 2, prompt: prompt)
        for (step, (a, b)) in zip(one, two).enumerated() {
            let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(name), step \(step): \(differing) of \(a.count) logits differ")
        }
    }
}
