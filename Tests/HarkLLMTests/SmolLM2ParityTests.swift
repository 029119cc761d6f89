#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HarkTestSupport
import Testing
@testable import HarkLLM

/// llama.cpp's greedy continuation of 5 chat prompts on SmolLM2-135M-Instruct Q4_1, with its top-5
/// logits at every generated position (tools/capture_llm_fixtures.py).
struct GreedyFixture: Decodable {
    struct Run: Decodable {
        let prompt: String
        let tokens: [Int32]
        let generated: [Int32]
        /// Per generated position: [[token, logit] × 5], best first.
        let top: [[[Double]]]
        let text: String
    }
    let model: String
    let steps: Int
    let runs: [Run]
}

@Suite struct SmolLM2ParityTests {
    /// Largest difference allowed between Hark's and llama.cpp's logit for the same token. Both
    /// quantize activations to Q8 blocks as ggml does, but sum in other orders and use other exp/silu
    /// approximations, and over 30 layers a last-bit difference can flip a Q8 rounding and move the
    /// logits: llama.cpp's own batched and token-by-token evaluations of the same prompt differ by up
    /// to 1.24 on this model (measured), so the bound is 1.1. (It was 1.0 while Hark's attention summed
    /// one element after another. Summing as ggml_vec_dot_f16 does, the five runs' worst differences
    /// are 0.75 1.07 0.62 0.53 0.73 and greedy agreement 314 of 320 positions, two runs equal to
    /// llama.cpp's to their last token (63 and 64 identical); summing as llamafile's tinyBLAS does,
    /// 0.92 0.91 0.79 0.64 0.96, 311 of 320, identical prefixes 4 0 17 64 14.)
    static let logitTolerance = 1.1
    /// Positions (of 64, llama.cpp's token fed back at each) where Hark's most likely token must be
    /// llama.cpp's; a flip happens only where llama.cpp's top two are within the noise above. Measured:
    /// 59–63 per prompt against llama.cpp built for AVX2 (the fixture), 62–63 against a native
    /// AVX-512 build of the same version: the bound is 7 of 8.
    static let argmaxAgreement = 56

    @Test(arguments: 0..<5)
    func greedyTokensAndTopLogitsMatchLlamaCpp(run index: Int) throws {
        let fixture = try loadFixture("smollm2-greedy.json", as: GreedyFixture.self)
        let run = fixture.runs[index]
        // Given the model and llama.cpp's prompt tokens (the chat template written out),
        let model = try LanguageModel(path: smolLM2Path, threads: 2, contextLength: 512)
        let tokenizer = model.tokenizer
        #expect(tokenizer.encode(chatPrompt(run.prompt), addSpecial: false, parseSpecial: true) == run.tokens)
        let vocabulary = model.transformer.hyper.vocabulary
        var logits = [Float](repeating: 0, count: vocabulary)
        // when Hark decodes greedily for as many steps as llama.cpp did,
        var generated: [Int32] = []
        var worst = 0.0
        var next = run.tokens
        for step in 0..<fixture.steps {
            try logits.withUnsafeMutableBufferPointer { try model.transformer.evaluate(next, logits: $0.baseAddress!) }
            // then llama.cpp's top-5 tokens have Hark's logits within the tolerance,
            for pair in run.top[step] {
                let diff = abs(Double(logits[Int(pair[0])]) - pair[1])
                worst = max(worst, diff)
            }
            let token = logits.withUnsafeBufferPointer { var s = Sampler.greedy; return s.sample($0) }
            generated.append(token)
            // llama.cpp's token goes in next, so every position compares the same prefix; the
            // continuations are equal exactly when every argmax is.
            next = [run.generated[step]]
        }
        // and nearly every greedy token is llama.cpp's (the whole continuation is not: see the tolerance).
        let agree = zip(generated, run.generated).filter { $0 == $1 }.count
        let firstDifference = generated.indices.first { generated[$0] != run.generated[$0] } ?? generated.count
        print("SmolLM2 parity run \(index): argmax equal at \(agree)/\(generated.count) positions, identical prefix \(firstDifference), largest top-5 logit difference \(worst)")
        #expect(agree >= Self.argmaxAgreement,
                "Hark: \(tokenizer.decode(generated).debugDescription)\nllama.cpp: \(run.text.debugDescription)")
        #expect(worst <= Self.logitTolerance, "largest top-5 logit difference \(worst)")
    }
}

func chatPrompt(_ prompt: String) -> String {
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        + "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n"
}
