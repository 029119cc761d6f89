import HarkGGUF

/// `llama` (general.architecture): Llama 2/3, SmolLM2, and Mixtral-style mixtures of experts when
/// `llama.expert_count` is set.
///
///   x = token_embd[token]
///   per layer: x += attn_output · attention(rope(attn_q · n), rope(attn_k · n), attn_v · n),  n = rms(x) · attn_norm
///              x += ffn_down · (silu(ffn_gate · n) ⊙ ffn_up · n),                              n = rms(x) · ffn_norm
///              (experts: softmax(ffn_gate_inp · n), the top `expert_used_count` renormalised, each
///              expert's SwiGLU from ffn_{gate,up,down}_exps weighted and summed)
///   logits = output · (rms(x) · output_norm)   (output = token_embd when the file has no output.weight)
///
/// RoPE pairs adjacent dimensions: llama.cpp's converter permutes q and k for it.
enum Llama {
    static func build(_ w: ModelWeights, _ h: Hyperparameters) throws(LLMError) -> (ArchitectureTraits, [TransformerLayer]) {
        let traits = ArchitectureTraits(ropeAdjacent: true, normalizeExpertWeights: true,
                                        expertWeightsScale: try h.expertWeightsScale(w))
        var layers: [TransformerLayer] = []
        for l in 0..<h.layers { layers.append(try TransformerLayer.load(w, h, layer: l)) }
        return (traits, layers)
    }
}
