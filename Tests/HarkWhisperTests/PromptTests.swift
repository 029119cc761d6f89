#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import HarkWhisper
import HarkTestSupport
import Testing

/// Text before the speech (faster-whisper's `initial_prompt`) against faster-whisper 1.2.1 float32:
/// tools/capture_whisper_prompt_fixtures.py wrote its tokenizer's ids for a few texts, the prompt it
/// builds for the demo home's spoken names, and its transcripts of command clips with and without
/// that prompt into Fixtures/whisper_prompt_reference.json.
@Suite(.serialized) struct WhisperPromptTests {
    struct Reference: Decodable {
        struct Encoding: Decodable {
            let text: String
            let ids: [Int]
        }
        struct Prompt: Decodable {
            let text: String
            let ids: [Int]
            let full: [Int]
        }
        struct Decoded: Decodable {
            let text: String
            let tokens: [Int]
            let no_speech_prob: Float
        }
        struct Clip: Decodable {
            let path: String
            let kind: String
            let prompted: Decoded
            let unprompted: Decoded
        }
        let encodings: [Encoding]
        let prompt: Prompt
        let clips: [Clip]
    }

    static let directory = WhisperTranscriberTests.modelDirectory

    static func reference() throws -> Reference {
        let path = repositoryRoot + "/Tests/HarkWhisperTests/Fixtures/whisper_prompt_reference.json"
        let text = try #require(readTextFile(path), "\(path) is missing")
        return try JSONDecoder().decode(Reference.self, from: Data(text.utf8))
    }

    @Test("Given texts with punctuation, digits, contractions and non-ASCII letters, when encoded as a prompt, then the ids are faster-whisper's tokenizer's")
    func encoding() throws {
        let reference = try Self.reference()
        let t = try WhisperTranscriberTests.load()
        let encoder = try WhisperTextEncoder(directory: Self.directory, vocabulary: t.model.vocabulary)
        #expect(reference.encodings.count >= 6)
        for encoding in reference.encodings + [.init(text: reference.prompt.text, ids: reference.prompt.ids)] {
            #expect(encoder.encodePrompt(encoding.text) == encoding.ids, "\(encoding.text)")
        }
        #expect(encoder.encodePrompt("  \n ").isEmpty)
    }

    @Test("Given the prompt's ids, when the decoder's prompt is built, then it is faster-whisper's, text past half the context keeps its end, and ids that are not ordinary tokens are left out")
    func fullPrompt() throws {
        let reference = try Self.reference()
        let t = try WhisperTranscriberTests.load()
        let vocabulary = t.model.vocabulary
        #expect(vocabulary.prompt(previous: reference.prompt.ids, maxPrevious: t.maxPrevious) == reference.prompt.full)
        #expect(vocabulary.prompt(previous: [], maxPrevious: t.maxPrevious) == vocabulary.prompt)
        #expect(t.maxPrevious == 223)
        let long = Array(repeating: reference.prompt.ids, count: 10).flatMap { $0 }
        let built = vocabulary.prompt(previous: long, maxPrevious: t.maxPrevious)
        #expect(built.count == 223 + 3)
        #expect(built.first == vocabulary.startOfPrevious)
        #expect(Array(built[1..<224]) == Array(long.suffix(223)))
        // Ids that are not ordinary tokens are left out (they would crash or confuse the decoder).
        let dirty = [-1, vocabulary.endOfText, vocabulary.startOfTranscript] + reference.prompt.ids + [vocabulary.firstTimestamp, 1 << 30]
        #expect(vocabulary.prompt(previous: dirty, maxPrevious: t.maxPrevious) == reference.prompt.full)
        #expect(vocabulary.prompt(previous: [vocabulary.noTimestamps], maxPrevious: t.maxPrevious) == vocabulary.prompt)
    }

    @Test("Given command clips and the demo home's spoken names as the prompt, when transcribed greedily, then ≥ 90 % of the token sequences are faster-whisper's, its no-speech probability is matched, and the prompt changes what is heard where faster-whisper's does")
    func promptedTranscripts() throws {
        let reference = try Self.reference()
        let t = try WhisperTranscriberTests.load()
        let clips = reference.clips
        #expect(clips.count >= 30)
        var same = 0, changed = 0, changedBoth = 0, sameUnprompted = 0
        for clip in clips {
            let audio = try WhisperParityTests.samples(clip.path)
            // One 30 s window, as faster-whisper decodes these clips; both decodings of one encoding.
            let window = try #require(t.windows(audio, audioContext: .full).first)
            let encoded = t.model.encode(mel: window.mel, frames: window.frames, threads: 2)
            let prompted = t.greedy(encoded, threads: 2, previous: reference.prompt.ids)
            let unprompted = t.greedy(encoded, threads: 2)
            if prompted.tokens == clip.prompted.tokens { same += 1 } else {
                print("  differs \(clip.path): '\(prompted.text)' vs faster-whisper '\(clip.prompted.text)'")
            }
            if unprompted.tokens == clip.unprompted.tokens { sameUnprompted += 1 }
            #expect(abs(prompted.noSpeechProbability - clip.prompted.no_speech_prob) < 0.01,
                    "\(clip.path): \(prompted.noSpeechProbability) vs faster-whisper's \(clip.prompted.no_speech_prob)")
            #expect(abs(unprompted.noSpeechProbability - clip.unprompted.no_speech_prob) < 0.01,
                    "\(clip.path) without the prompt: \(unprompted.noSpeechProbability) vs faster-whisper's \(clip.unprompted.no_speech_prob)")
            if clip.prompted.tokens != clip.unprompted.tokens {
                changed += 1
                if prompted.tokens != unprompted.tokens { changedBoth += 1 }
            }
        }
        print("whisper prompt parity: \(same)/\(clips.count) prompted token sequences equal faster-whisper's (unprompted \(sameUnprompted)/\(clips.count)); the prompt changed \(changed) of faster-whisper's transcripts, and Hark's on \(changedBoth) of those")
        #expect(Double(same) >= 0.9 * Double(clips.count))
        #expect(changed >= 5)
        #expect(changedBoth >= changed - 2)
    }

    @Test("Given a model directory whose tokenizer.json is missing, not JSON, not BPE, or has a malformed merge, when the encoder loads, then it fails with one line naming the file")
    func badTokenizer() throws {
        let t = try WhisperTranscriberTests.load()
        let dir = makeTemporaryDirectory("hark-tokenizer")
        defer { _ = runShell("rm -rf '\(dir)'") }
        func failure() -> String? {
            do { _ = try WhisperTextEncoder(directory: dir, vocabulary: t.model.vocabulary); return nil } catch { return error.message }
        }
        let path = dir + "/tokenizer.json"
        #expect(failure()?.hasPrefix(path + ": cannot read it") == true)
        for (content, says) in [("{\"model\": ", "not the JSON of a BPE tokenizer"),
                                ("{\"model\": {\"type\": \"WordPiece\", \"merges\": []}}", "not a byte-level BPE"),
                                ("{\"model\": {\"type\": \"BPE\", \"merges\": [[\"a\", \"b\", \"c\"]]}}", "not the JSON of a BPE tokenizer"),
                                ("{\"model\": {\"type\": \"BPE\", \"merges\": [\"ab\"]}}", "is not two symbols")] {
            writeFile(path, content)
            let message = try #require(failure(), "\(content)")
            #expect(message.hasPrefix(path + ": ") && message.contains(says) && !message.contains("\n"), "\(content): \(message)")
        }
    }
}
