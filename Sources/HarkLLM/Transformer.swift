import Glibc
import HarkGGUF
import HarkKernels

/// What sets one decoder-only architecture apart from another; each architecture's file fills it in.
struct ArchitectureTraits: Sendable {
    /// RoPE pairs adjacent dimensions (llama's "normal" RoPE) rather than the two halves (NeoX).
    var ropeAdjacent = true
    /// Softmax over the router's logits, then top-k; the k weights renormalised to sum to 1.
    var normalizeExpertWeights = true
    /// Scales (granite): the embedding is multiplied by `embeddingScale`, each block's output by
    /// `residualScale` before it is added, attention scores use `attentionScale` instead of 1/√d, and
    /// the logits are divided by `logitScale`.
    var embeddingScale: Float = 1
    var residualScale: Float = 1
    var attentionScale: Float? = nil
    var logitScale: Float = 1
    /// RMS norms of q and k before RoPE: per head (qwen3moe, weights of the head size) or over all
    /// heads at once (olmoe, weights of the full width).
    var queryKeyNorm: QueryKeyNorm = .none
    /// Multiplies the chosen experts' weights (`{arch}.expert_weights_scale`; 1 when absent).
    var expertWeightsScale: Float = 1

    enum QueryKeyNorm: Sendable { case none, perHead, whole }
}

/// One layer's weights. Dense layers have `gate`/`up`/`down`; expert layers `router` and one matrix
/// per expert, and optionally a shared expert with its sigmoid gate (qwen2moe).
struct TransformerLayer: @unchecked Sendable {
    // @unchecked: the pointers are into the model file's memory map, read-only and alive as long as the model.
    var attentionNorm: UnsafePointer<Float>
    var query: QuantMatrix, key: QuantMatrix, value: QuantMatrix, output: QuantMatrix
    var queryBias: UnsafePointer<Float>?, keyBias: UnsafePointer<Float>?, valueBias: UnsafePointer<Float>?
    /// Per-head RMS norms of q and k (qwen3moe), or over all of q and k (olmoe): `qkNormWidth` values.
    var queryNorm: UnsafePointer<Float>?, keyNorm: UnsafePointer<Float>?
    var feedForwardNorm: UnsafePointer<Float>
    var gate: QuantMatrix?, up: QuantMatrix?, down: QuantMatrix?
    var router: QuantMatrix?
    var expertGate: [QuantMatrix] = [], expertUp: [QuantMatrix] = [], expertDown: [QuantMatrix] = []
    var sharedGate: QuantMatrix?, sharedUp: QuantMatrix?, sharedDown: QuantMatrix?
    var sharedRouter: QuantMatrix?
}

/// The decoder stack every architecture runs: embedding → layers of (RMS norm → attention with RoPE,
/// grouped-query, over the KV cache → residual; RMS norm → SwiGLU feed-forward, dense or a mixture of
/// experts → residual) → RMS norm → logits.
///
/// Mutable state (the KV cache, scratch buffers) has one owner: one caller at a time.
public final class Transformer: @unchecked Sendable {
    public let hyper: Hyperparameters
    public let cache: KVCache
    let traits: ArchitectureTraits
    let weights: ModelWeights
    let tokenEmbedding: QuantMatrix
    let outputNorm: UnsafePointer<Float>
    let outputMatrix: QuantMatrix
    let layers: [TransformerLayer]
    let pool: KernelThreadPool
    /// Tokens evaluated per pass; a longer prompt goes through in chunks.
    public let batchCapacity: Int
    /// The last `evaluateHidden`'s rows after the output norm, in the output matrix's activation format.
    private let hidden: QuantActivations
    private let scratch: Scratch
    /// Set by `limitResidentWeights`: the experts kept resident under a budget.
    public private(set) var expertCache: ExpertCache?

    init(weights: ModelWeights, hyper: Hyperparameters, traits: ArchitectureTraits, layers: [TransformerLayer],
         threads: Int, contextLength: Int?, batchCapacity: Int) throws(LLMError) {
        self.weights = weights
        self.hyper = hyper
        self.traits = traits
        self.layers = layers
        tokenEmbedding = try weights.matrix("token_embd.weight")
        outputNorm = try weights.vector("output_norm.weight", count: hyper.embedding)
        outputMatrix = try weights.optionalTensor("output.weight").map { t throws(LLMError) in try weights.matrix(t) } ?? tokenEmbedding
        pool = KernelThreadPool(threadCount: max(1, threads))
        self.batchCapacity = max(1, batchCapacity)
        let context = min(contextLength ?? hyper.contextLength, hyper.contextLength)
        cache = KVCache(layers: hyper.layers, capacity: context, kvSize: hyper.kvHeads * max(hyper.keyLength, hyper.valueLength),
                        window: hyper.slidingWindow, batch: self.batchCapacity)
        scratch = Scratch(hyper: hyper, batch: self.batchCapacity, context: cache.capacity, lanes: pool.threadCount)
        hidden = QuantActivations(for: outputMatrix.type, columns: hyper.embedding, capacity: self.batchCapacity)
    }

    /// Positions evaluated so far.
    public var position: Int { cache.count }

    /// Holds the model's resident bytes to `budget`: everything but the experts stays in the memory
    /// map, and the experts share what is left, as slots they are read into from the file, least
    /// recently used replaced first (`ExpertCache`). Outputs do not change. A budget the whole file
    /// fits in removes the limit; one below the always-resident part plus the largest expert is an
    /// error naming the three sizes.
    public func limitResidentWeights(to budget: Int) throws(LLMError) {
        let file = weights.file
        guard hyper.experts > 0, budget < file.fileSize else {
            expertCache = nil
            return
        }
        guard let path = file.mappedPath, let map = file.mappedBytes else {
            throw LLMError(.invalidArgument, "\(file.fileName): a memory budget needs a model file on disk to page experts from")
        }
        // No 2 MB mappings of the file: dropping part of one drops all of it, and faulting one in
        // maps the experts it holds. (Advice only: without it results are the same.)
        _ = madvise(UnsafeMutableRawPointer(mutating: map.baseAddress), map.count, MADV_NOHUGEPAGE)
        var experts: [[ExpertCache.Expert]] = []
        var regions: [UnsafeRawBufferPointer] = []
        for (l, layer) in layers.enumerated() {
            let tensors = try ["gate", "up", "down"].map { (part: String) throws(LLMError) -> GGUFTensor in try weights.tensor("blk.\(l).ffn_\(part)_exps.weight") }
            regions += tensors.map { file.tensorData($0) }
            experts.append(layer.expertGate.indices.map { e in
                ExpertCache.Expert(gate: layer.expertGate[e], up: layer.expertUp[e], down: layer.expertDown[e],
                                   offsets: (tensors[0].offset + e * layer.expertGate[e].byteCount,
                                             tensors[1].offset + e * layer.expertUp[e].byteCount,
                                             tensors[2].offset + e * layer.expertDown[e].byteCount))
            })
        }
        let expertBytes = experts.joined().reduce(0) { $0 + $1.byteCount }
        let fixed = file.fileSize - expertBytes
        let largest = experts.joined().map(\.byteCount).max() ?? 0
        guard budget - fixed >= largest else {
            func mb(_ bytes: Int) -> String { String(Double(Int(Double(bytes) / 1_048_576 * 10)) / 10) }
            throw LLMError(.invalidArgument, "\(file.fileName): a memory budget of \(mb(budget)) MB is below the model's always-resident part (\(mb(fixed)) MB) plus its largest expert (\(mb(largest)) MB)")
        }
        expertCache = try ExpertCache(path: path, experts: experts, mappedRegions: regions, budget: budget - fixed)
    }

    /// Forget the conversation.
    public func reset() { cache.clear() }

    /// Evaluates `tokens` at the next positions and writes the logits of the last one to
    /// `logits[vocabulary]` (or, with `allLogits`, of every one: `logits[tokens.count × vocabulary]`).
    public func evaluate(_ tokens: [Int32], logits: UnsafeMutablePointer<Float>, allLogits: Bool = false) throws(LLMError) {
        try forEachBatch(tokens) { start, n, last in
            if allLogits {
                finalLogits(rows: 0..<n, into: logits + start * hyper.vocabulary)
            } else if last {
                finalLogits(rows: (n - 1)..<n, into: logits)
            }
        }
    }

    /// `evaluate` without the logits: the last batch's rows (all of `tokens` when they fit one
    /// batch) are kept after the output norm, quantized for the output matrix, and `logit(row:token:)`
    /// computes any token's logit from them, bit for bit the value `evaluate` writes. A constrained
    /// decoder needs only the logits of the tokens its grammar allows (tens, of a vocabulary of tens of
    /// thousands), and the full output product is the largest single product of a pass. Returns how
    /// many rows are kept: row r is the position after `tokens[tokens.count − rows + r]`.
    @discardableResult
    public func evaluateHidden(_ tokens: [Int32]) throws(LLMError) -> Int {
        var rows = 0
        try forEachBatch(tokens) { _, n, last in
            guard last else { return }
            normOutput(rows: 0..<n)
            hidden.quantize(scratch.xn, rows: n)
            rows = n
        }
        return rows
    }

    /// The logit of `token` at kept row `row` of the last `evaluateHidden`.
    @inline(__always)
    public func logit(row: Int, token: Int32) -> Float {
        let value = Quant.dot(outputMatrix.type, outputMatrix.row(Int(token)), hidden.row(row), count: hyper.embedding)
        return traits.logitScale == 1 ? value : value / traits.logitScale
    }

    /// Checks `tokens`, then runs them through the layers `batchCapacity` at a time, calling `body`
    /// with each batch's start, size and whether it is the last.
    private func forEachBatch(_ tokens: [Int32], _ body: (_ start: Int, _ n: Int, _ last: Bool) -> Void) throws(LLMError) {
        try check(tokens)
        var start = 0
        while start < tokens.count {
            let n = min(batchCapacity, tokens.count - start)
            forward(tokens[start..<(start + n)])
            body(start, n, start + n == tokens.count)
            start += n
        }
        expertCache?.release()
    }

    /// The output norm of the batch's `rows` into `xn[0..<rows.count]`.
    private func normOutput(rows: Range<Int>) {
        let s = scratch, E = hyper.embedding
        for (i, j) in rows.enumerated() { Numerics.rmsNorm(s.x + j * E, outputNorm, s.xn + i * E, count: E, epsilon: hyper.rmsEpsilon) }
    }

    private func check(_ tokens: [Int32]) throws(LLMError) {
        guard !tokens.isEmpty else { throw LLMError(.invalidArgument, "evaluate: no tokens") }
        for t in tokens where t < 0 || Int(t) >= hyper.vocabulary {
            throw LLMError(.invalidArgument, "evaluate: token id \(t) is outside the vocabulary of \(hyper.vocabulary)")
        }
        if hyper.slidingWindow == nil && cache.count + tokens.count > cache.capacity {
            throw LLMError(.invalidArgument,
                           "evaluate: \(cache.count) + \(tokens.count) tokens exceed the context of \(cache.capacity)")
        }
    }

    // MARK: The forward pass

    private func forward(_ tokens: ArraySlice<Int32>) {
        let h = hyper, s = scratch
        let n = tokens.count
        let E = h.embedding
        let p0 = cache.count
        for (j, t) in tokens.enumerated() {
            tokenEmbedding.dequantizeRow(Int(t), into: s.x + j * E)
            if traits.embeddingScale != 1 { for i in 0..<E { s.x[j * E + i] *= traits.embeddingScale } }
        }
        let qWidth = h.heads * h.keyLength, kWidth = h.kvHeads * h.keyLength, vWidth = h.kvHeads * h.valueLength
        let attnWidth = h.heads * h.valueLength
        for (l, layer) in layers.enumerated() {
            // Attention.
            for j in 0..<n { Numerics.rmsNorm(s.x + j * E, layer.attentionNorm, s.xn + j * E, count: E, epsilon: h.rmsEpsilon) }
            s.multiply([layer.query, layer.key, layer.value], input: s.xn, rows: n, outputs: [s.q, s.k, s.v], pool: pool)
            for j in 0..<n {
                if let b = layer.queryBias { for i in 0..<qWidth { s.q[j * qWidth + i] += b[i] } }
                if let b = layer.keyBias { for i in 0..<kWidth { s.k[j * kWidth + i] += b[i] } }
                if let b = layer.valueBias { for i in 0..<vWidth { s.v[j * vWidth + i] += b[i] } }
                if let qn = layer.queryNorm, let kn = layer.keyNorm {
                    normalizeQueryKey(s.q + j * qWidth, heads: h.heads, weight: qn, scratch: s.xn2)
                    normalizeQueryKey(s.k + j * kWidth, heads: h.kvHeads, weight: kn, scratch: s.xn2)
                }
                Numerics.rotaryTable(position: p0 + j, dimensions: h.ropeDimensions, base: h.ropeBase, cos: s.cos, sin: s.sin)
                Numerics.rotate(s.q + j * qWidth, heads: h.heads, headSize: h.keyLength, dimensions: h.ropeDimensions,
                                adjacent: traits.ropeAdjacent, cos: s.cos, sin: s.sin)
                Numerics.rotate(s.k + j * kWidth, heads: h.kvHeads, headSize: h.keyLength, dimensions: h.ropeDimensions,
                                adjacent: traits.ropeAdjacent, cos: s.cos, sin: s.sin)
                let key = cache.key(layer: l, position: p0 + j), value = cache.value(layer: l, position: p0 + j)
                for i in 0..<kWidth { key[i] = Float16(s.k[j * kWidth + i]) }
                for i in 0..<vWidth { value[i] = Float16(s.v[j * vWidth + i]) }
            }
            let scale = traits.attentionScale ?? 1 / Float(h.keyLength).squareRoot()
            // Rows in parallel, each lane with its own scores and partial sums: lane c takes rows c,
            // c + lanes, … (later rows attend over more positions, so striding balances the lanes).
            // With fewer rows than lanes (decoding) each lane takes every row's share of the heads
            // instead. Each head's arithmetic is the same whichever thread runs it.
            let byHeads = n < s.lanes && h.heads >= s.lanes
            let lanes = byHeads ? s.lanes : min(n, s.lanes), cache = cache
            pool.run(chunks: lanes) { c in
                var j = byHeads ? 0 : c
                while j < n {
                    let end = p0 + j + 1
                    let first = h.slidingWindow.map { max(0, end - $0) } ?? 0
                    Attention.attend(query: s.q + j * qWidth, output: s.attention + j * attnWidth, cache: cache, layer: l,
                                     positions: first..<end, heads: h.heads, kvHeads: h.kvHeads, keySize: h.keyLength,
                                     valueSize: h.valueLength, scale: scale, scores: s.scores + c * s.context,
                                     query16: s.query16 + c * h.keyLength, partial: s.partial + c * 32 * h.valueLength,
                                     headRange: byHeads ? (h.heads * c / lanes)..<(h.heads * (c + 1) / lanes) : nil)
                    j += byHeads ? 1 : lanes
                }
            }
            s.multiply([layer.output], input: s.attention, rows: n, outputs: [s.o], pool: pool)
            addResidual(s.x, s.o, count: n * E)

            // Feed-forward.
            for j in 0..<n { Numerics.rmsNorm(s.x + j * E, layer.feedForwardNorm, s.xn + j * E, count: E, epsilon: h.rmsEpsilon) }
            if let gate = layer.gate, let up = layer.up, let down = layer.down {
                s.multiply([gate, up], input: s.xn, rows: n, outputs: [s.g, s.u], pool: pool)
                Numerics.swiGLU(s.g, s.u, count: n * gate.rows)
                s.multiply([down], input: s.g, rows: n, outputs: [s.o], pool: pool)
            } else {
                mixtureOfExperts(layer, index: l, rows: n)
            }
            addResidual(s.x, s.o, count: n * E)
        }
        cache.count = p0 + n
    }

    /// q or k of one position, x[heads × keyLength], RMS-normed per head or as a whole.
    private func normalizeQueryKey(_ x: UnsafeMutablePointer<Float>, heads: Int, weight: UnsafePointer<Float>,
                                   scratch: UnsafeMutablePointer<Float>) {
        let d = hyper.keyLength
        switch traits.queryKeyNorm {
        case .none:
            return
        case .perHead:
            for head in 0..<heads {
                Numerics.rmsNorm(x + head * d, weight, scratch, count: d, epsilon: hyper.rmsEpsilon)
                (x + head * d).update(from: scratch, count: d)
            }
        case .whole:
            Numerics.rmsNorm(x, weight, scratch, count: heads * d, epsilon: hyper.rmsEpsilon)
            x.update(from: scratch, count: heads * d)
        }
    }

    private func addResidual(_ x: UnsafeMutablePointer<Float>, _ delta: UnsafePointer<Float>, count: Int) {
        if traits.residualScale == 1 {
            for i in 0..<count { x[i] += delta[i] }
        } else {
            for i in 0..<count { x[i] += delta[i] * traits.residualScale }
        }
    }

    /// o[n × E] = Σ over each row's top-k experts of weight · down(swiGLU(gate·x, up·x)) (+ the shared expert).
    private func mixtureOfExperts(_ layer: TransformerLayer, index l: Int, rows n: Int) {
        let h = hyper, s = scratch, E = h.embedding
        guard let router = layer.router else { return }
        s.multiply([router], input: s.xn, rows: n, outputs: [s.routerLogits], pool: pool)
        for i in 0..<(n * E) { s.o[i] = 0 }
        // Each row's experts and weights.
        var chosen = [[(expert: Int, weight: Float)]](repeating: [], count: n)
        for j in 0..<n {
            let logits = s.routerLogits + j * h.experts
            Numerics.softmax(logits, count: h.experts, scale: 1)
            var order = Array(0..<h.experts)
            order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            var picks = order.prefix(h.expertsUsed).map { ($0, logits[$0]) }
            if traits.normalizeExpertWeights {
                // ggml clamps the sum from below (6.1e-5, float16's smallest normal) before dividing.
                let sum = max(picks.reduce(Float(0)) { $0 + $1.1 }, 6.103515625e-5)
                picks = picks.map { ($0.0, $0.1 / sum) }
            }
            if traits.expertWeightsScale != 1 {
                picks = picks.map { ($0.0, $0.1 * traits.expertWeightsScale) }
            }
            chosen[j] = picks.map { (expert: $0.0, weight: $0.1) }
        }
        // Expert by expert, over the rows that chose it, so each expert's weights are read once.
        let F = h.expertFeedForward
        for e in 0..<h.experts {
            let rows = (0..<n).filter { j in chosen[j].contains { $0.expert == e } }
            if rows.isEmpty { continue }
            let (gate, up, down) = expertCache?.use(layer: l, expert: e) ?? (layer.expertGate[e], layer.expertUp[e], layer.expertDown[e])
            for (r, j) in rows.enumerated() { (s.gathered + r * E).update(from: s.xn + j * E, count: E) }
            s.multiply([gate, up], input: s.gathered, rows: rows.count, outputs: [s.g, s.u], pool: pool)
            Numerics.swiGLU(s.g, s.u, count: rows.count * F)
            s.multiply([down], input: s.g, rows: rows.count, outputs: [s.expertOut], pool: pool)
            for (r, j) in rows.enumerated() {
                let w = chosen[j].first { $0.expert == e }!.weight
                for i in 0..<E { s.o[j * E + i] += w * s.expertOut[r * E + i] }
            }
        }
        if let gate = layer.sharedGate, let up = layer.sharedUp, let down = layer.sharedDown {
            s.multiply([gate, up], input: s.xn, rows: n, outputs: [s.g, s.u], pool: pool)
            Numerics.swiGLU(s.g, s.u, count: n * gate.rows)
            s.multiply([down], input: s.g, rows: n, outputs: [s.expertOut], pool: pool)
            if let sharedRouter = layer.sharedRouter {
                s.multiply([sharedRouter], input: s.xn, rows: n, outputs: [s.routerLogits], pool: pool)
            }
            for j in 0..<n {
                let g: Float = layer.sharedRouter == nil ? 1 : 1 / (1 + expf(-s.routerLogits[j]))
                for i in 0..<E { s.o[j * E + i] += g * s.expertOut[j * E + i] }
            }
        }
    }

    /// The logits of the batch's `rows` into `logits[rows.count × vocabulary]`, one product for all.
    private func finalLogits(rows: Range<Int>, into logits: UnsafeMutablePointer<Float>) {
        let s = scratch
        normOutput(rows: rows)
        s.multiply([outputMatrix], input: s.xn, rows: rows.count, outputs: [logits], pool: pool)
        if traits.logitScale != 1 { for i in 0..<(rows.count * hyper.vocabulary) { logits[i] /= traits.logitScale } }
    }
}

import Glibc

/// Working buffers, allocated once for the largest batch.
final class Scratch: @unchecked Sendable {
    // @unchecked: owned by one Transformer, used by its one caller at a time.
    let x, xn, xn2, q, k, v, attention, o, g, u, routerLogits, gathered, expertOut, scores, cos, sin, partial: UnsafeMutablePointer<Float>
    let query16: UnsafeMutablePointer<Float16>
    private var activations: [Int: QuantActivations] = [:]
    private let batch: Int
    /// Attention's per-thread buffers: `lanes` of `scores` (`context` each), `query16` and `partial`.
    let lanes: Int
    let context: Int
    private var owned: [UnsafeMutablePointer<Float>] = []

    init(hyper h: Hyperparameters, batch: Int, context: Int, lanes: Int) {
        self.batch = batch
        self.lanes = max(1, lanes)
        self.context = context
        var owned: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
            p.initialize(repeating: 0, count: max(1, count))
            owned.append(p)
            return p
        }
        let widest = max(h.feedForward, h.expertFeedForward, h.sharedExpertFeedForward)
        x = buffer(batch * h.embedding)
        xn = buffer(batch * h.embedding)
        xn2 = buffer(max(h.heads, h.kvHeads) * h.keyLength)
        q = buffer(batch * h.heads * h.keyLength)
        k = buffer(batch * h.kvHeads * h.keyLength)
        v = buffer(batch * h.kvHeads * h.valueLength)
        attention = buffer(batch * h.heads * h.valueLength)
        o = buffer(batch * h.embedding)
        g = buffer(batch * widest)
        u = buffer(batch * widest)
        routerLogits = buffer(batch * max(h.experts, 1))
        gathered = buffer(batch * h.embedding)
        expertOut = buffer(batch * h.embedding)
        scores = buffer(self.lanes * context)
        partial = buffer(self.lanes * 32 * h.valueLength)
        cos = buffer(h.ropeDimensions / 2)
        sin = buffer(h.ropeDimensions / 2)
        query16 = .allocate(capacity: self.lanes * max(h.keyLength, 1))
        self.owned = owned
    }

    deinit {
        for p in owned { p.deallocate() }
        query16.deallocate()
    }

    /// outputs[m][rows × matrices[m].rows] = input[rows × columns] · matrices[m]ᵀ, the input quantized
    /// once per activation format the matrices need.
    func multiply(_ matrices: [QuantMatrix], input: UnsafePointer<Float>, rows: Int, outputs: [UnsafeMutablePointer<Float>],
                  pool: KernelThreadPool) {
        var done: [ActivationFormat] = []
        var products: [(matrix: QuantMatrix, x: QuantActivations, y: UnsafeMutablePointer<Float>)] = []
        for (m, matrix) in matrices.enumerated() {
            let key = matrix.columns * 16 + ActivationFormat.allCases.firstIndex(of: matrix.type.activationFormat)!
            let a: QuantActivations
            if let existing = activations[key] {
                a = existing
            } else {
                a = QuantActivations(for: matrix.type, columns: matrix.columns, capacity: batch)
                activations[key] = a
            }
            if !done.contains(matrix.type.activationFormat) || a.count != rows {
                a.quantize(input, rows: rows)
                done.append(matrix.type.activationFormat)
            }
            products.append((matrix, a, outputs[m]))
        }
        QuantMatrix.multiply(products, pool: pool)
    }
}
