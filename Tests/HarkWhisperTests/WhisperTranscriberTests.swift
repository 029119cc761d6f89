#if canImport(Glibc)
import Glibc
#endif
@testable import HarkWhisper
import HarkTestSupport
import Testing

/// The real tiny.en model (make models) on generated speech and on bad input.
@Suite(.serialized) struct WhisperTranscriberTests {
    static let modelDirectory = repositoryRoot + "/models/whisper-tiny.en"
    static let commands = repositoryRoot + "/build/testdata/commands"

    static let transcriber: WhisperTranscriber? = try? WhisperTranscriber(directory: modelDirectory)

    static func load() throws -> WhisperTranscriber {
        try #require(transcriber, "\(modelDirectory): cannot load the model: run `make models`")
    }

    static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber && $0 != "%" }.map(String.init)
    }

    @Test("Given tiny.en, when loaded, then its dimensions and special tokens are Whisper tiny.en's")
    func dimensions() throws {
        let model = try Self.load().model
        #expect(model.width == 384 && model.heads == 6)
        #expect(model.encoderLayers.count == 4 && model.decoderLayers.count == 4)
        #expect(model.audioPositions == 1500 && model.textPositions == 448 && model.vocabularySize == 51864)
        let v = model.vocabulary
        #expect(v.endOfText == 50256 && v.startOfTranscript == 50257 && v.noTimestamps == 50362 && v.firstTimestamp == 50363)
        #expect(v.prompt == [50257, 50362])
        #expect(v.suppressedAtBegin == [220, 50256])
        #expect(v.suppressed.contains(50357) && v.suppressed.contains(50358) && v.suppressed.count == 90)
    }

    @Test("Given byte-level tokens, when decoded, then stand-in characters become bytes and UTF-8 text")
    func decodesBytes() throws {
        let v = try Self.load().model.vocabulary
        #expect(v.tokens[1210] == "Ġturn" && v.text([1210]) == " turn")
        #expect(v.text([14690, 46595, 11]) == " Hey Jarvis,")
        // Special and timestamp tokens are not text.
        #expect(v.text([50257, 50362, 1210, 50256, 50400]) == " turn")
        // "Ċ" is the newline byte.
        #expect(VocabularyBytes.decode("Ċ") == [10])
    }

    @Test("Given a clean spoken command, when transcribed with the full 30 s context, then the words are the command's")
    func transcribesCommand() throws {
        let t = try Self.load()
        let samples = try readSamples(Self.commands + "/ingrammar/flite_rms_05_clean.wav")
        let transcript = t.transcribe(samples, options: .init(audioContext: .full))
        #expect(Array(Self.words(transcript.text).suffix(4)) == ["turn", "off", "the", "television"], "\(transcript.text)")
        #expect(transcript.logProbabilities.count == transcript.tokens.count + 1)
        #expect(transcript.logProbabilities.allSatisfy { $0 <= 0 && $0.isFinite })
    }

    @Test("Given silence, noise only, 0.1 s, nothing, and 60 s of audio, when transcribed, then a sensible result and no crash")
    func badAudio() throws {
        let t = try Self.load()
        let options = WhisperTranscriber.Options(audioContext: .init(minimumFrames: 1000))
        #expect(t.transcribe([Float](), options: options).text.isEmpty)
        #expect(t.transcribe([Float](repeating: 0, count: 50), options: options).text.isEmpty)
        let silence = t.transcribe([Float](repeating: 0, count: 48_000), options: options)
        #expect(silence.tokens.count <= 8, "\(silence.text)")
        let short = t.transcribe([Float](repeating: 0, count: 1600), options: options)
        #expect(short.tokens.count <= 8, "\(short.text)")
        var rng = SplitMix64(seed: 7)
        let noise = (0..<48_000).map { _ in rng.nextFloat() * 0.1 }
        let heardNoise = t.transcribe(noise, options: options)
        #expect(heardNoise.tokens.count < 40, "\(heardNoise.text)")
        // 60 s: two 30 s windows, the command at the start of each.
        let command = try readSamples(Self.commands + "/ingrammar/flite_rms_05_clean.wav").map { Float($0) / 32768 }
        var long = [Float](repeating: 0, count: 960_000)
        long.replaceSubrange(0..<command.count, with: command)
        long.replaceSubrange(480_000..<(480_000 + command.count), with: command)
        #expect(t.windows(long, audioContext: options.audioContext).count == 2)
        let text = Self.words(t.transcribe(long, options: options).text)
        #expect(text.filter { $0 == "television" }.count == 2, "\(text)")
    }

    @Test("Given a truncated or corrupt model directory, when loaded, then a clear error names the file")
    func badModel() throws {
        let dir = makeTemporaryDirectory("hark-whisper")
        defer { _ = system("rm -rf '\(dir)'") }
        for name in ["config.json", "vocabulary.txt"] {
            _ = system("cp '\(Self.modelDirectory)/\(name)' '\(dir)/\(name)'")
        }
        // Missing.
        do { _ = try WhisperModel(directory: dir); Issue.record("no model.bin accepted") } catch {
            #expect(error.code == .fileUnreadable && error.message.contains("model.bin"))
        }
        // Truncated to 10 MB.
        _ = system("head -c 10000000 '\(Self.modelDirectory)/model.bin' > '\(dir)/model.bin'")
        do { _ = try WhisperModel(directory: dir); Issue.record("truncated model accepted") } catch {
            #expect(error.code == .corruptModel && error.message.contains("truncated or corrupt"), "\(error)")
        }
        // A vocabulary of the wrong size.
        _ = system("cp '\(Self.modelDirectory)/model.bin' '\(dir)/model.bin' && head -n 1000 '\(Self.modelDirectory)/vocabulary.txt' > '\(dir)/vocabulary.txt'")
        do { _ = try WhisperModel(directory: dir); Issue.record("short vocabulary accepted") } catch {
            #expect(error.message.contains("1000 tokens"), "\(error)")
        }
        // A config that is not JSON.
        _ = system("cp '\(Self.modelDirectory)/vocabulary.txt' '\(dir)/vocabulary.txt' && echo '{suppress' > '\(dir)/config.json'")
        do { _ = try WhisperModel(directory: dir); Issue.record("bad config accepted") } catch {
            #expect(error.code == .corruptModel && error.message.contains("config.json"), "\(error)")
        }
    }

    @Test("Given a spoken command and a grammar of two phrases, when decoded constrained, then the right phrase wins; given a question, the in-grammar text is far less likely than the free transcript")
    func constrained() throws {
        let t = try Self.load()
        // The clips begin with the wake phrase; so do the phrases.
        let phrases = ["hey jarvis turn off the television", "hey jarvis turn on the kitchen light"]
        func viability(_ text: String) -> TextViability {
            let w = Self.words(text).joined(separator: " ")
            if phrases.contains(w) { return .complete }
            let partial = text.last.map { $0.isLetter } ?? false
            return phrases.contains { partial ? $0.hasPrefix(w) : ($0 + " ").hasPrefix(w.isEmpty ? "" : w + " ") } ? .prefix : .impossible
        }
        func encode(_ path: String) throws -> EncodedAudio {
            let samples = try readSamples(path).map { Float($0) / 32768 }
            let window = try #require(t.windows(samples, audioContext: .init(minimumFrames: 1000)).first)
            return t.model.encode(mel: window.mel, frames: window.frames)
        }
        let command = t.constrained(try encode(Self.commands + "/ingrammar/flite_rms_05_clean.wav"), viability: viability)
        #expect(command.text.map { Self.words($0).joined(separator: " ") } == "hey jarvis turn off the television", "\(command.text ?? "-")")
        #expect(command.logProbability > command.freeLogProbability - 8)
        let question = t.constrained(try encode(Self.commands + "/oos/piper_joe_00_clean.wav"), viability: viability)
        #expect(question.logProbability < question.freeLogProbability - 10, "\(question.text ?? "-") vs \(question.free.text)")
        // A caller with no use for hypotheses over 5 nats behind the free transcript: the question's
        // in-grammar text is further behind than that, so none is found; the command's is kept.
        let close = t.constrained(try encode(Self.commands + "/oos/piper_joe_00_clean.wav"), viability: viability, within: 5,
                                  shouldStop: { false })
        #expect(close?.text == nil && close?.free == question.free)
        let kept = t.constrained(try encode(Self.commands + "/ingrammar/flite_rms_05_clean.wav"), viability: viability, within: 8,
                                 shouldStop: { false })
        #expect(kept?.text == command.text && kept?.logProbability == command.logProbability)
        // Free transcript already a sentence: no search, it is the answer.
        let suffices = t.constrained(try encode(Self.commands + "/ingrammar/flite_rms_05_clean.wav"), viability: viability,
                                     freeSuffices: { _ in true }, shouldStop: { false })
        #expect(suffices?.text == command.free.text && suffices?.logProbability == command.freeLogProbability)
    }

    @Test("The ranking gives tokens by logit, largest first, the lower id first among equals, only those within the window")
    func ranking() {
        let logits: [Float] = [1, 5, -.infinity, 5, -40, 3, 4.5, -20]
        var ranking = WhisperTranscriber.Ranking(logits, window: 30)
        var order: [Int] = []
        while let id = ranking.next() { order.append(id) }
        #expect(order == [1, 3, 6, 5, 0, 7])
        var random = SystemRandomNumberGenerator()
        let many = (0..<5000).map { _ in Float(Int.random(in: -400...400, using: &random)) / 10 }
        var all = WhisperTranscriber.Ranking(many, window: 30)
        var got: [Int] = []
        while let id = all.next() { got.append(id) }
        let top = many.max()!
        let expected = many.indices.filter { many[$0] >= top - 30 }.sorted { many[$0] > many[$1] || (many[$0] == many[$1] && $0 < $1) }
        #expect(got == expected)
    }
}

extension WhisperTranscriberTests {
    static func run(_ command: String) -> (output: String, status: Int32) { runShell(command) }

    @Test("Given hark-whisper and two recordings, when run with --json, then it prints the load time and one object per file with text, tokens and seconds; a missing file fails with exit status 1")
    func commandLine() throws {
        let binary = repositoryRoot + "/.build/release/hark-whisper"
        let clip = Self.commands + "/ingrammar/flite_rms_05_clean.wav"
        let (output, status) = Self.run("cd '\(repositoryRoot)' && '\(binary)' --json --audio-context full '\(clip)' '\(clip)' 2>&1")
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n")
        #expect(lines.count == 3, "\(output)")
        #expect(lines.first?.hasPrefix("{\"load_s\": ") == true)
        for line in lines.dropFirst() {
            #expect(line.contains("\"file\": \"\(clip)\"") && line.contains("\"seconds\": ") && line.contains("\"tokens\": ["), "\(line)")
            #expect(Self.words(String(line)).contains("television"), "\(line)")
        }
        let missing = Self.run("cd '\(repositoryRoot)' && '\(binary)' /nonexistent.wav 2>&1")
        #expect(missing.status == 1 && missing.output.contains("/nonexistent.wav"), "\(missing.output)")
        let badModel = Self.run("cd '\(repositoryRoot)' && '\(binary)' --model /nonexistent '\(clip)' 2>&1")
        #expect(badModel.status == 1 && badModel.output.contains("/nonexistent/model.bin"), "\(badModel.output)")
    }
}

/// Byte-level decoding of a stand-in string, for the test above.
enum VocabularyBytes {
    static func decode(_ token: String) -> [UInt8] { token.unicodeScalars.compactMap { WhisperVocabulary.byteDecoder[$0] } }
}
