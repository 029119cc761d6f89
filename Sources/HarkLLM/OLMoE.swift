import HarkGGUF

/// `olmoe`: AI2's OLMoE. As llama, with
///   - RMS norms of the whole of q and of k (attn_q_norm, attn_k_norm over all heads) before RoPE;
///   - GPT-NeoX RoPE;
///   - experts chosen by softmax top-k *without* renormalising the k weights.
enum OLMoE {
    static func build(_ w: ModelWeights, _ h: Hyperparameters) throws(LLMError) -> (ArchitectureTraits, [TransformerLayer]) {
        let traits = ArchitectureTraits(ropeAdjacent: false, normalizeExpertWeights: false, queryKeyNorm: .whole,
                                        expertWeightsScale: try h.expertWeightsScale(w))
        var layers: [TransformerLayer] = []
        for l in 0..<h.layers {
            layers.append(try TransformerLayer.load(w, h, layer: l, parts: [.queryKeyNorm],
                                                    queryKeyNormWidth: (h.heads * h.keyLength, h.kvHeads * h.keyLength)))
        }
        return (traits, layers)
    }
}
