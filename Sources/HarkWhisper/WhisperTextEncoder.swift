#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HarkLLM

/// Text → Whisper token ids, for a prompt (text before the speech, faster-whisper's `initial_prompt`):
/// GPT-2's byte-level BPE, with the merges of the model directory's `tokenizer.json` (Hugging Face
/// tokenizers' layout, which CTranslate2's converter copies beside `vocabulary.txt`) over the
/// vocabulary's tokens. The BPE itself is HarkLLM's `Tokenizer` (the GPT-2 pre-tokenizer), the one
/// stage 2's language models use.
public struct WhisperTextEncoder: Sendable {
    let tokenizer: Tokenizer

    public init(directory: String, vocabulary: WhisperVocabulary) throws(WhisperError) {
        let path = directory + "/tokenizer.json"
        let text = try WhisperVocabulary.readText(path)
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(text.utf8))
        } catch {
            throw WhisperError(.corruptModel, "\(path): not the JSON of a BPE tokenizer (\(error))")
        }
        guard file.model.type == "BPE", !file.model.merges.isEmpty else {
            throw WhisperError(.unsupportedModel, "\(path): a \(file.model.type ?? "typeless") model with \(file.model.merges.count) merges, not a byte-level BPE")
        }
        do {
            tokenizer = try Tokenizer(TokenizerVocabulary(model: .bytePairEncoding, preTokenizer: .gpt2, tokens: vocabulary.tokens,
                                                          merges: file.model.merges.map(\.text)))
        } catch {
            throw WhisperError(.corruptModel, "\(path): \(error.message)")
        }
    }

    /// The ids of `text` as faster-whisper encodes an initial prompt: trimmed, after one space.
    public func encodePrompt(_ text: String) -> [Int] {
        let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard !trimmed.isEmpty else { return [] }
        return tokenizer.encode(" " + trimmed, addSpecial: false).map(Int.init)
    }

    struct File: Decodable {
        struct Model: Decodable {
            let type: String?
            let merges: [Merge]
        }
        let model: Model
    }

    /// A merge as either version of the format writes it: "Ġ t" or ["Ġ", "t"].
    struct Merge: Decodable {
        let text: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let pair = try? container.decode([String].self) {
                guard pair.count == 2 else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "a merge of \(pair.count) parts")
                }
                text = pair[0] + " " + pair[1]
            } else {
                text = try container.decode(String.self)
            }
        }
    }
}
