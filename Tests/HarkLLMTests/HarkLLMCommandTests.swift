#if canImport(Glibc)
import Glibc
#endif
import HarkGGUF
import HarkTestSupport
import Testing
@testable import HarkLLM

@Suite struct HarkLLMCommandTests {
    static func run(_ command: String) -> (output: String, status: Int32) { runShell(command) }

    static let binary = productsDirectory + "/hark-llm"

    @Test("Given SmolLM2 and a chat question, when hark-llm generates greedily, then it answers it; --bench prints tokens/s and peak RSS as JSON")
    func generatesAndBenchmarks() {
        let answer = Self.run("'\(Self.binary)' --model '\(smolLM2Path)' --chat --prompt 'What is the capital of France?' --tokens 12 2>&1")
        #expect(answer.status == 0 && answer.output.contains("Paris"), "\(answer.output)")
        let bench = Self.run("'\(Self.binary)' --model '\(smolLM2Path)' --bench --bench-prompt 16 --tokens 4 --context 64 2>&1")
        #expect(bench.status == 0, "\(bench.output)")
        for key in ["\"prefill_tokens\": 16", "\"prefill_tokens_per_s\": ", "\"decode_tokens\": 4", "\"decode_tokens_per_s\": ", "\"peak_rss_mb\": "] {
            #expect(bench.output.contains(key), "\(key) missing in \(bench.output)")
        }
    }

    @Test("Given a missing, a truncated and a non-GGUF model file, when hark-llm loads it, then it exits 1 with one line naming the file")
    func badModelFilesGiveOneLineErrors() throws {
        let dir = makeTemporaryDirectory("hark-llm")
        // The first 2 MB of SmolLM2: a whole header whose tensors lie past the end.
        let truncated = dir + "/truncated.gguf"
        #expect(Self.run("head -c 2000000 '\(smolLM2Path)' > '\(truncated)'").status == 0)
        let text = dir + "/notes.gguf"
        writeFile(text, "these are not weights\n")
        for path in ["/nonexistent/model.gguf", truncated, text] {
            let result = Self.run("'\(Self.binary)' --model '\(path)' --tokens 1 2>&1")
            #expect(result.status == 1, "\(path): \(result.output)")
            let lines = result.output.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(path.split(separator: "/").last!), "\(path): \(result.output)")
        }
        // The same through the API: an LLMError whose message names the file.
        do {
            _ = try LanguageModel(path: truncated)
            Issue.record("a truncated model loaded")
        } catch {
            #expect(error.message.contains("truncated.gguf"), "\(error.message)")
        }
    }

    @Test("Given a vocabulary-only GGUF (no weights), when it is loaded as a model, then the missing tensors are named")
    func aFileWithoutWeightsIsRefused() {
        do {
            _ = try LanguageModel(path: repositoryRoot + "/Tests/HarkLLMTests/Fixtures/tiny-spm.gguf")
            Issue.record("a model without tensors loaded")
        } catch {
            #expect(error.message.contains("tiny-spm.gguf"), "\(error.message)")
        }
    }
}
