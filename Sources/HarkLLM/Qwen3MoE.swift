import HarkGGUF

/// `qwen3moe`: Qwen3 mixtures of experts (Qwen3-30B-A3B and smaller). As llama, with
///   - RMS norms of q and k per head (attn_q_norm, attn_k_norm: head-size weights) before RoPE;
///   - GPT-NeoX RoPE;
///   - experts chosen by softmax top-k, the k weights renormalised to sum to 1 (norm_topk_prob).
enum Qwen3MoE {
    static func build(_ w: ModelWeights, _ h: Hyperparameters) throws(LLMError) -> (ArchitectureTraits, [TransformerLayer]) {
        let traits = ArchitectureTraits(ropeAdjacent: false, normalizeExpertWeights: true, queryKeyNorm: .perHead,
                                        expertWeightsScale: try h.expertWeightsScale(w))
        var layers: [TransformerLayer] = []
        for l in 0..<h.layers {
            layers.append(try TransformerLayer.load(w, h, layer: l, parts: [.queryKeyNorm],
                                                    queryKeyNormWidth: (h.keyLength, h.keyLength)))
        }
        return (traits, layers)
    }
}
