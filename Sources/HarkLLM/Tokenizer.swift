/// Text ↔ token ids for the two vocabulary kinds GGUF files carry, token for token as llama.cpp's
/// llama-vocab.cpp does it:
///
///   encode(text)
///   1. Special tokens are cut out of the text, the longest first: control and unknown tokens only
///      when `parseSpecial`, user-defined tokens always.
///   2. Every remaining fragment is tokenized on its own:
///      byte-level BPE ("gpt2"): the pre-tokenizer cuts it into words; each word's UTF-8 bytes start as
///        one symbol per byte, and the adjacent pair with the lowest merge rank (the leftmost of equals)
///        merges until none is left; a symbol that is no token comes out as its byte tokens.
///      SentencePiece ("llama"): a space goes first when `addSpacePrefix` and the fragment opens the
///        text or follows a special token; spaces become "▁"; symbols start as UTF-8 characters, and
///        the adjacent pair whose union is the token with the highest score (the leftmost of equals)
///        merges; a symbol that is no token comes out as "<0xXX>" byte tokens.
///   3. BOS first when `addSpecial` and the vocabulary asks for it (EOS last likewise).
///
/// Chat templates are never executed: a prompt is text with the special tokens written out.
public struct Tokenizer: Sendable {
    public let vocabulary: TokenizerVocabulary
    /// Token text → id; when a text appears twice the later id wins, as in llama.cpp.
    let ids: [String: Int32]
    /// The special tokens step 1 looks for, longest first.
    let specials: [(text: [UInt8], id: Int32, control: Bool)]
    let bpe: BytePairMerges?
    let byteTokens: [Int32]

    public var count: Int { vocabulary.tokens.count }

    public init(_ vocabulary: TokenizerVocabulary) throws(LLMError) {
        let n = vocabulary.tokens.count
        guard n > 0, n < Int(Int32.max) else {
            throw LLMError(.corruptModel, "tokenizer: the vocabulary has \(n) tokens")
        }
        guard vocabulary.types.isEmpty || vocabulary.types.count == n else {
            throw LLMError(.corruptModel, "tokenizer: \(vocabulary.types.count) token types for \(n) tokens")
        }
        guard vocabulary.scores.isEmpty || vocabulary.scores.count == n else {
            throw LLMError(.corruptModel, "tokenizer: \(vocabulary.scores.count) token scores for \(n) tokens")
        }
        for (name, id) in [("bos", vocabulary.bos), ("eos", vocabulary.eos), ("unknown", vocabulary.unknown)] {
            if let id, id < 0 || Int(id) >= n {
                throw LLMError(.corruptModel, "tokenizer: the \(name) token id \(id) is outside the vocabulary of \(n)")
            }
        }
        self.vocabulary = vocabulary
        var ids = [String: Int32](minimumCapacity: n)
        for (i, text) in vocabulary.tokens.enumerated() { ids[text] = Int32(i) }
        self.ids = ids

        var specials: [(text: [UInt8], id: Int32, control: Bool)] = []
        for (i, type) in vocabulary.types.enumerated() where !vocabulary.tokens[i].isEmpty {
            switch type {
            case .control, .unknown: specials.append((Array(vocabulary.tokens[i].utf8), Int32(i), true))
            case .userDefined: specials.append((Array(vocabulary.tokens[i].utf8), Int32(i), false))
            default: break
            }
        }
        specials.sort { $0.text.count > $1.text.count || ($0.text.count == $1.text.count && $0.id < $1.id) }
        self.specials = specials

        switch vocabulary.model {
        case .bytePairEncoding:
            let merges = try BytePairMerges(vocabulary: vocabulary, ids: ids)
            bpe = merges
            byteTokens = merges.byteSymbols
        case .sentencePiece:
            bpe = nil
            var bytes = [Int32](repeating: -1, count: 256)
            let hex = Array("0123456789ABCDEF")
            for b in 0..<256 {
                if let id = ids["<0x\(hex[b >> 4])\(hex[b & 15])>"] ?? ids[String(UnicodeScalar(UInt8(b)))] {
                    bytes[b] = id
                }
            }
            byteTokens = bytes
        }
    }

    // MARK: Encoding

    /// The token ids of `text`. `addSpecial`: BOS/EOS as the vocabulary asks; `parseSpecial`: control
    /// tokens written in the text ("<|im_start|>") become their ids instead of being spelled out.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var out: [Int32] = []
        if addSpecial && vocabulary.addBOS, let bos = vocabulary.bos { out.append(bos) }
        var previousWasSpecial = true
        for fragment in fragments(Array(text.utf8), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                out.append(id)
                previousWasSpecial = true
            case .text(let bytes):
                switch vocabulary.model {
                case .bytePairEncoding:
                    encodeBytePair(bytes, into: &out)
                case .sentencePiece:
                    var escaped: [UInt8] = vocabulary.addSpacePrefix && previousWasSpecial ? [0xE2, 0x96, 0x81] : []
                    for b in bytes { if b == 0x20 { escaped += [0xE2, 0x96, 0x81] } else { escaped.append(b) } }
                    encodeSentencePiece(escaped, into: &out)
                }
                previousWasSpecial = false
            }
        }
        if addSpecial && vocabulary.addEOS, let eos = vocabulary.eos { out.append(eos) }
        return out
    }

    enum Fragment: Equatable { case text([UInt8]), token(Int32) }

    /// Step 1: the text cut at every occurrence of a special token, the longest tokens first.
    func fragments(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        var parts: [Fragment] = text.isEmpty ? [] : [.text(text)]
        for special in specials where parseSpecial || !special.control {
            var next: [Fragment] = []
            for part in parts {
                guard case .text(let bytes) = part else { next.append(part); continue }
                var start = 0
                var i = 0
                let needle = special.text
                while i + needle.count <= bytes.count {
                    if bytes[i] == needle[0] && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                        if start < i { next.append(.text(Array(bytes[start..<i]))) }
                        next.append(.token(special.id))
                        i += needle.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < bytes.count { next.append(.text(Array(bytes[start...]))) }
            }
            parts = next
        }
        return parts
    }

    func encodeBytePair(_ bytes: [UInt8], into out: inout [Int32]) {
        guard let bpe else { return }
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        // Word boundaries come from the scalars; the symbols are the words' UTF-8 bytes.
        var utf8Offsets = [Int](repeating: 0, count: scalars.count + 1)
        for (i, s) in scalars.enumerated() { utf8Offsets[i + 1] = utf8Offsets[i] + UTF8.width(s) }
        var utf8: [UInt8] = []
        utf8.reserveCapacity(utf8Offsets[scalars.count])
        for s in scalars { utf8.append(contentsOf: UTF8.encode(s)!) }
        let ignoresMerges = vocabulary.preTokenizer.ignoresMerges
        for word in vocabulary.preTokenizer.split(scalars, 0..<scalars.count) {
            let bytes = utf8[utf8Offsets[word.lowerBound]..<utf8Offsets[word.upperBound]]
            var whole: Int32? = nil
            if ignoresMerges {
                let text = String(String.UnicodeScalarView(bytes.map { BytePairMerges.character(of: $0) }))
                whole = ids[text]
            }
            bpe.encode(bytes, whole: whole, into: &out)
        }
    }

    // MARK: Decoding

    /// The bytes token `id` stands for: byte-level characters decoded, "▁" as a space; control tokens
    /// give their text only when `special`.
    public func piece(_ id: Int32, special: Bool = false) -> [UInt8] {
        guard id >= 0, Int(id) < count else { return [] }
        let text = vocabulary.tokens[Int(id)]
        let type = vocabulary.types.isEmpty ? .normal : vocabulary.types[Int(id)]
        switch type {
        case .control, .unknown:
            if special { return Array(text.utf8) }
            return type == .unknown && vocabulary.model == .sentencePiece ? Array("\u{2585}".utf8) : []
        case .userDefined:
            return Array(text.utf8)
        case .byte where vocabulary.model == .sentencePiece:
            let digits = text.utf8.dropFirst(3).dropLast()
            return UInt8(String(decoding: digits, as: UTF8.self), radix: 16).map { [$0] } ?? []
        case .normal, .byte, .undefined, .unused:
            switch vocabulary.model {
            case .bytePairEncoding:
                return text.unicodeScalars.flatMap { BytePairMerges.byte(of: $0).map { [$0] } ?? Array(String($0).utf8) }
            case .sentencePiece:
                return Array(text.replacing("\u{2581}", with: " ").utf8)
            }
        }
    }

    /// The text of `ids` (invalid UTF-8 repaired), without the space SentencePiece puts first.
    public func decode(_ ids: [Int32], special: Bool = false) -> String {
        var bytes = ids.flatMap { piece($0, special: special) }
        if vocabulary.model == .sentencePiece && vocabulary.addSpacePrefix && bytes.first == 0x20 {
            bytes.removeFirst()
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
