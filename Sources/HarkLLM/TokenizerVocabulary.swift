/// What a tokenizer is made of: the vocabulary a GGUF file carries under `tokenizer.ggml.*`.
///
///   tokenizer.ggml.model          "gpt2" (byte-level BPE) or "llama" (SentencePiece)
///   tokenizer.ggml.pre            the pre-tokenizer of a BPE vocabulary ("smollm", "qwen2", "olmo", …)
///   tokenizer.ggml.tokens         [string]  token text (byte-level characters for BPE, "▁" for space in SPM)
///   tokenizer.ggml.token_type     [i32]     1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
///   tokenizer.ggml.scores         [f32]     SentencePiece merge priority (higher merges first)
///   tokenizer.ggml.merges         [string]  BPE merges "left right", highest priority first
///   tokenizer.ggml.{bos,eos,unknown,padding}_token_id, add_bos_token, add_eos_token, add_space_prefix
public struct TokenizerVocabulary: Sendable {
    public enum Model: String, Sendable {
        case bytePairEncoding = "gpt2"
        case sentencePiece = "llama"
    }

    /// `tokenizer.ggml.token_type`, as llama.cpp's `llama_token_type` numbers them.
    public enum TokenType: Int32, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public var model: Model
    public var preTokenizer: PreTokenizer
    public var tokens: [String]
    public var types: [TokenType]
    public var scores: [Float]
    public var merges: [String]
    public var bos: Int32?
    public var eos: Int32?
    public var unknown: Int32?
    public var addBOS: Bool
    public var addEOS: Bool
    public var addSpacePrefix: Bool

    public init(model: Model, preTokenizer: PreTokenizer = .gpt2, tokens: [String], types: [TokenType] = [],
                scores: [Float] = [], merges: [String] = [], bos: Int32? = nil, eos: Int32? = nil,
                unknown: Int32? = nil, addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = false) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.types = types
        self.scores = scores
        self.merges = merges
        self.bos = bos
        self.eos = eos
        self.unknown = unknown
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
    }
}
