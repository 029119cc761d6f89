import HarkCommands
import HarkDaemon
import HarkDevices
import HarkPower
import HarkTestSupport
import HarkWhisper
import Logging
import Synchronization
import Testing

/// The second pass as harkd runs it, with the real Whisper tiny.en: speech handed over early
/// (`prepare`) is decoded on the loader's worker thread, and `decide` on the same speech takes that
/// result rather than decoding again. Each analysis that starts emits one `energy` event when it
/// ends or is stopped (its CPU was spent either way), which is how these tests count them.
@Suite(.serialized) struct SecondPassLoaderTests {
    /// "hey jarvis, set the kitchen fan to high" at 10 dB SNR, and a clean command by another voice.
    static let noisy = Repo.root.appendingPathComponent("build/testdata/commands/ingrammar/piper_joe_46_snr10.wav").path
    static let other = Repo.root.appendingPathComponent("build/testdata/commands/ingrammar/flite_kal_33_clean.wav").path

    /// Analyses run (to their end or stopped), counted from the energy events.
    final class Counter: Sendable {
        let value = Mutex(0)
    }

    struct Fixture {
        let loader: SecondPassLoader
        let direct: WhisperSecondPass
        let analyses = Counter()

        init() throws {
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let catalog = try Catalog.load(path: Repo.root.appendingPathComponent("devices/demo-home.yaml").path)
            var configuration = WhisperSecondPass.Configuration()
            configuration.model = Repo.models + "/whisper-tiny.en"
            let grammar = CommandGrammar(catalog: catalog)
            let sink = try EventSink(destination: nil)
            let analyses = self.analyses
            sink.observe { event in
                if case .energy(2, "second_pass", _, _) = event { analyses.value.withLock { $0 += 1 } }
            }
            let meter = PowerMeter(model: PowerModel(board: .generic), governor: .init(), gate: true, wakeWords: 1)
            loader = try SecondPassLoader(configuration: configuration, grammar: grammar,
                                          energy: StageTwoEnergy(meter: meter, sink: sink), logger: logger)
            let transcriber = try WhisperTranscriber(directory: configuration.model)
            direct = WhisperSecondPass(transcriber: transcriber, grammar: grammar, configuration: configuration,
                                       previous: try WhisperSecondPass.prompt(for: grammar, configuration: configuration,
                                                                              vocabulary: transcriber.model.vocabulary))
        }

        var count: Int { analyses.value.withLock { $0 } }
    }

    static func same(_ a: WhisperSecondPass.Decision?, _ b: WhisperSecondPass.Decision) -> Bool {
        guard let a else { return false }
        return a.verdict == b.verdict && a.constrained.text == b.constrained.text
            && a.constrained.logProbability == b.constrained.logProbability && a.constrained.free.text == b.constrained.free.text
    }

    @Test("Given speech handed over early, when the first pass then asks about the same speech, then the verdict is the one decided afresh and Whisper ran once")
    func earlyResultIsUsed() throws {
        let f = try Fixture()
        let speech = try readSamples(Self.noisy)
        let expected = f.direct.decide(speech, firstPass: "set the kitchen fan to high")
        f.loader.prepare(speech, firstPass: "set the kitchen fan to high")
        let decision = f.loader.decide(speech, firstPass: "set the kitchen fan to high")
        #expect(Self.same(decision, expected), "\(String(describing: decision?.verdict)) vs \(expected.verdict)")
        #expect(f.count == 1, "\(f.count) decodings")
        // The verdict still depends on what the first pass would have given: the light half runs at decide.
        let alone = f.direct.decide(speech, firstPass: nil)
        f.loader.prepare(speech, firstPass: nil)
        #expect(Self.same(f.loader.decide(speech, firstPass: nil), alone))
        #expect(f.count == 2)
        // Handed over while the first pass would reject it (the narrower search), then asked with a
        // command after all: that search was not wide enough for agreement, so the speech is decoded
        // again, as widely as a direct decision does.
        f.loader.prepare(speech, firstPass: nil)
        #expect(Self.same(f.loader.decide(speech, firstPass: "set the kitchen fan to high"), expected))
        // (The early analysis is stopped; it counts if it had started.)
        #expect(f.count >= 3 && f.count <= 4, "\(f.count) decodings")
    }

    /// Out-of-grammar requests, an in-grammar command at 10 dB SNR and a clean one.
    static let verdictClips = [noisy, other] + ["flite_rms_40", "piper_joe_45", "flite_kal_05", "piper_joe_52"].map {
        Repo.root.appendingPathComponent("build/testdata/commands/oog/\($0)_clean.wav").path
    }

    @Test("Given no command from the first pass, when the in-grammar search keeps only hypotheses within the loose margin, then the verdict is the one the widest search gives", arguments: verdictClips)
    func narrowSearchSameVerdict(_ path: String) throws {
        let f = try Fixture()
        let speech = try readSamples(path)
        let configuration = f.direct.configuration
        #expect(configuration.widestMargin(firstPass: nil) < configuration.widestMargin)
        #expect(configuration.widestMargin(firstPass: "turn on the kitchen light") == configuration.widestMargin)
        let wide = try #require(f.direct.analyse(speech, within: configuration.widestMargin))
        let narrow = f.direct.decide(speech, firstPass: nil)
        #expect(f.direct.verdict(wide, firstPass: nil).verdict == narrow.verdict, "\(path): '\(wide.text ?? "-")' found in the wide search")
        #expect(narrow.constrained.free.text == wide.free.text)
    }

    @Test("Given speech handed over early, when the first pass asks about other speech, then that speech is decided, not the early one")
    func otherSpeechIsDecided() throws {
        let f = try Fixture()
        let early = try readSamples(Self.noisy), asked = try readSamples(Self.other)
        let expected = f.direct.decide(asked, firstPass: nil)
        f.loader.prepare(early, firstPass: nil)
        #expect(Self.same(f.loader.decide(asked, firstPass: nil), expected))
        // The asked speech was decoded; the early one at most once more (if it finished before it was abandoned).
        #expect(f.count >= 1 && f.count <= 2, "\(f.count) decodings")
    }

    @Test("Given speech handed over early and then abandoned, when it is asked about after all, then it is decoded again and decided the same")
    func abandonedThenAsked() throws {
        let f = try Fixture()
        let speech = try readSamples(Self.noisy)
        let expected = f.direct.decide(speech, firstPass: nil)
        f.loader.prepare(speech, firstPass: nil)
        f.loader.abandon()
        #expect(Self.same(f.loader.decide(speech, firstPass: nil), expected))
        #expect(f.count >= 1 && f.count <= 2, "\(f.count) decodings")
    }

    @Test("The free transcript stage 2 may take: trimmed when Whisper reached its end of text, nil when it was cut, empty when Whisper judged the speech silent")
    func handover() {
        let ended = WhisperTranscriber.Transcript(text: " Turn the TV up.", tokens: [1, 2, 3], logProbabilities: [-0.1, -0.2, -0.1, -0.05])
        #expect(WhisperSecondPass.handover(ended) == "Turn the TV up.")
        let cut = WhisperTranscriber.Transcript(text: " Turn the TV up and", tokens: [1, 2, 3], logProbabilities: [-0.1, -0.2, -0.1])
        #expect(WhisperSecondPass.handover(cut) == nil)
        let silent = WhisperTranscriber.Transcript(text: " Thank you.", tokens: [1, 2], logProbabilities: [-2, -1.5, -0.5], noSpeechProbability: 0.8)
        #expect(WhisperSecondPass.handover(silent) == "")
        let sure = WhisperTranscriber.Transcript(text: " Thank you.", tokens: [1, 2], logProbabilities: [-0.2, -0.1, -0.1], noSpeechProbability: 0.8)
        #expect(WhisperSecondPass.handover(sure) == "Thank you.")
    }
}
