import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HarkLLM

/// `hark-llm --model FILE --prompt TEXT`: generate with a GGUF language model on Hark's engine;
/// `--bench` times prefill and decode instead.
@main
struct HarkLLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hark-llm",
        abstract: "Generate text with a GGUF language model (Hark's own engine), or time it with --bench.")

    @Option(help: "The GGUF model file.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "The prompt. With --chat it is wrapped as one user turn of a ChatML conversation.")
    var prompt = "Turn off the kitchen light."

    @Flag(help: "Wrap the prompt as <|im_start|>user … <|im_end|><|im_start|>assistant (ChatML).")
    var chat = false

    @Option(help: "Tokens to generate.")
    var tokens = 64

    @Option(help: "Kernel threads.")
    var threads = 1

    @Option(help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0

    @Option(help: "Top-k (0: all).")
    var topK = 40

    @Option(help: "Top-p.")
    var topP: Float = 0.95

    @Option(help: "Repetition penalty (1: none).")
    var repetitionPenalty: Float = 1

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "KV cache positions.")
    var context = 2048

    @Flag(help: "Time a prefill of --bench-prompt tokens and a decode of --tokens tokens; print tokens/s and peak RSS as JSON.")
    var bench = false

    @Option(help: "Prompt tokens for --bench.")
    var benchPrompt = 128

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1–64, not \(threads)") }
        guard tokens >= 0, tokens <= 100_000 else { throw ValidationError("--tokens must be 0–100000, not \(tokens)") }
        guard context >= 1 else { throw ValidationError("--context must be at least 1") }
        guard benchPrompt >= 1 else { throw ValidationError("--bench-prompt must be at least 1") }
    }

    func run() throws {
        let start = monotonicSeconds()
        let lm: LanguageModel
        do {
            lm = try LanguageModel(path: model, threads: threads, contextLength: context)
        } catch {
            printError("hark-llm: \(error)")
            throw ExitCode(1)
        }
        let loaded = monotonicSeconds() - start
        do {
            if bench { try runBench(lm, loaded: loaded) } else { try generate(lm) }
        } catch {
            printError("hark-llm: \(error)")
            throw ExitCode(1)
        }
    }

    func generate(_ lm: LanguageModel) throws {
        let text = chat ? "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n" : prompt
        var next = lm.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        var history = next
        var sampler = Sampler(temperature: temperature, topK: topK, topP: topP,
                              repetitionPenalty: repetitionPenalty, seed: seed)
        var logits = [Float](repeating: 0, count: lm.transformer.hyper.vocabulary)
        var pending: [UInt8] = []
        for _ in 0..<tokens {
            try logits.withUnsafeMutableBufferPointer { try lm.transformer.evaluate(next, logits: $0.baseAddress!) }
            let token = logits.withUnsafeBufferPointer { sampler.sample($0, history: history) }
            if token == lm.tokenizer.vocabulary.eos { break }
            history.append(token)
            next = [token]
            // Print whole UTF-8 characters as they complete.
            pending += lm.tokenizer.piece(token)
            let complete = completeUTF8Prefix(pending)
            if complete > 0 {
                let piece = Array(pending[..<complete])
                piece.withUnsafeBufferPointer { _ = write(1, $0.baseAddress, $0.count) }
                pending.removeFirst(complete)
            }
        }
        print(String(decoding: pending, as: UTF8.self))
        // (print goes through stdout's buffer, which the pieces above bypassed; it is empty here.)
    }

    func runBench(_ lm: LanguageModel, loaded: Double) throws {
        let t = lm.transformer
        // A prompt of real text, repeated to the length asked for.
        let passage = "The quick brown fox jumps over the lazy dog while the smart speaker in the kitchen listens for its wake word and turns the lights on. "
        var ids = lm.tokenizer.encode(passage, addSpecial: false)
        while ids.count < benchPrompt { ids += ids }
        ids = Array(ids.prefix(benchPrompt))
        var logits = [Float](repeating: 0, count: t.hyper.vocabulary)
        // One warm-up pass so page faults of the mapped weights are not counted.
        try logits.withUnsafeMutableBufferPointer { try t.evaluate(Array(ids.prefix(8)), logits: $0.baseAddress!) }
        t.reset()
        let p0 = monotonicSeconds()
        try logits.withUnsafeMutableBufferPointer { try t.evaluate(ids, logits: $0.baseAddress!) }
        let prefill = monotonicSeconds() - p0
        var sampler = Sampler.greedy
        var token = logits.withUnsafeBufferPointer { sampler.sample($0) }
        let d0 = monotonicSeconds()
        for _ in 0..<tokens {
            try logits.withUnsafeMutableBufferPointer { try t.evaluate([token], logits: $0.baseAddress!) }
            token = logits.withUnsafeBufferPointer { sampler.sample($0) }
        }
        let decode = monotonicSeconds() - d0
        print("{\"model\": \"\(model)\", \"threads\": \(threads), \"load_s\": \(rounded(loaded)), "
              + "\"prefill_tokens\": \(ids.count), \"prefill_tokens_per_s\": \(rounded(Double(ids.count) / prefill)), "
              + "\"decode_tokens\": \(tokens), \"decode_tokens_per_s\": \(rounded(Double(tokens) / decode)), "
              + "\"kv_cache_mb\": \(rounded(Double(t.cache.bytes) / 1_048_576)), \"peak_rss_mb\": \(rounded(peakRSSMegabytes()))}")
    }
}

/// The length of the longest prefix of `bytes` that ends on a UTF-8 character boundary.
func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
    var i = bytes.count
    var back = 0
    while i > 0 && back < 4 {
        let b = bytes[i - 1]
        if b & 0xC0 != 0x80 {
            let width = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : 4
            return width == back + 1 ? bytes.count : i - 1
        }
        i -= 1
        back += 1
    }
    return bytes.count
}

func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func rounded(_ value: Double) -> String {
    String(Double((value * 1000).rounded()) / 1000)
}

/// VmHWM from /proc/self/status: the peak resident set, in MB.
func peakRSSMegabytes() -> Double {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmHWM:") {
            let kb = text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
            return kb / 1024
        }
    }
    return 0
}
