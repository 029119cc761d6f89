/// The architectures Hark's engine reads, with the tensors and shapes llama.cpp's loaders create for
/// them (`src/models/{olmoe,qwen2moe,qwen3moe,granite-moe}.cpp`, `llama` in `llama-model.cpp`).
extension GGUFArchitectureSpec {
    /// By `general.architecture`.
    public static let known: [String: GGUFArchitectureSpec] = Dictionary(
        uniqueKeysWithValues: [llama, qwen2moe, qwen3moe, olmoe, granitemoe].map { ($0.name, $0) })

    /// Llama, dense or with Mixtral-style merged experts (`ffn_*_exps`, ne2 = expert_count).
    public static let llama = GGUFArchitectureSpec(
        name: "llama", experts: .optional,
        tensors: embeddingAndOutput(output: .optional) + [GGUFTensorRule("rope_freqs.weight", [.halfRope], .optional)]
            + attention(bias: .optional, outputBias: .optional) + denseOrExperts())

    /// Qwen2-MoE: biased Q/K/V, routed experts plus one gated shared expert.
    public static let qwen2moe = GGUFArchitectureSpec(
        name: "qwen2moe", experts: .required, expertWidthDefault: .feedForwardPerUsedExpert,
        sharedExpertWidthDefault: .feedForward,
        tensors: embeddingAndOutput(output: .required) + attention(bias: .required) + experts() + [
            GGUFTensorRule("blk.{i}.ffn_gate_inp_shexp.weight", [.embedding], .requiredIfSharedExperts),
            GGUFTensorRule("blk.{i}.ffn_gate_shexp.weight", [.embedding, .sharedExpertFeedForward], .requiredIfSharedExperts),
            GGUFTensorRule("blk.{i}.ffn_down_shexp.weight", [.sharedExpertFeedForward, .embedding], .requiredIfSharedExperts),
            GGUFTensorRule("blk.{i}.ffn_up_shexp.weight", [.embedding, .sharedExpertFeedForward], .requiredIfSharedExperts),
        ])

    /// Qwen3-MoE: per-head RMS norms on Q and K, routed experts only; output tied when absent.
    public static let qwen3moe = GGUFArchitectureSpec(
        name: "qwen3moe", experts: .required, expertWidthDefault: .feedForwardPerUsedExpert,
        tensors: embeddingAndOutput(output: .optional) + attention() + [
            GGUFTensorRule("blk.{i}.attn_q_norm.weight", [.keyLength]),
            GGUFTensorRule("blk.{i}.attn_k_norm.weight", [.keyLength]),
        ] + experts())

    /// OLMoE: RMS norms over the whole Q and K projections, routed experts only.
    public static let olmoe = GGUFArchitectureSpec(
        name: "olmoe", experts: .required,
        tensors: embeddingAndOutput(output: .required) + attention() + [
            GGUFTensorRule("blk.{i}.attn_q_norm.weight", [.embedding]),
            GGUFTensorRule("blk.{i}.attn_k_norm.weight", [.embedding]),
        ] + experts())

    /// Granite MoE (granite-3.x-*-a*m): llama-shaped, experts, optional shared experts; output tied
    /// when absent. Its scales (`attention.scale`, `embedding_scale`, `residual_scale`, `logit_scale`)
    /// are metadata HarkLLM reads.
    public static let granitemoe = GGUFArchitectureSpec(
        name: "granitemoe", experts: .optional,
        tensors: embeddingAndOutput(output: .optional) + [GGUFTensorRule("rope_freqs.weight", [.halfRope], .optional)]
            + attention(outputBias: .optional) + denseOrExperts() + [
                GGUFTensorRule("blk.{i}.ffn_gate_shexp.weight", [.embedding, .sharedExpertFeedForward], .requiredIfSharedExperts),
                GGUFTensorRule("blk.{i}.ffn_down_shexp.weight", [.sharedExpertFeedForward, .embedding], .requiredIfSharedExperts),
                GGUFTensorRule("blk.{i}.ffn_up_shexp.weight", [.embedding, .sharedExpertFeedForward], .requiredIfSharedExperts),
            ])

    // MARK: Building blocks

    /// The token embedding (`[embedding, vocabulary]`), the final norm, and the output projection
    /// (optional where the architecture ties it to the embedding).
    public static func embeddingAndOutput(output: GGUFTensorRule.Presence) -> [GGUFTensorRule] {
        [
            GGUFTensorRule("token_embd.weight", [.embedding, .vocabulary]),
            GGUFTensorRule("output_norm.weight", [.embedding]),
            GGUFTensorRule("output.weight", [.embedding, .vocabulary], output),
        ]
    }

    /// Per layer: the attention norm, Q/K/V/output projections (grouped-query widths), optional or
    /// required biases, and the feed-forward norm.
    public static func attention(bias: GGUFTensorRule.Presence? = nil, outputBias: GGUFTensorRule.Presence? = nil) -> [GGUFTensorRule] {
        var rules = [
            GGUFTensorRule("blk.{i}.attn_norm.weight", [.embedding]),
            GGUFTensorRule("blk.{i}.attn_q.weight", [.embedding, .queryWidth]),
            GGUFTensorRule("blk.{i}.attn_k.weight", [.embedding, .keyWidth]),
            GGUFTensorRule("blk.{i}.attn_v.weight", [.embedding, .valueWidth]),
            GGUFTensorRule("blk.{i}.attn_output.weight", [.attentionOutputWidth, .embedding]),
            GGUFTensorRule("blk.{i}.ffn_norm.weight", [.embedding]),
        ]
        if let bias {
            rules += [
                GGUFTensorRule("blk.{i}.attn_q.bias", [.queryWidth], bias),
                GGUFTensorRule("blk.{i}.attn_k.bias", [.keyWidth], bias),
                GGUFTensorRule("blk.{i}.attn_v.bias", [.valueWidth], bias),
            ]
        }
        if let outputBias {
            rules.append(GGUFTensorRule("blk.{i}.attn_output.bias", [.embedding], outputBias))
        }
        return rules
    }

    /// Per layer: the router (`[embedding, experts]`) and the merged expert weights, expert index in
    /// ne2.
    public static func experts(_ presence: GGUFTensorRule.Presence = .required) -> [GGUFTensorRule] {
        [
            GGUFTensorRule("blk.{i}.ffn_gate_inp.weight", [.embedding, .experts], presence),
            GGUFTensorRule("blk.{i}.ffn_gate_exps.weight", [.embedding, .expertFeedForward, .experts], presence),
            GGUFTensorRule("blk.{i}.ffn_down_exps.weight", [.expertFeedForward, .embedding, .experts], presence),
            GGUFTensorRule("blk.{i}.ffn_up_exps.weight", [.embedding, .expertFeedForward, .experts], presence),
        ]
    }

    /// Per layer: a dense SwiGLU feed-forward when `expert_count` is 0, experts otherwise.
    public static func denseOrExperts() -> [GGUFTensorRule] {
        [
            GGUFTensorRule("blk.{i}.ffn_gate.weight", [.embedding, .feedForward], .requiredIfDense),
            GGUFTensorRule("blk.{i}.ffn_down.weight", [.feedForward, .embedding], .requiredIfDense),
            GGUFTensorRule("blk.{i}.ffn_up.weight", [.embedding, .feedForward], .requiredIfDense),
        ] + experts(.requiredIfExperts)
    }
}
