#if canImport(Glibc)
import Glibc
#endif
import HarkLLM
import HarkStage2

/// The worker's language model as requests use it: greedy decoding, the prompt's start reused from
/// the previous request (the catalog prefix is the same every time, so only the request's own tokens
/// are computed), and, when the request carries an action grammar, every token constrained to it.
final class Generator {
    let model: LanguageModel
    let context: Int
    /// The tokens whose keys and values are in the cache, in order.
    private var cached: [Int32] = []
    /// The logits of the next position, then of each speculated token (`1 + maxDraft` rows).
    private let logits: UnsafeMutableBufferPointer<Float>
    /// The tokens the action grammar allows at each step (the vocabulary's bytes, indexed).
    private var constraint: TokenConstraint
    /// The last request's action grammar: harkd sends the same spec until its catalog changes.
    private var lastGrammar: (spec: ActionGrammar.Spec, grammar: ActionGrammar)?

    /// Where computed prefixes are saved (nil: kept in memory only), and what names the model in
    /// their file names (its path, size and modification time).
    let cacheDirectory: String?
    let modelIdentity: String

    init(model: LanguageModel, context: Int, cacheDirectory: String? = nil, modelIdentity: String = "") {
        self.model = model
        self.context = context
        self.cacheDirectory = cacheDirectory
        self.modelIdentity = modelIdentity
        constraint = TokenConstraint(count: model.tokenizer.count) { model.tokenizer.piece($0) }
        logits = .allocate(capacity: model.transformer.hyper.vocabulary * (1 + Self.maxDraft))
    }

    deinit { logits.deallocate() }

    func generate(_ request: Stage2Message) throws -> Stage2Message {
        let t = model.transformer
        let maxTokens = request.maxTokens ?? 64
        let prompt = model.tokenizer.encode(request.prompt ?? "", addSpecial: true, parseSpecial: true)
        guard !prompt.isEmpty else { throw LLMError(.invalidArgument, "empty prompt") }
        guard prompt.count + maxTokens <= context else {
            throw LLMError(.invalidArgument, "prompt of \(prompt.count) tokens plus \(maxTokens) to generate exceeds the \(context)-position context")
        }
        let grammar = try request.grammar.map { spec throws(Stage2Error) in try self.grammar(for: spec) }

        // The longest start of the prompt already computed; at least its last token is run again
        // for the logits.
        var reused = 0
        while reused < min(cached.count, prompt.count - 1), cached[reused] == prompt[reused] { reused += 1 }
        t.cache.truncate(to: reused)
        cached = Array(prompt[..<reused])
        let t0 = monotonicNow()
        // Constrained, only the logits of the tokens the grammar allows are computed, from the rows
        // kept after the output norm (`hiddenRow`: the row of the next position); else every logit.
        var hiddenRow = 0
        if grammar != nil {
            hiddenRow = try t.evaluateHidden(Array(prompt[reused...])) - 1
        } else {
            try t.evaluate(Array(prompt[reused...]), logits: logits.baseAddress!)
        }
        cached = prompt
        let t1 = monotonicNow()

        var bytes: [UInt8] = []
        var generated = 0
        var constraintSeconds = 0.0
        var cursor = grammar?.start
        var sampler = Sampler.greedy
        let stops = request.stop ?? []
        let vocabulary = t.hyper.vocabulary
        // Speculation: where the grammar leaves the next bytes no choice, their tokens go into the
        // cache with the chosen token in one evaluation (a batch costs little more than one token),
        // and each is kept only if it is the token the constrained choice makes from the logits
        // before it: the answer is the one token-by-token decoding gives, with fewer passes.
        var speculated: [Int32] = []
        var row = 0
        var drafted = 0, accepted = 0, passes = 0
        while generated < maxTokens {
            let token: Int32
            if let grammar, let current = cursor {
                // The constraint (the tokens the grammar allows here, and the cursor's advance), then
                // the most likely of those tokens.
                let c0 = monotonicNow()
                let candidates = constraint.allowed(grammar, at: current)
                constraintSeconds += monotonicNow() - c0
                guard let allowed = mostLikely(candidates, row: hiddenRow + row) else { break }
                let piece = constraint.piece(allowed)
                let c1 = monotonicNow()
                cursor = grammar.advance(current, piece)
                constraintSeconds += monotonicNow() - c1
                token = allowed
                bytes += piece
            } else {
                token = sampler.sample(UnsafeBufferPointer(rebasing: logits[(row * vocabulary)..<((row + 1) * vocabulary)]))
                if token == model.tokenizer.vocabulary.eos { break }
                bytes += model.tokenizer.piece(token)
            }
            generated += 1
            if let grammar, let cursor, grammar.isComplete(cursor) { break }
            if !stops.isEmpty {
                let text = String(decoding: bytes, as: UTF8.self)
                if let stop = stops.first(where: { text.hasSuffix($0) }) {
                    bytes = Array(text.dropLast(stop.count).utf8)
                    break
                }
            }
            if let next = speculated.first {
                speculated.removeFirst()
                if next == token {
                    // Already in the cache, and its logits are the next row.
                    accepted += 1
                    cached.append(token)
                    row += 1
                    continue
                }
                t.cache.truncate(to: cached.count)
                speculated = []
            }
            let drafts = request.speculate == false ? [] : draft(grammar, cursor, room: maxTokens - generated)
            passes += 1
            row = 0
            if grammar != nil {
                hiddenRow = try t.evaluateHidden([token] + drafts) - 1 - drafts.count
            } else {
                try t.evaluate([token] + drafts, logits: logits.baseAddress!, allLogits: !drafts.isEmpty)
            }
            cached.append(token)
            speculated = drafts
            drafted += drafts.count
        }
        if !speculated.isEmpty { t.cache.truncate(to: cached.count) }
        var answer = Stage2Message(op: "generated")
        answer.text = String(decoding: bytes, as: UTF8.self)
        answer.promptTokens = prompt.count
        answer.reusedTokens = reused
        answer.tokens = generated
        var timings = ["prefill_ms": (t1 - t0) * 1000, "decode_ms": (monotonicNow() - t1) * 1000]
        if grammar != nil {
            timings["constraint_us"] = generated > 0 ? constraintSeconds / Double(generated) * 1e6 : 0
            timings["decode_passes"] = Double(passes)
            timings["drafted_tokens"] = Double(drafted)
            timings["accepted_tokens"] = Double(accepted)
        }
        if let experts = t.expertCache?.statistics {
            // Since the worker started: the share of expert uses that found the expert in its slot.
            timings["expert_hit_rate"] = experts.hitRate
            timings["expert_misses"] = Double(experts.misses)
        }
        answer.timings = timings
        return answer
    }

    /// The automaton for `spec`, built once per catalog rather than per request.
    private func grammar(for spec: ActionGrammar.Spec) throws(Stage2Error) -> ActionGrammar {
        if let last = lastGrammar, last.spec == spec { return last.grammar }
        let grammar = try ActionGrammar(spec)
        lastGrammar = (spec, grammar)
        constraint.forget()
        return grammar
    }

    /// `prime`: the fixed start of the prompts to come (the catalog), into the cache now — kept from
    /// before, restored from the cache directory, or computed (and saved there). The file's name
    /// hashes the model's identity and the tokens, so another model or catalog never matches; the
    /// file repeats the tokens, and anything that does not match is computed afresh.
    func prime(_ request: Stage2Message) throws -> Stage2Message {
        let t = model.transformer
        let tokens = model.tokenizer.encode(request.prompt ?? "", addSpecial: true, parseSpecial: true)
        guard !tokens.isEmpty, tokens.count < context else {
            throw LLMError(.invalidArgument, "prime: \(tokens.count) tokens do not fit the \(context)-position context")
        }
        var answer = Stage2Message(op: "primed")
        answer.promptTokens = tokens.count
        if cached.count >= tokens.count, Array(cached[..<tokens.count]) == tokens {
            answer.text = "cached"
            answer.timings = [:]
            return answer
        }
        let path = cacheDirectory.map { "\($0)/prefix-\(Self.hash(modelIdentity, tokens)).kv" }
        let t0 = monotonicNow()
        if let path, let saved = PrefixFile.read(path, tokens: tokens), t.cache.window == nil,
           saved.kv.withUnsafeBytes({ t.cache.restore($0, positions: tokens.count) }) {
            cached = tokens
            let restore = (monotonicNow() - t0) * 1000
            answer.text = "disk"
            answer.timings = ["restore_ms": restore, "saved_ms": max(0, saved.computeMilliseconds - restore)]
            return answer
        }
        t.reset()
        cached = []
        try t.evaluate(tokens, logits: logits.baseAddress!)
        cached = tokens
        let compute = (monotonicNow() - t0) * 1000
        if let path, t.cache.window == nil {
            PrefixFile.write(path, tokens: tokens, computeMilliseconds: compute, kv: t.cache.snapshot(positions: tokens.count))
        }
        answer.text = "computed"
        answer.timings = ["prefill_ms": compute]
        return answer
    }

    /// FNV-1a over the model's identity and the tokens.
    static func hash(_ identity: String, _ tokens: [Int32]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        for byte in identity.utf8 { mix(byte) }
        for token in tokens { withUnsafeBytes(of: token.littleEndian) { for byte in $0 { mix(byte) } } }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The most tokens speculated in one pass.
    static let maxDraft = 16

    /// The tokens of the bytes the grammar forces after `cursor` (none without a grammar), at most
    /// `room - 1`, so the token chosen after them still fits the request's budget.
    private func draft(_ grammar: ActionGrammar?, _ cursor: ActionGrammar.Cursor?, room: Int) -> [Int32] {
        guard let grammar, let cursor, room > 1 else { return [] }
        let forced = grammar.forcedBytes(cursor)
        guard !forced.isEmpty else { return [] }
        let tokens = model.tokenizer.encode(String(decoding: forced, as: UTF8.self), addSpecial: false, parseSpecial: false)
        // A pass's rows are one batch (evaluateHidden keeps the last batch's rows).
        return Array(tokens.prefix(min(Self.maxDraft, room - 1, model.transformer.batchCapacity - 1)))
    }

    /// The most likely of `candidates` at kept row `row` (the lowest id among equals: the token that
    /// the argmax of the whole row, restricted to them, picks); nil when there are none.
    private func mostLikely(_ candidates: [Int32], row: Int) -> Int32? {
        let t = model.transformer
        var best: Int32 = -1
        var bestLogit = -Float.infinity
        for id in candidates {
            let logit = t.logit(row: row, token: id)
            if best < 0 || logit > bestLogit {
                best = id
                bestLogit = logit
            }
        }
        return best < 0 ? nil : best
    }
}

/// A saved prefix: "HKV1", the token count, the tokens, the milliseconds computing them took, then
/// the cache's bytes (KVCache.snapshot). Written to a temporary name and renamed, so a crash never
/// leaves half a file under the real name.
enum PrefixFile {
    static let magic: [UInt8] = Array("HKV1".utf8)

    static func read(_ path: String, tokens: [Int32]) -> (computeMilliseconds: Double, kv: [UInt8])? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var header = [UInt8](repeating: 0, count: 4)
        var count: UInt32 = 0
        var milliseconds: Double = 0
        guard fread(&header, 1, 4, file) == 4, header == magic, fread(&count, 4, 1, file) == 1,
              Int(UInt32(littleEndian: count)) == tokens.count else { return nil }
        var saved = [Int32](repeating: 0, count: tokens.count)
        guard fread(&saved, 4, tokens.count, file) == tokens.count, saved.map({ Int32(littleEndian: $0) }) == tokens,
              fread(&milliseconds, 8, 1, file) == 1 else { return nil }
        let start = ftell(file)
        guard fseek(file, 0, SEEK_END) == 0 else { return nil }
        let size = ftell(file) - start
        guard size > 0, size < 1 << 30, fseek(file, start, SEEK_SET) == 0 else { return nil }
        var kv = [UInt8](repeating: 0, count: size)
        guard fread(&kv, 1, size, file) == size else { return nil }
        return (milliseconds, kv)
    }

    static func write(_ path: String, tokens: [Int32], computeMilliseconds: Double, kv: [UInt8]) {
        let temporary = path + ".tmp.\(getpid())"
        guard let file = fopen(temporary, "wb") else { return }
        var count = UInt32(tokens.count).littleEndian
        var milliseconds = computeMilliseconds
        let little = tokens.map(\.littleEndian)
        let ok = fwrite(magic, 1, 4, file) == 4 && fwrite(&count, 4, 1, file) == 1
            && fwrite(little, 4, little.count, file) == little.count && fwrite(&milliseconds, 8, 1, file) == 1
            && fwrite(kv, 1, kv.count, file) == kv.count
        if fclose(file) != 0 || !ok || rename(temporary, path) != 0 { unlink(temporary) }
    }
}
