#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HarkTestSupport
import Testing
@testable import HarkLLM

/// Tiny random models of each mixture-of-experts architecture, built by transformers and written to
/// GGUF by tools/make_tiny_moe.py, with transformers' float32 logits and llama.cpp's for 3 prompts.
struct TinyMoEFixture: Decodable {
    struct Model: Decodable {
        let file: String
        /// [prompt][position][vocabulary]
        let transformers: [[[Double]]]
        let llama_cpp: [[[Double]]]?
    }
    let prompts: [[Int32]]
    let models: [String: Model]
}

@Suite struct TinyMoEParityTests {
    /// Largest logit difference allowed, relative to the largest logit magnitude of the prompt:
    /// Hark keeps the KV cache, the query and the attention probabilities in float16 as llama.cpp
    /// does, transformers keeps float32.
    static let tolerance = 1e-3

    /// llama-swa is the llama model with `llama.attention.sliding_window` = 3 over 7-token prompts;
    /// llama.cpp ignores that key for llama, so transformers is its only reference.
    @Test(arguments: ["llama", "qwen2moe", "qwen3moe", "olmoe", "granitemoe", "llama-swa"])
    func logitsMatchTransformersAndLlamaCpp(architecture: String) throws {
        let fixture = try loadFixture("tiny-moe.json", as: TinyMoEFixture.self)
        let entry = try #require(fixture.models[architecture])
        // Given the GGUF file transformers' model was written to,
        let model = try LanguageModel(path: repositoryRoot + "/Tests/HarkLLMTests/Fixtures/" + entry.file,
                                      threads: 2, contextLength: 64)
        let windowed = architecture == "llama-swa"
        #expect(model.transformer.hyper.architecture == (windowed ? "llama" : architecture))
        #expect(model.transformer.hyper.slidingWindow == (windowed ? 3 : nil))
        #expect(model.transformer.hyper.experts == 4 && model.transformer.hyper.expertsUsed == 2)
        let vocabulary = model.transformer.hyper.vocabulary
        var worstTransformers = 0.0, worstLlama = 0.0
        for (p, prompt) in fixture.prompts.enumerated() {
            // when each prompt is evaluated with the logits of every position,
            model.transformer.reset()
            var logits = [Float](repeating: 0, count: prompt.count * vocabulary)
            try logits.withUnsafeMutableBufferPointer {
                try model.transformer.evaluate(prompt, logits: $0.baseAddress!, allLogits: true)
            }
            // then they are transformers' float32 logits (and llama.cpp's) within the tolerance.
            func relativeDifference(_ reference: [[Double]]) -> Double {
                var diff = 0.0, scale = 0.0
                for (i, row) in reference.enumerated() {
                    for (j, r) in row.enumerated() {
                        diff = max(diff, abs(Double(logits[i * vocabulary + j]) - r))
                        scale = max(scale, abs(r))
                    }
                }
                return diff / scale
            }
            worstTransformers = max(worstTransformers, relativeDifference(entry.transformers[p]))
            if let llama = entry.llama_cpp { worstLlama = max(worstLlama, relativeDifference(llama[p])) }
        }
        print("tiny \(architecture): max relative logit difference vs transformers \(worstTransformers), vs llama.cpp \(worstLlama)")
        #expect(worstTransformers <= Self.tolerance)
        if !windowed {
            #expect(entry.llama_cpp != nil, "the fixture lacks llama.cpp's logits: run make tiny-moe-fixtures")
            #expect(worstLlama <= Self.tolerance)
        }
    }
}
