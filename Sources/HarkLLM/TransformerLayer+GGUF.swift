import HarkGGUF

extension TransformerLayer {
    /// What a layer's tensors may include beyond llama's.
    struct Parts: OptionSet {
        let rawValue: Int
        /// attn_{q,k,v}.bias (qwen2moe; optional where present).
        static let attentionBias = Parts(rawValue: 1)
        /// attn_q_norm, attn_k_norm (qwen3moe per head, olmoe over the full width).
        static let queryKeyNorm = Parts(rawValue: 2)
        /// ffn_{gate,up,down}_shexp (qwen2moe; granitemoe when its shared width is set).
        static let sharedExpert = Parts(rawValue: 4)
        /// ffn_gate_inp_shexp, the shared expert's sigmoid gate (qwen2moe).
        static let sharedExpertGate = Parts(rawValue: 8)
    }

    /// Layer `l` of a GGUF decoder (`blk.l.*`): attention, norms, and a dense SwiGLU feed-forward or
    /// (when the model has experts) a router with per-expert matrices.
    static func load(_ w: ModelWeights, _ h: Hyperparameters, layer l: Int, parts: Parts = [],
                     queryKeyNormWidth: (query: Int, key: Int) = (0, 0)) throws(LLMError) -> TransformerLayer {
        let p = "blk.\(l)."
        var layer = TransformerLayer(
            attentionNorm: try w.vector(p + "attn_norm.weight", count: h.embedding),
            query: try w.matrix(p + "attn_q.weight"), key: try w.matrix(p + "attn_k.weight"),
            value: try w.matrix(p + "attn_v.weight"), output: try w.matrix(p + "attn_output.weight"),
            feedForwardNorm: try w.vector(p + "ffn_norm.weight", count: h.embedding))
        if parts.contains(.attentionBias) {
            layer.queryBias = try w.optionalVector(p + "attn_q.bias", count: h.heads * h.keyLength)
            layer.keyBias = try w.optionalVector(p + "attn_k.bias", count: h.kvHeads * h.keyLength)
            layer.valueBias = try w.optionalVector(p + "attn_v.bias", count: h.kvHeads * h.valueLength)
        }
        if parts.contains(.queryKeyNorm) {
            layer.queryNorm = try w.vector(p + "attn_q_norm.weight", count: queryKeyNormWidth.query)
            layer.keyNorm = try w.vector(p + "attn_k_norm.weight", count: queryKeyNormWidth.key)
        }
        if h.experts > 0 {
            layer.router = try w.matrix(p + "ffn_gate_inp.weight")
            layer.expertGate = try w.expertMatrices(p + "ffn_gate_exps.weight")
            layer.expertUp = try w.expertMatrices(p + "ffn_up_exps.weight")
            layer.expertDown = try w.expertMatrices(p + "ffn_down_exps.weight")
            if parts.contains(.sharedExpert) && h.sharedExpertFeedForward > 0 {
                layer.sharedGate = try w.matrix(p + "ffn_gate_shexp.weight")
                layer.sharedUp = try w.matrix(p + "ffn_up_shexp.weight")
                layer.sharedDown = try w.matrix(p + "ffn_down_shexp.weight")
                if parts.contains(.sharedExpertGate) {
                    layer.sharedRouter = try w.matrix(p + "ffn_gate_inp_shexp.weight")
                }
            }
        } else {
            layer.gate = try w.matrix(p + "ffn_gate.weight")
            layer.up = try w.matrix(p + "ffn_up.weight")
            layer.down = try w.matrix(p + "ffn_down.weight")
        }
        return layer
    }
}
