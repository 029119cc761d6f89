import HarkGGUF

extension Tokenizer {
    /// The tokenizer a GGUF file describes (`tokenizer.ggml.*`, see `TokenizerVocabulary`).
    public init(gguf file: GGUFFile) throws(LLMError) {
        let m = file.metadata
        let modelName = try readGGUF { try m.string("tokenizer.ggml.model") }
        guard let model = TokenizerVocabulary.Model(rawValue: modelName) else {
            throw LLMError(.unsupportedModel,
                           "\(file.fileName): tokenizer.ggml.model '\(modelName)' is not one Hark implements (gpt2, llama)")
        }
        var pre = PreTokenizer.gpt2
        if model == .bytePairEncoding {
            let name = try readGGUF { try m.string(ifPresent: "tokenizer.ggml.pre") } ?? "default"
            guard let known = PreTokenizer(ggufName: name) else {
                throw LLMError(.unsupportedModel,
                               "\(file.fileName): tokenizer.ggml.pre '\(name)' is not a pre-tokenizer Hark implements (\(PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")) families)")
            }
            pre = known
        }
        let tokens = try readGGUF { try m.strings("tokenizer.ggml.tokens") }
        let rawTypes = try readGGUF { try m.integers(ifPresent: "tokenizer.ggml.token_type", as: Int32.self) } ?? []
        var types: [TokenizerVocabulary.TokenType] = []
        types.reserveCapacity(rawTypes.count)
        for (i, raw) in rawTypes.enumerated() {
            guard let type = TokenizerVocabulary.TokenType(rawValue: raw) else {
                throw LLMError(.corruptModel, "\(file.fileName): token \(i) has type \(raw), not one of 0…6")
            }
            types.append(type)
        }
        func id(_ key: String) throws(LLMError) -> Int32? {
            try readGGUF { try m.integer(ifPresent: "tokenizer.ggml.\(key)", as: Int32.self) }
        }
        let vocabulary = TokenizerVocabulary(
            model: model, preTokenizer: pre, tokens: tokens, types: types,
            scores: try readGGUF { try m.floats(ifPresent: "tokenizer.ggml.scores") } ?? [],
            merges: try readGGUF { try m.strings(ifPresent: "tokenizer.ggml.merges") } ?? [],
            bos: try id("bos_token_id"), eos: try id("eos_token_id"), unknown: try id("unknown_token_id"),
            addBOS: try readGGUF { try m.bool(ifPresent: "tokenizer.ggml.add_bos_token") } ?? (model == .sentencePiece),
            addEOS: try readGGUF { try m.bool(ifPresent: "tokenizer.ggml.add_eos_token") } ?? false,
            addSpacePrefix: try readGGUF { try m.bool(ifPresent: "tokenizer.ggml.add_space_prefix") } ?? (model == .sentencePiece))
        do {
            try self.init(vocabulary)
        } catch {
            throw LLMError(error.code, "\(file.fileName): \(error.message)", underlying: error)
        }
    }
}

/// Runs a GGUF metadata lookup, its error (which names the file and key) kept as `LLMError`'s message.
func readGGUF<T>(_ body: () throws -> T) throws(LLMError) -> T {
    do { return try body() } catch {
        if let e = error as? GGUFError { throw LLMError(.corruptModel, e.message, underlying: e) }
        throw LLMError(.corruptModel, "\(error)")
    }
}
