#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Whisper's GPT-2-style byte-level BPE vocabulary, as CTranslate2 stores it: `vocabulary.txt`, one
/// token per line, line i (from 0) is token id i. Ordinary tokens are written in GPT-2's printable
/// stand-ins for bytes (`bytes_to_unicode`: "Ġ" is the space byte, "Ċ" the newline), special tokens as
/// `<|name|>`. Decoding maps each stand-in back to its byte and reads the bytes as UTF-8.
///
/// `config.json` beside it gives the tokens decoding must never produce (`suppress_ids`: Whisper's
/// non-speech symbols and the task tokens) and those it must not start with (`suppress_ids_begin`:
/// the space and end of text), as the model's converter wrote them.
public struct WhisperVocabulary: Sendable {
    public let tokens: [String]
    /// Each ordinary token's bytes (empty for special tokens).
    let bytes: [[UInt8]]
    public let endOfText: Int
    public let startOfTranscript: Int
    public let noTimestamps: Int
    /// `<|nocaptions|>`: its probability after <|startoftranscript|> is Whisper's no-speech probability.
    public let noSpeech: Int
    /// The first timestamp token (`<|0.00|>`); every id from here on is a timestamp.
    public let firstTimestamp: Int
    public let suppressed: [Int]
    public let suppressedAtBegin: [Int]

    /// `<|startofprev|>`: text before it is no part of the prompt; after it, text said before (or
    /// words to expect), up to <|startoftranscript|>.
    public let startOfPrevious: Int

    /// The prompt of an English-only model transcribing without timestamps.
    public var prompt: [Int] { [startOfTranscript, noTimestamps] }

    /// The prompt with text before it (`previous`, token ids; empty: none), as faster-whisper builds it
    /// for `initial_prompt`: <|startofprev|>, the last `maxPrevious` of them, then `prompt`. Ids that are
    /// not ordinary tokens (special, timestamp, outside the vocabulary) are left out, as faster-whisper
    /// leaves them out of previous text.
    public func prompt(previous: [Int], maxPrevious: Int) -> [Int] {
        let ordinary = previous.filter { $0 >= 0 && $0 < endOfText }
        return ordinary.isEmpty ? prompt : [startOfPrevious] + ordinary.suffix(maxPrevious) + prompt
    }

    public init(directory: String, size: Int) throws(WhisperError) {
        let path = directory + "/vocabulary.txt"
        let data = try Self.readText(path)
        var lines = data.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, fileName: path, size: size,
                      config: try Self.readConfig(directory + "/config.json", size: size))
    }

    init(tokens: [String], fileName: String, size: Int, config: (suppress: [Int], begin: [Int])) throws(WhisperError) {
        guard tokens.count == size else {
            throw WhisperError(.corruptModel, "\(fileName): \(tokens.count) tokens, but the model's embedding has \(size) rows: vocabulary and model do not belong together")
        }
        var index: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where token.hasPrefix("<|") && token.hasSuffix("|>") { index[token] = id }
        func special(_ name: String) throws(WhisperError) -> Int {
            guard let id = index[name] else {
                throw WhisperError(.unsupportedModel, "\(fileName): no \(name) token: not a Whisper vocabulary")
            }
            return id
        }
        endOfText = try special("<|endoftext|>")
        startOfTranscript = try special("<|startoftranscript|>")
        noTimestamps = try special("<|notimestamps|>")
        noSpeech = try special("<|nocaptions|>")
        startOfPrevious = try special("<|startofprev|>")
        firstTimestamp = try special("<|0.00|>")
        let decoder = Self.byteDecoder
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(size)
        for (id, token) in tokens.enumerated() {
            if id >= endOfText { bytes.append([]); continue }
            var out: [UInt8] = []
            for scalar in token.unicodeScalars {
                guard let byte = decoder[scalar] else {
                    throw WhisperError(.corruptModel, "\(fileName): token \(id) '\(token)' has a character outside the byte-level alphabet (U+\(String(scalar.value, radix: 16, uppercase: true)))")
                }
                out.append(byte)
            }
            bytes.append(out)
        }
        self.tokens = tokens
        self.bytes = bytes
        self.suppressed = config.suppress
        self.suppressedAtBegin = config.begin
    }

    /// The text of `ids`: special and timestamp tokens are left out, as Whisper's decoder does.
    public func text(_ ids: some Sequence<Int>) -> String {
        var out: [UInt8] = []
        for id in ids where id >= 0 && id < endOfText { out += bytes[id] }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of an ordinary token (empty for special ones).
    public func bytes(of id: Int) -> [UInt8] { id >= 0 && id < bytes.count ? bytes[id] : [] }

    /// GPT-2's `bytes_to_unicode`, inverted: the 188 printable bytes stand for themselves; the other 68
    /// (controls, space, DEL, NBSP, soft hyphen) are U+0100 onwards, in byte order.
    static let byteDecoder: [Unicode.Scalar: UInt8] = {
        var table: [Unicode.Scalar: UInt8] = [:]
        func printable(_ b: Int) -> Bool { (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) }
        var next = 256
        for b in 0..<256 {
            if printable(b) {
                table[Unicode.Scalar(UInt8(b))] = UInt8(b)
            } else {
                table[Unicode.Scalar(UInt32(next))!] = UInt8(b)
                next += 1
            }
        }
        return table
    }()

    struct Config: Decodable {
        let suppress_ids: [Int]?
        let suppress_ids_begin: [Int]?
    }

    static func readConfig(_ path: String, size: Int) throws(WhisperError) -> (suppress: [Int], begin: [Int]) {
        let text = try readText(path)
        let config: Config
        do {
            config = try JSONDecoder().decode(Config.self, from: Data(text.utf8))
        } catch {
            throw WhisperError(.corruptModel, "\(path): not the JSON of a CTranslate2 Whisper config (\(error))")
        }
        guard let suppress = config.suppress_ids, let begin = config.suppress_ids_begin else {
            throw WhisperError(.unsupportedModel, "\(path): no suppress_ids or suppress_ids_begin: not a CTranslate2 Whisper config")
        }
        for id in suppress + begin where id < 0 || id >= size {
            throw WhisperError(.corruptModel, "\(path): token id \(id) is outside the vocabulary (0..<\(size))")
        }
        return (suppress, begin)
    }

    static func readText(_ path: String) throws(WhisperError) -> String {
        // The files are small (the vocabulary 0.4 MB, tokenizer.json 2 MB); anything past 16 MiB is not one of them.
        guard let handle = FileManager.default.contents(atPath: path) else {
            throw WhisperError(.fileUnreadable, "\(path): cannot read it: run `make models` to fetch the Whisper model")
        }
        guard handle.count <= 16 << 20 else {
            throw WhisperError(.corruptModel, "\(path): \(handle.count) bytes, far larger than a Whisper vocabulary, config or tokenizer")
        }
        guard let text = String(validating: handle, as: UTF8.self) else {
            throw WhisperError(.corruptModel, "\(path): not UTF-8 text")
        }
        return text
    }
}
