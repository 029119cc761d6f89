#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import HarkGGUF
import HarkTestSupport
import Testing
@testable import HarkLLM

/// A mixture-of-experts model under a memory budget below its size (`Transformer.limitResidentWeights`):
/// the same outputs as without one, and the model file's resident pages within the budget.
@Suite struct ExpertCacheTests {
    /// The resident bytes of this process's mappings of `path` (/proc/self/smaps).
    static func residentBytes(of path: String) -> Int {
        guard let smaps = readTextFile("/proc/self/smaps") else { return -1 }
        var total = 0, inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.last != ":" {
                inside = fields.count >= 6 && fields[5...].joined(separator: " ") == path
            } else if inside, fields.first == "Rss:", fields.count >= 2, let kb = Int(fields[1]) {
                total += kb * 1024
            }
        }
        return total
    }

    /// Greedy tokens after `prompt`, the last logits, and the most of `path` that was resident after
    /// any step.
    static func run(_ model: LanguageModel, path: String, prompt: [Int32], tokens: Int) throws -> (tokens: [Int32], logits: [Float], peak: Int) {
        let vocabulary = model.transformer.hyper.vocabulary
        var logits = [Float](repeating: 0, count: vocabulary)
        var out: [Int32] = []
        var peak = 0
        var next = prompt
        for _ in 0..<tokens {
            try logits.withUnsafeMutableBufferPointer { try model.transformer.evaluate(next, logits: $0.baseAddress!) }
            // The map's resident pages, and the slots the cache reads experts into.
            peak = max(peak, residentBytes(of: path) + (model.transformer.expertCache?.slotBytes ?? 0))
            let best = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
            out.append(best)
            next = [best]
        }
        return (out, logits, peak)
    }

    @Test func givenABudgetBelowTheModelsSize_thenOutputsAreIdenticalAndTheModelsResidentPagesStayWithinIt() throws {
        let directory = makeTemporaryDirectory("expert-cache")
        // Two copies, so each model's resident pages are told apart by path.
        let unlimitedPath = directory + "/wide-moe-a.gguf", limitedPath = directory + "/wide-moe-b.gguf"
        try writeWideMoE(to: unlimitedPath)
        try writeWideMoE(to: limitedPath)
        let prompt: [Int32] = [1, 17, 33, 49, 65, 81, 97, 113, 5, 9]

        let unlimited = try LanguageModel(path: unlimitedPath, threads: 2, contextLength: 64)
        let reference = try Self.run(unlimited, path: unlimitedPath, prompt: prompt, tokens: 24)

        let limited = try LanguageModel(path: limitedPath, threads: 2, contextLength: 64)
        let fileSize = limited.file.fileSize
        let expert = 3 * 256 * 1024
        let fixed = fileSize - 2 * 8 * expert
        let budget = fixed + 3 * expert
        try limited.transformer.limitResidentWeights(to: budget)
        let cache = try #require(limited.transformer.expertCache)
        #expect(cache.slotCount == 3 && cache.slotSize == expert)
        let result = try Self.run(limited, path: limitedPath, prompt: prompt, tokens: 24)

        // The same tokens and bit-identical logits.
        #expect(result.tokens == reference.tokens)
        #expect(result.logits == reference.logits)
        // Within the budget (plus the pages the expert tensors share with their neighbours: two per
        // tensor), while the unlimited run kept far more.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let slack = 2 * 3 * 2 * page
        print("expert cache: file \(fileSize) B, budget \(budget) B; resident peak \(result.peak) B limited, \(reference.peak) B unlimited; hit rate \(cache.statistics.hitRate), \(cache.statistics)")
        #expect(result.peak <= budget + slack, "resident \(result.peak) B over the budget \(budget) B")
        #expect(reference.peak > budget + 4 * expert, "the unlimited run kept \(reference.peak) B: the budget must bind")
        // Experts were paged in and out, and the hit rate says how often one was already there.
        let statistics = cache.statistics
        #expect(statistics.misses > 3 && statistics.evictions > 0 && statistics.hits > 0, "\(statistics)")
        #expect(statistics.readFailures == 0)
    }

    @Test func givenABudgetBelowTheAlwaysResidentPartPlusAnExpert_thenTheErrorNamesTheSizes() throws {
        let path = makeTemporaryDirectory("expert-cache") + "/wide-moe.gguf"
        try writeWideMoE(to: path)
        let model = try LanguageModel(path: path, threads: 1, contextLength: 64)
        let error = #expect(throws: LLMError.self) { try model.transformer.limitResidentWeights(to: 500_000) }
        #expect(error?.message.contains("wide-moe.gguf: a memory budget of 0.4 MB is below the model's always-resident part") == true
                && error?.message.contains("plus its largest expert (0.7 MB)") == true, "\(String(describing: error))")
        // A budget the whole file fits in sets no limit.
        try model.transformer.limitResidentWeights(to: model.file.fileSize)
        #expect(model.transformer.expertCache == nil)
    }
}
