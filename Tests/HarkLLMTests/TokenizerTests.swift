#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HarkGGUF
import HarkTestSupport
import Testing
@testable import HarkLLM

/// llama.cpp's token ids for the strings of tools/capture_llm_fixtures.py, on SmolLM2's vocabulary.
struct TokenFixture: Decodable {
    struct Case: Decodable {
        let text: String
        let plain: [Int32]
        let special: [Int32]
        /// With the vocabulary's BOS (SentencePiece fixture only).
        let with_bos: [Int32]?
    }
    let model: String
    let cases: [Case]
}

let smolLM2Path = repositoryRoot + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

func loadFixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let path = repositoryRoot + "/Tests/HarkLLMTests/Fixtures/" + name
    let text = try #require(readTextFile(path), "fixture \(path) is missing: make llm-fixtures")
    return try JSONDecoder().decode(T.self, from: Data(text.utf8))
}

@Suite struct TokenizerTests {
    @Test func smolLM2TokenIdsMatchLlamaCpp() throws {
        // Given SmolLM2's byte-level BPE vocabulary ('smollm' pre-tokenizer) read from the GGUF file,
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: smolLM2Path))
        #expect(tokenizer.vocabulary.preTokenizer == .digits)
        let fixture = try loadFixture("smollm2-tokens.json", as: TokenFixture.self)
        #expect(fixture.cases.count >= 200)
        // when every fixture string is encoded with and without special-token parsing,
        var wrong: [String] = []
        for c in fixture.cases {
            let plain = tokenizer.encode(c.text, addSpecial: false, parseSpecial: false)
            let special = tokenizer.encode(c.text, addSpecial: false, parseSpecial: true)
            if plain != c.plain { wrong.append("plain \(c.text.debugDescription): \(plain) ≠ llama.cpp \(c.plain)") }
            if special != c.special { wrong.append("special \(c.text.debugDescription): \(special) ≠ llama.cpp \(c.special)") }
        }
        // then the ids are llama.cpp's, every one.
        #expect(wrong.isEmpty, "\(wrong.count) of \(2 * fixture.cases.count) differ:\n\(wrong.prefix(20).joined(separator: "\n"))")
    }

    @Test func sentencePieceTokenIdsMatchLlamaCpp() throws {
        // Given a SentencePiece BPE vocabulary with byte fallback, a user-defined token and Llama's
        // settings (BOS, a space prefix), trained by tools/make_tiny_spm.py,
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: repositoryRoot + "/Tests/HarkLLMTests/Fixtures/tiny-spm.gguf"))
        #expect(tokenizer.vocabulary.model == .sentencePiece)
        let fixture = try loadFixture("spm-tokens.json", as: TokenFixture.self)
        #expect(fixture.cases.count >= 200)
        // when every string is encoded plain, parsing special tokens, and with BOS,
        var wrong: [String] = []
        for c in fixture.cases {
            let plain = tokenizer.encode(c.text, addSpecial: false, parseSpecial: false)
            let special = tokenizer.encode(c.text, addSpecial: false, parseSpecial: true)
            let withBOS = tokenizer.encode(c.text, addSpecial: true, parseSpecial: false)
            if plain != c.plain { wrong.append("plain \(c.text.debugDescription): \(plain) ≠ llama.cpp \(c.plain)") }
            if special != c.special { wrong.append("special \(c.text.debugDescription): \(special) ≠ llama.cpp \(c.special)") }
            if withBOS != c.with_bos { wrong.append("bos \(c.text.debugDescription): \(withBOS) ≠ llama.cpp \(c.with_bos ?? [])") }
        }
        // then the ids are llama.cpp's, every one.
        #expect(wrong.isEmpty, "\(wrong.count) of \(3 * fixture.cases.count) differ:\n\(wrong.prefix(20).joined(separator: "\n"))")
    }

    @Test func byteLevelDecodingGivesTheTextBack() throws {
        // Given the fixture strings, when each is encoded and decoded, then the text comes back exactly
        // (byte-level BPE loses nothing; control tokens come back only when asked for).
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: smolLM2Path))
        let fixture = try loadFixture("smollm2-tokens.json", as: TokenFixture.self)
        for c in fixture.cases {
            #expect(tokenizer.decode(tokenizer.encode(c.text, addSpecial: false)) == c.text)
            #expect(tokenizer.decode(tokenizer.encode(c.text, addSpecial: false, parseSpecial: true), special: true) == c.text)
        }
        #expect(tokenizer.decode([1, 2]) == "")
        #expect(tokenizer.decode([1, 2], special: true) == "<|im_start|><|im_end|>")
    }

    @Test func digitsPreTokenizerCutsNumbersApartAndKeepsSpaces() {
        // Given the 'smollm' rules (every digit alone, then GPT-2's), when a text with numbers, a
        // contraction and a whitespace run is cut, then the words are these.
        let text = Array("I'll set 42 lamps  to 7%".unicodeScalars)
        let words = PreTokenizer.digits.split(text, 0..<text.count).map { String(String.UnicodeScalarView(text[$0])) }
        #expect(words == ["I", "'ll", " set", " ", "4", "2", " lamps", " ", " to", " ", "7", "%"])
        let llama3 = Array("12345 abc\n\n  x".unicodeScalars)
        let llamaWords = PreTokenizer.llama3.split(llama3, 0..<llama3.count).map { String(String.UnicodeScalarView(llama3[$0])) }
        #expect(llamaWords == ["123", "45", " abc", "\n\n", " ", " x"])
    }

    @Test func sentencePieceMergesByScoreAndFallsBackToBytes() throws {
        // Given a SentencePiece vocabulary where "▁he" outscores "ll" and "o" has no token of its own
        // beside bytes,
        let tokens = ["<unk>", "<s>", "</s>", "▁", "h", "e", "l", "▁h", "▁he", "ll", "▁hell", "<0x6F>", "<0xC3>", "<0xA9>"]
        var types = [TokenizerVocabulary.TokenType](repeating: .normal, count: tokens.count)
        types[0] = .unknown; types[1] = .control; types[2] = .control
        types[11] = .byte; types[12] = .byte; types[13] = .byte
        let scores: [Float] = [0, 0, 0, -1, -2, -2, -2, -3, -1, -1.5, -0.5, 0, 0, 0]
        let tokenizer = try Tokenizer(TokenizerVocabulary(
            model: .sentencePiece, tokens: tokens, types: types, scores: scores, bos: 1, eos: 2, unknown: 0,
            addBOS: true, addSpacePrefix: true))
        // when "hello" and "hé" are encoded,
        // then "▁hell" forms by the highest-scoring merges and "o" and "é" come out as byte tokens,
        #expect(tokenizer.encode("hello") == [1, 10, 11])
        #expect(tokenizer.encode("hé", addSpecial: false) == [7, 12, 13])
        // and decoding puts the text back without the space the prefix added.
        #expect(tokenizer.decode([1, 10, 11]) == "hello")
        #expect(tokenizer.decode([7, 12, 13]) == "hé")
    }

    @Test func badVocabulariesAreRefusedWithTheReason() throws {
        // A merge without a separating space, a byte-level vocabulary missing a byte, an unknown
        // pre-tokenizer and a type array of the wrong length each give one clear error.
        let bytes = (0..<256).map { String(BytePairMerges.character(of: UInt8($0))) }
        #expect(throws: LLMError.self) {
            try Tokenizer(TokenizerVocabulary(model: .bytePairEncoding, tokens: bytes, merges: ["ab"]))
        }
        // A byte with no token of its own comes out as the unknown token.
        var withUnknown = Array(bytes.dropFirst())
        withUnknown.append("<unk>")
        let missing = try Tokenizer(TokenizerVocabulary(model: .bytePairEncoding, tokens: withUnknown, unknown: 255))
        #expect(missing.encode("a\u{0}b", addSpecial: false) == [Int32(0x61 - 1), 255, Int32(0x62 - 1)])
        #expect(PreTokenizer(ggufName: "some-new-model") == nil)
        #expect(throws: LLMError.self) {
            try Tokenizer(TokenizerVocabulary(model: .bytePairEncoding, tokens: bytes, types: [.normal]))
        }
        #expect(throws: LLMError.self) {
            try Tokenizer(TokenizerVocabulary(model: .bytePairEncoding, tokens: bytes, bos: 300))
        }
    }
}
