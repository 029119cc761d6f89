/// How a byte-level BPE vocabulary cuts text into words before merging (`tokenizer.ggml.pre`), as
/// llama.cpp's llama-vocab.cpp and unicode.cpp do it. Each kind is a list of regular expressions
/// applied in turn: every piece the previous one produced (matches and the text between them) is cut
/// again by the next, and a piece never grows past the piece it came from.
///
///   gpt2     'gpt-2', 'phi-2', 'mpt', 'olmo', 'jais', 'exaone4', …:
///            's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///   digits   'smollm', 'starcoder', 'refact', 'command-r', 'codeshell', 'exaone', 'minerva-7b':
///            \p{N} first (every digit alone), then gpt2
///   llama3   'llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'pixtral', …:
///            (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///            and a word that is a token as a whole is that token, unmerged (llama.cpp's ignore_merges)
///   qwen2    'qwen2', 'deepseek-r1-qwen', 'stablelm2', 'megrez', …: as llama3 with \p{N} (one digit per word)
///
/// The names are llama.cpp's (llama-vocab.cpp); a name it does not know is refused here too.
/// \p{L} and \p{N} are the Unicode general categories L* and N*; \s is the White_Space property.
public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2, digits, llama3, qwen2

    /// The pre-tokenizer a `tokenizer.ggml.pre` value names, nil when Hark does not implement it.
    public init?(ggufName: String) {
        switch ggufName {
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
             "modern-bert", "mpt", "olmo", "jais", "exaone4":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b": self = .digits
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "megrez": self = .qwen2
        default: return nil
        }
    }

    /// A word that is a token as a whole is that token, without merging (llama.cpp's ignore_merges).
    var ignoresMerges: Bool { self == .llama3 }

    /// The words of `text[range]`, as ranges of indices into `text`, in order and covering it.
    func split(_ text: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var words: [Range<Int>] = []
        switch self {
        case .gpt2:
            Self.splitGPT2(text, range, into: &words)
        case .digits:
            // \p{N}: each number alone; the text between numbers is cut again by gpt2.
            var start = range.lowerBound
            for i in range where Self.isNumber(text[i]) {
                if start < i { Self.splitGPT2(text, start..<i, into: &words) }
                words.append(i..<(i + 1))
                start = i + 1
            }
            if start < range.upperBound { Self.splitGPT2(text, start..<range.upperBound, into: &words) }
        case .llama3:
            Self.splitLlama3(text, range, maximumDigits: 3, into: &words)
        case .qwen2:
            Self.splitLlama3(text, range, maximumDigits: 1, into: &words)
        }
        return words
    }

    // MARK: Character classes

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return (c.value | 0x20) >= 0x61 && (c.value | 0x20) <= 0x7A }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c.value >= 0x30 && c.value <= 0x39 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c == " " || (c.value >= 0x09 && c.value <= 0x0D) }
        return c.properties.isWhitespace
    }

    /// Neither whitespace, letter nor number: [^\s\p{L}\p{N}].
    static func isOther(_ c: Unicode.Scalar) -> Bool { !isWhitespace(c) && !isLetter(c) && !isNumber(c) }

    // MARK: gpt2

    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ over text[range]:
    /// the first alternative that matches at each position wins (the contractions are case-sensitive).
    static func splitGPT2(_ text: [Unicode.Scalar], _ range: Range<Int>, into words: inout [Range<Int>]) {
        let end = range.upperBound
        var pos = range.lowerBound
        func at(_ i: Int) -> Unicode.Scalar? { i < end ? text[i] : nil }
        while pos < end {
            let start = pos
            let c = text[pos]
            if c == "'", let next = at(pos + 1) {
                if next == "s" || next == "t" || next == "m" || next == "d" {
                    words.append(start..<(pos + 2)); pos += 2; continue
                }
                if let third = at(pos + 2),
                   (next == "r" && third == "e") || (next == "v" && third == "e") || (next == "l" && third == "l") {
                    words.append(start..<(pos + 3)); pos += 3; continue
                }
            }
            // An optional ASCII space before a run of letters, numbers or other characters.
            let head = c == " " ? pos + 1 : pos
            if let h = at(head) {
                var run: ((Unicode.Scalar) -> Bool)? = nil
                if isLetter(h) {
                    run = { isLetter($0) }
                } else if isNumber(h) {
                    run = { isNumber($0) }
                } else if isOther(h) {
                    run = { isOther($0) }
                }
                if let run {
                    pos = head + 1
                    while let n = at(pos), run(n) { pos += 1 }
                    words.append(start..<pos); continue
                }
            }
            // \s+(?!\S): a whitespace run followed by more text leaves its last character to the next word.
            var spaces = 0
            while let n = at(pos + spaces), isWhitespace(n) { spaces += 1 }
            if spaces > 1 && pos + spaces < end {
                pos += spaces - 1
            } else if spaces > 0 {
                pos += spaces
            } else {
                pos += 1
            }
            words.append(start..<pos)
        }
    }

    // MARK: llama3 / qwen2

    /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maximumDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    static func splitLlama3(_ text: [Unicode.Scalar], _ range: Range<Int>, maximumDigits: Int,
                            into words: inout [Range<Int>]) {
        let end = range.upperBound
        var pos = range.lowerBound
        func at(_ i: Int) -> Unicode.Scalar? { i < end ? text[i] : nil }
        func lower(_ c: Unicode.Scalar?) -> Unicode.Scalar? {
            guard let c else { return nil }
            return c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value | 0x20) : c
        }
        func isNewline(_ c: Unicode.Scalar?) -> Bool { c == "\r" || c == "\n" }
        while pos < end {
            let start = pos
            let c = text[pos]
            if c == "'", let next = lower(at(pos + 1)) {
                if next == "s" || next == "t" || next == "m" || next == "d" {
                    words.append(start..<(pos + 2)); pos += 2; continue
                }
                if let third = lower(at(pos + 2)),
                   (next == "r" && third == "e") || (next == "v" && third == "e") || (next == "l" && third == "l") {
                    words.append(start..<(pos + 3)); pos += 3; continue
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !isNewline(c) && !isNumber(c) && (isLetter(c) || at(pos + 1).map(isLetter) == true) {
                pos += 1
                while let n = at(pos), isLetter(n) { pos += 1 }
                words.append(start..<pos); continue
            }
            // \p{N}{1,maximumDigits}
            if isNumber(c) {
                var digits = 0
                while let n = at(pos), isNumber(n), digits < maximumDigits { pos += 1; digits += 1 }
                words.append(start..<pos); continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let head = c == " " ? pos + 1 : pos
            if let h = at(head), isOther(h) {
                pos = head + 1
                while let n = at(pos), isOther(n) { pos += 1 }
                while isNewline(at(pos)) { pos += 1 }
                words.append(start..<pos); continue
            }
            var spaces = 0
            var afterLastNewline = 0
            while let n = at(pos + spaces), isWhitespace(n) {
                if isNewline(n) { afterLastNewline = pos + spaces + 1 }
                spaces += 1
            }
            if afterLastNewline > 0 {           // \s*[\r\n]+
                pos = afterLastNewline
            } else if spaces > 1 && pos + spaces < end {   // \s+(?!\S)
                pos += spaces - 1
            } else if spaces > 0 {              // \s+
                pos += spaces
            } else {
                pos += 1
            }
            words.append(start..<pos)
        }
    }
}
