/// What a model of one architecture must hold, as data: the tensors (by name, with `{i}` standing for
/// the layer number) and their shapes in terms of the header's figures. `GGUFModelHeader` checks a
/// file against it. HarkLLM's per-architecture files start from `GGUFArchitectureSpec.known` and may
/// add or replace rules.
public struct GGUFArchitectureSpec: Sendable {
    /// Whether the architecture's feed-forward blocks are experts.
    public enum Experts: Sendable {
        /// Dense only: `expert_count` must be absent or 0.
        case none
        /// Dense when `expert_count` is 0, experts when it is positive (llama/Mixtral, granitemoe).
        case optional
        /// Experts only: `expert_count` must be positive (olmoe, qwen2moe, qwen3moe).
        case required
    }

    /// The experts' feed-forward width when `{arch}.expert_feed_forward_length` is absent (llama.cpp's
    /// defaults per architecture).
    public enum ExpertWidthDefault: Sendable {
        /// `feed_forward_length` (llama, olmoe, granitemoe).
        case feedForward
        /// `feed_forward_length / expert_used_count` (qwen2moe, qwen3moe).
        case feedForwardPerUsedExpert
    }

    /// The shared experts' width when `{arch}.expert_shared_feed_forward_length` is absent.
    public enum SharedExpertWidthDefault: Sendable {
        /// No shared experts unless the key says so (granitemoe).
        case none
        /// `feed_forward_length` (qwen2moe, whose shared expert is always there).
        case feedForward
    }

    /// `general.architecture`; also the prefix of the architecture's keys (`llama.block_count`).
    public var name: String
    public var experts: Experts
    public var expertWidthDefault: ExpertWidthDefault
    public var sharedExpertWidthDefault: SharedExpertWidthDefault
    public var tensors: [GGUFTensorRule]
    /// When false (the default), a tensor no rule names is an error, as llama.cpp counts tensors.
    public var allowsUnlistedTensors: Bool

    public init(name: String, experts: Experts, expertWidthDefault: ExpertWidthDefault = .feedForward,
                sharedExpertWidthDefault: SharedExpertWidthDefault = .none, tensors: [GGUFTensorRule],
                allowsUnlistedTensors: Bool = false) {
        self.name = name
        self.experts = experts
        self.expertWidthDefault = expertWidthDefault
        self.sharedExpertWidthDefault = sharedExpertWidthDefault
        self.tensors = tensors
        self.allowsUnlistedTensors = allowsUnlistedTensors
    }
}

/// A figure of a model's header that tensor shapes refer to.
public enum GGUFFigure: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `{arch}.embedding_length`.
    case embedding
    /// The length of `tokenizer.ggml.tokens`.
    case vocabulary
    /// `{arch}.attention.head_count`.
    case heads
    /// `{arch}.attention.head_count_kv` (default: `heads`).
    case kvHeads
    /// `{arch}.attention.key_length` (default: `embedding / heads`).
    case keyLength
    /// `{arch}.attention.value_length` (default: `embedding / heads`).
    case valueLength
    /// `{arch}.feed_forward_length`.
    case feedForward
    /// `{arch}.expert_count`.
    case experts
    /// `{arch}.expert_feed_forward_length` (default: the spec's `expertWidthDefault`).
    case expertFeedForward
    /// `{arch}.expert_shared_feed_forward_length` (default: the spec's `sharedExpertWidthDefault`).
    case sharedExpertFeedForward
    /// `{arch}.rope.dimension_count` (default: `keyLength`).
    case ropeDimensions
    /// Half of `ropeDimensions` (the length of `rope_freqs.weight`).
    case halfRope

    /// The metadata key the figure comes from, for messages.
    func key(architecture: String) -> String {
        switch self {
        case .embedding: "\(architecture).embedding_length"
        case .vocabulary: "tokenizer.ggml.tokens"
        case .heads: "\(architecture).attention.head_count"
        case .kvHeads: "\(architecture).attention.head_count_kv"
        case .keyLength: "\(architecture).attention.key_length"
        case .valueLength: "\(architecture).attention.value_length"
        case .feedForward: "\(architecture).feed_forward_length"
        case .experts: "\(architecture).expert_count"
        case .expertFeedForward: "\(architecture).expert_feed_forward_length"
        case .sharedExpertFeedForward: "\(architecture).expert_shared_feed_forward_length"
        case .ropeDimensions, .halfRope: "\(architecture).rope.dimension_count"
        }
    }

    public var description: String { rawValue }
}

/// One dimension of an expected tensor shape.
public enum GGUFDimension: Sendable, Hashable, CustomStringConvertible {
    case figure(GGUFFigure)
    case product(GGUFFigure, GGUFFigure)
    case constant(Int)

    public static let embedding = GGUFDimension.figure(.embedding)
    public static let vocabulary = GGUFDimension.figure(.vocabulary)
    public static let feedForward = GGUFDimension.figure(.feedForward)
    public static let experts = GGUFDimension.figure(.experts)
    public static let expertFeedForward = GGUFDimension.figure(.expertFeedForward)
    public static let sharedExpertFeedForward = GGUFDimension.figure(.sharedExpertFeedForward)
    public static let keyLength = GGUFDimension.figure(.keyLength)
    public static let halfRope = GGUFDimension.figure(.halfRope)
    /// `heads × keyLength`: the query projection's width.
    public static let queryWidth = GGUFDimension.product(.heads, .keyLength)
    /// `kvHeads × keyLength`: the key projection's width.
    public static let keyWidth = GGUFDimension.product(.kvHeads, .keyLength)
    /// `kvHeads × valueLength`: the value projection's width.
    public static let valueWidth = GGUFDimension.product(.kvHeads, .valueLength)
    /// `heads × valueLength`: the attention output projection's input width.
    public static let attentionOutputWidth = GGUFDimension.product(.heads, .valueLength)

    public var description: String {
        switch self {
        case .figure(let f): f.rawValue
        case .product(let a, let b): "\(a)×\(b)"
        case .constant(let n): "\(n)"
        }
    }
}

/// One tensor an architecture holds: its name (`{i}` is the layer), its shape (`ne0` first), and
/// when it must be there.
public struct GGUFTensorRule: Sendable {
    public enum Presence: Sendable {
        case required
        case optional
        /// Required when `expert_count` is 0; not expected otherwise.
        case requiredIfDense
        /// Required when `expert_count` is positive; not expected otherwise.
        case requiredIfExperts
        /// Required when the shared experts' width is positive; not expected otherwise.
        case requiredIfSharedExperts
    }

    public var name: String
    public var shape: [GGUFDimension]
    public var presence: Presence

    public init(_ name: String, _ shape: [GGUFDimension], _ presence: Presence = .required) {
        self.name = name
        self.shape = shape
        self.presence = presence
    }

    /// Whether the rule names one tensor per layer (`blk.{i}.…`).
    public var isPerLayer: Bool { Self.placeholder(in: name) != nil }

    /// The tensor's name in layer `layer` (the first `{i}` replaced).
    public func name(layer: Int) -> String {
        guard let at = Self.placeholder(in: name) else { return name }
        let bytes = Array(name.utf8)
        return String(decoding: bytes[..<at], as: UTF8.self) + String(layer) + String(decoding: bytes[(at + 3)...], as: UTF8.self)
    }

    /// The byte offset of `{i}` in `name` (a plain scan: the string-processing `replacing` is slow).
    private static func placeholder(in name: String) -> Int? {
        let bytes = Array(name.utf8)
        guard bytes.count >= 3 else { return nil }
        return (0...(bytes.count - 3)).first { bytes[$0] == UInt8(ascii: "{") && bytes[$0 + 1] == UInt8(ascii: "i") && bytes[$0 + 2] == UInt8(ascii: "}") }
    }
}

