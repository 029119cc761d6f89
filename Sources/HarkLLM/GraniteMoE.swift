import HarkGGUF

/// `granitemoe`: IBM Granite 3.x MoE (granite-3.1-1b-a400m, 3b-a800m). As llama (adjacent-pair
/// RoPE, experts renormalised), with four scales from the metadata:
///   x = token_embd[token] · embedding_scale
///   attention scores · attention.scale instead of 1/√d
///   each block's output · residual_scale before it is added
///   logits / logit_scale
/// and, when `expert_shared_feed_forward_length` is set, a shared expert added without a gate.
enum GraniteMoE {
    static func build(_ w: ModelWeights, _ h: Hyperparameters) throws(LLMError) -> (ArchitectureTraits, [TransformerLayer]) {
        let m = w.file.metadata, arch = h.architecture
        func scale(_ key: String) throws(LLMError) -> Float? {
            guard let v = try readGGUF({ try m.float(ifPresent: "\(arch).\(key)") }) else { return nil }
            guard v.isFinite, v != 0 else {
                throw LLMError(.corruptModel, "\(w.file.fileName): \(arch).\(key) is \(v), must be a finite non-zero number")
            }
            return Float(v)
        }
        let traits = ArchitectureTraits(
            ropeAdjacent: true, normalizeExpertWeights: true,
            embeddingScale: try scale("embedding_scale") ?? 1, residualScale: try scale("residual_scale") ?? 1,
            attentionScale: try scale("attention.scale"), logitScale: try scale("logit_scale") ?? 1,
            expertWeightsScale: try h.expertWeightsScale(w))
        var layers: [TransformerLayer] = []
        for l in 0..<h.layers { layers.append(try TransformerLayer.load(w, h, layer: l, parts: [.sharedExpert])) }
        return (traits, layers)
    }
}
