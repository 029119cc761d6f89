/// A model's header figures, read from a `GGUFFile` and checked against each other and against the
/// tensors for one architecture:
///   - `{arch}.block_count` against the `blk.N.*` tensors present (none past the last layer, every
///     layer complete);
///   - `embedding_length`, `attention.head_count`, `head_count_kv` (divides the heads), key and value
///     lengths (`embedding_length / head_count` when absent: it must divide);
///   - `expert_count` / `expert_used_count` (1 ≤ used ≤ count with experts, none without);
///   - the vocabulary: `tokenizer.ggml.tokens`' length = `{arch}.vocab_size` when present = the length
///     of `scores` and `token_type` when present = `token_embd.weight`'s ne1; every
///     `tokenizer.ggml.*_token_id` inside it;
///   - every tensor the spec lists, with its shape in these figures (so an expert tensor's ne2 is
///     `expert_count`); no tensor the spec does not list.
public struct GGUFModelHeader: Sendable {
    public let architecture: String
    public let blockCount: Int
    /// `{arch}.context_length`, when present.
    public let contextLength: Int?
    public let vocabularySize: Int
    public let expertUsedCount: Int
    /// The figures tensor shapes refer to (absent ones are 0).
    public let figures: [GGUFFigure: Int]
    /// `tokenizer.ggml.*_token_id` by the middle of the key (`bos`, `eos`, `unknown`, `padding`, …).
    public let specialTokens: [String: Int]

    public subscript(figure: GGUFFigure) -> Int { figures[figure] ?? 0 }
    public var embeddingLength: Int { self[.embedding] }
    public var headCount: Int { self[.heads] }
    public var headCountKV: Int { self[.kvHeads] }
    public var keyLength: Int { self[.keyLength] }
    public var valueLength: Int { self[.valueLength] }
    public var feedForwardLength: Int { self[.feedForward] }
    public var expertCount: Int { self[.experts] }

    /// Reads and checks `file`'s header for `spec`.
    public init(file: GGUFFile, spec: GGUFArchitectureSpec) throws(GGUFError) {
        let m = file.metadata
        let name = file.fileName
        let arch = try m.architecture()
        guard arch == spec.name else {
            throw GGUFError(.unsupported, "\(name): the model is '\(arch)', checked as '\(spec.name)'")
        }
        func fail(_ message: String) -> GGUFError {
            GGUFError(.inconsistentModel, "\(name): \(message): the model file is inconsistent or corrupt")
        }
        func positive(_ suffix: String) throws(GGUFError) -> Int {
            let v = try m.integer("\(arch).\(suffix)", as: Int.self)
            guard v >= 1 else { throw fail("\(arch).\(suffix) is \(v), must be at least 1") }
            return v
        }
        func optional(_ suffix: String) throws(GGUFError) -> Int? {
            guard let v = try m.integer(ifPresent: "\(arch).\(suffix)", as: Int.self) else { return nil }
            guard v >= 0 else { throw fail("\(arch).\(suffix) is \(v), must not be negative") }
            return v
        }

        // Layers: each needs at least one tensor, so the count is bounded by the table before any
        // loop runs over it.
        let blocks = try positive("block_count")
        guard blocks <= file.tensors.count else {
            throw fail("\(arch).block_count is \(blocks) but the file has only \(file.tensors.count) tensors")
        }

        // Attention.
        let embedding = try positive("embedding_length")
        let heads = try positive("attention.head_count")
        let kvHeads = try optional("attention.head_count_kv") ?? heads
        guard kvHeads >= 1, heads % kvHeads == 0 else {
            throw fail("\(arch).attention.head_count_kv is \(kvHeads), which does not divide head_count \(heads)")
        }
        func headLength(_ suffix: String) throws(GGUFError) -> Int {
            if let v = try optional(suffix) {
                guard v >= 1 else { throw fail("\(arch).\(suffix) is 0") }
                return v
            }
            guard embedding % heads == 0 else {
                throw fail("\(arch).embedding_length \(embedding) is not a multiple of head_count \(heads), and \(arch).\(suffix) is absent")
            }
            return embedding / heads
        }
        let keyLength = try headLength("attention.key_length")
        let valueLength = try headLength("attention.value_length")
        let rope = try optional("rope.dimension_count") ?? keyLength
        guard rope <= keyLength, rope % 2 == 0 else {
            throw fail("\(arch).rope.dimension_count is \(rope), must be even and at most the key length \(keyLength)")
        }

        // Feed-forward and experts.
        let feedForward = try optional("feed_forward_length") ?? 0
        let experts = try optional("expert_count") ?? 0
        let used = try optional("expert_used_count") ?? 0
        switch spec.experts {
        case .none where experts > 0:
            throw fail("\(arch).expert_count is \(experts), but \(arch) models have no experts")
        case .required where experts == 0:
            throw fail("\(arch).expert_count is missing or 0, but \(arch) models are mixtures of experts")
        default: break
        }
        if experts > 0 {
            guard used >= 1, used <= experts else {
                throw fail("\(arch).expert_used_count is \(used), must be between 1 and expert_count \(experts)")
            }
        } else if used > 0 {
            throw fail("\(arch).expert_used_count is \(used) but the model has no experts")
        }
        let expertWidth: Int
        if let v = try optional("expert_feed_forward_length") {
            expertWidth = v
        } else {
            switch spec.expertWidthDefault {
            case .feedForward: expertWidth = feedForward
            case .feedForwardPerUsedExpert: expertWidth = used > 0 ? feedForward / used : 0
            }
        }
        let sharedWidth: Int
        if let v = try optional("expert_shared_feed_forward_length") {
            sharedWidth = v
        } else {
            sharedWidth = spec.sharedExpertWidthDefault == .feedForward ? feedForward : 0
        }

        // Vocabulary.
        let tokens = try m.strings("tokenizer.ggml.tokens")
        let vocabulary = tokens.count
        guard vocabulary >= 1 else { throw fail("tokenizer.ggml.tokens is empty") }
        if let declared = try optional("vocab_size"), declared != vocabulary {
            throw fail("\(arch).vocab_size is \(declared) but tokenizer.ggml.tokens has \(vocabulary) tokens")
        }
        if let scores = try m.floats(ifPresent: "tokenizer.ggml.scores"), scores.count != vocabulary {
            throw fail("tokenizer.ggml.scores has \(scores.count) entries for \(vocabulary) tokens")
        }
        if let types = try m.integers(ifPresent: "tokenizer.ggml.token_type", as: Int32.self), types.count != vocabulary {
            throw fail("tokenizer.ggml.token_type has \(types.count) entries for \(vocabulary) tokens")
        }
        _ = try m.strings(ifPresent: "tokenizer.ggml.merges")
        var special: [String: Int] = [:]
        for key in m.keys where key.hasPrefix("tokenizer.ggml.") && key.hasSuffix("_token_id") {
            let id = try m.integer(key, as: Int.self)
            guard id >= 0, id < vocabulary else {
                throw fail("\(key) is \(id), outside the vocabulary of \(vocabulary) tokens")
            }
            special[String(key.dropFirst("tokenizer.ggml.".count).dropLast("_token_id".count))] = id
        }

        var figures: [GGUFFigure: Int] = [
            .embedding: embedding, .vocabulary: vocabulary, .heads: heads, .kvHeads: kvHeads,
            .keyLength: keyLength, .valueLength: valueLength, .feedForward: feedForward,
            .experts: experts, .expertFeedForward: expertWidth, .sharedExpertFeedForward: sharedWidth,
            .ropeDimensions: rope, .halfRope: rope / 2,
        ]
        figures = figures.filter { $0.value > 0 }

        // Tensors: no layer past block_count; every applicable rule's tensors present with their
        // shapes; nothing else.
        for tensor in file.tensors {
            if let layer = Self.layer(of: tensor.name), layer >= blocks {
                throw fail("tensor '\(tensor.name)' is for layer \(layer), but \(arch).block_count is \(blocks)")
            }
        }
        var matched = Set<String>()
        for rule in spec.tensors {
            let applies: Bool
            let required: Bool
            switch rule.presence {
            case .required: (applies, required) = (true, true)
            case .optional: (applies, required) = (true, false)
            case .requiredIfDense: (applies, required) = (experts == 0, true)
            case .requiredIfExperts: (applies, required) = (experts > 0, true)
            case .requiredIfSharedExperts: (applies, required) = (sharedWidth > 0, true)
            }
            guard applies else { continue }
            let names = rule.isPerLayer ? (0..<blocks).map { rule.name(layer: $0) } : [rule.name]
            for tensorName in names {
                guard let tensor = file.tensor(named: tensorName) else {
                    if required {
                        throw GGUFError(.missingTensor, "\(name): tensor '\(tensorName)' is missing: a \(arch) model with these figures needs it (the model file is incomplete or of another architecture)")
                    }
                    continue
                }
                matched.insert(tensorName)
                let expected = try Self.shape(rule.shape, figures: figures, architecture: arch, tensor: tensorName, fileName: name)
                let padded = expected + Array(repeating: 1, count: max(0, 4 - expected.count))
                guard padded == tensor.paddedDimensions else {
                    let formula = rule.shape.map(\.description).joined(separator: ", ")
                    throw fail("tensor '\(tensorName)' has shape \(tensor.dimensions), expected \(expected) ([\(formula)])")
                }
            }
        }
        if !spec.allowsUnlistedTensors, let extra = file.tensors.first(where: { !matched.contains($0.name) }) {
            throw fail("tensor '\(extra.name)' is not part of a \(arch) model with these figures")
        }

        self.architecture = arch
        self.blockCount = blocks
        self.contextLength = try optional("context_length")
        self.vocabularySize = vocabulary
        self.expertUsedCount = used
        self.figures = figures
        self.specialTokens = special
    }

    /// The layer of a `blk.N.…` name (N canonical decimal), or nil for any other name.
    static func layer(of name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let digits = name.utf8.dropFirst(4).prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !digits.isEmpty, digits.count <= 9, digits.count == 1 || digits.first != UInt8(ascii: "0") else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    private static func shape(_ dims: [GGUFDimension], figures: [GGUFFigure: Int], architecture: String, tensor: String, fileName: String) throws(GGUFError) -> [Int] {
        func value(_ f: GGUFFigure) throws(GGUFError) -> Int {
            guard let v = figures[f] else {
                throw GGUFError(.missingKey, "\(fileName): \(f.key(architecture: architecture)) is missing or 0, but tensor '\(tensor)' needs it (\(f)): the model file is incomplete")
            }
            return v
        }
        var out: [Int] = []
        for d in dims {
            switch d {
            case .figure(let f): out.append(try value(f))
            case .constant(let n): out.append(n)
            case .product(let a, let b):
                let (p, overflow) = try value(a).multipliedReportingOverflow(by: try value(b))
                guard !overflow else {
                    throw GGUFError(.inconsistentModel, "\(fileName): \(a) × \(b) overflows for tensor '\(tensor)': the model file is corrupt")
                }
                out.append(p)
            }
        }
        return out
    }
}

extension GGUFFile {
    /// Checks the header against the spec for its `general.architecture`; unknown architectures are
    /// `unsupported`.
    public func modelHeader(spec: GGUFArchitectureSpec? = nil) throws(GGUFError) -> GGUFModelHeader {
        let arch = try metadata.architecture()
        guard let spec = spec ?? GGUFArchitectureSpec.known[arch] else {
            let names = GGUFArchitectureSpec.known.keys.sorted().joined(separator: ", ")
            throw GGUFError(.unsupported, "\(fileName): architecture '\(arch)' is not one Hark reads (\(names))")
        }
        return try GGUFModelHeader(file: self, spec: spec)
    }
}
