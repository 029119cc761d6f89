import HarkGGUF

/// The figures a decoder-only transformer is built from, read from a GGUF file's `{arch}.*` keys after
/// `GGUFModelHeader` has checked them against each other and against the tensors.
public struct Hyperparameters: Sendable, Equatable {
    public var architecture: String
    public var layers: Int
    public var embedding: Int
    public var heads: Int
    public var kvHeads: Int
    public var keyLength: Int
    public var valueLength: Int
    public var feedForward: Int
    public var vocabulary: Int
    public var contextLength: Int
    /// `{arch}.attention.layer_norm_rms_epsilon`.
    public var rmsEpsilon: Float
    /// `{arch}.rope.freq_base` (10 000 when absent) and `{arch}.rope.dimension_count` (the key length).
    public var ropeBase: Float
    public var ropeDimensions: Int
    /// Experts per layer (0: dense), used per token, and the width of one expert's feed-forward.
    public var experts: Int
    public var expertsUsed: Int
    public var expertFeedForward: Int
    /// The shared expert's width (qwen2moe), 0 when there is none.
    public var sharedExpertFeedForward: Int
    /// `{arch}.attention.sliding_window`, when the architecture declares one.
    public var slidingWindow: Int?

    init(file: GGUFFile, header: GGUFModelHeader) throws(LLMError) {
        let m = file.metadata
        let arch = header.architecture
        architecture = arch
        layers = header.blockCount
        embedding = header.embeddingLength
        heads = header.headCount
        kvHeads = header.headCountKV
        keyLength = header.keyLength
        valueLength = header.valueLength
        feedForward = header.feedForwardLength
        vocabulary = header.vocabularySize
        contextLength = header.contextLength ?? 4096
        rmsEpsilon = Float(try readGGUF { try m.float(ifPresent: "\(arch).attention.layer_norm_rms_epsilon") } ?? 1e-5)
        ropeBase = Float(try readGGUF { try m.float(ifPresent: "\(arch).rope.freq_base") } ?? 10_000)
        ropeDimensions = try readGGUF { try m.integer(ifPresent: "\(arch).rope.dimension_count", as: Int.self) } ?? header.keyLength
        experts = header.expertCount
        expertsUsed = header.expertUsedCount
        expertFeedForward = header[.expertFeedForward]
        sharedExpertFeedForward = header[.sharedExpertFeedForward]
        slidingWindow = try readGGUF { try m.integer(ifPresent: "\(arch).attention.sliding_window", as: Int.self) }
        guard ropeDimensions > 0, ropeDimensions <= keyLength, ropeDimensions % 2 == 0 else {
            throw LLMError(.corruptModel,
                           "\(file.fileName): \(arch).rope.dimension_count is \(ropeDimensions), must be even and at most the key length \(keyLength)")
        }
        guard rmsEpsilon > 0, rmsEpsilon < 1, ropeBase > 1, ropeBase.isFinite else {
            throw LLMError(.corruptModel,
                           "\(file.fileName): rms epsilon \(rmsEpsilon) or rope base \(ropeBase) is out of range")
        }
        if let w = slidingWindow, w < 1 {
            throw LLMError(.corruptModel, "\(file.fileName): \(arch).attention.sliding_window is \(w), must be at least 1")
        }
    }

    /// `{arch}.expert_weights_scale`, 1 when absent or 0 (llama.cpp applies it only when set).
    func expertWeightsScale(_ w: ModelWeights) throws(LLMError) -> Float {
        let v = try readGGUF { try w.file.metadata.float(ifPresent: "\(architecture).expert_weights_scale") } ?? 0
        guard v.isFinite else {
            throw LLMError(.corruptModel, "\(w.file.fileName): \(architecture).expert_weights_scale is \(v)")
        }
        return v == 0 ? 1 : Float(v)
    }
}
