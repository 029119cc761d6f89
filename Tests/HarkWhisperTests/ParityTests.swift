import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import HarkWhisper
import HarkTestSupport
import Synchronization
import Testing

/// Hark's Whisper against faster-whisper 1.2.1 (CTranslate2 4.8.5, float32, beam 1) on the same model
/// and clips: tools/capture_whisper_fixtures.py wrote what the reference computed into
/// Fixtures/whisper_reference.json (the log-mel frames, encoder rows and first-step logits of two clips;
/// the transcripts of 88 generated command recordings).
@Suite(.serialized) struct WhisperParityTests {
    struct Reference: Decodable {
        struct Decoded: Decodable {
            let text: String
            let tokens: [Int]
        }
        struct Clip: Decodable {
            let path: String
            let kind: String
            let voice: String
            let reference: String
            let float32: Decoded
            let int8: Decoded
        }
        struct Numerics: Decodable {
            struct Features: Decodable {
                let content_frames: Int
                let frames: [String: [Float]]
                let frame_index: [String: Int]
            }
            struct Encoder: Decodable {
                let rows: [String: [Float]]
                let row_index: [String: Int]
            }
            struct Decode: Decodable {
                let tokens: [Int]
                let first_step_top20: [[Float]]
            }
            struct Unpadded: Decodable {
                let encoder_input_frames: Int
                let first_step_top20: [[Float]]
                let tokens: [Int]
            }
            let clip: String
            let samples: Int
            let features: Features
            let encoder: Encoder
            let decode: Decode
            let unpadded_encoder: Unpadded
        }
        let clips: [Clip]
        let numerics: [Numerics]
    }

    static let reference: Reference? = {
        let path = repositoryRoot + "/Tests/HarkWhisperTests/Fixtures/whisper_reference.json"
        guard let text = readTextFile(path) else { return nil }
        return try? JSONDecoder().decode(Reference.self, from: Data(text.utf8))
    }()

    static func load() throws -> (WhisperTranscriber, Reference) {
        let reference = try #require(Self.reference, "Fixtures/whisper_reference.json is missing or unreadable")
        return (try WhisperTranscriberTests.load(), reference)
    }

    /// The reference's clips this checkout's test audio has: all of them, except the `oog/` ones
    /// (the shared stage-2 dev set's texts) when the audio was made without that dev set, which
    /// tools/gen_command_audio.py records as `oog_source: absent`; the test says how many it left out.
    static func present(_ clips: [Reference.Clip]) -> [Reference.Clip] {
        struct Manifest: Decodable { let oog_source: String? }
        let data = readTextFile(WhisperTranscriberTests.commands + "/manifest.json").map { Data($0.utf8) } ?? Data()
        guard (try? JSONDecoder().decode(Manifest.self, from: data))?.oog_source == "absent" else { return clips }
        let kept = clips.filter { !$0.path.hasPrefix("oog/") }
        print("whisper parity: no shared stage-2 dev set in the test audio: \(clips.count - kept.count) oog/ clips of the reference left out, \(kept.count) used")
        return kept
    }

    static func samples(_ path: String) throws -> [Float] {
        try readSamples(WhisperTranscriberTests.commands + "/" + path).map { Float($0) / 32768 }
    }

    @Test("Given two clips, when Hark computes log-mel frames, then they equal faster-whisper's within 2e-3")
    func logMel() throws {
        let (t, reference) = try Self.load()
        for numerics in reference.numerics {
            let audio = try Self.samples(numerics.clip)
            #expect(audio.count == numerics.samples)
            let window = try #require(t.windows(audio, audioContext: .full).first)
            #expect(LogMel.frames(samples: audio.count) - 1 == numerics.features.content_frames)
            for (name, index) in numerics.features.frame_index {
                let expected = try #require(numerics.features.frames[name])
                let mine = Array(window.mel[(index * LogMel.bins)..<((index + 1) * LogMel.bins)])
                let worst = zip(mine, expected).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 2e-3, "\(numerics.clip) frame \(index): off by \(worst)")
            }
        }
    }

    @Test("Given two clips in a 30 s window, when encoded, then the encoder rows equal CTranslate2's within 2 % of their norm, and the first step's top-20 logits within 0.05")
    func encoderAndFirstStep() throws {
        let (t, reference) = try Self.load()
        for numerics in reference.numerics {
            let window = try #require(t.windows(try Self.samples(numerics.clip), audioContext: .full).first)
            let encoded = t.model.encode(mel: window.mel, frames: window.frames, threads: 2)
            #expect(encoded.positions == 1500)
            for (name, index) in numerics.encoder.row_index {
                let expected = try #require(numerics.encoder.rows[name])
                let mine = encoded.output[(index * 384)..<((index + 1) * 384)]
                let error = zip(mine, expected).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                let norm = expected.map { $0 * $0 }.reduce(0, +).squareRoot()
                #expect(error <= 0.02 * norm, "\(numerics.clip) row \(index): error \(error), norm \(norm)")
            }
            var decoding = Decoding(model: t.model, encoded: encoded, threads: 2)
            decoding.feed(t.model.vocabulary.prompt)
            for pair in numerics.decode.first_step_top20 {
                let id = Int(pair[0])
                #expect(abs(decoding.logits[id] - pair[1]) < 0.05, "\(numerics.clip) token \(id): \(decoding.logits[id]) vs \(pair[1])")
            }
            #expect(t.greedy(encoded, threads: 2).tokens == numerics.decode.tokens)
        }
    }

    @Test("Given a clip encoded on only its own frames, when decoded, then the logits and tokens are CTranslate2's on the same unpadded input")
    func unpadded() throws {
        let (t, reference) = try Self.load()
        for numerics in reference.numerics {
            let window = try #require(t.windows(try Self.samples(numerics.clip), audioContext: .present).first)
            #expect(window.frames == numerics.unpadded_encoder.encoder_input_frames)
            let encoded = t.model.encode(mel: window.mel, frames: window.frames)
            var decoding = Decoding(model: t.model, encoded: encoded, threads: 1)
            decoding.feed(t.model.vocabulary.prompt)
            for pair in numerics.unpadded_encoder.first_step_top20 {
                #expect(abs(decoding.logits[Int(pair[0])] - pair[1]) < 0.05, "\(numerics.clip) token \(Int(pair[0]))")
            }
            #expect(t.greedy(encoded).tokens == numerics.unpadded_encoder.tokens)
        }
    }

    /// Lower case, letters, digits and % only, as words.
    static func normalised(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "%" || $0 == "'") }.map(String.init)
    }

    /// Word error rate of `hypothesis` against `reference` (Levenshtein over words / reference words).
    static func wordErrors(_ hypothesis: [String], _ reference: [String]) -> Int {
        var row = Array(0...hypothesis.count)
        for (i, word) in reference.enumerated() {
            var previous = row[0]
            row[0] = i + 1
            for j in hypothesis.indices {
                let current = row[j + 1]
                row[j + 1] = min(row[j + 1] + 1, row[j] + 1, previous + (hypothesis[j] == word ? 0 : 1))
                previous = current
            }
        }
        return row[hypothesis.count]
    }

    static func spokenNumbers(_ words: [String]) -> [String] {
        // The source texts spell numbers and "percent"; both transcribers write "20%". Compare digits.
        let units = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                     "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
        let tens = ["twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90]
        var out: [String] = []
        var i = 0
        while i < words.count {
            if let ten = tens[words[i]] {
                if i + 1 < words.count, let unit = units.firstIndex(of: words[i + 1]), (1...9).contains(unit) {
                    out.append("\(ten + unit)"); i += 2; continue
                }
                out.append("\(ten)")
            } else if let unit = units.firstIndex(of: words[i]) {
                out.append("\(unit)")
            } else if words[i].hasSuffix("%") {
                out += [String(words[i].dropLast()), "percent"]
            } else {
                out.append(words[i])
            }
            i += 1
        }
        return out
    }

    /// Every clip's transcript with `t` as faster-whisper runs (30 s window, no silence skipping),
    /// two clips at a time on one thread each (both cores, off the cooperative pool).
    static func transcribeAll(_ clips: [Reference.Clip], with t: WhisperTranscriber) async throws -> [String: String] {
        let texts = Mutex<[String: String]>([:])
        let failure = Mutex<String?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                DispatchQueue.concurrentPerform(iterations: 2) { part in
                    for (index, clip) in clips.enumerated() where index % 2 == part {
                        do {
                            let text = t.transcribe(try Self.samples(clip.path), options: .init(threads: 1, audioContext: .full, skipsSilence: false)).text
                            texts.withLock { $0[clip.path] = text }
                        } catch {
                            failure.withLock { $0 = "\(clip.path): \(error)" }
                        }
                    }
                }
                done.resume()
            }
        }
        if let message = failure.withLock({ $0 }) { Issue.record(Comment(rawValue: message)) }
        return texts.withLock { $0 }
    }

    @Test("Given 88 command recordings (4 voices, clean and 10 dB, babble, questions), when transcribed as faster-whisper does (30 s window, greedy), then ≥ 95 % equal its float32 transcripts and the word error rate is within 1 point of its")
    func transcripts() async throws {
        let (t, reference) = try Self.load()
        let clips = Self.present(reference.clips)
        #expect(clips.count >= 40)
        #expect(Set(clips.map(\.voice)).count >= 3)
        let mine = try await Self.transcribeAll(clips, with: t)
        var equal = 0, int8Equal = 0, myErrors = 0, theirErrors = 0, words = 0
        for clip in clips {
            let text = try #require(mine[clip.path])
            if Self.normalised(text) == Self.normalised(clip.float32.text) { equal += 1 } else {
                print("  differs \(clip.path): '\(text)' vs faster-whisper '\(clip.float32.text)'")
            }
            if Self.normalised(clip.int8.text) == Self.normalised(clip.float32.text) { int8Equal += 1 }
            let truth = Self.spokenNumbers(Self.normalised(clip.reference))
            myErrors += Self.wordErrors(Self.spokenNumbers(Self.normalised(text)), truth)
            theirErrors += Self.wordErrors(Self.spokenNumbers(Self.normalised(clip.float32.text)), truth)
            words += truth.count
        }
        let rate = Double(equal) / Double(clips.count)
        let myWER = Double(myErrors) / Double(words), theirWER = Double(theirErrors) / Double(words)
        print("whisper parity: \(equal)/\(clips.count) transcripts equal faster-whisper float32 (\(String(format: "%.1f", rate * 100)) %); faster-whisper int8 equals its own float32 on \(int8Equal)/\(clips.count)")
        print("whisper WER against the source texts: Hark \(String(format: "%.2f", myWER * 100)) %, faster-whisper float32 \(String(format: "%.2f", theirWER * 100)) %")
        #expect(rate >= 0.95)
        #expect(myWER <= theirWER + 0.01)
    }

    /// int8 transcripts are not reproducible even within faster-whisper (with MKL_NUM_THREADS=1 its
    /// int8 tokens change on ~1 clip in 5, and its int8 equals its own float32 on ~70 % of these
    /// clips: MKL's AVX2 int8 kernels saturate 16-bit pair sums), so Hark's int8 is held to what the
    /// issue asks of a transcript's quality, against the float32 reference: its word error rate within
    /// 1 point of faster-whisper float32's, and its transcripts equal to those as often as faster-whisper
    /// int8's are (less 3 clips). faster-whisper int8's own error rate is printed beside it.
    @Test("Given the 88 recordings, when transcribed with the int8 compute type, then the word error rate is within 1 point of faster-whisper float32's and the transcripts equal float32's about as often as faster-whisper int8's do")
    func int8Transcripts() async throws {
        let (_, reference) = try Self.load()
        let t = try WhisperTranscriber(directory: WhisperTranscriberTests.modelDirectory, computeType: .int8)
        #expect(t.model.computeType == .int8)
        let clips = Self.present(reference.clips)
        #expect(clips.count >= 40)
        let mine = try await Self.transcribeAll(clips, with: t)
        var equalFloat = 0, equalInt8 = 0, theirEqualFloat = 0, myErrors = 0, floatErrors = 0, int8Errors = 0, words = 0
        for clip in clips {
            let text = try #require(mine[clip.path])
            if Self.normalised(text) == Self.normalised(clip.float32.text) { equalFloat += 1 }
            if Self.normalised(text) == Self.normalised(clip.int8.text) { equalInt8 += 1 }
            if Self.normalised(clip.int8.text) == Self.normalised(clip.float32.text) { theirEqualFloat += 1 }
            let truth = Self.spokenNumbers(Self.normalised(clip.reference))
            myErrors += Self.wordErrors(Self.spokenNumbers(Self.normalised(text)), truth)
            floatErrors += Self.wordErrors(Self.spokenNumbers(Self.normalised(clip.float32.text)), truth)
            int8Errors += Self.wordErrors(Self.spokenNumbers(Self.normalised(clip.int8.text)), truth)
            words += truth.count
        }
        let myWER = Double(myErrors) / Double(words), floatWER = Double(floatErrors) / Double(words)
        let percent = { (errors: Int) in String(format: "%.2f", Double(errors) / Double(words) * 100) }
        print("whisper int8: Hark equals faster-whisper float32 on \(equalFloat)/\(clips.count), faster-whisper int8 on \(equalInt8)/\(clips.count); faster-whisper int8 equals its float32 on \(theirEqualFloat)/\(clips.count)")
        print("whisper int8 WER against the source texts: Hark int8 \(percent(myErrors)) %, faster-whisper float32 \(percent(floatErrors)) %, faster-whisper int8 \(percent(int8Errors)) % (\(words) words)")
        #expect(myWER <= floatWER + 0.01)
        #expect(equalFloat >= theirEqualFloat - 3)
    }

    @Test("Given every third of the recordings, when the encoder sees only the audio present (or padded to 10 s), then CTranslate2's own unpadded result is matched where known, and the share of transcripts equal to the 30 s reference is measured")
    func reducedContext() async throws {
        let (t, reference) = try Self.load()
        let numericsClips = Set(reference.numerics.map(\.clip))
        let clips = Self.present(reference.clips.enumerated().filter { $0.offset % 3 == 0 || numericsClips.contains($0.element.path) }.map(\.element))
        for context in [WhisperTranscriber.AudioContext.present, .init(minimumFrames: 1000)] {
            let texts = Mutex<[String: String]>([:])
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    DispatchQueue.concurrentPerform(iterations: 2) { part in
                        for (index, clip) in clips.enumerated() where index % 2 == part {
                            guard let audio = try? Self.samples(clip.path) else { continue }
                            let text = t.transcribe(audio, options: .init(threads: 1, audioContext: context, skipsSilence: false)).text
                            texts.withLock { $0[clip.path] = text }
                        }
                    }
                    done.resume()
                }
            }
            let mine = texts.withLock { $0 }
            #expect(mine.count == clips.count)
            let equal = clips.filter { clip in mine[clip.path].map { Self.normalised($0) == Self.normalised(clip.float32.text) } ?? false }.count
            var errors = 0, words = 0
            for clip in clips {
                let truth = Self.spokenNumbers(Self.normalised(clip.reference))
                errors += Self.wordErrors(Self.spokenNumbers(Self.normalised(mine[clip.path] ?? "")), truth)
                words += truth.count
            }
            print("whisper reduced context (\(context)): \(equal)/\(clips.count) transcripts equal faster-whisper's 30 s float32; WER against the source texts \(String(format: "%.2f", Double(errors) / Double(words) * 100)) %")
            // The two clips whose unpadded CTranslate2 result was captured must come out the same here.
            if context == .present {
                for numerics in reference.numerics {
                    let text = try #require(mine[numerics.clip])
                    #expect(Self.normalised(text) == Self.normalised(t.model.vocabulary.text(numerics.unpadded_encoder.tokens)))
                }
            }
        }
    }
}
