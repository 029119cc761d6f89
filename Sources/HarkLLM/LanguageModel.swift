import HarkGGUF

/// Loads a GGUF language model: the file is read and checked (HarkGGUF), its architecture looked up
/// in the registry below, and a `Transformer` built over the file's memory map with its tokenizer.
///
///   general.architecture → traits and layer weights (one file per architecture)
public struct LanguageModel: @unchecked Sendable {
    // @unchecked: the transformer's mutable state has one owner; see `Transformer`.
    public let file: GGUFFile
    public let transformer: Transformer
    public let tokenizer: Tokenizer

    /// The architectures Hark runs, by `general.architecture`.
    // nonisolated(unsafe): a constant table of functions, never mutated.
    nonisolated(unsafe) static let registry: [String: (ModelWeights, Hyperparameters) throws(LLMError) -> (ArchitectureTraits, [TransformerLayer])] = [
        "llama": Llama.build,
        "qwen2moe": Qwen2MoE.build,
        "qwen3moe": Qwen3MoE.build,
        "olmoe": OLMoE.build,
        "granitemoe": GraniteMoE.build,
    ]

    public static var architectures: [String] { registry.keys.sorted() }

    /// - Parameters:
    ///   - threads: kernel threads (the caller's included).
    ///   - contextLength: KV cache positions (default: the model's context length).
    ///   - batchCapacity: prompt tokens per forward pass.
    public init(path: String, threads: Int = 1, contextLength: Int? = nil, batchCapacity: Int = 64) throws(LLMError) {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch {
            throw LLMError(.corruptModel, error.message, underlying: error)
        }
        let arch: String
        do { arch = try file.metadata.architecture() } catch {
            throw LLMError(.corruptModel, error.message, underlying: error)
        }
        guard let build = Self.registry[arch], let spec = GGUFArchitectureSpec.known[arch] else {
            throw LLMError(.unsupportedModel,
                           "\(file.fileName): architecture '\(arch)' is not one Hark runs (\(Self.architectures.joined(separator: ", ")))")
        }
        let header: GGUFModelHeader
        do { header = try GGUFModelHeader(file: file, spec: spec) } catch {
            throw LLMError(.corruptModel, error.message, underlying: error)
        }
        let hyper = try Hyperparameters(file: file, header: header)
        let weights = ModelWeights(file: file)
        self.file = file
        tokenizer = try Tokenizer(gguf: file)
        let (traits, layers) = try build(weights, hyper)
        transformer = try Transformer(weights: weights, hyper: hyper, traits: traits, layers: layers, threads: threads,
                                      contextLength: contextLength, batchCapacity: batchCapacity)
    }
}
