import HarkGGUF

/// `qwen2moe`: Qwen1.5-MoE / Qwen2-MoE. As llama, with
///   - biases on q, k and v;
///   - GPT-NeoX RoPE (dimension i pairs with i + d/2);
///   - experts chosen by softmax top-k *without* renormalising the k weights;
///   - a shared expert every token goes through, scaled by sigmoid(ffn_gate_inp_shexp · n):
///       ffn = Σ experts + sigmoid(g · n) · ffn_down_shexp · (silu(ffn_gate_shexp · n) ⊙ ffn_up_shexp · n)
enum Qwen2MoE {
    static func build(_ w: ModelWeights, _ h: Hyperparameters) throws(LLMError) -> (ArchitectureTraits, [TransformerLayer]) {
        let traits = ArchitectureTraits(ropeAdjacent: false, normalizeExpertWeights: false,
                                        expertWeightsScale: try h.expertWeightsScale(w))
        var layers: [TransformerLayer] = []
        for l in 0..<h.layers {
            layers.append(try TransformerLayer.load(w, h, layer: l, parts: [.attentionBias, .sharedExpert, .sharedExpertGate]))
        }
        return (traits, layers)
    }
}
