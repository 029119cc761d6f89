import HarkAudio
import HarkDevices
import HarkTestSupport
import Testing
@testable import HarkCommands

@Suite("Streaming recognition with PocketSphinx")
struct RecognizerTests {
    /// The demo recording: "hey jarvis" ending at 1.5 s, then "turn on the kitchen light".
    static let demo = repositoryRoot + "/build/testdata/demo/demo.wav"

    /// Feeds `samples` 80 ms at a time with a voice-activity detector's masks, as the wake pipeline
    /// does, calling `listen` before chunk `listenAt`.
    func feed(_ stage: CommandStage, _ samples: [Int16], listenAt: Int, each: ([CommandStage.Output], Int) -> Void) {
        var gate = VoiceActivityGate()
        samples.withUnsafeBufferPointer { all in
            for chunk in 0..<(all.count / 1280) {
                let start = Double(chunk) * 0.08
                if chunk == listenAt { stage.listen(at: start) }
                let piece = UnsafeBufferPointer(rebasing: all[(chunk * 1280)..<((chunk + 1) * 1280)])
                _ = gate.update(piece)
                each(stage.process(piece, chunkStart: start, activity: gate.activeMask), chunk)
            }
        }
    }

    func stage() throws -> CommandStage {
        let grammar = CommandGrammar(catalog: demoCatalog)
        return try CommandStage(grammar: grammar, pronunciations: try Pronunciations(grammar: grammar, catalog: demoCatalog,
                                                                                    dictionary: Recognizer.Configuration().dictionary))
    }

    @Test("Given the demo recording fed 80 ms at a time after the wake word, then the command is heard as it is spoken and its actions come at the end of speech")
    func demoCommand() throws {
        let samples = try readSamples(Self.demo)
        let stage = try stage()
        var outputs: [CommandStage.Output] = []
        // The wake word fired at 1.52 s: listening starts with chunk 19.
        feed(stage, samples, listenAt: 19) { produced, _ in outputs += produced }
        guard case let .utterance(start, end, endpoint)? = outputs.first else { Issue.record("\(outputs)"); return }
        #expect(start > 1.6 && start < 2.0, "\(start)")
        #expect(end > 2.8 && end < 3.2, "\(end)")
        #expect(endpoint - end >= 0.4 - 1e-9 && endpoint - end < 0.5)
        #expect(outputs.contains(.transcript("turn on the kitchen light")))
        #expect(outputs.contains { if case let .command(actions, _) = $0 { actions == [Action(device: "kitchen_light", command: "turn_on")] } else { false } })
        #expect(!stage.isListening)
        // The later sentence, without a wake word, is not listened to.
        #expect(outputs.count == 3)
    }

    @Test("Given a question after the wake word, then it is rejected and its audio waits in the handoff for stage 2")
    func rejectedKeepsAudio() throws {
        // "hey jarvis, what is the capital of australia" (tools/gen_command_audio.py, tools/corpus/out-of-scope.jsonl).
        let samples = try readSamples(repositoryRoot + "/build/testdata/commands/oos/piper_joe_09_clean.wav")
        let stage = try stage()
        var outputs: [CommandStage.Output] = []
        // 1.76 s: the wake phrase ends at 1.71 s.
        feed(stage, samples, listenAt: 22) { produced, _ in outputs += produced }
        outputs += stage.endOfInput(at: Double(samples.count / 1280) * 0.08)
        guard case let .rejected(reason, audio)? = outputs.last, let id = audio else { Issue.record("\(outputs.map { "\($0)" })"); return }
        #expect(reason == "out_of_grammar")
        let kept = try #require(stage.handoff.take(id: id))
        #expect(kept.samples.count >= 16_000 * 2, "the question (2.11–3.84 s) and the silence after it, \(kept.samples.count) samples")
        #expect(stage.handoff.take(id: id) == nil, "taken once")
    }
}
